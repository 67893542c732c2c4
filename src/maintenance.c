/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *		One maintenance pass: dead-letter moves, retention, archive
 *		retention, dedup key expiry and partition upkeep, for pgmq.run_maintenance() and the
 *		background worker alike.
 *
 * Each queue is served in its own subtransaction with a short lock_timeout,
 * so a queue that is broken, or locked by someone for minutes, is reported
 * and skipped, and the others are still served.  Each kind of work removes
 * at most MAINTENANCE_BATCH rows per statement and MAINTENANCE_BATCHES
 * statements per queue and pass: a pass never holds many row locks or runs
 * long on one queue; what is left waits for the next pass.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#define MAINTENANCE_BATCH 1000
#define MAINTENANCE_BATCHES 10

/* How long a pass waits for a lock on one queue before it skips it. */
#define MAINTENANCE_LOCK_TIMEOUT "1s"

/* What the pass does to one queue, from pgmq.meta and its policy. */
typedef struct MaintenanceQueue
{
	char	   *name;
	bool		partitioned;	/* its queue table or archive is */
	bool		has_max_receives;
	Datum		retention;		/* interval, or 0 */
	Datum		archive_retention;	/* interval, or 0 */
} MaintenanceQueue;

/*
 * Run `which` in batches while each batch fills up; the rows removed.
 * values[nbatch_arg] is the batch size.
 */
static int64
run_batches(QueueCacheEntry *entry, QueuePlan which, Datum *values, int nbatch_arg)
{
	int64		total = 0;

	values[nbatch_arg] = Int32GetDatum(MAINTENANCE_BATCH);
	for (int i = 0; i < MAINTENANCE_BATCHES; i++)
	{
		uint64		n = queue_execute(entry, which, values, NULL);

		total += n;
		if (n < MAINTENANCE_BATCH)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	return total;
}

/*
 * The work on one queue, in the caller's (sub)transaction.  With as_owner,
 * the statements that change the queue's rows run as the owner of its
 * queue table, in a security-restricted operation, as VACUUM works on a
 * table: the worker runs as a superuser, and the triggers on a user's
 * queue table must not run as one.
 */
static void
maintain_queue(const MaintenanceQueue *queue, bool as_owner, MaintenanceCounts *counts)
{
	QueueCacheEntry *entry = queue_cache_lookup(queue->name);
	Datum		values[4];
	Oid			save_userid;
	int			save_sec_context;
	Datum		mark;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	if (as_owner)
		queue_become_owner(queue_cache_relid(entry), &save_userid, &save_sec_context);
	SPI_connect();

	/*
	 * Both picks walk the queue in msg_id order: from its head mark, past
	 * the dead entries in front of it, as reads do.
	 */
	mark = (queue->has_max_receives || queue->retention != (Datum) 0)
		? Int64GetDatum(head_mark_round(entry)) : (Datum) 0;
	if (queue->has_max_receives && queue_cache_max_receives(entry) > 0)
	{
		int64		moved;

		values[0] = Int32GetDatum(queue_cache_max_receives(entry));
		values[2] = CStringGetTextDatum(queue->name);
		values[3] = mark;
		moved = run_batches(entry, QPLAN_MOVE_EXHAUSTED, values, 1);

		counts->moved += moved;
		queue_events_count(queue_cache_relid(entry), QUEUE_DEAD_LETTERED, moved);
	}
	if (queue->retention != (Datum) 0)
	{
		int64		expired;

		values[0] = queue->retention;
		values[2] = mark;
		expired = run_batches(entry, QPLAN_EXPIRE, values, 1);

		counts->expired += expired;
		queue_events_count(queue_cache_relid(entry), QUEUE_EXPIRED, expired);
	}
	if (queue->archive_retention != (Datum) 0)
	{
		values[0] = queue->archive_retention;
		counts->archive_deleted += run_batches(entry, QPLAN_EXPIRE_ARCHIVE, values, 1);
	}
	/* Dedup keys past their window (any queue may have them: no policy needed). */
	counts->dedup_keys_expired += dedup_expire_keys(queue->name, MAINTENANCE_BATCH,
													MAINTENANCE_BATCHES);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (queue->partitioned)
		partitions_maintain(queue->name, counts);
}

/*
 * The queues to serve, in name order: those with something to do (a
 * policy that acts, partitions, or dedup keys past their window), or just
 * `only_queue`, which must exist.  Allocated in the caller's memory context.
 */
static List *
queues_to_serve(const char *only_queue)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		no_expired_keys;
	List	   *queues = NIL;
	int			rc;

	values[0] = only_queue ? CStringGetTextDatum(only_queue) : (Datum) 0;
	if (only_queue == NULL)
		nulls[0] = 'n';
	SPI_connect();
	values[1] = dedup_queues_with_expired_keys(&no_expired_keys);
	if (no_expired_keys)
		nulls[1] = 'n';
	rc = SPI_execute_with_args(
		"SELECT q.* FROM (SELECT m.queue_name::pg_catalog.text AS name,"
		"   EXISTS (SELECT FROM pgmq.partition_config c"
		"           WHERE c.queue_name OPERATOR(pg_catalog.=) m.queue_name) AS partitioned,"
		"   p.max_receives IS NOT NULL AS has_max_receives, p.retention, p.archive_retention"
		" FROM pgmq.meta m LEFT JOIN pgmq.queue_policy p"
		"   ON p.queue_name OPERATOR(pg_catalog.=) m.queue_name) q"
		" WHERE CASE WHEN $1 IS NULL"
		"   THEN q.partitioned OR q.has_max_receives OR q.retention IS NOT NULL"
		"        OR q.archive_retention IS NOT NULL"
		"        OR pg_catalog.lower(q.name) OPERATOR(pg_catalog.=) ANY ($2)"
		"   ELSE pg_catalog.lower(q.name) OPERATOR(pg_catalog.=) pg_catalog.lower($1) END"
		" ORDER BY 1",
		2, argtypes, values, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not list queues: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		MaintenanceQueue *queue = palloc0(sizeof(MaintenanceQueue));
		bool		isnull;
		Datum		d;

		queue->name = SPI_getvalue(tuple, desc, 1);
		queue->partitioned = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
		queue->has_max_receives = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull));
		d = SPI_getbinval(tuple, desc, 4, &isnull);
		queue->retention = isnull ? (Datum) 0 : datumCopy(d, false, sizeof(Interval));
		d = SPI_getbinval(tuple, desc, 5, &isnull);
		queue->archive_retention = isnull ? (Datum) 0 : datumCopy(d, false, sizeof(Interval));
		queues = lappend(queues, queue);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	if (only_queue != NULL && queues == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("queue \"%s\" does not exist", shown_input(only_queue))));
	return queues;
}

/*
 * Serve one queue in a subtransaction; report its counts, or its error
 * (the subtransaction is then rolled back: nothing of it stays).
 */
static void
serve_queue(const MaintenanceQueue *queue, bool as_owner, MaintenanceDone done, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	MaintenanceCounts counts = {0};

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		int			nestlevel = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", MAINTENANCE_LOCK_TIMEOUT, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		maintain_queue(queue, as_owner, &counts);
		AtEOXact_GUC(true, nestlevel);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		/* A cancel or shutdown is not one queue's problem: stop the pass. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		/* A queue dropped while it was being served is simply gone. */
		AcceptInvalidationMessages();
		if (!OidIsValid(queue_relation_oid(queue->name, "q")))
			return;
		done(queue->name, NULL, edata->message, arg);
		return;
	}
	PG_END_TRY();
	done(queue->name, &counts, NULL, arg);
}

/*
 * The names of the queues a pass over the whole database would serve, in
 * the caller's memory context.  The worker serves each in a transaction of
 * its own (see worker.c).  Call inside a transaction.
 */
List *
maintenance_queue_names(void)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, queues_to_serve(NULL))
		names = lappend(names, ((MaintenanceQueue *) lfirst(lc))->name);
	return names;
}

/*
 * One pass over the queues of this database (or just `only_queue`).  Call
 * inside a transaction, with SPI not connected.  as_owner: the background
 * worker's way, each queue's work done as its owner (see maintain_queue);
 * else with the caller's rights, as every pgmq function.
 */
void
maintenance_run(const char *only_queue, bool as_owner, MaintenanceDone done, void *arg)
{
	ListCell   *lc;

	foreach(lc, queues_to_serve(only_queue))
	{
		CHECK_FOR_INTERRUPTS();
		serve_queue((MaintenanceQueue *) lfirst(lc), as_owner, done, arg);
	}
}

/* run_maintenance's result rows, one per queue served. */
static void
add_result_row(const char *queue_name, const MaintenanceCounts *counts, const char *error,
			   void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[8];
	bool		nulls[8] = {false};
	MaintenanceCounts none = {0};

	if (counts == NULL)
		counts = &none;
	values[0] = CStringGetTextDatum(queue_name);
	values[1] = Int64GetDatum(counts->moved);
	values[2] = Int64GetDatum(counts->expired);
	values[3] = Int64GetDatum(counts->archive_deleted);
	values[4] = Int64GetDatum(counts->partitions_created);
	values[5] = Int64GetDatum(counts->partitions_dropped);
	values[6] = Int64GetDatum(counts->dedup_keys_expired);
	values[7] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[7] = error == NULL;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * pgmq.run_maintenance(queue_name DEFAULT NULL): one pass now, from SQL,
 * with or without the worker.  A row per queue served: what was done to
 * it, or the error that made the pass skip it.
 *
 * A pass only writes, so in a read-only transaction (on a hot standby, say)
 * it is refused up front: otherwise every queue would fail on its own and
 * come back as a row whose error says so.
 */
static Datum
run_maintenance_body(PG_FUNCTION_ARGS)
{
	char	   *only_queue = PG_ARGISNULL(0) ? NULL : queue_name_from_arg(fcinfo, 0);

	PreventCommandIfReadOnly("pgmq.run_maintenance()");
	InitMaterializedSRF(fcinfo, 0);
	maintenance_run(only_queue, false, add_result_row, fcinfo->resultinfo);
	return (Datum) 0;
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_run_maintenance, run_maintenance_body, 0, QUEUE_ACCESS_MANAGE)
