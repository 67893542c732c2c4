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

#include "catalog/dependency.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#if PG_VERSION_NUM < 140000
/* Before 14, string keys were the default; the flag did not exist. */
#define HASH_STRINGS 0
#endif

/* 17 renamed backend ids to proc numbers (in vxids and for ourselves). */
#if PG_VERSION_NUM >= 170000
#define VXID_BACKEND(vxid) ((vxid).procNumber)
#define MY_BACKEND_NUMBER MyProcNumber
#else
#define VXID_BACKEND(vxid) ((vxid).backendId)
#define MY_BACKEND_NUMBER MyBackendId
#endif

/* 14 split the xmin horizons by relation kind; before, one function took flags. */
#if PG_VERSION_NUM < 140000
#include "storage/procarray.h"
#define GetOldestNonRemovableTransactionId(rel) GetOldestXmin((rel), PROCARRAY_FLAGS_VACUUM)
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

/* Ownership checks became object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define database_ownercheck(dboid, roleid) object_ownercheck(DatabaseRelationId, (dboid), (roleid))
#else
#define database_ownercheck(dboid, roleid) pg_database_ownercheck((dboid), (roleid))
#endif

/* ACL checks on any object became object_aclcheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define namespace_aclcheck(nspid, roleid, mode) object_aclcheck(NamespaceRelationId, (nspid), (roleid), (mode))
#else
#define namespace_aclcheck(nspid, roleid, mode) pg_namespace_aclcheck((nspid), (roleid), (mode))
#endif

/* Infinite intervals arrived in 17. */
#ifdef INTERVAL_NOT_FINITE
#define INTERVAL_NOT_FINITE_COMPAT(i) INTERVAL_NOT_FINITE(i)
#else
#define INTERVAL_NOT_FINITE_COMPAT(i) false
#endif

#if PG_VERSION_NUM < 140000
/* Before 14 the caller said whether the current resource owner held it. */
#define ReleaseCachedPlan(plan, owner) ReleaseCachedPlan((plan), (owner) != NULL)
#endif

/*
 * The identity sequence of a column, or InvalidOid.  From 17 on,
 * getIdentitySequence takes the relation (to find a partition's root); it
 * reads only its form, so a relcache reference without a lock serves.
 */
static inline Oid
identity_sequence(Oid relid, AttrNumber attnum)
{
#if PG_VERSION_NUM >= 170000
	Relation	rel = RelationIdGetRelation(relid);
	Oid			seq;

	if (!RelationIsValid(rel))
		return InvalidOid;
	seq = getIdentitySequence(rel, attnum, true);
	RelationClose(rel);
	return seq;
#else
	return getIdentitySequence(relid, attnum, true);
#endif
}

/*
 * Shared memory is requested from shmem_request_hook since 15; before, from
 * _PG_init directly (which these versions allowed while preloading).
 */
#if PG_VERSION_NUM >= 150000
#define InstallShmemRequestHook(prev, hook) \
	((prev) = shmem_request_hook, shmem_request_hook = (hook))
#else
typedef void (*shmem_request_hook_type) (void);
#define InstallShmemRequestHook(prev, hook) ((prev) = NULL, (hook) ())
#endif

/* ProcessUtility_hook's arguments: 14 added readOnlyTree. */
#if PG_VERSION_NUM >= 140000
#define COMPAT_UTILITY_HOOK_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define COMPAT_UTILITY_HOOK_PASS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define COMPAT_UTILITY_HOOK_ARGS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define COMPAT_UTILITY_HOOK_PASS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/*
 * A database left half-dropped by an interrupted DROP DATABASE cannot be
 * connected to.  Minor releases from August 2023 on mark it; older ones
 * do not, and there the check says no.
 */
#ifdef DATCONNLIMIT_INVALID_DB
#define database_form_is_invalid(form) database_is_invalid_form(form)
#else
#define database_form_is_invalid(form) false
#endif

/*
 * EXTRACT(epoch FROM interval)::int4, as SQL computes it: from 14 EXTRACT
 * gives numeric, before it gave float8 (and the cast rounds either way).
 */
static inline Datum
interval_epoch_int4(Datum interval)
{
#if PG_VERSION_NUM >= 140000
	return DirectFunctionCall1(numeric_int4,
							   DirectFunctionCall2(extract_interval, CStringGetTextDatum("epoch"),
												   interval));
#else
	return DirectFunctionCall1(dtoi4,
							   DirectFunctionCall2(interval_part, CStringGetTextDatum("epoch"),
												   interval));
#endif
}

#endif							/* PGMQ_C_COMPAT_H */
