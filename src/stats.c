/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Per-queue statistics: counters in shared memory, rates over the
 *		last minute, pgmq.queue_stats and pgmq.stats_reset, and keeping
 *		the counters across a clean restart.
 *
 * The counters live in the queue's slot (queue_slot.h).  A transaction's
 * sends, reads, deletes, archives, pops, dead-letter moves, expiries and
 * redrives are gathered per queue by queue_events.c and added here when it
 * commits, so rolled-back work never counts.  Each database's worker
 * samples the sent and read counters every few seconds; the rates are the
 * growth since the sample closest to a minute ago.
 *
 * At a clean shutdown the postmaster writes the counters to
 * pg_stat/pgmq_c.stat and reads them back at the next start, deleting the
 * file; after a crash there is no file, every queue starts from zero, and
 * stats_reset says since when (as pg_stat_statements does).
 *
 * Without pgmq_c preloaded, and for queues beyond max_tracked_queues,
 * queue_stats shows the depth columns and NULL counters.
 *
 *-------------------------------------------------------------------------
 */
#include "queue_slot.h"

#include "catalog/pg_control.h"
#include "catalog/pg_type.h"
#include "common/controldata_utils.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define STATS_FILE			PGSTAT_STAT_PERMANENT_DIRECTORY "/pgmq_c.stat"
#define STATS_FILE_MAGIC	0x70676d71	/* "pgmq" */
#define STATS_FILE_VERSION	1

/* Rates look back this far. */
#define RATE_WINDOW_MS		60000

/* Setting: count at all (see README.md, "Monitoring"). */
static bool track_stats = true;

/* One queue's counters as the file keeps them. */
typedef struct SavedCounters
{
	QueueSlotKey key;
	int64		counters[QUEUE_NCOUNTERS];
	TimestampTz stats_reset;
} SavedCounters;

/* ---------------------------------------------------------------------
 * Counting
 * ---------------------------------------------------------------------
 */

void
stats_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomBoolVariable("pgmq_c.track_stats",
							 "Counts sends, reads, deletes, ... per queue for pgmq.queue_stats.",
							 NULL,
							 &track_stats,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* Are counts kept? (queue_events.c gathers none otherwise.) */
bool
stats_tracking(void)
{
	return track_stats && queue_slots_enabled();
}

/* A committed transaction's counts for one queue (see queue_events.c). */
void
stats_add(Oid relid, const int64 *counts)
{
	QueueSlot  *slot;
	bool		any = false;

	for (int i = 0; i < QUEUE_NCOUNTERS; i++)
		any |= counts[i] != 0;
	if (!any || !queue_slots_enabled())
		return;
	slot = queue_slot_acquire(relid, true);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		for (int i = 0; i < QUEUE_NCOUNTERS; i++)
			slot->counters[i] += counts[i];
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();
}

/*
 * The worker of this database: take a sample of each queue's sent and read
 * counters, at most one per RATE_SAMPLE_SPACING_MS.
 */
void
stats_sample_rates(void)
{
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS seq;
	QueueSlot  *slot;

	if (!queue_slots_enabled())
		return;
	queue_slots_begin_scan(&seq, LW_SHARED, true);
	while ((slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
	{
		RateSample *last;

		if (slot->key.dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&slot->mutex);
		last = &slot->samples[(slot->next_sample + RATE_SAMPLES - 1) % RATE_SAMPLES];
		if (last->at == 0 || now - last->at >= (TimestampTz) RATE_SAMPLE_SPACING_MS * 1000)
		{
			RateSample *s = &slot->samples[slot->next_sample];

			s->at = now;
			s->sent = slot->counters[QUEUE_SENT];
			s->read = slot->counters[QUEUE_READ];
			slot->next_sample = (slot->next_sample + 1) % RATE_SAMPLES;
		}
		SpinLockRelease(&slot->mutex);
	}
	queue_slots_end_scan(true);
}

static void
reset_slot(QueueSlot *slot, TimestampTz now)
{
	SpinLockAcquire(&slot->mutex);
	memset(slot->counters, 0, sizeof(slot->counters));
	memset(slot->samples, 0, sizeof(slot->samples));
	slot->next_sample = 0;
	slot->stats_reset = now;
	SpinLockRelease(&slot->mutex);
}

/* Errors out when there is no shared memory to keep statistics in. */
static void
require_shared_memory(void)
{
	if (!queue_slots_enabled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgmq_c statistics need shared memory"),
				 errhint("Add pgmq_c to shared_preload_libraries and restart the server.")));
}

PG_FUNCTION_INFO_V1(pgmq_c_stats_reset);

/* pgmq.stats_reset(queue_name DEFAULT NULL): one queue, or every queue here. */
Datum
pgmq_c_stats_reset(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();

	require_shared_memory();
	if (PG_ARGISNULL(0))
	{
		HASH_SEQ_STATUS seq;
		QueueSlot  *slot;

		queue_slots_begin_scan(&seq, LW_SHARED, true);
		while ((slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
			if (slot->key.dboid == MyDatabaseId)
				reset_slot(slot, now);
		queue_slots_end_scan(true);
	}
	else
	{
		char	   *name = queue_name_from_arg(fcinfo, 0);
		Oid			relid = queue_relation_oid(name, "q");
		QueueSlot  *slot;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"%s.%s\" does not exist", PGMQ_SCHEMA,
							queue_table_name(shown_input(name), "q"))));
		slot = queue_slot_acquire(relid, false);
		if (slot != NULL)
			reset_slot(slot, now);
		queue_slot_release();
	}
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * queue_stats
 * ---------------------------------------------------------------------
 */

/* What queue_stats shows of a slot, copied out under its spinlock. */
typedef struct SlotView
{
	bool		tracked;
	int64		counters[QUEUE_NCOUNTERS];
	TimestampTz stats_reset;
	bool		have_rates;
	double		send_rate;
	double		read_rate;
} SlotView;

static void
slot_view(Oid relid, TimestampTz now, SlotView *view)
{
	QueueSlot  *slot;
	RateSample	base = {0};

	memset(view, 0, sizeof(*view));
	if (!queue_slots_enabled())
		return;
	/* Tracked from now on if there is room: counting starts at zero. */
	slot = queue_slot_acquire(relid, true);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		view->tracked = true;
		memcpy(view->counters, slot->counters, sizeof(view->counters));
		view->stats_reset = slot->stats_reset;
		/* the oldest sample within the window (and a spacing's slack) */
		for (int i = 0; i < RATE_SAMPLES; i++)
		{
			RateSample *s = &slot->samples[i];

			if (s->at != 0 &&
				now - s->at <= (TimestampTz) (RATE_WINDOW_MS + RATE_SAMPLE_SPACING_MS) * 1000 &&
				(base.at == 0 || s->at < base.at))
				base = *s;
		}
		SpinLockRelease(&slot->mutex);
	}
	queue_slot_release();

	/* At least a second between the sample and now, or no rate yet. */
	if (base.at != 0 && now - base.at >= USECS_PER_SEC)
	{
		double		seconds = (double) (now - base.at) / USECS_PER_SEC;

		view->have_rates = true;
		view->send_rate = (double) (view->counters[QUEUE_SENT] - base.sent) / seconds;
		view->read_rate = (double) (view->counters[QUEUE_READ] - base.read) / seconds;
	}
}

/*
 * Run one of the queue's statistics plans as the owner of its table: the
 * caller (pg_monitor) need not be able to read the queue's contents.
 */
static uint64
execute_as_owner(QueueCacheEntry *entry, QueuePlan which, Datum *values)
{
	Oid			save_userid;
	int			save_sec_context;
	uint64		n;

	queue_become_owner(queue_cache_relid(entry), &save_userid, &save_sec_context);
	n = queue_execute(entry, which, values, NULL);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return n;
}

/* metrics_depth, as the owner of the queue table (see execute_as_owner). */
static bool
depth_as_owner(Oid relid, TimestampTz now, QueueDepth *depth)
{
	Oid			save_userid;
	int			save_sec_context;
	bool		done;

	queue_become_owner(relid, &save_userid, &save_sec_context);
	done = metrics_depth(relid, now, depth);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return done;
}

/* Rows in the archive and its partitions, as the last ANALYZE or VACUUM saw. */
static SPIPlanPtr
archive_estimate_plan(void)
{
	Oid			argtypes[1] = {OIDOID};
	SPIPlanPtr	plan = SPI_prepare("SELECT pg_catalog.sum(GREATEST(c.reltuples, 0))::pg_catalog.int8"
								   " FROM pg_catalog.pg_class c WHERE c.oid" EQ "$1 OR c.oid" EQ "ANY"
								   " (SELECT i.inhrelid FROM pg_catalog.pg_inherits i"
								   " WHERE i.inhparent" EQ "$1)",
								   1, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

#define QUEUE_STATS_COLS 18

/* One queue's row of queue_stats. */
static void
queue_stats_row(const char *name, const char *dlq, TimestampTz now, SPIPlanPtr estimate,
				Datum *values, bool *nulls)
{
	Oid			relid = queue_relation_oid(name, "q");
	Oid			archive = queue_relation_oid(name, "a");
	Datum		now_arg = TimestampTzGetDatum(now);
	SlotView	view;
	QueueDepth	depth;

	for (int i = 1; i < QUEUE_STATS_COLS; i++)
		nulls[i] = true;
	if (!OidIsValid(relid))
		return;

	/* visible, in_flight, delayed, oldest_visible_age */
	if (depth_as_owner(relid, now, &depth))
	{
		values[1] = Int64GetDatum(depth.visible);
		values[2] = Int64GetDatum(depth.in_flight);
		values[3] = Int64GetDatum(depth.delayed);
		nulls[1] = nulls[2] = nulls[3] = false;
		if (depth.any_visible)
		{
			values[6] = DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
											TimestampTzGetDatum(depth.oldest_visible));
			nulls[6] = false;
		}
	}
	else if (execute_as_owner(queue_cache_lookup(name), QPLAN_DEPTH, &now_arg) == 1)
	{
		values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[1]);
		values[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[2]);
		values[3] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &nulls[3]);
		values[6] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &nulls[6]);
	}
	if (OidIsValid(archive))
	{
		Datum		arg = ObjectIdGetDatum(archive);

		if (SPI_execute_plan(estimate, &arg, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			values[4] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[4]);
	}
	if (dlq != NULL && OidIsValid(queue_relation_oid(dlq, "q")) &&
		execute_as_owner(queue_cache_lookup(dlq), QPLAN_COUNT_ALL, NULL) == 1)
		values[5] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[5]);

	slot_view(relid, now, &view);
	if (!view.tracked)
		return;
	for (int i = 0; i < QUEUE_NCOUNTERS; i++)
	{
		values[7 + i] = Int64GetDatum(view.counters[i]);
		nulls[7 + i] = false;
	}
	if (view.have_rates)
	{
		values[15] = Float8GetDatum(view.send_rate);
		values[16] = Float8GetDatum(view.read_rate);
		nulls[15] = nulls[16] = false;
	}
	values[17] = TimestampTzGetDatum(view.stats_reset);
	nulls[17] = false;
}

PG_FUNCTION_INFO_V1(pgmq_c_queue_stats);

/* pgmq._queue_stats(): the rows of the view pgmq.queue_stats, by name. */
Datum
pgmq_c_queue_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	SPITupleTable *queues;
	uint64		nqueues;
	SPIPlanPtr	estimate;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	estimate = archive_estimate_plan();
	result_run_sql("SELECT m.queue_name::pg_catalog.text, p.dead_letter_queue::pg_catalog.text"
				   " FROM pgmq.meta m LEFT JOIN pgmq.queue_policy p"
				   " ON p.queue_name" EQ "m.queue_name ORDER BY m.queue_name",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);
	queues = SPI_tuptable;
	nqueues = SPI_processed;
	for (uint64 i = 0; i < nqueues; i++)
	{
		char	   *name = SPI_getvalue(queues->vals[i], queues->tupdesc, 1);
		char	   *dlq = SPI_getvalue(queues->vals[i], queues->tupdesc, 2);
		Datum		values[QUEUE_STATS_COLS];
		bool		nulls[QUEUE_STATS_COLS];
		MemoryContext old;

		values[0] = CStringGetTextDatum(name);
		nulls[0] = false;
		queue_stats_row(name, dlq, now, estimate, values, nulls);

		/* into the tuplestore (per-query memory) before SPI memory goes */
		old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_statistics_enabled);

/* pgmq._statistics_enabled(): are counters kept (pgmq_c preloaded)? */
Datum
pgmq_c_statistics_enabled(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(queue_slots_enabled());
}

/* ---------------------------------------------------------------------
 * Across restarts
 * ---------------------------------------------------------------------
 */

/*
 * Did the server just shut down cleanly?  The postmaster exits with code 0
 * after an immediate shutdown too; pg_control tells them apart (the
 * shutdown checkpoint has been written, or not).
 */
static bool
shut_down_cleanly(void)
{
	bool		crc_ok;
	ControlFileData *control = get_controlfile(DataDir, &crc_ok);

	return crc_ok && (control->state == DB_SHUTDOWNED ||
					  control->state == DB_SHUTDOWNED_IN_RECOVERY);
}

/*
 * At a clean shutdown, in the postmaster, the last process: write every
 * live queue's counters, through a temporary file renamed into place.
 */
static void
stats_save(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS seq;
	QueueSlot  *slot;
	uint32		header[2] = {STATS_FILE_MAGIC, STATS_FILE_VERSION};
	bool		ok;

	if (code != 0 || !queue_slots_enabled() || !shut_down_cleanly())
		return;
	file = AllocateFile(STATS_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	ok = fwrite(header, sizeof(header), 1, file) == 1;
	queue_slots_begin_scan(&seq, LW_SHARED, false);
	while (ok && (slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
	{
		SavedCounters saved;

		if (slot->dropped)
			continue;
		saved.key = slot->key;
		memcpy(saved.counters, slot->counters, sizeof(saved.counters));
		saved.stats_reset = slot->stats_reset;
		ok = fwrite(&saved, sizeof(saved), 1, file) == 1;
	}
	if (!ok)
		hash_seq_term(&seq);
	queue_slots_end_scan(false);
	if (FreeFile(file) != 0 || !ok)
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(STATS_FILE ".tmp", STATS_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", STATS_FILE ".tmp")));
	if (file != NULL)
		FreeFile(file);
	unlink(STATS_FILE ".tmp");
}

/* At start, in the postmaster: the counters of the last clean shutdown. */
static void
stats_load(void)
{
	FILE	   *file = AllocateFile(STATS_FILE, PG_BINARY_R);
	uint32		header[2];
	SavedCounters saved;
	int			kept = 0;

	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", STATS_FILE)));
		return;
	}
	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != STATS_FILE_MAGIC || header[1] != STATS_FILE_VERSION)
		ereport(LOG,
				(errmsg("ignoring file \"%s\": not pgmq_c statistics of this version",
						STATS_FILE)));
	else
	{
		while (fread(&saved, sizeof(saved), 1, file) == 1)
		{
			QueueSlot  *slot = queue_slots_make(&saved.key);

			if (slot == NULL)
				break;			/* max_tracked_queues was lowered */
			memcpy(slot->counters, saved.counters, sizeof(saved.counters));
			slot->stats_reset = saved.stats_reset;
			kept++;
		}
	}
	FreeFile(file);
	/* A crash from here on must not bring back what is counted again. */
	unlink(STATS_FILE);
	if (kept > 0)
		elog(DEBUG1, "pgmq_c: statistics of %d queues restored", kept);
}

/*
 * Called from the shared memory startup hook.  Only the postmaster (or a
 * single-user backend) loads and saves: backends started with EXEC_BACKEND
 * attach to what is there.
 */
void
stats_shmem_startup(void)
{
	if (IsUnderPostmaster)
		return;
	on_shmem_exit(stats_save, (Datum) 0);
	stats_load();
}
