/*-------------------------------------------------------------------------
 *
 * partitions.c
 *		Native partitioned queues: create_partitioned,
 *		convert_archive_partitioned, _get_partition_col, and the upkeep that
 *		creates partitions ahead of use and drops them past retention.
 *
 * pgmq leaves partitions to pg_partman.  Here they are Postgres' own
 * declarative range partitions, kept by partitions_maintain(), which the
 * maintenance pass calls per queue (and pgmq._maintain_partitions() calls
 * from SQL).  Each partitioned table (a queue, or an archive) has a row in
 * pgmq.partition_config saying how it is cut:
 *
 *	- a partition_interval that reads as an integer cuts by msg_id into
 *	  ranges of that many ids, [k*n, (k+1)*n);
 *	- anything else is a time interval ('1 day', 'daily', '6 hours',
 *	  '1 month') and cuts by enqueued_at (archive: archived_at) into
 *	  ranges aligned on 2000-01-01 00:00 UTC (whole months for intervals
 *	  of months).
 *
 * Every partitioned table has a DEFAULT partition, so a send never fails
 * for want of a partition (README, "Partitioned queues", says why that and
 * not creation on demand).  Upkeep moves any rows that landed there into
 * partitions of their own.
 *
 * Partitions are found through the catalog (pg_inherits and each
 * partition's bound), never by their names: a name is only a label, chosen
 * when the partition is made and free to collide or be renamed.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

/* How one partitioned table is cut, and how long its partitions are kept. */
typedef struct QueuePartSpec
{
	bool		by_time;		/* else by msg_id */
	int64		width;			/* ids, or microseconds (by time, months 0) */
	int32		months;			/* by time: months per partition, else 0 */
	int64		keep_ids;		/* retention, by msg_id */
	Interval	keep_time;		/* retention, by time */
} QueuePartSpec;

/* One partition's range [lo, hi): ids, or TimestampTz. */
typedef struct QueuePartRange
{
	Oid			relid;
	int64		lo;
	int64		hi;
} QueuePartRange;

/* Most buckets of rows moved out of a default partition per pass. */
#define MAX_MOVES_PER_PASS 100

/*
 * An integer as int4in/int8in read it (surrounding spaces, a sign,
 * digits), without raising an error: false when `s` is not one or is out
 * of [min, max].
 */
static bool
parse_integer(const char *s, int64 min, int64 max, int64 *result)
{
	bool		neg = false;
	int64		v = 0;
	bool		digits = false;

	while (*s && isspace((unsigned char) *s))
		s++;
	if (*s == '+' || *s == '-')
		neg = (*s++ == '-');
	while (*s >= '0' && *s <= '9')
	{
		if (pg_mul_s64_overflow(v, 10, &v) ||
			pg_sub_s64_overflow(v, *s - '0', &v))	/* negative: reaches INT64_MIN */
			return false;
		digits = true;
		s++;
	}
	while (*s && isspace((unsigned char) *s))
		s++;
	if (!digits || *s != '\0')
		return false;
	if (!neg)
	{
		if (v == PG_INT64_MIN)
			return false;
		v = -v;
	}
	if (v < min || v > max)
		return false;
	*result = v;
	return true;
}

/* pgmq's rule: an interval that casts to integer partitions by msg_id. */
static bool
interval_is_numeric(const char *s)
{
	int64		ignored;

	return parse_integer(s, PG_INT32_MIN, PG_INT32_MAX, &ignored);
}

/*
 * A time interval as pgmq (through pg_partman) accepts it: an interval
 * literal, or one of the words pg_partman knows.  False if it is neither.
 * Parsed without raising an error, so the caller can say which argument
 * was wrong.
 */
static bool
parse_time_interval(const char *input, Interval *result)
{
	static const struct
	{
		const char *word;
		const char *interval;
	}			words[] = {
		{"hourly", "1 hour"}, {"daily", "1 day"}, {"weekly", "1 week"},
		{"monthly", "1 month"}, {"quarterly", "3 months"}, {"yearly", "1 year"},
	};
	char	   *s = pstrdup(input);
	char	   *end;
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			dterr;
	struct pg_itm_in itm;

	while (*s && isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	for (int i = 0; i < lengthof(words); i++)
	{
		if (pg_strcasecmp(s, words[i].word) == 0)
		{
			s = pstrdup(words[i].interval);
			break;
		}
	}
	if (*s == '\0' || strlen(s) >= sizeof(workbuf))
		return false;
	memset(&itm, 0, sizeof(itm));
	dterr = ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm);
	if (dterr == DTERR_BAD_FORMAT)
		dterr = DecodeISO8601Interval(s, &dtype, &itm);
	if (dterr != 0 || dtype != DTK_DELTA)
		return false;
	return itmin2interval(&itm, result) == 0;
}

static void
bad_interval(const char *argname, const char *value, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: \"%s\"", argname, shown_input(value)),
			 errdetail("%s", detail)));
}

/*
 * The partitioning that partition_interval and retention_interval ask for,
 * or an error (22023) naming the argument that is wrong.
 */
static QueuePartSpec
parse_spec(const char *partition_interval, const char *retention_interval)
{
	QueuePartSpec spec;

	memset(&spec, 0, sizeof(spec));
	if (interval_is_numeric(partition_interval))
	{
		(void) parse_integer(partition_interval, PG_INT32_MIN, PG_INT32_MAX, &spec.width);
		if (spec.width <= 0)
			bad_interval("partition_interval", partition_interval,
						 "A number of messages per partition must be positive.");
		if (!parse_integer(retention_interval, 1, PG_INT64_MAX, &spec.keep_ids))
			bad_interval("retention_interval", retention_interval,
						 "A queue partitioned by msg_id keeps a positive number of messages.");
		return spec;
	}

	spec.by_time = true;
	{
		Interval	iv;

		if (!parse_time_interval(partition_interval, &iv))
			bad_interval("partition_interval", partition_interval,
						 "It must be an integer (messages per partition) or an interval such as '1 day' or 'daily'.");
		if (iv.month < 0 || iv.day < 0 || iv.time < 0 ||
			(iv.month == 0 && iv.day == 0 && iv.time == 0))
			bad_interval("partition_interval", partition_interval,
						 "A partition interval must be positive.");
		if (iv.month > 0 && (iv.day != 0 || iv.time != 0))
			bad_interval("partition_interval", partition_interval,
						 "An interval of months cannot also have days or hours.");
		if (iv.month == 0 && iv.time + (int64) iv.day * USECS_PER_DAY < USECS_PER_SEC)
			bad_interval("partition_interval", partition_interval,
						 "A partition interval must be at least one second.");
		spec.months = iv.month;
		spec.width = iv.time + (int64) iv.day * USECS_PER_DAY;
	}
	if (!parse_time_interval(retention_interval, &spec.keep_time))
		bad_interval("retention_interval", retention_interval,
					 "A queue partitioned by time keeps an interval such as '7 days'.");
	if (spec.keep_time.month < 0 || spec.keep_time.day < 0 || spec.keep_time.time < 0 ||
		(spec.keep_time.month == 0 && spec.keep_time.day == 0 && spec.keep_time.time == 0))
		bad_interval("retention_interval", retention_interval,
					 "A retention interval must be positive.");
	return spec;
}

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Months since 2000-01 of a timestamp, in UTC. */
static int64
month_index(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return (int64) (tm.tm_year - 2000) * 12 + (tm.tm_mon - 1);
}

static TimestampTz
month_start(int64 index)
{
	struct pg_tm tm;
	Timestamp	ts;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2000 + (int) floor_div(index, 12);
	tm.tm_mon = (int) (index - floor_div(index, 12) * 12) + 1;
	tm.tm_mday = 1;
	if (tm2timestamp(&tm, 0, NULL, &ts) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return ts;
}

/*
 * Where the partition holding `v` starts.  Time partitions are aligned on
 * 2000-01-01 00:00 UTC, which is TimestampTz 0.
 */
static int64
bucket_start(const QueuePartSpec *spec, int64 v)
{
	if (spec->by_time && spec->months > 0)
		return month_start(floor_div(month_index(v), spec->months) * spec->months);
	return floor_div(v, spec->width) * spec->width;
}

/* Where the partition starting at `start` ends. */
static int64
bucket_end(const QueuePartSpec *spec, int64 start)
{
	int64		end;

	if (spec->by_time && spec->months > 0)
		return month_start(month_index(start) + spec->months);
	if (pg_add_s64_overflow(start, spec->width, &end))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("partition bound out of range")));
	return end;
}

/* A bound as SQL literal text (quoted) for DDL. */
static char *
bound_literal(const QueuePartSpec *spec, int64 v)
{
	if (spec->by_time)
		return quote_literal_cstr(DatumGetCString(DirectFunctionCall1(timestamptz_out,
																	  TimestampTzGetDatum(v))));
	return psprintf("'" INT64_FORMAT "'", v);
}

static Oid
bound_type(const QueuePartSpec *spec)
{
	return spec->by_time ? TIMESTAMPTZOID : INT8OID;
}

/*
 * A free name in schema pgmq for a new partition of `parent`: the parent's
 * name and a suffix that tells its range, clipped to fit, with a number
 * added if the name is taken (by a partition detached by hand, say).
 */
static char *
partition_name(Oid parent, const char *suffix)
{
	const char *base = get_rel_name(parent);
	Oid			nsp = get_rel_namespace(parent);

	for (int n = 0; n < 1000; n++)
	{
		char	   *tail = n == 0 ? pstrdup(suffix) : psprintf("%s_%d", suffix, n);
		int			room = NAMEDATALEN - 1 - (int) strlen(tail);
		int			keep = pg_mbcliplen(base, strlen(base), room);
		char	   *name = psprintf("%.*s%s", keep, base, tail);

		if (!OidIsValid(get_relname_relid(name, nsp)))
			return name;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_TABLE),
			 errmsg("no free name for a new partition of table \"%s\"", base)));
	return NULL;				/* keep compiler quiet */
}

static char *
range_suffix(const QueuePartSpec *spec, int64 lo)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (!spec->by_time)
		return psprintf("_p" INT64_FORMAT, lo);
	if (timestamp2tm(lo, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0)
		return psprintf("_p%04d%02d%02d", tm.tm_year, tm.tm_mon, tm.tm_mday);
	return psprintf("_p%04d%02d%02d_%02d%02d%02d", tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * The range partitions of `parent`, from pg_inherits and each partition's
 * bound.  The default partition and any partition whose bound is not a
 * plain FROM (x) TO (y) (MINVALUE, made by hand) are left out: upkeep
 * neither drops them nor relies on them, though it never creates a
 * partition that would overlap one it knows.
 */
static List *
list_partitions(Oid parent, const QueuePartSpec *spec)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(parent)};
	List	   *result = NIL;
	const char *type = spec->by_time ? "pg_catalog.timestamptz" : "pg_catalog.int8";

	admin_run_sql(psprintf("SELECT c.oid, b[1]::%s, b[2]::%s"
						   " FROM pg_catalog.pg_inherits i"
						   " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid,"
						   " LATERAL pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),"
						   " $re$^FOR VALUES FROM \\('?([^')]*)'?\\) TO \\('?([^')]*)'?\\)$$re$) b"
						   " WHERE i.inhparent OPERATOR(pg_catalog.=) $1"
						   " AND b[1] OPERATOR(pg_catalog.<>) ALL (ARRAY['MINVALUE', 'MAXVALUE'])"
						   " AND b[2] OPERATOR(pg_catalog.<>) ALL (ARRAY['MINVALUE', 'MAXVALUE'])"
						   " ORDER BY 2",
						   type, type),
				  1, argtypes, values, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		QueuePartRange *r = palloc(sizeof(QueuePartRange));
		bool		isnull;

		r->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		r->lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		r->hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		result = lappend(result, r);
	}
	return result;
}

static bool
overlaps_any(List *ranges, int64 lo, int64 hi)
{
	ListCell   *lc;

	foreach(lc, ranges)
	{
		QueuePartRange *r = lfirst(lc);

		if (r->lo < hi && lo < r->hi)
			return true;
	}
	return false;
}

/*
 * A partition belongs to whoever owns the queue table, also when upkeep
 * runs as another role (a superuser's worker): the owner must be able to
 * manage the queue's partitions as its own.
 */
static void
give_parent_owner(Oid parent, const char *part_sql)
{
	Relation	rel = relation_open(parent, NoLock);
	Oid			owner = rel->rd_rel->relowner;

	relation_close(rel, NoLock);
	if (owner != GetUserId())
		admin_run_sql(psprintf("ALTER TABLE %s OWNER TO %s", part_sql,
							   quote_identifier(GetUserNameFromId(owner, false))),
					  0, NULL, NULL, SPI_OK_UTILITY);
}

/*
 * Run a statement that moves or deletes a queue's rows as the owner of the
 * queue table (see queue_become_owner): row triggers the owner put on the
 * queue table, which its partitions inherit, run as that owner.  The
 * statements reach the default partition through the queue table (and
 * tableoid), whose privileges are the owner's, because a partition made
 * before an ALTER TABLE ... OWNER keeps its old owner.
 */
static void
run_dml_as_owner(Oid parent, const char *sql, int nargs, Oid *argtypes, Datum *values,
				 int expected)
{
	Oid			save_userid;
	int			save_sec_context;

	queue_become_owner(parent, &save_userid, &save_sec_context);
	admin_run_sql(sql, nargs, argtypes, values, expected);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * A new partition [lo, hi) of `parent`, holding the rows of the default
 * partition (if any) that belong to it.
 *
 * The partition is made as a plain table, filled, then attached (the
 * caller holds sends off: hold_off_sends).  Attaching checks that no row of the range is left in
 * the default partition, and locks it ACCESS EXCLUSIVE; taking that lock
 * before the rows move keeps a concurrent send from putting another row of
 * the range there in between.
 */
static void
create_partition(Oid parent, const char *keycol, const QueuePartSpec *spec,
				 int64 lo, int64 hi, Oid default_part)
{
	char	   *parent_sql = admin_relation_sql_name(parent);
	char	   *name = partition_name(parent, range_suffix(spec, lo));
	char	   *part_sql = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)), name);
	char	   *lo_sql = bound_literal(spec, lo);
	char	   *hi_sql = bound_literal(spec, hi);

	admin_run_sql(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING STORAGE)",
						   part_sql, parent_sql),
				  0, NULL, NULL, SPI_OK_UTILITY);
	give_parent_owner(parent, part_sql);
	if (OidIsValid(default_part))
	{
		Oid			argtypes[2] = {bound_type(spec), bound_type(spec)};
		Datum		values[2] = {Int64GetDatum(lo), Int64GetDatum(hi)};

		admin_run_sql(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE",
							   admin_relation_sql_name(default_part)),
					  0, NULL, NULL, SPI_OK_UTILITY);
		run_dml_as_owner(parent,
						 psprintf("WITH moved AS (DELETE FROM %s WHERE %s OPERATOR(pg_catalog.>=) $1"
								  " AND %s OPERATOR(pg_catalog.<) $2"
								  " AND tableoid OPERATOR(pg_catalog.=) %u RETURNING *)"
								  " INSERT INTO %s SELECT * FROM moved",
								  parent_sql, quote_identifier(keycol),
								  quote_identifier(keycol), default_part, part_sql),
						 2, argtypes, values, SPI_OK_INSERT);
	}
	admin_run_sql(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
						   parent_sql, part_sql, lo_sql, hi_sql),
				  0, NULL, NULL, SPI_OK_UTILITY);
}

/* The default partition of `parent`, made if it has none. */
static Oid
ensure_default_partition(Oid parent)
{
	Oid			existing = get_default_partition_oid(parent);
	char	   *part_sql;

	if (OidIsValid(existing))
		return existing;
	part_sql = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
										  partition_name(parent, "_default"));
	admin_run_sql(psprintf("CREATE TABLE %s PARTITION OF %s DEFAULT",
						   part_sql, admin_relation_sql_name(parent)),
				  0, NULL, NULL, SPI_OK_UTILITY);
	give_parent_owner(parent, part_sql);
	return get_default_partition_oid(parent);
}

/*
 * Before the first partition is attached: hold off sends until upkeep's
 * transaction ends.  A send routes its row with the partitions committed
 * when it starts; one routed to the default partition while the partition
 * for its range is being attached would wait for the attach and then fail
 * ("violates partition constraint").  Sends waiting here instead replan
 * after upkeep commits and go to the new partition.  EXCLUSIVE lets plain
 * SELECTs through.
 */
static void
hold_off_sends(Oid parent, bool *held)
{
	if (*held)
		return;
	admin_run_sql(psprintf("LOCK TABLE %s IN EXCLUSIVE MODE", admin_relation_sql_name(parent)),
				  0, NULL, NULL, SPI_OK_UTILITY);
	*held = true;
}

/* The smallest key at or after `from` in the table, false if none. */
static bool
min_key_from(Oid relid, const char *keycol, const QueuePartSpec *spec, int64 from, int64 *result)
{
	Oid			argtypes[1] = {bound_type(spec)};
	Datum		values[1] = {Int64GetDatum(from)};
	bool		isnull;
	Datum		d;

	admin_run_sql(psprintf("SELECT pg_catalog.min(%s) FROM %s WHERE %s OPERATOR(pg_catalog.>=) $1",
						   quote_identifier(keycol), admin_relation_sql_name(relid),
						   quote_identifier(keycol)),
				  1, argtypes, values, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	*result = DatumGetInt64(d);
	return true;
}

/*
 * Upkeep of one partitioned table: drop the partitions wholly past
 * retention (`cutoff`: the oldest key to keep), move rows out of the
 * default partition into partitions of their own, and make sure the
 * partition holding `current` and `premake` after it exist.
 */
static void
maintain_table(Oid parent, const char *keycol, const QueuePartSpec *spec, int premake,
			   int64 current, int64 cutoff, MaintenanceCounts *counts)
{
	List	   *ranges;
	List	   *kept = NIL;
	ListCell   *lc;
	Oid			default_part;
	int64		keep_from = bucket_start(spec, cutoff);
	int64		lo;
	bool		held = false;

	/* Keeps DDL of others (and a second upkeep) out; sends go on for now. */
	admin_run_sql(psprintf("LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE",
						   admin_relation_sql_name(parent)),
				  0, NULL, NULL, SPI_OK_UTILITY);
	ranges = list_partitions(parent, spec);

	foreach(lc, ranges)
	{
		QueuePartRange *r = lfirst(lc);

		if (r->hi <= keep_from)
		{
			admin_run_sql(psprintf("DROP TABLE %s", admin_relation_sql_name(r->relid)),
						  0, NULL, NULL, SPI_OK_UTILITY);
			counts->partitions_dropped++;
		}
		else
			kept = lappend(kept, r);
	}

	default_part = ensure_default_partition(parent);

	/* Rows in the default partition past retention go as their partition would. */
	{
		Oid			argtypes[1] = {bound_type(spec)};
		Datum		values[1] = {Int64GetDatum(keep_from)};

		run_dml_as_owner(parent,
						 psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.<) $1"
								  " AND tableoid OPERATOR(pg_catalog.=) %u",
								  admin_relation_sql_name(parent), quote_identifier(keycol),
								  default_part),
						 1, argtypes, values, SPI_OK_DELETE);
	}

	/* The rest move to partitions of their own, range by range. */
	lo = keep_from;
	for (int moves = 0; moves < MAX_MOVES_PER_PASS; moves++)
	{
		int64		key;
		int64		start;
		int64		end;

		if (!min_key_from(default_part, keycol, spec, lo, &key))
			break;
		start = bucket_start(spec, key);
		end = bucket_end(spec, start);
		if (!overlaps_any(kept, start, end))
		{
			QueuePartRange *r = palloc(sizeof(QueuePartRange));

			hold_off_sends(parent, &held);
			create_partition(parent, keycol, spec, start, end, default_part);
			counts->partitions_created++;
			r->relid = InvalidOid;
			r->lo = start;
			r->hi = end;
			kept = lappend(kept, r);
		}
		lo = end;
	}

	/* The current partition and `premake` ahead of it. */
	lo = bucket_start(spec, current);
	for (int i = 0; i <= premake; i++)
	{
		int64		end = bucket_end(spec, lo);

		if (!overlaps_any(kept, lo, end))
		{
			QueuePartRange *r = palloc(sizeof(QueuePartRange));

			hold_off_sends(parent, &held);
			create_partition(parent, keycol, spec, lo, end, default_part);
			counts->partitions_created++;
			r->relid = InvalidOid;
			r->lo = lo;
			r->hi = end;
			kept = lappend(kept, r);
		}
		lo = end;
	}
}

/* The last msg_id the queue's identity sequence gave out (0 if none). */
static int64
last_msg_id(const char *queue_name)
{
	Oid			qrel = queue_relation_oid(queue_name, "q");
	Oid			seq = OidIsValid(qrel) ? queue_identity_sequence(qrel) : InvalidOid;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(seq)};
	bool		isnull;
	Datum		d;

	if (!OidIsValid(seq))
		return 0;
	admin_run_sql("SELECT pg_catalog.pg_sequence_last_value($1)", 1, argtypes, values, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

static char *
spi_text(uint64 row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

/*
 * Upkeep of the queue's partitioned tables (queue and archive, whichever
 * pgmq.partition_config lists): partitions made ahead of use, partitions
 * past retention dropped, rows that fell into a default partition moved to
 * partitions of their own.  Adds what it did to `counts`.
 *
 * Runs in the caller's transaction; the maintenance pass gives it a
 * subtransaction and a short lock_timeout.  A queue with no partitioned
 * table is left alone.  A partition detached by hand is no longer the
 * queue's: it is neither dropped nor counted, and rows of its range go to
 * the default partition until upkeep makes them a new partition.
 */
void
partitions_maintain(const char *queue_name, MaintenanceCounts *counts)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(queue_name)};
	SPITupleTable *config;
	uint64		nconfig;

	SPI_connect();
	admin_run_sql("SELECT queue_name, table_kind, partition_column, partition_interval,"
				  " retention_interval, premake FROM pgmq.partition_config"
				  " WHERE pg_catalog.lower(queue_name) OPERATOR(pg_catalog.=) pg_catalog.lower($1)"
				  " ORDER BY table_kind DESC",
				  1, argtypes, values, SPI_OK_SELECT);
	config = SPI_tuptable;
	nconfig = SPI_processed;
	for (uint64 i = 0; i < nconfig; i++)
	{
		char	   *name;
		char	   *kind;
		char	   *keycol;
		QueuePartSpec spec;
		int			premake;
		Oid			relid;
		int64		current;
		int64		cutoff;

		SPI_tuptable = config;
		name = spi_text(i, 1);
		kind = spi_text(i, 2);
		keycol = spi_text(i, 3);
		spec = parse_spec(spi_text(i, 4), spi_text(i, 5));
		premake = pg_strtoint32(spi_text(i, 6));

		relid = queue_relation_oid(name, strcmp(kind, "archive") == 0 ? "a" : "q");
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"%s.%s\" does not exist", PGMQ_SCHEMA,
							queue_table_name(shown_input(name), strcmp(kind, "archive") == 0 ? "a" : "q")),
					 errdetail("Queue \"%s\" is registered as partitioned.", shown_input(name))));
		if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" is not partitioned", admin_relation_sql_name(relid)),
					 errdetail("Queue \"%s\" is registered with a partitioned %s.", name, kind)));

		if (spec.by_time)
		{
			current = GetCurrentTransactionStartTimestamp();
			cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
															 TimestampTzGetDatum(current),
															 IntervalPGetDatum(&spec.keep_time)));
		}
		else
		{
			current = last_msg_id(name);
			cutoff = current > PG_INT64_MIN + spec.keep_ids ? current - spec.keep_ids : PG_INT64_MIN;
		}
		maintain_table(relid, keycol, &spec, premake, current, cutoff, counts);
	}
	SPI_finish();
}

/*
 * The default partition of `relid` when it is a partitioned table with one
 * that this role may read, else InvalidOid: metrics then reports
 * default_partition_length as NULL, as pgmq does for non-partitioned queues.
 * (Partitions do not inherit the parent's grants.)
 */
Oid
partitions_readable_default(Oid relid)
{
	Oid			default_part;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return InvalidOid;
	default_part = get_default_partition_oid(relid);
	if (!OidIsValid(default_part) ||
		pg_class_aclcheck(default_part, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return InvalidOid;
	return default_part;
}

/*
 * Rows in the default partition of `relid` counted on their own (metrics'
 * default_partition_length, when a pass over the queue table cannot count
 * them); *isnull as for partitions_readable_default.
 */
int64
partitions_default_length(Oid relid, bool *isnull)
{
	Oid			default_part = partitions_readable_default(relid);
	int64		count;
	bool		null;

	*isnull = true;
	if (!OidIsValid(default_part))
		return 0;
	SPI_connect();
	admin_run_sql(psprintf("SELECT pg_catalog.count(*) FROM %s", admin_relation_sql_name(default_part)),
				  0, NULL, NULL, SPI_OK_SELECT);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
	SPI_finish();
	*isnull = false;
	return count;
}

/*
 * A partitioned table pgmq.<prefix>_<name>: the existing one if it may be
 * adopted (partitioned by range of `keycol`, owned by the caller, the
 * queue's layout), else a new one.
 */
static Oid
partitioned_table(const char *name, const char *prefix, const char *what, bool archive,
				  const char *keycol)
{
	static const char *const queue_ddl =
	"CREATE TABLE %s ("
	" msg_id bigint GENERATED BY DEFAULT AS IDENTITY,"
	" read_ct integer NOT NULL DEFAULT 0,"
	" enqueued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	" last_read_at pg_catalog.timestamptz,"
	" vt pg_catalog.timestamptz NOT NULL,"
	" message pg_catalog.jsonb,"
	" headers pg_catalog.jsonb) PARTITION BY RANGE (%s)";
	static const char *const archive_ddl =
	"CREATE TABLE %s ("
	" msg_id bigint NOT NULL,"
	" read_ct integer NOT NULL DEFAULT 0,"
	" enqueued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	" last_read_at pg_catalog.timestamptz,"
	" archived_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	" vt pg_catalog.timestamptz NOT NULL,"
	" message pg_catalog.jsonb,"
	" headers pg_catalog.jsonb) PARTITION BY RANGE (%s)";
	Oid			relid = queue_relation_oid(name, prefix);
	int			ncolumns;
	const QueueColumn *layout = admin_table_layout(archive, &ncolumns);

	if (OidIsValid(relid))
	{
		Relation	rel;
		PartitionKey key;
		bool		ok;

		queue_check_adoptable_kind(relid, what, layout, ncolumns, RELKIND_PARTITIONED_TABLE);
		rel = relation_open(relid, AccessShareLock);
		key = RelationGetPartitionKey(rel);
		ok = key->strategy == PARTITION_STRATEGY_RANGE && key->partnatts == 1 &&
			key->partattrs[0] == get_attnum(relid, keycol);
		relation_close(rel, NoLock);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("table \"%s\" already exists and is not partitioned by range of %s",
							admin_relation_sql_name(relid), keycol),
					 errhint("Drop or rename it, or choose another partition_interval.")));
		return relid;
	}
	admin_run_sql(psprintf(archive ? archive_ddl : queue_ddl,
						   quote_qualified_identifier(PGMQ_SCHEMA, queue_table_name(name, prefix)),
						   quote_identifier(keycol)),
				  0, NULL, NULL, SPI_OK_UTILITY);
	return queue_relation_oid(name, prefix);
}

static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	arg_not_null(fcinfo, argno, argname);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Record how a table of the queue is partitioned (a second call updates it). */
static void
save_config(const char *name, const char *kind, const char *keycol, const char *partition_interval,
			const char *retention_interval, int32 premake)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[6] = {
		CStringGetTextDatum(name), CStringGetTextDatum(kind), CStringGetTextDatum(keycol),
		CStringGetTextDatum(partition_interval), CStringGetTextDatum(retention_interval),
		Int32GetDatum(premake)
	};

	admin_run_sql("INSERT INTO pgmq.partition_config (queue_name, table_kind, partition_column,"
				  " partition_interval, retention_interval, premake)"
				  " VALUES ($1, $2, $3, $4, $5, $6)"
				  " ON CONFLICT (queue_name, table_kind) DO UPDATE SET"
				  " partition_column = EXCLUDED.partition_column,"
				  " partition_interval = EXCLUDED.partition_interval,"
				  " retention_interval = EXCLUDED.retention_interval,"
				  " premake = EXCLUDED.premake",
				  6, argtypes, values, SPI_OK_INSERT);
}

/* Whether meta registers the queue as partitioned (false if not registered). */
static bool
registered_partitioned(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	admin_run_sql("SELECT is_partitioned FROM pgmq.meta WHERE queue_name OPERATOR(pg_catalog.=) $1",
				  1, argtypes, values, SPI_OK_SELECT);
	return SPI_processed > 0 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * How many partitions upkeep makes ahead of use (premake,
 * leading_partition): at least 1, and at most PARTITIONS_AHEAD_MAX, since
 * each pass makes them all at once and a typo of a few zeroes would have it
 * create partitions for hours.
 */
#define PARTITIONS_AHEAD_MAX 1000

static int32
partitions_ahead_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int32		ahead;

	arg_not_null(fcinfo, argno, what);
	ahead = PG_GETARG_INT32(argno);
	if (ahead < 1 || ahead > PARTITIONS_AHEAD_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d, got %d", what, PARTITIONS_AHEAD_MAX, ahead)));
	return ahead;
}

/*
 * pgmq.create_partitioned(queue_name, partition_interval, retention_interval,
 * premake): a queue whose table and archive are range-partitioned, with a
 * default partition and `premake` partitions made ahead.  Idempotent: for a
 * queue that is already partitioned, nothing changes.
 */
static Datum
create_partitioned_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	char	   *partition_interval = text_arg(fcinfo, 1, "partition_interval");
	char	   *retention_interval = text_arg(fcinfo, 2, "retention_interval");
	int32		premake;
	QueuePartSpec spec;
	const char *keycol;
	const char *akeycol;
	char	   *qtable;
	Oid			qrel;
	Oid			arel;
	bool		registered;
	MaintenanceCounts counts;

	premake = partitions_ahead_arg(fcinfo, 3, "premake");
	spec = parse_spec(partition_interval, retention_interval);
	keycol = spec.by_time ? "enqueued_at" : "msg_id";
	akeycol = spec.by_time ? "archived_at" : "msg_id";
	registered = admin_begin_create(name, &qrel, &arel);
	if (registered && OidIsValid(qrel) && OidIsValid(arel))
	{
		if (!registered_partitioned(name))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("queue \"%s\" already exists and is not partitioned", name),
					 errhint("Drop the queue first to re-create it partitioned; convert_archive_partitioned converts only its archive.")));
		SPI_finish();
		PG_RETURN_VOID();
	}

	qrel = partitioned_table(name, "q", "queue table", false, keycol);
	arel = partitioned_table(name, "a", "archive table", true, akeycol);
	(void) ensure_default_partition(qrel);
	(void) ensure_default_partition(arel);

	/* msg_id finds a message and orders the head; vt finds the visible. */
	qtable = queue_table_name(name, "q");
	admin_ensure_index(qrel, "msg_id", spec.by_time ? NULL : psprintf("%s_part_idx", qtable));
	if (spec.by_time)
		admin_ensure_index(qrel, "enqueued_at", psprintf("%s_part_idx", qtable));
	admin_ensure_index(qrel, "vt", psprintf("%s_vt_idx", qtable));
	admin_ensure_index(arel, "archived_at", psprintf("archived_at_idx_%s", name));
	admin_ensure_index(arel, "msg_id", NULL);

	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(name)};

		if (registered)
			admin_run_sql("UPDATE pgmq.meta SET is_partitioned = true"
						  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
						  1, argtypes, values, SPI_OK_UPDATE);
		else
			admin_run_sql("INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)"
						  " VALUES ($1, true, false) ON CONFLICT (queue_name) DO NOTHING",
						  1, argtypes, values, SPI_OK_INSERT);
	}
	save_config(name, "queue", keycol, partition_interval, retention_interval, premake);
	save_config(name, "archive", akeycol, partition_interval, retention_interval, premake);

	memset(&counts, 0, sizeof(counts));
	partitions_maintain(name, &counts);
	SPI_finish();
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_create_partitioned, create_partitioned_body, 0, QUEUE_ACCESS_MANAGE)

/*
 * pgmq.convert_archive_partitioned(table_name, partition_interval,
 * retention_interval, leading_partition): as in pgmq, the queue's archive
 * table is renamed a_<name>_old (its rows stay there) and a partitioned
 * archive takes its place, with `leading_partition` partitions made ahead.
 * An archive that is already partitioned, or missing, gets a NOTICE.
 */
static Datum
convert_archive_partitioned_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	char	   *partition_interval = text_arg(fcinfo, 1, "partition_interval");
	char	   *retention_interval = text_arg(fcinfo, 2, "retention_interval");
	int32		leading;
	QueuePartSpec spec;
	const char *akeycol;
	char	   *old_name;
	Oid			arel;
	MaintenanceCounts counts;

	leading = partitions_ahead_arg(fcinfo, 3, "leading_partition");
	spec = parse_spec(partition_interval, retention_interval);
	akeycol = spec.by_time ? "archived_at" : "msg_id";
	queue_lock(name);
	queue_table_lock(name);

	arel = queue_relation_oid(name, "a");
	if (!OidIsValid(arel))
	{
		ereport(NOTICE,
				(errmsg("table \"%s.%s\" does not exist", PGMQ_SCHEMA,
						queue_table_name(shown_input(name), "a"))));
		PG_RETURN_VOID();
	}
	if (get_rel_relkind(arel) == RELKIND_PARTITIONED_TABLE)
	{
		ereport(NOTICE,
				(errmsg("table \"%s\" is already partitioned", admin_relation_sql_name(arel))));
		PG_RETURN_VOID();
	}

	SPI_connect();
	if (!admin_queue_registered(name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("queue \"%s\" does not exist", shown_input(name)),
				 errdetail("Table %s exists, but pgmq.meta has no queue of that name.",
						   admin_relation_sql_name(arel))));
	old_name = psprintf("%s_old", queue_table_name(name, "a"));
	if (strlen(old_name) >= NAMEDATALEN ||
		OidIsValid(get_relname_relid(old_name, get_rel_namespace(arel))))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("cannot rename table \"%s\" to \"%s\"", admin_relation_sql_name(arel), old_name),
				 errdetail(strlen(old_name) >= NAMEDATALEN ? "The name is too long." : "A relation of that name exists."),
				 errhint("Drop or rename it first.")));
	/* Only an archive as create made it, owned by the caller, is converted. */
	{
		int			ncolumns;
		const QueueColumn *layout = admin_table_layout(true, &ncolumns);

		queue_check_adoptable_kind(arel, "archive table", layout, ncolumns, RELKIND_RELATION);
	}
	admin_run_sql(psprintf("ALTER TABLE %s RENAME TO %s", admin_relation_sql_name(arel),
						   quote_identifier(old_name)),
				  0, NULL, NULL, SPI_OK_UTILITY);

	arel = partitioned_table(name, "a", "archive table", true, akeycol);
	(void) ensure_default_partition(arel);
	admin_ensure_index(arel, "archived_at", psprintf("archived_at_idx_%s", name));
	admin_ensure_index(arel, "msg_id", NULL);
	save_config(name, "archive", akeycol, partition_interval, retention_interval, leading);

	memset(&counts, 0, sizeof(counts));
	partitions_maintain(name, &counts);
	SPI_finish();
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_convert_archive_partitioned, convert_archive_partitioned_body, 0, QUEUE_ACCESS_MANAGE)

PG_FUNCTION_INFO_V1(pgmq_c_get_partition_col);

/*
 * pgmq._get_partition_col(partition_interval): 'msg_id' when the interval
 * reads as an integer, else 'enqueued_at' (pgmq's rule, NULL included).
 */
Datum
pgmq_c_get_partition_col(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || interval_is_numeric(text_to_cstring(PG_GETARG_TEXT_PP(0))))
		PG_RETURN_TEXT_P(cstring_to_text("msg_id"));
	PG_RETURN_TEXT_P(cstring_to_text("enqueued_at"));
}

PG_FUNCTION_INFO_V1(pgmq_c_maintain_partitions);

/*
 * pgmq._maintain_partitions(queue_name): one upkeep of the queue's
 * partitions now, in the caller's transaction; returns what it did.
 * Internal: the maintenance pass does the same for every queue.
 */
Datum
pgmq_c_maintain_partitions(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	MaintenanceCounts counts;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_maintain_partitions must return a row type");
	if (!OidIsValid(queue_relation_oid(name, "q")))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", PGMQ_SCHEMA,
						queue_table_name(shown_input(name), "q"))));
	memset(&counts, 0, sizeof(counts));
	partitions_maintain(name, &counts);
	values[0] = Int64GetDatum(counts.partitions_created);
	values[1] = Int64GetDatum(counts.partitions_dropped);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
