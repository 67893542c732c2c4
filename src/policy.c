/*-------------------------------------------------------------------------
 *
 * policy.c
 *		Queue policies: pgmq.set_queue_policy, and reading a queue's policy
 *		for the hot paths and the maintenance pass.
 *
 * A policy lives in pgmq.queue_policy, one row per queue.  Changing one
 * sends a relcache invalidation for the queue table, so every backend's
 * queue cache reloads it (and re-plans the reads that depend on it) at its
 * next call, in the transaction after the change commits.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

/* The column's number, checking its type: the table may have been altered. */
static AttrNumber
attnum_of(Relation rel, const char *column, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0 &&
			att->atttypid == type)
			return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("table pgmq.queue_policy has no column \"%s\" of type %s", column,
					format_type_be(type)),
			 errhint("Restore the table as the extension made it.")));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/*
 * The queue's name as pgmq.meta has it (any spelling finds it: create
 * refuses case twins), or NULL.  Inside an SPI connection.
 */
static char *
registered_name(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	result_run_sql("SELECT queue_name::pg_catalog.text FROM pgmq.meta"
			   " WHERE pg_catalog.lower(queue_name) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
			   1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static char *
require_registered(const char *name)
{
	char	   *registered = registered_name(name);

	if (registered == NULL)
		queue_report_missing(name);
	return registered;
}

static void
check_positive_interval(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	Interval   *interval;

	if (PG_ARGISNULL(argno))
		return;
	interval = PG_GETARG_INTERVAL_P(argno);
	if (interval->month < 0 || interval->day < 0 || interval->time < 0 ||
		(interval->month == 0 && interval->day == 0 && interval->time == 0) ||
		INTERVAL_NOT_FINITE_COMPAT(interval))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", argname),
				 errdetail("%s was %s.", argname,
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(interval))))));
}

/*
 * Refuse a dead-letter queue whose own chain of dead-letter queues leads
 * back to `queue`: a message would circle for ever.
 */
static void
check_no_cycle(const char *queue, const char *dlq)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(dlq), CStringGetTextDatum(queue)};

	result_run_sql("WITH RECURSIVE chain(name, path) AS ("
			   "  SELECT $1::pg_catalog.varchar, ARRAY[$1::pg_catalog.varchar]"
			   "  UNION ALL"
			   "  SELECT p.dead_letter_queue, c.path OPERATOR(pg_catalog.||) p.dead_letter_queue"
			   "  FROM chain c JOIN pgmq.queue_policy p ON p.queue_name OPERATOR(pg_catalog.=) c.name"
			   "  WHERE p.dead_letter_queue IS NOT NULL"
			   "    AND NOT p.dead_letter_queue OPERATOR(pg_catalog.=) ANY (c.path))"
			   " SELECT pg_catalog.array_to_string(path, ' -> ') FROM chain"
			   " WHERE name OPERATOR(pg_catalog.=) $2::pg_catalog.varchar LIMIT 1",
			   2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dead-letter queue \"%s\" would send messages back to \"%s\"", dlq, queue),
				 errdetail("Dead-letter chain: %s -> %s.", queue,
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
}

/*
 * pgmq.set_queue_policy(queue_name, max_receives, dead_letter_queue,
 *						 retention, archive_retention, dedup_window)
 *
 * Replaces the queue's whole policy; NULL is "no limit / off", and all NULL
 * removes the policy.
 */
static Datum
set_queue_policy_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	char	   *queue;
	char	   *dlq = NULL;
	Oid			relid;
	bool		all_null = true;
	Oid			argtypes[6] = {TEXTOID, INT4OID, TEXTOID, INTERVALOID, INTERVALOID, INTERVALOID};
	Datum		values[6];
	char		nulls[6];

	if (!PG_ARGISNULL(1) && PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_receives must be at least 1"),
				 errdetail("max_receives was %d.", PG_GETARG_INT32(1))));
	check_positive_interval(fcinfo, 3, "retention");
	check_positive_interval(fcinfo, 4, "archive_retention");
	check_positive_interval(fcinfo, 5, "dedup_window");
	if (!PG_ARGISNULL(2) && PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dead_letter_queue needs max_receives"),
				 errdetail("Messages move to the dead-letter queue after max_receives deliveries.")));

	SPI_connect();
	/* Policy changes are rare: one at a time, so no two can make a cycle. */
	result_run_sql("LOCK TABLE pgmq.queue_policy IN SHARE ROW EXCLUSIVE MODE",
			   0, NULL, NULL, NULL, SPI_OK_UTILITY);
	queue = require_registered(name);
	if (!PG_ARGISNULL(2))
	{
		char	   *given = queue_name_from_arg(fcinfo, 2);

		dlq = require_registered(given);
		if (strcmp(dlq, queue) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a queue cannot be its own dead-letter queue"),
					 errhint("Create a separate queue, e.g. pgmq.create('%s_dlq').", queue)));
		check_no_cycle(queue, dlq);
	}

	values[0] = CStringGetTextDatum(queue);
	nulls[0] = ' ';
	for (int i = 1; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		all_null &= PG_ARGISNULL(i);
	}
	if (dlq != NULL)
		values[2] = CStringGetTextDatum(dlq);

	if (all_null)
		result_run_sql("DELETE FROM pgmq.queue_policy WHERE queue_name OPERATOR(pg_catalog.=) $1",
				   1, argtypes, values, nulls, SPI_OK_DELETE);
	else
		result_run_sql("INSERT INTO pgmq.queue_policy AS p (queue_name, max_receives, dead_letter_queue,"
				   " retention, archive_retention, dedup_window)"
				   " VALUES ($1, $2, $3, $4, $5, $6)"
				   " ON CONFLICT (queue_name) DO UPDATE SET max_receives = EXCLUDED.max_receives,"
				   " dead_letter_queue = EXCLUDED.dead_letter_queue, retention = EXCLUDED.retention,"
				   " archive_retention = EXCLUDED.archive_retention,"
				   " dedup_window = EXCLUDED.dedup_window, updated_at = pg_catalog.now()",
				   6, argtypes, values, nulls, SPI_OK_INSERT);
	/* Before SPI_finish: `queue` is in SPI's memory. */
	relid = queue_relation_oid(queue, "q");
	SPI_finish();

	/* Every backend re-reads the policy on its next call on this queue. */
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_set_queue_policy, set_queue_policy_body, 0, QUEUE_ACCESS_MANAGE)

/* One row of pgmq.queue_policy, as far as the C code needs it. */
typedef struct PolicyRow
{
	char	   *queue_name;
	int32		max_receives;	/* 0: NULL */
	char	   *dead_letter_queue;	/* NULL: none */
	bool		has_dedup_window;
	Interval	dedup_window;
} PolicyRow;

/*
 * Call `match` on each row of pgmq.queue_policy until it returns true; the
 * row it stopped at, or NULL.
 *
 * Read straight from the table, not through SQL: every role that sends to
 * or reads from a queue must follow its policy, including roles with no
 * privileges on pgmq.queue_policy.  Works on an extension still at 0.1.0,
 * which has no policy table.  The table is small (a row per queue with a
 * policy) and is read only when a queue's cache entry is (re)built, and by
 * drop_queue.
 */
static PolicyRow *
policy_find(bool (*match) (const PolicyRow *row, const char *arg), const char *arg)
{
	Oid			nsp = get_namespace_oid(PGMQ_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("queue_policy", nsp) : InvalidOid;
	PolicyRow  *found = NULL;
	Relation	rel;
	TupleDesc	desc;
	SysScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	atts[4];

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	atts[0] = attnum_of(rel, "queue_name", VARCHAROID);
	atts[1] = attnum_of(rel, "max_receives", INT4OID);
	atts[2] = attnum_of(rel, "dead_letter_queue", VARCHAROID);
	atts[3] = attnum_of(rel, "dedup_window", INTERVALOID);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (found == NULL && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		PolicyRow	row;
		bool		isnull;
		Datum		d;

		d = heap_getattr(tuple, atts[0], desc, &isnull);
		row.queue_name = isnull ? "" : TextDatumGetCString(d);
		d = heap_getattr(tuple, atts[1], desc, &isnull);
		row.max_receives = isnull ? 0 : DatumGetInt32(d);
		d = heap_getattr(tuple, atts[2], desc, &isnull);
		row.dead_letter_queue = isnull ? NULL : TextDatumGetCString(d);
		d = heap_getattr(tuple, atts[3], desc, &isnull);
		row.has_dedup_window = !isnull;
		if (!isnull)
			row.dedup_window = *DatumGetIntervalP(d);
		if (match(&row, arg))
		{
			found = palloc(sizeof(PolicyRow));
			*found = row;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Names that map to the same tables name the same queue. */
static bool
same_queue(const char *a, const char *b)
{
	return a != NULL && strcmp(queue_table_name(a, "q"), queue_table_name(b, "q")) == 0;
}

static bool
row_is_queue(const PolicyRow *row, const char *name)
{
	return same_queue(row->queue_name, name);
}

static bool
row_sends_dead_letters_to(const PolicyRow *row, const char *name)
{
	return same_queue(row->dead_letter_queue, name);
}

/*
 * What the hot paths need of queue `name`'s policy: max_receives (0 when
 * none), the dead-letter queue's name (NULL: the queue's own archive), and
 * the dedup window (DEDUP_DEFAULT_WINDOW_SECS when unset).
 */
void
policy_of_queue(const char *name, int32 *max_receives, char **dead_letter_queue,
				Interval *dedup_window)
{
	PolicyRow  *row = policy_find(row_is_queue, name);

	*max_receives = row != NULL ? row->max_receives : 0;
	*dead_letter_queue = row != NULL && row->max_receives > 0 ? row->dead_letter_queue : NULL;
	if (row != NULL && row->has_dedup_window)
		*dedup_window = row->dedup_window;
	else
	{
		memset(dedup_window, 0, sizeof(Interval));
		dedup_window->time = (int64) DEDUP_DEFAULT_WINDOW_SECS * USECS_PER_SEC;
	}
}

/* The dead-letter part of queue `name`'s policy (see policy_of_queue). */
void
policy_dead_letter(const char *name, int32 *max_receives, char **dead_letter_queue)
{
	Interval	dedup_window;

	policy_of_queue(name, max_receives, dead_letter_queue, &dedup_window);
}

/* drop_queue must not remove a queue that another queue's policy sends dead letters to. */
void
policy_check_not_dead_letter_queue(const char *name)
{
	PolicyRow  *row = policy_find(row_sends_dead_letters_to, name);

	if (row != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("queue \"%s\" is the dead-letter queue of queue \"%s\"", name,
						row->queue_name),
				 errhint("Give \"%s\" another dead-letter queue, or none, with pgmq.set_queue_policy first.",
						 row->queue_name)));
}
