/*-------------------------------------------------------------------------
 *
 * send.c
 *		pgmq.send and pgmq.send_batch in all their overloads.
 *
 * Every overload reduces to one insert through the queue's cached plan:
 * (vt, message, headers) for one message, or (vt, messages[], headers[])
 * for a batch.  A message is visible to others once the caller commits;
 * enqueued_at is the transaction start (the column default, now()), vt is
 * computed here from the clock, as pgmq computes it from clock_timestamp().
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

/*
 * The dedup ids of a batch's messages (headers: jsonb[], already checked to
 * be as long as msgs), one key lookup per message; NULL when none has one.
 * Every id is checked before anything is inserted.
 */
static text **
batch_dedup_ids(Datum headers, int *nheaders, Datum **elems, bool **nulls)
{
	text	  **ids = NULL;

	deconstruct_array(DatumGetArrayTypeP(headers), JSONBOID, -1, false, TYPALIGN_INT,
					  elems, nulls, nheaders);
	for (int i = 0; i < *nheaders; i++)
	{
		text	   *id = (*nulls)[i] ? NULL : dedup_id_of((*elems)[i]);

		if (id == NULL)
			continue;
		if (ids == NULL)
			ids = palloc0(sizeof(text *) * *nheaders);
		ids[i] = id;
	}
	return ids;
}

/*
 * Insert one message (batch false: msg is jsonb) or a batch (msg is jsonb[],
 * already checked) into the queue, and return the ids in input order,
 * allocated in the caller's memory context; *n is how many.  Every way into
 * a queue goes through here: send, send_batch, send_topic.
 *
 * Messages without a dedup id header take one insert through the queue's
 * cached plan, for one message or the whole batch; the header costs them a
 * key lookup per message.  When any carries one, dedup.c takes the call:
 * it claims the ids' keys and inserts the messages with msg_ids it drew, a
 * few statements whatever the batch's size, and a repeat gets the
 * original's id without a new row.
 */
int64 *
send_messages(QueueCacheEntry *entry, bool batch, Datum msg, bool msg_null,
			  Datum headers, bool headers_null, TimestampTz vt, uint64 *n)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64	   *ids;
	uint64		inserted;
	text	  **dedup_ids = NULL;
	text	   *one_id = NULL;
	int			nheaders = 0;
	Datum	   *header_elems = NULL;
	bool	   *header_nulls = NULL;

	if (!headers_null)
	{
		if (batch)
			dedup_ids = batch_dedup_ids(headers, &nheaders, &header_elems, &header_nulls);
		else if ((one_id = dedup_id_of(headers)) != NULL)
			dedup_ids = &one_id;
	}

	SPI_connect();
	if (dedup_ids != NULL)
	{
		int			nmsgs = 1;
		Datum	   *msg_elems = &msg;
		bool	   *msg_nulls = &msg_null;

		if (batch)
			deconstruct_array(DatumGetArrayTypeP(msg), JSONBOID, -1, false, TYPALIGN_INT,
							  &msg_elems, &msg_nulls, &nmsgs);
		else
		{
			header_elems = &headers;
			header_nulls = &headers_null;
		}
		if (batch && nmsgs != nheaders)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("headers array length (%d) must match msgs array length (%d)",
							nheaders, nmsgs)));
		*n = nmsgs;
		ids = MemoryContextAlloc(caller_cxt, sizeof(int64) * nmsgs);
		dedup_send(entry, nmsgs, msg_elems, msg_nulls, header_elems, header_nulls,
				   dedup_ids, vt, ids, &inserted);
	}
	else
	{
		values[0] = TimestampTzGetDatum(vt);
		values[1] = msg;
		values[2] = headers;
		if (msg_null)
			nulls[1] = 'n';
		if (headers_null)
			nulls[2] = 'n';

		*n = queue_execute(entry, batch ? QPLAN_SEND_BATCH : QPLAN_SEND, values, nulls);
		result_check_int8_column(SPI_tuptable);
		ids = MemoryContextAlloc(caller_cxt, sizeof(int64) * Max(*n, 1));
		for (uint64 i = 0; i < *n; i++)
		{
			bool		isnull;

			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
												 1, &isnull));
		}
		inserted = *n;
	}
	SPI_finish();
	/* Readable at vt once this commits: waiters are woken then. */
	queue_events_rows(queue_cache_relid(entry), (int64) inserted, vt, false);
	queue_events_count(queue_cache_relid(entry), QUEUE_SENT, (int64) inserted);
	return ids;
}

/* Send and return the new ids as the function's result set. */
static Datum
send_to_queue(FunctionCallInfo fcinfo, const char *name, QueuePlan which,
			  Datum msg, bool msg_null, Datum headers, bool headers_null,
			  TimestampTz vt)
{
	QueueCacheEntry *entry = queue_cache_lookup(name);
	uint64		n;
	int64	   *ids;

	result_begin_set(fcinfo, false);
	ids = send_messages(entry, which == QPLAN_SEND_BATCH, msg, msg_null, headers,
						headers_null, vt, &n);
	for (uint64 i = 0; i < n; i++)
		result_add_int8(fcinfo, ids[i], false);
	return (Datum) 0;
}

/*
 * One message: send(queue_name, msg [, headers] [, delay]).  headers_arg
 * and delay_arg are argument numbers, or -1 when the overload has none.
 */
static Datum
send_one(FunctionCallInfo fcinfo, int headers_arg, int delay_arg, bool delay_is_seconds)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	TimestampTz vt = arg_visible_at(fcinfo, delay_arg, delay_is_seconds, "delay");
	bool		headers_null = headers_arg < 0 || PG_ARGISNULL(headers_arg);

	return send_to_queue(fcinfo, name, QPLAN_SEND,
						 PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
						 headers_null ? (Datum) 0 : PG_GETARG_DATUM(headers_arg), headers_null,
						 vt);
}

PG_FUNCTION_INFO_V1(pgmq_c_send);
Datum
pgmq_c_send(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, -1, -1, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_delay_seconds);
Datum
pgmq_c_send_delay_seconds(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, -1, 2, true);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_delay_until);
Datum
pgmq_c_send_delay_until(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, -1, 2, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_headers);
Datum
pgmq_c_send_headers(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, 2, -1, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_headers_delay_seconds);
Datum
pgmq_c_send_headers_delay_seconds(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, 2, 3, true);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_headers_delay_until);
Datum
pgmq_c_send_headers_delay_until(PG_FUNCTION_ARGS)
{
	return send_one(fcinfo, 2, 3, false);
}

/*
 * Batches.  pgmq's rules: msgs neither NULL nor empty; a headers array, when
 * given (even empty), exactly as long as msgs.
 */
static void
check_batch(ArrayType *msgs, ArrayType *headers, bool headers_null)
{
	int			nmsgs = ArrayGetNItems(ARR_NDIM(msgs), ARR_DIMS(msgs));
	int			nheaders;

	if (nmsgs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("msgs cannot be NULL or empty")));
	if (ARR_NDIM(msgs) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("msgs must be a one-dimensional array")));
	if (headers_null)
		return;
	nheaders = ArrayGetNItems(ARR_NDIM(headers), ARR_DIMS(headers));
	if (ARR_NDIM(headers) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers must be a one-dimensional array")));
	if (nheaders != nmsgs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers array length (%d) must match msgs array length (%d)",
						nheaders, nmsgs)));
}

static void
check_msgs_not_null(bool msgs_null)
{
	if (msgs_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("msgs cannot be NULL or empty")));
}

static Datum
send_batch_checked(FunctionCallInfo fcinfo, const char *name, Datum msgs,
				   Datum headers, bool headers_null, TimestampTz vt)
{
	check_batch(DatumGetArrayTypeP(msgs),
				headers_null ? NULL : DatumGetArrayTypeP(headers), headers_null);
	return send_to_queue(fcinfo, name, QPLAN_SEND_BATCH, msgs, false,
						 headers_null ? (Datum) 0 : headers, headers_null, vt);
}

/* send_batch(queue_name, msgs [, headers] [, delay]), as send_one. */
static Datum
send_batch(FunctionCallInfo fcinfo, int headers_arg, int delay_arg, bool delay_is_seconds)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	TimestampTz vt;
	bool		headers_null = headers_arg < 0 || PG_ARGISNULL(headers_arg);

	check_msgs_not_null(PG_ARGISNULL(1));
	vt = arg_visible_at(fcinfo, delay_arg, delay_is_seconds, "delay");

	return send_batch_checked(fcinfo, name, PG_GETARG_DATUM(1),
							  headers_null ? (Datum) 0 : PG_GETARG_DATUM(headers_arg),
							  headers_null, vt);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch);
Datum
pgmq_c_send_batch(PG_FUNCTION_ARGS)
{
	return send_batch(fcinfo, -1, -1, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_delay_seconds);
Datum
pgmq_c_send_batch_delay_seconds(PG_FUNCTION_ARGS)
{
	return send_batch(fcinfo, -1, 2, true);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_delay_until);
Datum
pgmq_c_send_batch_delay_until(PG_FUNCTION_ARGS)
{
	return send_batch(fcinfo, -1, 2, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_headers);
Datum
pgmq_c_send_batch_headers(PG_FUNCTION_ARGS)
{
	return send_batch(fcinfo, 2, -1, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_headers_delay_seconds);
Datum
pgmq_c_send_batch_headers_delay_seconds(PG_FUNCTION_ARGS)
{
	return send_batch(fcinfo, 2, 3, true);
}

/* Also pgmq._send_batch(queue_name, msgs, headers, delay timestamptz). */
PG_FUNCTION_INFO_V1(pgmq_c_send_batch_headers_delay_until);
Datum
pgmq_c_send_batch_headers_delay_until(PG_FUNCTION_ARGS)
{
	return send_batch(fcinfo, 2, 3, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_validate_batch_params);

/* pgmq._validate_batch_params(msgs, headers) */
Datum
pgmq_c_validate_batch_params(PG_FUNCTION_ARGS)
{
	bool		headers_null = PG_ARGISNULL(1);

	check_msgs_not_null(PG_ARGISNULL(0));
	check_batch(PG_GETARG_ARRAYTYPE_P(0),
				headers_null ? NULL : PG_GETARG_ARRAYTYPE_P(1), headers_null);
	PG_RETURN_VOID();
}

/*
 * Calls with untyped parameters (see untyped.c).  The text overloads take
 * msg and headers as text to parse (all parameters untyped), the jsonb ones
 * as given (msg typed, say $2::jsonb, the rest untyped).  With three
 * arguments the third is headers when it is a JSON object (an array
 * literal, for a batch), a delay in seconds when it is an integer, else a
 * timestamp; NULL there means neither.  With four, the fourth is the delay.
 */
static char *
arg_cstring_or_null(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static Datum
send_untyped(FunctionCallInfo fcinfo, bool batch, bool json_typed)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	Oid			json_type = batch ? JSONBARRAYOID : JSONBOID;
	bool		msg_null;
	Datum		msg = untyped_arg_json(fcinfo, 1, json_typed, json_type, &msg_null);
	bool		headers_null = true;
	Datum		headers = (Datum) 0;
	char	   *delay = NULL;
	TimestampTz vt;

	if (batch)
		check_msgs_not_null(msg_null);
	if (PG_NARGS() == 3)
		delay = untyped_headers_or_delay(arg_cstring_or_null(fcinfo, 2),
										 batch ? "send_batch" : "send", batch,
										 &headers, &headers_null);
	else
	{
		headers = untyped_arg_json(fcinfo, 2, json_typed, json_type, &headers_null);
		arg_not_null(fcinfo, 3, "delay");
		delay = arg_cstring_or_null(fcinfo, 3);
	}
	vt = delay != NULL ? untyped_delay(delay, "delay") : GetCurrentTimestamp();

	if (batch)
		return send_batch_checked(fcinfo, name, msg, headers, headers_null, vt);
	return send_to_queue(fcinfo, name, QPLAN_SEND, msg, msg_null, headers, headers_null, vt);
}

/*
 * One entry point serves the 3- and 4-argument overload of each kind;
 * send_untyped tells them apart by PG_NARGS().
 */

/* send($1, $2, $3) and send($1, $2, $3, $4), all untyped */
PG_FUNCTION_INFO_V1(pgmq_c_send_untyped);
Datum
pgmq_c_send_untyped(PG_FUNCTION_ARGS)
{
	return send_untyped(fcinfo, false, false);
}

/* send($1, $2::jsonb, $3) and send($1, $2::jsonb, $3, $4) */
PG_FUNCTION_INFO_V1(pgmq_c_send_jsonb_untyped);
Datum
pgmq_c_send_jsonb_untyped(PG_FUNCTION_ARGS)
{
	return send_untyped(fcinfo, false, true);
}

/* send_batch($1, $2, $3) and send_batch($1, $2, $3, $4), all untyped */
PG_FUNCTION_INFO_V1(pgmq_c_send_batch_untyped);
Datum
pgmq_c_send_batch_untyped(PG_FUNCTION_ARGS)
{
	return send_untyped(fcinfo, true, false);
}

/* send_batch($1, $2::jsonb[], $3) and send_batch($1, $2::jsonb[], $3, $4) */
PG_FUNCTION_INFO_V1(pgmq_c_send_batch_jsonb_untyped);
Datum
pgmq_c_send_batch_jsonb_untyped(PG_FUNCTION_ARGS)
{
	return send_untyped(fcinfo, true, true);
}
