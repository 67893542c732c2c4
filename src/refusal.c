/*-------------------------------------------------------------------------
 *
 * refusal.c
 *		Privilege errors that name the queue.
 *
 * Every function runs with its caller's rights, so a missing grant is
 * found by Postgres itself, deep in a statement, and its error names a
 * table: "permission denied for table q_orders", or "a_orders", or
 * "queue_policy".  Whoever called pgmq.read('orders', ...) should read
 * which queue refused them and how to get in.  The places that run a
 * queue's statements catch SQLSTATE 42501 and raise it again as
 * "permission denied for queue \"orders\"", the table's error kept as the
 * detail and the way in as the hint.  Nothing is caught on success, and a
 * caught error is raised again at once, so the transaction is aborted as
 * it would have been: a refused call changes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "miscadmin.h"
#include "utils/builtins.h"

static const char *
access_word(QueueAccess access)
{
	switch (access)
	{
		case QUEUE_ACCESS_SEND:
			return "send";
		case QUEUE_ACCESS_CONSUME:
			return "consume";
		case QUEUE_ACCESS_METRICS:
			return "all";
		case QUEUE_ACCESS_MOVE:
		case QUEUE_ACCESS_MANAGE:
			break;
	}
	return NULL;
}

/*
 * Raise the refusal: 42501, naming the queue.  `why` (may be NULL) is
 * what Postgres refused, as its message says it.
 */
void
refusal_raise(const char *queue_name, QueueAccess access, const char *why)
{
	const char *word = access_word(access);
	const char *shown = shown_input(queue_name);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for queue \"%s\"", shown),
			 why != NULL ? errdetail("Postgres refused it: %s.", why) : 0,
			 word != NULL ?
			 errhint("The queue's owner can allow it: SELECT pgmq.grant_queue(%s, %s, '%s');",
					 quote_literal_cstr(shown),
					 quote_literal_cstr(GetUserNameFromId(GetUserId(), false)), word) :
			 access == QUEUE_ACCESS_MOVE ?
			 errhint("Moving messages takes 'consume' on the queue they leave and 'send' on the queue they go to (pgmq.grant_queue).") :
			 errhint("Only the queue's owner may drop or purge it, change its policy, indexes, notifications or topic bindings; creating a queue takes the rights of the extension's owner.")));
}

/*
 * The queue a refusal is about: the one whose table Postgres named, when
 * the call touched another queue's table too (redrive and replay move
 * messages between queues, a read may move dead letters), else the queue
 * the call was given.  Queue tables are q_<name> and a_<name>.  (Only
 * Postgres's English messages are recognised; in another language the
 * given queue is named.)
 */
static const char *
refused_queue(const char *message, const char *queue_name)
{
	static const char *const prefixes[] = {
		"permission denied for table ",
		"must be owner of table ",
		"must be owner of relation ",
	};

	for (int i = 0; i < lengthof(prefixes); i++)
	{
		size_t		len = strlen(prefixes[i]);
		const char *rel = message + len;

		if (strncmp(message, prefixes[i], len) == 0 &&
			(rel[0] == 'q' || rel[0] == 'a') && rel[1] == '_' && rel[2] != '\0' &&
			pg_strcasecmp(rel + 2, queue_name) != 0)
			return rel + 2;
	}
	return queue_name;
}

/*
 * Called in PG_CATCH: a privilege error of Postgres's becomes the queue's
 * refusal; any other error goes on as it was.  Postgres's privilege checks
 * give a bare message; a 42501 with a detail or a hint was written for its
 * case already (by pgmq_c, as when create finds another role's table) and
 * is left alone.  `context` is the memory context of the code around PG_TRY
 * (never ErrorContext).
 */
void
refusal_rethrow(const char *queue_name, QueueAccess access, MemoryContext context)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	if (edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE ||
		edata->detail != NULL || edata->hint != NULL)
	{
		FreeErrorData(edata);
		PG_RE_THROW();
	}
	FlushErrorState();
	refusal_raise(refused_queue(edata->message, queue_name), access, edata->message);
}
