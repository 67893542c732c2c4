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
 *	1. read the queue's sequence: every id drawn from now on is above q0;
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
 * (setval, ALTER SEQUENCE ... RESTART) or given a CACHE above 1.  A
 * sequence found behind the mark resets it; with CACHE above 1 the mark is
 * not used.  Without shared memory (pgmq_c not preloaded) there is no mark.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
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

/* The queue's mark; PG_INT64_MIN when it has none. */
int64
head_mark_get(Oid relid)
{
	QueueSlot  *slot;
	int64		mark = 0;

	if (!queue_slots_enabled() || !use_head_mark)
		return PG_INT64_MIN;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		mark = slot->head_mark;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
	return mark == 0 ? PG_INT64_MIN : mark;
}

/* Raise the mark to `mark`, or set it back when the sequence went back. */
static void
head_mark_set(Oid relid, int64 mark, bool back)
{
	QueueSlot  *slot = queue_slot_acquire(relid, true);

	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		if (back || mark > slot->head_mark)
			slot->head_mark = mark;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
}

/*
 * The sequence's last value, read as its owner (a consumer need not have
 * rights on it), and whether it hands out ids one at a time.
 */
static bool
sequence_position(Oid seqrelid, int64 *last)
{
	HeapTuple	tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqrelid));
	bool		one_at_a_time;
	Oid			save_userid;
	int			save_sec_context;
	Datum		value;
	LOCAL_FCINFO(fcinfo, 1);

	if (!HeapTupleIsValid(tuple))
		return false;
	one_at_a_time = ((Form_pg_sequence) GETSTRUCT(tuple))->seqcache == 1 &&
		!((Form_pg_sequence) GETSTRUCT(tuple))->seqcycle;
	ReleaseSysCache(tuple);
	if (!one_at_a_time)
		return false;

	queue_become_owner(seqrelid, &save_userid, &save_sec_context);
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqrelid);
	fcinfo->args[0].isnull = false;
	value = pg_sequence_last_value(fcinfo);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	*last = fcinfo->isnull ? 0 : DatumGetInt64(value);
	return true;
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
 * nothing to do: a hash lookup and a few lock-table probes.
 */
void
head_mark_round(QueueCacheEntry *entry)
{
	Oid			relid = queue_cache_relid(entry);
	Oid			seqrelid = queue_cache_sequence(entry);
	HeadRound  *round;
	bool		found;
	int64		last;

	if (!queue_slots_enabled() || !use_head_mark || !OidIsValid(seqrelid))
		return;
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

	/* Step 3 needs a fresh snapshot and a transaction that wrote nothing. */
	if (IsolationUsesXactSnapshot() || TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;

	if (round->pending && writers_done(round))
	{
		int64		mark = head_mark_get(relid);
		int64		lowest;
		Datum		from;
		bool		isnull;

		round->pending = false;
		if (mark != PG_INT64_MIN && round->q0 < mark - 1)
		{
			/* the sequence was set back: start again from nothing */
			head_mark_set(relid, 0, true);
		}
		else
		{
			from = Int64GetDatum(mark);
			if (queue_execute(entry, QPLAN_HEAD_PROBE, &from, NULL) > 0)
				lowest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull));
			else
				lowest = PG_INT64_MAX;
			SPI_freetuptable(SPI_tuptable);
			lowest = Min(lowest, round->q0 + 1);
			if (lowest > mark)
				head_mark_set(relid, lowest, false);
		}
	}

	if (!round->pending)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now - round->begun_at < HEAD_ROUND_INTERVAL_MS * 1000 ||
			!sequence_position(seqrelid, &last))
			return;
		round_begin(round, relid, last);
		round->begun_at = now;
		round->pending = true;
	}
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
