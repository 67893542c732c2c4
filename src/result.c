/*-------------------------------------------------------------------------
 *
 * result.c
 *		Running a cached plan and handing its rows back as the result of a
 *		set-returning function.
 *
 * Every set-returning function here materialises its result: the rows come
 * from one SPI execution, which must finish before the function returns.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

/*
 * Prepare fcinfo to return a set.  `records` says whether rows are of a
 * composite type (message_record) or a single scalar column (bigint).
 */
void
result_begin_set(FunctionCallInfo fcinfo, bool records)
{
	InitMaterializedSRF(fcinfo, records ? 0 : MAT_SRF_USE_EXPECTED_DESC);
}

/* Execute a kept plan (read-write, fresh snapshot); the number of rows. */
uint64
result_execute(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Run SQL text with parameters through SPI (read-write); an unexpected
 * result code is a bug, not a user error.  For the statements that are not
 * hot paths: DDL, policies, redrive.
 */
void
result_run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values, const char *nulls,
			   int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "unexpected result %s from \"%s\"", SPI_result_code_string(rc), sql);
}

/*
 * Columns of a query result are copied into a function result as they are,
 * which is only sound while they have the declared types: the query must
 * have `ncolumns` columns, of the types `declared` has from column `first`
 * on.  Someone may have altered a queue table; say so instead.
 */
void
result_check_columns(TupleDesc actual, TupleDesc declared, int first, int ncolumns,
					 const char *detail)
{
	bool		match = actual->natts == ncolumns && first + ncolumns <= declared->natts;

	for (int i = 0; match && i < ncolumns; i++)
		match = TupleDescAttr(actual, i)->atttypid == TupleDescAttr(declared, first + i)->atttypid;
	if (!match)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("structure of query does not match function result type"),
				 errdetail_internal("%s", detail),
				 errhint("Restore the queue table's layout, or recreate the queue.")));
}

/* Append the rows of an SPI result whose columns match the declared row type. */
void
result_add_tuples(FunctionCallInfo fcinfo, SPITupleTable *tuptable, uint64 ntuples)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	result_check_columns(tuptable->tupdesc, rsinfo->setDesc, 0, rsinfo->setDesc->natts,
						 "The queue table's columns no longer have the types of pgmq's message_record.");
	for (uint64 i = 0; i < ntuples; i++)
		tuplestore_puttuple(rsinfo->setResult, tuptable->vals[i]);
}

/* Append one bigint row. */
void
result_add_int8(FunctionCallInfo fcinfo, int64 value, bool isnull)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		datum = Int64GetDatum(value);

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &datum, &isnull);
}

/* Is the first column of an SPI result a bigint (a msg_id)?  Error if not. */
void
result_check_int8_column(SPITupleTable *tuptable)
{
	if (SPI_gettypeid(tuptable->tupdesc, 1) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("structure of query does not match function result type"),
				 errdetail("The queue table's msg_id column is no longer of type bigint."),
				 errhint("Restore the queue table's layout, or recreate the queue.")));
}

/* Append the first column (a bigint) of each row of an SPI result. */
void
result_add_int8_column(FunctionCallInfo fcinfo, SPITupleTable *tuptable, uint64 ntuples)
{
	result_check_int8_column(tuptable);
	for (uint64 i = 0; i < ntuples; i++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 1, &isnull);

		result_add_int8(fcinfo, isnull ? 0 : DatumGetInt64(id), isnull);
	}
}
