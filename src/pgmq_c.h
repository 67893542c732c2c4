/*-------------------------------------------------------------------------
 *
 * pgmq_c.h
 *		Declarations shared between the parts of pgmq_c.
 *
 * Each .c file owns one concern (see README.md, "Code map"); this header
 * is the small surface they use of one another.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGMQ_C_H
#define PGMQ_C_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#include "compat.h"

/* All pgmq objects live here (pgmq_c.control: schema = 'pgmq'). */
#define PGMQ_SCHEMA "pgmq"

/*
 * Queue names: "archived_at_idx_" plus the name must fit in NAMEDATALEN-1
 * bytes, which is where pgmq's 47 comes from.
 */
#define PGMQ_MAX_QUEUE_NAME_LEN 47

/*
 * Pieces of SQL text prepared in C.  It runs under the caller's
 * search_path, so operators are spelled schema-qualified.
 */
#define EQ " OPERATOR(pg_catalog.=) "
#define LE " OPERATOR(pg_catalog.<=) "
#define OP_GE " OPERATOR(pg_catalog.>=) "
#define OP_LT " OPERATOR(pg_catalog.<) "
#define NOW_CLOCK "pg_catalog.clock_timestamp()"

/*
 * A message's FIFO group, as pgmq defines it.  The index create_fifo_index
 * makes is on exactly this expression (and msg_id), so the planner matches
 * the two: keep them one text.
 */
#define FIFO_GROUP \
	"COALESCE(headers OPERATOR(pg_catalog.->>) 'x-pgmq-group', '_default_fifo_group')"
#define FIFO_INDEX_SUFFIX "_group_idx"

/* queue_name.c: validating names and deriving table names */
extern char *queue_name_from_arg(FunctionCallInfo fcinfo, int argno);
extern void queue_name_check_chars(const char *name);
extern void queue_name_check_length(const char *name);
extern char *queue_table_name(const char *name, const char *prefix);
extern char *shown_prefix(const char *text, bool *cut);
extern char *shown_input(const char *text);
extern void queue_report_missing(const char *name) pg_attribute_noreturn();
extern void queue_lock(const char *name);
extern void queue_table_lock(const char *name);

/* queue_catalog.c: a queue's relations, as the catalog has them */
typedef struct QueueColumn
{
	const char *name;
	Oid			type;
	bool		identity;		/* must be an identity column */
} QueueColumn;

extern Oid	queue_relation_oid(const char *name, const char *prefix);
extern Oid	queue_identity_sequence(Oid relid);
extern bool queue_has_index_on(Oid relid, const char *column);
extern bool queue_has_group_index(Oid relid, const char *name);
extern void queue_check_adoptable(Oid relid, const char *what, const QueueColumn *layout,
								  int ncolumns);
extern void queue_become_owner(Oid relid, Oid *save_userid, int *save_sec_context);
extern void queue_check_adoptable_kind(Oid relid, const char *what, const QueueColumn *layout,
									   int ncolumns, char relkind);

/*
 * refusal.c: a privilege error (42501) names the queue, and the hint says
 * how to get access.  refusal_rethrow is for PG_CATCH blocks around a
 * queue's statements.
 */
typedef enum QueueAccess
{
	QUEUE_ACCESS_SEND,			/* grant_queue(..., 'send') */
	QUEUE_ACCESS_CONSUME,		/* grant_queue(..., 'consume') */
	QUEUE_ACCESS_METRICS,		/* grant_queue(..., 'all') */
	QUEUE_ACCESS_MOVE,			/* redrive, replay: consume here, send there */
	QUEUE_ACCESS_MANAGE			/* the owner's rights: create, drop, purge, policy */
} QueueAccess;

extern void refusal_raise(const char *queue_name, QueueAccess access, const char *why)
			pg_attribute_noreturn();
extern void refusal_rethrow(const char *queue_name, QueueAccess access, MemoryContext context)
			pg_attribute_noreturn();

/*
 * fn, the SQL-callable function: body (PG_FUNCTION_ARGS), its privilege
 * errors naming the queue given as argument argno (as given, unchecked:
 * body checks its arguments, in its own order).
 */
#define QUEUE_FUNCTION_NAMING_REFUSALS(fn, body, argno, access) \
	PG_FUNCTION_INFO_V1(fn); \
	Datum \
	fn(PG_FUNCTION_ARGS) \
	{ \
		char	   *queue_; \
		Datum		result_; \
		\
		if (PG_ARGISNULL(argno)) \
			return body(fcinfo); \
		queue_ = text_to_cstring(PG_GETARG_TEXT_PP(argno)); \
		REFUSALS_NAME_QUEUE(queue_, (access), result_ = body(fcinfo)); \
		return result_; \
	}

/* Run `statement`; a privilege error it raises names the queue. */
#define REFUSALS_NAME_QUEUE(queue_name, access, statement) \
	do { \
		MemoryContext refusal_context_ = CurrentMemoryContext; \
		PG_TRY(); \
		{ \
			statement; \
		} \
		PG_CATCH(); \
		{ \
			refusal_rethrow((queue_name), (access), refusal_context_); \
		} \
		PG_END_TRY(); \
	} while (0)

/* admin.c: helpers partitions.c shares with create */
extern void admin_run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values, int expected);
extern char *admin_relation_sql_name(Oid relid);
extern bool admin_begin_create(const char *name, Oid *qrel, Oid *arel);
extern bool admin_queue_registered(const char *name);
extern void admin_ensure_index(Oid relid, const char *column, const char *preferred);
extern const QueueColumn *admin_table_layout(bool archive, int *ncolumns);

/*
 * queue_cache.c: per-backend knowledge of each queue and the plans that
 * work on it.  Each plan is prepared once per backend per queue, kept with
 * SPI_keepplan, and found again through this cache.
 */
typedef enum QueuePlan
{
	QPLAN_SEND,
	QPLAN_SEND_WITH_ID,
	QPLAN_SEND_BATCH_WITH_IDS,
	QPLAN_SEND_BATCH,
	QPLAN_READ,
	QPLAN_READ_CONDITIONAL,
	QPLAN_POP,
	QPLAN_DELETE,
	QPLAN_DELETE_BATCH,
	QPLAN_ARCHIVE,
	QPLAN_ARCHIVE_BATCH,
	QPLAN_SET_VT,
	QPLAN_SET_VT_BATCH,
	QPLAN_METRICS,
	QPLAN_METRICS_PARTITIONED,
	/* queues with max_receives: exhausted messages go to the dead letters */
	QPLAN_READ_DLQ,
	QPLAN_READ_CONDITIONAL_DLQ,
	QPLAN_POP_DLQ,
	QPLAN_NEXT_DUE,
	/* FIFO reads (fifo.c) */
	QPLAN_FIFO_WALK,
	QPLAN_FIFO_HEADS,
	QPLAN_FIFO_FOLLOWERS,
	QPLAN_FIFO_LEASE,
	QPLAN_FIFO_LEASE_DLQ,
	QPLAN_HEAD_PROBE,
	/* queue_stats */
	QPLAN_DEPTH,
	QPLAN_COUNT_ALL,
	/* the maintenance pass */
	QPLAN_MOVE_EXHAUSTED,
	QPLAN_EXPIRE,
	QPLAN_EXPIRE_ARCHIVE,
	QPLAN_COUNT
} QueuePlan;

typedef struct QueueCacheEntry QueueCacheEntry;

extern void queue_cache_init(void);
extern QueueCacheEntry *queue_cache_lookup(const char *name);
extern Oid	queue_cache_sequence(QueueCacheEntry *entry);
extern Oid	queue_cache_relid(QueueCacheEntry *entry);
extern const char *queue_cache_table(QueueCacheEntry *entry);
extern int32 queue_cache_max_receives(QueueCacheEntry *entry);
extern const Interval *queue_cache_dedup_window(QueueCacheEntry *entry);
extern bool queue_cache_group_index(QueueCacheEntry *entry);
extern SPIPlanPtr queue_cache_plan(QueueCacheEntry *entry, QueuePlan which);
extern uint64 queue_execute(QueueCacheEntry *entry, QueuePlan which, Datum *values,
							const char *nulls);

/*
 * send.c: the one way messages get into a queue (send, send_batch,
 * send_topic); the new ids in input order, in the caller's context.
 */
extern int64 *send_messages(QueueCacheEntry *entry, bool batch, Datum msg, bool msg_null,
							Datum headers, bool headers_null, TimestampTz vt, uint64 *n);

/*
 * dedup.c: exactly-once sends.  A message whose headers carry
 * DEDUP_HEADER (a non-empty string of at most DEDUP_ID_MAX_BYTES bytes) is
 * stored at most once per queue within the queue's dedup window; keys live
 * in pgmq.dedup_keys, which only the extension's owner touches.
 */
#define DEDUP_HEADER "x-pgmq-dedup-id"
#define DEDUP_ID_MAX_BYTES 256
#define DEDUP_DEFAULT_WINDOW_SECS 300

extern text *dedup_id_of(Datum headers);
extern void dedup_send(QueueCacheEntry *entry, int nmsgs, Datum *msgs, bool *msgs_null,
					   Datum *headers, bool *headers_null, text **ids, TimestampTz vt,
					   int64 *result, uint64 *inserted);
extern void dedup_forget_queue(const char *name);
extern Datum dedup_queues_with_expired_keys(bool *isnull);
extern int64 dedup_expire_keys(const char *name, int batch, int batches);

/*
 * read.c: read_with_poll's loop, shared with the FIFO reads.  An attempt
 * leases up to qty messages into the function's result and returns how
 * many; *moved is how many it moved to the dead letters.  It runs inside
 * SPI, in a subtransaction read_poll rolls back when nothing came.
 */
typedef uint64 (*ReadAttempt) (FunctionCallInfo fcinfo, QueueCacheEntry *entry,
							   const char *name, int32 qty, int32 vt, void *arg,
							   uint64 *moved);

extern Datum read_poll(FunctionCallInfo fcinfo, const char *name, int32 vt, int32 qty,
					   int32 max_poll_seconds, int32 poll_interval_ms, bool selective,
					   ReadAttempt attempt, void *arg);

/*
 * maintenance.c: one maintenance pass (dead-letter moves, retention, archive
 * retention, partition upkeep), shared by pgmq.run_maintenance() and the
 * background worker.  Each queue is served in its own subtransaction.
 */
typedef struct MaintenanceCounts
{
	int64		moved;			/* dead letters moved out of the queue */
	int64		expired;		/* messages removed by `retention` */
	int64		archive_deleted;	/* archive rows removed by `archive_retention` */
	int64		partitions_created;
	int64		partitions_dropped;
	int64		dedup_keys_expired; /* dedup keys past their window */
} MaintenanceCounts;

/* Called once per queue served, with its counts, or its error message. */
typedef void (*MaintenanceDone) (const char *queue_name, const MaintenanceCounts *counts,
								 const char *error, void *arg);

extern void maintenance_run(const char *only_queue, bool as_owner, MaintenanceDone done,
							void *arg);
extern List *maintenance_queue_names(void);

/* policy.c: queue policies */
extern void policy_dead_letter(const char *name, int32 *max_receives, char **dead_letter_queue);
extern void policy_of_queue(const char *name, int32 *max_receives, char **dead_letter_queue,
							Interval *dedup_window);
extern void policy_check_not_dead_letter_queue(const char *name);

/* worker.c: launcher, per-database maintenance workers, their status */
extern void worker_init(void);
extern void worker_shmem_request(void);
extern void worker_shmem_startup(void);
extern void worker_due_soon(TimestampTz due);

/* metrics.c: queue_stats' depth of a queue in one pass (stats.c) */
typedef struct QueueDepth
{
	int64		visible;
	int64		in_flight;
	int64		delayed;
	bool		any_visible;	/* a visible message has an enqueued_at */
	TimestampTz oldest_visible; /* its min(enqueued_at) */
} QueueDepth;

extern bool metrics_depth(Oid relid, TimestampTz now, QueueDepth *depth);

/* stats.c: per-queue statistics in shared memory, queue_stats, Prometheus */
extern void stats_init(void);
extern bool stats_tracking(void);
extern void stats_shmem_startup(void);
extern void stats_add(Oid relid, const int64 *counts);
extern void stats_sample_rates(void);

/*
 * head_mark.c: the lowest msg_id that may still be live or commit, per
 * queue, in shared memory; picks start there.
 */
extern void head_mark_init(void);
extern int64 head_mark_get(Oid relid);
extern int64 head_mark_round(QueueCacheEntry *entry);

/* queue_vacuum.c: the worker vacuums busy queue tables between autovacuum's visits */
extern void queue_vacuum_init(void);
extern TimestampTz queue_vacuum_round(void);

/* due_notify.c: the worker notifies queues whose delayed messages come due */
extern TimestampTz due_notify_round(void);
extern void due_notify_round_ended(bool committed);

/*
 * wakeup.c: waiting on a queue's slot (read_with_poll sleeps there,
 * commits wake it) and its notify throttle.  Only when preloaded.
 */
typedef enum NotifyClaim
{
	NOTIFY_CLAIMED,				/* notify now; recorded */
	NOTIFY_THROTTLED,			/* notified less than the interval ago */
	NOTIFY_NO_SLOT				/* no shared memory for it: caller decides */
} NotifyClaim;

/* queue_slots.c: the table of tracked queues in shared memory */
extern void queue_slots_init(void);
extern void queue_slots_shmem_request(void);
extern void queue_slots_shmem_startup(void);
extern bool queue_slots_enabled(void);
extern bool queue_slot_exists(Oid relid);
extern void queue_slot_dropped(Oid relid);
extern void queue_slots_forget_dropped(void);
extern void queue_slots_forget_databases(const Oid *dboids, int ndboids,
										 TimestampTz listed_at);

extern bool wakeup_wait_begin(Oid relid, bool conditional);
extern void wakeup_wait_looking(void);
extern void wakeup_wait_sleep(TimestampTz due, TimestampTz deadline);
extern void wakeup_wait_end(bool full_batch);
extern bool wakeup_wait_dropped(void);
extern void wakeup_wait_abort(int nest_level);
extern void wakeup_readable(Oid relid, int64 n);
extern void wakeup_due(Oid relid, TimestampTz due);
extern NotifyClaim wakeup_notify_claim(Oid relid, int32 throttle_ms, TimestampTz now,
									   TimestampTz *prev);
extern void wakeup_notify_unclaim(Oid relid, TimestampTz claimed, TimestampTz prev);
extern void wakeup_notify_reset(Oid relid);
extern TimestampTz wakeup_notified_at(Oid relid);

/*
 * queue_events.c: what this transaction did to each queue, acted on when
 * it ends: wake waiters at commit, NOTIFY just before, give rows back to
 * waiters on abort.
 */
typedef enum QueueCounter
{
	QUEUE_SENT,
	QUEUE_READ,
	QUEUE_DELETED,
	QUEUE_ARCHIVED,
	QUEUE_POPPED,
	QUEUE_DEAD_LETTERED,
	QUEUE_EXPIRED,
	QUEUE_REDRIVEN,
	QUEUE_NCOUNTERS
} QueueCounter;

extern void queue_events_init(void);
extern void queue_events_count(Oid relid, QueueCounter counter, int64 n);
extern void queue_events_rows(Oid relid, int64 n, TimestampTz readable_at, bool held);
extern void queue_events_notify(Oid relid, const char *channel, int32 throttle_ms);
extern bool queue_events_notify_pending(Oid relid);
extern void queue_events_notified(Oid relid);
extern void queue_events_throttle_reset(Oid relid);
extern bool queue_events_touched(Oid relid);

/* partitions.c: native partitioned queues */
extern void partitions_maintain(const char *queue_name, MaintenanceCounts *counts);
extern int64 partitions_default_length(Oid relid, bool *isnull);
extern Oid	partitions_readable_default(Oid relid);

/* args.c: checking and converting arguments shared by several functions */
extern TimestampTz vt_after_seconds(int32 seconds, const char *argname);
extern void check_finite_timestamp(TimestampTz ts, const char *argname);
extern void arg_not_null(FunctionCallInfo fcinfo, int argno, const char *argname);
extern int32 arg_int32_min(FunctionCallInfo fcinfo, int argno, const char *argname, int32 min);
extern TimestampTz arg_finite_timestamp(FunctionCallInfo fcinfo, int argno, const char *argname);
extern TimestampTz arg_visible_at(FunctionCallInfo fcinfo, int argno, bool in_seconds,
								  const char *argname);
extern Datum interval_from_seconds(int32 seconds);

/* untyped.c: giving meaning to parameters that arrived untyped */
extern bool untyped_is_integer(const char *value);
extern bool untyped_is_array_or_object(const char *value);
extern bool untyped_is_json_array(const char *value);
extern Datum untyped_parse(const char *value, Oid typid);
extern Datum untyped_arg_json(FunctionCallInfo fcinfo, int argno, bool typed, Oid typid,
							  bool *isnull);
extern TimestampTz untyped_delay(const char *value, const char *argname);
extern char *untyped_headers_or_delay(char *third, const char *fname, bool batch,
									  Datum *headers, bool *headers_null);

/* result.c: handing SPI results back as function results */
extern void result_begin_set(FunctionCallInfo fcinfo, bool records);
extern void result_check_columns(TupleDesc actual, TupleDesc declared, int first,
								 int ncolumns, const char *detail);
extern void result_add_tuples(FunctionCallInfo fcinfo, SPITupleTable *tuptable, uint64 ntuples);
extern void result_add_int8(FunctionCallInfo fcinfo, int64 value, bool isnull);
extern void result_check_int8_column(SPITupleTable *tuptable);
extern void result_add_int8_column(FunctionCallInfo fcinfo, SPITupleTable *tuptable, uint64 ntuples);
extern uint64 result_execute(SPIPlanPtr plan, Datum *values, const char *nulls);
extern void result_run_sql(const char *sql, int nargs, Oid *argtypes, Datum *values,
						   const char *nulls, int expected);

#endif							/* PGMQ_C_H */
