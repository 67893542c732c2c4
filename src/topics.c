/*-------------------------------------------------------------------------
 *
 * topics.c
 *		Topic routing, as pgmq has it: RabbitMQ-style patterns bound to
 *		queues (pgmq.topic_bindings), and send_topic / send_batch_topic,
 *		which send one copy to every queue whose pattern the routing key
 *		matches.
 *
 * pgmq matches with the regular expression in the stored column
 * compiled_regex ('^' || pattern with '*' -> '[^.]+', '#' -> '.*', the
 * rest literal || '$').  Here each pattern is compiled once into a short
 * list of tokens (literal, star, hash) and matched in C, with exactly the
 * regex's meaning, quirks included: a star is one or more characters other
 * than a dot, also inside a segment ("ab*" matches "abc", not "ab"); a hash
 * is any run of characters, dots included, possibly empty, so "logs.#"
 * needs the dot and does not match "logs".
 *
 * Every binding is cached per backend in a child of CacheMemoryContext.
 * Row changes send no invalidations of their own, so a statement-level
 * trigger on topic_bindings (which also sees bind/unbind, direct DML and
 * the cascade of drop_queue) sends a relcache invalidation of the table:
 * every backend's callback then drops its cache when that transaction
 * commits, and this backend's at once.  The cache is loaded with the latest
 * snapshot, as the catalog caches are: what is committed (and this
 * transaction's own changes), never an uncommitted binding of another
 * session.  Under REPEATABLE READ and SERIALIZABLE the transaction's
 * snapshot decides instead, as for pgmq: the bindings are read with it for
 * each call, without the cache.
 *
 * Sends go through send_messages() (send.c), one queue after another in
 * queue-name order, all in the caller's transaction: a failure in any queue
 * undoes the copies already sent.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/sinval.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

/* Both kinds of string are at most this many characters (pgmq's limit). */
#define TOPIC_MAX_CHARS 255

/* A compiled pattern is a sequence of these. */
typedef enum TopicTokenKind
{
	TOPIC_LITERAL,				/* these bytes, exactly */
	TOPIC_STAR,					/* '[^.]+' */
	TOPIC_HASH					/* '.*' */
} TopicTokenKind;

typedef struct TopicToken
{
	TopicTokenKind kind;
	int			len;			/* of a literal */
	const char *bytes;			/* of a literal (not terminated) */
} TopicToken;

typedef struct TopicBinding
{
	char	   *pattern;
	char	   *queue_name;
	char	   *compiled_regex; /* as stored, NULL if the column is */
	int			rank;			/* place in pattern, queue_name order */
	int			ntokens;
	TopicToken *tokens;
} TopicBinding;

/*
 * The cache: every binding, in queue_name, pattern order (the database's
 * collation, as ORDER BY gives it).  `valid` is cleared by the relcache
 * callback; the memory is only replaced at the start of the next use,
 * never while a send works through a list taken from it.
 */
static MemoryContext bindings_context = NULL;
static TopicBinding *bindings = NULL;
static int	nbindings = 0;
static bool bindings_valid = false;
static uint64 bindings_invalidations = 0;	/* invalidations seen */
static Oid	bindings_relid = InvalidOid;
static SPIPlanPtr bindings_plan = NULL;
static bool topics_callback_registered = false;

/* Sent by send_batch_topic's validation: pgmq._validate_batch_params. */
extern PGDLLEXPORT Datum pgmq_c_validate_batch_params(PG_FUNCTION_ARGS);

/* The cache is out of date: reload before the next use. */
static void
topics_forget(void)
{
	bindings_valid = false;
	bindings_invalidations++;
}

/*
 * Relcache invalidation: of topic_bindings (a binding changed anywhere, or
 * the table went), or of everything (InvalidOid: a cache reset).
 */
static void
topics_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == bindings_relid)
		topics_forget();
}

static void
topics_register_callback(void)
{
	if (topics_callback_registered)
		return;
	CacheRegisterRelcacheCallback(topics_invalidate, (Datum) 0);
	topics_callback_registered = true;
}

/*
 * Validation, as pgmq's validate_routing_key and validate_topic_pattern:
 * the same checks in the same order, with pgmq's messages.  NULL is 22004,
 * everything else 22023.
 */
static bool
topic_char_allowed(char c, bool pattern)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '.' || c == '_' || c == '-' || (pattern && (c == '*' || c == '#'));
}

static void
topic_check(const char *s, bool isnull, bool pattern)
{
	const char *what = pattern ? "pattern" : "routing_key";
	int			len;
	int			nchars;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be NULL or empty", what)));
	len = strlen(s);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be NULL or empty", what)));
	nchars = pg_mbstrlen_with_len(s, len);
	if (nchars > TOPIC_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s length cannot exceed %d characters, got %d characters",
						what, TOPIC_MAX_CHARS, nchars)));
	for (int i = 0; i < len; i++)
	{
		if (!topic_char_allowed(s[i], pattern))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 pattern ?
					 errmsg("pattern contains invalid characters. Only alphanumeric, dots, hyphens, underscores, *, and # are allowed. Got: %s", s) :
					 errmsg("routing_key contains invalid characters. Only alphanumeric, dots, hyphens, and underscores are allowed. Got: %s", s)));
	}
	if (s[0] == '.')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot start with a dot. Got: %s", what, s)));
	if (s[len - 1] == '.')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot end with a dot. Got: %s", what, s)));
	if (strstr(s, "..") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot contain consecutive dots. Got: %s", what, s)));
	if (!pattern)
		return;
	if (strstr(s, "**") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pattern cannot contain consecutive stars (**). Use # for multi-segment matching. Got: %s", s)));
	if (strstr(s, "##") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pattern cannot contain consecutive hashes (##). A single # already matches zero or more segments. Got: %s", s)));
	if (strstr(s, "*#") != NULL || strstr(s, "#*") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pattern cannot contain adjacent wildcards (*# or #*). Separate wildcards with dots. Got: %s", s)));
}

/* Argument argno, checked as a routing key (or pattern); the string. */
static char *
topic_arg(FunctionCallInfo fcinfo, int argno, bool pattern)
{
	char	   *s = PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));

	topic_check(s, s == NULL, pattern);
	return s;
}

/*
 * Compile a pattern as stored (which direct DML may have put there without
 * validation: any text) into tokens, in the current memory context.  Every
 * character but '*' and '#' is literal: pgmq's regex escapes all the
 * others that mean something to a regex.
 */
static TopicToken *
topic_compile(const char *pattern, int *ntokens)
{
	int			len = strlen(pattern);
	TopicToken *tokens = palloc(sizeof(TopicToken) * Max(len, 1));
	int			n = 0;

	for (int i = 0; i < len;)
	{
		if (pattern[i] == '*' || pattern[i] == '#')
		{
			tokens[n].kind = pattern[i] == '*' ? TOPIC_STAR : TOPIC_HASH;
			tokens[n].len = 0;
			tokens[n].bytes = NULL;
			n++;
			i++;
			continue;
		}
		tokens[n].kind = TOPIC_LITERAL;
		tokens[n].bytes = pattern + i;
		while (i < len && pattern[i] != '*' && pattern[i] != '#')
			i++;
		tokens[n].len = (pattern + i) - tokens[n].bytes;
		n++;
	}
	*ntokens = n;
	return tokens;
}

/*
 * Does key (klen bytes) match the compiled pattern, anchored at both ends?
 * The set of key positions the pattern can have reached after each token,
 * in `reach` and `next` (klen + 1 flags each).  Linear in the key per
 * token, whatever the wildcards.
 */
static bool
topic_match(const TopicToken *tokens, int ntokens, const char *key, int klen,
			bool *reach, bool *next)
{
	if (ntokens == 1 && tokens[0].kind == TOPIC_LITERAL)
		return tokens[0].len == klen && memcmp(tokens[0].bytes, key, klen) == 0;
	if (ntokens == 0)
		return klen == 0;

	memset(reach, 0, klen + 1);
	reach[0] = true;
	for (int t = 0; t < ntokens; t++)
	{
		const TopicToken *tok = &tokens[t];
		bool		any = false;

		memset(next, 0, klen + 1);
		switch (tok->kind)
		{
			case TOPIC_LITERAL:
				for (int p = 0; p + tok->len <= klen; p++)
				{
					if (reach[p] && memcmp(key + p, tok->bytes, tok->len) == 0)
						next[p + tok->len] = any = true;
				}
				break;
			case TOPIC_STAR:
				{
					/* q is reached if some reached p < q has no dot in key[p, q) */
					bool		run = false;

					for (int q = 1; q <= klen; q++)
					{
						run = key[q - 1] != '.' && (reach[q - 1] || run);
						next[q] = run;
						any |= run;
					}
				}
				break;
			case TOPIC_HASH:
				{
					int			first = 0;

					while (first <= klen && !reach[first])
						first++;
					for (int q = first; q <= klen; q++)
						next[q] = any = true;
				}
				break;
		}
		if (!any)
			return false;
		memcpy(reach, next, klen + 1);
	}
	return reach[klen];
}

/* pgmq.topic_bindings' relation id; an error naming it if it is not there. */
static Oid
topics_relid(void)
{
	Oid			nsp = get_namespace_oid(PGMQ_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("topic_bindings", nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.topic_bindings\" does not exist", PGMQ_SCHEMA),
				 errhint("Update the extension: ALTER EXTENSION pgmq_c UPDATE.")));
	return relid;
}

/*
 * Every binding, read with `snapshot` (InvalidSnapshot: the statement's)
 * into `cxt`, each pattern compiled; *n is how many.
 */
static TopicBinding *
topics_read(Snapshot snapshot, MemoryContext cxt, int *n)
{
	int			rc;
	TopicBinding *loaded;

	SPI_connect();
	if (bindings_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(
			"SELECT b.pattern, b.queue_name, b.compiled_regex,"
			" (pg_catalog.row_number() OVER (ORDER BY b.pattern, b.queue_name))::pg_catalog.int4"
			" FROM " PGMQ_SCHEMA ".topic_bindings b"
			" ORDER BY b.queue_name, b.pattern", 0, NULL);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		bindings_plan = plan;
	}
	rc = SPI_execute_snapshot(bindings_plan, NULL, NULL, snapshot, InvalidSnapshot,
							  true, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
	*n = (int) SPI_processed;
	loaded = MemoryContextAlloc(cxt, sizeof(TopicBinding) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		TopicBinding *b = &loaded[i];
		MemoryContext old;
		char	   *regex = SPI_getvalue(tuple, desc, 3);
		bool		isnull;

		old = MemoryContextSwitchTo(cxt);
		b->pattern = SPI_getvalue(tuple, desc, 1);
		b->queue_name = SPI_getvalue(tuple, desc, 2);
		b->compiled_regex = regex == NULL ? NULL : pstrdup(regex);
		b->rank = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
		b->tokens = topic_compile(b->pattern, &b->ntokens);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return loaded;
}

/*
 * Read every binding into a new context and make it the cache.  With the
 * latest snapshot, as the catalog caches are read: what is committed now
 * (and this transaction's own changes).  An invalidation that arrives while
 * loading leaves the cache marked invalid: this call uses what it read, the
 * next reads again.
 */
static void
topics_load(void)
{
	MemoryContext cxt;
	TopicBinding *loaded;
	int			n;
	uint64		seen;

	bindings_relid = topics_relid();
	seen = bindings_invalidations;
	/* under the caller's context until complete: an error frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pgmq_c topic bindings",
								ALLOCSET_SMALL_SIZES);
	loaded = topics_read(GetLatestSnapshot(), cxt, &n);
	/* valid unless an invalidation came in while reading (or it failed) */
	bindings_valid = seen == bindings_invalidations;
	MemoryContextSetParent(cxt, CacheMemoryContext);
	if (bindings_context != NULL)
		MemoryContextDelete(bindings_context);
	bindings_context = cxt;
	bindings = loaded;
	nbindings = n;
}

/*
 * The bindings to route by, *n of them, in queue_name, pattern order, once
 * the caller's right to read them is checked.
 *
 * Under READ COMMITTED, the cache: first take the invalidations that other
 * sessions' commits have sent since this transaction last did, so that each
 * statement routes by what is committed when it runs, and reload if one
 * touched the bindings.  Under REPEATABLE READ and SERIALIZABLE the
 * transaction's snapshot decides, as it does for pgmq's query of the table
 * (and SERIALIZABLE sees the read): the bindings are read with it, for this
 * call only, and the cache is left alone.
 */
static TopicBinding *
topics_bindings(int *n)
{
	AclResult	aclresult;
	TopicBinding *result;

	topics_register_callback();
	if (IsolationUsesXactSnapshot())
	{
		aclresult = pg_class_aclcheck(topics_relid(), GetUserId(), ACL_SELECT);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_TABLE, "topic_bindings");
		return topics_read(InvalidSnapshot, CurrentMemoryContext, n);
	}
	AcceptInvalidationMessages();
	if (!bindings_valid || bindings_context == NULL)
		topics_load();
	aclresult = pg_class_aclcheck(bindings_relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, "topic_bindings");
	result = bindings;
	*n = nbindings;
	return result;
}

/* A match workspace for keys of klen bytes. */
typedef struct TopicWork
{
	bool	   *reach;
	bool	   *next;
} TopicWork;

static void
topic_work_init(TopicWork *work, int klen)
{
	work->reach = palloc(klen + 1);
	work->next = palloc(klen + 1);
}

/*
 * The queues the key routes to, each once, in queue-name order: a list of
 * names copied out of the cache, which stays free to change while they are
 * sent to.
 */
static List *
topics_route(const char *key)
{
	int			klen = strlen(key);
	TopicWork	work;
	List	   *queues = NIL;
	const char *last = NULL;
	int			n;
	TopicBinding *all = topics_bindings(&n);

	topic_work_init(&work, klen);
	for (int i = 0; i < n; i++)
	{
		TopicBinding *b = &all[i];

		if (last != NULL && strcmp(last, b->queue_name) == 0)
			continue;
		if (topic_match(b->tokens, b->ntokens, key, klen, work.reach, work.next))
		{
			queues = lappend(queues, pstrdup(b->queue_name));
			last = b->queue_name;
		}
	}
	return queues;
}

/* The bindings that get the invalidations: the trigger on topic_bindings. */
PG_FUNCTION_INFO_V1(pgmq_c_topic_bindings_changed);
Datum
pgmq_c_topic_bindings_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"_topic_bindings_changed\" must be called as a trigger")));
	/* every backend, at this transaction's commit; this one now */
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	topics_forget();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(pgmq_c_validate_routing_key);
Datum
pgmq_c_validate_routing_key(PG_FUNCTION_ARGS)
{
	topic_arg(fcinfo, 0, false);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(pgmq_c_validate_topic_pattern);
Datum
pgmq_c_validate_topic_pattern(PG_FUNCTION_ARGS)
{
	topic_arg(fcinfo, 0, true);
	PG_RETURN_BOOL(true);
}

/* queue_name as bind_topic and unbind_topic check it: present, not empty. */
static char *
topic_queue_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue_name cannot be NULL or empty")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue_name cannot be NULL or empty")));
	return name;
}

/*
 * pgmq.bind_topic(pattern, queue_name): a valid pattern, a queue that
 * exists (by its name exactly as created); binding twice is harmless.
 */
static Datum
bind_topic_body(PG_FUNCTION_ARGS)
{
	char	   *pattern = topic_arg(fcinfo, 0, true);
	char	   *queue = topic_queue_arg(fcinfo, 1);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(pattern);
	values[1] = CStringGetTextDatum(queue);
	SPI_connect();
	result_run_sql("SELECT 1 FROM " PGMQ_SCHEMA ".meta m"
				   " WHERE m.queue_name" EQ "$2::pg_catalog.varchar",
				   2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("Queue \"%s\" does not exist. Create the queue first using pgmq.create()",
						shown_input(queue))));
	result_run_sql("INSERT INTO " PGMQ_SCHEMA ".topic_bindings (pattern, queue_name)"
				   " VALUES ($1, $2)"
				   " ON CONFLICT ON CONSTRAINT topic_bindings_unique_pattern_queue DO NOTHING",
				   2, argtypes, values, NULL, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_bind_topic, bind_topic_body, 1, QUEUE_ACCESS_MANAGE)

/* pgmq.unbind_topic(pattern, queue_name): true if the binding was there. */
static Datum
unbind_topic_body(PG_FUNCTION_ARGS)
{
	char	   *pattern;
	char	   *queue;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	uint64		deleted;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pattern cannot be NULL or empty")));
	pattern = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (pattern[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pattern cannot be NULL or empty")));
	queue = topic_queue_arg(fcinfo, 1);

	values[0] = CStringGetTextDatum(pattern);
	values[1] = CStringGetTextDatum(queue);
	SPI_connect();
	result_run_sql("DELETE FROM " PGMQ_SCHEMA ".topic_bindings b"
				   " WHERE b.pattern" EQ "$1 AND b.queue_name" EQ "$2",
				   2, argtypes, values, NULL, SPI_OK_DELETE);
	deleted = SPI_processed;
	SPI_finish();
	PG_RETURN_BOOL(deleted > 0);
}

QUEUE_FUNCTION_NAMING_REFUSALS(pgmq_c_unbind_topic, unbind_topic_body, 1, QUEUE_ACCESS_MANAGE)

static int
topic_rank_cmp(const void *a, const void *b)
{
	int			ra = (*(TopicBinding *const *) a)->rank;
	int			rb = (*(TopicBinding *const *) b)->rank;

	return (ra > rb) - (ra < rb);
}

/*
 * pgmq.test_routing(routing_key): the bindings the key matches, by pattern
 * (then queue name), with the matcher send_topic uses.
 */
PG_FUNCTION_INFO_V1(pgmq_c_test_routing);
Datum
pgmq_c_test_routing(PG_FUNCTION_ARGS)
{
	char	   *key = topic_arg(fcinfo, 0, false);
	int			klen = strlen(key);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TopicBinding **matched;
	int			nmatched = 0;
	TopicWork	work;
	int			n;
	TopicBinding *all;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	all = topics_bindings(&n);
	topic_work_init(&work, klen);
	matched = palloc(sizeof(TopicBinding *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (topic_match(all[i].tokens, all[i].ntokens, key, klen, work.reach, work.next))
			matched[nmatched++] = &all[i];
	}
	qsort(matched, nmatched, sizeof(TopicBinding *), topic_rank_cmp);
	for (int i = 0; i < nmatched; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(matched[i]->pattern);
		values[1] = CStringGetTextDatum(matched[i]->queue_name);
		if (matched[i]->compiled_regex == NULL)
			nulls[2] = true;
		else
			values[2] = CStringGetTextDatum(matched[i]->compiled_regex);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * send_topic(routing_key, msg [, headers], [delay]): one copy to each
 * queue the key routes to; how many queues that was.  headers_arg and
 * delay_arg are argument numbers, -1 when the overload has none.
 */
static Datum
send_topic(FunctionCallInfo fcinfo, int headers_arg, int delay_arg)
{
	char	   *key = topic_arg(fcinfo, 0, false);
	bool		headers_null = headers_arg < 0 || PG_ARGISNULL(headers_arg);
	TimestampTz vt;
	List	   *queues;
	ListCell   *lc;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("msg cannot be NULL")));
	if (delay_arg >= 0)
	{
		int32		delay;

		arg_not_null(fcinfo, delay_arg, "delay");
		delay = PG_GETARG_INT32(delay_arg);
		if (delay < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("delay cannot be negative, got: %d", delay)));
		vt = vt_after_seconds(delay, "delay");
	}
	else
		vt = GetCurrentTimestamp();

	queues = topics_route(key);
	foreach(lc, queues)
	{
		uint64		n;

		send_messages(queue_cache_lookup((char *) lfirst(lc)), false,
					  PG_GETARG_DATUM(1), false,
					  headers_null ? (Datum) 0 : PG_GETARG_DATUM(headers_arg), headers_null,
					  vt, &n);
	}
	PG_RETURN_INT32(list_length(queues));
}

PG_FUNCTION_INFO_V1(pgmq_c_send_topic);
Datum
pgmq_c_send_topic(PG_FUNCTION_ARGS)
{
	return send_topic(fcinfo, -1, -1);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_topic_delay);
Datum
pgmq_c_send_topic_delay(PG_FUNCTION_ARGS)
{
	return send_topic(fcinfo, -1, 2);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_topic_headers_delay);
Datum
pgmq_c_send_topic_headers_delay(PG_FUNCTION_ARGS)
{
	return send_topic(fcinfo, 2, 3);
}

/*
 * The batch, already parsed and checked, sent to each queue the key
 * routes to; rows (queue_name, msg_id), queue by queue in name order, ids
 * in input order.
 */
static void
send_batch_topic_to(FunctionCallInfo fcinfo, const char *key, Datum msgs, Datum headers, bool headers_null, TimestampTz vt)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *queues;
	ListCell   *lc;

	queues = topics_route(key);
	foreach(lc, queues)
	{
		char	   *queue = (char *) lfirst(lc);
		uint64		n;
		int64	   *ids = send_messages(queue_cache_lookup(queue), true, msgs, false,
										headers, headers_null, vt, &n);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(queue);
		for (uint64 i = 0; i < n; i++)
		{
			values[1] = Int64GetDatum(ids[i]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

/* send_batch's checks of msgs and headers, with its messages. */
static void
check_topic_batch(Datum msgs, bool msgs_null, Datum headers, bool headers_null)
{
	LOCAL_FCINFO(vfcinfo, 2);

	InitFunctionCallInfoData(*vfcinfo, NULL, 2, InvalidOid, NULL, NULL);
	vfcinfo->args[0].value = msgs;
	vfcinfo->args[0].isnull = msgs_null;
	vfcinfo->args[1].value = headers;
	vfcinfo->args[1].isnull = headers_null;
	(void) pgmq_c_validate_batch_params(vfcinfo);
}

/* send_batch_topic(routing_key, msgs [, headers] [, delay]), typed. */
static Datum
send_batch_topic(FunctionCallInfo fcinfo, int headers_arg, int delay_arg, bool delay_is_seconds)
{
	char	   *key;
	bool		headers_null = headers_arg < 0 || PG_ARGISNULL(headers_arg);
	Datum		headers = headers_null ? (Datum) 0 : PG_GETARG_DATUM(headers_arg);
	TimestampTz vt;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	key = topic_arg(fcinfo, 0, false);
	check_topic_batch(PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
					  headers, headers_null);
	vt = arg_visible_at(fcinfo, delay_arg, delay_is_seconds, "delay");
	send_batch_topic_to(fcinfo, key, PG_GETARG_DATUM(1), headers, headers_null, vt);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic);
Datum
pgmq_c_send_batch_topic(PG_FUNCTION_ARGS)
{
	return send_batch_topic(fcinfo, -1, -1, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_headers);
Datum
pgmq_c_send_batch_topic_headers(PG_FUNCTION_ARGS)
{
	return send_batch_topic(fcinfo, 2, -1, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_delay_seconds);
Datum
pgmq_c_send_batch_topic_delay_seconds(PG_FUNCTION_ARGS)
{
	return send_batch_topic(fcinfo, -1, 2, true);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_delay_until);
Datum
pgmq_c_send_batch_topic_delay_until(PG_FUNCTION_ARGS)
{
	return send_batch_topic(fcinfo, -1, 2, false);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_headers_delay_seconds);
Datum
pgmq_c_send_batch_topic_headers_delay_seconds(PG_FUNCTION_ARGS)
{
	return send_batch_topic(fcinfo, 2, 3, true);
}

PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_headers_delay_until);
Datum
pgmq_c_send_batch_topic_headers_delay_until(PG_FUNCTION_ARGS)
{
	return send_batch_topic(fcinfo, 2, 3, false);
}

/*
 * Untyped calls (see untyped.c and send.c's send_untyped): the text
 * overloads take msgs and headers as text to parse (every parameter
 * untyped), the jsonb[] ones as given (msgs typed, the rest untyped).  With
 * three arguments the third is headers when it is an array literal ('{'),
 * a delay in seconds when it is an integer, else a timestamp; with four,
 * the fourth is the delay.
 */
static Datum
send_batch_topic_untyped(FunctionCallInfo fcinfo, bool msgs_typed)
{
	char	   *key;
	bool		msgs_null;
	Datum		msgs;
	bool		headers_null = true;
	Datum		headers = (Datum) 0;
	char	   *delay = NULL;
	TimestampTz vt;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	key = topic_arg(fcinfo, 0, false);
	msgs = untyped_arg_json(fcinfo, 1, msgs_typed, JSONBARRAYOID, &msgs_null);
	if (PG_NARGS() == 3)
		delay = untyped_headers_or_delay(PG_ARGISNULL(2) ? NULL :
										 text_to_cstring(PG_GETARG_TEXT_PP(2)),
										 "send_batch_topic", true, &headers, &headers_null);
	else
	{
		headers = untyped_arg_json(fcinfo, 2, msgs_typed, JSONBARRAYOID, &headers_null);
		arg_not_null(fcinfo, 3, "delay");
		delay = text_to_cstring(PG_GETARG_TEXT_PP(3));
	}
	check_topic_batch(msgs, msgs_null, headers, headers_null);
	vt = delay != NULL ? untyped_delay(delay, "delay") : GetCurrentTimestamp();
	send_batch_topic_to(fcinfo, key, msgs, headers, headers_null, vt);
	return (Datum) 0;
}

/* send_batch_topic($1, $2, $3) and ($1, $2, $3, $4), all untyped */
PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_untyped);
Datum
pgmq_c_send_batch_topic_untyped(PG_FUNCTION_ARGS)
{
	return send_batch_topic_untyped(fcinfo, false);
}

/* send_batch_topic($1, $2::jsonb[], $3) and ($1, $2::jsonb[], $3, $4) */
PG_FUNCTION_INFO_V1(pgmq_c_send_batch_topic_jsonb_untyped);
Datum
pgmq_c_send_batch_topic_jsonb_untyped(PG_FUNCTION_ARGS)
{
	return send_batch_topic_untyped(fcinfo, true);
}
