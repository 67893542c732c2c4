/*-------------------------------------------------------------------------
 *
 * queue_cache.c
 *		Per-backend cache of queues and of the prepared plans that work on
 *		them.
 *
 * The hot paths (send, read, delete, ...) must not build SQL text or parse
 * and plan per call.  The first call for a queue in a backend finds its
 * tables in the catalog; the first use of each kind of statement on it
 * prepares a plan (SPI_prepare + SPI_keepplan).  Both stay in this cache.
 *
 * Two mechanisms keep the cache honest when another session drops,
 * recreates or alters a queue:
 *	- a relcache invalidation callback marks an entry stale when either of
 *	  its tables changes, so the next call looks the tables up again and
 *	  reports a dropped queue as missing;
 *	- the plans name their tables, so the plan cache re-analyses them
 *	  against whatever table has that name now.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

struct QueueCacheEntry
{
	char		name[NAMEDATALEN];	/* hash key: the queue name as given */
	bool		valid;			/* tables looked up since the last change */
	Oid			queue_relid;
	Oid			archive_relid;
	char	   *queue_table;	/* "pgmq.q_<name>", quoted, for SQL text */
	char	   *archive_table;
	char	   *sequence;
	SPIPlanPtr	plans[QPLAN_COUNT];
};

/*
 * The statements behind each plan.  {queue} stands for the queue table,
 * {archive} for the archive and {sequence} for the queue's msg_id sequence.
 * Every function and operator is schema-qualified: plans are prepared under
 * the caller's search_path.
 */
typedef struct PlanTemplate
{
	const char *sql;
	int			nargs;
	Oid			argtypes[3];
	bool		by_index;		/* finds rows by msg_id: plan without seqscan */
} PlanTemplate;

#define LE " OPERATOR(pg_catalog.<=) "
#define EQ " OPERATOR(pg_catalog.=) "
#define NOW_CLOCK "pg_catalog.clock_timestamp()"
#define RECORD_COLUMNS "msg_id, read_ct, enqueued_at, last_read_at, vt, message, headers"
#define Q_RECORD_COLUMNS "q.msg_id, q.read_ct, q.enqueued_at, q.last_read_at, q.vt, q.message, q.headers"

/*
 * The ids of the visible head of the queue, locked for us; rows other
 * transactions hold are skipped.  The pick is an ARRAY() sub-select feeding
 * "msg_id = ANY (...)" rather than a CTE joined to the table: its generic
 * plan is the one a custom plan would choose (primary key order, stop after
 * qty rows); a CTE join with LIMIT $1 looks so costly as a generic plan that
 * Postgres would otherwise plan it afresh on every call.
 */
#define PICK_VISIBLE(extra) \
	"q.msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM {queue} WHERE vt" LE NOW_CLOCK extra \
	" ORDER BY msg_id LIMIT $1 FOR UPDATE SKIP LOCKED))"

#define LEASE_VISIBLE(extra) \
	"WITH leased AS (UPDATE {queue} q SET vt = " NOW_CLOCK " OPERATOR(pg_catalog.+) $2," \
	" read_ct = q.read_ct OPERATOR(pg_catalog.+) 1, last_read_at = " NOW_CLOCK \
	" WHERE " PICK_VISIBLE(extra) " RETURNING " Q_RECORD_COLUMNS ")" \
	" SELECT * FROM leased ORDER BY msg_id"

#define ARCHIVE_WHERE(cond) \
	"WITH moved AS (DELETE FROM {queue} WHERE msg_id" EQ cond " RETURNING " RECORD_COLUMNS ")" \
	" INSERT INTO {archive} (" RECORD_COLUMNS ") SELECT " RECORD_COLUMNS " FROM moved RETURNING msg_id"

static const PlanTemplate plan_templates[QPLAN_COUNT] = {
	[QPLAN_SEND] = {
		"INSERT INTO {queue} (vt, message, headers) VALUES ($1, $2, $3) RETURNING msg_id",
		3, {TIMESTAMPTZOID, JSONBOID, JSONBOID}
	},
	[QPLAN_SEND_BATCH] = {
		"INSERT INTO {queue} (vt, message, headers)"
		" SELECT $1, m.message, m.headers"
		" FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS m(message, headers)"
		" RETURNING msg_id",
		3, {TIMESTAMPTZOID, JSONBARRAYOID, JSONBARRAYOID}
	},
	[QPLAN_READ] = {
		LEASE_VISIBLE(""),
		2, {INT4OID, INTERVALOID}, true
	},
	[QPLAN_READ_CONDITIONAL] = {
		LEASE_VISIBLE(" AND message OPERATOR(pg_catalog.@>) $3"),
		3, {INT4OID, INTERVALOID, JSONBOID}, true
	},
	[QPLAN_POP] = {
		"WITH popped AS (DELETE FROM {queue} q WHERE " PICK_VISIBLE("")
		" RETURNING " Q_RECORD_COLUMNS ") SELECT * FROM popped ORDER BY msg_id",
		1, {INT4OID}, true
	},
	[QPLAN_DELETE] = {
		"DELETE FROM {queue} WHERE msg_id" EQ "$1 RETURNING msg_id",
		1, {INT8OID}, true
	},
	[QPLAN_DELETE_BATCH] = {
		"DELETE FROM {queue} WHERE msg_id" EQ "ANY ($1) RETURNING msg_id",
		1, {INT8ARRAYOID}, true
	},
	[QPLAN_ARCHIVE] = {
		ARCHIVE_WHERE("$1"),
		1, {INT8OID}, true
	},
	[QPLAN_ARCHIVE_BATCH] = {
		ARCHIVE_WHERE("ANY ($1)"),
		1, {INT8ARRAYOID}, true
	},
	[QPLAN_SET_VT] = {
		"UPDATE {queue} SET vt = $1 WHERE msg_id" EQ "$2 RETURNING " RECORD_COLUMNS,
		2, {TIMESTAMPTZOID, INT8OID}, true
	},
	[QPLAN_SET_VT_BATCH] = {
		"WITH moved AS (UPDATE {queue} SET vt = $1 WHERE msg_id" EQ "ANY ($2) RETURNING " RECORD_COLUMNS ")"
		" SELECT * FROM moved ORDER BY msg_id",
		2, {TIMESTAMPTZOID, INT8ARRAYOID}, true
	},
	[QPLAN_METRICS] = {
		"SELECT pg_catalog.count(*),"
		" EXTRACT(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.max(enqueued_at))::integer,"
		" EXTRACT(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(enqueued_at))::integer,"
		" (SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END FROM {sequence} s),"
		" pg_catalog.now(),"
		" pg_catalog.count(*) FILTER (WHERE vt" LE "pg_catalog.now())"
		" FROM {queue}",
		0, {InvalidOid}
	},
};

static HTAB *queue_cache = NULL;
static MemoryContext queue_cache_context = NULL;

/* Some entry went stale since the last sweep (see queue_cache_sweep). */
static bool queue_cache_has_stale = false;

/*
 * Relcache invalidation: mark entries whose tables changed (relid), or all
 * of them (InvalidOid: the whole relcache was reset).  Only flags are set
 * here; the catalog is consulted later, outside the callback.
 */
static void
queue_cache_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	QueueCacheEntry *entry;

	if (queue_cache == NULL)
		return;
	hash_seq_init(&status, queue_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (!OidIsValid(relid) || entry->queue_relid == relid ||
			entry->archive_relid == relid)
		{
			entry->valid = false;
			queue_cache_has_stale = true;
		}
	}
}

static void
queue_cache_free_entry(QueueCacheEntry *entry)
{
	for (int i = 0; i < QPLAN_COUNT; i++)
	{
		if (entry->plans[i] != NULL)
			SPI_freeplan(entry->plans[i]);
	}
	if (entry->sequence != NULL)
	{
		pfree(entry->queue_table);
		pfree(entry->archive_table);
		pfree(entry->sequence);
	}
	hash_search(queue_cache, entry->name, HASH_REMOVE, NULL);
}

/*
 * At top-level commit, forget stale entries whose queue no longer exists,
 * so a backend that touches many short-lived queues does not keep their
 * plans forever.  Not earlier: while a statement runs, an entry's plans may
 * be executing further up the stack.  PRE_COMMIT comes after portals are
 * closed and while the catalog can still be read; nothing here can fail.
 */
static void
queue_cache_sweep(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	QueueCacheEntry *entry;
	Oid			nsp;

	if (event != XACT_EVENT_PRE_COMMIT || !queue_cache_has_stale)
		return;
	nsp = get_namespace_oid(PGMQ_SCHEMA, true);
	hash_seq_init(&status, queue_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		/* Removing the element just returned is allowed during a scan. */
		if (!entry->valid &&
			(!OidIsValid(nsp) ||
			 !OidIsValid(get_relname_relid(queue_table_name(entry->name, "q"), nsp))))
			queue_cache_free_entry(entry);
	}
	queue_cache_has_stale = false;
}

void
queue_cache_init(void)
{
	HASHCTL		ctl;

	if (queue_cache != NULL)
		return;
	queue_cache_context = AllocSetContextCreate(TopMemoryContext,
												"pgmq_c queue cache",
												ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(QueueCacheEntry);
	ctl.hcxt = queue_cache_context;
	queue_cache = hash_create("pgmq_c queues", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(queue_cache_invalidate, (Datum) 0);
	RegisterXactCallback(queue_cache_sweep, NULL);
}

static char *
qualified_name(const char *relname)
{
	return MemoryContextStrdup(queue_cache_context,
							   quote_qualified_identifier(PGMQ_SCHEMA, relname));
}

static void
report_missing_queue(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("relation \"%s.%s\" does not exist", PGMQ_SCHEMA,
					queue_table_name(name, "q")),
			 errhint("Create the queue first with pgmq.create('%s').", name)));
}

/*
 * The cache entry of queue `name` (as given by the caller), its tables
 * checked since their last change.  A queue that does not exist is an
 * error naming the missing table, as in pgmq.
 */
QueueCacheEntry *
queue_cache_lookup(const char *name)
{
	QueueCacheEntry *entry;
	bool		found;
	Oid			nsp;
	char	   *qtable;

	/*
	 * A longer name cannot belong to a queue ("q_" and the name must fit in
	 * NAMEDATALEN - 1 bytes), and would not fit the key.  Names up to that
	 * length exist: pgmq limits names by characters, not bytes.
	 */
	if (strlen(name) > PGMQ_MAX_LOOKUP_NAME_LEN)
		report_missing_queue(name);

	queue_cache_init();
	entry = hash_search(queue_cache, name, HASH_ENTER, &found);
	if (!found)
	{
		entry->valid = false;
		entry->queue_relid = entry->archive_relid = InvalidOid;
		entry->queue_table = entry->archive_table = entry->sequence = NULL;
		memset(entry->plans, 0, sizeof(entry->plans));
	}
	if (entry->valid)
		return entry;

	/*
	 * The entry (and its plans) may be in use further up the stack, e.g. by
	 * a trigger on a queue table that calls pgmq again: never free them
	 * here.  A missing queue leaves the entry invalid; its plans stay valid
	 * objects that the plan cache re-resolves by name when next used, until
	 * queue_cache_sweep frees them at commit.
	 */
	qtable = queue_table_name(name, "q");
	nsp = get_namespace_oid(PGMQ_SCHEMA, true);
	entry->queue_relid = OidIsValid(nsp) ? get_relname_relid(qtable, nsp) : InvalidOid;
	if (!OidIsValid(entry->queue_relid))
	{
		queue_cache_has_stale = true;
		report_missing_queue(name);
	}
	entry->archive_relid = get_relname_relid(queue_table_name(name, "a"), nsp);
	if (entry->sequence == NULL)
	{
		/* All three or none, so an error midway leaves nothing half set. */
		char	   *queue_table = qualified_name(qtable);
		char	   *archive_table = qualified_name(queue_table_name(name, "a"));
		char	   *sequence = qualified_name(psprintf("%s_msg_id_seq", qtable));

		entry->queue_table = queue_table;
		entry->archive_table = archive_table;
		entry->sequence = sequence;
	}
	entry->valid = true;
	return entry;
}

/* The template's SQL with the queue's quoted table names put in. */
static char *
expand_template(const char *tmpl, QueueCacheEntry *entry)
{
	StringInfoData buf;
	const char *p = tmpl;

	initStringInfo(&buf);
	while (*p)
	{
		if (strncmp(p, "{queue}", 7) == 0)
		{
			appendStringInfoString(&buf, entry->queue_table);
			p += 7;
		}
		else if (strncmp(p, "{archive}", 9) == 0)
		{
			appendStringInfoString(&buf, entry->archive_table);
			p += 9;
		}
		else if (strncmp(p, "{sequence}", 10) == 0)
		{
			appendStringInfoString(&buf, entry->sequence);
			p += 10;
		}
		else
			appendStringInfoChar(&buf, *p++);
	}
	return buf.data;
}

/*
 * The prepared plan `which` for this queue, prepared on first use.  Must be
 * called inside an SPI connection.
 */
SPIPlanPtr
queue_cache_plan(QueueCacheEntry *entry, QueuePlan which)
{
	const PlanTemplate *tmpl = &plan_templates[which];
	SPIPlanPtr	plan;
	char	   *sql;

	if (entry->plans[which] != NULL)
		return entry->plans[which];
	Assert(entry->queue_table != NULL);

	sql = expand_template(tmpl->sql, entry);
	/*
	 * Always the generic plan: each statement is planned once per backend
	 * (and again only after an invalidation), never per call.  The
	 * statements are written so that their generic plans are good ones.
	 */
	plan = SPI_prepare_cursor(sql, tmpl->nargs, (Oid *) tmpl->argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "pgmq_c: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "pgmq_c: SPI_keepplan failed");
	entry->plans[which] = plan;
	pfree(sql);
	return plan;
}

/*
 * Execute the queue's plan `which` (prepared on first use).
 *
 * A generic plan is built from the statistics of the moment and then kept.
 * A drained queue that autovacuum has vacuumed looks empty (relpages and
 * reltuples 0), and for an empty table a sequential scan is cheapest; kept,
 * that plan would scan the whole queue on every call once a burst of
 * messages arrives, until the next ANALYZE.  (pgmq, planning every call,
 * sees the table's current size.)  Statements that find rows by msg_id are
 * therefore planned, whenever the plan cache (re)builds them, with
 * enable_seqscan off, as a function's SET clause would: the primary key
 * gives them their rows in msg_id order at any size.
 */
uint64
queue_execute(QueueCacheEntry *entry, QueuePlan which, Datum *values, const char *nulls)
{
	SPIPlanPtr	plan = queue_cache_plan(entry, which);
	int			nestlevel;
	uint64		n;

	if (!plan_templates[which].by_index)
		return result_execute(plan, values, nulls);

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	n = result_execute(plan, values, nulls);
	AtEOXact_GUC(true, nestlevel);
	return n;
}
