--
-- hardening: defects a review of 0.1.0 found, each pinned by a test.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

--
-- 1. create never takes over a relation another role planted in schema
-- pgmq: a trigger on it would run as whoever sends to the queue.
--
CREATE ROLE regress_planter;
GRANT USAGE, CREATE ON SCHEMA pgmq TO regress_planter;
-- What the planted trigger does: record who it ran as.  (Made here only
-- because the planter may not create functions in public.)
CREATE TABLE public.planted_ran (who name);
GRANT INSERT ON public.planted_ran TO PUBLIC;
CREATE FUNCTION public.planted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.planted_ran VALUES (current_user);
    RETURN NEW;
END
$$;
SET ROLE regress_planter;
CREATE TABLE pgmq.q_pay (
    msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    read_ct integer NOT NULL DEFAULT 0,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    last_read_at timestamptz,
    vt timestamptz NOT NULL,
    message jsonb,
    headers jsonb);
CREATE TRIGGER planted BEFORE INSERT ON pgmq.q_pay
    FOR EACH ROW EXECUTE FUNCTION public.planted();
-- The archive alone, too.
CREATE TABLE pgmq.a_refund (LIKE pgmq.q_pay);
ALTER TABLE pgmq.a_refund ADD COLUMN archived_at timestamptz;
RESET ROLE;
SELECT pgmq.create('pay');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.create_unlogged('pay');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.create('refund');
\echo :LAST_ERROR_SQLSTATE
-- Nothing was made, nothing registered, and the trigger never ran.
SELECT to_regclass('pgmq.a_pay') AS a_pay, to_regclass('pgmq.q_refund') AS q_refund,
       (SELECT count(*) FROM pgmq.meta WHERE queue_name IN ('pay', 'refund')) AS registered,
       (SELECT count(*) FROM public.planted_ran) AS trigger_ran;
-- A copy the caller owns, with the right layout (say, restored from a dump
-- before pgmq.meta was), is taken over and works; see below.
CREATE TABLE pgmq.q_restored (LIKE pgmq.q_pay INCLUDING ALL);
DROP TABLE pgmq.q_pay, pgmq.a_refund;
DROP FUNCTION public.planted();

-- Relations of other kinds, or tables of the wrong shape, are refused even
-- when the caller owns them.
CREATE VIEW pgmq.q_viewq AS SELECT 1 AS msg_id;
SELECT pgmq.create('viewq');
\echo :LAST_ERROR_SQLSTATE
DROP VIEW pgmq.q_viewq;
CREATE TABLE pgmq.q_shape (msg_id bigint PRIMARY KEY, body text);
SELECT pgmq.create('shape');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE pgmq.q_shape;
CREATE SEQUENCE pgmq.q_seqq;
SELECT pgmq.create('seqq');
\echo :LAST_ERROR_SQLSTATE
DROP SEQUENCE pgmq.q_seqq;

-- The copy of q_pay made above, owned by the caller.
INSERT INTO pgmq.q_restored (vt, message) VALUES (now(), '{"kept": true}');
SELECT pgmq.create('restored');
SELECT msg_id, message FROM pgmq.read('restored', 30, 5);
SELECT queue_length, total_messages FROM pgmq.metrics('restored');
SELECT pgmq.drop_queue('restored');

-- A complete, registered queue is left alone whoever calls create: a role
-- that does not own it may repeat create harmlessly.
SELECT pgmq.create('shared_q');
CREATE ROLE regress_app;
GRANT USAGE ON SCHEMA pgmq TO regress_app;
GRANT SELECT ON pgmq.meta TO regress_app;
SET ROLE regress_app;
SELECT pgmq.create('shared_q');
SELECT pgmq.create_unlogged('shared_q');
RESET ROLE;
SELECT pgmq.drop_queue('shared_q');
REVOKE ALL ON pgmq.meta FROM regress_app;
REVOKE ALL ON SCHEMA pgmq FROM regress_app, regress_planter;
DROP ROLE regress_app;
DROP TABLE public.planted_ran;
DROP ROLE regress_planter;

--
-- 3. A name whose lowercase form is too long for a table name (each 'Ⱥ' is
-- 2 bytes, its lowercase 3) never reaches the catalog: repeated calls do
-- not grow the backend's catalog cache, nor pgmq_c's own queue cache.
--
CREATE FUNCTION pg_temp.context_bytes(context text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(total_bytes), 0)::bigint FROM pg_backend_memory_contexts WHERE name = context
$$;
SELECT count(pgmq.drop_queue(repeat('Ⱥ', 30))) FROM generate_series(1, 1000);
SELECT pg_temp.context_bytes('CacheMemoryContext') AS before \gset
SELECT count(pgmq.drop_queue(repeat('Ⱥ', 30))) FROM generate_series(1, 20000);
DO $$
BEGIN
    FOR i IN 1..5000 LOOP
        BEGIN
            PERFORM pgmq.send(repeat('Ⱥ', 30), '{}');
        EXCEPTION WHEN undefined_table THEN
        END;
    END LOOP;
END
$$;
SELECT pg_temp.context_bytes('CacheMemoryContext') - :before < 256 * 1024 AS catalog_cache_bounded;
-- Calls naming queues that do not exist leave no entries in pgmq_c's cache.
SELECT pg_temp.context_bytes('pgmq_c queue cache') AS before \gset
DO $$
BEGIN
    FOR i IN 1..5000 LOOP
        BEGIN
            PERFORM pgmq.send('no_such_queue_' || i, '{}');
        EXCEPTION WHEN undefined_table THEN
        END;
    END LOOP;
END
$$;
SELECT pg_temp.context_bytes('pgmq_c queue cache') - :before < 64 * 1024 AS queue_cache_bounded;

--
-- 4. Derived names that collide: Postgres names the sequence or index of
-- the second queue differently, and pgmq_c finds it in the catalog.
--
SELECT pgmq.create('k_msg_id_seq');
SELECT pgmq.create('k');
SELECT pg_get_serial_sequence('pgmq.q_k', 'msg_id') AS k_sequence;
SELECT * FROM pgmq.send('k', '{"n": 1}');
SELECT * FROM pgmq.send('k', '{"n": 2}');
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics('k');
SELECT queue_name, total_messages FROM pgmq.metrics_all() WHERE queue_name LIKE 'k%';
SELECT pgmq.drop_queue('k_msg_id_seq');
SELECT queue_name, total_messages FROM pgmq.metrics_all() WHERE queue_name LIKE 'k%';
SELECT pgmq.drop_queue('k');
-- The same for an unlogged queue, whose sequence create sets logged.
SELECT pgmq.create('u_msg_id_seq');
SELECT pgmq.create_unlogged('u');
SELECT c.relname, c.relpersistence FROM pg_class c
WHERE c.oid = pg_get_serial_sequence('pgmq.q_u', 'msg_id')::regclass;
SELECT * FROM pgmq.send('u', '{}');
SELECT queue_name, total_messages FROM pgmq.metrics('u');
SELECT pgmq.drop_queue('u'), pgmq.drop_queue('u_msg_id_seq');
-- The other way round: the name create('k2_msg_id_seq') wants is queue
-- k2's sequence, so it is refused rather than half made.
SELECT pgmq.create('k2');
SELECT pgmq.create('k2_msg_id_seq');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.drop_queue('k2');
-- Indexes: queue w still gets its vt index when the name is taken.
SELECT pgmq.create('w_vt_idx');
CREATE TABLE pgmq.not_a_queue (x int);
CREATE INDEX archived_at_idx_w ON pgmq.not_a_queue (x);
SELECT pgmq.create('w');
SELECT c.relname AS table, i.relname AS index, pg_get_indexdef(i.oid) LIKE '%(vt)' AS on_vt,
       pg_get_indexdef(i.oid) LIKE '%(archived_at)' AS on_archived_at
FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
WHERE c.relname IN ('q_w', 'a_w') AND NOT x.indisprimary
ORDER BY 1, 2;
SELECT pgmq.drop_queue('w'), pgmq.drop_queue('w_vt_idx');
DROP TABLE pgmq.not_a_queue;

--
-- 5. metrics never copies a column it has not checked: with the identity
-- dropped and a table that looks like a sequence in its place, it reports
-- total_messages as unknown, and metrics_all still works.
--
SELECT pgmq.create('m5');
SELECT count(*) FROM pgmq.send_batch('m5', ARRAY['{}', '{}']::jsonb[]);
ALTER TABLE pgmq.q_m5 ALTER COLUMN msg_id DROP IDENTITY;
CREATE TABLE pgmq.q_m5_msg_id_seq (last_value numeric, is_called boolean);
INSERT INTO pgmq.q_m5_msg_id_seq VALUES (123456789012345678901234567890, true);
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics('m5');
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics_all() WHERE queue_name = 'm5';
DROP TABLE pgmq.q_m5_msg_id_seq;
SELECT pgmq.drop_queue('m5');

--
-- 7. A type pg_temp.text does not change what metrics_all means.
--
SELECT pgmq.create('m7');
CREATE TYPE pg_temp.text AS (x int);
SELECT queue_name, queue_length FROM pgmq.metrics_all() WHERE queue_name = 'm7';
DROP TYPE pg_temp.text;
SELECT pgmq.drop_queue('m7');

--
-- 8. The user's triggers on a queue table run under the session's own
-- settings: pgmq_c plans its by-id statements without sequential scans,
-- but does not leave that setting in force while they execute.
--
SELECT pgmq.create('trig');
CREATE TABLE public.seen_setting (op text, enable_seqscan text);
CREATE FUNCTION public.record_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen_setting VALUES (TG_OP, current_setting('enable_seqscan'));
    RETURN coalesce(NEW, OLD);
END
$$;
CREATE TRIGGER record_setting BEFORE INSERT OR UPDATE OR DELETE ON pgmq.q_trig
    FOR EACH ROW EXECUTE FUNCTION public.record_setting();
SELECT * FROM pgmq.send('trig', '{}');
SELECT * FROM pgmq.send('trig', '{}');
SELECT * FROM pgmq.send('trig', '{}');
SELECT msg_id FROM pgmq.read('trig', 30, 1);
SELECT pgmq.delete('trig', 1::bigint);
SELECT msg_id FROM pgmq.set_vt('trig', 2, 0);
SELECT msg_id FROM pgmq.pop('trig');
SELECT pgmq.archive('trig', 3::bigint);
SET enable_seqscan = off;
SELECT * FROM pgmq.send('trig', '{}');
SELECT msg_id FROM pgmq.read('trig', 30, 1);
RESET enable_seqscan;
SELECT op, enable_seqscan, count(*) FROM public.seen_setting GROUP BY 1, 2 ORDER BY 1, 2;
SELECT pgmq.drop_queue('trig');
DROP TABLE public.seen_setting;
DROP FUNCTION public.record_setting();

--
-- Names with control characters are refused.
--
SELECT err($$SELECT pgmq.create(E'tab\tname')$$) AS tab,
       err($$SELECT pgmq.create(E'new\nline')$$) AS newline,
       err($$SELECT pgmq.validate_queue_name(E'del\x7f')$$) AS del;
SELECT count(*) AS registered FROM pgmq.meta WHERE queue_name ~ '[[:cntrl:]]';

--
-- metrics_all is ordered by queue name, whatever order the queues were
-- made in (no ORDER BY here: the function's own order is what is tested).
--
SELECT pgmq.create('ord_b'), pgmq.create('ord_c'), pgmq.create('ord_a');
SELECT queue_name FROM pgmq.metrics_all() WHERE queue_name LIKE 'ord\_%';
SELECT pgmq.drop_queue('ord_a'), pgmq.drop_queue('ord_b'), pgmq.drop_queue('ord_c');

--
-- read_with_poll sleeps poll_interval_ms between attempts.  Each attempt
-- scans the queue's primary key once, and this transaction's scan counts
-- are exact: one second of polling every 250 ms is about 5 attempts
-- (at least 2 even on a very slow machine); every millisecond would be
-- hundreds.
--
SELECT pgmq.create('pollq');
BEGIN;
SELECT count(*) FROM pgmq.read_with_poll('pollq', 30, 1, 1, 250);
SELECT pg_stat_get_xact_numscans('pgmq.q_pollq_pkey'::regclass) BETWEEN 2 AND 10 AS attempts_paced;
COMMIT;
SELECT pgmq.drop_queue('pollq');
