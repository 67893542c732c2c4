/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *		Shared wait slots: read_with_poll sleeps on its queue's slot until a
 *		message may be there, and transactions that make messages readable
 *		wake it when they commit.  The slot also keeps the queue's notify
 *		throttle.
 *
 * Only with pgmq_c in shared_preload_libraries.  One slot per queue that
 * has had a waiter or a notification since the server started, in a shared
 * hash keyed by (database, queue table), at most pgmq_c.max_tracked_queues
 * of them.  A slot holds:
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
 * Locking: whoever uses a slot holds the table's LWLock (shared is enough;
 * the slot's fields are under its spinlock), except a waiter, whose count
 * in nwaiters keeps its slot in place: slots are removed or reused only
 * with the LWLock held exclusively, and only while nobody waits on them.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/wait_event.h"

/* Setting: slots in shared memory (see README.md, "Settings"). */
static int	max_tracked_queues = 1024;

typedef struct SlotKey
{
	Oid			dboid;
	Oid			relid;			/* the queue table */
} SlotKey;

typedef struct QueueSlot
{
	SlotKey		key;			/* hash key */
	slock_t		mutex;
	int			nwaiters;
	int			nconditional;	/* of which read with a `conditional` */
	uint64		generation;		/* bumped by every wake event */
	int			timekeeper;		/* pid of the waiter keeping the time; 0: none */
	TimestampTz timekeeper_until;	/* the due time it sleeps until */
	TimestampTz last_notified_at;	/* 0: not since start */
	int32		throttle_ms;	/* of that notification */
	ConditionVariable cv;
} QueueSlot;

static LWLock *slots_lock = NULL;
static HTAB *slots = NULL;

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
 * Shared memory
 * ---------------------------------------------------------------------
 */

static Size
wakeup_shmem_size(void)
{
	return hash_estimate_size(max_tracked_queues, sizeof(QueueSlot));
}

void
wakeup_shmem_request(void)
{
	RequestAddinShmemSpace(wakeup_shmem_size());
	RequestNamedLWLockTranche("pgmq_c wait slots", 1);
}

/* Called with AddinShmemInitLock held. */
void
wakeup_shmem_startup(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(SlotKey);
	info.entrysize = sizeof(QueueSlot);
	slots_lock = &(GetNamedLWLockTranche("pgmq_c wait slots"))->lock;
	slots = ShmemInitHash("pgmq_c wait slots", max_tracked_queues, max_tracked_queues,
						  &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * The setting exists only when preloaded: a PGC_POSTMASTER variable cannot
 * be defined after startup, and without preloading nothing uses it.
 */
void
wakeup_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("pgmq_c.max_tracked_queues",
							"Queues shared memory keeps wait slots and notify throttles for.",
							"Beyond this many busy queues, read_with_poll polls and notify throttles through its table.",
							&max_tracked_queues,
							1024, 16, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

bool
wakeup_enabled(void)
{
	return slots != NULL;
}

/* ---------------------------------------------------------------------
 * Slots
 * ---------------------------------------------------------------------
 */

/* The slot of a queue of this database, or NULL.  Caller holds the lock. */
static QueueSlot *
slot_find(Oid relid)
{
	SlotKey		key;

	key.dboid = MyDatabaseId;
	key.relid = relid;
	return (QueueSlot *) hash_search(slots, &key, HASH_FIND, NULL);
}

/*
 * May another queue have this slot?  Nobody waits on it and its throttle
 * no longer holds anything back.  Caller holds the lock exclusively.
 */
static bool
slot_idle(QueueSlot *slot, TimestampTz now)
{
	return slot->nwaiters == 0 &&
		(slot->last_notified_at == 0 ||
		 slot->last_notified_at + (TimestampTz) slot->throttle_ms * 1000 <= now);
}

/* Make room for one more slot by removing an idle one. */
static bool
slot_evict_one(void)
{
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS seq;
	QueueSlot  *slot;

	hash_seq_init(&seq, slots);
	while ((slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
	{
		if (slot_idle(slot, now))
		{
			SlotKey		key = slot->key;

			hash_seq_term(&seq);
			(void) hash_search(slots, &key, HASH_REMOVE, NULL);
			return true;
		}
	}
	return false;
}

/*
 * The slot of a queue, made if `create` and there is room.  Returns with
 * the lock held (shared, or exclusive if it made the slot) even when it
 * returns NULL; the caller releases it.
 */
static QueueSlot *
slot_acquire(Oid relid, bool create)
{
	QueueSlot  *slot;
	SlotKey		key;
	bool		found;

	LWLockAcquire(slots_lock, LW_SHARED);
	slot = slot_find(relid);
	if (slot != NULL || !create)
		return slot;
	LWLockRelease(slots_lock);

	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	slot = slot_find(relid);
	if (slot != NULL)
		return slot;
	if (hash_get_num_entries(slots) >= max_tracked_queues && !slot_evict_one())
		return NULL;
	key.dboid = MyDatabaseId;
	key.relid = relid;
	slot = (QueueSlot *) hash_search(slots, &key, HASH_ENTER_NULL, &found);
	if (slot == NULL)
		return NULL;
	SpinLockInit(&slot->mutex);
	slot->nwaiters = 0;
	slot->nconditional = 0;
	slot->generation = 0;
	slot->timekeeper = 0;
	slot->timekeeper_until = 0;
	slot->last_notified_at = 0;
	slot->throttle_ms = 0;
	ConditionVariableInit(&slot->cv);
	return slot;
}

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

	if (!wakeup_enabled() || my_wait.slot != NULL)
		return false;
	slot = slot_acquire(relid, true);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		slot->nwaiters++;
		if (conditional)
			slot->nconditional++;
		my_wait.seen = slot->generation;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(slots_lock);
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

	ConditionVariableCancelSleep();
	LWLockAcquire(slots_lock, LW_SHARED);
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
	SpinLockRelease(&slot->mutex);
	if (pass_on)
		ConditionVariableSignal(&slot->cv);
	LWLockRelease(slots_lock);
	my_wait.slot = NULL;
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

	if (!wakeup_enabled() || n <= 0)
		return;
	slot = slot_acquire(relid, false);
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
	LWLockRelease(slots_lock);
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

	if (!wakeup_enabled())
		return;
	slot = slot_acquire(relid, false);
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
	LWLockRelease(slots_lock);
}

/* Does shared memory keep anything for this queue table? */
bool
wakeup_has_slot(Oid relid)
{
	bool		found;

	if (!wakeup_enabled())
		return false;
	found = slot_acquire(relid, false) != NULL;
	LWLockRelease(slots_lock);
	return found;
}

/*
 * A queue table was dropped (and the drop committed): its waiters wake,
 * look the queue up again and report it missing; an unused slot goes.
 */
void
wakeup_dropped(Oid relid)
{
	QueueSlot  *slot;

	if (!wakeup_enabled())
		return;
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	slot = slot_find(relid);
	if (slot != NULL)
	{
		if (slot->nwaiters == 0)
		{
			SlotKey		key = slot->key;

			(void) hash_search(slots, &key, HASH_REMOVE, NULL);
		}
		else
		{
			SpinLockAcquire(&slot->mutex);
			slot->generation++;
			slot->last_notified_at = 0;
			SpinLockRelease(&slot->mutex);
			ConditionVariableBroadcast(&slot->cv);
		}
	}
	LWLockRelease(slots_lock);
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

	if (!wakeup_enabled())
		return NOTIFY_NO_SLOT;
	slot = slot_acquire(relid, true);
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
	LWLockRelease(slots_lock);
	return result;
}

/* The transaction that claimed a notification at `claimed` did not commit. */
void
wakeup_notify_unclaim(Oid relid, TimestampTz claimed, TimestampTz prev)
{
	QueueSlot  *slot;

	if (!wakeup_enabled())
		return;
	slot = slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		if (slot->last_notified_at == claimed)
			slot->last_notified_at = prev;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(slots_lock);
}

/* Forget the throttle (notify settings changed): the next send notifies. */
void
wakeup_notify_reset(Oid relid)
{
	QueueSlot  *slot;

	if (!wakeup_enabled())
		return;
	slot = slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		slot->last_notified_at = 0;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(slots_lock);
}

/* When the queue's channel was last notified since start; 0: not known. */
TimestampTz
wakeup_notified_at(Oid relid)
{
	QueueSlot  *slot;
	TimestampTz result = 0;

	if (!wakeup_enabled())
		return 0;
	slot = slot_acquire(relid, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		result = slot->last_notified_at;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(slots_lock);
	return result;
}
