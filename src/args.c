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

/* Error out if argument argno is NULL. */
void
arg_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be NULL", argname)));
}

/* An integer argument that must be present and at least min (0 or 1). */
int32
arg_int32_min(FunctionCallInfo fcinfo, int argno, const char *argname, int32 min)
{
	int32		value;

	arg_not_null(fcinfo, argno, argname);
	value = PG_GETARG_INT32(argno);
	if (value < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 min == 0 ? errmsg("%s must not be negative", argname)
				 : errmsg("%s must be greater than zero", argname),
				 errdetail("%s was %d.", argname, value)));
	return value;
}

/* A timestamp argument that must be present and finite. */
TimestampTz
arg_finite_timestamp(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	TimestampTz ts;

	arg_not_null(fcinfo, argno, argname);
	ts = PG_GETARG_TIMESTAMPTZ(argno);
	check_finite_timestamp(ts, argname);
	return ts;
}

/*
 * When a message becomes visible, from an optional delay argument: now
 * when argno < 0 (the overload has none), else seconds from now or the
 * timestamp given.
 */
TimestampTz
arg_visible_at(FunctionCallInfo fcinfo, int argno, bool in_seconds, const char *argname)
{
	if (argno < 0)
		return GetCurrentTimestamp();
	if (in_seconds)
		return vt_after_seconds(arg_int32_min(fcinfo, argno, argname, 0), argname);
	return arg_finite_timestamp(fcinfo, argno, argname);
}

/* An interval of exactly `seconds` seconds, as make_interval(secs => n). */
Datum
interval_from_seconds(int32 seconds)
{
	Interval   *interval = palloc0(sizeof(Interval));

	interval->time = (int64) seconds * USECS_PER_SEC;
	return IntervalPGetDatum(interval);
}
