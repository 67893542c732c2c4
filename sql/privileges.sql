--
-- privileges: the functions run with the caller's rights, so what a role may
-- do with a queue is exactly what its grants on the queue's tables allow
-- (README, "Security notes").  A producer, a consumer, metrics, a role with
-- no grants, and each listed grant shown to be needed.  Then: a type
-- pg_temp.text does not break metrics_all, and CREATE EXTENSION refuses a
-- schema pgmq that another role owns.
--
-- Roles are cluster-wide: all are named regress_pgmq_* and dropped at the end.
--
\set SHOW_CONTEXT never

-- err(statement) is defined by install.sql.

CREATE ROLE regress_pgmq_producer;
CREATE ROLE regress_pgmq_consumer;
CREATE ROLE regress_pgmq_metrics;
CREATE ROLE regress_pgmq_nobody;
CREATE ROLE regress_pgmq_partial;

SELECT pgmq.create('priv_q');

-- Every call on the queue, by what it needs; %1$s is the id of a message
-- in the queue (so a call that wrongly succeeded would change something).
CREATE TEMP TABLE calls (ord serial, kind text, fn text, stmt text);
INSERT INTO calls (kind, fn, stmt) VALUES
    ('send', 'send(msg)', $$SELECT pgmq.send('priv_q', '{"by": "call"}')$$),
    ('send', 'send(msg, headers, delay)', $$SELECT pgmq.send('priv_q', '{"by": "call"}', '{"h": 1}'::jsonb, 0)$$),
    ('send', 'send($1, $2, $3)', $$SELECT pgmq.send('priv_q', '{"by": "call"}', '0')$$),
    ('send', 'send_batch(msgs)', $$SELECT pgmq.send_batch('priv_q', ARRAY['{"by": "call"}']::jsonb[])$$),
    ('send', 'send_batch(msgs, headers, delay)', $$SELECT pgmq.send_batch('priv_q', ARRAY['{"by": "call"}']::jsonb[], ARRAY['{"h": 1}']::jsonb[], now())$$),
    ('send', 'send_batch($1, $2, $3)', $$SELECT pgmq.send_batch('priv_q', '{"{}"}', '0')$$),
    ('consume', 'read', $$SELECT pgmq.read('priv_q', 30, 1)$$),
    ('consume', 'read(conditional)', $$SELECT pgmq.read('priv_q', 30, 1, '{"by": "owner"}')$$),
    ('consume', 'read_with_poll', $$SELECT pgmq.read_with_poll('priv_q', 30, 1, 1, 10)$$),
    ('consume', 'pop', $$SELECT pgmq.pop('priv_q')$$),
    ('consume', 'set_vt(id, int)', $$SELECT pgmq.set_vt('priv_q', %1$s, 30)$$),
    ('consume', 'set_vt(ids, tstz)', $$SELECT pgmq.set_vt('priv_q', ARRAY[%1$s]::bigint[], now())$$),
    ('consume', 'set_vt($1, $2, $3)', $$SELECT pgmq.set_vt('priv_q', '%1$s', '30')$$),
    ('consume', 'delete(id)', $$SELECT pgmq.delete('priv_q', %1$s::bigint)$$),
    ('consume', 'delete(ids)', $$SELECT pgmq.delete('priv_q', ARRAY[%1$s]::bigint[])$$),
    ('consume', 'delete($1, $2)', $$SELECT pgmq.delete('priv_q', '%1$s')$$),
    ('archive', 'archive(id)', $$SELECT pgmq.archive('priv_q', %1$s::bigint)$$),
    ('archive', 'archive(ids)', $$SELECT pgmq.archive('priv_q', ARRAY[%1$s]::bigint[])$$),
    ('archive', 'archive($1, $2)', $$SELECT pgmq.archive('priv_q', '%1$s')$$),
    ('metrics', 'metrics', $$SELECT pgmq.metrics('priv_q')$$),
    ('catalog', 'metrics_all', $$SELECT pgmq.metrics_all()$$),
    ('catalog', 'list_queues', $$SELECT pgmq.list_queues()$$),
    ('admin', 'purge_queue', $$SELECT pgmq.purge_queue('priv_q')$$),
    ('admin', 'drop_queue', $$SELECT pgmq.drop_queue('priv_q')$$),
    ('admin', 'create', $$SELECT pgmq.create('priv_q_new')$$);
GRANT SELECT ON calls TO PUBLIC;

-- outcome(id, kinds): run those calls as the current role; per kind, the
-- calls that worked and those that failed, with the distinct errors.
CREATE FUNCTION pg_temp.outcome(id bigint, kinds text[])
RETURNS TABLE (kind text, allowed text, denied text, errors text)
LANGUAGE sql AS $$
    SELECT c.kind,
           string_agg(c.fn, ', ' ORDER BY c.ord) FILTER (WHERE c.result = 'ok'),
           string_agg(c.fn, ', ' ORDER BY c.ord) FILTER (WHERE c.result <> 'ok'),
           string_agg(DISTINCT c.result, '; ') FILTER (WHERE c.result <> 'ok')
    FROM (SELECT c.*, public.err(format(c.stmt, id)) AS result
          FROM calls c WHERE c.kind = ANY (kinds) ORDER BY c.ord) c
    GROUP BY c.kind
    ORDER BY min(c.ord)
$$;

-- Every call works for the queue's owner: so the failures below come from
-- missing grants, not from mistakes in the calls.  This also leaves every
-- plan of the queue cached in this session, where the other roles run next:
-- cached plans must still check the privileges of whoever calls.
SELECT * FROM pgmq.send('priv_q', '{"by": "owner"}');
SELECT * FROM pg_temp.outcome(1, ARRAY['send', 'consume', 'archive', 'metrics', 'catalog']);
SELECT pgmq.purge_queue('priv_q') > 0 AS purged;
DELETE FROM pgmq.a_priv_q;

-- The queue the roles work on.
SELECT * FROM pgmq.send_batch('priv_q', ARRAY['{"by": "owner"}', '{"by": "owner"}', '{"by": "owner"}']::jsonb[]);
SELECT min(msg_id) AS some_id FROM pgmq.q_priv_q \gset

-- Everything a failed call must leave alone, and a view comparing with it.
CREATE TEMP TABLE snap_q AS SELECT * FROM pgmq.q_priv_q;
CREATE TEMP TABLE snap_a AS SELECT * FROM pgmq.a_priv_q;
CREATE TEMP TABLE snap_seq AS SELECT last_value, is_called FROM pgmq.q_priv_q_msg_id_seq;
CREATE TEMP TABLE snap_meta AS SELECT * FROM pgmq.meta;
CREATE TEMP TABLE snap_rel AS SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace;
CREATE FUNCTION pg_temp.snapshot() RETURNS void LANGUAGE sql AS $$
    DELETE FROM snap_q; INSERT INTO snap_q SELECT * FROM pgmq.q_priv_q;
    DELETE FROM snap_a; INSERT INTO snap_a SELECT * FROM pgmq.a_priv_q;
    DELETE FROM snap_seq; INSERT INTO snap_seq SELECT last_value, is_called FROM pgmq.q_priv_q_msg_id_seq;
    DELETE FROM snap_meta; INSERT INTO snap_meta SELECT * FROM pgmq.meta;
    DELETE FROM snap_rel; INSERT INTO snap_rel SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace;
$$;
CREATE TEMP VIEW unchanged AS
SELECT NOT EXISTS ((SELECT * FROM pgmq.q_priv_q EXCEPT SELECT * FROM snap_q)
                   UNION ALL (SELECT * FROM snap_q EXCEPT SELECT * FROM pgmq.q_priv_q)) AS queue,
       NOT EXISTS ((SELECT * FROM pgmq.a_priv_q EXCEPT SELECT * FROM snap_a)
                   UNION ALL (SELECT * FROM snap_a EXCEPT SELECT * FROM pgmq.a_priv_q)) AS archive,
       (SELECT (last_value, is_called) FROM pgmq.q_priv_q_msg_id_seq)
           = (SELECT (last_value, is_called) FROM snap_seq) AS msg_ids,
       NOT EXISTS ((SELECT * FROM pgmq.meta EXCEPT SELECT * FROM snap_meta)
                   UNION ALL (SELECT * FROM snap_meta EXCEPT SELECT * FROM pgmq.meta)) AS meta,
       NOT EXISTS ((SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace
                    EXCEPT SELECT relname FROM snap_rel)
                   UNION ALL (SELECT relname FROM snap_rel
                    EXCEPT SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace)) AS relations,
       (SELECT count(*) FROM pgmq.q_priv_q) AS queued,
       (SELECT count(*) FROM pgmq.a_priv_q) AS archived;
SELECT * FROM unchanged;

--
-- A role with no grants at all: every function in schema pgmq, called with
-- NULLs of its argument types, is refused before it runs.
--
SET ROLE regress_pgmq_nobody;
SELECT public.err(format('SELECT pgmq.%I(%s)', p.proname,
                         (SELECT coalesce(string_agg(format('NULL::%s', format_type(t, NULL)), ', ' ORDER BY n), '')
                          FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a (t, n)))) AS result,
       count(*) = (SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgmq'::regnamespace) AS every_function
FROM pg_proc p
WHERE p.pronamespace = 'pgmq'::regnamespace
GROUP BY 1;
RESET ROLE;
SELECT * FROM unchanged;

-- USAGE on the schema alone gives nothing either: each call is refused at
-- the first table it touches.
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_nobody;
SET ROLE regress_pgmq_nobody;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send', 'consume', 'archive', 'metrics', 'catalog', 'admin']);
RESET ROLE;
SELECT * FROM unchanged;

--
-- A producer: USAGE on schema pgmq, INSERT, SELECT on pgmq.q_<name>.
--
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_producer;
GRANT INSERT, SELECT ON pgmq.q_priv_q TO regress_pgmq_producer;
SET ROLE regress_pgmq_producer;
SELECT * FROM pgmq.send('priv_q', '{"by": "producer"}');
SELECT * FROM pgmq.send('priv_q', '{"by": "producer"}', '{"h": 1}'::jsonb, 0);
SELECT * FROM pgmq.send('priv_q', '{"by": "producer"}', '0');
SELECT * FROM pgmq.send_batch('priv_q', ARRAY['{"by": "producer"}', '{"by": "producer"}']::jsonb[]);
SELECT * FROM pgmq.send_batch('priv_q', '{"{\"by\": \"producer\"}"}', '0');
RESET ROLE;
SELECT msg_id, read_ct, message, headers FROM pgmq.q_priv_q ORDER BY msg_id;
SELECT pg_temp.snapshot();
-- ... and nothing else: no read, pop, set_vt, delete or archive.
SET ROLE regress_pgmq_producer;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['consume', 'archive', 'metrics', 'catalog', 'admin']);
RESET ROLE;
SELECT * FROM unchanged;

--
-- A consumer: USAGE on schema pgmq, SELECT, UPDATE, DELETE on
-- pgmq.q_<name>.  It cannot send, nor archive without grants on the archive.
--
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_consumer;
GRANT SELECT, UPDATE, DELETE ON pgmq.q_priv_q TO regress_pgmq_consumer;
SET ROLE regress_pgmq_consumer;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send', 'archive', 'metrics', 'catalog', 'admin']);
RESET ROLE;
SELECT * FROM unchanged;
SET ROLE regress_pgmq_consumer;
SELECT msg_id, read_ct, message FROM pgmq.read('priv_q', 30, 2);
SELECT msg_id, read_ct, message FROM pgmq.read('priv_q', 30, 2, '{"by": "producer"}');
SELECT msg_id, read_ct FROM pgmq.read_with_poll('priv_q', 30, 1, 1, 10);
SELECT msg_id, read_ct FROM pgmq.pop('priv_q');
SELECT msg_id, read_ct FROM pgmq.set_vt('priv_q', 8, 0);
SELECT msg_id, read_ct FROM pgmq.set_vt('priv_q', ARRAY[9, 10]::bigint[], now());
SELECT msg_id, read_ct FROM pgmq.set_vt('priv_q', '11', '0');
SELECT pgmq.delete('priv_q', 8::bigint);
SELECT * FROM pgmq.delete('priv_q', ARRAY[9]::bigint[]);
SELECT * FROM pgmq.delete('priv_q', '10');
RESET ROLE;
SELECT msg_id, read_ct FROM pgmq.q_priv_q ORDER BY msg_id;
-- With INSERT, SELECT on pgmq.a_<name> it can archive.
GRANT INSERT, SELECT ON pgmq.a_priv_q TO regress_pgmq_consumer;
SET ROLE regress_pgmq_consumer;
SELECT pgmq.archive('priv_q', 11::bigint);
SELECT * FROM pgmq.archive('priv_q', ARRAY[12]::bigint[]);
SELECT * FROM pgmq.archive('priv_q', '14');
RESET ROLE;
SELECT msg_id, read_ct FROM pgmq.q_priv_q ORDER BY msg_id;
SELECT msg_id, read_ct FROM pgmq.a_priv_q ORDER BY msg_id;
SELECT min(msg_id) AS some_id FROM pgmq.q_priv_q \gset
SELECT pg_temp.snapshot();

--
-- metrics: SELECT on pgmq.q_<name> and on the queue's msg_id sequence
-- (USAGE on the sequence does as well, see below).
--
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_metrics;
GRANT SELECT ON pgmq.q_priv_q TO regress_pgmq_metrics;
SELECT pg_get_serial_sequence('pgmq.q_priv_q', 'msg_id') AS sequence;
SET ROLE regress_pgmq_metrics;
SELECT public.err($$SELECT pgmq.metrics('priv_q')$$);
RESET ROLE;
GRANT SELECT ON SEQUENCE pgmq.q_priv_q_msg_id_seq TO regress_pgmq_metrics;
SET ROLE regress_pgmq_metrics;
SELECT queue_name, queue_length, queue_visible_length, total_messages FROM pgmq.metrics('priv_q');
-- ... and nothing else; metrics_all and list_queues read pgmq.meta as well.
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send', 'consume', 'archive', 'catalog', 'admin']);
RESET ROLE;
SELECT * FROM unchanged;
-- Members of pg_monitor can read every queue, and change nothing.
GRANT pg_monitor TO regress_pgmq_metrics;
SET ROLE regress_pgmq_metrics;
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics_all() WHERE queue_name = 'priv_q';
SELECT queue_name FROM pgmq.list_queues() WHERE queue_name = 'priv_q';
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send', 'consume', 'archive', 'admin']);
RESET ROLE;
SELECT * FROM unchanged;
-- A role that is only a member of pg_monitor reads every queue's metrics
-- and statistics, and no message: not the queue, not the archive.
CREATE ROLE regress_pgmq_monitor IN ROLE pg_monitor;
SET ROLE regress_pgmq_monitor;
SELECT queue_name, queue_length, queue_visible_length, total_messages FROM pgmq.metrics('priv_q');
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics_all() WHERE queue_name = 'priv_q';
SELECT queue_name, visible + in_flight + delayed AS depth FROM pgmq.queue_stats WHERE queue_name = 'priv_q';
SELECT public.err($$SELECT message FROM pgmq.q_priv_q$$) AS queue_bodies,
       public.err($$SELECT message FROM pgmq.a_priv_q$$) AS archive_bodies;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send', 'consume', 'archive', 'admin']);
RESET ROLE;
SELECT * FROM unchanged;

--
-- Each grant listed above is needed: without any one of them, these calls
-- fail.  (In transactions that are rolled back, so what works leaves no
-- trace.)
--
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_partial;
-- producer without SELECT, without INSERT
BEGIN;
GRANT INSERT ON pgmq.q_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send']);
ROLLBACK;
BEGIN;
GRANT SELECT ON pgmq.q_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['send']);
ROLLBACK;
-- consumer without SELECT, without UPDATE, without DELETE
BEGIN;
GRANT UPDATE, DELETE ON pgmq.q_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['consume']);
ROLLBACK;
BEGIN;
GRANT SELECT, DELETE ON pgmq.q_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['consume']);
ROLLBACK;
BEGIN;
GRANT SELECT, UPDATE ON pgmq.q_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['consume']);
ROLLBACK;
-- archive without INSERT, without SELECT on the archive
BEGIN;
GRANT SELECT, UPDATE, DELETE ON pgmq.q_priv_q TO regress_pgmq_partial;
GRANT SELECT ON pgmq.a_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['archive']);
ROLLBACK;
BEGIN;
GRANT SELECT, UPDATE, DELETE ON pgmq.q_priv_q TO regress_pgmq_partial;
GRANT INSERT ON pgmq.a_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['archive']);
ROLLBACK;
-- metrics without SELECT on the table, without any grant on the sequence;
-- USAGE instead of SELECT on the sequence is enough
BEGIN;
GRANT SELECT ON SEQUENCE pgmq.q_priv_q_msg_id_seq TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['metrics']);
ROLLBACK;
BEGIN;
GRANT SELECT ON pgmq.q_priv_q TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['metrics']);
ROLLBACK;
BEGIN;
GRANT SELECT ON pgmq.q_priv_q TO regress_pgmq_partial;
GRANT USAGE ON SEQUENCE pgmq.q_priv_q_msg_id_seq TO regress_pgmq_partial;
SET LOCAL ROLE regress_pgmq_partial;
SELECT * FROM pg_temp.outcome(:some_id, ARRAY['metrics']);
ROLLBACK;
SELECT * FROM unchanged;

--
-- A type pg_temp.text (pg_temp is searched first for types) does not
-- change what metrics_all means: 0.1.0 cast with an unqualified ::text and
-- failed here with 42883.
--
CREATE TYPE pg_temp.text AS (t integer);
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics_all() WHERE queue_name = 'priv_q';
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics('priv_q');
SELECT queue_name FROM pgmq.list_queues() WHERE queue_name = 'priv_q';
DROP TYPE pg_temp.text;

DROP VIEW unchanged;
SELECT pgmq.drop_queue('priv_q');

--
-- CREATE EXTENSION does not move into a schema pgmq that another,
-- non-superuser role owns (42501, with a hint), and nothing is created; it
-- does when the installing role owns the schema.  In a database of its
-- own, as a superuser role of its own (so messages do not name whoever
-- runs the tests).
--
SELECT current_database() AS regress_db \gset
CREATE ROLE regress_pgmq_schema_owner;
CREATE ROLE regress_pgmq_installer SUPERUSER;
CREATE DATABASE regress_pgmq_schema;
\c regress_pgmq_schema
SET ROLE regress_pgmq_installer;
CREATE SCHEMA pgmq AUTHORIZATION regress_pgmq_schema_owner;
CREATE EXTENSION pgmq_c;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'pgmq_c';
SELECT nspowner::regrole AS owner,
       (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) AS relations,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid) AS functions,
       (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid) AS types
FROM pg_namespace n WHERE nspname = 'pgmq';
-- The installing role owns it: accepted.
ALTER SCHEMA pgmq OWNER TO regress_pgmq_installer;
CREATE EXTENSION pgmq_c;
SELECT extname, extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pgmq_c') AS default_version,
       extowner::regrole AS owner, extnamespace::regnamespace AS schema
FROM pg_extension WHERE extname = 'pgmq_c';
SELECT pgmq.create('schema_q');
SELECT * FROM pgmq.send('schema_q', '{"ok": true}');
SELECT msg_id, message FROM pgmq.pop('schema_q');
RESET ROLE;
\c :regress_db
DROP DATABASE regress_pgmq_schema;

-- Roles are cluster-wide: remove them and what they were granted.
DROP OWNED BY regress_pgmq_producer, regress_pgmq_consumer, regress_pgmq_metrics, regress_pgmq_monitor,
              regress_pgmq_nobody, regress_pgmq_partial;
DROP ROLE regress_pgmq_producer, regress_pgmq_consumer, regress_pgmq_metrics, regress_pgmq_monitor,
          regress_pgmq_nobody, regress_pgmq_partial, regress_pgmq_schema_owner,
          regress_pgmq_installer;
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname LIKE 'regress\_pgmq\_%';
