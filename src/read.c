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

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/jsonb.h"
#include "utils/wait_event.h"

/* pgmq applies `conditional` unless it is NULL or exactly '{}'. */
static bool
has_condition(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *cond;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return false;
	cond = PG_GETARG_JSONB_P(argno);
	return !(JB_ROOT_IS_OBJECT(cond) && JB_ROOT_COUNT(cond) == 0);
}

/* One attempt: lease up to qty visible messages into the result set. */
static uint64
read_attempt(FunctionCallInfo fcinfo, QueueCacheEntry *entry, int32 qty, int32 vt,
			 int cond_arg)
{
	Datum		values[3];
	bool		conditional = has_condition(fcinfo, cond_arg);
	uint64		n;

	values[0] = Int32GetDatum(qty);
	values[1] = interval_from_seconds(vt);
	if (conditional)
		values[2] = PG_GETARG_DATUM(cond_arg);
	n = queue_execute(entry, conditional ? QPLAN_READ_CONDITIONAL : QPLAN_READ, values, NULL);
	result_add_tuples(fcinfo, SPI_tuptable, n);
	SPI_freetuptable(SPI_tuptable);
	return n;
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

	result_begin_set(fcinfo, true);
	SPI_connect();
	read_attempt(fcinfo, entry, qty, vt, 3);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_read_with_poll);

/*
 * pgmq.read_with_poll(queue_name, vt, qty, max_poll_seconds DEFAULT 5,
 *					   poll_interval_ms DEFAULT 100, conditional DEFAULT '{}')
 *
 * Read; if nothing is visible, sleep poll_interval_ms and try again with a
 * fresh snapshot, until a message arrives or max_poll_seconds have passed.
 * Unlike pgmq, the first attempt happens even when max_poll_seconds is 0.
 * The wait is interruptible (statement_timeout, cancel, shutdown).
 */
Datum
pgmq_c_read_with_poll(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		vt = arg_int32_min(fcinfo, 1, "vt", 0);
	int32		qty = arg_int32_min(fcinfo, 2, "qty", 1);
	int32		max_poll_seconds = arg_int32_min(fcinfo, 3, "max_poll_seconds", 0);
	int32		poll_interval_ms = arg_int32_min(fcinfo, 4, "poll_interval_ms", 1);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	TimestampTz deadline = GetCurrentTimestamp() + (TimestampTz) max_poll_seconds * USECS_PER_SEC;

	result_begin_set(fcinfo, true);
	SPI_connect();
	for (;;)
	{
		TimestampTz now;
		long		remaining_ms;

		if (read_attempt(fcinfo, entry, qty, vt, 5) > 0)
			break;
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		remaining_ms = (deadline - now + 999) / 1000;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(remaining_ms, poll_interval_ms), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_pop);

/* pgmq.pop(queue_name, qty DEFAULT 1): read and delete in one step. */
Datum
pgmq_c_pop(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		qty = arg_int32_min(fcinfo, 1, "qty", 1);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	Datum		values[1];
	uint64		n;

	values[0] = Int32GetDatum(qty);
	result_begin_set(fcinfo, true);
	SPI_connect();
	n = queue_execute(entry, QPLAN_POP, values, NULL);
	result_add_tuples(fcinfo, SPI_tuptable, n);
	SPI_finish();
	return (Datum) 0;
}
