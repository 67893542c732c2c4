--
-- send: every send and send_batch overload, _send_batch and
-- _validate_batch_params.
--
-- A message sent with delay d at clock time c gets vt = c + d.  Inside one
-- transaction now() <= c <= clock_timestamp(), which gives exact bounds:
--     now() + d <= vt <= clock_timestamp() + d
--
\set SHOW_CONTEXT never

SELECT pgmq.create('s_q');

--
-- send(queue_name, msg)
--
BEGIN;
SELECT * FROM pgmq.send('s_q', '{"hello": "world"}');
SELECT msg_id, read_ct, last_read_at, message, headers,
       enqueued_at = now() AS enqueued_now,
       vt BETWEEN now() AND clock_timestamp() AS visible_now
FROM pgmq.q_s_q;
COMMIT;

--
-- send(queue_name, msg, delay integer)
--
BEGIN;
SELECT * FROM pgmq.send('s_q', '{"delay": 30}', 30);
SELECT msg_id, read_ct, last_read_at, message, headers, enqueued_at = now() AS enqueued_now,
       vt BETWEEN now() + interval '30 seconds' AND clock_timestamp() + interval '30 seconds' AS vt_in_30s
FROM pgmq.q_s_q WHERE msg_id = 2;
-- named arguments, and a delay of 0
SELECT * FROM pgmq.send(queue_name => 's_q', msg => '{"delay": 0}', delay => 0);
SELECT msg_id, vt BETWEEN now() AND clock_timestamp() AS visible_now
FROM pgmq.q_s_q WHERE msg_id = 3;
COMMIT;

--
-- send(queue_name, msg, delay timestamptz): vt is exactly that time, also
-- when it is in the past.
--
SELECT * FROM pgmq.send('s_q', '{"until": "2100"}', '2100-01-01 00:00:00+00'::timestamptz);
SELECT * FROM pgmq.send('s_q', '{"until": "2000"}', '2000-01-01 12:00:00+00'::timestamptz);
SELECT msg_id, message, vt = '2100-01-01 00:00:00+00' AS vt_2100, vt = '2000-01-01 12:00:00+00' AS vt_2000
FROM pgmq.q_s_q WHERE msg_id IN (4, 5) ORDER BY msg_id;

--
-- send(queue_name, msg, headers), and with an integer or timestamp delay
--
BEGIN;
SELECT * FROM pgmq.send('s_q', '{"with": "headers"}', '{"x-trace": "abc", "n": 1}'::jsonb);
SELECT * FROM pgmq.send('s_q', '{"with": "headers+delay"}', '{"x-trace": "def"}'::jsonb, 10);
SELECT * FROM pgmq.send('s_q', '{"with": "headers+until"}', '{"x-trace": "ghi"}'::jsonb,
                        '2100-01-01 00:00:00+00'::timestamptz);
SELECT * FROM pgmq.send(queue_name => 's_q', msg => '{"with": "named"}', headers => '{"named": true}');
SELECT msg_id, read_ct, last_read_at, message, headers, enqueued_at = now() AS enqueued_now
FROM pgmq.q_s_q WHERE msg_id >= 6 ORDER BY msg_id;
SELECT msg_id,
       CASE msg_id
         WHEN 6 THEN vt BETWEEN now() AND clock_timestamp()
         WHEN 7 THEN vt BETWEEN now() + interval '10 seconds' AND clock_timestamp() + interval '10 seconds'
         WHEN 8 THEN vt = '2100-01-01 00:00:00+00'
         WHEN 9 THEN vt BETWEEN now() AND clock_timestamp()
       END AS vt_as_asked
FROM pgmq.q_s_q WHERE msg_id >= 6 ORDER BY msg_id;
COMMIT;

-- NULL headers are no headers; a NULL message is stored as NULL, as in pgmq.
SELECT * FROM pgmq.send('s_q', '{"null": "headers"}', NULL::jsonb);
SELECT * FROM pgmq.send('s_q', NULL::jsonb);
SELECT * FROM pgmq.send('s_q', '[1, "two", {"three": 3}]');
SELECT * FROM pgmq.send('s_q', '"just a string"');
SELECT msg_id, message, headers FROM pgmq.q_s_q WHERE msg_id >= 10 ORDER BY msg_id;

-- A message is visible to its own transaction at once, gone on rollback;
-- its msg_id is not reused (the sequence does not roll back).
BEGIN;
SELECT * FROM pgmq.send('s_q', '{"rolled": "back"}');
SELECT msg_id, message FROM pgmq.read('s_q', 30, 1, '{"rolled": "back"}');
ROLLBACK;
SELECT count(*) FROM pgmq.q_s_q WHERE message = '{"rolled": "back"}';
SELECT * FROM pgmq.send('s_q', '{"after": "rollback"}');

SELECT pgmq.purge_queue('s_q');

--
-- send_batch(queue_name, msgs): ids in input order, one statement time
--
BEGIN;
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}']::jsonb[])
    WITH ORDINALITY AS t(msg_id, position);
SELECT msg_id, read_ct, last_read_at, message, headers, enqueued_at = now() AS enqueued_now,
       vt BETWEEN now() AND clock_timestamp() AS visible_now
FROM pgmq.q_s_q ORDER BY msg_id;
SELECT count(DISTINCT vt) AS distinct_vts FROM pgmq.q_s_q;
COMMIT;
-- a larger batch: contiguous ids, in input order (msg_id - position is
-- the same for every row), and each row holds its own message
SELECT count(*) AS sent,
       count(DISTINCT t.msg_id - t.position) AS distinct_offsets,
       bool_and(t.msg_id > lag) AS ascending
FROM (SELECT *, lag(msg_id, 1, 0::bigint) OVER (ORDER BY position) AS lag
      FROM pgmq.send_batch('s_q', (SELECT array_agg(jsonb_build_object('i', i) ORDER BY i)
                                   FROM generate_series(1, 1000) AS i))
           WITH ORDINALITY AS t(msg_id, position)) AS t;
SELECT count(*) AS stored, count(DISTINCT msg_id - (message->>'i')::bigint) AS distinct_offsets
FROM pgmq.q_s_q WHERE message ? 'i';
SELECT pgmq.purge_queue('s_q');

--
-- send_batch with delay integer / timestamptz
--
BEGIN;
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"d": 1}', '{"d": 2}']::jsonb[], 20);
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"u": 1}', '{"u": 2}']::jsonb[], '2100-01-01 00:00:00+00'::timestamptz);
SELECT msg_id, message, headers,
       CASE WHEN message ? 'd'
            THEN vt BETWEEN now() + interval '20 seconds' AND clock_timestamp() + interval '20 seconds'
            ELSE vt = '2100-01-01 00:00:00+00' END AS vt_as_asked
FROM pgmq.q_s_q ORDER BY msg_id;
COMMIT;

--
-- send_batch with headers, and with headers and a delay
--
BEGIN;
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"h": 1}', '{"h": 2}']::jsonb[],
                              ARRAY['{"k": "one"}', '{"k": "two"}']::jsonb[]);
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"hd": 1}', '{"hd": 2}']::jsonb[],
                              ARRAY['{"k": "three"}', NULL]::jsonb[], 5);
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"hu": 1}']::jsonb[],
                              ARRAY['{"k": "four"}']::jsonb[], '2000-01-01 00:00:00+00'::timestamptz);
SELECT * FROM pgmq.send_batch(queue_name => 's_q', msgs => ARRAY['{"named": 1}']::jsonb[],
                              headers => ARRAY['{"k": "five"}']::jsonb[], delay => 0);
SELECT msg_id, message, headers,
       CASE WHEN message ? 'hd'
            THEN vt BETWEEN now() + interval '5 seconds' AND clock_timestamp() + interval '5 seconds'
            WHEN message ? 'hu' THEN vt = '2000-01-01 00:00:00+00'
            ELSE vt BETWEEN now() AND clock_timestamp() END AS vt_as_asked
FROM pgmq.q_s_q WHERE message ?| ARRAY['h', 'hd', 'hu', 'named'] ORDER BY msg_id;
COMMIT;
-- An empty headers array is a length mismatch too (as in pgmq); NULL means none.
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"e": 1}', '{"e": 2}']::jsonb[], ARRAY[]::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"n": 1}']::jsonb[], NULL::jsonb[]);
-- NULL elements are stored as NULL messages
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"first": 1}', NULL, '{"third": 3}']::jsonb[]);
SELECT msg_id, message, headers FROM pgmq.q_s_q
WHERE msg_id > 1028 ORDER BY msg_id;

--
-- _send_batch(queue_name, msgs, headers, delay timestamptz)
--
BEGIN;
SELECT * FROM pgmq._send_batch('s_q', ARRAY['{"i": 1}', '{"i": 2}']::jsonb[],
                               ARRAY['{"ih": 1}', '{"ih": 2}']::jsonb[], now());
SELECT * FROM pgmq._send_batch('s_q', ARRAY['{"i": 3}']::jsonb[], NULL, '2100-01-01 00:00:00+00');
SELECT msg_id, message, headers, vt = now() AS vt_now, vt = '2100-01-01 00:00:00+00' AS vt_2100
FROM pgmq.q_s_q WHERE message ? 'i' ORDER BY msg_id;
COMMIT;

--
-- _validate_batch_params(msgs, headers)
--
SELECT pgmq._validate_batch_params(ARRAY['{}', '{}']::jsonb[], NULL);
SELECT pgmq._validate_batch_params(ARRAY['{}', '{}']::jsonb[], ARRAY['{}', '{}']::jsonb[]);
SELECT pgmq._validate_batch_params(ARRAY['{}']::jsonb[], ARRAY[]::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq._validate_batch_params(ARRAY['{}', '{}']::jsonb[], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq._validate_batch_params(ARRAY['{}']::jsonb[], ARRAY['{}', '{}', '{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq._validate_batch_params(ARRAY[]::jsonb[], NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq._validate_batch_params(NULL, NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- A failed batch inserts nothing and uses no msg_id (a batch that succeeded
-- in a transaction that rolls back does use its ids, as any sequence).
--
SELECT count(*) AS queued, (SELECT total_messages FROM pgmq.metrics('s_q')) AS total_messages
FROM pgmq.q_s_q;
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"x": 1}', '{"x": 2}', '{"x": 3}']::jsonb[],
                              ARRAY['{"only": "two"}', '{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"x": 1}', '{"x": 2}']::jsonb[],
                              ARRAY['{}', '{}', '{}']::jsonb[], 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq._send_batch('s_q', ARRAY['{"x": 1}']::jsonb[], ARRAY['{}', '{}']::jsonb[], now());
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send_batch('s_q', ARRAY[]::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send_batch('s_q', NULL::jsonb[], 5);
\echo :LAST_ERROR_SQLSTATE
-- a batch that fails halfway through a transaction takes its messages along
BEGIN;
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"y": 1}']::jsonb[]);
SELECT * FROM pgmq.send_batch('s_q', ARRAY['{"y": 2}']::jsonb[], ARRAY['{}', '{}']::jsonb[]);
ROLLBACK;
SELECT count(*) AS queued, (SELECT total_messages FROM pgmq.metrics('s_q')) AS total_messages,
       count(*) FILTER (WHERE message ? 'x' OR message ? 'y') AS failed_ones
FROM pgmq.q_s_q;

SELECT pgmq.drop_queue('s_q');
