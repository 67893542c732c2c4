/*-------------------------------------------------------------------------
 *
 * notify.c
 *		pgmq's insert notifications: enable_notify_insert and the functions
 *		around it, and the trigger that asks for the NOTIFY.
 *
 * enable_notify_insert puts an AFTER INSERT trigger on the queue table, as
 * pgmq does, so every way a message gets in (send, send_batch, redrive,
 * replay, a dead-letter move, a plain INSERT) notifies.  pgmq's trigger is
 * a row-level constraint trigger whose every firing updates the queue's
 * row in pgmq.notify_insert_throttle, so concurrent producers queue up on
 * that row until each commits.  Ours fires once per statement and carries
 * the queue name (as given) and the throttle interval as arguments, so it
 * looks nothing up: it asks queue_events.c for one NOTIFY on channel
 * "pgmq.q_<name>.INSERT" when the transaction commits, and the throttle is
 * decided at pre-commit in shared memory (wakeup.c).  The table keeps the
 * settings, which list_notify_insert_throttles shows with the time of the
 * last notification from shared memory.
 *
 * Without shared memory (pgmq_c not preloaded) the throttle has to be
 * shared through the table: the first insert of a transaction updates the
 * queue's row as pgmq does, and producers then do wait on each other.
 * Triggers pgmq itself made (a database restored from pgmq: row-level, no
 * arguments) work as they did there: the channel and the queue come from
 * the table name, the interval from the table.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#define NOTIFY_TRIGGER "trigger_notify_queue_insert_listeners"

/* The throttle interval argument: not NULL, not negative. */
static int32
throttle_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		ms;

	arg_not_null(fcinfo, argno, "throttle_interval_ms");
	ms = PG_GETARG_INT32(argno);
	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("throttle_interval_ms must be non-negative"),
				 errdetail("It was %d.", ms)));
	return ms;
}

/*
 * The queue table of a queue registered under exactly this name (the
 * throttle table refers to pgmq.meta), or an error in pgmq's words.
 * Inside SPI.
 */
static Oid
registered_queue(const char *name, const char *create_hint)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	Oid			relid = queue_relation_oid(name, "q");

	admin_run_sql("SELECT 1 FROM pgmq.meta WHERE queue_name" EQ "$1",
				  1, argtypes, values, SPI_OK_SELECT);
	if (SPI_processed == 0 || !OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("Queue \"%s\" does not exist. %s", shown_input(name), create_hint)));
	return relid;
}

/* Does the throttle table have a row for the queue?  Inside SPI. */
static bool
notify_enabled(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	admin_run_sql("SELECT 1 FROM pgmq.notify_insert_throttle WHERE queue_name" EQ "$1",
				  1, argtypes, values, SPI_OK_SELECT);
	return SPI_processed > 0;
}

static void
drop_trigger(Oid relid)
{
	if (!OidIsValid(get_trigger_oid(relid, NOTIFY_TRIGGER, true)))
		return;
	admin_run_sql(psprintf("DROP TRIGGER " NOTIFY_TRIGGER " ON %s",
						   admin_relation_sql_name(relid)),
				  0, NULL, NULL, SPI_OK_UTILITY);
}

/* (Re)make the trigger, with the name and interval as its arguments. */
static void
make_trigger(Oid relid, const char *name, int32 ms)
{
	drop_trigger(relid);
	admin_run_sql(psprintf("CREATE TRIGGER " NOTIFY_TRIGGER " AFTER INSERT ON %s"
						   " FOR EACH STATEMENT EXECUTE FUNCTION pgmq.notify_queue_listeners(%s, '%d')",
						   admin_relation_sql_name(relid), quote_literal_cstr(name), ms),
				  0, NULL, NULL, SPI_OK_UTILITY);
}

/* pgmq.enable_notify_insert(queue_name, throttle_interval_ms DEFAULT 250) */
static Datum
enable_notify_insert_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		ms = throttle_arg(fcinfo, 1);
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(ms)};
	Oid			relid;

	queue_lock(name);
	SPI_connect();
	relid = registered_queue(name, "Create it first using pgmq.create()");
	admin_run_sql("INSERT INTO pgmq.notify_insert_throttle (queue_name, throttle_interval_ms)"
				  " VALUES ($1, $2) ON CONFLICT (queue_name) DO UPDATE"
				  " SET throttle_interval_ms = EXCLUDED.throttle_interval_ms,"
				  " last_notified_at = pg_catalog.to_timestamp(0)",
				  2, argtypes, values, SPI_OK_INSERT);
	make_trigger(relid, name, ms);
	SPI_finish();
	queue_events_throttle_reset(relid);
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_enable_notify_insert, enable_notify_insert_body, 0, QUEUE_ACCESS_MANAGE)

/* pgmq.update_notify_insert(queue_name, throttle_interval_ms) */
static Datum
update_notify_insert_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		ms = throttle_arg(fcinfo, 1);
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(ms)};
	Oid			relid;

	queue_lock(name);
	SPI_connect();
	relid = registered_queue(name, "Create the queue first using pgmq.create()");
	if (!notify_enabled(name))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Queue \"%s\" does not have notify_insert enabled. Enable it first using pgmq.enable_notify_insert()",
						name)));
	admin_run_sql("UPDATE pgmq.notify_insert_throttle SET throttle_interval_ms = $2,"
				  " last_notified_at = pg_catalog.to_timestamp(0) WHERE queue_name" EQ "$1",
				  2, argtypes, values, SPI_OK_UPDATE);
	make_trigger(relid, name, ms);
	SPI_finish();
	queue_events_throttle_reset(relid);
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_update_notify_insert, update_notify_insert_body, 0, QUEUE_ACCESS_MANAGE)

/* pgmq.disable_notify_insert(queue_name) */
static Datum
disable_notify_insert_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	Oid			relid = queue_relation_oid(name, "q");

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"pgmq.%s\" does not exist", queue_table_name(shown_input(name), "q"))));
	queue_lock(name);
	SPI_connect();
	drop_trigger(relid);
	admin_run_sql("DELETE FROM pgmq.notify_insert_throttle WHERE queue_name" EQ "$1",
				  1, argtypes, values, SPI_OK_DELETE);
	SPI_finish();
	queue_events_throttle_reset(relid);
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_disable_notify_insert, disable_notify_insert_body, 0, QUEUE_ACCESS_MANAGE)

PG_FUNCTION_INFO_V1(pgmq_c_notified_at);

/*
 * pgmq._notified_at(queue_name): when shared memory last notified the
 * queue's channel, or NULL (for list_notify_insert_throttles).
 */
Datum
pgmq_c_notified_at(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			relid = queue_relation_oid(name, "q");
	TimestampTz at = OidIsValid(relid) ? wakeup_notified_at(relid) : 0;

	if (at == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(at);
}

/* ---------------------------------------------------------------------
 * The trigger
 * ---------------------------------------------------------------------
 */

/*
 * Without shared memory: take the queue's turn in the throttle table, as
 * pgmq does, as the table's owner (the trigger's bookkeeping is not the
 * sender's business).  True if this transaction is to notify: the row was
 * due, or there is no row (a crash empties the unlogged table while the
 * trigger stays: notify rather than go silent).  With throttle_ms, only
 * read the interval.
 */
static bool
throttle_by_table(const char *queue, bool read_only, int32 *throttle_ms)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(queue)};
	Oid			table = get_relname_relid("notify_insert_throttle",
										  get_namespace_oid(PGMQ_SCHEMA, false));
	Oid			save_userid;
	int			save_sec_context;
	bool		notify = true;

	if (!OidIsValid(table))
		return true;
	queue_become_owner(table, &save_userid, &save_sec_context);
	SPI_connect();
	if (read_only)
	{
		admin_run_sql("SELECT throttle_interval_ms FROM pgmq.notify_insert_throttle"
					  " WHERE queue_name" EQ "$1",
					  1, argtypes, values, SPI_OK_SELECT);
		*throttle_ms = 0;
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				*throttle_ms = DatumGetInt32(d);
		}
	}
	else
	{
		bool		isnull;

		admin_run_sql("WITH due AS (UPDATE pgmq.notify_insert_throttle"
					  " SET last_notified_at = pg_catalog.clock_timestamp()"
					  " WHERE queue_name" EQ "$1 AND (throttle_interval_ms" EQ "0"
					  " OR (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) last_notified_at)"
					  " OPERATOR(pg_catalog.>=) (throttle_interval_ms OPERATOR(pg_catalog.*)"
					  " '1 millisecond'::pg_catalog.interval)) RETURNING 1)"
					  " SELECT EXISTS (SELECT FROM due) OR NOT EXISTS"
					  " (SELECT FROM pgmq.notify_insert_throttle WHERE queue_name" EQ "$1)",
					  1, argtypes, values, SPI_OK_SELECT);
		notify = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return notify;
}

PG_FUNCTION_INFO_V1(pgmq_c_notify_queue_listeners);

/*
 * pgmq.notify_queue_listeners(): AFTER INSERT trigger on a queue table.
 * Arguments: the queue name as given and the throttle interval (ours), or
 * none (pgmq's).
 */
Datum
pgmq_c_notify_queue_listeners(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	Oid			relid;
	const char *relname;
	char	   *queue;
	char	   *channel;
	int32		throttle_ms = 0;
	bool		ours;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notify_queue_listeners() must be fired AFTER INSERT")));
	rel = trigdata->tg_relation;
	relid = RelationGetRelid(rel);

	/* One NOTIFY per transaction and queue is all LISTEN can tell apart. */
	if (queue_events_notify_pending(relid))
		return PointerGetDatum(NULL);

	ours = trigdata->tg_trigger->tgnargs >= 2;
	relname = RelationGetRelationName(rel);
	if (ours)
	{
		queue = trigdata->tg_trigger->tgargs[0];
		throttle_ms = pg_strtoint32(trigdata->tg_trigger->tgargs[1]);
		channel = psprintf("pgmq.q_%s.INSERT", queue);
	}
	else
	{
		/* pgmq: channel from the table name, queue name from its tail */
		queue = pstrdup(strncmp(relname, "q_", 2) == 0 ? relname + 2 : relname);
		channel = psprintf("pgmq.%s.INSERT", relname);
	}

	if (queue_slots_enabled())
	{
		if (!ours)
			(void) throttle_by_table(queue, true, &throttle_ms);
		queue_events_notify(relid, channel, throttle_ms);
	}
	else
	{
		if (throttle_by_table(queue, false, NULL))
			Async_Notify(channel, NULL);
		queue_events_notified(relid);
	}
	return PointerGetDatum(NULL);
}
