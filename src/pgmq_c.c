/*-------------------------------------------------------------------------
 *
 * pgmq_c.c
 *		Module entry point: settings, shared memory, hooks.
 *
 * Loaded on first use (CREATE EXTENSION, or any pgmq function), or at
 * server start through shared_preload_libraries.  Either way every SQL
 * function works; the parts that need shared memory (the background
 * worker, the tracked queues' slots: wakeups, notify throttles and
 * statistics) are set up only when preloaded, and the rest of the code asks
 * queue_slots_enabled() before it uses them.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Every part's shared memory, asked for in one place. */
static void
pgmq_c_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	worker_shmem_request();
	queue_slots_shmem_request();
}

static void
pgmq_c_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shmem_startup();
	queue_slots_shmem_startup();
	stats_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	worker_init();
	queue_slots_init();
	stats_init();
	head_mark_init();
	queue_vacuum_init();
	queue_events_init();

	/* Keep the pgmq_c.* GUC namespace ours, so typos are reported. */
	MarkGUCPrefixReserved("pgmq_c");

	if (!process_shared_preload_libraries_in_progress)
		return;
	InstallShmemRequestHook(prev_shmem_request_hook, pgmq_c_shmem_request);
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgmq_c_shmem_startup;
}
