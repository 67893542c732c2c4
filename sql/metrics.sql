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

-- An unknown queue is an error naming its table.
SELECT * FROM pgmq.metrics('no_such_queue');
\echo :LAST_ERROR_SQLSTATE

SELECT pgmq.drop_queue('m_empty');
SELECT queue_name FROM pgmq.metrics_all() ORDER BY queue_name COLLATE "C";
SELECT pgmq.drop_queue('m_q'), pgmq.drop_queue('m_unlogged'), pgmq.drop_queue('M_Mixed');
SELECT * FROM pgmq.metrics_all();
