/*-------------------------------------------------------------------------
 *
 * queue_slot.h
 *		What shared memory keeps per queue: the slot of a tracked queue.
 *
 * Shared by queue_slots.c (the table of slots), wakeup.c (waiting and the
 * notify throttle) and stats.c (counters and rates).  Only with pgmq_c
 * preloaded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef QUEUE_SLOT_H
#define QUEUE_SLOT_H

#include "pgmq_c.h"

#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"

typedef struct QueueSlotKey
{
	Oid			dboid;
	Oid			relid;			/* the queue table */
} QueueSlotKey;

/* Samples of two counters the worker takes, for rates over a minute. */
#define RATE_SAMPLES 13
#define RATE_SAMPLE_SPACING_MS 5000

typedef struct RateSample
{
	TimestampTz at;				/* 0: empty */
	int64		sent;
	int64		read;
} RateSample;

typedef struct QueueSlot
{
	QueueSlotKey key;			/* hash key */
	slock_t		mutex;			/* protects everything below */
	bool		dropped;		/* the queue table was dropped */
	TimestampTz created_at;

	/* waiting (wakeup.c) */
	int			nwaiters;
	int			nconditional;	/* of which read with a `conditional` */
	uint64		generation;		/* bumped by every wake event */
	int			timekeeper;		/* pid of the waiter keeping the time; 0: none */
	TimestampTz timekeeper_until;	/* the due time it sleeps until */
	ConditionVariable cv;

	/* the head mark (head_mark.c): no live message below it; 0: none yet */
	int64		head_mark;
	Oid			head_filenode;	/* the table's file the mark is for */

	/* notify throttle (wakeup.c) */
	TimestampTz last_notified_at;	/* 0: not since start */
	int32		throttle_ms;

	/* statistics (stats.c) */
	int64		counters[QUEUE_NCOUNTERS];
	TimestampTz stats_reset;
	RateSample	samples[RATE_SAMPLES];
	int			next_sample;
} QueueSlot;

/*
 * The slot of a queue of this database, made if `create` and there is
 * room.  Returns with the slot table's lock held (even when it returns
 * NULL); queue_slot_release gives it back.
 */
extern QueueSlot *queue_slot_acquire(Oid relid, bool create);
extern void queue_slot_release(void);
extern void queue_slot_remove_if_unused(QueueSlot *slot);

/*
 * Walking every slot, with the lock held in the given mode (lock false:
 * without it, for the postmaster alone at shutdown).
 */
extern void queue_slots_begin_scan(HASH_SEQ_STATUS *seq, LWLockMode mode, bool lock);
extern void queue_slots_end_scan(bool lock);
extern QueueSlot *queue_slots_make(const QueueSlotKey *key);

#endif							/* QUEUE_SLOT_H */
