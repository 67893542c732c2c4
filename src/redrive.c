/*-------------------------------------------------------------------------
 *
 * redrive.c
 *		pgmq.redrive: dead letters back to the queue they came from (or to
 *		a queue of the caller's choice); pgmq.replay: archived messages of
 *		a period sent again as new messages.
 *
 * Both are operator tools, not hot paths: they build their statements per
 * call (queue table names from the catalog, quoted; every value a
 * parameter) and run them through SPI with the caller's rights.
 *
 * A dead letter is a message in a dead-letter queue whose headers say where
 * it came from (the dead-letter move writes them):
 *	x-pgmq-dlq-source	the source queue's name
 *	x-pgmq-dlq-msg-id	its msg_id there
 *	x-pgmq-dlq-read-ct	its read_ct when it was moved
 *	x-pgmq-dlq-at		when it was moved
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#define DLQ_HEADER_PREFIX "x-pgmq-dlq-"
#define DLQ_SOURCE_HEADER DLQ_HEADER_PREFIX "source"
#define REDRIVEN_FROM_HEADER "x-pgmq-redriven-from"
#define REPLAY_OF_HEADER "x-pgmq-replay-of"

/* How many names of missing source queues a warning lists. */
#define MAX_NAMES_SHOWN 5

/*
 * Only visible messages are redriven: like any reader, redrive leaves
 * alone a dead letter someone has leased (or that is delayed), and skips
 * rows other transactions hold locked rather than wait for them.
 */
#define DLQ_VISIBLE "vt" LE "$1"

/*
 * Headers of a redriven message: the dead letter's, without any
 * x-pgmq-dlq-* key, plus x-pgmq-redriven-from ($3).  Headers that are not
 * a JSON object (someone sent them so) have no place for a key and are
 * kept as they are.
 */
#define REDRIVEN_HEADERS \
	"CASE WHEN headers IS NULL" \
	" OR pg_catalog.jsonb_typeof(headers)" EQ "'object' THEN" \
	" COALESCE((SELECT pg_catalog.jsonb_object_agg(h.key, h.value)" \
	" FROM pg_catalog.jsonb_each(headers) AS h" \
	" WHERE NOT pg_catalog.starts_with(h.key, '" DLQ_HEADER_PREFIX "')), '{}'::pg_catalog.jsonb)" \
	" OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('" REDRIVEN_FROM_HEADER "', $3)" \
	" ELSE headers END"

/* Headers of a replayed message: the original's, plus x-pgmq-replay-of. */
#define REPLAYED_HEADERS \
	"CASE WHEN headers IS NULL" \
	" OR pg_catalog.jsonb_typeof(headers)" EQ "'object' THEN" \
	" COALESCE(headers, '{}'::pg_catalog.jsonb)" \
	" OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('" REPLAY_OF_HEADER "', msg_id)" \
	" ELSE headers END"

/* A queue redriven messages go to. */
typedef struct RedriveTarget
{
	Oid			relid;			/* its queue table */
	char	   *table;			/* that table's quoted, qualified name */
} RedriveTarget;

/*
 * What a redrive found in the dead-letter queue: where its dead letters
 * go, and how many cannot go anywhere.
 */
typedef struct RedrivePlan
{
	RedriveTarget *targets;
	int			ntargets;
	/* source names that lead somewhere, and the index of their target */
	Datum	   *sources;
	Datum	   *source_targets;
	int			nsources;
	/* visible dead letters that stay, and why */
	int64		no_source;		/* no x-pgmq-dlq-source header */
	int64		missing;		/* the source queue does not exist */
	int64		self;			/* the source is the dead-letter queue */
	StringInfoData missing_names;
	int			nmissing_names;
} RedrivePlan;

/*
 * The queue table of queue `name`, which must exist (else the usual 42P01
 * naming the table, from the queue cache).
 */
static Oid
existing_queue(const char *name)
{
	Oid			relid;

	(void) queue_cache_lookup(name);
	relid = queue_relation_oid(name, "q");
	if (!OidIsValid(relid))
		elog(ERROR, "queue \"%s\" disappeared", name);
	return relid;
}

/*
 * A source name from a header, quoted for a message: any text can be
 * there, so a long one is cut (shown_prefix), the cut marked outside the
 * quotes.
 */
static char *
shown_name(const char *name)
{
	bool		cut;
	char	   *quoted = quote_literal_cstr(shown_prefix(name, &cut));

	return cut ? psprintf("%s...", quoted) : quoted;
}

/* Index of the target with this queue table in plan->targets, added if new. */
static int
redrive_target(RedrivePlan *plan, Oid relid)
{
	for (int i = 0; i < plan->ntargets; i++)
	{
		if (plan->targets[i].relid == relid)
			return i;
	}
	plan->targets[plan->ntargets].relid = relid;
	plan->targets[plan->ntargets].table = admin_relation_sql_name(relid);
	return plan->ntargets++;
}

/*
 * Look at the visible dead letters of the queue table `dlq_table`, grouped
 * by their source header, and decide where each group goes.  Source names
 * are looked up in the catalog as queue names are (names differing only in
 * case name one queue); nothing from a header reaches SQL text.
 */
static void
redrive_survey(RedrivePlan *plan, const char *dlq_table, Oid dlq_relid, Datum now)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {now};
	uint64		ngroups;

	result_run_sql(psprintf("SELECT headers OPERATOR(pg_catalog.->>) '" DLQ_SOURCE_HEADER "',"
					 " pg_catalog.count(*) FROM %s WHERE " DLQ_VISIBLE
					 " GROUP BY 1 ORDER BY 1", dlq_table),
			1, argtypes, values, NULL, SPI_OK_SELECT);
	ngroups = SPI_processed;
	plan->targets = palloc(sizeof(RedriveTarget) * Max(ngroups, 1));
	plan->sources = palloc(sizeof(Datum) * Max(ngroups, 1));
	plan->source_targets = palloc(sizeof(Datum) * Max(ngroups, 1));
	for (uint64 i = 0; i < ngroups; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		count = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		char	   *source = SPI_getvalue(row, desc, 1);
		Oid			relid;

		if (source == NULL)
		{
			plan->no_source += count;
			continue;
		}
		relid = queue_relation_oid(source, "q");

		/*
		 * The lock the moves would take anyway, taken now: it may wait for a
		 * drop_queue of the source, and once that commits the source is
		 * missing, as it would be for a redrive run after the drop.
		 */
		if (OidIsValid(relid) && relid != dlq_relid)
		{
			LockRelationOid(relid, RowExclusiveLock);
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
				relid = InvalidOid;
		}
		if (relid == dlq_relid)
			plan->self += count;
		else if (!OidIsValid(relid))
		{
			plan->missing += count;
			if (plan->nmissing_names < MAX_NAMES_SHOWN)
				appendStringInfo(&plan->missing_names, "%s%s",
								 plan->nmissing_names > 0 ? ", " : "",
								 shown_name(source));
			plan->nmissing_names++;
		}
		else
		{
			plan->sources[plan->nsources] = CStringGetTextDatum(source);
			plan->source_targets[plan->nsources] = Int32GetDatum(redrive_target(plan, relid));
			plan->nsources++;
		}
	}
}

/*
 * Lock the oldest visible dead letters that can go somewhere, up to
 * `limit` (NULL: all), skipping rows other transactions hold; return them
 * grouped by target, as (target index, msg_id[] in msg_id order).  The
 * tuples are left in SPI_tuptable.
 */
static uint64
redrive_pick(RedrivePlan *plan, const char *dlq_table, bool to_one_target, Datum now,
			 Datum limit, bool limit_null)
{
	Oid			argtypes[4] = {TIMESTAMPTZOID, INT8OID, TEXTARRAYOID, INT4ARRAYOID};
	Datum		values[4];
	char		nulls[4] = {' ', limit_null ? 'n' : ' ', ' ', ' '};

	values[0] = now;
	values[1] = limit;
	if (to_one_target)
	{
		result_run_sql(psprintf("SELECT 0, pg_catalog.array_agg(p.msg_id ORDER BY p.msg_id)"
						 " FROM (SELECT msg_id FROM %s WHERE " DLQ_VISIBLE
						 " ORDER BY msg_id LIMIT $2 FOR UPDATE SKIP LOCKED) AS p"
						 " HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0",
						 dlq_table),
				2, argtypes, values, nulls, SPI_OK_SELECT);
		return SPI_processed;
	}
	values[2] = PointerGetDatum(construct_array(plan->sources, plan->nsources, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(plan->source_targets, plan->nsources, INT4OID,
												sizeof(int32), true, TYPALIGN_INT));
	result_run_sql(psprintf("SELECT t.target, pg_catalog.array_agg(p.msg_id ORDER BY p.msg_id)"
					 " FROM (SELECT msg_id, headers OPERATOR(pg_catalog.->>) '" DLQ_SOURCE_HEADER "' AS source"
					 " FROM %s WHERE " DLQ_VISIBLE
					 " AND headers OPERATOR(pg_catalog.->>) '" DLQ_SOURCE_HEADER "'" EQ "ANY ($3)"
					 " ORDER BY msg_id LIMIT $2 FOR UPDATE SKIP LOCKED) AS p"
					 " JOIN ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4))"
					 " AS t(source, target) ON t.source" EQ "p.source"
					 " GROUP BY t.target ORDER BY t.target",
					 dlq_table),
			4, argtypes, values, nulls, SPI_OK_SELECT);
	return SPI_processed;
}

/*
 * Move the dead letters `ids` (locked by us) from the dead-letter queue to
 * one target, in one statement: the rows the DELETE returns are what the
 * INSERT writes, so each message is in exactly one place.  New ids follow
 * the old order.  Returns how many moved.
 */
static uint64
redrive_move(const char *dlq_table, const char *target_table, Datum ids, Datum now,
			 const char *dlq_name)
{
	Oid			argtypes[3] = {INT8ARRAYOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3] = {ids, now, CStringGetTextDatum(dlq_name)};

	result_run_sql(psprintf("WITH moved AS (DELETE FROM %s WHERE msg_id" EQ "ANY ($1)"
					 " RETURNING msg_id, enqueued_at, message, headers)"
					 " INSERT INTO %s (enqueued_at, vt, message, headers)"
					 " SELECT enqueued_at, $2, message, " REDRIVEN_HEADERS
					 " FROM moved ORDER BY msg_id",
					 dlq_table, target_table),
			3, argtypes, values, NULL, SPI_OK_INSERT);
	return SPI_processed;
}

/* Say which visible dead letters stayed in the dead-letter queue, and why. */
static void
redrive_report_stuck(const RedrivePlan *plan, const char *dlq_name)
{
	int64		stuck = plan->no_source + plan->missing + plan->self;
	StringInfoData detail;

	if (stuck == 0)
		return;
	initStringInfo(&detail);
	if (plan->missing > 0)
		appendStringInfo(&detail, "Naming a source queue that does not exist (%s%s): %lld.",
						 plan->missing_names.data,
						 plan->nmissing_names > MAX_NAMES_SHOWN ? ", ..." : "",
						 (long long) plan->missing);
	if (plan->no_source > 0)
		appendStringInfo(&detail, "%sWithout an " DLQ_SOURCE_HEADER " header: %lld.",
						 detail.len > 0 ? " " : "", (long long) plan->no_source);
	if (plan->self > 0)
		appendStringInfo(&detail, "%sNaming the dead-letter queue itself as their source: %lld.",
						 detail.len > 0 ? " " : "", (long long) plan->self);
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_plural("%lld dead letter stays in queue \"%s\": it has no source queue to go back to",
						   "%lld dead letters stay in queue \"%s\": they have no source queue to go back to",
						   stuck, (long long) stuck, dlq_name),
			 errdetail_internal("%s", detail.data),
			 errhint("Redrive them to a queue of your choice with pgmq.redrive('%s', target_queue => ...).",
					 dlq_name)));
}

/*
 * pgmq.redrive(dead_letter_queue, target_queue, max_messages): move visible
 * dead letters, oldest first, back to their source queues (or all to
 * target_queue) as new messages: read_ct 0, visible now, body and
 * enqueued_at kept, x-pgmq-dlq-* headers replaced by x-pgmq-redriven-from.
 * Returns how many moved.
 *
 * First a look at what is there (to know the targets and what must stay),
 * then one statement locks the messages to move, then one statement per
 * target moves them.  All of it in the caller's transaction: an error
 * anywhere moves nothing.
 */
static Datum
redrive_body(PG_FUNCTION_ARGS)
{
	char	   *dlq_name = queue_name_from_arg(fcinfo, 0);
	char	   *target_name = PG_ARGISNULL(1) ? NULL : queue_name_from_arg(fcinfo, 1);
	bool		limit_null = PG_ARGISNULL(2);
	int32		limit = limit_null ? 0 : arg_int32_min(fcinfo, 2, "max_messages", 1);
	Datum		now = TimestampTzGetDatum(GetCurrentTimestamp());
	Oid			dlq_relid = existing_queue(dlq_name);
	char	   *dlq_table;
	RedrivePlan plan;
	uint64		ngroups;
	int64		moved = 0;

	memset(&plan, 0, sizeof(plan));
	initStringInfo(&plan.missing_names);

	if (target_name != NULL)
	{
		Oid			target_relid = existing_queue(target_name);

		if (target_relid == dlq_relid)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target_queue must not be the dead-letter queue"),
					 errdetail("Both \"%s\" and \"%s\" name queue table pgmq.%s.",
							   target_name, dlq_name, get_rel_name(dlq_relid))));
		plan.targets = palloc(sizeof(RedriveTarget));
		(void) redrive_target(&plan, target_relid);
	}

	SPI_connect();
	dlq_table = admin_relation_sql_name(dlq_relid);
	if (target_name == NULL)
		redrive_survey(&plan, dlq_table, dlq_relid, now);

	if (target_name != NULL || plan.nsources > 0)
		ngroups = redrive_pick(&plan, dlq_table, target_name != NULL, now,
							   Int64GetDatum(limit), limit_null);
	else
		ngroups = 0;

	if (ngroups > 0)
	{
		/* The moves below replace SPI_tuptable; the picks stay allocated. */
		SPITupleTable *picked = SPI_tuptable;

		for (uint64 i = 0; i < ngroups; i++)
		{
			bool		isnull;
			int32		target = DatumGetInt32(SPI_getbinval(picked->vals[i], picked->tupdesc, 1, &isnull));
			Datum		ids = SPI_getbinval(picked->vals[i], picked->tupdesc, 2, &isnull);
			uint64		n;

			Assert(target >= 0 && target < plan.ntargets);
			n = redrive_move(dlq_table, plan.targets[target].table, ids, now, dlq_name);
			/* Readable in the target once this commits: wake its readers then. */
			queue_events_rows(plan.targets[target].relid, (int64) n, DatumGetTimestampTz(now),
							  false);
			queue_events_count(plan.targets[target].relid, QUEUE_REDRIVEN, (int64) n);
			moved += n;
		}
		SPI_freetuptable(picked);
	}
	SPI_finish();

	redrive_report_stuck(&plan, dlq_name);
	PG_RETURN_INT64(moved);
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_redrive, redrive_body, 0, QUEUE_ACCESS_MOVE)

/*
 * pgmq.replay(queue_name, since, until, target_queue): send the messages
 * archived from queue_name in [since, until) again, in their original
 * order, as new messages to queue_name (or target_queue), each with header
 * x-pgmq-replay-of = its original msg_id.  The archive is left as it is.
 * Returns how many were sent.
 *
 * One INSERT ... SELECT, found by the archive's archived_at index: the
 * window is the caller's bound on the work, and the whole replay commits
 * or none of it does (README, "Redrive and replay").
 */
static Datum
replay_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	char	   *target_name;
	TimestampTz since;
	TimestampTz until;
	Oid			archive_relid;
	Oid			target_relid;
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	uint64		sent;

	arg_not_null(fcinfo, 1, "since");
	arg_not_null(fcinfo, 2, "until");
	since = PG_GETARG_TIMESTAMPTZ(1);
	until = PG_GETARG_TIMESTAMPTZ(2);
	target_name = PG_ARGISNULL(3) ? name : queue_name_from_arg(fcinfo, 3);
	if (since > until)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be later than until"),
				 errdetail("since was %s, until was %s.",
						   pstrdup(timestamptz_to_str(since)), timestamptz_to_str(until))));

	(void) existing_queue(name);
	archive_relid = queue_relation_oid(name, "a");
	if (!OidIsValid(archive_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", PGMQ_SCHEMA,
						queue_table_name(shown_input(name), "a")),
				 errdetail("Queue \"%s\" has no archive table.", shown_input(name))));
	target_relid = existing_queue(target_name);

	values[0] = TimestampTzGetDatum(since);
	values[1] = TimestampTzGetDatum(until);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	SPI_connect();
	result_run_sql(psprintf("INSERT INTO %s (vt, message, headers)"
					 " SELECT $3, message, " REPLAYED_HEADERS
					 " FROM %s WHERE archived_at OPERATOR(pg_catalog.>=) $1"
					 " AND archived_at OPERATOR(pg_catalog.<) $2"
					 " ORDER BY msg_id",
					 admin_relation_sql_name(target_relid), admin_relation_sql_name(archive_relid)),
			3, argtypes, values, NULL, SPI_OK_INSERT);
	sent = SPI_processed;
	SPI_finish();
	queue_events_rows(target_relid, (int64) sent, DatumGetTimestampTz(values[2]), false);
	queue_events_count(target_relid, QUEUE_SENT, (int64) sent);
	PG_RETURN_INT64((int64) sent);
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_replay, replay_body, 0, QUEUE_ACCESS_MOVE)
