--
-- metrics: metrics(queue_name) and metrics_all().
--
\set SHOW_CONTEXT never

SELECT pgmq.create('m_q');

-- An empty queue: lengths 0, ages NULL, nothing sent yet.
BEGIN;
SELECT queue_name, queue_length, newest_msg_age_sec, oldest_msg_age_sec, total_messages,
       scrape_time = now() AS scrape_time_now, queue_visible_length, default_partition_length
FROM pgmq.metrics('m_q');
COMMIT;

-- Sent in this transaction: enqueued_at = now(), so both ages are 0.
-- queue_visible_length counts vt <= now(), the transaction start, which
-- none of these reach yet (vt is taken from the clock when they are sent).
BEGIN;
SELECT * FROM pgmq.send_batch('m_q', ARRAY['{"a": 1}', '{"a": 2}', '{"a": 3}']::jsonb[]);
SELECT * FROM pgmq.send('m_q', '{"delayed": 1}', 60);
SELECT * FROM pgmq.send('m_q', '{"delayed": 2}', '2100-01-01 00:00:00+00'::timestamptz);
SELECT queue_name, queue_length, newest_msg_age_sec, oldest_msg_age_sec, total_messages,
       scrape_time = now() AS scrape_time_now, queue_visible_length, default_partition_length
FROM pgmq.metrics('m_q');
COMMIT;

-- Ages come from enqueued_at, in whole seconds.
BEGIN;
UPDATE pgmq.q_m_q SET enqueued_at = now() - interval '100 seconds' WHERE msg_id = 1;
UPDATE pgmq.q_m_q SET enqueued_at = now() - interval '40.4 seconds' WHERE msg_id = 2;
UPDATE pgmq.q_m_q SET enqueued_at = now() - interval '10.6 seconds' WHERE msg_id IN (3, 4, 5);
SELECT queue_length, newest_msg_age_sec, oldest_msg_age_sec FROM pgmq.metrics('m_q');
COMMIT;

-- Leased and delayed messages are in the queue, but not visible.
SELECT msg_id FROM pgmq.read('m_q', 30, 2);
SELECT queue_length, queue_visible_length, total_messages FROM pgmq.metrics('m_q');
-- Delete and archive shorten the queue; total_messages stays.
SELECT pgmq.delete('m_q', 1::bigint), pgmq.archive('m_q', 3::bigint);
SELECT queue_length, queue_visible_length, total_messages FROM pgmq.metrics('m_q');
-- Purge empties it; total_messages still counts every message ever sent.
SELECT pgmq.purge_queue('m_q');
SELECT queue_length, newest_msg_age_sec, oldest_msg_age_sec, total_messages, queue_visible_length
FROM pgmq.metrics('m_q');
SELECT * FROM pgmq.send('m_q', '{"after": "purge"}');
SELECT queue_length, total_messages, queue_visible_length FROM pgmq.metrics('m_q');
-- Messages sent in a transaction that rolled back used their ids.
BEGIN;
SELECT * FROM pgmq.send('m_q', '{"rolled": "back"}');
ROLLBACK;
SELECT queue_length, total_messages FROM pgmq.metrics('m_q');

-- The name comes back as given; any spelling works.
SELECT queue_name, queue_length FROM pgmq.metrics('M_Q');
SELECT queue_name, queue_length FROM pgmq.metrics(queue_name => 'm_q');
-- The result is one row of type metrics_result.
SELECT pg_typeof(pgmq.metrics('m_q'));
SELECT (pgmq.metrics('m_q')).total_messages;

--
-- metrics_all(): one row per queue, each as metrics(queue) gives it.
--
SELECT pgmq.create('m_empty');
SELECT pgmq.create_unlogged('m_unlogged');
SELECT pgmq.create('M_Mixed');
SELECT * FROM pgmq.send_batch('m_unlogged', ARRAY['{}', '{}', '{}']::jsonb[]);
SELECT * FROM pgmq.send('m_unlogged', '{}', 300);
SELECT * FROM pgmq.send('M_Mixed', '{}');
SELECT queue_name, queue_length, total_messages, queue_visible_length, default_partition_length,
       scrape_time = now() AS scrape_time_now,
       (newest_msg_age_sec IS NULL) = (queue_length = 0) AS ages_null_when_empty
FROM pgmq.metrics_all() ORDER BY queue_name COLLATE "C";
SELECT count(*) AS queues,
       count(*) FILTER (WHERE (a.queue_name, a.queue_length, a.total_messages, a.queue_visible_length)
                              = (m.queue_name, m.queue_length, m.total_messages, m.queue_visible_length))
         AS same_as_metrics
FROM pgmq.metrics_all() a, LATERAL pgmq.metrics(a.queue_name) m;

--
-- An ordinary queue table is counted by a heap scan in C; other tables by
-- a SQL statement.  Both give what the SQL aggregates give, NULLs
-- included: compare with them directly.
--
CREATE FUNCTION pg_temp.agrees(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    m pgmq.metrics_result := pgmq.metrics(q);
    a pgmq.metrics_result;
BEGIN
    EXECUTE format('SELECT %L, count(*), EXTRACT(epoch FROM now() - max(enqueued_at))::int,
                           EXTRACT(epoch FROM now() - min(enqueued_at))::int, %s::bigint, now(),
                           count(*) FILTER (WHERE vt <= now()), NULL::bigint
                    FROM pgmq.%I', q, m.total_messages, 'q_' || lower(q)) INTO a;
    RETURN m IS NOT DISTINCT FROM a
           AND (SELECT count(*) = 1 FROM pgmq.metrics_all() x WHERE x IS NOT DISTINCT FROM m);
END
$$;
SELECT pgmq.create('m_scan');
SELECT count(*) FROM pgmq.send_batch('m_scan', ARRAY(SELECT jsonb_build_object('i', i) FROM generate_series(1, 300) i));
SELECT count(*) FROM pgmq.send('m_scan', '{}', 60);
SELECT count(*) FROM pgmq.read('m_scan', 30, 50);
-- vt exactly now() is visible; NULL headers, last_read_at on some rows
-- only; ages rounded as numeric rounds (-2.5 to -3)
BEGIN;
UPDATE pgmq.q_m_scan SET vt = now() WHERE msg_id = 100;
UPDATE pgmq.q_m_scan SET vt = now() + interval '1 microsecond' WHERE msg_id = 101;
UPDATE pgmq.q_m_scan SET enqueued_at = now() - interval '1 day 0.5 seconds' WHERE msg_id = 7;
UPDATE pgmq.q_m_scan SET enqueued_at = now() + interval '2.5 seconds' WHERE msg_id = 8;
SELECT queue_length, queue_visible_length, newest_msg_age_sec, oldest_msg_age_sec
FROM pgmq.metrics('m_scan');
SELECT pg_temp.agrees('m_scan') AS heap_scan;
COMMIT;
-- a role that may read only the columns metrics needs gets the statement
CREATE ROLE regress_metrics_columns;
GRANT USAGE ON SCHEMA pgmq TO regress_metrics_columns;
GRANT SELECT (enqueued_at, vt) ON pgmq.q_m_scan TO regress_metrics_columns;
SELECT format('GRANT SELECT ON %s TO regress_metrics_columns',
              pg_get_serial_sequence('pgmq.q_m_scan', 'msg_id')) \gexec
SET ROLE regress_metrics_columns;
SELECT queue_length, queue_visible_length FROM pgmq.metrics('m_scan');
RESET ROLE;
SELECT queue_length, queue_visible_length FROM pgmq.metrics('m_scan');
DROP OWNED BY regress_metrics_columns;
DROP ROLE regress_metrics_columns;
-- rows deleted in this transaction are gone, rows updated counted once
BEGIN;
DELETE FROM pgmq.q_m_scan WHERE msg_id <= 10;
UPDATE pgmq.q_m_scan SET vt = now() - interval '1 hour' WHERE msg_id > 290;
SELECT queue_length, queue_visible_length FROM pgmq.metrics('m_scan');
SELECT pg_temp.agrees('m_scan') AS in_transaction;
ROLLBACK;
-- vt dropped and added again: old rows carry the added column's default
ALTER TABLE pgmq.q_m_scan DROP COLUMN vt;
ALTER TABLE pgmq.q_m_scan ADD COLUMN vt timestamptz NOT NULL DEFAULT '2000-01-01';
SELECT queue_length, queue_visible_length FROM pgmq.metrics('m_scan');
SELECT pg_temp.agrees('m_scan') AS added_column;
-- the SQL statement: row-level security on, an inheritance child, a
-- column of another type
ALTER TABLE pgmq.q_m_scan ENABLE ROW LEVEL SECURITY;
SELECT pg_temp.agrees('m_scan') AS row_security;
ALTER TABLE pgmq.q_m_scan DISABLE ROW LEVEL SECURITY;
CREATE TABLE pgmq.m_scan_child () INHERITS (pgmq.q_m_scan);
INSERT INTO pgmq.m_scan_child (msg_id, vt, message) VALUES (-1, now(), '{}');
SELECT queue_length, queue_visible_length FROM pgmq.metrics('m_scan');
SELECT pg_temp.agrees('m_scan') AS with_child;
DROP TABLE pgmq.m_scan_child;
ALTER TABLE pgmq.q_m_scan ALTER COLUMN enqueued_at TYPE timestamp;
SELECT queue_length, oldest_msg_age_sec IS NOT NULL AS has_age FROM pgmq.metrics('m_scan');
SELECT pg_temp.agrees('m_scan') AS timestamp_column;
SELECT pgmq.drop_queue('m_scan');

-- An unknown queue is an error naming its table.
SELECT * FROM pgmq.metrics('no_such_queue');
\echo :LAST_ERROR_SQLSTATE

SELECT pgmq.drop_queue('m_empty');
SELECT queue_name FROM pgmq.metrics_all() ORDER BY queue_name COLLATE "C";
SELECT pgmq.drop_queue('m_q'), pgmq.drop_queue('m_unlogged'), pgmq.drop_queue('M_Mixed');
SELECT * FROM pgmq.metrics_all();
