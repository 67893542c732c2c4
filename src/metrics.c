/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		pgmq.metrics(queue_name) and pgmq.metrics_all(): each queue's depth,
 *		message ages and message count, from one pass over its table.
 *
 * The numbers are pgmq's: queue_length = count(*), queue_visible_length =
 * count(*) FILTER (WHERE vt <= now()), the ages = EXTRACT(epoch FROM now()
 * - max/min(enqueued_at))::int4, total_messages = the identity sequence's
 * last value (0 before the first message, NULL without a sequence).
 *
 * An ordinary queue table is read by metrics_scan_heap, a heap scan in C
 * that looks at only enqueued_at and vt.  Measured on 40 queues of 25,000
 * messages (test/bench/metrics), the executor spent about half of each pass
 * evaluating the four aggregates, and the statement (prepared once per
 * queue, or all queues as one UNION ALL) ran no faster than pgmq's
 * PL/pgSQL.  Every other queue table (partitioned, under row-level
 * security, with inheritance children, of another access method, readable
 * only through column grants, or with its columns altered) is counted by
 * the SQL statement QPLAN_METRICS, which gives the same numbers and the
 * errors Postgres gives; for a partitioned queue it counts the default
 * partition's rows in the same pass.
 *
 * Monitoring needs no right on the messages: for members of pg_monitor
 * that may not read a queue themselves, its pass runs as the owner of the
 * queue table, as queue_stats does.  Anyone else is refused with the
 * queue's name (refusal.c).
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pgmq_c_metrics);
PG_FUNCTION_INFO_V1(pgmq_c_metrics_all);

#define METRICS_COLUMNS 8

/*
 * What one pass over a queue table finds: metrics' counts, and queue_stats'
 * depth (visible rows, vt <= now(), in depth.visible for both; in flight
 * and delayed only when the pass is told where read_ct is).
 */
typedef struct QueueCounts
{
	int64		length;			/* rows */
	bool		any_enqueued;	/* some row has an enqueued_at */
	TimestampTz oldest;			/* min(enqueued_at), if any_enqueued */
	TimestampTz newest;			/* max(enqueued_at), if any_enqueued */
	QueueDepth	depth;
} QueueCounts;

/*
 * The queue's cache entry, its table locked (AccessShareLock, as a query
 * takes it).  The lock is taken before the table is opened, and the lookup
 * repeated once it is held, so a queue dropped or recreated meanwhile is
 * seen as such.
 */
static QueueCacheEntry *
metrics_lock_queue(const char *name)
{
	for (;;)
	{
		QueueCacheEntry *entry = queue_cache_lookup(name);
		Oid			relid = queue_cache_relid(entry);

		LockRelationOid(relid, AccessShareLock);
		entry = queue_cache_lookup(name);
		if (queue_cache_relid(entry) == relid)
			return entry;
		UnlockRelationOid(relid, AccessShareLock);
	}
}

/* The attribute number of a live column `column` of type typid, or 0. */
static AttrNumber
typed_column(TupleDesc tupdesc, const char *column, Oid typid)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			return att->atttypid == typid ? att->attnum : 0;
	}
	return 0;
}

/*
 * Whether metrics_scan_heap gives what the SQL statement would: a plain
 * heap table that the role may read as a whole, that no row-level security
 * filters and no inheritance child adds to, with enqueued_at and vt of type
 * timestamptz.
 */
static bool
metrics_can_scan(Relation rel, AttrNumber *enqueued_att, AttrNumber *vt_att)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_tableam != GetHeapamTableAmRoutine() ||
		rel->rd_rel->relhassubclass || rel->rd_rel->relrowsecurity)
		return false;
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return false;
	*enqueued_att = typed_column(RelationGetDescr(rel), "enqueued_at", TIMESTAMPTZOID);
	*vt_att = typed_column(RelationGetDescr(rel), "vt", TIMESTAMPTZOID);
	return *enqueued_att != 0 && *vt_att != 0;
}

/*
 * One pass over a heap queue table, as `snapshot` sees it: the rows, those
 * with vt <= now and the oldest of them, and the range of enqueued_at; with
 * read_ct_att, the rows not visible split into in flight (read before) and
 * delayed (never read).  NULLs are skipped as the aggregates skip them.
 * Comparisons are timestamp_cmp_internal, which the timestamptz operators
 * and min/max use.
 */
static void
metrics_scan_heap(Relation rel, Snapshot snapshot, AttrNumber enqueued_att,
				  AttrNumber vt_att, AttrNumber read_ct_att, TimestampTz now,
				  QueueCounts *counts)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Datum	   *values = palloc(tupdesc->natts * sizeof(Datum));
	bool	   *isnull = palloc(tupdesc->natts * sizeof(bool));
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	QueueDepth *depth = &counts->depth;
	HeapTuple	tuple;

	memset(counts, 0, sizeof(*counts));
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		visible = false;
		TimestampTz enqueued = 0;

		CHECK_FOR_INTERRUPTS();
		counts->length++;
		heap_deform_tuple(tuple, tupdesc, values, isnull);
		if (!isnull[enqueued_att - 1])
		{
			enqueued = DatumGetTimestampTz(values[enqueued_att - 1]);
			if (!counts->any_enqueued)
			{
				counts->oldest = counts->newest = enqueued;
				counts->any_enqueued = true;
			}
			else if (timestamp_cmp_internal(enqueued, counts->oldest) < 0)
				counts->oldest = enqueued;
			else if (timestamp_cmp_internal(enqueued, counts->newest) > 0)
				counts->newest = enqueued;
		}
		if (isnull[vt_att - 1])
			continue;
		visible = timestamp_cmp_internal(DatumGetTimestampTz(values[vt_att - 1]), now) <= 0;
		if (visible)
		{
			depth->visible++;
			if (!isnull[enqueued_att - 1] &&
				(!depth->any_visible || timestamp_cmp_internal(enqueued, depth->oldest_visible) < 0))
			{
				depth->oldest_visible = enqueued;
				depth->any_visible = true;
			}
		}
		else if (read_ct_att != 0)
		{
			if (!isnull[read_ct_att - 1] && DatumGetInt32(values[read_ct_att - 1]) > 0)
				depth->in_flight++;
			else
				depth->delayed++;
		}
	}
	table_endscan(scan);
	pfree(values);
	pfree(isnull);
}

/* EXTRACT(epoch FROM now - then)::int4, by the functions SQL uses for it. */
static Datum
metrics_age(TimestampTz now, TimestampTz then)
{
	Datum		interval = DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
											   TimestampTzGetDatum(then));

	return interval_epoch_int4(interval);
}

/*
 * total_messages: pg_sequence_last_value(sequence), 0 before the first
 * call, NULL without a sequence.  Called as SQL calls it, so its privilege
 * check and errors are the same.
 */
static Datum
metrics_total(const char *name, Oid sequence, bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	*isnull = !OidIsValid(sequence);
	if (*isnull)
		return (Datum) 0;
	if (pg_class_aclcheck(sequence, GetUserId(), ACL_SELECT | ACL_USAGE) != ACLCHECK_OK)
		refusal_raise(name, QUEUE_ACCESS_METRICS,
					  psprintf("permission denied for sequence %s", get_rel_name(sequence)));
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(sequence);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	return fcinfo->isnull ? Int64GetDatum(0) : result;
}

/*
 * The relations holding the default partition's rows, as an oid[] for the
 * statement, when the pass over the queue table can count them; else 0,
 * and they are counted on their own.  Not when one of them has row-level
 * security of its own, which a query of the queue table would not apply,
 * nor when the role may read the queue table only through column grants
 * (the statement reads tableoid).
 */
static Datum
metrics_default_relids(Oid relid, Oid default_part)
{
	List	   *relids;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return (Datum) 0;
	relids = find_all_inheritors(default_part, AccessShareLock, NULL);
	elems = palloc(list_length(relids) * sizeof(Datum));
	foreach(lc, relids)
	{
		Relation	rel = relation_open(lfirst_oid(lc), NoLock);
		bool		rls = rel->rd_rel->relrowsecurity;

		relation_close(rel, NoLock);
		if (rls)
			return (Datum) 0;
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	}
	return PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

/*
 * The SQL statement, for the tables metrics_scan_heap does not read; it
 * counts the rows of a partitioned queue's default partition in the same
 * pass.  The caller is connected to SPI; the values live in SPI memory
 * until the caller has copied them.
 */
static void
metrics_by_sql(QueueCacheEntry *entry, TupleDesc tupdesc, Datum *values, bool *nulls)
{
	Oid			sequence = queue_cache_sequence(entry);
	Oid			default_part = partitions_readable_default(queue_cache_relid(entry));
	Datum		args[2] = {ObjectIdGetDatum(sequence), (Datum) 0};
	char		argnulls[3] = "n ";

	/* No identity sequence (altered by hand): total_messages is NULL. */
	if (OidIsValid(sequence))
		argnulls[0] = ' ';
	if (OidIsValid(default_part))
		args[1] = metrics_default_relids(queue_cache_relid(entry), default_part);
	if (queue_execute(entry, args[1] != (Datum) 0 ? QPLAN_METRICS_PARTITIONED : QPLAN_METRICS,
					  args, argnulls) != 1)
		elog(ERROR, "metrics query returned no row");
	result_check_columns(SPI_tuptable->tupdesc, tupdesc, 1, METRICS_COLUMNS - 1,
						 "The queue's statistics no longer have the types of pgmq's metrics_result.");
	for (int i = 1; i < METRICS_COLUMNS; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i, &nulls[i]);
	/* default_partition_length: NULL unless there is a readable one */
	if (!OidIsValid(default_part))
		nulls[7] = true;
	else if (args[1] == (Datum) 0)
		values[7] = Int64GetDatum(partitions_default_length(queue_cache_relid(entry), &nulls[7]));
}

/*
 * Whether the queue's pass runs as the owner of its table: for members of
 * pg_monitor that may not read the table and its sequence themselves.
 */
static bool
metrics_as_owner(QueueCacheEntry *entry)
{
	Oid			user = GetUserId();
	Oid			sequence = queue_cache_sequence(entry);

	if (pg_class_aclcheck(queue_cache_relid(entry), user, ACL_SELECT) == ACLCHECK_OK &&
		(!OidIsValid(sequence) ||
		 pg_class_aclcheck(sequence, user, ACL_SELECT | ACL_USAGE) == ACLCHECK_OK))
		return false;
	return has_privs_of_role(user, ROLE_PG_MONITOR);
}

/*
 * One queue's metrics_result row into values/nulls (name as given).  Must
 * be called connected to SPI.  `snapshot` is what a heap scan reads with.
 */
static void
metrics_queue(const char *name, Snapshot snapshot, TupleDesc tupdesc, Datum *values, bool *nulls)
{
	QueueCacheEntry *entry = metrics_lock_queue(name);
	Relation	rel = relation_open(queue_cache_relid(entry), NoLock);
	AttrNumber	enqueued_att;
	AttrNumber	vt_att;
	bool		as_owner = metrics_as_owner(entry);
	Oid			save_userid;
	int			save_sec_context;

	if (as_owner)
		queue_become_owner(queue_cache_relid(entry), &save_userid, &save_sec_context);

	values[0] = CStringGetTextDatum(name);
	nulls[0] = false;
	if (metrics_can_scan(rel, &enqueued_att, &vt_att))
	{
		TimestampTz now = GetCurrentTransactionStartTimestamp();
		QueueCounts counts;

		metrics_scan_heap(rel, snapshot, enqueued_att, vt_att, 0, now, &counts);
		memset(nulls + 1, false, (METRICS_COLUMNS - 1) * sizeof(bool));
		values[1] = Int64GetDatum(counts.length);
		if (counts.any_enqueued)
		{
			values[2] = metrics_age(now, counts.newest);
			values[3] = metrics_age(now, counts.oldest);
		}
		else
			nulls[2] = nulls[3] = true;
		values[4] = metrics_total(name, queue_cache_sequence(entry), &nulls[4]);
		values[5] = TimestampTzGetDatum(now);
		values[6] = Int64GetDatum(counts.depth.visible);
		/* An ordinary table: not partitioned. */
		nulls[7] = true;
	}
	else
		metrics_by_sql(entry, tupdesc, values, nulls);
	if (as_owner)
		SetUserIdAndSecContext(save_userid, save_sec_context);
	/* The lock stays until the transaction ends, as a query's does. */
	relation_close(rel, NoLock);
}

/*
 * The snapshot a heap scan reads with: what a statement run through SPI
 * here would see (SPI, too, makes the function's earlier work visible and
 * takes a new snapshot in READ COMMITTED).
 */
static Snapshot
metrics_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
}

Datum
pgmq_c_metrics(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	MemoryContext caller_context = CurrentMemoryContext;
	TupleDesc	tupdesc;
	Datum		values[METRICS_COLUMNS];
	bool		nulls[METRICS_COLUMNS];
	Snapshot	snapshot;
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "metrics must return a row type");

	SPI_connect();
	snapshot = metrics_snapshot();
	metrics_queue(name, snapshot, tupdesc, values, nulls);
	UnregisterSnapshot(snapshot);

	/*
	 * heap_form_tuple copies the values (by-reference ones too, as int8 and
	 * timestamptz are on 32-bit builds) out of SPI memory before SPI_finish.
	 */
	MemoryContextSwitchTo(caller_context);
	result = heap_form_tuple(tupdesc, values, nulls);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * pgmq.metrics_all(): metrics() of every queue in pgmq.meta, ordered by
 * name.  One statement reads the names; then each queue gets its one pass,
 * all heap scans with one snapshot.  An error in any queue (its table gone,
 * its columns altered) is the call's error, as it was with metrics() called
 * per row.
 */
Datum
pgmq_c_metrics_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext per_queue;
	List	   *names = NIL;
	ListCell   *lc;
	Snapshot	snapshot;
	int			rc;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	rc = SPI_execute("SELECT queue_name::pg_catalog.text FROM " PGMQ_SCHEMA ".meta ORDER BY queue_name",
					 false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (name == NULL)
			continue;			/* NOT NULL in pgmq.meta; never a queue */
		names = lappend(names, MemoryContextStrdup(caller_context, name));
	}
	SPI_freetuptable(SPI_tuptable);

	snapshot = metrics_snapshot();
	per_queue = AllocSetContextCreate(CurrentMemoryContext, "pgmq_c metrics_all",
									  ALLOCSET_DEFAULT_SIZES);
	foreach(lc, names)
	{
		MemoryContext old = MemoryContextSwitchTo(per_queue);
		Datum		values[METRICS_COLUMNS];
		bool		nulls[METRICS_COLUMNS];

		metrics_queue((const char *) lfirst(lc), snapshot, rsinfo->setDesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		if (SPI_tuptable != NULL)
			SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(per_queue);
	}
	UnregisterSnapshot(snapshot);
	SPI_finish();
	return (Datum) 0;
}

/*
 * pgmq.queue_stats' depth of a queue (stats.c), in one pass over its table
 * as metrics reads it: visible (vt <= now), in flight (vt later, read
 * before), delayed (vt later, never read) and the oldest visible
 * enqueued_at.  False when the table is not one the scan may read (the
 * caller then asks SQL); the caller's rights are checked as a query's.
 */
bool
metrics_depth(Oid relid, TimestampTz now, QueueDepth *depth)
{
	Relation	rel;
	AttrNumber	enqueued_att;
	AttrNumber	vt_att;
	AttrNumber	read_ct_att = 0;
	bool		can_scan;

	memset(depth, 0, sizeof(*depth));
	LockRelationOid(relid, AccessShareLock);
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		return false;
	can_scan = metrics_can_scan(rel, &enqueued_att, &vt_att) &&
		(read_ct_att = typed_column(RelationGetDescr(rel), "read_ct", INT4OID)) != 0;
	if (can_scan)
	{
		Snapshot	snapshot = metrics_snapshot();
		QueueCounts counts;

		metrics_scan_heap(rel, snapshot, enqueued_att, vt_att, read_ct_att, now, &counts);
		UnregisterSnapshot(snapshot);
		*depth = counts.depth;
	}
	/* The lock stays until the transaction ends, as a query's does. */
	relation_close(rel, NoLock);
	return can_scan;
}
