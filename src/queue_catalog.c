/*-------------------------------------------------------------------------
 *
 * queue_catalog.c
 *		What the system catalog says about a queue's relations: which table
 *		a name maps to, its identity sequence, its indexes, and whether an
 *		existing table is one pgmq.create may take as the queue's.
 *
 * Objects derived from a queue are found here, never by building their
 * names: Postgres picks another name for a sequence or index when the
 * obvious one is taken (q_k_msg_id_seq1), and truncates long ones.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/*
 * The relation pgmq.<prefix>_<lower(name)>, or InvalidOid if there is none.
 *
 * A derived name longer than NAMEDATALEN - 1 bytes names no relation, and
 * must not reach the catalog: the syscache would hash the whole string but
 * store a truncated key, so each such lookup would leave a negative cache
 * entry that never matches again, and a session could be made to grow its
 * cache without bound.
 */
Oid
queue_relation_oid(const char *name, const char *prefix)
{
	char	   *relname = queue_table_name(name, prefix);
	Oid			nsp;

	if (strlen(relname) >= NAMEDATALEN)
		return InvalidOid;
	nsp = get_namespace_oid(PGMQ_SCHEMA, true);
	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid(relname, nsp);
}

/* The identity sequence of the table's msg_id, or InvalidOid if none. */
Oid
queue_identity_sequence(Oid relid)
{
	AttrNumber	attnum = get_attnum(relid, "msg_id");

	if (attnum == InvalidAttrNumber)
		return InvalidOid;
	return identity_sequence(relid, attnum);
}

/* Whether the table has an index whose first key column is `column`. */
bool
queue_has_index_on(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;
	bool		found = false;

	if (attnum == InvalidAttrNumber)
		return false;
	rel = relation_open(relid, AccessShareLock);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			continue;
		index = (Form_pg_index) GETSTRUCT(tuple);
		found = index->indnkeyatts > 0 && index->indkey.values[0] == attnum;
		ReleaseSysCache(tuple);
		if (found)
			break;
	}
	list_free(indexes);
	relation_close(rel, NoLock);
	return found;
}

static const char *
relkind_description(char relkind)
{
	switch (relkind)
	{
		case RELKIND_RELATION:
			return "a table";
		case RELKIND_PARTITIONED_TABLE:
			return "a partitioned table";
		case RELKIND_VIEW:
			return "a view";
		case RELKIND_MATVIEW:
			return "a materialized view";
		case RELKIND_SEQUENCE:
			return "a sequence";
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			return "an index";
		case RELKIND_FOREIGN_TABLE:
			return "a foreign table";
		case RELKIND_COMPOSITE_TYPE:
			return "a composite type";
		default:
			return "another kind of relation";
	}
}

/*
 * Refuse to take over an existing relation as a queue's `what` ("queue
 * table", "archive table") unless it is an ordinary table owned by the
 * role running create, with exactly the columns of `layout`.  Anything
 * else could carry a trigger or rule planted by another role, which would
 * then run as whoever sends to the queue.
 */
void
queue_check_adoptable(Oid relid, const char *what, const QueueColumn *layout, int ncolumns)
{
	queue_check_adoptable_kind(relid, what, layout, ncolumns, RELKIND_RELATION);
}

/*
 * The same, for a relation that must be of kind `relkind`: a partitioned
 * queue adopts only a partitioned table (its partition key is checked by
 * partitions.c).
 */
void
queue_check_adoptable_kind(Oid relid, const char *what, const QueueColumn *layout, int ncolumns,
						   char relkind)
{
	char	   *relname = quote_qualified_identifier(PGMQ_SCHEMA, get_rel_name(relid));
	Relation	rel;
	TupleDesc	desc;
	int			column = 0;
	Oid			owner;

	if (get_rel_relkind(relid) != relkind)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists and is not a %s", relname, what),
				 errdetail("It is %s.", relkind_description(get_rel_relkind(relid))),
				 errhint("Drop or rename it, or choose another queue name.")));

	rel = relation_open(relid, AccessShareLock);
	owner = rel->rd_rel->relowner;
	if (owner != GetUserId())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" already exists and is owned by role \"%s\"",
						relname, GetUserNameFromId(owner, false)),
				 errdetail("pgmq.create takes over an existing table only when the role running it owns that table."),
				 errhint("Drop the table, or run pgmq.create as role \"%s\" after checking the table's triggers and rules.",
						 GetUserNameFromId(owner, false))));

	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (column >= ncolumns)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("table \"%s\" already exists and is not a %s", relname, what),
					 errdetail("It has a column \"%s\" beyond the %d a %s has.",
							   NameStr(att->attname), ncolumns, what)));
		if (strcmp(NameStr(att->attname), layout[column].name) != 0 ||
			att->atttypid != layout[column].type ||
			(layout[column].identity && att->attidentity == '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("table \"%s\" already exists and is not a %s", relname, what),
					 errdetail("Column %d is \"%s\" of type %s%s; a %s has \"%s\" of type %s%s.",
							   column + 1, NameStr(att->attname), format_type_be(att->atttypid),
							   att->attidentity ? " (identity)" : "",
							   what, layout[column].name, format_type_be(layout[column].type),
							   layout[column].identity ? " (identity)" : "")));
		column++;
	}
	if (column < ncolumns)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("table \"%s\" already exists and is not a %s", relname, what),
				 errdetail("It has no column \"%s\".", layout[column].name)));
	relation_close(rel, NoLock);
}

/*
 * Become the owner of relation `relid`, in a security-restricted operation,
 * as VACUUM does to work on a table; *save_userid and *save_sec_context
 * are what SetUserIdAndSecContext() restores.  The background worker runs
 * as a superuser, and the triggers a user put on a queue table must not
 * run as one when maintenance changes its rows.
 */
void
queue_become_owner(Oid relid, Oid *save_userid, int *save_sec_context)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * Has queue table relid the index create_fifo_index makes, valid and ready?
 * It is known by its name, q_<name>_group_idx.
 */
bool
queue_has_group_index(Oid relid, const char *name)
{
	char	   *index_name = psprintf("%s" FIFO_INDEX_SUFFIX, queue_table_name(name, "q"));
	Oid			index = get_relname_relid(index_name, get_rel_namespace(relid));
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(index))
		return false;
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_index form = (Form_pg_index) GETSTRUCT(tuple);

		found = form->indrelid == relid && form->indisvalid && form->indisready;
		ReleaseSysCache(tuple);
	}
	return found;
}
