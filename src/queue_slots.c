/*-------------------------------------------------------------------------
 *
 * queue_slots.c
 *		The table of tracked queues in shared memory.
 *
 * Only with pgmq_c preloaded.  A queue gets a slot (queue_slot.h) the
 * first time something about it has to be shared: a reader waits on it, its
 * channel is notified, or a transaction that worked on it commits (its
 * statistics).  At most pgmq_c.max_tracked_queues slots exist, keyed by
 * (database, queue table); a queue beyond that works the same, only
 * untracked: its readers poll, its notifications are not throttled in
 * shared memory, and it has no statistics.  A slot goes when its queue
 * table is dropped (once no reader waits on it) or its database is.
 *
 * Locking: one LWLock over the table.  Whoever uses a slot holds it (shared
 * is enough; the fields of a slot are under the slot's spinlock), except a
 * waiting reader, whose count in nwaiters keeps its slot in place: slots
 * are added and removed only with the lock held exclusively, and removed
 * only while nobody waits on them.
 *
 *-------------------------------------------------------------------------
 */
#include "queue_slot.h"

#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/syscache.h"

/* Setting: slots in shared memory (see README.md, "Settings"). */
static int	max_tracked_queues = 1024;

static LWLock *slots_lock = NULL;
static HTAB *slots = NULL;

static Size
queue_slots_shmem_size(void)
{
	return hash_estimate_size(max_tracked_queues, sizeof(QueueSlot));
}

void
queue_slots_shmem_request(void)
{
	RequestAddinShmemSpace(queue_slots_shmem_size());
	RequestNamedLWLockTranche("pgmq_c queue slots", 1);
}

/* Called with AddinShmemInitLock held. */
void
queue_slots_shmem_startup(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(QueueSlotKey);
	info.entrysize = sizeof(QueueSlot);
	slots_lock = &(GetNamedLWLockTranche("pgmq_c queue slots"))->lock;
	slots = ShmemInitHash("pgmq_c queue slots", max_tracked_queues, max_tracked_queues,
						  &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * The setting exists only when preloaded: a PGC_POSTMASTER variable cannot
 * be defined after startup, and without preloading nothing uses it.
 */
void
queue_slots_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("pgmq_c.max_tracked_queues",
							"Queues shared memory keeps wait slots, notify throttles and statistics for.",
							"Beyond this many, read_with_poll polls, notifications are not throttled in shared memory and statistics are not kept.",
							&max_tracked_queues,
							1024, 16, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

bool
queue_slots_enabled(void)
{
	return slots != NULL;
}

/* A new slot for the key (caller holds the lock exclusively); NULL if full. */
QueueSlot *
queue_slots_make(const QueueSlotKey *key)
{
	QueueSlot  *slot;
	bool		found;

	if (hash_get_num_entries(slots) >= max_tracked_queues)
		return NULL;
	slot = (QueueSlot *) hash_search(slots, key, HASH_ENTER_NULL, &found);
	if (slot == NULL || found)
		return slot;
	memset((char *) slot + sizeof(QueueSlotKey), 0, sizeof(QueueSlot) - sizeof(QueueSlotKey));
	SpinLockInit(&slot->mutex);
	ConditionVariableInit(&slot->cv);
	slot->created_at = slot->stats_reset = GetCurrentTimestamp();
	return slot;
}

QueueSlot *
queue_slot_acquire(Oid relid, bool create)
{
	QueueSlotKey key;
	QueueSlot  *slot;

	key.dboid = MyDatabaseId;
	key.relid = relid;
	LWLockAcquire(slots_lock, LW_SHARED);
	slot = (QueueSlot *) hash_search(slots, &key, HASH_FIND, NULL);
	if (slot != NULL || !create || hash_get_num_entries(slots) >= max_tracked_queues)
		return slot;

	LWLockRelease(slots_lock);
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	slot = (QueueSlot *) hash_search(slots, &key, HASH_FIND, NULL);
	if (slot == NULL)
		slot = queue_slots_make(&key);
	return slot;
}

void
queue_slot_release(void)
{
	LWLockRelease(slots_lock);
}

/*
 * The slot of a dropped queue goes once nobody waits on it.  Called without
 * the lock; takes it exclusively.
 */
void
queue_slot_remove_if_unused(QueueSlot *slot)
{
	QueueSlotKey key = slot->key;
	QueueSlot  *found;

	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	found = (QueueSlot *) hash_search(slots, &key, HASH_FIND, NULL);
	if (found != NULL && found->dropped && found->nwaiters == 0)
		(void) hash_search(slots, &key, HASH_REMOVE, NULL);
	LWLockRelease(slots_lock);
}

/*
 * A queue table was dropped (and the drop committed): its slot goes, or,
 * while readers wait on it, is marked so the last of them removes it; they
 * are woken to find the queue missing.
 */
void
queue_slot_dropped(Oid relid)
{
	QueueSlotKey key;
	QueueSlot  *slot;

	if (!queue_slots_enabled())
		return;
	key.dboid = MyDatabaseId;
	key.relid = relid;
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	slot = (QueueSlot *) hash_search(slots, &key, HASH_FIND, NULL);
	if (slot != NULL)
	{
		if (slot->nwaiters == 0)
			(void) hash_search(slots, &key, HASH_REMOVE, NULL);
		else
		{
			SpinLockAcquire(&slot->mutex);
			slot->dropped = true;
			slot->generation++;
			SpinLockRelease(&slot->mutex);
			ConditionVariableBroadcast(&slot->cv);
		}
	}
	LWLockRelease(slots_lock);
}

/* Has this queue table a slot? */
bool
queue_slot_exists(Oid relid)
{
	bool		found;

	if (!queue_slots_enabled())
		return false;
	found = queue_slot_acquire(relid, false) != NULL;
	queue_slot_release();
	return found;
}

/*
 * Remove the slots of databases that are gone: the launcher calls this with
 * the databases that existed at `listed_at`.  Slots made since then (of a
 * database created meanwhile) and slots someone waits on stay.
 */
void
queue_slots_forget_databases(const Oid *dboids, int ndboids, TimestampTz listed_at)
{
	HASH_SEQ_STATUS seq;
	QueueSlot  *slot;

	if (!queue_slots_enabled())
		return;
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, slots);
	while ((slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
	{
		bool		exists = false;

		for (int i = 0; i < ndboids && !exists; i++)
			exists = dboids[i] == slot->key.dboid;
		if (!exists && slot->nwaiters == 0 && slot->created_at < listed_at)
			(void) hash_search(slots, &slot->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(slots_lock);
}

/*
 * Remove the slots of this database's queue tables that no longer exist
 * (dropped in a way that left a slot behind: a reader that looked just
 * before the drop committed, say).  The worker calls this in a
 * transaction.  Slots younger than a few seconds stay: their table may be
 * in a transaction not yet committed.
 */
void
queue_slots_forget_dropped(void)
{
	TimestampTz young = GetCurrentTimestamp() - 10 * USECS_PER_SEC;
	HASH_SEQ_STATUS seq;
	QueueSlot  *slot;
	Oid		   *relids;
	int			n = 0;

	if (!queue_slots_enabled())
		return;
	relids = palloc(sizeof(Oid) * max_tracked_queues);
	LWLockAcquire(slots_lock, LW_SHARED);
	hash_seq_init(&seq, slots);
	while ((slot = (QueueSlot *) hash_seq_search(&seq)) != NULL)
		if (slot->key.dboid == MyDatabaseId && slot->created_at < young && n < max_tracked_queues)
			relids[n++] = slot->key.relid;
	LWLockRelease(slots_lock);

	for (int i = 0; i < n; i++)
	{
		QueueSlotKey key;

		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relids[i])))
			continue;
		key.dboid = MyDatabaseId;
		key.relid = relids[i];
		LWLockAcquire(slots_lock, LW_EXCLUSIVE);
		slot = (QueueSlot *) hash_search(slots, &key, HASH_FIND, NULL);
		if (slot != NULL && slot->nwaiters == 0)
			(void) hash_search(slots, &key, HASH_REMOVE, NULL);
		LWLockRelease(slots_lock);
	}
	pfree(relids);
}

void
queue_slots_begin_scan(HASH_SEQ_STATUS *seq, LWLockMode mode, bool lock)
{
	if (lock)
		LWLockAcquire(slots_lock, mode);
	hash_seq_init(seq, slots);
}

void
queue_slots_end_scan(bool lock)
{
	if (lock)
		LWLockRelease(slots_lock);
}
