/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		pgmq.metrics(queue_name): one queue's depth, ages and message count.
 *
 * pgmq.metrics_all() is plain SQL over pgmq.meta calling this.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pgmq_c_metrics);

/*
 * The plan returns (queue_length, newest_msg_age_sec, oldest_msg_age_sec,
 * total_messages, scrape_time, queue_visible_length); the result adds the
 * name first and default_partition_length (NULL unless the queue is
 * partitioned and has a default partition) last.
 */
Datum
pgmq_c_metrics(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	Oid			sequence = queue_cache_sequence(entry);
	MemoryContext caller_context = CurrentMemoryContext;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8];
	Datum		sequence_arg = ObjectIdGetDatum(sequence);
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "metrics must return a row type");

	SPI_connect();
	/* No identity sequence (altered by hand): total_messages is NULL. */
	if (queue_execute(entry, QPLAN_METRICS, &sequence_arg, OidIsValid(sequence) ? " " : "n") != 1)
		elog(ERROR, "metrics query returned no row");
	result_check_columns(SPI_tuptable->tupdesc, tupdesc, 1, 6,
						 "The queue's statistics no longer have the types of pgmq's metrics_result.");

	values[0] = CStringGetTextDatum(name);
	nulls[0] = false;
	for (int i = 1; i <= 6; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i, &nulls[i]);
	/* Rows in the default partition of a partitioned queue, else NULL. */
	values[7] = Int64GetDatum(partitions_default_length(queue_cache_relid(entry), &nulls[7]));

	/*
	 * heap_form_tuple copies the values (by-reference ones too, as int8 and
	 * timestamptz are on 32-bit builds) out of SPI memory before SPI_finish.
	 */
	MemoryContextSwitchTo(caller_context);
	result = heap_form_tuple(tupdesc, values, nulls);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}
