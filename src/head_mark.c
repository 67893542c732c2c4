/*-------------------------------------------------------------------------
 *
 * head_mark.c
 *		Each queue's head mark: a msg_id below which no message is live or
 *		can still commit.  Picks (read, pop, the FIFO walk) start there.
 *
 * Deleted, archived and popped messages stay in the primary key until
 * vacuum removes them, and a snapshot held anywhere stops vacuum: a pick
 * that walks the key from the lowest id pays for every dead entry first.
 * The mark lets it start past them.
 *
 * Ids are drawn before commit and commit out of order, so the mark may not
 * simply follow the lowest id a snapshot sees: a message drawn earlier may
 * commit later.  A round of this backend works the mark out the way
 * CREATE INDEX CONCURRENTLY waits out older writers:
 *	1. find the highest msg_id in the primary key, q0, counting dead and
 *	   uncommitted entries: every id drawn from now on is above it;
 *	2. list the transactions holding a lock on the queue table that
 *	   conflicts with SHARE: every transaction that drew an id from it
 *	   (an INSERT holds ROW EXCLUSIVE from before it draws until it ends;
 *	   deduplicated sends take the lock before drawing, see dedup.c);
 *	3. later, once all of them have ended, take a new snapshot and find
 *	   the lowest msg_id it sees from the current mark up, L;
 *	4. the mark becomes min(L, q0 + 1), if that is higher.
 * An id below the new mark was either drawn by a transaction of step 2,
 * which has ended, so its row is in the snapshot of step 3 (or gone for
 * good); or drawn by a transaction that took the lock after step 2, after
 * step 1 then, so it is above q0.  Step 3 runs only with a fresh snapshot
 * (READ COMMITTED) and only in a transaction that has not written
 * anything yet, whose own uncommitted deletes could otherwise hide rows
 * that an abort brings back.
 *
 * What the mark cannot see: a row inserted with an explicit msg_id below
 * it (INSERT ... OVERRIDING SYSTEM VALUE by hand), and a sequence set back
 * (setval, ALTER SEQUENCE ... RESTART) while the queue keeps messages.
 * TRUNCATE, with or without RESTART IDENTITY, gives the table a new file
 * and the mark starts again; a sequence with CACHE above 1 (ids out of
 * order between sessions) turns the mark off for the queue, and so does a
 * queue without a primary key (partitioned).  Without shared memory
 * (pgmq_c not preloaded) there is no mark, nor on a hot standby (see
 * head_mark_round).
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "queue_slot.h"

/* A round of this backend on one queue, waiting for step 3. */
typedef struct HeadRound
{
	Oid			relid;			/* hash key */
	bool		pending;		/* steps 1 and 2 done, step 3 to do */
	TimestampTz begun_at;		/* when the last round began */
	int64		q0;				/* the sequence's last value at step 1 */
	int			nwriters;
	VirtualTransactionId *writers;	/* step 2's transactions (TopMemoryContext) */
} HeadRound;

/*
 * A backend begins a round on a queue at most this often: steps 1 and 2
 * cost a look at the sequence and at every backend's fast-path locks.
 */
#define HEAD_ROUND_INTERVAL_MS 10

static HTAB *rounds = NULL;

/* pgmq_c.head_mark: off makes every pick start from the lowest msg_id. */
static bool use_head_mark = true;

void
head_mark_init(void)
{
	DefineCustomBoolVariable("pgmq_c.head_mark",
							 "Starts reads at each queue's head mark, past the dead entries in front of it.",
							 "Off, every read walks the primary key from the lowest msg_id, as pgmq's do.",
							 &use_head_mark,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* The relation's file: TRUNCATE (maybe RESTART IDENTITY) gives a new one. */
static Oid
current_filenode(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			filenode = InvalidOid;

	if (HeapTupleIsValid(tuple))
	{
		filenode = ((Form_pg_class) GETSTRUCT(tuple))->relfilenode;
		ReleaseSysCache(tuple);
	}
	return filenode;
}

/*
 * The queue's mark; PG_INT64_MIN when it has none.  A mark worked out for
 * another file of the table (before a TRUNCATE) counts for nothing.
 */
int64
head_mark_get(Oid relid)
{
	QueueSlot  *slot;
	int64		mark = 0;
	Oid			filenode = InvalidOid;

	if (!queue_slots_enabled() || !use_head_mark)
		return PG_INT64_MIN;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		mark = slot->head_mark;
		filenode = slot->head_filenode;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
	if (mark == 0 || filenode != current_filenode(relid))
		return PG_INT64_MIN;
	return mark;
}

/* Raise the mark to `mark`. */
static void
head_mark_set(Oid relid, int64 mark)
{
	Oid			filenode = current_filenode(relid);
	QueueSlot  *slot = queue_slot_acquire(relid, true);

	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		if (slot->head_filenode != filenode || mark > slot->head_mark)
		{
			slot->head_mark = mark;
			slot->head_filenode = filenode;
		}
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
}

/*
 * Step 1: the highest msg_id in the queue table's primary key, live or
 * dead or not yet committed (SnapshotAny): every id drawn before this is at
 * most that, or drawn by a transaction that holds the queue's lock now.
 * (Reading the sequence itself would hold a lock on it until the end of
 * the transaction, and keep drop_queue waiting on a sleeping
 * read_with_poll.)  False when the mark cannot be used: no primary key (a
 * partitioned queue), or a sequence that does not hand out ids in order.
 */
static bool
queue_top_id(Oid relid, Oid seqrelid, int64 *top)
{
	HeapTuple	tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqrelid));
	bool		in_order;
	Relation	heap;
	Oid			pkey;
	bool		found = false;

	if (!HeapTupleIsValid(tuple))
		return false;
	in_order = ((Form_pg_sequence) GETSTRUCT(tuple))->seqcache == 1 &&
		!((Form_pg_sequence) GETSTRUCT(tuple))->seqcycle &&
		((Form_pg_sequence) GETSTRUCT(tuple))->seqincrement > 0;
	ReleaseSysCache(tuple);
	if (!in_order)
		return false;

	/* The lock may have waited for a drop_queue: then there is nothing to mark. */
	heap = try_relation_open(relid, AccessShareLock);
	if (heap == NULL)
		return false;
	pkey = heap->rd_rel->relkind == RELKIND_RELATION ? RelationGetPrimaryKeyIndex(heap) : InvalidOid;
	if (OidIsValid(pkey))
	{
		Relation	index = index_open(pkey, AccessShareLock);
		IndexScanDesc scan;

		if (index->rd_index->indnkeyatts == 1 &&
			TupleDescAttr(RelationGetDescr(index), 0)->atttypid == INT8OID)
		{
			scan = index_beginscan(heap, index, SnapshotAny, 0, 0);
			scan->xs_want_itup = true;
			index_rescan(scan, NULL, 0, NULL, 0);
			*top = 0;
			found = true;
			if (index_getnext_tid(scan, BackwardScanDirection) != NULL)
			{
				bool		isnull;
				Datum		value = index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull);

				if (!isnull)
					*top = DatumGetInt64(value);
			}
			index_endscan(scan);
		}
		index_close(index, AccessShareLock);
	}
	table_close(heap, AccessShareLock);
	return found;
}

/* Have all of step 2's transactions ended? */
static bool
writers_done(HeadRound *round)
{
	for (int i = 0; i < round->nwriters; i++)
	{
		if (!VirtualXactLock(round->writers[i], false))
			return false;
	}
	return true;
}

/* Steps 1 and 2: a new round for the queue. */
static void
round_begin(HeadRound *round, Oid relid, int64 q0)
{
	LOCKTAG		tag;
	VirtualTransactionId *found;
	int			n;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	found = GetLockConflicts(&tag, ShareLock, &n);
	if (round->writers != NULL)
		pfree(round->writers);
	round->writers = MemoryContextAlloc(TopMemoryContext,
										sizeof(VirtualTransactionId) * Max(n, 1));
	round->nwriters = 0;
	for (int i = 0; i < n && VirtualTransactionIdIsValid(found[i]); i++)
	{
		/* our own transaction is step 3's: it cannot be waited for */
		if (VXID_BACKEND(found[i]) == MY_BACKEND_NUMBER)
			continue;
		round->writers[round->nwriters++] = found[i];
	}
	round->q0 = q0;
}

/*
 * At the start of a pick on the queue (inside SPI): finish this backend's
 * round if its writers are gone, and begin the next.  Cheap when there is
 * nothing to do: a hash lookup and a few lock-table probes.  Returns the
 * mark the pick starts from (PG_INT64_MIN: none).
 */
int64
head_mark_round(QueueCacheEntry *entry)
{
	Oid			relid = queue_cache_relid(entry);
	Oid			seqrelid = queue_cache_sequence(entry);
	HeadRound  *round;
	bool		found;
	int64		last;

	int64		mark;

	if (!queue_slots_enabled() || !use_head_mark || !OidIsValid(seqrelid))
		return head_mark_get(relid);

	/*
	 * On a hot standby step 2 cannot work: the primary's writers hold no
	 * lock here (only ACCESS EXCLUSIVE locks are replayed), so a round
	 * would see none of them and raise the mark past a message whose
	 * transaction is still open on the primary.  The pick fails anyway
	 * (the transaction is read-only), but the mark lives in shared memory
	 * and would outlast a promotion, hiding that message from every read
	 * on the new primary.  So no mark during recovery; rounds start afresh
	 * once it is over.
	 */
	if (RecoveryInProgress())
		return PG_INT64_MIN;
	if (rounds == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(HeadRound);
		ctl.hcxt = TopMemoryContext;
		rounds = hash_create("pgmq_c head rounds", 16, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	round = hash_search(rounds, &relid, HASH_ENTER, &found);
	if (!found)
	{
		round->pending = false;
		round->begun_at = 0;
		round->writers = NULL;
		round->nwriters = 0;
	}

	mark = head_mark_get(relid);

	/* Step 3 needs a fresh snapshot and a transaction that wrote nothing. */
	if (IsolationUsesXactSnapshot() || TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return mark;

	if (round->pending && writers_done(round))
	{
		int64		lowest;
		Datum		from;
		bool		isnull;

		round->pending = false;
		from = Int64GetDatum(mark);
		if (queue_execute(entry, QPLAN_HEAD_PROBE, &from, NULL) > 0)
			lowest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
		else
			lowest = PG_INT64_MAX;
		SPI_freetuptable(SPI_tuptable);
		lowest = Min(lowest, round->q0 + 1);
		if (lowest > mark)
		{
			head_mark_set(relid, lowest);
			mark = lowest;
		}
	}

	if (!round->pending)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now - round->begun_at >= HEAD_ROUND_INTERVAL_MS * 1000 &&
			queue_top_id(relid, seqrelid, &last))
		{
			round_begin(round, relid, last);
			round->begun_at = now;
			round->pending = true;
		}
	}
	return mark;
}

PG_FUNCTION_INFO_V1(pgmq_c_head_mark);

/*
 * pgmq._head_mark(queue_name): the queue's head mark, NULL when it has
 * none (not preloaded, or no read has worked one out yet).  For tests and
 * the curious.
 */
Datum
pgmq_c_head_mark(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int64		mark = head_mark_get(queue_cache_relid(queue_cache_lookup(name)));

	if (mark == PG_INT64_MIN)
		PG_RETURN_NULL();
	PG_RETURN_INT64(mark);
}
