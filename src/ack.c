/*-------------------------------------------------------------------------
 *
 * ack.c
 *		Acknowledging messages and changing their visibility: pgmq.delete,
 *		pgmq.archive and pgmq.set_vt, each for one id or an array of ids.
 *
 * All of them act by id regardless of vt.  A NULL id (or array) matches no
 * message, as it does in pgmq.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

/*
 * Deleted or archived (by plan `which`): gone at commit, readable again if
 * this aborts; counted.
 */
static void
ack_events(QueueCacheEntry *entry, QueuePlan which, uint64 n)
{
	bool		archived = which == QPLAN_ARCHIVE || which == QPLAN_ARCHIVE_BATCH;

	queue_events_rows(queue_cache_relid(entry), (int64) n, 0, true);
	queue_events_count(queue_cache_relid(entry), archived ? QUEUE_ARCHIVED : QUEUE_DELETED,
					   (int64) n);
}

/* delete/archive of one id: true when the message existed. */
static Datum
ack_one(FunctionCallInfo fcinfo, QueuePlan which)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	Datum		id;
	uint64		n;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	id = PG_GETARG_DATUM(1);
	SPI_connect();
	n = queue_execute(entry, which, &id, NULL);
	SPI_finish();
	ack_events(entry, which, n);
	PG_RETURN_BOOL(n > 0);
}

/* delete/archive of an array of ids: the ids that existed. */
static Datum
ack_many(FunctionCallInfo fcinfo, QueuePlan which, Datum ids, bool ids_null)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	uint64		n;

	result_begin_set(fcinfo, false);
	if (ids_null)
		return (Datum) 0;
	SPI_connect();
	n = queue_execute(entry, which, &ids, NULL);
	result_add_int8_column(fcinfo, SPI_tuptable, n);
	SPI_finish();
	ack_events(entry, which, n);
	return (Datum) 0;
}

/*
 * Untyped delete/archive: an array literal acts like the array form; a
 * single id gives exactly one row, the id when it existed, else NULL, so
 * that callers expecting one boolean-like value still get one row.
 */
static Datum
ack_untyped(FunctionCallInfo fcinfo, QueuePlan one, QueuePlan many)
{
	char	   *value;
	Datum		id;
	QueueCacheEntry *entry;
	uint64		n;

	if (PG_ARGISNULL(1))
	{
		(void) queue_cache_lookup(queue_name_from_arg(fcinfo, 0));
		result_begin_set(fcinfo, false);
		result_add_int8(fcinfo, 0, true);
		return (Datum) 0;
	}
	value = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (untyped_is_array_or_object(value))
		return ack_many(fcinfo, many, untyped_parse(value, INT8ARRAYOID), false);

	id = untyped_parse(value, INT8OID);
	entry = queue_cache_lookup(queue_name_from_arg(fcinfo, 0));
	result_begin_set(fcinfo, false);
	SPI_connect();
	n = queue_execute(entry, one, &id, NULL);
	result_add_int8(fcinfo, DatumGetInt64(id), n == 0);
	SPI_finish();
	ack_events(entry, one, n);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_delete);
Datum
pgmq_c_delete(PG_FUNCTION_ARGS)
{
	return ack_one(fcinfo, QPLAN_DELETE);
}

PG_FUNCTION_INFO_V1(pgmq_c_delete_batch);
Datum
pgmq_c_delete_batch(PG_FUNCTION_ARGS)
{
	return ack_many(fcinfo, QPLAN_DELETE_BATCH, PG_GETARG_DATUM(1), PG_ARGISNULL(1));
}

PG_FUNCTION_INFO_V1(pgmq_c_delete_untyped);
Datum
pgmq_c_delete_untyped(PG_FUNCTION_ARGS)
{
	return ack_untyped(fcinfo, QPLAN_DELETE, QPLAN_DELETE_BATCH);
}

/* archive moves the row to a_<name> with archived_at = now(). */
PG_FUNCTION_INFO_V1(pgmq_c_archive);
Datum
pgmq_c_archive(PG_FUNCTION_ARGS)
{
	return ack_one(fcinfo, QPLAN_ARCHIVE);
}

PG_FUNCTION_INFO_V1(pgmq_c_archive_batch);
Datum
pgmq_c_archive_batch(PG_FUNCTION_ARGS)
{
	return ack_many(fcinfo, QPLAN_ARCHIVE_BATCH, PG_GETARG_DATUM(1), PG_ARGISNULL(1));
}

PG_FUNCTION_INFO_V1(pgmq_c_archive_untyped);
Datum
pgmq_c_archive_untyped(PG_FUNCTION_ARGS)
{
	return ack_untyped(fcinfo, QPLAN_ARCHIVE, QPLAN_ARCHIVE_BATCH);
}

/*
 * set_vt: only vt changes; the updated rows come back.  vt is computed here
 * (seconds from now, or the timestamp given) before the queue is touched.
 */
static Datum
set_vt(FunctionCallInfo fcinfo, bool many, Datum ids, bool ids_null, TimestampTz vt)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	Datum		values[2];
	uint64		n;

	result_begin_set(fcinfo, true);
	if (ids_null)
		return (Datum) 0;
	values[0] = TimestampTzGetDatum(vt);
	values[1] = ids;
	SPI_connect();
	n = queue_execute(entry, many ? QPLAN_SET_VT_BATCH : QPLAN_SET_VT, values, NULL);
	result_add_tuples(fcinfo, SPI_tuptable, n);
	SPI_finish();
	/* Readable at the new vt; as before if this aborts. */
	queue_events_rows(queue_cache_relid(entry), (int64) n, vt, true);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_set_vt_seconds);
Datum
pgmq_c_set_vt_seconds(PG_FUNCTION_ARGS)
{
	TimestampTz vt = arg_visible_at(fcinfo, 2, true, "vt");

	return set_vt(fcinfo, false, PG_GETARG_DATUM(1), PG_ARGISNULL(1), vt);
}

PG_FUNCTION_INFO_V1(pgmq_c_set_vt_until);
Datum
pgmq_c_set_vt_until(PG_FUNCTION_ARGS)
{
	return set_vt(fcinfo, false, PG_GETARG_DATUM(1), PG_ARGISNULL(1), arg_visible_at(fcinfo, 2, false, "vt"));
}

PG_FUNCTION_INFO_V1(pgmq_c_set_vt_batch_seconds);
Datum
pgmq_c_set_vt_batch_seconds(PG_FUNCTION_ARGS)
{
	TimestampTz vt = arg_visible_at(fcinfo, 2, true, "vt");

	return set_vt(fcinfo, true, PG_GETARG_DATUM(1), PG_ARGISNULL(1), vt);
}

PG_FUNCTION_INFO_V1(pgmq_c_set_vt_batch_until);
Datum
pgmq_c_set_vt_batch_until(PG_FUNCTION_ARGS)
{
	return set_vt(fcinfo, true, PG_GETARG_DATUM(1), PG_ARGISNULL(1), arg_visible_at(fcinfo, 2, false, "vt"));
}

/* The untyped vt of set_vt: seconds from now, or a timestamp. */
static TimestampTz
arg_untyped_vt(FunctionCallInfo fcinfo, int argno)
{
	arg_not_null(fcinfo, argno, "vt");
	return untyped_delay(text_to_cstring(PG_GETARG_TEXT_PP(argno)), "vt");
}

/* set_vt with an untyped id or id array and vt worked out. */
static Datum
set_vt_untyped_ids(FunctionCallInfo fcinfo, TimestampTz vt)
{
	char	   *ids;
	bool		many;

	if (PG_ARGISNULL(1))
		return set_vt(fcinfo, false, (Datum) 0, true, vt);
	ids = text_to_cstring(PG_GETARG_TEXT_PP(1));
	many = untyped_is_array_or_object(ids);
	return set_vt(fcinfo, many, untyped_parse(ids, many ? INT8ARRAYOID : INT8OID), false, vt);
}

/* set_vt($1, $2, $3), all untyped: id or id array; seconds or timestamp. */
PG_FUNCTION_INFO_V1(pgmq_c_set_vt_untyped);
Datum
pgmq_c_set_vt_untyped(PG_FUNCTION_ARGS)
{
	return set_vt_untyped_ids(fcinfo, arg_untyped_vt(fcinfo, 2));
}

/* set_vt($1, $2, $3::integer) and set_vt($1, $2, $3::timestamptz) */
PG_FUNCTION_INFO_V1(pgmq_c_set_vt_untyped_ids_seconds);
Datum
pgmq_c_set_vt_untyped_ids_seconds(PG_FUNCTION_ARGS)
{
	return set_vt_untyped_ids(fcinfo, arg_visible_at(fcinfo, 2, true, "vt"));
}

PG_FUNCTION_INFO_V1(pgmq_c_set_vt_untyped_ids_until);
Datum
pgmq_c_set_vt_untyped_ids_until(PG_FUNCTION_ARGS)
{
	return set_vt_untyped_ids(fcinfo, arg_visible_at(fcinfo, 2, false, "vt"));
}

/* set_vt($1, $2::bigint, $3) and set_vt($1, $2::bigint[], $3) */
PG_FUNCTION_INFO_V1(pgmq_c_set_vt_id_untyped_vt);
Datum
pgmq_c_set_vt_id_untyped_vt(PG_FUNCTION_ARGS)
{
	return set_vt(fcinfo, false, PG_GETARG_DATUM(1), PG_ARGISNULL(1), arg_untyped_vt(fcinfo, 2));
}

PG_FUNCTION_INFO_V1(pgmq_c_set_vt_ids_untyped_vt);
Datum
pgmq_c_set_vt_ids_untyped_vt(PG_FUNCTION_ARGS)
{
	return set_vt(fcinfo, true, PG_GETARG_DATUM(1), PG_ARGISNULL(1), arg_untyped_vt(fcinfo, 2));
}
