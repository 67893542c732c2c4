/*-------------------------------------------------------------------------
 *
 * fifo.c
 *		FIFO message groups: pgmq.read_grouped, read_grouped_rr,
 *		read_grouped_head, their _with_poll forms, and the group index.
 *
 * A message's group is its header x-pgmq-group (FIFO_GROUP).  A group's
 * head is its oldest message (lowest msg_id) still in the queue, whatever
 * its visibility; a group is eligible when its head is visible and no other
 * transaction holds it.  No message of a group is handed out while an
 * earlier one is in flight: only an eligible group gives messages, and its
 * head always comes with them.  Groups rank by the age of their head.
 *	- read_grouped fills the batch from the oldest group first, then the
 *	  next (SQS FIFO);
 *	- read_grouped_rr takes the heads of the groups in rank order, then
 *	  each group's second message, and so on (layered round-robin);
 *	- read_grouped_head takes at most the head of each group.
 *
 * pgmq finds the groups by grouping the whole queue on every call.  Here a
 * walk goes through the queue in msg_id order and stops as soon as it has
 * the groups it needs: the first row of a group the walk meets is that
 * group's head, so no row has to be compared with any other.  A read thus
 * costs the rows in front of the groups it takes, not the queue.  Where
 * the front of the queue is all busy groups (one group with a long backlog
 * in flight, say), the walk gives up after a budget and, if the queue has
 * the group index (create_fifo_index), asks the index for every group's
 * head instead: one probe per group.  The group index also finds a group's
 * further messages directly.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

typedef enum FifoMode
{
	FIFO_FILL,					/* read_grouped */
	FIFO_ROUND_ROBIN,			/* read_grouped_rr */
	FIFO_HEADS					/* read_grouped_head */
} FifoMode;

/*
 * Rows the walk may cover before it asks the group index for every
 * group's head instead (when the queue has one).
 */
#define FIFO_WALK_BUDGET 1024

/* A group the walk has met, by its key. */
typedef struct FifoGroup
{
	char	   *key;			/* hash key: the group name (palloc'd) */
} FifoGroup;

/* A group whose head may be taken: its head's id and its key. */
typedef struct FifoHead
{
	int64		msg_id;
	char	   *key;
} FifoHead;

/* One FIFO read: the queue and how its messages are leased. */
typedef struct FifoRead
{
	QueueCacheEntry *entry;
	int32		vt;				/* lease, seconds */
	int32		max_receives;	/* policy: exhausted messages go to the dead letters */
	Datum		name;			/* the queue's name (text), for their headers */
	uint64		moved;			/* how many went to the dead letters */
} FifoRead;

/* Where the walk through the queue stands. */
typedef struct FifoWalk
{
	QueueCacheEntry *entry;
	MemoryContext cxt;			/* the walk's memory: groups and keys */
	HTAB	   *groups;			/* FifoGroup by key: every group met */
	int64		after;			/* the walk's last msg_id */
	int64		walked;			/* rows covered */
	int32		chunk;			/* rows to fetch next */
	bool		done;			/* nothing more to find */
	FifoHead   *heads;			/* from the group index, when it was asked */
	int			nheads;
	int			next_head;
} FifoWalk;

static uint32
group_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
group_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

static void
walk_begin(FifoWalk *walk, QueueCacheEntry *entry, int32 qty, int64 head_mark)
{
	HASHCTL		ctl;

	memset(walk, 0, sizeof(*walk));
	walk->entry = entry;
	/* from the head mark: nothing below it is in the queue */
	walk->after = head_mark > PG_INT64_MIN ? head_mark - 1 : PG_INT64_MIN;
	walk->chunk = Min(Max(2 * qty + 16, 64), FIFO_WALK_BUDGET);
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(FifoGroup);
	ctl.hash = group_hash;
	ctl.match = group_match;
	walk->cxt = AllocSetContextCreate(CurrentMemoryContext, "pgmq_c FIFO walk",
									  ALLOCSET_DEFAULT_SIZES);
	ctl.hcxt = walk->cxt;
	walk->groups = hash_create("pgmq_c FIFO groups", 256, &ctl,
							   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * A row of group `key`: is it the first the walk meets (the group's head)?
 * The group is then recorded, holding on to key.
 */
static bool
walk_meet(FifoWalk *walk, char *key)
{
	bool		found;

	(void) hash_search(walk->groups, &key, HASH_ENTER, &found);
	return !found;
}

/* Ask the group index for the head of every group (QPLAN_FIFO_HEADS). */
static void
walk_ask_index(FifoWalk *walk)
{
	uint64		n = queue_execute(walk->entry, QPLAN_FIFO_HEADS, NULL, NULL);
	MemoryContext cxt = MemoryContextSwitchTo(walk->cxt);

	walk->heads = palloc(sizeof(FifoHead) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		int64		msg_id = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
		bool		visible = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
		char	   *key = SPI_getvalue(row, SPI_tuptable->tupdesc, 3);

		if (walk_meet(walk, key) && visible)
		{
			walk->heads[walk->nheads].msg_id = msg_id;
			walk->heads[walk->nheads].key = key;
			walk->nheads++;
		}
	}
	MemoryContextSwitchTo(cxt);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Up to `want` more groups that may be taken, in head order, into
 * heads[]; how many.  Fewer means the queue has no more.
 */
static int
walk_next(FifoWalk *walk, int want, FifoHead *heads)
{
	int			n = 0;

	while (n < want && !walk->done)
	{
		uint64		rows;
		Datum		values[2];

		if (walk->heads != NULL)
		{
			while (n < want && walk->next_head < walk->nheads)
				heads[n++] = walk->heads[walk->next_head++];
			walk->done = walk->next_head >= walk->nheads;
			break;
		}
		if (walk->walked >= FIFO_WALK_BUDGET && queue_cache_group_index(walk->entry))
		{
			walk_ask_index(walk);
			continue;
		}

		values[0] = Int64GetDatum(walk->after);
		values[1] = Int32GetDatum(walk->chunk);
		rows = queue_execute(walk->entry, QPLAN_FIFO_WALK, values, NULL);
		for (uint64 i = 0; i < rows && n < want; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			bool		isnull;
			bool		visible;
			char	   *key;
			MemoryContext cxt;

			walk->after = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
			walk->walked++;
			visible = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
			cxt = MemoryContextSwitchTo(walk->cxt);
			key = SPI_getvalue(row, SPI_tuptable->tupdesc, 3);
			MemoryContextSwitchTo(cxt);
			if (!walk_meet(walk, key))
				pfree(key);		/* a group met before: not its head */
			else if (visible)
			{
				heads[n].msg_id = walk->after;
				heads[n].key = key;
				n++;
			}
		}
		walk->done = rows < (uint64) walk->chunk && n < want;
		SPI_freetuptable(SPI_tuptable);
		walk->chunk = Min(walk->chunk * 2, FIFO_WALK_BUDGET);
	}
	return n;
}

/*
 * Lease the messages ids[0..n) that are still visible and free; returns
 * the leased rows (SPI_tuptable, msg_id order) and their number.  With
 * max_receives, an exhausted message is moved to the dead letters instead
 * (counted in r->moved), showing as a row of NULLs after the leased ones.
 */
static uint64
lease(FifoRead *r, int64 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	Datum		values[4];
	uint64		rows;
	uint64		got;
	bool		isnull;

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = interval_from_seconds(r->vt);
	values[2] = Int32GetDatum(r->max_receives);
	values[3] = r->name;
	pfree(elems);
	rows = queue_execute(r->entry, r->max_receives > 0 ? QPLAN_FIFO_LEASE_DLQ : QPLAN_FIFO_LEASE,
						 values, NULL);
	for (got = rows; got > 0; got--)
	{
		(void) SPI_getbinval(SPI_tuptable->vals[got - 1], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			break;
	}
	r->moved += rows - got;
	return got;
}

/* The visible messages of a group after its head, at most `limit`, in order. */
static int
followers(FifoRead *r, const FifoHead *head, int limit, int64 *ids)
{
	Datum		values[3];
	uint64		n;
	bool		isnull;

	if (limit <= 0)
		return 0;
	values[0] = CStringGetTextDatum(head->key);
	values[1] = Int64GetDatum(head->msg_id);
	values[2] = Int32GetDatum(limit);
	n = queue_execute(r->entry, QPLAN_FIFO_FOLLOWERS, values, NULL);
	for (uint64 i = 0; i < n; i++)
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
											 &isnull));
	SPI_freetuptable(SPI_tuptable);
	return (int) n;
}

/*
 * Lease the heads given; the groups whose head came back are ours (the
 * others were taken or hidden meanwhile).  Adds the heads to the result,
 * and to owned[] when the caller wants the groups; returns how many.
 */
static int
lease_heads(FunctionCallInfo fcinfo, FifoRead *r, FifoHead *heads, int n, FifoHead *owned)
{
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	uint64		got;
	int			nowned = 0;
	int			h = 0;

	for (int i = 0; i < n; i++)
		ids[i] = heads[i].msg_id;
	got = lease(r, ids, n);
	result_add_tuples(fcinfo, SPI_tuptable, got);
	/* Both in msg_id order: match them up. */
	for (uint64 i = 0; i < got; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));

		while (h < n && heads[h].msg_id != id)
			h++;
		if (h < n && owned != NULL)
			owned[nowned] = heads[h];
		nowned++;
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(ids);
	return nowned;
}

/* read_grouped: fill from the oldest group, then the next. */
static uint64
fifo_fill(FunctionCallInfo fcinfo, FifoRead *r, FifoWalk *walk, int32 qty)
{
	int64	   *ids = palloc(sizeof(int64) * qty);
	uint64		taken = 0;
	FifoHead	head;

	while (taken < (uint64) qty && walk_next(walk, 1, &head) == 1)
	{
		int			n;

		if (lease_heads(fcinfo, r, &head, 1, NULL) == 0)
			continue;
		taken++;
		n = followers(r, &head, qty - (int32) taken, ids);
		if (n > 0)
		{
			uint64		got = lease(r, ids, n);

			result_add_tuples(fcinfo, SPI_tuptable, got);
			SPI_freetuptable(SPI_tuptable);
			taken += got;
		}
	}
	return taken;
}

/* read_grouped_head: the heads of up to qty groups. */
static uint64
fifo_heads(FunctionCallInfo fcinfo, FifoRead *r, FifoWalk *walk, int32 qty, FifoHead *owned)
{
	FifoHead   *heads = palloc(sizeof(FifoHead) * qty);
	int			taken = 0;
	int			n;

	while (taken < qty && (n = walk_next(walk, qty - taken, heads)) > 0)
		taken += lease_heads(fcinfo, r, heads, n, owned == NULL ? NULL : owned + taken);
	pfree(heads);
	return (uint64) taken;
}

/*
 * read_grouped_rr: the heads of the groups first; when there are fewer
 * groups than qty, every group there is, then their second messages in
 * group order, their third, ...
 */
static uint64
fifo_round_robin(FunctionCallInfo fcinfo, FifoRead *r, FifoWalk *walk, int32 qty)
{
	FifoHead   *owned = palloc(sizeof(FifoHead) * qty);
	int			ngroups = (int) fifo_heads(fcinfo, r, walk, qty, owned);
	int			left = qty - ngroups;
	int64	  **next;
	int		   *counts;
	int64	   *ids;
	int64	   *order;
	int			nids = 0;
	uint64		got;
	HeapTuple  *rows;

	if (left <= 0 || ngroups == 0)
		return (uint64) ngroups;

	/* Each group's next messages, as many as could be needed. */
	next = palloc(sizeof(int64 *) * ngroups);
	counts = palloc(sizeof(int) * ngroups);
	for (int g = 0; g < ngroups; g++)
	{
		next[g] = palloc(sizeof(int64) * left);
		counts[g] = followers(r, &owned[g], left, next[g]);
	}
	/* Layer by layer, groups in rank order. */
	order = palloc(sizeof(int64) * left);
	for (int layer = 0; nids < left; layer++)
	{
		bool		any = false;

		for (int g = 0; g < ngroups && nids < left; g++)
		{
			if (layer < counts[g])
			{
				order[nids++] = next[g][layer];
				any = true;
			}
		}
		if (!any)
			break;
	}
	if (nids == 0)
		return (uint64) ngroups;

	/* Lease them all at once, and return them in the layered order. */
	ids = palloc(sizeof(int64) * nids);
	memcpy(ids, order, sizeof(int64) * nids);
	got = lease(r, ids, nids);
	rows = palloc0(sizeof(HeapTuple) * nids);
	for (uint64 i = 0; i < got; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));

		for (int j = 0; j < nids; j++)
			if (order[j] == id)
				rows[j] = SPI_tuptable->vals[i];
	}
	for (int j = 0; j < nids; j++)
	{
		if (rows[j] != NULL)
		{
			SPITupleTable one = *SPI_tuptable;

			one.vals = &rows[j];
			result_add_tuples(fcinfo, &one, 1);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return (uint64) ngroups + got;
}

/* One FIFO read, inside SPI: lease into the result, count it. */
static uint64
fifo_attempt(FunctionCallInfo fcinfo, QueueCacheEntry *entry, const char *name, int32 qty,
			 int32 vt, void *arg, uint64 *moved)
{
	FifoMode	mode = (FifoMode) (intptr_t) arg;
	FifoRead	r;
	FifoWalk	walk;
	uint64		taken;
	int64		head_mark;
	Oid			relid = queue_cache_relid(entry);

	r.entry = entry;
	r.vt = vt;
	r.max_receives = queue_cache_max_receives(entry);
	r.name = CStringGetTextDatum(name);
	r.moved = 0;
	taken = 0;
	head_mark = head_mark_round(entry);

	/*
	 * A head moved to the dead letters leaves its group to the next
	 * message: walk again for the places left, as read does.
	 */
	for (;;)
	{
		uint64		moved_before = r.moved;
		uint64		got;

		walk_begin(&walk, entry, qty - (int32) taken, head_mark);
		switch (mode)
		{
			case FIFO_FILL:
				got = fifo_fill(fcinfo, &r, &walk, qty - (int32) taken);
				break;
			case FIFO_ROUND_ROBIN:
				got = fifo_round_robin(fcinfo, &r, &walk, qty - (int32) taken);
				break;
			default:
				got = fifo_heads(fcinfo, &r, &walk, qty - (int32) taken, NULL);
				break;
		}
		MemoryContextDelete(walk.cxt);
		taken += got;
		if (r.moved == moved_before || taken >= (uint64) qty)
			break;
	}

	/* Leased: readable again when the lease ends, or at once if this aborts. */
	queue_events_rows(relid, (int64) taken,
					  GetCurrentTimestamp() + (TimestampTz) vt * USECS_PER_SEC, true);
	queue_events_count(relid, QUEUE_READ, (int64) taken);
	queue_events_count(relid, QUEUE_DEAD_LETTERED, (int64) r.moved);
	*moved = r.moved;
	return taken;
}

/*
 * A FIFO read sizes its arrays by qty up front, so a qty of "everything"
 * (2147483647) would ask for gigabytes: one call takes at most this many
 * messages, which no real reader comes near.
 */
#define FIFO_MAX_QTY 1000000

/* read_grouped*(queue_name, vt, qty) */
static Datum
fifo_read(FunctionCallInfo fcinfo, FifoMode mode)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		vt = arg_int32_min(fcinfo, 1, "vt", 0);
	int32		qty = Min(arg_int32_min(fcinfo, 2, "qty", 1), FIFO_MAX_QTY);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	uint64		moved;

	result_begin_set(fcinfo, true);
	SPI_connect();
	(void) fifo_attempt(fcinfo, entry, name, qty, vt, (void *) (intptr_t) mode, &moved);
	SPI_finish();
	return (Datum) 0;
}

/*
 * read_grouped*_with_poll(queue_name, vt, qty, max_poll_seconds DEFAULT 5,
 * poll_interval_ms DEFAULT 100): as read_with_poll.  A FIFO reader may be
 * woken by a message of a busy group it cannot take, so every commit to
 * the queue wakes all FIFO waiters.
 */
static Datum
fifo_read_with_poll(FunctionCallInfo fcinfo, FifoMode mode)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	int32		vt = arg_int32_min(fcinfo, 1, "vt", 0);
	int32		qty = Min(arg_int32_min(fcinfo, 2, "qty", 1), FIFO_MAX_QTY);
	int32		max_poll_seconds = arg_int32_min(fcinfo, 3, "max_poll_seconds", 0);
	int32		poll_interval_ms = arg_int32_min(fcinfo, 4, "poll_interval_ms", 0);

	return read_poll(fcinfo, name, vt, qty, max_poll_seconds, poll_interval_ms, true,
					 fifo_attempt, (void *) (intptr_t) mode);
}

PG_FUNCTION_INFO_V1(pgmq_c_read_grouped);
Datum
pgmq_c_read_grouped(PG_FUNCTION_ARGS)
{
	return fifo_read(fcinfo, FIFO_FILL);
}

PG_FUNCTION_INFO_V1(pgmq_c_read_grouped_rr);
Datum
pgmq_c_read_grouped_rr(PG_FUNCTION_ARGS)
{
	return fifo_read(fcinfo, FIFO_ROUND_ROBIN);
}

PG_FUNCTION_INFO_V1(pgmq_c_read_grouped_head);
Datum
pgmq_c_read_grouped_head(PG_FUNCTION_ARGS)
{
	return fifo_read(fcinfo, FIFO_HEADS);
}

PG_FUNCTION_INFO_V1(pgmq_c_read_grouped_with_poll);
Datum
pgmq_c_read_grouped_with_poll(PG_FUNCTION_ARGS)
{
	return fifo_read_with_poll(fcinfo, FIFO_FILL);
}

PG_FUNCTION_INFO_V1(pgmq_c_read_grouped_rr_with_poll);
Datum
pgmq_c_read_grouped_rr_with_poll(PG_FUNCTION_ARGS)
{
	return fifo_read_with_poll(fcinfo, FIFO_ROUND_ROBIN);
}

PG_FUNCTION_INFO_V1(pgmq_c_read_grouped_head_with_poll);
Datum
pgmq_c_read_grouped_head_with_poll(PG_FUNCTION_ARGS)
{
	return fifo_read_with_poll(fcinfo, FIFO_HEADS);
}

/*
 * pgmq.create_fifo_index(queue_name), also _create_fifo_index_if_not_exists:
 * the index on (group, msg_id) the FIFO reads use, q_<name>_group_idx.
 * pgmq makes a GIN index on headers here, which its group lookups cannot
 * use; this one serves them.  Needs the rights CREATE INDEX needs (the
 * queue table's owner); a second call does nothing.
 */
static Datum
create_fifo_index_body(PG_FUNCTION_ARGS)
{
	char	   *name = queue_name_from_arg(fcinfo, 0);
	QueueCacheEntry *entry = queue_cache_lookup(name);
	char	   *table = queue_table_name(name, "q");
	char	   *sql;

	sql = psprintf("CREATE INDEX IF NOT EXISTS %s ON %s ((" FIFO_GROUP "), msg_id)",
				   quote_identifier(psprintf("%s" FIFO_INDEX_SUFFIX, table)),
				   queue_cache_table(entry));
	SPI_connect();
	result_run_sql(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_create_fifo_index, create_fifo_index_body, 0, QUEUE_ACCESS_MANAGE)
