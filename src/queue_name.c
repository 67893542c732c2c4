/*-------------------------------------------------------------------------
 *
 * queue_name.c
 *		Queue names: what is allowed, which tables they map to, and the
 *		per-queue advisory lock that serialises DDL on one queue.
 *
 * pgmq derives table names as lower(prefix || '_' || name) and keeps the name
 * as given in pgmq.meta.  We derive them the same way (SQL lower() under the
 * database's default collation) so that tables created by either agree.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_collation.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/formatting.h"

/*
 * Fetch argument argno as a queue name: not NULL, not empty, free of the
 * characters pgmq refuses.  Length is checked where a queue is created; any
 * longer name simply names no queue.
 */
char *
queue_name_from_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue name cannot be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	queue_name_check_chars(name);
	return name;
}

/*
 * Reject what pgmq rejects, with pgmq's message, plus the empty name and
 * control characters (a tab or newline in a table name is a trap in every
 * log line, script and psql listing that shows it).
 */
void
queue_name_check_chars(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name cannot be empty")));
	if (strchr(name, '$') != NULL || strchr(name, ';') != NULL ||
		strchr(name, '\'') != NULL || strstr(name, "--") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name contains invalid characters: $, ;, --, or \\'")));
	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("queue name contains a control character"),
					 errdetail("Byte %d is 0x%02x.", (int) (p - (const unsigned char *) name) + 1, *p)));
	}
}

/*
 * pgmq counts characters; we also count bytes, of the name as given (it
 * names the archive index) and of its lowercase form (which names the
 * tables, and can be longer: lower('Ⱥ') takes 3 bytes to its 2).  A longer
 * name in a multibyte encoding would be silently truncated to 63 bytes in a
 * derived name and could collide with another queue's.  Over 47 characters
 * the message is pgmq's; within 47 characters but over 47 bytes it says
 * bytes.
 */
void
queue_name_check_length(const char *name)
{
	int			nbytes = Max(strlen(name), strlen(queue_table_name(name, "q")) - 2);

	if (pg_mbstrlen(name) > PGMQ_MAX_QUEUE_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name is too long, maximum length is %d characters",
						PGMQ_MAX_QUEUE_NAME_LEN)));
	if (nbytes > PGMQ_MAX_QUEUE_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name is too long, maximum length is %d bytes",
						PGMQ_MAX_QUEUE_NAME_LEN),
				 errdetail("The name, as given or lowercased, takes %d bytes; derived table and index names must fit in %d bytes.",
						   nbytes, NAMEDATALEN - 1)));
}

/*
 * Text a caller passed, as much of it as an error message shows: at most
 * NAMEDATALEN bytes, cut on a character boundary, so a megabyte argument
 * does not come back in the error.  No queue name or valid setting is that
 * long.  *cut: whether anything was left out.
 */
char *
shown_prefix(const char *text, bool *cut)
{
	int			len = strlen(text);
	int			clipped = pg_mbcliplen(text, len, NAMEDATALEN);

	*cut = clipped < len;
	return pnstrdup(text, clipped);
}

/* shown_prefix, with "..." where it was cut. */
char *
shown_input(const char *text)
{
	bool		cut;
	char	   *prefix = shown_prefix(text, &cut);

	return cut ? psprintf("%s...", prefix) : prefix;
}

/* The error for a queue that does not exist (42P01), with the way out. */
void
queue_report_missing(const char *name)
{
	const char *shown = shown_input(name);

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("queue \"%s\" does not exist", shown),
			 errhint("Create the queue first with pgmq.create('%s').", shown)));
}

/* prefix_name, lowercased the way SQL lower() does it. */
char *
queue_table_name(const char *name, const char *prefix)
{
	char	   *joined = psprintf("%s_%s", prefix, name);

	return str_tolower(joined, strlen(joined), DEFAULT_COLLATION_OID);
}

static void
advisory_xact_lock_text(const char *key)
{
	Datum		hash = DirectFunctionCall1Coll(hashtext, DEFAULT_COLLATION_OID,
											   CStringGetTextDatum(key));

	DirectFunctionCall1(pg_advisory_xact_lock_int8,
						Int64GetDatum((int64) DatumGetInt32(hash)));
}

/*
 * Transaction-level advisory lock on the queue, with pgmq's exact key
 * (hashtext('pgmq.queue_' || name)) so that pgmq_c and any SQL written
 * against pgmq's acquire_queue_lock() exclude one another.
 */
void
queue_lock(const char *name)
{
	advisory_xact_lock_text(psprintf("pgmq.queue_%s", name));
}

/*
 * Creating or dropping a queue also locks its table name, which is what
 * 'Orders' and 'orders' share, so that the two cannot be created at once.
 * Always taken after queue_lock, so the two cannot deadlock.
 */
void
queue_table_lock(const char *name)
{
	advisory_xact_lock_text(psprintf("pgmq_c.table_%s", queue_table_name(name, "q")));
}

PG_FUNCTION_INFO_V1(pgmq_c_validate_queue_name);

/* pgmq.validate_queue_name(queue_name): everything create would refuse. */
Datum
pgmq_c_validate_queue_name(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);

	queue_name_check_length(name);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgmq_c_format_table_name);

/* pgmq.format_table_name(queue_name, prefix) -> lower(prefix_name) */
Datum
pgmq_c_format_table_name(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	char	   *prefix;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("prefix cannot be NULL")));
	prefix = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PG_RETURN_TEXT_P(cstring_to_text(queue_table_name(name, prefix)));
}

PG_FUNCTION_INFO_V1(pgmq_c_acquire_queue_lock);

/* pgmq.acquire_queue_lock(queue_name) */
Datum
pgmq_c_acquire_queue_lock(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue name cannot be NULL")));
	queue_lock(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
