/*-------------------------------------------------------------------------
 *
 * pgmq_c.c
 *		Module entry point.
 *
 * Loaded on first use (CREATE EXTENSION, or any pgmq function), or at
 * server start through shared_preload_libraries.  Either way every SQL
 * function works; parts that need shared memory register here only when
 * preloaded (the background worker; later: wakeups, statistics).
 *
 *-------------------------------------------------------------------------
 */
#include "pgmq_c.h"

#include "miscadmin.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	worker_init();

	/* Keep the pgmq_c.* GUC namespace ours, so typos are reported. */
	MarkGUCPrefixReserved("pgmq_c");
}
