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
 * notifications, the time up to which due messages have been announced.
 * Each round asks whether a never-read message (read_ct 0: delayed, not a
 * lease running out) became visible since then, notifies if so, and says
 * when the next one is due; the worker sleeps until then.  A transaction
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
#include "utils/memutils.h"

/* A queue watched: announced up to when. */
typedef struct WatchedQueue
{
	Oid			relid;			/* hash key: its queue table */
	TimestampTz announced_through;
	uint64		round;			/* the last round that saw it */
} WatchedQueue;

static HTAB *watched = NULL;
static uint64 round_number = 0;

static WatchedQueue *
watch(Oid relid, TimestampTz now)
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
		w->announced_through = now; /* due before the watch began: not ours */
	w->round = round_number;
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
 * One queue: notify if a delayed message became due since the last
 * announcement; the next due time (or the end of the throttle holding a
 * notification back), 0 if none.
 */
static TimestampTz
watch_queue(const char *name, int32 throttle_ms, TimestampTz now)
{
	Oid			relid = queue_relation_oid(name, "q");
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	WatchedQueue *w;
	TimestampTz next = 0;
	bool		became_due;
	bool		isnull;
	Datum		d;
	Oid			save_userid;
	int			save_sec_context;

	if (!OidIsValid(relid))
		return 0;
	w = watch(relid, now);
	values[0] = TimestampTzGetDatum(w->announced_through);
	values[1] = TimestampTzGetDatum(now);

	/* The worker is a superuser: look at a user's table as its owner. */
	queue_become_owner(relid, &save_userid, &save_sec_context);
	result_run_sql(psprintf("SELECT EXISTS (SELECT FROM %1$s WHERE vt OPERATOR(pg_catalog.>) $1"
							" AND vt" LE "$2 AND read_ct" EQ "0),"
							" (SELECT pg_catalog.min(vt) FROM %1$s WHERE vt OPERATOR(pg_catalog.>) $2"
							" AND read_ct" EQ "0)",
							admin_relation_sql_name(relid)),
				   2, argtypes, values, NULL, SPI_OK_SELECT);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	became_due = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		next = DatumGetTimestampTz(d);

	if (became_due)
	{
		TimestampTz prev;

		if (wakeup_notify_claim(relid, throttle_ms, now, &prev) == NOTIFY_THROTTLED)
		{
			TimestampTz free_at = prev + (TimestampTz) throttle_ms * 1000;

			return next == 0 ? free_at : Min(next, free_at);
		}
		Async_Notify(psprintf("pgmq.q_%s.INSERT", name), NULL);
	}
	w->announced_through = now;
	return next;
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
