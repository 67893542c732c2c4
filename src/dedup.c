/*-------------------------------------------------------------------------
 *
 * dedup.c
 *		Exactly-once sends: a message whose headers carry x-pgmq-dedup-id is
 *		stored at most once per queue within the queue's dedup window.
 *
 * Each id sent is a row of pgmq.dedup_keys (queue, id, msg_id, expires_at).
 * A send with an id draws its msg_id from the queue's sequence first, then
 * claims the key with INSERT ... ON CONFLICT DO NOTHING:
 *	- claimed: the message is inserted with that msg_id;
 *	- taken by a live key: the key's msg_id is returned, nothing inserted;
 *	- taken by an expired key (past its window, not yet removed by the
 *	  maintenance pass): the key is taken over with an UPDATE that checks
 *	  the expiry again under the row lock.
 * The unique index does the arbitration between racing senders: a second
 * sender of the same id waits for the first's transaction, then sees the
 * key (commit) or inserts it itself (rollback).  A duplicate takes no row
 * lock, so an open transaction that sent a duplicate blocks nobody.
 *
 * Under REPEATABLE READ and SERIALIZABLE a key committed by a transaction
 * the snapshot cannot see is a serialization failure (40001): the snapshot
 * could neither return its msg_id nor honestly insert a second copy.
 *
 * Callers have no rights on pgmq.dedup_keys: its statements run as its
 * owner, in a security-restricted operation, after checking that the
 * caller may INSERT into the queue (else a role could learn which ids were
 * sent without being allowed to send).  The message itself is inserted
 * with the caller's rights, through the queue's cached plan.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* The statements on pgmq.dedup_keys, prepared once per backend. */
typedef enum DedupPlan
{
	DPLAN_CLAIM,
	DPLAN_CLAIM_MANY,
	DPLAN_LOOKUP,
	DPLAN_LOOKUP_MANY,
	DPLAN_TAKE_OVER,
	DPLAN_FORGET_QUEUE,
	DPLAN_EXPIRE,
	DPLAN_QUEUES_WITH_EXPIRED,
	DPLAN_COUNT
} DedupPlan;

typedef struct DedupTemplate
{
	const char *sql;
	int			nargs;
	Oid			argtypes[5];
} DedupTemplate;

#define KEY_IS(q, id) \
	"queue_name" EQ q " AND dedup_id" EQ id

static const DedupTemplate dedup_templates[DPLAN_COUNT] = {
	/* $1 queue, $2 id, $3 msg_id, $4 expires_at */
	[DPLAN_CLAIM] = {
		"INSERT INTO pgmq.dedup_keys (queue_name, dedup_id, msg_id, expires_at)"
		" VALUES ($1, $2, $3, $4) ON CONFLICT (queue_name, dedup_id) DO NOTHING RETURNING msg_id",
		4, {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID}
	},
	/* $2 ids, $3 their msg_ids, claimed in id order; $5 (now) unused */
	[DPLAN_CLAIM_MANY] = {
		"INSERT INTO pgmq.dedup_keys (queue_name, dedup_id, msg_id, expires_at)"
		" SELECT $1, k.id, k.msg_id, $4 FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3))"
		" AS k(id, msg_id) ORDER BY k.id COLLATE pg_catalog.\"C\""
		" ON CONFLICT (queue_name, dedup_id) DO NOTHING RETURNING dedup_id",
		5, {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	/* $3: now; the last column says whether the key has expired */
	[DPLAN_LOOKUP] = {
		"SELECT dedup_id, msg_id, expires_at" LE "$3 FROM pgmq.dedup_keys WHERE " KEY_IS("$1", "$2"),
		3, {TEXTOID, TEXTOID, TIMESTAMPTZOID}
	},
	/* the same for the ids $2 ($3, $4 unused: CLAIM_MANY's parameters) */
	[DPLAN_LOOKUP_MANY] = {
		"SELECT dedup_id, msg_id, expires_at" LE "$5 FROM pgmq.dedup_keys"
		" WHERE queue_name" EQ "$1 AND dedup_id" EQ "ANY ($2)",
		5, {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	/* an expired key becomes ours; $5: now, checked again under the row lock */
	[DPLAN_TAKE_OVER] = {
		"UPDATE pgmq.dedup_keys SET msg_id = $3, expires_at = $4"
		" WHERE " KEY_IS("$1", "$2") " AND expires_at" LE "$5 RETURNING msg_id",
		5, {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	[DPLAN_FORGET_QUEUE] = {
		"DELETE FROM pgmq.dedup_keys WHERE queue_name" EQ "$1",
		1, {TEXTOID}
	},
	/*
	 * Up to $2 expired keys of queue $1, oldest first, through the expiry
	 * index; keys a sender is taking over right now are skipped.
	 */
	[DPLAN_EXPIRE] = {
		"DELETE FROM pgmq.dedup_keys WHERE queue_name" EQ "$1 AND dedup_id" EQ "ANY (ARRAY("
		"SELECT dedup_id FROM pgmq.dedup_keys WHERE queue_name" EQ "$1"
		" AND expires_at" LE NOW_CLOCK " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))"
		" AND expires_at" LE NOW_CLOCK " RETURNING 1",
		2, {TEXTOID, INT4OID}
	},
	/*
	 * The queues that have expired keys: a walk over the distinct queue
	 * names of the primary key (one probe per queue, not a scan of every
	 * key), then one probe of the expiry index each.
	 */
	[DPLAN_QUEUES_WITH_EXPIRED] = {
		"WITH RECURSIVE q(name) AS ("
		" (SELECT queue_name FROM pgmq.dedup_keys ORDER BY queue_name LIMIT 1)"
		" UNION ALL"
		" SELECT (SELECT k.queue_name FROM pgmq.dedup_keys k"
		"  WHERE k.queue_name OPERATOR(pg_catalog.>) q.name ORDER BY k.queue_name LIMIT 1)"
		" FROM q WHERE q.name IS NOT NULL)"
		" SELECT pg_catalog.array_agg(q.name::pg_catalog.text) FROM q WHERE q.name IS NOT NULL"
		" AND EXISTS (SELECT FROM pgmq.dedup_keys k WHERE k.queue_name" EQ "q.name"
		" AND k.expires_at" LE NOW_CLOCK ")",
		0, {InvalidOid}
	},
};

static SPIPlanPtr dedup_plans[DPLAN_COUNT];

/*
 * pgmq.dedup_keys, or InvalidOid when the extension is still at 0.1.0
 * (the library is newer than the SQL objects until ALTER EXTENSION UPDATE).
 */
static Oid
dedup_table(void)
{
	Oid			nsp = get_namespace_oid(PGMQ_SCHEMA, true);

	return OidIsValid(nsp) ? get_relname_relid("dedup_keys", nsp) : InvalidOid;
}

static Oid
dedup_table_required(void)
{
	Oid			relid = dedup_table();

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("header \"%s\" needs pgmq_c 0.2.0 or later", DEDUP_HEADER),
				 errhint("Run ALTER EXTENSION pgmq_c UPDATE.")));
	return relid;
}

/*
 * Execute a statement on pgmq.dedup_keys as the table's owner (relid); the
 * caller's identity is back when it returns.  On error the (sub)transaction
 * abort restores it, as for every SetUserIdAndSecContext in Postgres.
 * Inside an SPI connection.
 */
static uint64
dedup_execute(Oid relid, DedupPlan which, Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec_context;
	uint64		n;

	if (dedup_plans[which] == NULL)
	{
		const DedupTemplate *tmpl = &dedup_templates[which];
		SPIPlanPtr	plan = SPI_prepare_cursor(tmpl->sql, tmpl->nargs, (Oid *) tmpl->argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 tmpl->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		dedup_plans[which] = plan;
	}
	queue_become_owner(relid, &save_userid, &save_sec_context);
	n = result_execute(dedup_plans[which], values, nulls);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return n;
}

/*
 * The dedup id in a message's headers (a jsonb datum), or NULL when there
 * is none: one key lookup, for headers that are a JSON object.  An id that
 * is not a non-empty string of at most DEDUP_ID_MAX_BYTES bytes is an error
 * (22023).  Numbers are refused rather than taken as their text: 1e3 and
 * 1000 are one JSON value but two strings, and "1000" and 1000 would be one
 * key; a string says exactly which key is meant.
 */
text *
dedup_id_of(Datum headers)
{
	Jsonb	   *jb = DatumGetJsonbP(headers);
	JsonbValue	v;
	const char *what;

	if (!JB_ROOT_IS_OBJECT(jb))
		return NULL;
	if (getKeyJsonValueFromContainer(&jb->root, DEDUP_HEADER, strlen(DEDUP_HEADER), &v) == NULL)
		return NULL;
	if (v.type == jbvString && v.val.string.len > 0 && v.val.string.len <= DEDUP_ID_MAX_BYTES)
		return cstring_to_text_with_len(v.val.string.val, v.val.string.len);

	switch (v.type)
	{
		case jbvString:
			what = v.val.string.len == 0 ? "an empty string" : "longer than the limit";
			break;
		case jbvNull:
			what = "null";
			break;
		case jbvNumeric:
			what = "a number";
			break;
		case jbvBool:
			what = "a boolean";
			break;
		default:
			what = "an array or object";
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("header \"%s\" must be a non-empty string of at most %d bytes",
					DEDUP_HEADER, DEDUP_ID_MAX_BYTES),
			 v.type == jbvString && v.val.string.len > DEDUP_ID_MAX_BYTES ?
			 errdetail("It is %d bytes long.", v.val.string.len) :
			 errdetail("It is %s.", what),
			 v.type == jbvNumeric ? errhint("Send the id as a JSON string, e.g. \"1042\".") : 0));
	return NULL;				/* keep the compiler quiet */
}

/* The queue's name in its dedup keys: lowercased, as its tables' names. */
static text *
dedup_queue_key(const char *name)
{
	/* "q_" is lowercase already: what follows is lower(name). */
	return cstring_to_text(queue_table_name(name, "q") + 2);
}

/*
 * Insert one message whose msg_id was drawn, with the caller's rights.
 * Every message of a send that goes one by one is inserted this way (with
 * or without an id of its own), so such a send needs INSERT on the queue
 * and nothing more.
 */
static void
insert_message(QueueCacheEntry *entry, int64 msg_id, TimestampTz vt, Datum msg, bool msg_null,
			   Datum headers, bool headers_null)
{
	Datum		values[4] = {Int64GetDatum(msg_id), TimestampTzGetDatum(vt), msg, headers};
	char		nulls[4] = {' ', ' ', msg_null ? 'n' : ' ', headers_null ? 'n' : ' '};

	if (queue_execute(entry, QPLAN_SEND_WITH_ID, values, nulls) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("insert into queue table \"%s\" inserted no row",
						get_rel_name(queue_cache_relid(entry))),
				 errdetail("A trigger on the table skipped message %lld of a send with header \"%s\", whose ids must be rows.",
						   (long long) msg_id, DEDUP_HEADER)));
}

/*
 * Make the key (queue, id) ours with msg_id, or find the live key that has
 * it: msg_id (*claimed true) or the live key's msg_id (*claimed false).
 * Inside an SPI connection.
 */
static int64
claim_key(Oid keys_relid, text *queue, text *id, int64 msg_id, TimestampTz now,
		  TimestampTz expires_at, bool *claimed)
{
	/* (queue, id, msg_id, expires_at, now): claim; take over */
	Datum		claim[5] = {PointerGetDatum(queue), PointerGetDatum(id), Int64GetDatum(msg_id),
	TimestampTzGetDatum(expires_at), TimestampTzGetDatum(now)};
	/* (queue, id, now): lookup */
	Datum		lookup[3] = {PointerGetDatum(queue), PointerGetDatum(id), TimestampTzGetDatum(now)};

	*claimed = true;
	for (;;)
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (dedup_execute(keys_relid, DPLAN_CLAIM, claim, NULL) == 1)
			return msg_id;
		/* Taken: by a committed key, or by this transaction. */
		if (dedup_execute(keys_relid, DPLAN_LOOKUP, lookup, NULL) == 1)
		{
			if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											3, &isnull)))
			{
				*claimed = false;
				return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
			}
			if (dedup_execute(keys_relid, DPLAN_TAKE_OVER, claim, NULL) == 1)
				return msg_id;
		}
		/*
		 * Gone (the maintenance pass removed it) or taken over by another
		 * sender since: try again.
		 */
	}
}

/* A dedup id of a batch, and what became of it. */
typedef struct BatchId
{
	char		id[DEDUP_ID_MAX_BYTES + 1];	/* hash key */
	int			first;			/* the message that carries it first */
	bool		resolved;		/* result[first] is final */
} BatchId;

static ArrayType *
int8_array(Datum *values, int n)
{
	return construct_array(values, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * A batch in a few statements, whatever its size: the keys of its ids
 * claimed in one INSERT (in id order, so that two batches sharing ids wait
 * for one another in one order and cannot deadlock), the keys that were
 * taken looked up in one SELECT, and the messages to insert inserted in
 * one INSERT, in input order.  Keys that need more (expired, or removed
 * meanwhile) go through claim_key one by one.  Each message draws its
 * msg_id in input order (a repeat inside the batch draws none), so new ids
 * ascend in input order, as a batch's do.
 */
static void
send_batch_with_ids(QueueCacheEntry *entry, Oid keys_relid, text *queue, int nmsgs,
					Datum *msgs, bool *msgs_null, Datum *headers, bool *headers_null,
					text **ids, TimestampTz vt, TimestampTz now, TimestampTz expires_at,
					int64 *result, uint64 *inserted)
{
	HASHCTL		ctl;
	HTAB	   *seen;
	BatchId   **firsts = palloc(sizeof(BatchId *) * nmsgs);
	int		   *first_of = palloc(sizeof(int) * nmsgs);
	Datum	   *key_ids = palloc(sizeof(Datum) * nmsgs);
	Datum	   *key_msg_ids = palloc(sizeof(Datum) * nmsgs);
	bool	   *insert = palloc0(sizeof(bool) * nmsgs);
	int			nkeys = 0;
	int			ninsert = 0;
	Datum		values[5];

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = DEDUP_ID_MAX_BYTES + 1;
	ctl.entrysize = sizeof(BatchId);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("pgmq_c batch dedup ids", Min(nmsgs, 1024), &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	/* Each id once: the first message that carries it claims it. */
	for (int i = 0; i < nmsgs; i++)
	{
		BatchId    *b;
		bool		found;

		first_of[i] = i;
		if (ids[i] == NULL)
		{
			result[i] = nextval_internal(queue_cache_sequence(entry), false);
			insert[i] = true;
			continue;
		}
		b = hash_search(seen, text_to_cstring(ids[i]), HASH_ENTER, &found);
		if (found)
		{
			first_of[i] = b->first;
			continue;
		}
		result[i] = nextval_internal(queue_cache_sequence(entry), false);
		b->first = i;
		b->resolved = false;
		firsts[nkeys] = b;
		key_ids[nkeys] = PointerGetDatum(ids[i]);
		key_msg_ids[nkeys] = Int64GetDatum(result[i]);
		nkeys++;
	}

	/* Claim them all; RETURNING names the ids now ours. */
	values[0] = PointerGetDatum(queue);
	values[1] = PointerGetDatum(construct_array(key_ids, nkeys, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(int8_array(key_msg_ids, nkeys));
	values[3] = TimestampTzGetDatum(expires_at);
	values[4] = TimestampTzGetDatum(now);
	if (dedup_execute(keys_relid, DPLAN_CLAIM_MANY, values, NULL) > 0)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			BatchId    *b = hash_search(seen, SPI_getvalue(SPI_tuptable->vals[r],
														   SPI_tuptable->tupdesc, 1),
										HASH_FIND, NULL);

			if (b == NULL)
				elog(ERROR, "claimed dedup id is not in the batch");
			b->resolved = true;
			insert[b->first] = true;
		}
	}

	/* The others were taken: live keys give their msg_id. */
	if (SPI_processed < (uint64) nkeys &&
		dedup_execute(keys_relid, DPLAN_LOOKUP_MANY, values, NULL) > 0)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			BatchId    *b = hash_search(seen, SPI_getvalue(tuple, desc, 1), HASH_FIND, NULL);
			bool		isnull;

			if (b == NULL || b->resolved ||
				DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull)))
				continue;
			result[b->first] = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
			b->resolved = true;
		}
	}

	/* Expired or gone meanwhile: one by one. */
	for (int k = 0; k < nkeys; k++)
	{
		BatchId    *b = firsts[k];
		bool		claimed;

		if (b->resolved)
			continue;
		result[b->first] = claim_key(keys_relid, queue, ids[b->first], result[b->first],
									 now, expires_at, &claimed);
		insert[b->first] = claimed;
	}

	/* Repeats inside the batch: the first one's id. */
	for (int i = 0; i < nmsgs; i++)
		result[i] = result[first_of[i]];
	hash_destroy(seen);

	/* The messages to insert, in input order, in one statement. */
	{
		Datum	   *ins_ids = palloc(sizeof(Datum) * nmsgs);
		Datum	   *ins_msgs = palloc(sizeof(Datum) * nmsgs);
		bool	   *ins_msgs_null = palloc(sizeof(bool) * nmsgs);
		Datum	   *ins_headers = palloc(sizeof(Datum) * nmsgs);
		bool	   *ins_headers_null = palloc(sizeof(bool) * nmsgs);
		int			dims[1];
		int			lbs[1] = {1};
		Datum		ins[4];

		for (int i = 0; i < nmsgs; i++)
		{
			if (!insert[i])
				continue;
			ins_ids[ninsert] = Int64GetDatum(result[i]);
			ins_msgs[ninsert] = msgs[i];
			ins_msgs_null[ninsert] = msgs_null[i];
			ins_headers[ninsert] = headers[i];
			ins_headers_null[ninsert] = headers_null[i];
			ninsert++;
		}
		*inserted = ninsert;
		if (ninsert == 0)
			return;
		dims[0] = ninsert;
		ins[0] = PointerGetDatum(int8_array(ins_ids, ninsert));
		ins[1] = TimestampTzGetDatum(vt);
		ins[2] = PointerGetDatum(construct_md_array(ins_msgs, ins_msgs_null, 1, dims, lbs,
													JSONBOID, -1, false, TYPALIGN_INT));
		ins[3] = PointerGetDatum(construct_md_array(ins_headers, ins_headers_null, 1, dims, lbs,
													JSONBOID, -1, false, TYPALIGN_INT));
		if (queue_execute(entry, QPLAN_SEND_BATCH_WITH_IDS, ins, NULL) != (uint64) ninsert)
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("insert into queue table \"%s\" inserted fewer rows than it was given",
							get_rel_name(queue_cache_relid(entry))),
					 errdetail("A trigger on the table skipped messages of a batch with header \"%s\", whose ids must be rows.",
							   DEDUP_HEADER)));
	}
}

/*
 * Send nmsgs messages of which some carry a dedup id (ids[i], NULL when
 * message i has none); result[i] is message i's msg_id, new or original,
 * and *inserted how many rows were inserted.  A repeat of an id within the
 * batch gets the first one's id.  Every message, with an id or without,
 * draws its msg_id here, so the inserts need no RETURNING: INSERT on the
 * queue is all the caller needs.  A repeat has drawn an id it does not
 * use: msg_ids have gaps, as after a rollback.  Inside an SPI connection.
 */
void
dedup_send(QueueCacheEntry *entry, int nmsgs, Datum *msgs, bool *msgs_null,
		   Datum *headers, bool *headers_null, text **ids, TimestampTz vt, int64 *result,
		   uint64 *inserted)
{
	Oid			relid = queue_cache_relid(entry);
	Oid			keys_relid = dedup_table_required();
	/* The queue table is "q_" and the lowercased name. */
	text	   *queue = cstring_to_text(get_rel_name(relid) + 2);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz expires_at;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		refusal_raise(text_to_cstring(queue), QUEUE_ACCESS_SEND,
					  psprintf("permission denied for table %s", get_rel_name(relid)));
	/*
	 * The queue's head mark (head_mark.c) passes no id drawn by a
	 * transaction that held this lock when the mark was worked out: hold it
	 * before drawing ids, as an INSERT would.
	 */
	LockRelationOid(relid, RowExclusiveLock);
	/* The lock may have waited for a drop_queue that committed. */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"pgmq.q_%s\" does not exist", text_to_cstring(queue))));
	if (!OidIsValid(queue_cache_sequence(entry)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue table \"%s\" has no msg_id sequence", get_rel_name(relid)),
				 errdetail("A message with header \"%s\" draws its msg_id before it is inserted.",
						   DEDUP_HEADER)));
	expires_at = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														 TimestampTzGetDatum(now),
														 IntervalPGetDatum(queue_cache_dedup_window(entry))));

	if (nmsgs > 1)
	{
		send_batch_with_ids(entry, keys_relid, queue, nmsgs, msgs, msgs_null, headers,
							headers_null, ids, vt, now, expires_at, result, inserted);
		return;
	}

	/* One message, with an id. */
	{
		bool		claimed;

		result[0] = claim_key(keys_relid, queue, ids[0],
							  nextval_internal(queue_cache_sequence(entry), false),
							  now, expires_at, &claimed);
		*inserted = 0;
		if (!claimed)
			return;
		insert_message(entry, result[0], vt, msgs[0], msgs_null[0], headers[0], headers_null[0]);
		*inserted = 1;
	}
}

/*
 * drop_queue: the queue's keys go with it (a queue created again under the
 * name starts with none).  Inside an SPI connection.
 */
void
dedup_forget_queue(const char *name)
{
	Oid			relid = dedup_table();
	Datum		values[1];

	if (!OidIsValid(relid))
		return;
	values[0] = PointerGetDatum(dedup_queue_key(name));
	(void) dedup_execute(relid, DPLAN_FORGET_QUEUE, values, NULL);
}

/*
 * The lowercased names of the queues that have expired keys, as a text[]
 * (*isnull: none, or no key table).  Inside an SPI connection; the array
 * is in SPI's memory.
 */
Datum
dedup_queues_with_expired_keys(bool *isnull)
{
	Oid			relid = dedup_table();

	*isnull = true;
	if (!OidIsValid(relid) || dedup_execute(relid, DPLAN_QUEUES_WITH_EXPIRED, NULL, NULL) != 1)
		return (Datum) 0;
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

/*
 * The maintenance pass: remove queue `name`'s expired keys, at most
 * `batches` statements of `batch` keys; how many went.  An expired key
 * already means nothing to a send (it is taken over); removing it only
 * keeps the table small, so it is done as the table's owner whoever runs
 * the pass.  Inside an SPI connection.
 */
int64
dedup_expire_keys(const char *name, int batch, int batches)
{
	Oid			relid = dedup_table();
	Datum		values[2];
	int64		total = 0;

	if (!OidIsValid(relid))
		return 0;
	values[0] = PointerGetDatum(dedup_queue_key(name));
	values[1] = Int32GetDatum(batch);
	for (int i = 0; i < batches; i++)
	{
		uint64		n = dedup_execute(relid, DPLAN_EXPIRE, values, NULL);

		total += n;
		if (n < batch)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	return total;
}
