/*
 * pgmq_c 0.1.0 -> 0.2.0.
 *
 * Keep in step with pgmq_c--0.2.0.sql: after ALTER EXTENSION pgmq_c UPDATE
 * a database must hold exactly what a fresh install of 0.2.0 gives
 * (test/t/005_upgrade.pl compares the two).
 */

\echo Use "ALTER EXTENSION pgmq_c UPDATE TO '0.2.0'" to load this file. \quit

-- The cast is schema-qualified: a type pg_temp.text made in the caller's
-- session must not change what the call means.
CREATE OR REPLACE FUNCTION @extschema@.metrics_all()
RETURNS SETOF @extschema@.metrics_result
LANGUAGE sql VOLATILE
AS $$
    SELECT m.*
    FROM @extschema@.meta q,
         LATERAL @extschema@.metrics(q.queue_name::pg_catalog.text) m
    ORDER BY q.queue_name
$$;
