/*-------------------------------------------------------------------------
 *
 * queue_vacuum.c
 *		The worker vacuums busy queue tables between autovacuum's visits.
 *
 * Every message leaves dead row versions behind: its lease is an UPDATE
 * (never HOT: vt is indexed), its delete, archive or pop a DELETE.  A
 * queue moving thousands of messages a second makes tens of thousands of
 * dead versions a second, and autovacuum visits a database at most once
 * per autovacuum_naptime (a minute by default) whatever a table's own
 * thresholds say: between visits the queue table and its indexes grow to
 * tens of megabytes for a few thousand live messages, and every read walks
 * further.  The worker of each database therefore looks, about once a
 * second, at how many row versions each queue has made dead since the
 * worker last vacuumed it (its statistics counters: reads, deletes,
 * archives, pops, dead-letter moves, expiries), and vacuums the queue
 * table once that passes pgmq_c.vacuum_threshold plus a fifth of the
 * table's live rows (the fifth keeps a long queue from being vacuumed,
 * indexes and all, for every thousand messages).
 *
 * A vacuum is skipped while the oldest transaction that may still see
 * dead rows (the xmin horizon: a long report, pg_dump, a session idle in
 * transaction) is where it was at the queue's last vacuum: nothing that
 * became dead since could be removed, and the vacuum would only read the
 * table.  The head mark (head_mark.c) keeps reads fast meanwhile.
 *
 * The vacuum is the VACUUM command, run as the worker's own top-level
 * statement, with SKIP_LOCKED (autovacuum or DDL on the table: try again
 * later, never wait) and TRUNCATE false (giving the table's empty end back
 * takes an ACCESS EXCLUSIVE lock, which would stall the queue's readers
 * and writers; autovacuum still does it).  It shows in pg_stat_user_tables
 * as a manual vacuum (vacuum_count, last_vacuum).  Partitioned queues are
 * left to autovacuum: a VACUUM of the parent would scan every partition.
 * A table set to autovacuum_enabled = false is not vacuumed either: its
 * owner asked for no automatic vacuums.
 *
 *-------------------------------------------------------------------------
 */
#include "queue_slot.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* How often the worker looks at the queues' counters. */
#define QUEUE_VACUUM_INTERVAL_MS 1000

/* Of the table's live rows (pg_class.reltuples), on top of the threshold. */
#define QUEUE_VACUUM_SCALE_FACTOR 0.2

/* Setting (see README.md, "Keeping queue tables small"); 0: off. */
static int	vacuum_threshold = 1000;

/* What the worker knows of a queue since it last vacuumed it. */
typedef struct VacuumedQueue
{
	Oid			relid;			/* hash key: the queue table */
	int64		dead_made;		/* the counters' sum at the last vacuum */
	TransactionId horizon;		/* the xmin horizon at the last vacuum */
	bool		seen;			/* still has a slot (this round) */
} VacuumedQueue;

/* A queue due for a vacuum, by the counters. */
typedef struct VacuumCandidate
{
	Oid			relid;
	int64		dead_made;
} VacuumCandidate;

static HTAB *vacuumed = NULL;
static TimestampTz next_round = 0;

void
queue_vacuum_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("pgmq_c.vacuum_threshold",
							"Row versions a queue makes dead before the worker vacuums its table.",
							"On top of a fifth of the table's live rows; 0 leaves queue tables to autovacuum.",
							&vacuum_threshold,
							1000,
							0, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
}

/* The row versions a queue has made dead, by its counters. */
static int64
dead_versions_made(const QueueSlot *slot)
{
	return slot->counters[QUEUE_READ] + slot->counters[QUEUE_DELETED] +
		slot->counters[QUEUE_ARCHIVED] + slot->counters[QUEUE_POPPED] +
		slot->counters[QUEUE_DEAD_LETTERED] + slot->counters[QUEUE_EXPIRED];
}

/*
 * The queues of this database past the threshold by their counters alone
 * (the live rows are weighed later, with the table open).  Forgets the
 * queues that no longer have a slot.
 */
static List *
queues_past_threshold(void)
{
	HASH_SEQ_STATUS seq;
	QueueSlot  *slot;
	VacuumedQueue *known;
	List	   *due = NIL;

	hash_seq_init(&seq, vacuumed);
	while ((known = hash_seq_search(&seq)) != NULL)
		known->seen = false;

	queue_slots_begin_scan(&seq, LW_SHARED, true);
	while ((slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
	{
		int64		made;
		bool		found;

		if (slot->key.dboid != MyDatabaseId || slot->dropped)
			continue;
		SpinLockAcquire(&slot->mutex);
		made = dead_versions_made(slot);
		SpinLockRelease(&slot->mutex);

		known = hash_search(vacuumed, &slot->key.relid, HASH_ENTER, &found);
		if (!found)
		{
			known->dead_made = 0;
			known->horizon = InvalidTransactionId;
		}
		known->seen = true;
		/* pgmq.stats_reset set the counters back: count from there */
		if (made < known->dead_made)
			known->dead_made = 0;
		if (made - known->dead_made >= vacuum_threshold)
		{
			VacuumCandidate *c = palloc(sizeof(VacuumCandidate));

			c->relid = slot->key.relid;
			c->dead_made = made;
			due = lappend(due, c);
		}
	}
	queue_slots_end_scan(true);

	hash_seq_init(&seq, vacuumed);
	while ((known = hash_seq_search(&seq)) != NULL)
		if (!known->seen)
			hash_search(vacuumed, &known->relid, HASH_REMOVE, NULL);
	return due;
}

/*
 * Whether a vacuum of the queue table would pay, in a transaction of its
 * own: an ordinary table still there, open to automatic vacuums, past the
 * threshold with its live rows weighed, and the xmin horizon moved since
 * its last vacuum (set in *horizon).  The table's name goes to *nspname and
 * *relname.
 */
static bool
vacuum_would_pay(const VacuumCandidate *c, const VacuumedQueue *known,
				 TransactionId *horizon, char **nspname, char **relname)
{
	Relation	rel;
	bool		pays = false;

	StartTransactionCommand();
	rel = try_relation_open(c->relid, AccessShareLock);
	if (rel != NULL)
	{
		double		live = Max(rel->rd_rel->reltuples, 0);
		StdRdOptions *options = (StdRdOptions *) rel->rd_options;

		/* autovacuum_enabled = false on the table: no automatic vacuums */
		if (rel->rd_rel->relkind == RELKIND_RELATION &&
			(options == NULL || options->autovacuum.enabled) &&
			c->dead_made - known->dead_made >=
			vacuum_threshold + QUEUE_VACUUM_SCALE_FACTOR * live)
		{
			*horizon = GetOldestNonRemovableTransactionId(rel);
			pays = !TransactionIdIsValid(known->horizon) ||
				TransactionIdFollows(*horizon, known->horizon);
			*nspname = MemoryContextStrdup(TopMemoryContext,
										   get_namespace_name(RelationGetNamespace(rel)));
			*relname = MemoryContextStrdup(TopMemoryContext, RelationGetRelationName(rel));
		}
		relation_close(rel, AccessShareLock);
	}
	CommitTransactionCommand();
	return pays;
}

/* VACUUM (SKIP_LOCKED, TRUNCATE false) of one table, as a top-level statement. */
static void
vacuum_table(Oid relid, char *nspname, char *relname)
{
	VacuumStmt *stmt;
	ParseState *pstate;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "pgmq_c: vacuum of a queue table");
	stmt = makeNode(VacuumStmt);
	stmt->options = list_make2(makeDefElem("skip_locked", NULL, -1),
							   makeDefElem("truncate", (Node *) makeString("false"), -1));
	stmt->rels = list_make1(makeVacuumRelation(makeRangeVar(nspname, relname, -1),
											   relid, NIL));
	stmt->is_vacuumcmd = true;
	pstate = make_parsestate(NULL);
	/* commits this transaction, vacuums in its own, starts another */
	ExecVacuum(pstate, stmt, true);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * One round of the worker, outside any transaction: vacuum the queue
 * tables that are due.  Returns when the next round is due.  An error is
 * logged and the round goes on with the next queue.
 */
TimestampTz
queue_vacuum_round(void)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	List	   *due;
	ListCell   *lc;

	if (vacuum_threshold <= 0 || !stats_tracking())
		return 0;
	if (now < next_round)
		return next_round;
	next_round = TimestampTzPlusMilliseconds(now, QUEUE_VACUUM_INTERVAL_MS);
	if (vacuumed == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(VacuumedQueue);
		ctl.hcxt = TopMemoryContext;
		vacuumed = hash_create("pgmq_c vacuumed queues", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	due = queues_past_threshold();
	foreach(lc, due)
	{
		VacuumCandidate *c = lfirst(lc);
		VacuumedQueue *known = hash_search(vacuumed, &c->relid, HASH_FIND, NULL);
		TransactionId horizon = InvalidTransactionId;
		char	   *nspname = NULL;
		char	   *relname = NULL;

		PG_TRY();
		{
			/* pg_cancel_backend: this queue's vacuum is off, not the worker */
			CHECK_FOR_INTERRUPTS();
			if (vacuum_would_pay(c, known, &horizon, &nspname, &relname))
			{
				vacuum_table(c->relid, nspname, relname);
				known->dead_made = c->dead_made;
				known->horizon = horizon;
			}
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(caller);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(caller);
		if (nspname)
			pfree(nspname);
		if (relname)
			pfree(relname);
	}
	list_free_deep(due);
	return next_round;
}
