/*-------------------------------------------------------------------------
 *
 * due_notify.c
 *		The worker's watch over delayed messages in queues that have insert
 *		notifications: when one becomes due, the queue's channel is notified
 *		(throttled like the insert notifications), so that consumers that
 *		LISTEN hear of delayed messages too.
 *
 * pgmq notifies only at insert.  A message sent with a delay is invisible
 * then, and a consumer that reads when notified finds nothing and waits for
 * the next insert.  Here the worker of each database keeps, per queue with
 * notifications, the earliest never-read message (read_ct 0: delayed, not
 * a lease running out) it has seen waiting.  Each round notifies the queues
 * where that one has come due and looks for the next; the worker sleeps
 * until the earliest of them.  A delayed message (of a second or more)
 * committed while a round was already past its queue, and due before the
 * next round, is caught by the next round looking back to the last one.
 * A round takes effect only if its transaction commits.  A transaction
 * that commits a delayed send to such a queue wakes the worker if that is
 * sooner than it planned (worker_due_soon).  A notification the throttle
 * holds back is sent once the interval has passed, not dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "commands/async.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/*
 * A queue watched.  What a round finds is kept aside (next_*) and becomes
 * the queue's state only once the round's transaction has committed, with
 * its notifications; if it fails, the state stays as it was (so the next
 * round notifies again) and the throttle is given back.
 */
typedef struct WatchedQueue
{
	Oid			relid;			/* hash key: its queue table */
	TimestampTz waiting_due;	/* earliest delayed message seen waiting; 0 none */
	bool		owed;			/* one came due; the throttle held it back */
	uint64		round;			/* the last round that saw the queue */
	/* this round, until it commits */
	TimestampTz next_waiting_due;
	bool		next_owed;
	bool		claimed;		/* notified: the throttle's claim, to give back */
	TimestampTz claimed_at;
	TimestampTz claimed_prev;
} WatchedQueue;

static HTAB *watched = NULL;
static uint64 round_number = 0;

/* When the last committed round looked: later due times are not yet seen. */
static TimestampTz last_round_at = 0;
static TimestampTz this_round_at = 0;

static WatchedQueue *
watch(Oid relid)
{
	WatchedQueue *w;
	bool		found;

	if (watched == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(Oid);
		info.entrysize = sizeof(WatchedQueue);
		info.hcxt = TopMemoryContext;
		watched = hash_create("pgmq_c watched queues", 64, &info,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	w = (WatchedQueue *) hash_search(watched, &relid, HASH_ENTER, &found);
	if (!found)
	{
		w->waiting_due = 0;
		w->owed = false;
	}
	w->round = round_number;
	w->claimed = false;
	return w;
}

/* Stop watching queues that no longer have notifications. */
static void
forget_unwatched(void)
{
	HASH_SEQ_STATUS seq;
	WatchedQueue *w;

	if (watched == NULL)
		return;
	hash_seq_init(&seq, watched);
	while ((w = (WatchedQueue *) hash_seq_search(&seq)) != NULL)
		if (w->round != round_number)
			(void) hash_search(watched, &w->relid, HASH_REMOVE, NULL);
}

/*
 * One queue: notify if the delayed message it saw waiting last time has
 * come due (or a notification is still owed to the throttle); look for the
 * next one.  Returns when to look again, 0 if nothing waits.
 *
 * Only what an earlier round saw still in the future counts as delayed: a
 * message sent without a delay is visible from its commit on, and its
 * insert notification has told the listeners already.  A delayed send's
 * commit wakes the worker (worker_due_soon), so the round that sees it
 * waiting comes before it is due.
 */
static TimestampTz
watch_queue(const char *name, int32 throttle_ms, TimestampTz now)
{
	Oid			relid = queue_relation_oid(name, "q");
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	WatchedQueue *w;
	TimestampTz next = 0;
	TimestampTz retry = 0;
	bool		owed;
	bool		isnull;
	Datum		d;
	Oid			save_userid;
	int			save_sec_context;

	if (!OidIsValid(relid))
		return 0;
	w = watch(relid);

	/*
	 * The next delayed message, and whether one with a delay of a second or
	 * more came due since the last round without a round seeing it waiting
	 * (sent while a round was already past this queue).  The worker is a
	 * superuser: it looks at a user's table as its owner.
	 */
	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(last_round_at != 0 ? last_round_at : now);
	queue_become_owner(relid, &save_userid, &save_sec_context);
	result_run_sql(psprintf("SELECT (SELECT pg_catalog.min(vt) FROM %1$s WHERE vt OPERATOR(pg_catalog.>) $1"
							" AND read_ct" EQ "0),"
							" EXISTS (SELECT FROM %1$s WHERE vt OPERATOR(pg_catalog.>) $2 AND vt" LE "$1"
							" AND read_ct" EQ "0 AND vt" OP_GE "(enqueued_at OPERATOR(pg_catalog.+)"
							" '1 second'::pg_catalog.interval))",
							admin_relation_sql_name(relid)),
				   2, argtypes, values, NULL, SPI_OK_SELECT);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		next = DatumGetTimestampTz(d);
	owed = w->owed || (w->waiting_due != 0 && w->waiting_due <= now) ||
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	if (owed)
	{
		if (wakeup_notify_claim(relid, throttle_ms, now, &w->claimed_prev) == NOTIFY_THROTTLED)
			retry = w->claimed_prev + (TimestampTz) throttle_ms * 1000;
		else
		{
			Async_Notify(psprintf("pgmq.q_%s.INSERT", name), NULL);
			w->claimed = true;
			w->claimed_at = now;
			owed = false;
		}
	}
	w->next_owed = owed;
	w->next_waiting_due = next;

	if (retry != 0 && (next == 0 || retry < next))
		return retry;
	return next;
}

/*
 * The round's transaction committed (its notifications are out) or failed
 * (they are not): take what it found, or give the throttle back.
 */
void
due_notify_round_ended(bool committed)
{
	HASH_SEQ_STATUS seq;
	WatchedQueue *w;

	if (watched == NULL)
		return;
	if (committed)
		last_round_at = this_round_at;
	hash_seq_init(&seq, watched);
	while ((w = (WatchedQueue *) hash_seq_search(&seq)) != NULL)
	{
		if (w->round != round_number)
			continue;
		if (committed)
		{
			w->waiting_due = w->next_waiting_due;
			w->owed = w->next_owed;
		}
		else if (w->claimed)
			wakeup_notify_unclaim(w->relid, w->claimed_at, w->claimed_prev);
		w->claimed = false;
	}
}

/*
 * One round over the queues of this database that have notifications, in
 * the caller's transaction (the notifications go out when it commits).
 * Returns when the next round is needed, 0 if no delayed message waits.
 */
TimestampTz
due_notify_round(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	Oid			nsp = get_namespace_oid(PGMQ_SCHEMA, true);
	SPITupleTable *queues;
	uint64		nqueues;

	/* 0.1.0 has no notifications */
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("notify_insert_throttle", nsp)))
		return 0;
	round_number++;
	this_round_at = now;
	/* A queue someone holds locked holds up the others only this long. */
	(void) set_config_option("lock_timeout", "1s", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	SPI_connect();
	result_run_sql("SELECT queue_name::pg_catalog.text, throttle_interval_ms"
				   " FROM pgmq.notify_insert_throttle",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);
	queues = SPI_tuptable;
	nqueues = SPI_processed;
	for (uint64 i = 0; i < nqueues; i++)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(queues->vals[i], queues->tupdesc, 1);
		int32		ms = DatumGetInt32(SPI_getbinval(queues->vals[i], queues->tupdesc, 2, &isnull));
		TimestampTz due = watch_queue(name, ms, now);

		if (due != 0 && (next == 0 || due < next))
			next = due;
	}
	SPI_finish();
	forget_unwatched();
	return next;
}
