/*-------------------------------------------------------------------------
 *
 * admin.c
 *		Queue management: create, create_unlogged, drop_queue, purge_queue
 *		and the deprecated no-ops pgmq keeps for old callers.
 *
 * These run rarely, so they build their DDL as text (every name quoted) and
 * run it through SPI.  Each holds the queue's advisory lock, as pgmq does, so
 * concurrent create/drop of one queue serialise.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

static void
run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values, int expected)
{
	result_run_sql(sql, nargs, argtypes, values, NULL, expected);
}

/* "schema.name" of a relation, quoted, as the catalog has it now. */
static char *
relation_sql_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
}

/*
 * Another queue whose name differs only in case would share our tables
 * (both map to q_<lower(name)>); pgmq lets that happen and the two then
 * corrupt each other's bookkeeping.  We refuse.
 */
static void
check_no_case_twin(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	run_sql("SELECT queue_name FROM pgmq.meta"
			" WHERE pg_catalog.lower(queue_name) OPERATOR(pg_catalog.=) pg_catalog.lower($1)"
			" AND queue_name OPERATOR(pg_catalog.<>) $1 LIMIT 1",
			1, argtypes, values, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("queue name \"%s\" conflicts with existing queue \"%s\"",
						name, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("Both names map to table pgmq.%s.", queue_table_name(name, "q"))));
}

/*
 * Table layouts are API (pgmq-api.md, "Tables").  Each DDL text has a
 * QueueColumn list beside it, which is what an existing table must match
 * before create takes it over; %s is UNLOGGED or empty, then the name.
 */
static const char *const queue_table_ddl =
"CREATE %sTABLE pgmq.%s ("
" msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,"
" read_ct integer NOT NULL DEFAULT 0,"
" enqueued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
" last_read_at pg_catalog.timestamptz,"
" vt pg_catalog.timestamptz NOT NULL,"
" message pg_catalog.jsonb,"
" headers pg_catalog.jsonb)";

static const QueueColumn queue_table_layout[] = {
	{"msg_id", INT8OID, true},
	{"read_ct", INT4OID},
	{"enqueued_at", TIMESTAMPTZOID},
	{"last_read_at", TIMESTAMPTZOID},
	{"vt", TIMESTAMPTZOID},
	{"message", JSONBOID},
	{"headers", JSONBOID},
};

static const char *const archive_table_ddl =
"CREATE %sTABLE pgmq.%s ("
" msg_id bigint PRIMARY KEY,"
" read_ct integer NOT NULL DEFAULT 0,"
" enqueued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
" last_read_at pg_catalog.timestamptz,"
" archived_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
" vt pg_catalog.timestamptz NOT NULL,"
" message pg_catalog.jsonb,"
" headers pg_catalog.jsonb)";

static const QueueColumn archive_table_layout[] = {
	{"msg_id", INT8OID},
	{"read_ct", INT4OID},
	{"enqueued_at", TIMESTAMPTZOID},
	{"last_read_at", TIMESTAMPTZOID},
	{"archived_at", TIMESTAMPTZOID},
	{"vt", TIMESTAMPTZOID},
	{"message", JSONBOID},
	{"headers", JSONBOID},
};

/*
 * The queue's table pgmq.<prefix>_<lower(name)>: the existing one if it may
 * be adopted (an error if not), else a new one.
 */
static Oid
queue_table(const char *name, const char *prefix, const char *what, const char *ddl,
			const QueueColumn *layout, int ncolumns, bool unlogged)
{
	Oid			relid = queue_relation_oid(name, prefix);

	if (OidIsValid(relid))
	{
		queue_check_adoptable(relid, what, layout, ncolumns);
		return relid;
	}
	run_sql(psprintf(ddl, unlogged ? "UNLOGGED " : "",
					 quote_identifier(queue_table_name(name, prefix))),
			0, NULL, NULL, SPI_OK_UTILITY);
	relid = queue_relation_oid(name, prefix);

	/*
	 * Since PostgreSQL 15 an unlogged table's identity sequence is unlogged
	 * too, so after a crash msg_ids would start again at 1 and collide with
	 * ids already in the (logged) archive: an unlogged queue gets a logged
	 * sequence, which keeps ids unique for the life of the queue.
	 */
#if PG_VERSION_NUM >= 150000
	if (unlogged && layout[0].identity)
		run_sql(psprintf("ALTER SEQUENCE %s SET LOGGED",
						 relation_sql_name(queue_identity_sequence(relid))),
				0, NULL, NULL, SPI_OK_UTILITY);
#endif
	return relid;
}

/*
 * An index on the table's `column` unless it has one.  It is named
 * `preferred` when that name is free (pgmq's names, which scripts may
 * know), else Postgres picks a free one.
 */
static void
ensure_index(Oid relid, const char *column, const char *preferred)
{
	const char *name = "";

	if (queue_has_index_on(relid, column))
		return;
	if (preferred != NULL && strlen(preferred) < NAMEDATALEN &&
		!OidIsValid(get_relname_relid(preferred, get_rel_namespace(relid))))
		name = quote_identifier(preferred);
	run_sql(psprintf("CREATE INDEX %s ON %s (%s)", name, relation_sql_name(relid),
					 quote_identifier(column)),
			0, NULL, NULL, SPI_OK_UTILITY);
}

/* Whether pgmq.meta has a row for exactly this name. */
static bool
queue_registered(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	run_sql("SELECT 1 FROM pgmq.meta WHERE queue_name OPERATOR(pg_catalog.=) $1",
			1, argtypes, values, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * Create the queue's tables, indexes and pgmq.meta row; what already exists
 * is kept, so a second call changes nothing.
 *
 * A queue that is registered in pgmq.meta with both its tables is left as
 * it is, whoever calls: create made it.  Otherwise create would take over
 * whatever already exists, and takes only what the calling role owns and
 * has the layout of a queue (queue_check_adoptable).
 */
static void
create_queue(const char *name, bool unlogged)
{
	Oid			argtypes[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {CStringGetTextDatum(name), BoolGetDatum(unlogged)};
	bool		registered;
	Oid			qrel;
	Oid			arel;

	registered = admin_begin_create(name, &qrel, &arel);
	if (!registered || !OidIsValid(qrel) || !OidIsValid(arel))
	{
		qrel = queue_table(name, "q", "queue table", queue_table_ddl, queue_table_layout,
						   lengthof(queue_table_layout), unlogged);
		arel = queue_table(name, "a", "archive table", archive_table_ddl, archive_table_layout,
						   lengthof(archive_table_layout), false);
	}
	ensure_index(qrel, "vt", psprintf("%s_vt_idx", queue_table_name(name, "q")));
	ensure_index(arel, "archived_at", psprintf("archived_at_idx_%s", name));

	/*
	 * Only a repeat of this very name is "already there"; a case twin that
	 * check_no_case_twin could not see (committed after a REPEATABLE READ
	 * snapshot) violates meta's unique index on lower(queue_name) instead.
	 */
	if (!registered)
		run_sql("INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)"
				" VALUES ($1, false, $2) ON CONFLICT (queue_name) DO NOTHING",
				2, argtypes, values, SPI_OK_INSERT);
	SPI_finish();
}

/* pgmq.create(queue_name) and pgmq.create_non_partitioned(queue_name) */
static Datum
create_non_partitioned_body(PG_FUNCTION_ARGS)
{
	create_queue(queue_name_from_arg(fcinfo, 0), false);
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_create_non_partitioned, create_non_partitioned_body, 0,
							   QUEUE_ACCESS_MANAGE)

/* pgmq.create_unlogged(queue_name): unlogged queue table, logged archive. */
static Datum
create_unlogged_body(PG_FUNCTION_ARGS)
{
	create_queue(queue_name_from_arg(fcinfo, 0), true);
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_create_unlogged, create_unlogged_body, 0, QUEUE_ACCESS_MANAGE)

/* Drop the queue's tables and meta row; false (and a NOTICE) if none. */
static bool
drop_queue(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	Oid			qrel;
	Oid			arel;

	queue_lock(name);
	queue_table_lock(name);
	qrel = queue_relation_oid(name, "q");
	if (!OidIsValid(qrel))
	{
		ereport(NOTICE,
				(errmsg("pgmq queue `%s` does not exist", shown_input(name))));
		return false;
	}
	arel = queue_relation_oid(name, "a");

	SPI_connect();
	policy_check_not_dead_letter_queue(name);
	run_sql(psprintf("DROP TABLE %s", relation_sql_name(qrel)), 0, NULL, NULL, SPI_OK_UTILITY);
	if (OidIsValid(arel))
		run_sql(psprintf("DROP TABLE %s", relation_sql_name(arel)), 0, NULL, NULL, SPI_OK_UTILITY);

	/*
	 * Any spelling of the name drops the queue's tables, so it must drop its
	 * meta row too (create refuses case twins, so this is that one row).
	 */
	run_sql("DELETE FROM pgmq.meta"
			" WHERE pg_catalog.lower(queue_name) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
			1, argtypes, values, SPI_OK_DELETE);
	/* Its dedup keys too: a queue created again under the name starts afresh. */
	dedup_forget_queue(name);
	SPI_finish();
	return true;
}

/* pgmq.drop_queue(queue_name) */
static Datum
drop_queue_body(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(drop_queue(queue_name_from_arg(fcinfo, 0)));
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_drop_queue, drop_queue_body, 0, QUEUE_ACCESS_MANAGE)

/* pgmq.drop_queue(queue_name, partitioned): deprecated, always true. */
static Datum
drop_queue_deprecated_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);

	ereport(WARNING,
			(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
			 errmsg("drop_queue(queue_name, partitioned) is deprecated"),
			 errhint("Use drop_queue(queue_name) instead; this form will be removed in PGMQ v2.0.")));
	(void) drop_queue(name);
	PG_RETURN_BOOL(true);
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_drop_queue_deprecated, drop_queue_deprecated_body, 0,
							   QUEUE_ACCESS_MANAGE)

/*
 * pgmq.purge_queue(queue_name): how many messages there were, then an empty
 * queue table (TRUNCATE, as pgmq; the archive and msg_id sequence stay).
 *
 * The count is exactly what TRUNCATE removes, at any isolation level.  Once
 * the table is locked no other transaction can be changing it, so a fresh
 * snapshot sees every row there is, including rows committed after a
 * REPEATABLE READ transaction took its snapshot (TRUNCATE removes those
 * too; the transaction's own snapshot would not count them).
 */
static Datum
purge_queue_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	const char *qtable = queue_cache_table(entry);
	SPIPlanPtr	count_plan;
	int64		count;
	bool		isnull;

	SPI_connect();
	run_sql(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qtable),
			0, NULL, NULL, SPI_OK_UTILITY);
	count_plan = SPI_prepare(psprintf("SELECT pg_catalog.count(*) FROM %s", qtable), 0, NULL);
	if (count_plan == NULL ||
		SPI_execute_snapshot(count_plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the rows of %s", qtable);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	run_sql(psprintf("TRUNCATE TABLE %s", qtable), 0, NULL, NULL, SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_INT64(count);
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_purge_queue, purge_queue_body, 0, QUEUE_ACCESS_MANAGE)

PG_FUNCTION_INFO_V1(pgmq_c_detach_archive);

/* pgmq.detach_archive(queue_name): a deprecated no-op, as in pgmq. */
Datum
pgmq_c_detach_archive(PG_FUNCTION_ARGS)
{
	(void) queue_name_from_arg(fcinfo, 0);
	ereport(WARNING,
			(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
			 errmsg("detach_archive(queue_name) is deprecated and does nothing"),
			 errdetail("Archive tables are not members of the extension."),
			 errhint("Remove the call; this function will be removed in PGMQ v2.0.")));
	PG_RETURN_VOID();
}

/*
 * What partitions.c shares of the above: create_partitioned and
 * convert_archive_partitioned follow the same rules as create (names, case
 * twins, layouts, preferred index names), with partitioned tables.
 */
void
admin_run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values, int expected)
{
	run_sql(sql, nargs, argtypes, values, expected);
}

char *
admin_relation_sql_name(Oid relid)
{
	return relation_sql_name(relid);
}

/*
 * The start of every create: the name checked, the queue's locks taken, SPI
 * connected (the caller finishes it), case twins refused; then what is
 * there already: the queue and archive tables (InvalidOid: none), and
 * whether pgmq.meta has the queue (the result).
 */
bool
admin_begin_create(const char *name, Oid *qrel, Oid *arel)
{
	queue_name_check_length(name);
	queue_lock(name);
	queue_table_lock(name);
	SPI_connect();
	check_no_case_twin(name);
	*qrel = queue_relation_oid(name, "q");
	*arel = queue_relation_oid(name, "a");
	if (queue_registered(name))
		return true;

	/*
	 * A queue new to pgmq.meta starts with no dedup keys: keys left by an
	 * earlier queue of this name whose tables were dropped without
	 * drop_queue name that queue's messages.
	 */
	dedup_forget_queue(name);
	return false;
}

bool
admin_queue_registered(const char *name)
{
	return queue_registered(name);
}

void
admin_ensure_index(Oid relid, const char *column, const char *preferred)
{
	ensure_index(relid, column, preferred);
}

const QueueColumn *
admin_table_layout(bool archive, int *ncolumns)
{
	*ncolumns = archive ? lengthof(archive_table_layout) : lengthof(queue_table_layout);
	return archive ? archive_table_layout : queue_table_layout;
}
