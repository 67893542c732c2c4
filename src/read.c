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
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/wait_event.h"

/*
 * The arguments of one read, worked out once (read_with_poll repeats the
 * attempt, and must not allocate per attempt in the SPI context).
 */
typedef struct ReadArgs
{
	Datum		values[5];		/* qty, vt interval, [max_receives, queue name,]
								 * conditional */
	int32		qty;
	QueuePlan	plan;
} ReadArgs;

static void
read_args(FunctionCallInfo fcinfo, QueueCacheEntry *entry, const char *name, ReadArgs *args,
		  int32 qty, int32 vt, int cond_arg)
{
	bool		dead_letters = queue_cache_max_receives(entry) > 0;
	bool		conditional = false;

	args->qty = qty;
	args->values[0] = Int32GetDatum(qty);
	args->values[1] = interval_from_seconds(vt);

	/* pgmq applies `conditional` unless it is NULL or exactly '{}'. */
	if (PG_NARGS() > cond_arg && !PG_ARGISNULL(cond_arg))
	{
		Jsonb	   *cond = PG_GETARG_JSONB_P(cond_arg);

		if (!(JB_ROOT_IS_OBJECT(cond) && JB_ROOT_COUNT(cond) == 0))
		{
			args->values[dead_letters ? 4 : 2] = JsonbPGetDatum(cond);
			conditional = true;
		}
	}
	if (dead_letters)
	{
		args->values[2] = Int32GetDatum(queue_cache_max_receives(entry));
		args->values[3] = CStringGetTextDatum(name);
		args->plan = conditional ? QPLAN_READ_CONDITIONAL_DLQ : QPLAN_READ_DLQ;
	}
	else
		args->plan = conditional ? QPLAN_READ_CONDITIONAL : QPLAN_READ;
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
read_attempt(FunctionCallInfo fcinfo, QueueCacheEntry *entry, ReadArgs *args)
{
	uint64		total = 0;
	uint64		moved;

	do
	{
		args->values[0] = Int32GetDatum(args->qty - (int32) total);
		total += pick(fcinfo, entry, args->plan, args->values, &moved);
	} while (moved > 0 && total < (uint64) args->qty);
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

	read_args(fcinfo, entry, name, &args, qty, vt, 3);
	result_begin_set(fcinfo, true);
	SPI_connect();
	read_attempt(fcinfo, entry, &args);
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
	int32		poll_interval_ms = arg_int32_min(fcinfo, 4, "poll_interval_ms", 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	TimestampTz deadline = GetCurrentTimestamp() + (TimestampTz) max_poll_seconds * USECS_PER_SEC;
	ReadArgs	args;

	read_args(fcinfo, entry, name, &args, qty, vt, 5);
	result_begin_set(fcinfo, true);
	SPI_connect();
	for (;;)
	{
		TimestampTz now;
		long		remaining_ms;

		if (read_attempt(fcinfo, entry, &args) > 0)
			break;
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		remaining_ms = (deadline - now + 999) / 1000;
		/* poll_interval_ms = 0 (pgmq: spin) waits a millisecond instead. */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(remaining_ms, Max(poll_interval_ms, 1)), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	return (Datum) 0;
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
	Datum		values[3];
	uint64		total = 0;
	uint64		moved;

	values[1] = Int32GetDatum(max_receives);
	values[2] = CStringGetTextDatum(name);
	result_begin_set(fcinfo, true);
	SPI_connect();
	do
	{
		values[0] = Int32GetDatum(qty - (int32) total);
		total += pick(fcinfo, entry, max_receives > 0 ? QPLAN_POP_DLQ : QPLAN_POP, values, &moved);
	} while (moved > 0 && total < (uint64) qty);
	SPI_finish();
	return (Datum) 0;
}
