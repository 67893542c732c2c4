/*
 * pgmq_c companion: extension "pgmq" 1.13.0.
 *
 * Deliberately empty.  Every object of the pgmq API belongs to extension
 * pgmq_c, which this extension requires (CREATE EXTENSION pgmq CASCADE
 * creates it first; its own install script refuses a database that already
 * holds pgmq's objects).  Owning nothing here means DROP EXTENSION pgmq,
 * with or without CASCADE, removes only this catalog entry: pgmq_c, its
 * queues and their messages stay.
 *
 * 1.13.0 is the pgmq release whose API pgmq_c provides (pg_extension's
 * extversion is what pgmq clients read to detect features).
 */

\echo Use "CREATE EXTENSION pgmq" to load this file. \quit
