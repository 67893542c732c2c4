/*-------------------------------------------------------------------------
 *
 * queue_events.c
 *		What a transaction did to each queue, acted on when it ends.
 *
 * Sends, reads, acks and the notify trigger record here, per queue and
 * subtransaction level, what their work means for others once it is
 * settled:
 *	- rows that become readable (sent now, or leased with vt = 0) and the
 *	  earliest later time at which one will (delayed sends, leases): at
 *	  commit, after the commit is visible to new snapshots, the queue's
 *	  waiters are woken (wakeup.c);
 *	- rows the transaction holds (leased, deleted, archived, popped): if it
 *	  aborts they are readable again at once, and waiters are woken;
 *	- a NOTIFY the insert trigger asked for: decided at pre-commit against
 *	  the queue's throttle in shared memory, so that exactly the committed
 *	  transactions notify, at most once each, and the throttle is given
 *	  back if the commit fails after all;
 *	- how many messages it sent, read, deleted, ... per queue: added to the
 *	  queue's statistics at commit (stats.c), so rolled-back work never
 *	  counts;
 *	- a queue table dropped: its waiters wake and report it missing.
 * A subtransaction that aborts takes its part back; one that commits hands
 * it to its parent.  Nothing is woken for a prepared transaction (COMMIT
 * PREPARED runs elsewhere): its waiters wake at their next due time or
 * deadline.
 *
 * The list lives in TopTransactionContext; a transaction that touched no
 * queue pays one test per transaction event.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "commands/async.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"

typedef struct QueueEvents
{
	Oid			relid;			/* the queue table */
	int			nest_level;		/* of the subtransaction that did it */
	int64		readable;		/* rows readable from the commit on */
	TimestampTz due;			/* earliest later time rows become readable */
	int64		due_rows;		/* how many at that time */
	int64		held;			/* rows readable again if it aborts */
	char	   *channel;		/* NOTIFY asked for on this channel, or NULL */
	int32		throttle_ms;
	bool		notified;		/* done already (without shared memory) */
	bool		throttle_reset;
	bool		dropped;
	int64		counts[QUEUE_NCOUNTERS];	/* statistics, added at commit */
	bool		claimed;		/* notified at pre-commit: */
	TimestampTz claimed_at;		/* when, */
	TimestampTz claimed_prev;	/* and the throttle's time before */
} QueueEvents;

static List *events = NIL;

static object_access_hook_type prev_object_access_hook = NULL;

/* The record of this queue at the current level, made if need be. */
static QueueEvents *
events_for(Oid relid)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;
	QueueEvents *ev;
	MemoryContext old;

	foreach(lc, events)
	{
		ev = (QueueEvents *) lfirst(lc);
		if (ev->relid == relid && ev->nest_level == level)
			return ev;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	ev = (QueueEvents *) palloc0(sizeof(QueueEvents));
	ev->relid = relid;
	ev->nest_level = level;
	events = lappend(events, ev);
	MemoryContextSwitchTo(old);
	return ev;
}

/*
 * n rows of a queue are readable from readable_at on if this transaction
 * commits (0: they are gone, deleted or archived); `held`: they were
 * readable, or leased, before it and are readable again if it aborts.
 */
void
queue_events_rows(Oid relid, int64 n, TimestampTz readable_at, bool held)
{
	QueueEvents *ev;

	if (!queue_slots_enabled() || n <= 0)
		return;
	ev = events_for(relid);
	if (held)
		ev->held += n;
	if (readable_at == 0)
		return;
	if (readable_at <= GetCurrentTimestamp())
		ev->readable += n;
	else if (ev->due == 0 || readable_at < ev->due)
	{
		ev->due = readable_at;
		ev->due_rows = n;
	}
	else if (readable_at == ev->due)
		ev->due_rows += n;
}

/* Statistics: n more of `counter` for the queue, if this commits. */
void
queue_events_count(Oid relid, QueueCounter counter, int64 n)
{
	if (n <= 0 || !stats_tracking())
		return;
	events_for(relid)->counts[counter] += n;
}

/* The insert trigger asks for a NOTIFY on `channel` if this transaction commits. */
void
queue_events_notify(Oid relid, const char *channel, int32 throttle_ms)
{
	QueueEvents *ev = events_for(relid);

	if (ev->channel == NULL)
		ev->channel = MemoryContextStrdup(TopTransactionContext, channel);
	ev->throttle_ms = throttle_ms;
}

/* Has this transaction asked for (or done) the queue's NOTIFY already? */
bool
queue_events_notify_pending(Oid relid)
{
	ListCell   *lc;

	foreach(lc, events)
	{
		QueueEvents *ev = (QueueEvents *) lfirst(lc);

		if (ev->relid == relid && (ev->channel != NULL || ev->notified))
			return true;
	}
	return false;
}

/* The NOTIFY was done already, through the throttle table. */
void
queue_events_notified(Oid relid)
{
	events_for(relid)->notified = true;
}

/* Notify settings changed: at commit the throttle starts afresh. */
void
queue_events_throttle_reset(Oid relid)
{
	events_for(relid)->throttle_reset = true;
}

/* ---------------------------------------------------------------------
 * Transaction ends
 * ---------------------------------------------------------------------
 */

/* Does this transaction drop the queue table? (Then nothing else counts.) */
static bool
dropped_here(Oid relid)
{
	ListCell   *lc;

	foreach(lc, events)
	{
		QueueEvents *ev = (QueueEvents *) lfirst(lc);

		if (ev->relid == relid && ev->dropped)
			return true;
	}
	return false;
}

/* Was the queue's NOTIFY claimed already by another record of this list? */
static bool
claimed_before(QueueEvents *ev)
{
	ListCell   *lc;

	foreach(lc, events)
	{
		QueueEvents *other = (QueueEvents *) lfirst(lc);

		if (other == ev)
			return false;
		if (other->relid == ev->relid && (other->claimed || other->notified))
			return true;
	}
	return false;
}

/*
 * Just before commit: NOTIFY the queues whose throttle lets them.
 * Async_Notify queues the notification in this transaction; it is sent
 * only if the commit succeeds.
 */
static void
at_pre_commit(void)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, events)
	{
		QueueEvents *ev = (QueueEvents *) lfirst(lc);
		NotifyClaim claim;

		if (ev->channel == NULL || ev->notified || claimed_before(ev) || dropped_here(ev->relid))
			continue;
		claim = wakeup_notify_claim(ev->relid, ev->throttle_ms, now, &ev->claimed_prev);
		if (claim == NOTIFY_THROTTLED)
			continue;
		/* NOTIFY_NO_SLOT: every slot busy since the trigger ran; notify unthrottled */
		ev->claimed = claim == NOTIFY_CLAIMED;
		ev->claimed_at = now;
		Async_Notify(ev->channel, NULL);
	}
}

static void
at_commit(void)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, events)
	{
		QueueEvents *ev = (QueueEvents *) lfirst(lc);

		if (ev->dropped)
		{
			queue_slot_dropped(ev->relid);
			continue;
		}
		/* A slot made now for a table gone would never be freed. */
		if (dropped_here(ev->relid))
			continue;
		stats_add(ev->relid, ev->counts);
		if (ev->throttle_reset)
			wakeup_notify_reset(ev->relid);
		if (ev->due != 0 && ev->due <= now)
		{
			ev->readable += ev->due_rows;
			ev->due = 0;
		}
		wakeup_readable(ev->relid, ev->readable);
		if (ev->due != 0)
		{
			wakeup_due(ev->relid, ev->due);
			/* listeners hear of it when it is due, from the worker */
			if (ev->channel != NULL)
				worker_due_soon(ev->due);
		}
	}
}

/* Rows held by an aborted (sub)transaction are readable again now. */
static void
give_back(QueueEvents *ev)
{
	if (ev->claimed)
		wakeup_notify_unclaim(ev->relid, ev->claimed_at, ev->claimed_prev);
	if (ev->held > 0)
		wakeup_readable(ev->relid, ev->held);
}

static void
queue_events_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (events != NIL)
				at_pre_commit();
			break;
		case XACT_EVENT_COMMIT:
			if (events != NIL)
				at_commit();
			events = NIL;
			break;
		case XACT_EVENT_ABORT:
			wakeup_wait_abort(1);
			foreach(lc, events)
				give_back((QueueEvents *) lfirst(lc));
			events = NIL;
			break;
		case XACT_EVENT_PREPARE:
			events = NIL;
			break;
		default:
			break;
	}
}

static void
queue_events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		wakeup_wait_abort(level);
	if (events == NIL)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, events)
		{
			QueueEvents *ev = (QueueEvents *) lfirst(lc);

			if (ev->nest_level >= level)
				ev->nest_level = level - 1;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, events)
		{
			QueueEvents *ev = (QueueEvents *) lfirst(lc);

			if (ev->nest_level >= level)
			{
				give_back(ev);
				events = foreach_delete_current(events, lc);
			}
		}
	}
}

/* Has this transaction recorded anything for the relation? */
bool
queue_events_touched(Oid relid)
{
	ListCell   *lc;

	foreach(lc, events)
		if (((QueueEvents *) lfirst(lc))->relid == relid)
			return true;
	return false;
}

/*
 * A dropped relation that shared memory keeps a slot for, or that this
 * transaction worked on as a queue, is a queue table (or was): its waiters
 * are told when the drop commits, and its slot goes.
 */
static void
queue_events_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						   int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP && classId == RelationRelationId && subId == 0 &&
		(queue_slot_exists(objectId) || queue_events_touched(objectId)))
		events_for(objectId)->dropped = true;
}

void
queue_events_init(void)
{
	RegisterXactCallback(queue_events_xact_callback, NULL);
	RegisterSubXactCallback(queue_events_subxact_callback, NULL);
	if (process_shared_preload_libraries_in_progress)
	{
		prev_object_access_hook = object_access_hook;
		object_access_hook = queue_events_object_access;
	}
}
