/*-------------------------------------------------------------------------
 *
 * read.c
 *		pgmq.read, pgmq.read_with_poll and pgmq.pop.
 *
 * All three take the oldest visible messages (vt <= clock_timestamp()) in
 * msg_id order, skipping rows other transactions have locked, so that
 * concurrent consumers never receive the same message while its
 * visibility timeout holds.  read leases them (vt moves forward, read_ct
 * and last_read_at change); pop deletes them.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/wait_event.h"

/*
 * The arguments of one read, worked out once (read_with_poll repeats the
 * attempt, and must not allocate per attempt in the SPI context).
 */
typedef struct ReadArgs
{
	Datum		values[6];		/* qty, vt interval, [max_receives, queue name,]
								 * [conditional,] head mark */
	int			mark_arg;		/* where the head mark goes */
	int32		qty;
	int32		vt;
	Oid			relid;
	QueuePlan	plan;
} ReadArgs;

/* Is argument cond_arg a `conditional` that filters (not NULL, not '{}')? */
static bool
has_conditional(FunctionCallInfo fcinfo, int cond_arg)
{
	Jsonb	   *cond;

	if (PG_NARGS() <= cond_arg || PG_ARGISNULL(cond_arg))
		return false;
	cond = PG_GETARG_JSONB_P(cond_arg);
	return !(JB_ROOT_IS_OBJECT(cond) && JB_ROOT_COUNT(cond) == 0);
}

static void
read_args(FunctionCallInfo fcinfo, QueueCacheEntry *entry, const char *name, ReadArgs *args,
		  int32 qty, int32 vt, int cond_arg)
{
	bool		dead_letters = queue_cache_max_receives(entry) > 0;
	bool		conditional = has_conditional(fcinfo, cond_arg);

	args->qty = qty;
	args->vt = vt;
	args->relid = queue_cache_relid(entry);
	args->values[0] = Int32GetDatum(qty);
	args->values[1] = interval_from_seconds(vt);

	/* pgmq applies `conditional` unless it is NULL or exactly '{}'. */
	if (conditional)
		args->values[dead_letters ? 4 : 2] = JsonbPGetDatum(PG_GETARG_JSONB_P(cond_arg));
	if (dead_letters)
	{
		args->values[2] = Int32GetDatum(queue_cache_max_receives(entry));
		args->values[3] = CStringGetTextDatum(name);
		args->plan = conditional ? QPLAN_READ_CONDITIONAL_DLQ : QPLAN_READ_DLQ;
		args->mark_arg = conditional ? 5 : 4;
	}
	else
	{
		args->plan = conditional ? QPLAN_READ_CONDITIONAL : QPLAN_READ;
		args->mark_arg = conditional ? 3 : 2;
	}
}

/*
 * Run a picking statement; add the messages it returned to the result, and
 * how many it moved to the dead letters (the rows of NULLs it ends with;
 * see PICKED_SPLIT in queue_cache.c).
 */
static uint64
pick(FunctionCallInfo fcinfo, QueueCacheEntry *entry, QueuePlan plan, Datum *values,
	 uint64 *moved)
{
	uint64		n = queue_execute(entry, plan, values, NULL);
	uint64		got = n;
	bool		isnull;

	while (got > 0)
	{
		(void) SPI_getbinval(SPI_tuptable->vals[got - 1], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			break;
		got--;
	}
	*moved = n - got;
	result_add_tuples(fcinfo, SPI_tuptable, got);
	SPI_freetuptable(SPI_tuptable);
	return got;
}

/*
 * One attempt: lease up to qty visible messages into the result set.  An
 * exhausted message in the way is moved to the dead letters instead of
 * handed out, and the attempt picks again for the places it left.
 */
static uint64
read_attempt(FunctionCallInfo fcinfo, QueueCacheEntry *entry, ReadArgs *args,
			 uint64 *moved_total)
{
	uint64		total = 0;
	uint64		moved;

	*moved_total = 0;
	args->values[args->mark_arg] = Int64GetDatum(head_mark_round(entry));
	do
	{
		args->values[0] = Int32GetDatum(args->qty - (int32) total);
		total += pick(fcinfo, entry, args->plan, args->values, &moved);
		*moved_total += moved;
	} while (moved > 0 && total < (uint64) args->qty);

	/* Leased: readable again when the lease ends, or at once if this aborts. */
	queue_events_rows(args->relid, total,
					  GetCurrentTimestamp() + (TimestampTz) args->vt * USECS_PER_SEC, true);
	queue_events_count(args->relid, QUEUE_READ, (int64) total);
	queue_events_count(args->relid, QUEUE_DEAD_LETTERED, (int64) *moved_total);
	return total;
}

PG_FUNCTION_INFO_V1(pgmq_c_read);

/* pgmq.read(queue_name, vt, qty, conditional DEFAULT '{}') */
Datum
pgmq_c_read(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		vt = arg_int32_min(fcinfo, 1, "vt", 0);
	int32		qty = arg_int32_min(fcinfo, 2, "qty", 1);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	ReadArgs	args;
	uint64		moved;

	read_args(fcinfo, entry, name, &args, qty, vt, 3);
	result_begin_set(fcinfo, true);
	SPI_connect();
	read_attempt(fcinfo, entry, &args, &moved);
	SPI_finish();
	return (Datum) 0;
}

/*
 * Without shared memory read_with_poll polls, every poll_interval_ms but
 * never more often than this (pgmq spins when it is 0).
 */
#define POLL_MIN_INTERVAL_MS 10

/* The queue's earliest vt still in the future, or 0. */
static TimestampTz
next_due(QueueCacheEntry *entry)
{
	TimestampTz due = 0;
	bool		isnull;

	if (queue_execute(entry, QPLAN_NEXT_DUE, NULL, NULL) > 0)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			due = DatumGetTimestampTz(d);
	}
	SPI_freetuptable(SPI_tuptable);
	return due;
}

/*
 * One attempt of read_with_poll, in a subtransaction.  When it finds
 * nothing (and moved nothing to the dead letters) the subtransaction is
 * rolled back, which releases the locks it took: a reader that waits holds
 * no lock on the queue while it sleeps, so it never stands in the way of
 * drop_queue, purge_queue or other DDL, however long it waits.  The queue
 * is looked up again each time, as it may have changed meanwhile.  With
 * want_due, *due is set to the queue's next due time when nothing came.
 */
static uint64
poll_attempt(FunctionCallInfo fcinfo, const char *name, int32 qty, int32 vt, bool want_due,
			 TimestampTz *due, Oid *relid, MemoryContext attempt_cxt, ReadAttempt attempt,
			 void *arg)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	uint64		got = 0;
	uint64		moved = 0;

	/* A drop committed while this waited is reported as the queue missing. */
	AcceptInvalidationMessages();
	/* What one attempt allocates goes with the next: a long wait stays small. */
	MemoryContextReset(attempt_cxt);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(attempt_cxt);
	PG_TRY();
	{
		QueueCacheEntry *entry = queue_cache_lookup(name);

		*relid = queue_cache_relid(entry);
		got = attempt(fcinfo, entry, name, qty, vt, arg, &moved);
		*due = (got == 0 && want_due) ? next_due(entry) : 0;
	}
	PG_CATCH();
	{
		/*
		 * Whoever catches the error (a PL/pgSQL exception block, say) must
		 * find the subtransactions as they were: end ours first.
		 */
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_cxt);
		CurrentResourceOwner = caller_owner;
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (got > 0 || moved > 0)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(caller_cxt);
	CurrentResourceOwner = caller_owner;
	return got;
}

/*
 * The table this reader waits on was dropped: leave its slot, look the
 * queue up again (an error if it is gone for good) and wait on the slot of
 * its table now.  The drop's commit woke the reader before its
 * invalidations went out; they are out once its lock is gone, so wait for
 * that first.
 */
static bool
follow_queue(const char *name, Oid *slot_relid, bool selective)
{
	wakeup_wait_end(false);
	LockRelationOid(*slot_relid, AccessShareLock);
	UnlockRelationOid(*slot_relid, AccessShareLock);
	AcceptInvalidationMessages();
	*slot_relid = queue_cache_relid(queue_cache_lookup(name));
	return wakeup_wait_begin(*slot_relid, selective);
}

/* read_with_poll's attempt: read, with its `conditional` (argument 5). */
static uint64
plain_attempt(FunctionCallInfo fcinfo, QueueCacheEntry *entry, const char *name, int32 qty,
			  int32 vt, void *arg, uint64 *moved)
{
	ReadArgs	args;

	read_args(fcinfo, entry, name, &args, qty, vt, 5);
	return read_attempt(fcinfo, entry, &args, moved);
}

/*
 * Read with `attempt`; if nothing comes, wait and try again with a fresh
 * snapshot, until a message arrives or max_poll_seconds have passed.
 * Preloaded, the wait is on the queue's shared wait slot (wakeup.c): it
 * ends when a transaction makes a message readable and commits, when the
 * queue's next delayed or leased message becomes visible, or at the
 * deadline, and poll_interval_ms is not used.  Otherwise it polls every
 * poll_interval_ms.  Unlike pgmq, the first attempt happens even when
 * max_poll_seconds is 0.  The wait is interruptible (statement_timeout,
 * cancel, shutdown).  A `selective` reader may not take every message that
 * wakes it (a `conditional` one, a FIFO one): its queue's commits wake
 * every such waiter, so no wakeup is lost on it.
 */
Datum
read_poll(FunctionCallInfo fcinfo, const char *name, int32 vt, int32 qty,
		  int32 max_poll_seconds, int32 poll_interval_ms, bool selective,
		  ReadAttempt attempt, void *arg)
{
	Oid			relid;
	TimestampTz deadline;
	TimestampTz due;
	uint64		got;
	bool		slot;
	MemoryContext attempt_cxt;

	(void) queue_cache_lookup(name);	/* an unknown queue: the usual error */
	deadline = GetCurrentTimestamp() + (TimestampTz) max_poll_seconds * USECS_PER_SEC;

	result_begin_set(fcinfo, true);
	SPI_connect();
	attempt_cxt = AllocSetContextCreate(CurrentMemoryContext, "read_with_poll attempt",
										ALLOCSET_SMALL_SIZES);
	got = poll_attempt(fcinfo, name, qty, vt, false, &due, &relid, attempt_cxt, attempt, arg);
	if (got == 0 && GetCurrentTimestamp() < deadline)
	{
		/*
		 * A reader whose snapshot is the transaction's (REPEATABLE READ,
		 * SERIALIZABLE) may not see what woke it either.
		 */
		Oid			slot_relid = relid;

		selective = selective || IsolationUsesXactSnapshot();
		slot = wakeup_wait_begin(slot_relid, selective);
		for (;;)
		{
			TimestampTz now;

			if (slot && wakeup_wait_dropped())
				slot = follow_queue(name, &slot_relid, selective);
			if (slot)
				wakeup_wait_looking();
			got = poll_attempt(fcinfo, name, qty, vt, slot, &due, &relid, attempt_cxt,
							   attempt, arg);
			now = GetCurrentTimestamp();
			if (got > 0 || now >= deadline)
				break;
			if (slot && relid != slot_relid)
			{
				/* dropped and created again: wait on the new table's slot */
				slot = follow_queue(name, &slot_relid, selective);
				continue;
			}
			if (slot)
				wakeup_wait_sleep(due, deadline);
			else
			{
				long		remaining_ms = (long) ((deadline - now + 999) / 1000);

				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Min(remaining_ms, Max(poll_interval_ms, POLL_MIN_INTERVAL_MS)),
								 PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
			CHECK_FOR_INTERRUPTS();
		}
		if (slot)
			wakeup_wait_end(got == (uint64) qty);
	}
	MemoryContextDelete(attempt_cxt);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_read_with_poll);

/*
 * pgmq.read_with_poll(queue_name, vt, qty, max_poll_seconds DEFAULT 5,
 *					   poll_interval_ms DEFAULT 100, conditional DEFAULT '{}')
 */
Datum
pgmq_c_read_with_poll(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		vt = arg_int32_min(fcinfo, 1, "vt", 0);
	int32		qty = arg_int32_min(fcinfo, 2, "qty", 1);
	int32		max_poll_seconds = arg_int32_min(fcinfo, 3, "max_poll_seconds", 0);
	int32		poll_interval_ms = arg_int32_min(fcinfo, 4, "poll_interval_ms", 0);

	return read_poll(fcinfo, name, vt, qty, max_poll_seconds, poll_interval_ms,
					 has_conditional(fcinfo, 5), plain_attempt, NULL);
}

PG_FUNCTION_INFO_V1(pgmq_c_pop);

/*
 * pgmq.pop(queue_name, qty DEFAULT 1): read and delete in one step.  As in
 * read, an exhausted message is moved to the dead letters, not returned.
 */
Datum
pgmq_c_pop(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		qty = arg_int32_min(fcinfo, 1, "qty", 1);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	int32		max_receives = queue_cache_max_receives(entry);
	Datum		values[4];
	uint64		total = 0;
	uint64		moved;
	uint64		moved_total = 0;

	values[1] = Int32GetDatum(max_receives);
	values[2] = CStringGetTextDatum(name);
	result_begin_set(fcinfo, true);
	SPI_connect();
	values[max_receives > 0 ? 3 : 1] = Int64GetDatum(head_mark_round(entry));
	do
	{
		values[0] = Int32GetDatum(qty - (int32) total);
		total += pick(fcinfo, entry, max_receives > 0 ? QPLAN_POP_DLQ : QPLAN_POP, values, &moved);
		moved_total += moved;
	} while (moved > 0 && total < (uint64) qty);
	/* Gone at commit; readable again if this aborts. */
	queue_events_rows(queue_cache_relid(entry), total, 0, true);
	queue_events_count(queue_cache_relid(entry), QUEUE_POPPED, (int64) total);
	queue_events_count(queue_cache_relid(entry), QUEUE_DEAD_LETTERED, (int64) moved_total);
	SPI_finish();
	return (Datum) 0;
}
