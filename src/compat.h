/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Shims for the PostgreSQL versions pgmq_c builds on (13 to 17).
 *
 * Every PG_VERSION_NUM test in the project lives here, so the rest of the
 * code is written against the newest API.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGMQ_C_COMPAT_H
#define PGMQ_C_COMPAT_H

#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

#include "catalog/pg_type.h"
#include "utils/hsearch.h"

#if PG_VERSION_NUM < 140000
/* Before 14, string keys were the default; the flag did not exist. */
#define HASH_STRINGS 0
#endif

#ifndef JSONBARRAYOID
#define JSONBARRAYOID 3807
#endif

#if PG_VERSION_NUM < 150000

/*
 * InitMaterializedSRF arrived in 15; before that every SRF set up its
 * tuplestore by hand.  This is the same contract, for the flags we use.
 */
#define MAT_SRF_USE_EXPECTED_DESC	0x01
#define MAT_SRF_BLESS				0x02

static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	per_query = rsinfo->econtext->ecxt_per_query_memory;
	oldcontext = MemoryContextSwitchTo(per_query);
	if (flags & MAT_SRF_USE_EXPECTED_DESC)
	{
		if (rsinfo->expectedDesc == NULL)
			elog(ERROR, "expected tuple descriptor is missing");
		tupdesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	}
	else if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (flags & MAT_SRF_BLESS)
		BlessTupleDesc(tupdesc);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(false, false, work_mem);
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcontext);
}

#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)

#endif							/* PG_VERSION_NUM < 150000 */

#endif							/* PGMQ_C_COMPAT_H */
