/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *		Shared wait slots: read_with_poll sleeps on its queue's slot until a
 *		message may be there, and transactions that make messages readable
 *		wake it when they commit.  The slot also keeps the queue's notify
 *		throttle.
 *
 * Only with pgmq_c in shared_preload_libraries.  The queue's slot
 * (queue_slots.c) holds, for this:
 *	- a condition variable the waiters sleep on, and how many wait;
 *	- a generation, bumped by every wake event, so that a waiter that was
 *	  looking at the table (not yet asleep) when the event came looks again
 *	  instead of sleeping through it;
 *	- the timekeeper: the one waiter that sleeps until the queue's next due
 *	  time (its earliest vt in the future), so that a delayed or leased
 *	  message wakes one waiter when it becomes visible, not every waiter;
 *	- when the queue's channel was last notified (the throttle).
 *
 * Waking is counted: n messages committed wake at most n waiters, oldest
 * first (ConditionVariableSignal), never the herd.  A waiter that leaves
 * after wake events it may have absorbed without using them, and a
 * timekeeper woken by the clock that took a full batch, pass one wakeup on.
 * A `conditional` reader may not want what came, so a queue that has one
 * waiting is woken by broadcast instead.
 *
 * A queue beyond pgmq_c.max_tracked_queues has no slot: its readers poll.
 *
 *-------------------------------------------------------------------------
 */
#include "queue_slot.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/wait_event.h"

/* The wait this backend is in (one at a time), for wakeup_wait_*(). */
typedef struct QueueWait
{
	QueueSlot  *slot;			/* NULL: not waiting */
	bool		conditional;
	int			nest_level;		/* of the transaction that waits */
	uint64		seen;			/* generation when it last looked */
	bool		by_clock;		/* its last sleep ended by the clock */
} QueueWait;

static QueueWait my_wait;

/* ---------------------------------------------------------------------
 * Waiting (read_with_poll)
 * ---------------------------------------------------------------------
 */

/*
 * Start waiting for messages in a queue.  False when the wait cannot use a
 * slot (not preloaded, every slot busy, or a wait already running in this
 * backend): the caller then polls.
 */
bool
wakeup_wait_begin(Oid relid, bool conditional)
{
	QueueSlot  *slot;

	if (!queue_slots_enabled() || my_wait.slot != NULL)
		return false;
	slot = queue_slot_acquire(relid, true);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		slot->nwaiters++;
		if (conditional)
			slot->nconditional++;
		my_wait.seen = slot->generation;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
	if (slot == NULL)
		return false;
	my_wait.slot = slot;
	my_wait.conditional = conditional;
	my_wait.nest_level = GetCurrentTransactionNestLevel();
	my_wait.by_clock = false;
	return true;
}

/* About to look at the table: events from now on make the next sleep short. */
void
wakeup_wait_looking(void)
{
	QueueSlot  *slot = my_wait.slot;

	SpinLockAcquire(&slot->mutex);
	my_wait.seen = slot->generation;
	SpinLockRelease(&slot->mutex);
}

/*
 * Sleep until woken, until `due` if this waiter keeps the queue's time
 * (due: the queue's earliest vt in the future, 0 if none), or until the
 * deadline.  Returns at once if something happened since the last look.
 */
void
wakeup_wait_sleep(TimestampTz due, TimestampTz deadline)
{
	QueueSlot  *slot = my_wait.slot;
	TimestampTz until = deadline;
	bool		changed;
	long		timeout_ms;

	ConditionVariablePrepareToSleep(&slot->cv);
	SpinLockAcquire(&slot->mutex);
	changed = slot->generation != my_wait.seen;
	if (!changed && due != 0 &&
		(slot->timekeeper == 0 || slot->timekeeper == MyProcPid ||
		 due < slot->timekeeper_until))
	{
		slot->timekeeper = MyProcPid;
		slot->timekeeper_until = due;
		until = Min(deadline, due);
	}
	else if (slot->timekeeper == MyProcPid && !changed)
		slot->timekeeper = 0;	/* nothing due any more */
	SpinLockRelease(&slot->mutex);

	my_wait.by_clock = false;
	if (changed)
	{
		ConditionVariableCancelSleep();
		return;
	}
	timeout_ms = (long) ((until - GetCurrentTimestamp() + 999) / 1000);
	if (timeout_ms <= 0)
	{
		ConditionVariableCancelSleep();
		my_wait.by_clock = true;
		return;
	}
	my_wait.by_clock = ConditionVariableTimedSleep(&slot->cv, timeout_ms, PG_WAIT_EXTENSION);
}

/* Leave the wait; pass a wakeup on if this waiter may have taken one unused. */
static void
wait_leave(bool full_batch)
{
	QueueSlot  *slot = my_wait.slot;
	bool		pass_on;
	bool		last_of_dropped;

	ConditionVariableCancelSleep();
	(void) queue_slot_acquire(slot->key.relid, false);	/* for the lock */
	SpinLockAcquire(&slot->mutex);
	slot->nwaiters--;
	if (my_wait.conditional)
		slot->nconditional--;
	pass_on = slot->generation != my_wait.seen || (full_batch && my_wait.by_clock);
	if (slot->timekeeper == MyProcPid)
	{
		slot->timekeeper = 0;
		pass_on = true;			/* someone else must keep the time now */
	}
	pass_on = pass_on && slot->nwaiters > 0;
	last_of_dropped = slot->dropped && slot->nwaiters == 0;
	SpinLockRelease(&slot->mutex);
	if (pass_on)
		ConditionVariableSignal(&slot->cv);
	queue_slot_release();
	my_wait.slot = NULL;
	if (last_of_dropped)
		queue_slot_remove_if_unused(slot);
}

/* Was the table of the queue this backend waits on dropped? */
bool
wakeup_wait_dropped(void)
{
	QueueSlot  *slot = my_wait.slot;
	bool		dropped;

	SpinLockAcquire(&slot->mutex);
	dropped = slot->dropped;
	SpinLockRelease(&slot->mutex);
	return dropped;
}

/* The wait is over; full_batch: it got all the messages it asked for. */
void
wakeup_wait_end(bool full_batch)
{
	if (my_wait.slot != NULL)
		wait_leave(full_batch);
}

/*
 * The (sub)transaction at nest_level is aborting: a wait it was in is over
 * (ended by an error, cancel or timeout).
 */
void
wakeup_wait_abort(int nest_level)
{
	if (my_wait.slot != NULL && nest_level <= my_wait.nest_level)
		wait_leave(false);
}

/* ---------------------------------------------------------------------
 * Waking (at commit, from queue_events.c)
 * ---------------------------------------------------------------------
 */

/* n messages of a queue are readable now: wake up to n of its waiters. */
void
wakeup_readable(Oid relid, int64 n)
{
	QueueSlot  *slot;

	if (!queue_slots_enabled() || n <= 0)
		return;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		int			nwaiters;
		bool		broadcast;

		SpinLockAcquire(&slot->mutex);
		slot->generation++;
		nwaiters = slot->nwaiters;
		broadcast = slot->nconditional > 0;
		SpinLockRelease(&slot->mutex);
		if (broadcast)
			ConditionVariableBroadcast(&slot->cv);
		else
		{
			for (int64 i = 0; i < Min(n, (int64) nwaiters); i++)
				ConditionVariableSignal(&slot->cv);
		}
	}
	queue_slot_release();
}

/*
 * A message of a queue becomes readable at `due`.  If that is sooner than
 * the queue's timekeeper will wake, or nobody keeps its time, one waiter
 * is woken to take the role on.
 */
void
wakeup_due(Oid relid, TimestampTz due)
{
	QueueSlot  *slot;

	if (!queue_slots_enabled())
		return;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		bool		wake = false;

		SpinLockAcquire(&slot->mutex);
		if (slot->nwaiters > 0 &&
			(slot->timekeeper == 0 || due < slot->timekeeper_until))
		{
			slot->timekeeper = 0;
			slot->generation++;
			wake = true;
		}
		SpinLockRelease(&slot->mutex);
		if (wake)
			ConditionVariableSignal(&slot->cv);
	}
	queue_slot_release();
}

/* ---------------------------------------------------------------------
 * Notify throttle
 * ---------------------------------------------------------------------
 */

/*
 * May the queue's channel be notified at `now`?  If the throttle lets it,
 * the notification is recorded (*prev: what was there, to give back if the
 * transaction then fails to commit).
 */
NotifyClaim
wakeup_notify_claim(Oid relid, int32 throttle_ms, TimestampTz now, TimestampTz *prev)
{
	QueueSlot  *slot;
	NotifyClaim result = NOTIFY_NO_SLOT;

	if (!queue_slots_enabled())
		return NOTIFY_NO_SLOT;
	slot = queue_slot_acquire(relid, true);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		*prev = slot->last_notified_at;
		if (slot->last_notified_at == 0 ||
			now - slot->last_notified_at >= (TimestampTz) throttle_ms * 1000)
		{
			slot->last_notified_at = now;
			slot->throttle_ms = throttle_ms;
			result = NOTIFY_CLAIMED;
		}
		else
			result = NOTIFY_THROTTLED;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
	return result;
}

/*
 * The transaction that claimed a notification at `claimed` did not commit.
 *
 * Known gap: a send that committed while the claim stood was throttled by
 * it and notified nobody, and giving the claim back does not notify for it.
 * Only a transaction that fails after its pre-commit step (a serialization
 * failure at commit, say) gives a claim back, so the window is within one
 * COMMIT; listeners hear of that message with the next notification.
 */
void
wakeup_notify_unclaim(Oid relid, TimestampTz claimed, TimestampTz prev)
{
	QueueSlot  *slot;

	if (!queue_slots_enabled())
		return;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		if (slot->last_notified_at == claimed)
			slot->last_notified_at = prev;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
}

/* Forget the throttle (notify settings changed): the next send notifies. */
void
wakeup_notify_reset(Oid relid)
{
	QueueSlot  *slot;

	if (!queue_slots_enabled())
		return;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		slot->last_notified_at = 0;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
}

/* When the queue's channel was last notified since start; 0: not known. */
TimestampTz
wakeup_notified_at(Oid relid)
{
	QueueSlot  *slot;
	TimestampTz result = 0;

	if (!queue_slots_enabled())
		return 0;
	slot = queue_slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		result = slot->last_notified_at;
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
	return result;
}
