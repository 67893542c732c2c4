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
 *	- a relcache invalidation callback marks an entry stale when its queue
 *	  table changes, so the next call looks the queue up again and reports a
 *	  dropped queue as missing; a second hash, keyed by relation id, finds
 *	  the entries of one table without walking them all;
 *	- the plans name their tables, so the plan cache re-analyses them
 *	  against whatever table has that name now.
 *
 * Only queues that exist get an entry: a stream of calls naming queues that
 * do not exist leaves nothing behind.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

/*
 * Longest name a cache key holds.  Longer names cannot name a queue: "q_"
 * and the lowercased name fit in NAMEDATALEN - 1 bytes, and lowercasing
 * shrinks a character to no less than a quarter of its bytes.
 */
#define QUEUE_KEY_LEN (NAMEDATALEN * MAX_MULTIBYTE_CHAR_LEN)

struct QueueCacheEntry
{
	char		name[QUEUE_KEY_LEN];	/* hash key: the queue name as given */
	bool		valid;			/* looked up since the queue table changed */
	Oid			queue_relid;
	Oid			sequence_relid; /* msg_id's identity sequence, if any */
	dlist_node	relid_link;		/* in the QueueRelid list of queue_relid */
	char	   *queue_table;	/* "pgmq.q_<name>", quoted, for SQL text */
	char	   *archive_table;
	int32		max_receives;	/* policy: deliveries before a dead letter; 0 none */
	bool		group_index;	/* has create_fifo_index's index (fifo.c) */
	char	   *dead_letter_table;	/* its queue table, NULL: own archive */
	Interval	dedup_window;	/* policy: how long a dedup id is remembered */
	SPIPlanPtr	plans[QPLAN_COUNT];
};

/*
 * The entries whose queue table is one relation.  Usually one; more when a
 * session names one queue in different cases ('Orders', 'orders').
 */
typedef struct QueueRelid
{
	Oid			relid;			/* hash key */
	dlist_head	entries;		/* of QueueCacheEntry.relid_link */
} QueueRelid;

/*
 * The statements behind each plan.  {queue} stands for the queue table and
 * {archive} for the archive.  The msg_id sequence is a parameter (its oid),
 * never a name: it is found in the catalog, as its name may be anything.
 * Every function, operator and type is schema-qualified: plans are prepared
 * under the caller's search_path.
 */
typedef struct PlanTemplate
{
	const char *sql;
	int			nargs;
	Oid			argtypes[6];
	bool		by_index;		/* finds rows by msg_id: plan without seqscan */
	int			source_param;	/* {dead}: the parameter holding the queue name */
} PlanTemplate;

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
/*
 * Picks start at the queue's head mark (head_mark.c): every message below
 * it is known gone, and an index scan from the lowest msg_id would walk
 * their dead entries first.
 */
#define HEAD_FROM(param) " AND msg_id OPERATOR(pg_catalog.>=) " param

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

/*
 * Dead letters.  With max_receives ($M) set, a message read that many times
 * is never handed out again: the statements that pick visible messages
 * split what they picked into exhausted ones, moved to the dead letters in
 * the same statement ({dead}, fed by the CTE "moved"), and the rest.  Each
 * moved message shows in the result as a row of NULLs after the real rows
 * (msg_id order puts NULLs last), so the caller can count the moves and
 * pick again.  $S is the queue's name, for the headers.
 */
#define PICKED_SPLIT_BY(pick, M) \
	"WITH picked AS MATERIALIZED (SELECT msg_id, read_ct" OP_GE M " AS exhausted FROM {queue}" \
	" WHERE vt" LE NOW_CLOCK pick " FOR UPDATE SKIP LOCKED)," \
	" moved AS (DELETE FROM {queue} WHERE msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM picked WHERE exhausted))" \
	" RETURNING " RECORD_COLUMNS ")," \
	" dead AS ({dead} RETURNING 1),"

#define PICKED_SPLIT(extra, M) PICKED_SPLIT_BY(extra " ORDER BY msg_id LIMIT $1", M)

#define DEAD_MARKERS \
	" UNION ALL SELECT NULL::pg_catalog.int8, NULL::pg_catalog.int4, NULL::pg_catalog.timestamptz," \
	" NULL::pg_catalog.timestamptz, NULL::pg_catalog.timestamptz, NULL::pg_catalog.jsonb," \
	" NULL::pg_catalog.jsonb FROM dead ORDER BY 1"

#define LEASE_SPLIT_BY(pick, M) \
	PICKED_SPLIT_BY(pick, M) \
	" leased AS (UPDATE {queue} q SET vt = " NOW_CLOCK " OPERATOR(pg_catalog.+) $2," \
	" read_ct = q.read_ct OPERATOR(pg_catalog.+) 1, last_read_at = " NOW_CLOCK \
	" WHERE q.msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM picked WHERE NOT exhausted))" \
	" RETURNING " Q_RECORD_COLUMNS ")" \
	" SELECT * FROM leased" DEAD_MARKERS

#define LEASE_SPLIT(extra, M) LEASE_SPLIT_BY(extra " ORDER BY msg_id LIMIT $1", M)

/* metrics: a queue's numbers in metrics_result's order, less the name */
#define METRICS_SELECT \
	"SELECT pg_catalog.count(*)," \
	" EXTRACT(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.max(enqueued_at))::pg_catalog.int4," \
	" EXTRACT(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(enqueued_at))::pg_catalog.int4," \
	" CASE WHEN $1 IS NOT NULL THEN" \
	" COALESCE(pg_catalog.pg_sequence_last_value($1), 0) END," \
	" pg_catalog.now()," \
	" pg_catalog.count(*) FILTER (WHERE vt" LE "pg_catalog.now()),"

static const PlanTemplate plan_templates[QPLAN_COUNT] = {
	[QPLAN_SEND] = {
		"INSERT INTO {queue} (vt, message, headers) VALUES ($1, $2, $3) RETURNING msg_id",
		3, {TIMESTAMPTZOID, JSONBOID, JSONBOID}
	},
	/*
	 * A message whose msg_id was drawn first (dedup.c).  No RETURNING: the
	 * id is known, and without it INSERT alone is the privilege it needs.
	 */
	[QPLAN_SEND_WITH_ID] = {
		"INSERT INTO {queue} (msg_id, vt, message, headers) OVERRIDING SYSTEM VALUE"
		" VALUES ($1, $2, $3, $4)",
		4, {INT8OID, TIMESTAMPTZOID, JSONBOID, JSONBOID}
	},
	/* the same for a batch: ids $1, messages $3, headers $4 */
	[QPLAN_SEND_BATCH_WITH_IDS] = {
		"INSERT INTO {queue} (msg_id, vt, message, headers) OVERRIDING SYSTEM VALUE"
		" SELECT m.msg_id, $2, m.message, m.headers"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($3), pg_catalog.unnest($4))"
		" AS m(msg_id, message, headers)",
		4, {INT8ARRAYOID, TIMESTAMPTZOID, JSONBARRAYOID, JSONBARRAYOID}
	},
	[QPLAN_SEND_BATCH] = {
		"INSERT INTO {queue} (vt, message, headers)"
		" SELECT $1, m.message, m.headers"
		" FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS m(message, headers)"
		" RETURNING msg_id",
		3, {TIMESTAMPTZOID, JSONBARRAYOID, JSONBARRAYOID}
	},
	[QPLAN_READ] = {
		LEASE_VISIBLE(HEAD_FROM("$3")),
		3, {INT4OID, INTERVALOID, INT8OID}, true
	},
	[QPLAN_READ_CONDITIONAL] = {
		LEASE_VISIBLE(" AND message OPERATOR(pg_catalog.@>) $3" HEAD_FROM("$4")),
		4, {INT4OID, INTERVALOID, JSONBOID, INT8OID}, true
	},
	[QPLAN_POP] = {
		"WITH popped AS (DELETE FROM {queue} q WHERE " PICK_VISIBLE(HEAD_FROM("$2"))
		" RETURNING " Q_RECORD_COLUMNS ") SELECT * FROM popped ORDER BY msg_id",
		2, {INT4OID, INT8OID}, true
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
		METRICS_SELECT " NULL::pg_catalog.int8 FROM {queue}",
		1, {REGCLASSOID}
	},
	/* a partitioned queue: also the rows in the relations $2 lists */
	[QPLAN_METRICS_PARTITIONED] = {
		METRICS_SELECT " pg_catalog.count(*) FILTER (WHERE tableoid" EQ "ANY ($2)) FROM {queue}",
		2, {REGCLASSOID, OIDARRAYOID}
	},
	[QPLAN_READ_DLQ] = {
		LEASE_SPLIT(HEAD_FROM("$5"), "$3"),
		5, {INT4OID, INTERVALOID, INT4OID, TEXTOID, INT8OID}, true, 4
	},
	[QPLAN_READ_CONDITIONAL_DLQ] = {
		LEASE_SPLIT(" AND message OPERATOR(pg_catalog.@>) $5" HEAD_FROM("$6"), "$3"),
		6, {INT4OID, INTERVALOID, INT4OID, TEXTOID, JSONBOID, INT8OID}, true, 4
	},
	/*
	 * FIFO reads (fifo.c).  The walk: the queue in msg_id order from
	 * after $1, $2 rows, each with its visibility and group.
	 */
	[QPLAN_FIFO_WALK] = {
		"SELECT msg_id, vt" LE NOW_CLOCK ", " FIFO_GROUP " FROM {queue}"
		" WHERE msg_id OPERATOR(pg_catalog.>) $1 ORDER BY msg_id LIMIT $2",
		2, {INT8OID, INT4OID}, true
	},
	/*
	 * Every group's head (its lowest msg_id) with its visibility, in head
	 * order: a skip scan over the group index, one probe per group.
	 */
	[QPLAN_FIFO_HEADS] = {
		"WITH RECURSIVE g(grp) AS ((SELECT " FIFO_GROUP " FROM {queue} ORDER BY 1 LIMIT 1)"
		" UNION ALL SELECT (SELECT " FIFO_GROUP " FROM {queue} WHERE " FIFO_GROUP
		" OPERATOR(pg_catalog.>) g.grp ORDER BY 1 LIMIT 1) FROM g WHERE g.grp IS NOT NULL)"
		" SELECT h.msg_id, h.vt" LE NOW_CLOCK ", g.grp FROM g CROSS JOIN LATERAL"
		" (SELECT msg_id, vt FROM {queue} WHERE " FIFO_GROUP EQ "g.grp ORDER BY msg_id LIMIT 1) h"
		" ORDER BY h.msg_id",
		0, {InvalidOid}
	},
	/* The visible messages of group $1 after its head $2, at most $3. */
	[QPLAN_FIFO_FOLLOWERS] = {
		"SELECT msg_id FROM {queue} WHERE " FIFO_GROUP EQ "$1 AND msg_id OPERATOR(pg_catalog.>) $2"
		" AND vt" LE NOW_CLOCK " ORDER BY msg_id LIMIT $3",
		3, {TEXTOID, INT8OID, INT4OID}, true
	},
	/* Lease the messages $1 that are still visible and not held by others. */
	[QPLAN_FIFO_LEASE] = {
		"WITH leased AS (UPDATE {queue} q SET vt = " NOW_CLOCK " OPERATOR(pg_catalog.+) $2,"
		" read_ct = q.read_ct OPERATOR(pg_catalog.+) 1, last_read_at = " NOW_CLOCK
		" WHERE q.msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM {queue} WHERE msg_id" EQ "ANY ($1)"
		" AND vt" LE NOW_CLOCK " FOR UPDATE SKIP LOCKED)) RETURNING " Q_RECORD_COLUMNS ")"
		" SELECT * FROM leased ORDER BY msg_id",
		2, {INT8ARRAYOID, INTERVALOID}, true
	},
	/* the same for a queue with max_receives: exhausted ones go to the dead letters */
	[QPLAN_FIFO_LEASE_DLQ] = {
		LEASE_SPLIT_BY(" AND msg_id" EQ "ANY ($1)", "$3"),
		4, {INT8ARRAYOID, INTERVALOID, INT4OID, TEXTOID}, true, 4
	},
	/* the head mark: the lowest msg_id still in the queue, from $1 up */
	[QPLAN_HEAD_PROBE] = {
		"SELECT msg_id FROM {queue} WHERE msg_id OPERATOR(pg_catalog.>=) $1 ORDER BY msg_id LIMIT 1",
		1, {INT8OID}, true
	},
	/* read_with_poll: when the next delayed or leased message shows (vt index) */
	[QPLAN_NEXT_DUE] = {
		"SELECT vt FROM {queue} WHERE vt OPERATOR(pg_catalog.>) " NOW_CLOCK " ORDER BY vt LIMIT 1",
		0, {InvalidOid}, true
	},
	/*
	 * queue_stats: the depth of the queue at $1 (now), for the tables
	 * metrics_depth does not scan itself (partitioned, row-level security,
	 * ...): visible, in flight (read, lease running), delayed (never read,
	 * not due yet) and the age of the oldest visible message, in one pass.
	 */
	[QPLAN_DEPTH] = {
		"SELECT pg_catalog.count(*) FILTER (WHERE vt" LE "$1),"
		" pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1"
		" AND read_ct OPERATOR(pg_catalog.>) 0),"
		" pg_catalog.count(*) FILTER (WHERE vt OPERATOR(pg_catalog.>) $1 AND read_ct" EQ "0),"
		" $1 OPERATOR(pg_catalog.-) pg_catalog.min(enqueued_at) FILTER (WHERE vt" LE "$1)"
		" FROM {queue}",
		1, {TIMESTAMPTZOID}
	},
	[QPLAN_COUNT_ALL] = {
		"SELECT pg_catalog.count(*) FROM {queue}",
		0, {InvalidOid}
	},
	[QPLAN_POP_DLQ] = {
		PICKED_SPLIT(HEAD_FROM("$4"), "$2")
		" popped AS (DELETE FROM {queue} q WHERE q.msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM picked WHERE NOT exhausted))"
		" RETURNING " Q_RECORD_COLUMNS ")"
		" SELECT * FROM popped" DEAD_MARKERS,
		4, {INT4OID, INT4OID, TEXTOID, INT8OID}, true, 3
	},

	/*
	 * Maintenance.  Each works on a bounded window and locks only the rows
	 * it removes, skipping rows readers hold, so it never waits on them.
	 * Exhausted messages: among the first $2 visible ones, visibility
	 * checked again where the row is locked (a lease extended meanwhile
	 * keeps the message where it is).
	 */
	[QPLAN_MOVE_EXHAUSTED] = {
		"WITH doomed AS (SELECT msg_id FROM {queue} WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM {queue} WHERE vt" LE NOW_CLOCK HEAD_FROM("$4") " ORDER BY msg_id LIMIT $2))"
		" AND read_ct" OP_GE "$1 AND vt" LE NOW_CLOCK " FOR UPDATE SKIP LOCKED),"
		" moved AS (DELETE FROM {queue} WHERE msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM doomed))"
		" RETURNING " RECORD_COLUMNS ")"
		" {dead} RETURNING 1",
		4, {INT4OID, INT4OID, TEXTOID, INT8OID}, true, 3
	},
	/* Retention: expired messages among the $2 oldest (msg_id order). */
	[QPLAN_EXPIRE] = {
		"WITH doomed AS (SELECT msg_id FROM {queue} WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM {queue} WHERE TRUE" HEAD_FROM("$3") " ORDER BY msg_id LIMIT $2))"
		" AND enqueued_at" OP_LT "(pg_catalog.now() OPERATOR(pg_catalog.-) $1) FOR UPDATE SKIP LOCKED)"
		" DELETE FROM {queue} WHERE msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM doomed)) RETURNING 1",
		3, {INTERVALOID, INT4OID, INT8OID}, true
	},
	/* Archive retention: by archived_at, which the archive indexes. */
	[QPLAN_EXPIRE_ARCHIVE] = {
		"DELETE FROM {archive} WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM {archive} WHERE archived_at" OP_LT "(pg_catalog.now() OPERATOR(pg_catalog.-) $1)"
		" ORDER BY archived_at LIMIT $2)) RETURNING 1",
		2, {INTERVALOID, INT4OID}
	},
};

/*
 * The INSERT that takes the CTE "moved" (queue rows) to the dead letters,
 * with the x-pgmq-dlq-* headers: a new message in the dead-letter queue,
 * visible now, or the same message in the queue's own archive.
 */
#define DEAD_HEADERS \
	"COALESCE(headers, '{}'::pg_catalog.jsonb) OPERATOR(pg_catalog.||)" \
	" pg_catalog.jsonb_build_object('x-pgmq-dlq-source', $%d::pg_catalog.text," \
	" 'x-pgmq-dlq-msg-id', msg_id, 'x-pgmq-dlq-read-ct', read_ct," \
	" 'x-pgmq-dlq-at', " NOW_CLOCK ")"

static char *
dead_letter_insert(QueueCacheEntry *entry, int source_param)
{
	if (entry->dead_letter_table != NULL)
		return psprintf("INSERT INTO %s (enqueued_at, vt, message, headers)"
						" SELECT enqueued_at, " NOW_CLOCK ", message, " DEAD_HEADERS " FROM moved",
						entry->dead_letter_table, source_param);
	return psprintf("INSERT INTO %s (" RECORD_COLUMNS ")"
					" SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, message, " DEAD_HEADERS
					" FROM moved", entry->archive_table, source_param);
}

static HTAB *queue_cache = NULL;	/* QueueCacheEntry by name */
static HTAB *queue_relids = NULL;	/* QueueRelid by relation id */
static MemoryContext queue_cache_context = NULL;

/* Some entry went stale since the last sweep (see queue_cache_sweep). */
static bool queue_cache_has_stale = false;

/*
 * Plans made for a policy that has since changed, freed at commit like the
 * plans of dropped queues (one may still run further up the stack now).
 */
static List *queue_cache_retired = NIL;

/*
 * Relcache invalidations seen, of any relation.  A lookup that reads the
 * catalog may itself process invalidations; it compares this before and
 * after, and looks again if any came in, so none is lost.
 */
static uint64 queue_cache_invalidations = 0;

static void
queue_cache_mark_stale(QueueCacheEntry *entry)
{
	entry->valid = false;
	queue_cache_has_stale = true;
}

/*
 * Relcache invalidation: mark the entries whose queue table changed
 * (relid), or all of them (InvalidOid: the whole relcache was reset).
 * Only flags are set here; the catalog is consulted later, outside the
 * callback.
 */
static void
queue_cache_invalidate(Datum arg, Oid relid)
{
	queue_cache_invalidations++;
	if (queue_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		QueueRelid *rel = hash_search(queue_relids, &relid, HASH_FIND, NULL);
		dlist_iter	iter;

		if (rel == NULL)
			return;
		dlist_foreach(iter, &rel->entries)
			queue_cache_mark_stale(dlist_container(QueueCacheEntry, relid_link, iter.cur));
	}
	else
	{
		HASH_SEQ_STATUS status;
		QueueCacheEntry *entry;

		hash_seq_init(&status, queue_cache);
		while ((entry = hash_seq_search(&status)) != NULL)
			queue_cache_mark_stale(entry);
	}
}

/* Take the entry out of its relation's list (it has one once looked up). */
static void
queue_cache_unlink_relid(QueueCacheEntry *entry)
{
	QueueRelid *rel;

	if (!OidIsValid(entry->queue_relid))
		return;
	dlist_delete(&entry->relid_link);
	rel = hash_search(queue_relids, &entry->queue_relid, HASH_FIND, NULL);
	Assert(rel != NULL);
	if (rel != NULL && dlist_is_empty(&rel->entries))
		hash_search(queue_relids, &entry->queue_relid, HASH_REMOVE, NULL);
	entry->queue_relid = InvalidOid;
}

static void
queue_cache_link_relid(QueueCacheEntry *entry, Oid relid)
{
	QueueRelid *rel;
	bool		found;

	rel = hash_search(queue_relids, &relid, HASH_ENTER, &found);
	if (!found)
		dlist_init(&rel->entries);
	dlist_push_tail(&rel->entries, &entry->relid_link);
	entry->queue_relid = relid;
}

static void
queue_cache_free_entry(QueueCacheEntry *entry)
{
	for (int i = 0; i < QPLAN_COUNT; i++)
	{
		if (entry->plans[i] != NULL)
			SPI_freeplan(entry->plans[i]);
	}
	pfree(entry->queue_table);
	pfree(entry->archive_table);
	if (entry->dead_letter_table != NULL)
		pfree(entry->dead_letter_table);
	queue_cache_unlink_relid(entry);
	hash_search(queue_cache, entry->name, HASH_REMOVE, NULL);
}

/*
 * At top-level commit, forget stale entries whose queue no longer exists,
 * so a backend that touches many short-lived queues does not keep their
 * plans forever.  Not earlier: while a statement runs, an entry's plans may
 * be executing further up the stack.  PRE_COMMIT comes after portals are
 * closed and while the catalog can still be read.
 */
static void
queue_cache_sweep(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	QueueCacheEntry *entry;

	if (event != XACT_EVENT_PRE_COMMIT)
		return;
	if (queue_cache_retired != NIL)
	{
		ListCell   *lc;

		foreach(lc, queue_cache_retired)
			SPI_freeplan((SPIPlanPtr) lfirst(lc));
		list_free(queue_cache_retired);
		queue_cache_retired = NIL;
	}
	if (!queue_cache_has_stale)
		return;
	hash_seq_init(&status, queue_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		/* Removing the element just returned is allowed during a scan. */
		if (!entry->valid && !OidIsValid(queue_relation_oid(entry->name, "q")))
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
	ctl.keysize = QUEUE_KEY_LEN;
	ctl.entrysize = sizeof(QueueCacheEntry);
	ctl.hcxt = queue_cache_context;
	queue_cache = hash_create("pgmq_c queues", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(QueueRelid);
	queue_relids = hash_create("pgmq_c queues by relation", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
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
	const char *shown = shown_input(name);

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("relation \"%s.%s\" does not exist", PGMQ_SCHEMA,
					queue_table_name(shown, "q")),
			 errhint("Create the queue first with pgmq.create('%s').", shown)));
}

/*
 * Take the queue's dead-letter policy; the plans that embed the old one
 * (their {dead} part names the dead-letter table) are retired.
 */
static void
queue_cache_set_policy(QueueCacheEntry *entry, int32 max_receives, const char *dead_letter_queue)
{
	char	   *table = dead_letter_queue == NULL ? NULL :
		quote_qualified_identifier(PGMQ_SCHEMA, queue_table_name(dead_letter_queue, "q"));
	bool		same_table = (table == NULL && entry->dead_letter_table == NULL) ||
		(table != NULL && entry->dead_letter_table != NULL &&
		 strcmp(table, entry->dead_letter_table) == 0);

	entry->max_receives = max_receives;
	if (same_table)
		return;
	for (int i = 0; i < QPLAN_COUNT; i++)
	{
		if (entry->plans[i] != NULL && strstr(plan_templates[i].sql, "{dead}") != NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(queue_cache_context);

			queue_cache_retired = lappend(queue_cache_retired, entry->plans[i]);
			MemoryContextSwitchTo(old);
			entry->plans[i] = NULL;
		}
	}
	if (entry->dead_letter_table != NULL)
		pfree(entry->dead_letter_table);
	entry->dead_letter_table = table == NULL ? NULL : MemoryContextStrdup(queue_cache_context, table);
}

/*
 * The cache entry of queue `name` (as given by the caller), looked up in
 * the catalog since its queue table last changed.  A queue that does not
 * exist is an error naming the missing table, as in pgmq.
 */
QueueCacheEntry *
queue_cache_lookup(const char *name)
{
	QueueCacheEntry *entry = NULL;
	Oid			relid;
	Oid			sequence;
	int32		max_receives;
	char	   *dead_letter_queue;
	Interval	dedup_window;
	bool		group_index;
	uint64		seen;

	queue_cache_init();
	if (strlen(name) < QUEUE_KEY_LEN)
		entry = hash_search(queue_cache, name, HASH_FIND, NULL);
	if (entry != NULL && entry->valid)
		return entry;

	/*
	 * The entry (and its plans) may be in use further up the stack, e.g. by
	 * a trigger on a queue table that calls pgmq again: never free them
	 * here.  A stale entry whose queue is gone stays; its plans remain
	 * valid objects, re-resolved by name if used, until queue_cache_sweep
	 * frees them at commit.
	 */
	do
	{
		seen = queue_cache_invalidations;
		relid = strlen(name) < QUEUE_KEY_LEN ? queue_relation_oid(name, "q") : InvalidOid;
		if (!OidIsValid(relid))
			report_missing_queue(name);
		sequence = queue_identity_sequence(relid);
		policy_of_queue(name, &max_receives, &dead_letter_queue, &dedup_window);
		group_index = queue_has_group_index(relid, name);
	} while (seen != queue_cache_invalidations);

	if (entry == NULL)
	{
		/* Both names first, so an error midway leaves no entry behind. */
		char	   *queue_table = qualified_name(queue_table_name(name, "q"));
		char	   *archive_table = qualified_name(queue_table_name(name, "a"));

		entry = hash_search(queue_cache, name, HASH_ENTER, NULL);
		entry->queue_relid = InvalidOid;
		entry->queue_table = queue_table;
		entry->archive_table = archive_table;
		entry->max_receives = 0;
		entry->dead_letter_table = NULL;
		memset(entry->plans, 0, sizeof(entry->plans));
	}
	queue_cache_set_policy(entry, max_receives, dead_letter_queue);
	entry->dedup_window = dedup_window;
	if (entry->queue_relid != relid)
	{
		queue_cache_unlink_relid(entry);
		queue_cache_link_relid(entry, relid);
	}
	entry->sequence_relid = sequence;
	entry->group_index = group_index;
	entry->valid = true;
	return entry;
}

/* The identity sequence behind the queue's msg_id (metrics needs it). */
Oid
queue_cache_sequence(QueueCacheEntry *entry)
{
	return entry->sequence_relid;
}

/* The queue's dedup window: its policy's, or the default. */
const Interval *
queue_cache_dedup_window(QueueCacheEntry *entry)
{
	return &entry->dedup_window;
}

/* The queue's max_receives policy: 0 when messages may be read for ever. */
int32
queue_cache_max_receives(QueueCacheEntry *entry)
{
	return entry->max_receives;
}

/* Has the queue the index create_fifo_index makes (group key, msg_id)? */
bool
queue_cache_group_index(QueueCacheEntry *entry)
{
	return entry->group_index;
}

/* The queue table's relation id, as last looked up. */
Oid
queue_cache_relid(QueueCacheEntry *entry)
{
	return entry->queue_relid;
}

/* The queue table's schema-qualified, quoted name, for SQL text. */
const char *
queue_cache_table(QueueCacheEntry *entry)
{
	return entry->queue_table;
}

/* The template's SQL with the queue's quoted table names put in. */
static char *
expand_template(const char *tmpl, QueueCacheEntry *entry, int source_param)
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
		else if (strncmp(p, "{dead}", 6) == 0)
		{
			appendStringInfoString(&buf, dead_letter_insert(entry, source_param));
			p += 6;
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

	sql = expand_template(tmpl->sql, entry, tmpl->source_param);
	/*
	 * Always the generic plan: each statement is planned once per backend
	 * (and again only after an invalidation), never per call.  The
	 * statements are written so that their generic plans are good ones.
	 */
	plan = SPI_prepare_cursor(sql, tmpl->nargs, (Oid *) tmpl->argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	entry->plans[which] = plan;
	pfree(sql);
	return plan;
}

/*
 * Make sure the plan's generic plan exists and is current, planning it now
 * with enable_seqscan off if it is not.
 *
 * A generic plan is built from the statistics of the moment and then kept.
 * A drained queue that autovacuum has vacuumed looks empty (relpages and
 * reltuples 0), and for an empty table a sequential scan is cheapest; kept,
 * that plan would scan the whole queue on every call once a burst of
 * messages arrives, until the next ANALYZE.  (pgmq, planning every call,
 * sees the table's current size.)  Statements that find rows by msg_id are
 * therefore planned without sequential scans: the primary key gives them
 * their rows in msg_id order at any size.
 *
 * The setting holds only while planning.  Fetching the plan here also takes
 * the executor's locks, which is when pending invalidations are processed,
 * so the execution that follows finds it valid and does not plan again.
 * The statement then runs, and fires the user's triggers, under the
 * session's own settings.
 */
static void
queue_plan_without_seqscan(SPIPlanPtr plan)
{
	int			nestlevel = NewGUCNestLevel();
	CachedPlan *cplan;

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	cplan = SPI_plan_get_cached_plan(plan);
	AtEOXact_GUC(true, nestlevel);
	if (cplan == NULL)
		elog(ERROR, "SPI_plan_get_cached_plan failed");
	ReleaseCachedPlan(cplan, CurrentResourceOwner);
}

/* The access grant_queue gives for plan `which`, for a refusal's hint. */
static QueueAccess
plan_access(QueuePlan which)
{
	switch (which)
	{
		case QPLAN_SEND:
		case QPLAN_SEND_WITH_ID:
		case QPLAN_SEND_BATCH_WITH_IDS:
		case QPLAN_SEND_BATCH:
			return QUEUE_ACCESS_SEND;
		case QPLAN_METRICS:
		case QPLAN_METRICS_PARTITIONED:
		case QPLAN_DEPTH:
		case QPLAN_COUNT_ALL:
			return QUEUE_ACCESS_METRICS;
		case QPLAN_MOVE_EXHAUSTED:
		case QPLAN_EXPIRE:
		case QPLAN_EXPIRE_ARCHIVE:
			return QUEUE_ACCESS_MANAGE;
		default:
			return QUEUE_ACCESS_CONSUME;
	}
}

/*
 * Does plan `which` write to a second table (the archive or a dead-letter
 * queue) besides the queue table?
 */
static bool
plan_writes_two_tables(QueuePlan which)
{
	switch (which)
	{
		case QPLAN_ARCHIVE:
		case QPLAN_ARCHIVE_BATCH:
		case QPLAN_READ_DLQ:
		case QPLAN_READ_CONDITIONAL_DLQ:
		case QPLAN_POP_DLQ:
		case QPLAN_FIFO_LEASE_DLQ:
		case QPLAN_MOVE_EXHAUSTED:
			return true;
		default:
			return false;
	}
}

/*
 * Execute the queue's plan `which` (prepared on first use).  A privilege
 * error names the queue (refusal.c).
 *
 * A plan that writes two tables takes the queue table's lock first.  The
 * executor would lock them in range-table order, and a kept plan of
 * "WITH moved AS (DELETE FROM q ...) INSERT INTO a ..." locks the archive
 * before the queue table; partition upkeep locks a queue table, then its
 * archive (partitions.c), so the two deadlocked (found by
 * test/t/019_crash_cycles.pl; partition-upkeep.spec shows it).  Queue
 * table first, everywhere.  The lock is taken before the plan is looked
 * up: taking it may process invalidations.
 */
uint64
queue_execute(QueueCacheEntry *entry, QueuePlan which, Datum *values, const char *nulls)
{
	SPIPlanPtr	plan;
	uint64		n;

	if (plan_writes_two_tables(which))
		LockRelationOid(entry->queue_relid, RowExclusiveLock);
	plan = queue_cache_plan(entry, which);
	if (plan_templates[which].by_index)
		queue_plan_without_seqscan(plan);
	REFUSALS_NAME_QUEUE(entry->name, plan_access(which), n = result_execute(plan, values, nulls));
	return n;
}
