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

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

static Oid
pgmq_namespace(void)
{
	return get_namespace_oid(PGMQ_SCHEMA, false);
}

static bool
pgmq_relation_exists(const char *relname)
{
	return OidIsValid(get_relname_relid(relname, pgmq_namespace()));
}

static void
run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "pgmq_c: unexpected result %s from \"%s\"",
			 SPI_result_code_string(rc), sql);
}

/*
 * Run a DDL statement creating pgmq.<relname> unless that relation exists;
 * whether it ran.
 */
static bool
create_unless_exists(const char *relname, const char *ddl_format, const char *arg1,
					 const char *arg2)
{
	if (pgmq_relation_exists(relname))
		return false;
	run_sql(psprintf(ddl_format, arg1, arg2), 0, NULL, NULL, SPI_OK_UTILITY);
	return true;
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

/* Table layouts are API (pgmq-api.md, "Tables"); %s is UNLOGGED or empty. */
static const char *const queue_table_ddl =
"CREATE %sTABLE pgmq.%s ("
" msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,"
" read_ct integer NOT NULL DEFAULT 0,"
" enqueued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
" last_read_at pg_catalog.timestamptz,"
" vt pg_catalog.timestamptz NOT NULL,"
" message pg_catalog.jsonb,"
" headers pg_catalog.jsonb)";

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

/*
 * The queue table, unless it exists.  Since PostgreSQL 15 an unlogged
 * table's identity sequence is unlogged too, so after a crash msg_ids would
 * start again at 1 and collide with ids already in the (logged) archive: an
 * unlogged queue gets a logged sequence, which keeps ids unique for the
 * life of the queue.
 */
static void
create_queue_table(const char *qtable, bool unlogged)
{
	if (!create_unless_exists(qtable, queue_table_ddl,
							  unlogged ? "UNLOGGED " : "", quote_identifier(qtable)))
		return;
#if PG_VERSION_NUM >= 150000
	if (unlogged)
		run_sql(psprintf("ALTER SEQUENCE pgmq.%s SET LOGGED",
						 quote_identifier(psprintf("%s_msg_id_seq", qtable))),
				0, NULL, NULL, SPI_OK_UTILITY);
#endif
}

/*
 * Create the queue's tables, indexes and pgmq.meta row; what already exists
 * is kept, so a second call changes nothing.
 */
static void
create_queue(const char *name, bool unlogged)
{
	char	   *qtable = queue_table_name(name, "q");
	char	   *atable = queue_table_name(name, "a");
	char	   *vt_index = psprintf("%s_vt_idx", qtable);
	char	   *archived_index = psprintf("archived_at_idx_%s", name);
	Oid			argtypes[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {CStringGetTextDatum(name), BoolGetDatum(unlogged)};

	queue_name_check_length(name);
	queue_lock(name);
	queue_table_lock(name);

	SPI_connect();
	check_no_case_twin(name);
	create_queue_table(qtable, unlogged);
	create_unless_exists(atable, archive_table_ddl, "", quote_identifier(atable));
	create_unless_exists(vt_index, "CREATE INDEX %s ON pgmq.%s (vt)",
						 quote_identifier(vt_index), quote_identifier(qtable));
	create_unless_exists(archived_index, "CREATE INDEX %s ON pgmq.%s (archived_at)",
						 quote_identifier(archived_index), quote_identifier(atable));

	/*
	 * Only a repeat of this very name is "already there"; a case twin that
	 * check_no_case_twin could not see (committed after a REPEATABLE READ
	 * snapshot) violates meta's unique index on lower(queue_name) instead.
	 */
	run_sql("INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)"
			" VALUES ($1, false, $2) ON CONFLICT (queue_name) DO NOTHING",
			2, argtypes, values, SPI_OK_INSERT);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(pgmq_c_create_non_partitioned);

/* pgmq.create(queue_name) and pgmq.create_non_partitioned(queue_name) */
Datum
pgmq_c_create_non_partitioned(PG_FUNCTION_ARGS)
{
	create_queue(queue_name_from_arg(fcinfo, 0), false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgmq_c_create_unlogged);

/* pgmq.create_unlogged(queue_name): unlogged queue table, logged archive. */
Datum
pgmq_c_create_unlogged(PG_FUNCTION_ARGS)
{
	create_queue(queue_name_from_arg(fcinfo, 0), true);
	PG_RETURN_VOID();
}

/* Drop the queue's tables and meta row; false (and a NOTICE) if none. */
static bool
drop_queue(const char *name)
{
	char	   *qtable = queue_table_name(name, "q");
	char	   *atable = queue_table_name(name, "a");
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	queue_lock(name);
	queue_table_lock(name);
	if (strlen(name) > PGMQ_MAX_LOOKUP_NAME_LEN || !pgmq_relation_exists(qtable))
	{
		ereport(NOTICE,
				(errmsg("pgmq queue `%s` does not exist", name)));
		return false;
	}

	SPI_connect();
	run_sql(psprintf("DROP TABLE pgmq.%s", quote_identifier(qtable)),
			0, NULL, NULL, SPI_OK_UTILITY);
	if (pgmq_relation_exists(atable))
		run_sql(psprintf("DROP TABLE pgmq.%s", quote_identifier(atable)),
				0, NULL, NULL, SPI_OK_UTILITY);
	/*
	 * Any spelling of the name drops the queue's tables, so it must drop its
	 * meta row too (create refuses case twins, so this is that one row).
	 */
	run_sql("DELETE FROM pgmq.meta"
			" WHERE pg_catalog.lower(queue_name) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
			1, argtypes, values, SPI_OK_DELETE);
	SPI_finish();
	return true;
}

PG_FUNCTION_INFO_V1(pgmq_c_drop_queue);

/* pgmq.drop_queue(queue_name) */
Datum
pgmq_c_drop_queue(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(drop_queue(queue_name_from_arg(fcinfo, 0)));
}

PG_FUNCTION_INFO_V1(pgmq_c_drop_queue_deprecated);

/* pgmq.drop_queue(queue_name, partitioned): deprecated, always true. */
Datum
pgmq_c_drop_queue_deprecated(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);

	ereport(WARNING,
			(errmsg("drop_queue(queue_name, partitioned) is deprecated and will be removed in PGMQ v2.0. Use drop_queue(queue_name) instead")));
	(void) drop_queue(name);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(pgmq_c_purge_queue);

/*
 * pgmq.purge_queue(queue_name): how many messages there were, then an empty
 * queue table (TRUNCATE, as pgmq; the archive and msg_id sequence stay).
 */
Datum
pgmq_c_purge_queue(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	char	   *qtable;
	int64		count;
	bool		isnull;

	(void) queue_cache_lookup(name);
	qtable = quote_qualified_identifier(PGMQ_SCHEMA, queue_table_name(name, "q"));
	SPI_connect();
	/* Lock first, so the count is of exactly what the TRUNCATE removes. */
	run_sql(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qtable),
			0, NULL, NULL, SPI_OK_UTILITY);
	run_sql(psprintf("SELECT pg_catalog.count(*) FROM %s", qtable),
			0, NULL, NULL, SPI_OK_SELECT);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	run_sql(psprintf("TRUNCATE TABLE %s", qtable), 0, NULL, NULL, SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_INT64(count);
}

PG_FUNCTION_INFO_V1(pgmq_c_detach_archive);

/* pgmq.detach_archive(queue_name): a deprecated no-op, as in pgmq. */
Datum
pgmq_c_detach_archive(PG_FUNCTION_ARGS)
{
	(void) queue_name_from_arg(fcinfo, 0);
	ereport(WARNING,
			(errmsg("detach_archive(queue_name) is deprecated and is a no-op. It will be removed in PGMQ v2.0. Archive tables are no longer member objects.")));
	PG_RETURN_VOID();
}
