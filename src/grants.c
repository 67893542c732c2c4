/*-------------------------------------------------------------------------
 *
 * grants.c
 *		pgmq.grant_queue and pgmq.revoke_queue: the exact grants a producer
 *		or a consumer of one queue needs, so nobody has to learn the tables.
 *
 * Every function runs with its caller's rights, so what a role may do with
 * a queue is what its grants on the queue's relations allow (README,
 * "Security notes").  The access levels:
 *
 *	send	 INSERT on the queue table and SELECT on its msg_id column
 *			 (send returns the ids it drew), and SELECT on
 *			 pgmq.topic_bindings for topic sends;
 *	consume	 SELECT, UPDATE, DELETE on the queue table (read, pop, set_vt,
 *			 delete), INSERT and SELECT (msg_id) on the archive (archive,
 *			 and dead letters kept there), and INSERT on the dead-letter
 *			 queue the queue's policy names (a read moves exhausted
 *			 messages there);
 *	all		 both, and SELECT on the msg_id sequence (metrics).
 *
 * Each also needs USAGE on schema pgmq.  A producer can see the ids but
 * never a message body.  Grants on a partitioned queue's parent tables are
 * enough: Postgres checks only the table named in the statement.
 *
 * The caller must have the rights of the queue table's owner.  USAGE on
 * the schema and SELECT on pgmq.topic_bindings belong to the extension's
 * owner: they are granted when the role lacks them and the caller may
 * grant them; a missing schema USAGE it may not grant is an error (nothing
 * would work), a missing topic_bindings SELECT a notice (only topic sends
 * need it).  revoke_queue revokes what grant_queue granted on the queue's
 * own relations; it leaves the schema, pgmq.topic_bindings and the
 * dead-letter queue alone, as other queues' grants may need them.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#define ACCESS_SEND		0x01
#define ACCESS_CONSUME	0x02
#define ACCESS_ALL		(ACCESS_SEND | ACCESS_CONSUME)

static int
parse_access(FunctionCallInfo fcinfo, int argno)
{
	char	   *access;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("access cannot be NULL")));
	access = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (pg_strcasecmp(access, "send") == 0)
		return ACCESS_SEND;
	if (pg_strcasecmp(access, "consume") == 0)
		return ACCESS_CONSUME;
	if (pg_strcasecmp(access, "all") == 0)
		return ACCESS_ALL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("access must be send, consume or all, not \"%s\"", shown_input(access))));
	return 0;					/* keep the compiler quiet */
}

static char *
role_from_arg(FunctionCallInfo fcinfo, int argno, Oid *roleid)
{
	char	   *role;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role cannot be NULL")));
	role = pstrdup(NameStr(*PG_GETARG_NAME(argno)));
	*roleid = get_role_oid(role, false);
	return role;
}

/* The queue's table, which the caller must own (or have its owner's rights). */
static Oid
owned_queue_table(const char *name)
{
	Oid			relid = queue_relation_oid(name, "q");
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		queue_report_missing(name);
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of queue \"%s\" to change who may use it", name),
				 errdetail("Its table %s is owned by role \"%s\".",
						   admin_relation_sql_name(relid), GetUserNameFromId(owner, false))));
	return relid;
}

static void
run_grant(const char *sql)
{
	result_run_sql(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
}

/* USAGE on schema pgmq for the role, unless it has it; an error if we may not give it. */
static void
grant_schema_usage(Oid roleid, const char *role, const char *queue)
{
	Oid			nspid = get_namespace_oid("pgmq", false);

	if (namespace_aclcheck(nspid, roleid, ACL_USAGE) == ACLCHECK_OK)
		return;
	if (namespace_aclcheck(nspid, GetUserId(), ACL_GRANT_OPTION_FOR(ACL_USAGE)) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" has no USAGE on schema pgmq, which queue \"%s\" needs, and you may not grant it",
						role, queue),
				 errhint("Ask the owner of schema pgmq (or a superuser) to GRANT USAGE ON SCHEMA pgmq TO %s.",
						 quote_identifier(role))));
	run_grant(psprintf("GRANT USAGE ON SCHEMA pgmq TO %s", quote_identifier(role)));
}

/* SELECT on pgmq.topic_bindings, for topic sends, when the role lacks it. */
static void
grant_topic_bindings(Oid roleid, const char *role)
{
	Oid			relid = get_relname_relid("topic_bindings", get_namespace_oid("pgmq", false));

	if (!OidIsValid(relid) ||
		pg_class_aclcheck(relid, roleid, ACL_SELECT) == ACLCHECK_OK)
		return;
	if (pg_class_aclcheck(relid, GetUserId(), ACL_GRANT_OPTION_FOR(ACL_SELECT)) != ACLCHECK_OK)
	{
		ereport(NOTICE,
				(errmsg("role \"%s\" can send, but not to topics: that needs SELECT on pgmq.topic_bindings, which you may not grant",
						role)));
		return;
	}
	run_grant(psprintf("GRANT SELECT ON pgmq.topic_bindings TO %s", quote_identifier(role)));
}

/*
 * The grants (or revokes) on the queue's own relations; with `grant`, also
 * the dead-letter queue's.  Names are quoted; the statements run as the
 * caller.
 */
static void
change_queue_privileges(const char *queue, Oid qrel, int access, Oid roleid, const char *role,
						bool grant)
{
	const char *verb = grant ? "GRANT" : "REVOKE";
	const char *prep = grant ? "TO" : "FROM";
	const char *who = quote_identifier(role);
	Oid			arel = queue_relation_oid(queue, "a");

	if (access & ACCESS_SEND)
		run_grant(psprintf("%s INSERT, SELECT (msg_id) ON TABLE %s %s %s", verb,
						   admin_relation_sql_name(qrel), prep, who));
	if (access & ACCESS_CONSUME)
	{
		int32		max_receives = 0;
		char	   *dead_letter_queue = NULL;

		run_grant(psprintf("%s SELECT, UPDATE, DELETE ON TABLE %s %s %s", verb,
						   admin_relation_sql_name(qrel), prep, who));
		if (OidIsValid(arel))
			run_grant(psprintf("%s INSERT, SELECT (msg_id) ON TABLE %s %s %s", verb,
							   admin_relation_sql_name(arel), prep, who));
		policy_dead_letter(queue, &max_receives, &dead_letter_queue);
		if (grant && max_receives > 0 && dead_letter_queue != NULL)
		{
			Oid			dead = queue_relation_oid(dead_letter_queue, "q");

			if (OidIsValid(dead))
				run_grant(psprintf("GRANT INSERT ON TABLE %s TO %s",
								   admin_relation_sql_name(dead), who));
		}
	}
	/*
	 * Revoking SELECT on a table revokes it on every column too: a producer
	 * keeps its SELECT (msg_id).
	 */
	if (!grant && access == ACCESS_CONSUME &&
		pg_class_aclcheck(qrel, roleid, ACL_INSERT) == ACLCHECK_OK)
		run_grant(psprintf("GRANT SELECT (msg_id) ON TABLE %s TO %s",
						   admin_relation_sql_name(qrel), who));
	if (access == ACCESS_ALL)
	{
		Oid			seq = queue_identity_sequence(qrel);

		if (OidIsValid(seq))
			run_grant(psprintf("%s SELECT ON SEQUENCE %s %s %s", verb,
							   admin_relation_sql_name(seq), prep, who));
	}
}

static void
grant_or_revoke(FunctionCallInfo fcinfo, bool grant)
{
	char	   *queue = queue_name_from_arg(fcinfo, 0);
	Oid			roleid;
	char	   *role = role_from_arg(fcinfo, 1, &roleid);
	int			access = parse_access(fcinfo, 2);
	Oid			qrel;

	SPI_connect();
	qrel = owned_queue_table(queue);
	if (grant)
	{
		grant_schema_usage(roleid, role, queue);
		if (access & ACCESS_SEND)
			grant_topic_bindings(roleid, role);
	}
	change_queue_privileges(queue, qrel, access, roleid, role, grant);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(pgmq_c_grant_queue);

/* pgmq.grant_queue(queue_name, role, access): see the header. */
Datum
pgmq_c_grant_queue(PG_FUNCTION_ARGS)
{
	grant_or_revoke(fcinfo, true);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgmq_c_revoke_queue);

/* pgmq.revoke_queue(queue_name, role, access): see the header. */
Datum
pgmq_c_revoke_queue(PG_FUNCTION_ARGS)
{
	grant_or_revoke(fcinfo, false);
	PG_RETURN_VOID();
}
