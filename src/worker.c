/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background worker: a launcher and one maintenance worker per
 *		database that has the extension.
 *
 * Only when pgmq_c is in shared_preload_libraries.  The launcher is a
 * static background worker connected to no database (it reads the shared
 * catalog pg_database, as the autovacuum launcher does).  Every interval it
 * starts a worker for each connectable database, named in
 * pgmq_c.worker_databases or all of them, that has none.  A worker that
 * finds no pgmq_c in its database exits at once; one that finds it claims
 * a status slot in shared memory and runs maintenance_run() every
 * pgmq_c.maintenance_interval until the extension is dropped, the database
 * is left out by the settings, or it is told to stop.  The launcher starts
 * again a worker that died or was terminated.
 *
 * A worker connected to a database would make DROP DATABASE fail ("being
 * accessed by other users": a plain DROP DATABASE signals only autovacuum
 * workers), and so would ALTER DATABASE RENAME / SET TABLESPACE and CREATE
 * DATABASE ... TEMPLATE.  A utility hook in every backend therefore pauses
 * the database for the length of such a statement: its worker is told to
 * exit (SIGTERM) and none is started until the statement is over, while
 * the statement waits for the worker to be gone as it waits for any other
 * session (CountOtherDBBackends, up to 5 seconds).
 *
 * Shared memory holds, per database served, what pgmq.worker_status shows:
 * the worker's pid, when it started, its last pass, totals, last error.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include <signal.h>

/* Settings (see README.md, "Background worker") */
static int	maintenance_interval_ms = 10000;
static bool worker_enabled = true;
static char *worker_databases = NULL;

/*
 * A database without the extension is probed (a worker connects, looks and
 * leaves) once per interval, but no more often than this, so a short
 * interval on a server with many databases does not become a fork loop.
 * A worker that died is started again after this long at most.
 */
#define PROBE_MIN_INTERVAL_MS	1000

/* The launcher is restarted this long after it dies. */
#define LAUNCHER_RESTART_SECONDS	5

/* Concurrent "pause this database" statements tracked (beyond: no pause). */
#define MAX_PAUSES				16

#define LAST_ERROR_LEN			256

#define LAUNCHER_TYPE			"pgmq_c launcher"
#define MAINTENANCE_TYPE		"pgmq_c maintenance"

/* One database served: what pgmq.worker_status shows. */
typedef struct WorkerSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	pid_t		pid;			/* 0 while no worker runs */
	TimestampTz started_at;
	TimestampTz last_run_at;	/* start of the last pass; 0: none yet */
	int64		last_run_us;	/* its duration */
	MaintenanceCounts totals;
	TimestampTz last_error_at;	/* 0: no error yet */
	char		last_error[LAST_ERROR_LEN];
	TimestampTz due_wake_at;	/* when it wakes to notify a due message;
								 * 0: awake, looking; DT_NOEND: not planned */
} WorkerSlot;

/* A backend running a statement that needs a database without sessions. */
typedef struct WorkerPause
{
	Oid			dboid;
	int			pid;			/* the backend; 0: entry free */
} WorkerPause;

typedef struct WorkerShared
{
	LWLock	   *lock;
	WorkerPause pauses[MAX_PAUSES];
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} WorkerShared;

static WorkerShared *shared = NULL;

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* The maintenance worker's own slot, and when its last pass started. */
static WorkerSlot *my_slot = NULL;
static TimestampTz last_pass_start = 0;
static char *my_dbname = NULL;

static TimestampTz due_notify_in_own_transaction(void);

PGDLLEXPORT void pgmq_c_launcher_main(Datum main_arg);
PGDLLEXPORT void pgmq_c_maintenance_main(Datum main_arg);

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

/* One slot per possible background worker: at most that many can serve. */
static Size
worker_shmem_size(void)
{
	return add_size(offsetof(WorkerShared, slots),
					mul_size(max_worker_processes, sizeof(WorkerSlot)));
}

void
worker_shmem_request(void)
{
	RequestAddinShmemSpace(worker_shmem_size());
	RequestNamedLWLockTranche("pgmq_c worker", 1);
}

/* Called with AddinShmemInitLock held. */
void
worker_shmem_startup(void)
{
	bool		found;

	shared = ShmemInitStruct("pgmq_c worker", worker_shmem_size(), &found);
	if (!found)
	{
		memset(shared, 0, worker_shmem_size());
		shared->lock = &(GetNamedLWLockTranche("pgmq_c worker"))->lock;
		shared->nslots = max_worker_processes;
	}
}

/* The slot of a database, or NULL.  Caller holds the lock. */
static WorkerSlot *
slot_for(Oid dboid)
{
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].dboid == dboid)
			return &shared->slots[i];
	return NULL;
}

/* Is backend pid alive (still in the proc array)? */
static bool
backend_alive(int pid)
{
	return pid != 0 && BackendPidGetProc(pid) != NULL;
}

/*
 * Is the database paused by a statement that needs it without sessions?
 * Entries of backends that are gone (ended by FATAL mid-statement) are
 * cleared here.  Caller holds the lock exclusively.
 */
static bool
database_paused(Oid dboid)
{
	bool		paused = false;

	for (int i = 0; i < MAX_PAUSES; i++)
	{
		WorkerPause *p = &shared->pauses[i];

		if (p->pid == 0)
			continue;
		if (!backend_alive(p->pid))
			p->pid = 0;
		else if (p->dboid == dboid)
			paused = true;
	}
	return paused;
}

/* ---------------------------------------------------------------------
 * Settings
 * ---------------------------------------------------------------------
 */

static bool
check_worker_databases(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names;
	bool		ok = SplitGUCList(raw, ',', &names);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	list_free(names);
	pfree(raw);
	return ok;
}

/* Does pgmq_c.worker_databases let this database be served? */
static bool
database_listed(const char *dbname)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		listed = false;

	if (worker_databases == NULL || worker_databases[0] == '\0')
		return true;
	raw = pstrdup(worker_databases);
	if (!SplitGUCList(raw, ',', &names))
		elog(ERROR, "invalid list syntax in pgmq_c.worker_databases");
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), dbname) == 0)
		{
			listed = true;
			break;
		}
	}
	list_free(names);
	pfree(raw);
	return listed;
}

static void
reload_if_asked(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* ---------------------------------------------------------------------
 * Launcher
 * ---------------------------------------------------------------------
 */

/* What the launcher knows of one database. */
typedef struct LaunchedDb
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle; /* the last worker it started, or NULL */
	TimestampTz last_start;
	bool		seen;			/* in this scan of pg_database */
	bool		start_failed;	/* said so in the log already */
} LaunchedDb;

typedef struct DbName
{
	Oid			oid;
	char		name[NAMEDATALEN];
} DbName;

/* Slots of queues whose database is gone (DROP DATABASE drops no table). */
static void
forget_gone_databases(List *existing, TimestampTz listed_at)
{
	Oid		   *oids = palloc(sizeof(Oid) * Max(list_length(existing), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, existing)
		oids[n++] = lfirst_oid(lc);
	queue_slots_forget_databases(oids, n, listed_at);
	pfree(oids);
}

/*
 * The databases a worker may serve: connectable, not templates, listed.
 * The shared-memory slots of queues in databases that no longer exist are
 * forgotten on the way.
 */
static List *
databases_to_serve(void)
{
	List	   *result = NIL;
	List	   *existing = NIL;
	TimestampTz listed_at;
	MemoryContext caller = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	listed_at = GetCurrentTimestamp();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;
		DbName	   *entry;

		existing = lappend_oid(existing, db->oid);

		/*
		 * A template's users are CREATE DATABASE, which needs it without
		 * sessions: never serve one.
		 */
		if (!db->datallowconn || db->datistemplate || database_form_is_invalid(db))
			continue;
		if (!database_listed(NameStr(db->datname)))
			continue;
		old = MemoryContextSwitchTo(caller);
		entry = palloc(sizeof(DbName));
		entry->oid = db->oid;
		strlcpy(entry->name, NameStr(db->datname), NAMEDATALEN);
		result = lappend(result, entry);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	forget_gone_databases(existing, listed_at);
	CommitTransactionCommand();
	return result;
}

static bool
start_maintenance_worker(const DbName *db, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher does it */
	strlcpy(worker.bgw_library_name, "pgmq_c", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pgmq_c_maintenance_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgmq_c maintenance for database %s", db->name);
	strlcpy(worker.bgw_type, MAINTENANCE_TYPE, BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(db->oid);
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/* Has the database a worker, running or on its way? */
static bool
database_served(LaunchedDb *entry)
{
	WorkerSlot *slot;
	bool		served;

	if (entry->handle != NULL)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(entry->handle, &pid) != BGWH_STOPPED)
			return true;
		pfree(entry->handle);
		entry->handle = NULL;
	}

	/* A worker the launcher did not start: one from before it restarted. */
	LWLockAcquire(shared->lock, LW_SHARED);
	slot = slot_for(entry->dboid);
	served = slot != NULL && backend_alive(slot->pid);
	LWLockRelease(shared->lock);
	return served;
}

/*
 * Forget the status of databases no longer served: dropped, or left out by
 * the settings.  A slot whose worker still runs stays; the worker leaves
 * by itself.
 */
static void
forget_unserved_slots(List *dbs)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < shared->nslots; i++)
	{
		WorkerSlot *slot = &shared->slots[i];
		ListCell   *lc;
		bool		listed = false;

		if (!OidIsValid(slot->dboid) || backend_alive(slot->pid))
			continue;
		foreach(lc, dbs)
		{
			if (((DbName *) lfirst(lc))->oid == slot->dboid)
			{
				listed = true;
				break;
			}
		}
		if (!listed || !worker_enabled)
			memset(slot, 0, sizeof(WorkerSlot));
	}
	LWLockRelease(shared->lock);
}

/*
 * One look at the databases: start the workers that are missing.  Returns
 * how long to sleep, in milliseconds.
 */
static long
launcher_scan(HTAB *launched)
{
	TimestampTz now = GetCurrentTimestamp();
	int			probe_ms = Max(maintenance_interval_ms, PROBE_MIN_INTERVAL_MS);
	long		sleep_ms = maintenance_interval_ms;
	List	   *dbs = NIL;
	ListCell   *lc;
	HASH_SEQ_STATUS seq;
	LaunchedDb *entry;

	if (worker_enabled)
		dbs = databases_to_serve();

	hash_seq_init(&seq, launched);
	while ((entry = hash_seq_search(&seq)) != NULL)
		entry->seen = false;

	foreach(lc, dbs)
	{
		DbName	   *db = lfirst(lc);
		bool		found;
		bool		paused;
		bool		was_served;
		TimestampTz due;

		entry = hash_search(launched, &db->oid, HASH_ENTER, &found);
		if (!found)
		{
			entry->handle = NULL;
			entry->last_start = 0;
			entry->start_failed = false;
		}
		entry->seen = true;

		if (database_served(entry))
			continue;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		paused = database_paused(db->oid);
		LWLockRelease(shared->lock);
		if (paused)
		{
			/* Look again soon: the statement is usually over in a moment. */
			sleep_ms = Min(sleep_ms, PROBE_MIN_INTERVAL_MS);
			continue;
		}

		/*
		 * A database whose worker was serving it (its slot is kept) gets a
		 * new one soon; one without the extension is probed every interval.
		 */
		LWLockAcquire(shared->lock, LW_SHARED);
		was_served = slot_for(db->oid) != NULL;
		LWLockRelease(shared->lock);
		due = TimestampTzPlusMilliseconds(entry->last_start,
										  was_served ? PROBE_MIN_INTERVAL_MS : probe_ms);
		if (entry->last_start != 0 && due > now)
		{
			long		wait_ms = TimestampDifferenceMilliseconds(now, due);

			sleep_ms = Min(sleep_ms, Max(wait_ms, 1));
			continue;
		}

		entry->last_start = now;
		if (start_maintenance_worker(db, &entry->handle))
			entry->start_failed = false;
		else
		{
			entry->handle = NULL;
			if (!entry->start_failed)
				ereport(LOG,
						(errmsg("could not start the pgmq_c maintenance worker for database \"%s\"",
								db->name),
						 errhint("Raise max_worker_processes, or list fewer databases in pgmq_c.worker_databases.")));
			entry->start_failed = true;
		}
	}

	/*
	 * Databases dropped or left out: stop what runs there (the worker would
	 * also leave by itself on its next pass) and forget them.
	 */
	hash_seq_init(&seq, launched);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (entry->seen)
			continue;
		if (entry->handle != NULL)
		{
			TerminateBackgroundWorker(entry->handle);
			pfree(entry->handle);
		}
		hash_search(launched, &entry->dboid, HASH_REMOVE, NULL);
	}

	forget_unserved_slots(dbs);
	list_free_deep(dbs);
	return sleep_ms;
}

void
pgmq_c_launcher_main(Datum main_arg)
{
	HASHCTL		ctl;
	HTAB	   *launched;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* No database: pg_database is a shared catalog. */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(LAUNCHER_TYPE);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LaunchedDb);
	launched = hash_create("pgmq_c launched workers", 16, &ctl, HASH_ELEM | HASH_BLOBS);

	ereport(LOG, (errmsg("pgmq_c launcher started")));

	for (;;)
	{
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		reload_if_asked();

		pgstat_report_activity(STATE_RUNNING, "looking for databases to serve");
		sleep_ms = launcher_scan(launched);
		pgstat_report_activity(STATE_IDLE, NULL);

		/*
		 * Woken by a worker that stopped (bgw_notify_pid), by SIGHUP, or by
		 * the interval.
		 */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Register the launcher; called from _PG_init while preloading. */
static void
register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = LAUNCHER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "pgmq_c", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pgmq_c_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, LAUNCHER_TYPE, BGW_MAXLEN);
	strlcpy(worker.bgw_type, LAUNCHER_TYPE, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ---------------------------------------------------------------------
 * Maintenance worker
 * ---------------------------------------------------------------------
 */

typedef enum ExtensionState
{
	EXTENSION_ABSENT,
	EXTENSION_TOO_OLD,			/* 0.1.0: no maintenance objects */
	EXTENSION_PRESENT
} ExtensionState;

/* Is pgmq_c installed here, at a version with maintenance?  In a transaction. */
static ExtensionState
extension_state(void)
{
	ExtensionState state = EXTENSION_ABSENT;

	if (!OidIsValid(get_extension_oid("pgmq_c", true)))
		return EXTENSION_ABSENT;

	SPI_connect();
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension "
					"WHERE extname OPERATOR(pg_catalog.=) 'pgmq_c'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		state = (version != NULL && strcmp(version, "0.1.0") == 0)
			? EXTENSION_TOO_OLD : EXTENSION_PRESENT;
	}
	SPI_finish();
	return state;
}

/* Leave the slot on exit, keeping its status for the next worker. */
static void
release_slot(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (my_slot->pid == MyProcPid)
		my_slot->pid = 0;
	LWLockRelease(shared->lock);
	my_slot = NULL;
}

/* Stop serving this database for good: its status goes too. */
static void
leave_database(const char *why)
{
	ereport(LOG, (errmsg("pgmq_c maintenance worker for database \"%s\" stops: %s",
						 my_dbname, why)));
	if (my_slot != NULL)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (my_slot->pid == MyProcPid)
			memset(my_slot, 0, sizeof(WorkerSlot));
		LWLockRelease(shared->lock);
		my_slot = NULL;
	}
	proc_exit(0);
}

/*
 * Take this database's slot, keeping the totals of an earlier worker, or a
 * free one.  False when the database is paused or another worker serves it.
 */
static bool
claim_slot(void)
{
	WorkerSlot *slot;
	bool		ok = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (database_paused(MyDatabaseId))
		goto done;
	slot = slot_for(MyDatabaseId);
	if (slot != NULL && slot->pid != 0 && slot->pid != MyProcPid && backend_alive(slot->pid))
		goto done;
	if (slot == NULL)
	{
		/* A free slot, else one whose worker is gone. */
		for (int i = 0; i < shared->nslots && slot == NULL; i++)
			if (!OidIsValid(shared->slots[i].dboid))
				slot = &shared->slots[i];
		for (int i = 0; i < shared->nslots && slot == NULL; i++)
			if (!backend_alive(shared->slots[i].pid))
				slot = &shared->slots[i];
		if (slot == NULL)
			goto done;
		memset(slot, 0, sizeof(WorkerSlot));
		slot->dboid = MyDatabaseId;
	}
	slot->pid = MyProcPid;
	slot->started_at = GetCurrentTimestamp();
	my_slot = slot;
	ok = true;
done:
	LWLockRelease(shared->lock);
	return ok;
}

static void
record_error(const char *queue_name, const char *message)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (queue_name != NULL)
		snprintf(my_slot->last_error, LAST_ERROR_LEN, "queue \"%s\": %s", queue_name, message);
	else
		strlcpy(my_slot->last_error, message, LAST_ERROR_LEN);
	my_slot->last_error_at = GetCurrentTimestamp();
	LWLockRelease(shared->lock);
}

/*
 * Queues whose last pass failed, with the error: a queue that keeps failing
 * the same way is logged once (worker_status shows it all along), and once
 * more when it is served again.  Entries of queues a pass did not report
 * (dropped, or their policy removed) go at the end of that pass.
 */
typedef struct FailingQueue
{
	char		name[NAMEDATALEN];	/* hash key */
	char		error[LAST_ERROR_LEN];
	uint64		pass;			/* the last pass that reported it */
} FailingQueue;

static HTAB *failing_queues = NULL;
static uint64 pass_number = 0;

/*
 * This pass's counts, of the queues whose work has committed; and the
 * queue being served now, added to them once its transaction commits.
 */
static MaintenanceCounts pass_counts;
static MaintenanceCounts queue_counts;

static void
add_counts(MaintenanceCounts *to, const MaintenanceCounts *from)
{
	to->moved += from->moved;
	to->expired += from->expired;
	to->archive_deleted += from->archive_deleted;
	to->partitions_created += from->partitions_created;
	to->partitions_dropped += from->partitions_dropped;
	to->dedup_keys_expired += from->dedup_keys_expired;
}

/* maintenance_run's report on one queue. */
static void
queue_done(const char *queue_name, const MaintenanceCounts *counts, const char *error,
		   void *arg)
{
	char		key[NAMEDATALEN] = {0};
	FailingQueue *failing;
	bool		found;

	if (counts != NULL)
		add_counts(&queue_counts, counts);

	strlcpy(key, queue_name, NAMEDATALEN);
	if (error == NULL)
	{
		if (hash_search(failing_queues, key, HASH_REMOVE, NULL) != NULL)
			ereport(LOG,
					(errmsg("maintenance of queue \"%s\" succeeded again", queue_name)));
		return;
	}

	record_error(queue_name, error);
	failing = hash_search(failing_queues, key, HASH_ENTER, &found);
	failing->pass = pass_number;
	if (found && strncmp(failing->error, error, LAST_ERROR_LEN - 1) == 0)
		return;
	strlcpy(failing->error, error, LAST_ERROR_LEN);
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("maintenance of queue \"%s\" failed: %s", queue_name, error),
			 errdetail("The other queues were served.  This one is tried again on every pass; "
					   "the same error is not logged again, pgmq.worker_status shows it.")));
}

/* Forget failing queues the last pass did not report. */
static void
forget_unreported_queues(void)
{
	HASH_SEQ_STATUS seq;
	FailingQueue *failing;

	hash_seq_init(&seq, failing_queues);
	while ((failing = hash_seq_search(&seq)) != NULL)
		if (failing->pass != pass_number)
			hash_search(failing_queues, failing->name, HASH_REMOVE, NULL);
}

/*
 * Serve one queue in a transaction of its own.  Committing per queue
 * releases each queue's locks (partition upkeep takes a strong one) at
 * once, not at the end of the pass.  The queue's own work runs as the
 * owner of its queue table (see maintenance_run).
 */
static void
serve_queue_in_own_transaction(const char *queue_name)
{
	MemoryContext caller = CurrentMemoryContext;

	memset(&queue_counts, 0, sizeof(queue_counts));
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		/* A queue dropped since it was listed is no longer there to serve. */
		if (OidIsValid(queue_relation_oid(queue_name, "q")))
			maintenance_run(queue_name, true, queue_done, NULL);
		PopActiveSnapshot();
		CommitTransactionCommand();
		add_counts(&pass_counts, &queue_counts);
	}
	PG_CATCH();
	{
		/* Failing at commit, say: this queue's work is gone, not the pass. */
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(caller);
		queue_done(queue_name, NULL, edata->message, NULL);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * One maintenance pass: list the queues with work in one transaction, then
 * serve each in its own.  An error outside any one queue is logged and
 * shown, and the worker carries on; only the extension's absence ends it.
 */
static void
maintenance_pass(void)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz start = GetCurrentTimestamp();
	volatile ExtensionState state = EXTENSION_PRESENT;
	static bool said_too_old = false;
	List	   *volatile names = NIL;

	last_pass_start = start;
	pass_number++;
	memset(&pass_counts, 0, sizeof(pass_counts));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pgmq_c maintenance pass");

	PG_TRY();
	{
		state = extension_state();
		if (state == EXTENSION_PRESENT)
		{
			/* Listed in the transaction's memory; only the names outlive it. */
			List	   *listed = maintenance_queue_names();
			ListCell   *lc;
			MemoryContext old = MemoryContextSwitchTo(caller);

			foreach(lc, listed)
				names = lappend(names, pstrdup((const char *) lfirst(lc)));
			MemoryContextSwitchTo(old);
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);
		if (state == EXTENSION_PRESENT)
		{
			ListCell   *lc;

			foreach(lc, names)
			{
				CHECK_FOR_INTERRUPTS();
				serve_queue_in_own_transaction((const char *) lfirst(lc));
			}
			forget_unreported_queues();
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		record_error(NULL, edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	list_free_deep(names);

	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (state == EXTENSION_ABSENT)
		leave_database("extension pgmq_c is not installed");
	if (state == EXTENSION_TOO_OLD)
	{
		if (!said_too_old)
			ereport(LOG,
					(errmsg("pgmq_c in database \"%s\" is version 0.1.0, which has no maintenance",
							my_dbname),
					 errhint("Run ALTER EXTENSION pgmq_c UPDATE.")));
		said_too_old = true;
		return;
	}
	said_too_old = false;

	/* Each queue's work committed on its own: pass_counts is what committed. */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	my_slot->totals.moved += pass_counts.moved;
	my_slot->totals.expired += pass_counts.expired;
	my_slot->totals.archive_deleted += pass_counts.archive_deleted;
	my_slot->totals.partitions_created += pass_counts.partitions_created;
	my_slot->totals.partitions_dropped += pass_counts.partitions_dropped;
	my_slot->last_run_at = start;
	my_slot->last_run_us = GetCurrentTimestamp() - start;
	LWLockRelease(shared->lock);
}

void
pgmq_c_maintenance_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	bool		present;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(MAINTENANCE_TYPE);

	/*
	 * The worker runs as a superuser, with the database's settings: a
	 * database owner's ALTER DATABASE ... SET search_path must not lead any
	 * of its statements to functions or operators that owner planted.  Every
	 * name in them is schema-qualified; an empty path makes sure (as the
	 * logical replication apply worker does).
	 */
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);

	StartTransactionCommand();
	my_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	present = OidIsValid(get_extension_oid("pgmq_c", true));
	CommitTransactionCommand();

	/* The launcher probes every database; most need nothing.  Leave quietly. */
	if (!present)
		proc_exit(0);
	before_shmem_exit(release_slot, (Datum) 0);
	if (!claim_slot())
		proc_exit(0);

	ereport(LOG, (errmsg("pgmq_c maintenance worker started for database \"%s\"", my_dbname)));

	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(FailingQueue);
		failing_queues = hash_create("pgmq_c failing queues", 16, &ctl,
									 HASH_ELEM | HASH_STRINGS);
	}

	for (;;)
	{
		TimestampTz now;
		TimestampTz next;
		TimestampTz due;

		/*
		 * pg_cancel_backend cancels the pass in progress (maintenance_pass
		 * reports it); between passes there is nothing to cancel, and an
		 * ERROR here, outside any handler, would end the worker.
		 */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		reload_if_asked();
		if (!worker_enabled)
			leave_database("pgmq_c.worker_enabled is off");
		if (!database_listed(my_dbname))
			leave_database("the database is not in pgmq_c.worker_databases");

		/*
		 * A pass every interval, counted from the start of the last one; a
		 * new interval set by SIGHUP counts from there too.
		 */
		now = GetCurrentTimestamp();
		next = last_pass_start == 0 ? now
			: TimestampTzPlusMilliseconds(last_pass_start, maintenance_interval_ms);
		if (next <= now)
		{
			maintenance_pass();
			continue;
		}
		due = due_notify_in_own_transaction();
		if (due != 0 && due < next)
			next = due;
		stats_sample_rates();
		due = queue_vacuum_round();
		if (due != 0 && due < next)
			next = due;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Say when this worker will next look for due messages (see worker_due_soon). */
static void
set_due_wake_at(TimestampTz at)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	my_slot->due_wake_at = at;
	LWLockRelease(shared->lock);
}

/*
 * One round of due_notify.c in its own transaction.  Returns when the next
 * round is due, 0 if nothing is planned.  An error is logged and the round
 * tried again at the next maintenance interval.
 */
static TimestampTz
due_notify_in_own_transaction(void)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz due = 0;

	set_due_wake_at(0);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		queue_slots_forget_dropped();
		due = due_notify_round();
		PopActiveSnapshot();
		CommitTransactionCommand();
		due_notify_round_ended(true);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		due_notify_round_ended(false);
		due = 0;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	set_due_wake_at(due == 0 ? DT_NOEND : due);
	return due;
}

/*
 * A delayed message of a queue with notifications, due at `due`, has just
 * been committed: wake this database's worker if it is looking (it may have
 * looked before the commit) or plans to wake later than that.
 */
void
worker_due_soon(TimestampTz due)
{
	WorkerSlot *slot;
	pid_t		pid = 0;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_SHARED);
	slot = slot_for(MyDatabaseId);
	if (slot != NULL && slot->pid != 0 && (slot->due_wake_at == 0 || due < slot->due_wake_at))
		pid = slot->pid;
	LWLockRelease(shared->lock);
	if (pid != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(pid);

		if (proc != NULL)
			SetLatch(&proc->procLatch);
	}
}

/* ---------------------------------------------------------------------
 * Statements that need a database without sessions
 * ---------------------------------------------------------------------
 */

/* The database a utility statement needs without other sessions, if any. */
static Oid
database_needed_idle(Node *stmt)
{
	const char *dbname = NULL;
	Oid			dboid;
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			dbname = ((DropdbStmt *) stmt)->dbname;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				dbname = ((RenameStmt *) stmt)->subname;
			break;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
				if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
					dbname = ((AlterDatabaseStmt *) stmt)->dbname;
			break;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *def = lfirst(lc);

				if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
					dbname = defGetString(def);
			}
			break;
		default:
			break;
	}
	if (dbname == NULL)
		return InvalidOid;

	/*
	 * Only for a statement that can succeed: DROP and CREATE DATABASE
	 * refuse to run in a transaction block, and all of them need the
	 * database's owner (or a superuser).  Anyone else could otherwise stop
	 * a database's maintenance by repeating a statement that fails.
	 */
	if (IsTransactionBlock() && (IsA(stmt, DropdbStmt) || IsA(stmt, CreatedbStmt)))
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || !database_ownercheck(dboid, GetUserId()))
		return InvalidOid;
	return dboid;
}

/*
 * Keep workers out of the database until unpause_database, and tell the one
 * serving it to exit.  Without a free pause entry the worker is still told
 * to exit; the launcher may then start it again before the statement ends.
 */
static void
pause_database(Oid dboid)
{
	WorkerSlot *slot;
	pid_t		pid = 0;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	(void) database_paused(dboid);	/* clears entries of dead backends */
	for (int i = 0; i < MAX_PAUSES; i++)
	{
		if (shared->pauses[i].pid == 0)
		{
			shared->pauses[i].dboid = dboid;
			shared->pauses[i].pid = MyProcPid;
			break;
		}
	}
	slot = slot_for(dboid);
	if (slot != NULL)
		pid = slot->pid;
	LWLockRelease(shared->lock);

	if (pid != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(pid);

		if (proc != NULL && proc->databaseId == dboid)
			(void) kill(pid, SIGTERM);
	}
}

static void
unpause_database(Oid dboid)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_PAUSES; i++)
		if (shared->pauses[i].pid == MyProcPid && shared->pauses[i].dboid == dboid)
			shared->pauses[i].pid = 0;
	LWLockRelease(shared->lock);
}

static void
worker_utility_hook(COMPAT_UTILITY_HOOK_ARGS)
{
	Oid			dboid = InvalidOid;

	if (shared != NULL && pstmt->utilityStmt != NULL)
		dboid = database_needed_idle(pstmt->utilityStmt);

	if (!OidIsValid(dboid))
	{
		if (prev_utility_hook)
			prev_utility_hook(COMPAT_UTILITY_HOOK_PASS);
		else
			standard_ProcessUtility(COMPAT_UTILITY_HOOK_PASS);
		return;
	}

	pause_database(dboid);
	PG_TRY();
	{
		if (prev_utility_hook)
			prev_utility_hook(COMPAT_UTILITY_HOOK_PASS);
		else
			standard_ProcessUtility(COMPAT_UTILITY_HOOK_PASS);
	}
	PG_FINALLY();
	{
		unpause_database(dboid);
	}
	PG_END_TRY();
}

/* ---------------------------------------------------------------------
 * pgmq.worker_status
 * ---------------------------------------------------------------------
 */

#define WORKER_STATUS_COLUMNS 12

PG_FUNCTION_INFO_V1(pgmq_c_worker_status);

/*
 * One row per database served, from shared memory.  Without preloading
 * there is no worker and nothing to show: say how to get one.
 */
Datum
pgmq_c_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WorkerSlot *copy;
	int			nslots;

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pgmq_c background worker is not running"),
				 errhint("Add pgmq_c to shared_preload_libraries and restart the server.")));

	InitMaterializedSRF(fcinfo, 0);

	/* Copy under the lock, then look names up without it. */
	nslots = shared->nslots;
	copy = palloc(sizeof(WorkerSlot) * nslots);
	LWLockAcquire(shared->lock, LW_SHARED);
	memcpy(copy, shared->slots, sizeof(WorkerSlot) * nslots);
	LWLockRelease(shared->lock);

	for (int i = 0; i < nslots; i++)
	{
		WorkerSlot *s = &copy[i];
		Datum		values[WORKER_STATUS_COLUMNS];
		bool		nulls[WORKER_STATUS_COLUMNS];
		char	   *dbname;
		Interval   *duration;

		if (!OidIsValid(s->dboid))
			continue;
		dbname = get_database_name(s->dboid);
		if (dbname == NULL)
			continue;			/* dropped; the launcher forgets it soon */

		memset(nulls, 0, sizeof(nulls));
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
		values[1] = Int32GetDatum(s->pid);
		nulls[1] = s->pid == 0;
		values[2] = TimestampTzGetDatum(s->started_at);
		nulls[2] = s->started_at == 0;
		values[3] = TimestampTzGetDatum(s->last_run_at);
		nulls[3] = s->last_run_at == 0;
		duration = palloc0(sizeof(Interval));
		duration->time = s->last_run_us;
		values[4] = IntervalPGetDatum(duration);
		nulls[4] = s->last_run_at == 0;
		values[5] = Int64GetDatum(s->totals.moved);
		values[6] = Int64GetDatum(s->totals.expired);
		values[7] = Int64GetDatum(s->totals.archive_deleted);
		values[8] = Int64GetDatum(s->totals.partitions_created);
		values[9] = Int64GetDatum(s->totals.partitions_dropped);
		values[10] = CStringGetTextDatum(s->last_error);
		nulls[10] = s->last_error_at == 0;
		values[11] = TimestampTzGetDatum(s->last_error_at);
		nulls[11] = s->last_error_at == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Registration
 * ---------------------------------------------------------------------
 */

/*
 * Settings always (so they can be shown and set in any session); shared
 * memory, the utility hook and the launcher only while preloading.
 */
void
worker_init(void)
{
	DefineCustomIntVariable("pgmq_c.maintenance_interval",
							"Time between two maintenance passes in each database.",
							NULL,
							&maintenance_interval_ms,
							10000, 100, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pgmq_c.worker_enabled",
							 "Runs the maintenance background worker (needs pgmq_c in shared_preload_libraries).",
							 NULL,
							 &worker_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("pgmq_c.worker_databases",
							   "Databases the background worker serves, comma-separated; empty: every database with pgmq_c.",
							   NULL,
							   &worker_databases,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_worker_databases, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = worker_utility_hook;

	register_launcher();
}
