/*
 * pgmq_c 0.2.0: the pgmq-compatible queue API.
 *
 * Every object lives in schema pgmq (see pgmq_c.control) and keeps the names,
 * argument names, defaults and result shapes of pgmq 1.13, so pgmq client
 * libraries work unchanged.  Hot paths are C functions; the rest is plain SQL.
 * Names are schema-qualified throughout so that a caller's search_path cannot
 * change what this script or its functions mean.
 */

\echo Use "CREATE EXTENSION pgmq_c" to load this file. \quit

-- pgmq_c replaces pgmq; the two cannot share schema pgmq.  And it will not
-- move into a schema pgmq that another role made: its owner could replace
-- any queue table with one whose trigger runs as whoever sends.  A schema a
-- superuser owns is accepted (pg_restore run by another superuser makes
-- one): a superuser can do anything already.
DO $$
DECLARE
    owner_name name;
BEGIN
    SELECT r.rolname INTO owner_name
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'pgmq'
       AND n.nspowner OPERATOR(pg_catalog.<>) (SELECT oid FROM pg_catalog.pg_roles
                                               WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
       AND NOT r.rolsuper;
    IF FOUND THEN
        RAISE EXCEPTION 'schema "pgmq" is owned by role "%", not by the installing role "%"', owner_name, CURRENT_USER
            USING ERRCODE = '42501',
                  DETAIL = 'The owner of schema pgmq can replace any queue table with one whose triggers run as whoever sends to it.',
                  HINT = 'Drop the schema, or make the installing role its owner (ALTER SCHEMA pgmq OWNER TO ...), then run CREATE EXTENSION again.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pgmq') THEN
        RAISE EXCEPTION 'extension "pgmq" is already installed in this database'
            USING ERRCODE = '42710',
                  DETAIL = 'pgmq_c provides the same objects in schema pgmq and cannot be installed beside pgmq.',
                  HINT = 'Drop extension pgmq first, or install pgmq_c in another database.';
    END IF;
    IF pg_catalog.to_regclass('pgmq.meta') IS NOT NULL THEN
        RAISE EXCEPTION 'schema pgmq already contains pgmq objects (table pgmq.meta exists)'
            USING ERRCODE = '42P07',
                  DETAIL = 'pgmq_c creates its own pgmq.meta and cannot take over tables it did not create.',
                  HINT = 'Remove the existing pgmq installation first, or install pgmq_c in another database.';
    END IF;
END
$$;

------------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------------

CREATE TABLE @extschema@.meta (
    queue_name varchar UNIQUE NOT NULL,
    is_partitioned boolean NOT NULL,
    is_unlogged boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.meta', '');

-- Names differing only in case map to the same tables (q_<lower(name)>), so
-- at most one of them may be a queue.
CREATE UNIQUE INDEX meta_queue_name_lower_idx ON @extschema@.meta (pg_catalog.lower(queue_name));

------------------------------------------------------------------------------
-- Composite types (column order is API)
------------------------------------------------------------------------------

CREATE TYPE @extschema@.message_record AS (
    msg_id bigint,
    read_ct integer,
    enqueued_at timestamptz,
    last_read_at timestamptz,
    vt timestamptz,
    message jsonb,
    headers jsonb
);

CREATE TYPE @extschema@.queue_record AS (
    queue_name varchar,
    is_partitioned boolean,
    is_unlogged boolean,
    created_at timestamptz
);

CREATE TYPE @extschema@.metrics_result AS (
    queue_name text,
    queue_length bigint,
    newest_msg_age_sec integer,
    oldest_msg_age_sec integer,
    total_messages bigint,
    scrape_time timestamptz,
    queue_visible_length bigint,
    default_partition_length bigint
);

------------------------------------------------------------------------------
-- Names and locks
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.validate_queue_name(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_validate_queue_name'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.format_table_name(queue_name text, prefix text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgmq_c_format_table_name'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.acquire_queue_lock(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_acquire_queue_lock'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@._extension_exists(extension_name text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_extension
        WHERE extname OPERATOR(pg_catalog.=) extension_name
    )
$$;

-- True when the table is a member of pgmq_c (or of pgmq, for code written
-- against it).  Queue and archive tables are deliberately not members.
CREATE FUNCTION @extschema@._belongs_to_pgmq(table_name text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.deptype OPERATOR(pg_catalog.=) 'e'
          AND e.extname OPERATOR(pg_catalog.=) ANY (ARRAY['pgmq_c', 'pgmq'])
          AND c.relnamespace OPERATOR(pg_catalog.=) 'pgmq'::pg_catalog.regnamespace
          AND c.relname OPERATOR(pg_catalog.=) table_name
    )
$$;

------------------------------------------------------------------------------
-- Queue management
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_non_partitioned(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_create_non_partitioned'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.create_unlogged(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_create_unlogged'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@."create"(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_create_non_partitioned'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.drop_queue(queue_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_drop_queue'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.drop_queue(queue_name text, partitioned boolean)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_drop_queue_deprecated'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.purge_queue(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgmq_c_purge_queue'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.detach_archive(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_detach_archive'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.list_queues()
RETURNS SETOF @extschema@.queue_record
LANGUAGE sql STABLE
AS $$
    SELECT queue_name, is_partitioned, is_unlogged, created_at
    FROM @extschema@.meta
    ORDER BY created_at, queue_name
$$;

------------------------------------------------------------------------------
-- Send.  Each overload is its own small C entry point.  The *_untyped ones
-- take text at the positions pgmq leaves ambiguous: they catch calls whose
-- parameters arrive untyped (all of them, or all but a typed message) and
-- decide the meaning from the value.
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, delay integer)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_delay_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, delay timestamptz)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_delay_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, headers jsonb)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_headers'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, headers jsonb, delay integer)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_headers_delay_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_headers_delay_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg text, delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg text, headers text, delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_untyped'
LANGUAGE C VOLATILE;

-- msg typed, the rest untyped: send($1, $2::jsonb, $3)
CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_jsonb_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send(queue_name text, msg jsonb, headers jsonb, delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_jsonb_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@._validate_batch_params(msgs jsonb[], headers jsonb[])
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_validate_batch_params'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@._send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_headers_delay_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[])
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], delay integer)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_delay_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], delay timestamptz)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_delay_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], headers jsonb[])
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_headers'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay integer)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_headers_delay_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_headers_delay_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs text, delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs text, headers text, delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_jsonb_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_jsonb_untyped'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Read
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.read(queue_name text, vt integer, qty integer, conditional jsonb DEFAULT '{}')
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.read_with_poll(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer DEFAULT 5,
    poll_interval_ms integer DEFAULT 100,
    conditional jsonb DEFAULT '{}'
)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_with_poll'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.pop(queue_name text, qty integer DEFAULT 1)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_pop'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Acknowledge and visibility
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.delete(queue_name text, msg_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_delete'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.delete(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_delete_batch'
LANGUAGE C VOLATILE;

-- Untyped form: one row per id that existed; for a single id, exactly one
-- row holding the id, or NULL when it did not exist.
CREATE FUNCTION @extschema@.delete(queue_name text, msg_id_or_ids text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_delete_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.archive(queue_name text, msg_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_archive'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.archive(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_archive_batch'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.archive(queue_name text, msg_id_or_ids text)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgmq_c_archive_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_id bigint, vt integer)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_id bigint, vt timestamptz)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_ids bigint[], vt integer)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_batch_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_ids bigint[], vt timestamptz)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_batch_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_id text, vt text)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_id text, vt integer)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_untyped_ids_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_id text, vt timestamptz)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_untyped_ids_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_id bigint, vt text)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_id_untyped_vt'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.set_vt(queue_name text, msg_ids bigint[], vt text)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_set_vt_ids_untyped_vt'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Metrics
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.metrics(queue_name text)
RETURNS @extschema@.metrics_result
AS 'MODULE_PATHNAME', 'pgmq_c_metrics'
LANGUAGE C VOLATILE;

-- metrics() of every queue, ordered by name: one pass per queue
-- (src/metrics.c).
CREATE FUNCTION @extschema@.metrics_all()
RETURNS SETOF @extschema@.metrics_result
AS 'MODULE_PATHNAME', 'pgmq_c_metrics_all'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Monitoring access
------------------------------------------------------------------------------

-- Members of pg_monitor see which queues there are and read every queue's
-- metrics and statistics, but no message: metrics() and queue_stats read
-- the queue tables as their owners for them (src/metrics.c, src/stats.c).
-- pgmq instead grants pg_monitor SELECT on every table in the schema,
-- message bodies included.  The tables and views of the sections below are
-- granted to pg_monitor one by one.
GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor;
GRANT SELECT ON @extschema@.meta TO pg_monitor;

------------------------------------------------------------------------------
-- Queue policies and the maintenance pass (dead letters, retention)
------------------------------------------------------------------------------

-- One row per queue that has a policy; set with set_queue_policy().  A
-- queue's policy goes with the queue; a queue that is another's dead-letter
-- queue cannot be dropped while that policy names it.
CREATE TABLE @extschema@.queue_policy (
    queue_name varchar PRIMARY KEY
        REFERENCES @extschema@.meta (queue_name) ON DELETE CASCADE,
    max_receives integer CHECK (max_receives OPERATOR(pg_catalog.>=) 1),
    dead_letter_queue varchar REFERENCES @extschema@.meta (queue_name),
    retention interval,
    archive_retention interval,
    dedup_window interval,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.queue_policy', '');

CREATE VIEW @extschema@.queue_policies AS
    SELECT queue_name, max_receives, dead_letter_queue, retention, archive_retention,
           dedup_window, updated_at
    FROM @extschema@.queue_policy;

CREATE FUNCTION @extschema@.set_queue_policy(
    queue_name text,
    max_receives integer DEFAULT NULL,
    dead_letter_queue text DEFAULT NULL,
    retention interval DEFAULT NULL,
    archive_retention interval DEFAULT NULL,
    dedup_window interval DEFAULT NULL
)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_set_queue_policy'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.run_maintenance(queue_name text DEFAULT NULL)
RETURNS TABLE (queue_name text, moved bigint, expired bigint, archive_deleted bigint,
               partitions_created bigint, partitions_dropped bigint,
               dedup_keys_expired bigint, error text)
AS 'MODULE_PATHNAME', 'pgmq_c_run_maintenance'
LANGUAGE C VOLATILE;

GRANT SELECT ON @extschema@.queue_policy, @extschema@.queue_policies TO pg_monitor;

------------------------------------------------------------------------------
-- Redrive and replay (src/redrive.c).  Keep in step with the same section
-- of pgmq_c--0.1.0--0.2.0.sql.
------------------------------------------------------------------------------

-- Dead letters back to their source queue (or to target_queue), oldest
-- first; returns how many moved.
CREATE FUNCTION @extschema@.redrive(dead_letter_queue text, target_queue text DEFAULT NULL,
                                    max_messages integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgmq_c_redrive'
LANGUAGE C VOLATILE;

-- Archived messages of [since, until) sent again, in their original order;
-- returns how many were sent.
CREATE FUNCTION @extschema@.replay(queue_name text, since timestamptz,
                                   until timestamptz DEFAULT pg_catalog.now(),
                                   target_queue text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgmq_c_replay'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Partitioned queues: Postgres' declarative partitioning, no pg_partman.
-- pgmq.partition_config says how each partitioned table of a queue (its
-- queue table, its archive) is cut and how long partitions are kept; upkeep
-- (pgmq._maintain_partitions, and the maintenance pass) reads it.
------------------------------------------------------------------------------

CREATE TABLE @extschema@.partition_config (
    queue_name varchar NOT NULL REFERENCES @extschema@.meta (queue_name) ON DELETE CASCADE,
    table_kind text NOT NULL CHECK (table_kind OPERATOR(pg_catalog.=) ANY (ARRAY['queue', 'archive'])),
    partition_column text NOT NULL,
    partition_interval text NOT NULL,
    retention_interval text NOT NULL,
    premake integer NOT NULL CHECK (premake OPERATOR(pg_catalog.>=) 1),
    PRIMARY KEY (queue_name, table_kind)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.partition_config', '');
GRANT SELECT ON @extschema@.partition_config TO pg_monitor;

CREATE FUNCTION @extschema@._get_partition_col(partition_interval text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgmq_c_get_partition_col'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.create_partitioned(
    queue_name text,
    partition_interval text DEFAULT '10000',
    retention_interval text DEFAULT '100000',
    premake integer DEFAULT 4
)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_create_partitioned'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.convert_archive_partitioned(
    table_name text,
    partition_interval text DEFAULT '10000',
    retention_interval text DEFAULT '100000',
    leading_partition integer DEFAULT 10
)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_convert_archive_partitioned'
LANGUAGE C VOLATILE;

-- Internal: one upkeep of a queue's partitions now (the maintenance pass
-- does this for every partitioned queue).  Not part of pgmq's API.
CREATE FUNCTION @extschema@._maintain_partitions(
    queue_name text,
    OUT partitions_created bigint,
    OUT partitions_dropped bigint
)
RETURNS record
AS 'MODULE_PATHNAME', 'pgmq_c_maintain_partitions'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._maintain_partitions(text) IS
    'internal: one upkeep of the queue''s partitions (create ahead, drop past retention)';
-- Background worker status (src/worker.c)
--
-- One row per database the worker serves, from shared memory.  Needs
-- pgmq_c in shared_preload_libraries: without it, reading the view raises
-- 55000 with a hint.  Readable by superusers and pg_monitor.
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@._worker_status(
    OUT database name,
    OUT pid integer,
    OUT started_at timestamptz,
    OUT last_run_at timestamptz,
    OUT last_run_duration interval,
    OUT moved bigint,
    OUT expired bigint,
    OUT archive_deleted bigint,
    OUT partitions_created bigint,
    OUT partitions_dropped bigint,
    OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgmq_c_worker_status'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW @extschema@.worker_status AS
    SELECT * FROM @extschema@._worker_status();

REVOKE ALL ON FUNCTION @extschema@._worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._worker_status() TO pg_monitor;
GRANT SELECT ON @extschema@.worker_status TO pg_monitor;

------------------------------------------------------------------------------
-- Insert notifications (src/notify.c), as pgmq has them
--
-- enable_notify_insert puts trigger trigger_notify_queue_insert_listeners
-- on the queue table; every committed transaction that inserted into it
-- notifies channel pgmq.q_<name>.INSERT (the name as given), at most once
-- per throttle_interval_ms.  With pgmq_c preloaded the throttle lives in
-- shared memory and this table only keeps the settings; without, the
-- trigger throttles through the queue's row here, as pgmq does.
------------------------------------------------------------------------------

CREATE UNLOGGED TABLE @extschema@.notify_insert_throttle (
    queue_name varchar UNIQUE NOT NULL
        CONSTRAINT notify_insert_throttle_meta_queue_name_fk
        REFERENCES @extschema@.meta (queue_name) ON DELETE CASCADE,
    throttle_interval_ms integer NOT NULL DEFAULT 0,
    last_notified_at timestamptz NOT NULL DEFAULT pg_catalog.to_timestamp(0)
);
CREATE INDEX idx_notify_throttle_active
    ON @extschema@.notify_insert_throttle (queue_name, last_notified_at)
    WHERE throttle_interval_ms OPERATOR(pg_catalog.>) 0;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.notify_insert_throttle', '');
GRANT SELECT ON @extschema@.notify_insert_throttle TO pg_monitor;

CREATE FUNCTION @extschema@.notify_queue_listeners()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgmq_c_notify_queue_listeners'
LANGUAGE C;

CREATE FUNCTION @extschema@.enable_notify_insert(
    queue_name text,
    throttle_interval_ms integer DEFAULT 250
)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_enable_notify_insert'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.disable_notify_insert(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_disable_notify_insert'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.update_notify_insert(queue_name text, throttle_interval_ms integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_update_notify_insert'
LANGUAGE C VOLATILE;

-- Internal: when shared memory last notified the queue's channel, or NULL.
CREATE FUNCTION @extschema@._notified_at(queue_name text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pgmq_c_notified_at'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._notified_at(text) IS
    'internal: when shared memory last notified the queue''s insert channel';

CREATE FUNCTION @extschema@.list_notify_insert_throttles()
RETURNS TABLE (queue_name text, throttle_interval_ms integer, last_notified_at timestamptz)
LANGUAGE sql VOLATILE
AS $$
    SELECT t.queue_name::pg_catalog.text, t.throttle_interval_ms,
           GREATEST(t.last_notified_at, @extschema@._notified_at(t.queue_name))
    FROM @extschema@.notify_insert_throttle t
    ORDER BY t.queue_name
$$;

------------------------------------------------------------------------------
-- Statistics (src/stats.c): queue_stats, stats_reset, Prometheus
--
-- Depth columns are read from the queue tables (as their owner, so that
-- pg_monitor needs no right on the messages); counters and rates come from
-- shared memory and are NULL without pgmq_c preloaded, or for a queue
-- beyond pgmq_c.max_tracked_queues.  Readable by superusers and pg_monitor.
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@._queue_stats(
    OUT queue_name text,
    OUT visible bigint,
    OUT in_flight bigint,
    OUT delayed bigint,
    OUT archive_size bigint,
    OUT dead_letter_size bigint,
    OUT oldest_visible_age interval,
    OUT sent_total bigint,
    OUT read_total bigint,
    OUT deleted_total bigint,
    OUT archived_total bigint,
    OUT popped_total bigint,
    OUT dead_lettered_total bigint,
    OUT expired_total bigint,
    OUT redriven_total bigint,
    OUT send_rate double precision,
    OUT read_rate double precision,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgmq_c_queue_stats'
LANGUAGE C VOLATILE;

CREATE VIEW @extschema@.queue_stats AS
    SELECT * FROM @extschema@._queue_stats();

CREATE FUNCTION @extschema@.stats_reset(queue_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_stats_reset'
LANGUAGE C VOLATILE;

-- Internal: are counters kept (pgmq_c preloaded)?
CREATE FUNCTION @extschema@._statistics_enabled()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_statistics_enabled'
LANGUAGE C STABLE;

-- Internal: a label value as the Prometheus text format writes it.
CREATE FUNCTION @extschema@._prometheus_label(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value,
           E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')
$$;

-- Every queue's depth, counters and rates, and every worker's last pass, in
-- the Prometheus text exposition format (version 0.0.4).
CREATE FUNCTION @extschema@.prometheus_metrics()
RETURNS text
LANGUAGE sql VOLATILE
AS $$
WITH q AS (
    SELECT * FROM @extschema@.queue_stats
), w AS (
    SELECT * FROM @extschema@.worker_status WHERE @extschema@._statistics_enabled()
), family (ord, metric, kind, help) AS (VALUES
    (1, 'pgmq_queue_visible_messages', 'gauge', 'Messages that can be read now.'),
    (2, 'pgmq_queue_in_flight_messages', 'gauge', 'Messages read and not yet deleted or archived, their visibility timeout running.'),
    (3, 'pgmq_queue_delayed_messages', 'gauge', 'Messages sent with a delay that has not passed yet.'),
    (4, 'pgmq_queue_archive_messages', 'gauge', 'Rows in the queue''s archive (estimate from the last ANALYZE or VACUUM).'),
    (5, 'pgmq_queue_dead_letter_messages', 'gauge', 'Messages in the queue''s dead-letter queue.'),
    (6, 'pgmq_queue_oldest_visible_age_seconds', 'gauge', 'Age of the message at the head of the queue, the next to be read.'),
    (7, 'pgmq_queue_sent_total', 'counter', 'Messages sent to the queue.'),
    (8, 'pgmq_queue_read_total', 'counter', 'Messages handed out by read.'),
    (9, 'pgmq_queue_deleted_total', 'counter', 'Messages deleted.'),
    (10, 'pgmq_queue_archived_total', 'counter', 'Messages archived.'),
    (11, 'pgmq_queue_popped_total', 'counter', 'Messages popped.'),
    (12, 'pgmq_queue_dead_lettered_total', 'counter', 'Messages moved to the dead letters after max_receives reads.'),
    (13, 'pgmq_queue_expired_total', 'counter', 'Messages removed by the queue''s retention.'),
    (14, 'pgmq_queue_redriven_total', 'counter', 'Dead letters redriven back into the queue.'),
    (15, 'pgmq_queue_send_rate', 'gauge', 'Messages sent per second over the last minute.'),
    (16, 'pgmq_queue_read_rate', 'gauge', 'Messages read per second over the last minute.'),
    (17, 'pgmq_worker_last_run_timestamp_seconds', 'gauge', 'When the database''s maintenance worker last started a pass (Unix time).'),
    (18, 'pgmq_worker_last_run_duration_seconds', 'gauge', 'How long the last maintenance pass took.'),
    (19, 'pgmq_worker_moved_total', 'counter', 'Dead letters the worker moved since it started.'),
    (20, 'pgmq_worker_expired_total', 'counter', 'Messages the worker expired since it started.'),
    (21, 'pgmq_worker_last_error_timestamp_seconds', 'gauge', 'When the worker last reported an error (Unix time).')
), sample (ord, label, value) AS (
    SELECT x.ord, 'queue="' OPERATOR(pg_catalog.||) @extschema@._prometheus_label(q.queue_name)
                  OPERATOR(pg_catalog.||) '"', x.value
    FROM q CROSS JOIN LATERAL (VALUES
        (1, q.visible::pg_catalog.numeric),
        (2, q.in_flight::pg_catalog.numeric),
        (3, q.delayed::pg_catalog.numeric),
        (4, q.archive_size::pg_catalog.numeric),
        (5, q.dead_letter_size::pg_catalog.numeric),
        (6, COALESCE(EXTRACT(epoch FROM q.oldest_visible_age), 0)),
        (7, q.sent_total::pg_catalog.numeric),
        (8, q.read_total::pg_catalog.numeric),
        (9, q.deleted_total::pg_catalog.numeric),
        (10, q.archived_total::pg_catalog.numeric),
        (11, q.popped_total::pg_catalog.numeric),
        (12, q.dead_lettered_total::pg_catalog.numeric),
        (13, q.expired_total::pg_catalog.numeric),
        (14, q.redriven_total::pg_catalog.numeric),
        (15, pg_catalog.round(q.send_rate::pg_catalog.numeric, 3)),
        (16, pg_catalog.round(q.read_rate::pg_catalog.numeric, 3))
    ) AS x (ord, value)
    WHERE x.value IS NOT NULL
    UNION ALL
    SELECT x.ord, 'database="' OPERATOR(pg_catalog.||) @extschema@._prometheus_label(w.database::pg_catalog.text)
                  OPERATOR(pg_catalog.||) '"', x.value
    FROM w CROSS JOIN LATERAL (VALUES
        (17, EXTRACT(epoch FROM w.last_run_at)),
        (18, EXTRACT(epoch FROM w.last_run_duration)),
        (19, w.moved::pg_catalog.numeric),
        (20, w.expired::pg_catalog.numeric),
        (21, EXTRACT(epoch FROM w.last_error_at))
    ) AS x (ord, value)
    WHERE x.value IS NOT NULL
)
SELECT pg_catalog.string_agg(block, '' ORDER BY ord)
FROM (
    SELECT f.ord,
           '# HELP ' OPERATOR(pg_catalog.||) f.metric OPERATOR(pg_catalog.||) ' '
           OPERATOR(pg_catalog.||) f.help OPERATOR(pg_catalog.||) E'\n# TYPE '
           OPERATOR(pg_catalog.||) f.metric OPERATOR(pg_catalog.||) ' '
           OPERATOR(pg_catalog.||) f.kind OPERATOR(pg_catalog.||) E'\n'
           OPERATOR(pg_catalog.||) COALESCE(pg_catalog.string_agg(
               f.metric OPERATOR(pg_catalog.||) '{' OPERATOR(pg_catalog.||) s.label
               OPERATOR(pg_catalog.||) '} ' OPERATOR(pg_catalog.||) s.value::pg_catalog.text
               OPERATOR(pg_catalog.||) E'\n', '' ORDER BY s.label), '') AS block
    FROM family f LEFT JOIN sample s ON s.ord OPERATOR(pg_catalog.=) f.ord
    GROUP BY f.ord, f.metric, f.kind, f.help
) blocks
$$;

REVOKE ALL ON FUNCTION @extschema@._queue_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._queue_stats() TO pg_monitor;
GRANT SELECT ON @extschema@.queue_stats TO pg_monitor;
REVOKE ALL ON FUNCTION @extschema@.prometheus_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.prometheus_metrics() TO pg_monitor;
REVOKE ALL ON FUNCTION @extschema@.stats_reset(text) FROM PUBLIC;

------------------------------------------------------------------------------
-- FIFO message groups (src/fifo.c).  Keep in step with the same section of
-- pgmq_c--0.1.0--0.2.0.sql.
------------------------------------------------------------------------------

-- A message's group is its header x-pgmq-group (default
-- _default_fifo_group); no message is handed out while an earlier one of
-- its group is in flight.  read_grouped fills the batch from the group with
-- the oldest head first (SQS FIFO), read_grouped_rr takes round-robin layers
-- across groups, read_grouped_head at most the head of each group.
CREATE FUNCTION @extschema@.read_grouped(queue_name text, vt integer, qty integer)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_grouped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.read_grouped_rr(queue_name text, vt integer, qty integer)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_grouped_rr'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.read_grouped_head(queue_name text, vt integer, qty integer)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_grouped_head'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.read_grouped_with_poll(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer DEFAULT 5,
    poll_interval_ms integer DEFAULT 100
)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_grouped_with_poll'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.read_grouped_rr_with_poll(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer DEFAULT 5,
    poll_interval_ms integer DEFAULT 100
)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_grouped_rr_with_poll'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.read_grouped_head_with_poll(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer DEFAULT 5,
    poll_interval_ms integer DEFAULT 100
)
RETURNS SETOF @extschema@.message_record
AS 'MODULE_PATHNAME', 'pgmq_c_read_grouped_head_with_poll'
LANGUAGE C VOLATILE;

-- The index the FIFO reads use: (group, msg_id), q_<name>_group_idx.
CREATE FUNCTION @extschema@.create_fifo_index(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_create_fifo_index'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@._create_fifo_index_if_not_exists(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_create_fifo_index'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.create_fifo_indexes_all()
RETURNS void
LANGUAGE sql VOLATILE
AS $$
SELECT @extschema@.create_fifo_index(m.queue_name)
FROM @extschema@.meta m
ORDER BY m.queue_name;
$$;

------------------------------------------------------------------------------
-- Topics (src/topics.c): RabbitMQ-style routing, as pgmq has it.  A pattern
-- bound to a queue ('*' one or more characters other than a dot, '#' any
-- characters, the rest literal) makes send_topic/send_batch_topic send a
-- copy there when the routing key matches.  compiled_regex is pgmq's
-- regular expression for the pattern, kept for those who query it; the C
-- matcher means the same.  The statement trigger tells every backend's
-- cache of the bindings when they change (bind, unbind, direct DML, a
-- queue dropped); it fires also in replica mode.
------------------------------------------------------------------------------

CREATE TABLE @extschema@.topic_bindings (
    pattern text NOT NULL,
    queue_name text NOT NULL
        CONSTRAINT topic_bindings_meta_queue_name_fk
        REFERENCES @extschema@.meta (queue_name) ON DELETE CASCADE,
    bound_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    compiled_regex text GENERATED ALWAYS AS (
        '^' OPERATOR(pg_catalog.||)
        pg_catalog.replace(
            pg_catalog.replace(
                pg_catalog.regexp_replace(pattern, '([.+?{}()|\[\]\\^$])', '\\\1', 'g'),
                '*', '[^.]+'),
            '#', '.*')
        OPERATOR(pg_catalog.||) '$'
    ) STORED,
    CONSTRAINT topic_bindings_unique_pattern_queue UNIQUE (pattern, queue_name)
);
CREATE INDEX idx_topic_bindings_covering
    ON @extschema@.topic_bindings (pattern) INCLUDE (queue_name, compiled_regex);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.topic_bindings', '');
GRANT SELECT ON @extschema@.topic_bindings TO pg_monitor;

CREATE FUNCTION @extschema@._topic_bindings_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgmq_c_topic_bindings_changed'
LANGUAGE C;

CREATE TRIGGER topic_bindings_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.topic_bindings
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._topic_bindings_changed();
ALTER TABLE @extschema@.topic_bindings ENABLE ALWAYS TRIGGER topic_bindings_changed;

CREATE FUNCTION @extschema@.validate_routing_key(routing_key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_validate_routing_key'
LANGUAGE C IMMUTABLE;

CREATE FUNCTION @extschema@.validate_topic_pattern(pattern text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_validate_topic_pattern'
LANGUAGE C IMMUTABLE;

CREATE FUNCTION @extschema@.bind_topic(pattern text, queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_bind_topic'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.unbind_topic(pattern text, queue_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgmq_c_unbind_topic'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.test_routing(routing_key text)
RETURNS TABLE (pattern text, queue_name text, compiled_regex text)
AS 'MODULE_PATHNAME', 'pgmq_c_test_routing'
LANGUAGE C STABLE;

CREATE FUNCTION @extschema@.list_topic_bindings()
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz, compiled_regex text)
LANGUAGE sql STABLE
AS $$
    SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex
    FROM @extschema@.topic_bindings b
    ORDER BY b.bound_at DESC, b.pattern, b.queue_name
$$;

CREATE FUNCTION @extschema@.list_topic_bindings(queue_name text)
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz, compiled_regex text)
LANGUAGE sql STABLE
AS $$
    SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex
    FROM @extschema@.topic_bindings b
    WHERE b.queue_name OPERATOR(pg_catalog.=) $1
    ORDER BY b.bound_at DESC, b.pattern
$$;

CREATE FUNCTION @extschema@.send_topic(routing_key text, msg jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgmq_c_send_topic'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_topic(routing_key text, msg jsonb, delay integer)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgmq_c_send_topic_delay'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_topic(routing_key text, msg jsonb, headers jsonb, delay integer)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgmq_c_send_topic_headers_delay'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_headers'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], delay integer)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_delay_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_delay_until'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay integer)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_headers_delay_seconds'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_headers_delay_until'
LANGUAGE C VOLATILE;

-- Untyped parameters (as send_batch has them): every parameter untyped, or
-- all but msgs.  send_topic needs none: each of its arities has one form.
CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs text, delay text)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs text, headers text, delay text)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], delay text)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_jsonb_untyped'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay text)
RETURNS TABLE (queue_name text, msg_id bigint)
AS 'MODULE_PATHNAME', 'pgmq_c_send_batch_topic_jsonb_untyped'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Deduplication (src/dedup.c): exactly-once sends
--
-- A message whose headers carry x-pgmq-dedup-id is stored at most once per
-- queue within the queue's dedup_window (policy; 5 minutes when unset): a
-- repeat returns the original msg_id and inserts nothing.  One row per id
-- sent, keyed by the queue's lowercased name (as its tables are named).
-- Only the extension's owner works on this table (sends claim keys as the
-- owner after checking the caller may INSERT into the queue); rows past
-- expires_at are removed by the maintenance pass; drop_queue removes a
-- queue's rows.  Dumped with the queues, whose msg_ids it names.
------------------------------------------------------------------------------

CREATE TABLE @extschema@.dedup_keys (
    queue_name text COLLATE pg_catalog."C" NOT NULL,
    dedup_id text COLLATE pg_catalog."C" NOT NULL,
    msg_id bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (queue_name, dedup_id)
);
CREATE INDEX dedup_keys_expiry_idx ON @extschema@.dedup_keys (queue_name, expires_at);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dedup_keys', '');
GRANT SELECT ON @extschema@.dedup_keys TO pg_monitor;

------------------------------------------------------------------------------
-- The head mark (src/head_mark.c).  Keep in step with the same section of
-- pgmq_c--0.1.0--0.2.0.sql.
------------------------------------------------------------------------------

-- Internal: the msg_id picks of the queue start from (no live message is
-- below it), or NULL when it has none yet.
CREATE FUNCTION @extschema@._head_mark(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgmq_c_head_mark'
LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- Queue privileges (src/grants.c).  Keep in step with the same section of
-- pgmq_c--0.1.0--0.2.0.sql.
------------------------------------------------------------------------------

-- The grants a producer ('send'), a consumer ('consume', with archive and
-- dead letters) or both and metrics ('all') need on one queue; the caller
-- must have the rights of the queue table's owner.
CREATE FUNCTION @extschema@.grant_queue(queue_name text, role name, access text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_grant_queue'
LANGUAGE C VOLATILE;

-- What grant_queue granted on the queue's own tables and sequence.
CREATE FUNCTION @extschema@.revoke_queue(queue_name text, role name, access text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgmq_c_revoke_queue'
LANGUAGE C VOLATILE;
