/*-------------------------------------------------------------------------
 *
 * args.c
 *		Checks and conversions of the arguments several functions share:
 *		visibility timeouts, delays, batch sizes.
 *
 * A bad argument is an error before anything is touched, so a failed call
 * leaves every queue as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "utils/datetime.h"

/* now + seconds, for a delay or a visibility timeout given in seconds. */
TimestampTz
vt_after_seconds(int32 seconds, const char *argname)
{
	if (seconds < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errdetail("%s was %d.", argname, seconds)));
	/* int32 seconds from now cannot overflow a timestamp. */
	return GetCurrentTimestamp() + (TimestampTz) seconds * USECS_PER_SEC;
}

/* A message that becomes visible at 'infinity' would never be seen. */
void
check_finite_timestamp(TimestampTz ts, const char *argname)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", argname)));
}

static int32
arg_int32_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be NULL", argname)));
	return PG_GETARG_INT32(argno);
}

/* How many messages to take: at least one. */
int32
arg_positive_qty(FunctionCallInfo fcinfo, int argno)
{
	int32		qty = arg_int32_not_null(fcinfo, argno, "qty");

	if (qty <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty must be greater than zero"),
				 errdetail("qty was %d.", qty)));
	return qty;
}

/* A visibility timeout in seconds: zero (visible again at once) or more. */
int32
arg_vt_seconds(FunctionCallInfo fcinfo, int argno)
{
	int32		vt = arg_int32_not_null(fcinfo, argno, "vt");

	if (vt < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vt must not be negative"),
				 errdetail("vt was %d.", vt)));
	return vt;
}

/* An interval of exactly `seconds` seconds, as make_interval(secs => n). */
Datum
interval_from_seconds(int32 seconds)
{
	Interval   *interval = palloc0(sizeof(Interval));

	interval->time = (int64) seconds * USECS_PER_SEC;
	return IntervalPGetDatum(interval);
}
