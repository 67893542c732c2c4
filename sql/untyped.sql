--
-- untyped: calls whose parameters arrive with type unknown, as many client
-- libraries send them.  pgmq's overloads leave such calls ambiguous; the
-- text overloads catch them and take the meaning from the value (integer:
-- seconds; '{...}': headers or an id array; anything else: a timestamp).
-- Typed calls still reach the original overloads.
--
-- Which function ran is read from pg_stat_xact_user_functions, with
-- track_functions = 'all' for the transaction; pending counts of earlier
-- transactions are flushed first (pg_stat_force_next_flush), so that the
-- view shows this transaction's calls only.
--
\set SHOW_CONTEXT never

CREATE TEMP VIEW called AS
SELECT funcid::regprocedure AS function, calls
FROM pg_stat_xact_user_functions
ORDER BY funcid::regprocedure::text COLLATE "C";

SELECT pgmq.create('uq');

-- One prepared statement per overloaded name and arity, parameters untyped.
PREPARE send3(unknown, unknown, unknown) AS SELECT * FROM pgmq.send($1, $2, $3);
PREPARE send4(unknown, unknown, unknown, unknown) AS SELECT * FROM pgmq.send($1, $2, $3, $4);
PREPARE batch3(unknown, unknown, unknown) AS SELECT * FROM pgmq.send_batch($1, $2, $3);
PREPARE batch4(unknown, unknown, unknown, unknown) AS SELECT * FROM pgmq.send_batch($1, $2, $3, $4);
PREPARE del(unknown, unknown) AS SELECT * FROM pgmq.delete($1, $2) AS deleted ORDER BY 1;
PREPARE arch(unknown, unknown) AS SELECT * FROM pgmq.archive($1, $2) AS archived ORDER BY 1;
PREPARE setvt(unknown, unknown, unknown) AS
    SELECT msg_id, read_ct, message,
           CASE WHEN vt = '2100-01-01 00:00:00+00' THEN '2100'
                WHEN vt = '2000-01-01 00:00:00+00' THEN '2000'
                WHEN vt BETWEEN now() + interval '30 seconds' AND clock_timestamp() + interval '30 seconds' THEN 'now + 30s'
                WHEN vt BETWEEN now() AND clock_timestamp() THEN 'now'
                ELSE 'unexpected' END AS vt
    FROM pgmq.set_vt($1, $2, $3);
-- and the names that are not overloaded, for comparison
PREPARE send2(unknown, unknown) AS SELECT * FROM pgmq.send($1, $2);
PREPARE batch2(unknown, unknown) AS SELECT * FROM pgmq.send_batch($1, $2);
PREPARE rd(unknown, unknown, unknown) AS SELECT msg_id FROM pgmq.read($1, $2, $3);
PREPARE dropq(unknown, unknown) AS SELECT pgmq.drop_queue($1, $2);
SELECT name, parameter_types FROM pg_prepared_statements ORDER BY name COLLATE "C";

-- How each message's vt relates to the transaction that sent it.
CREATE TEMP VIEW uq AS
SELECT msg_id, message, headers,
       CASE WHEN vt = '2100-01-01 00:00:00+00' THEN '2100'
            WHEN vt BETWEEN now() AND clock_timestamp() THEN 'now'
            WHEN vt BETWEEN now() + interval '5 seconds' AND clock_timestamp() + interval '5 seconds' THEN 'now + 5s'
            WHEN vt BETWEEN now() + interval '30 seconds' AND clock_timestamp() + interval '30 seconds' THEN 'now + 30s'
            ELSE 'other' END AS vt
FROM pgmq.q_uq;

--
-- send($1, $2, $3): headers, seconds or a timestamp
--
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE send3('uq', '{"m": "headers"}', '{"h": 1}');
EXECUTE send3('uq', '{"m": "seconds"}', '30');
EXECUTE send3('uq', '{"m": "zero seconds"}', '0');
EXECUTE send3('uq', '{"m": "timestamp"}', '2100-01-01 00:00:00+00');
EXECUTE send3('uq', '{"m": "neither"}', NULL);
-- untyped literals in SQL text resolve the same way
SELECT * FROM pgmq.send('uq', '{"m": "literal headers"}', '{"h": 2}');
SELECT * FROM pgmq.send('uq', '{"m": "literal seconds"}', ' 5 ');
SELECT * FROM pgmq.send(queue_name => 'uq', msg => '{"m": "named delay"}', delay => '5');
SELECT * FROM uq ORDER BY msg_id;
SELECT * FROM called;
COMMIT;

--
-- send($1, $2, $3, $4): headers, then seconds or a timestamp
--
SELECT pgmq.purge_queue('uq');
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE send4('uq', '{"m": "headers+seconds"}', '{"h": 3}', '30');
EXECUTE send4('uq', '{"m": "headers+timestamp"}', '{"h": 4}', '2100-01-01 00:00:00+00');
EXECUTE send4('uq', '{"m": "no headers"}', NULL, '5');
SELECT * FROM pgmq.send('uq', '{"m": "literal"}', '{"h": 5}', '0');
SELECT * FROM uq ORDER BY msg_id;
SELECT * FROM called;
COMMIT;

--
-- send_batch($1, $2, $3): a headers array, seconds or a timestamp
--
SELECT pgmq.purge_queue('uq');
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE batch3('uq', '{"{\"b\": 1}", "{\"b\": 2}"}', '{"{\"bh\": 1}", "{\"bh\": 2}"}');
EXECUTE batch3('uq', '{"{\"b\": 3}"}', '30');
EXECUTE batch3('uq', '{"{\"b\": 4}", "{\"b\": 5}"}', '2100-01-01 00:00:00+00');
EXECUTE batch3('uq', '{"{\"b\": 6}"}', NULL);
EXECUTE batch3('uq', '{"{\"b\": 7}"}', '{"{\"bh\": 7}"}');
SELECT * FROM pgmq.send_batch(queue_name => 'uq', msgs => '{"{\"b\": 8}"}', delay => '5');
SELECT * FROM uq ORDER BY msg_id;
SELECT * FROM called;
COMMIT;

--
-- send_batch($1, $2, $3, $4): headers array, then seconds or a timestamp
--
SELECT pgmq.purge_queue('uq');
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE batch4('uq', '{"{\"b\": 9}", "{\"b\": 10}"}', '{"{\"bh\": 9}", "{\"bh\": 10}"}', '5');
EXECUTE batch4('uq', '{"{\"b\": 11}"}', '{"{\"bh\": 11}"}', '2100-01-01 00:00:00+00');
EXECUTE batch4('uq', '{"{\"b\": 12}"}', NULL, '0');
SELECT * FROM uq ORDER BY msg_id;
SELECT * FROM called;
COMMIT;

--
-- delete($1, $2) and archive($1, $2): for one id exactly one row (the id,
-- or NULL when there was no such message); for an array, the ids that
-- existed.
--
SELECT pgmq.purge_queue('uq');
SELECT * FROM pgmq.send_batch('uq', (SELECT array_agg(jsonb_build_object('n', i) ORDER BY i)
                                     FROM generate_series(1, 10) AS i));
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE del('uq', '25');
EXECUTE del('uq', '25');
EXECUTE del('uq', '{26, 27, 999}');
EXECUTE del('uq', '{26}');
EXECUTE del('uq', '{}');
EXECUTE del('uq', NULL);
EXECUTE arch('uq', '28');
EXECUTE arch('uq', '28');
EXECUTE arch('uq', '{29, 30, 999}');
EXECUTE arch('uq', '{}');
EXECUTE arch('uq', NULL);
SELECT * FROM pgmq.delete('uq', '31');
SELECT * FROM pgmq.archive('uq', '{32}');
SELECT * FROM called;
COMMIT;
SELECT msg_id FROM pgmq.q_uq ORDER BY msg_id;
SELECT msg_id, message FROM pgmq.a_uq ORDER BY msg_id;

--
-- set_vt($1, $2, $3): an id or an id array; seconds or a timestamp
--
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE setvt('uq', '33', '30');
EXECUTE setvt('uq', '33', '2100-01-01 00:00:00+00');
EXECUTE setvt('uq', '{33, 34, 999}', '0');
EXECUTE setvt('uq', '{33, 34}', '2000-01-01 00:00:00+00');
EXECUTE setvt('uq', '999', '30');
EXECUTE setvt('uq', '{}', '30');
EXECUTE setvt('uq', NULL, '30');
SELECT msg_id FROM pgmq.set_vt('uq', '34', '0');
SELECT msg_id FROM pgmq.set_vt(queue_name => 'uq', msg_id => '34', vt => '0');
SELECT * FROM called;
COMMIT;

--
-- The other names take untyped parameters as they always did.
--
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE send2('uq', '{"m": "two args"}');
EXECUTE batch2('uq', '{"{\"m\": \"batch of one\"}"}');
EXECUTE rd('uq', '30', '2');
SELECT * FROM called;
COMMIT;

--
-- Typed calls reach the original overloads and keep their result types.
--
SELECT pgmq.purge_queue('uq');
SELECT * FROM pgmq.send_batch('uq', (SELECT array_agg(jsonb_build_object('n', i) ORDER BY i)
                                     FROM generate_series(1, 10) AS i));
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
SELECT * FROM pgmq.send('uq', '{"t": 1}');
SELECT * FROM pgmq.send('uq', '{"t": 2}', 5);
SELECT * FROM pgmq.send('uq', '{"t": 3}', '2100-01-01 00:00:00+00'::timestamptz);
SELECT * FROM pgmq.send('uq', '{"t": 4}', '{"h": 4}'::jsonb);
SELECT * FROM pgmq.send('uq', '{"t": 5}', '{"h": 5}'::jsonb, 5);
SELECT * FROM pgmq.send('uq', '{"t": 6}', '{"h": 6}'::jsonb, now());
SELECT * FROM pgmq.send_batch('uq', ARRAY['{"t": 7}']::jsonb[]);
SELECT * FROM pgmq.send_batch('uq', ARRAY['{"t": 8}']::jsonb[], 5);
SELECT * FROM pgmq.send_batch('uq', ARRAY['{"t": 9}']::jsonb[], now());
SELECT * FROM pgmq.send_batch('uq', ARRAY['{"t": 10}']::jsonb[], ARRAY['{"h": 10}']::jsonb[]);
SELECT * FROM pgmq.send_batch('uq', ARRAY['{"t": 11}']::jsonb[], ARRAY['{"h": 11}']::jsonb[], 5);
SELECT * FROM pgmq.send_batch('uq', ARRAY['{"t": 12}']::jsonb[], ARRAY['{"h": 12}']::jsonb[], now());
SELECT pgmq.delete('uq', 37) AS delete_int, pgmq.delete('uq', 38::bigint) AS delete_bigint,
       pgmq.delete('uq', 999::bigint) AS delete_missing;
SELECT pg_typeof(pgmq.delete('uq', 39::bigint)), pg_typeof(pgmq.archive('uq', 40::bigint));
SELECT pgmq.archive('uq', 41) AS archive_int, pgmq.archive('uq', 999) AS archive_missing;
SELECT * FROM pgmq.delete('uq', ARRAY[42, 999]);
SELECT * FROM pgmq.archive('uq', ARRAY[43, 999]::bigint[]);
SELECT msg_id FROM pgmq.set_vt('uq', 44, 30);
SELECT msg_id FROM pgmq.set_vt('uq', 44, now());
SELECT msg_id FROM pgmq.set_vt('uq', ARRAY[44, 999], 30);
SELECT msg_id FROM pgmq.set_vt('uq', ARRAY[44, 999]::bigint[], now());
-- named arguments that only one original overload has
SELECT pgmq.delete(queue_name => 'uq', msg_id => '45');
SELECT * FROM pgmq.send(queue_name => 'uq', msg => '{"t": 13}', headers => '{"h": 13}');
SELECT * FROM called;
COMMIT;
SELECT msg_id, message, headers FROM pgmq.q_uq WHERE message ? 't' ORDER BY msg_id;

--
-- Partly typed: the message (or id) typed, the rest untyped, as in
-- 'pgmq.send($1, $2::jsonb, $3)'.  Ambiguous in pgmq; the overloads taking
-- jsonb (jsonb[], bigint, bigint[]) and text catch them.
--
SELECT pgmq.purge_queue('uq');
PREPARE psend3(unknown, jsonb, unknown) AS SELECT * FROM pgmq.send($1, $2, $3);
PREPARE psend4(unknown, jsonb, unknown, unknown) AS SELECT * FROM pgmq.send($1, $2, $3, $4);
PREPARE pbatch3(unknown, jsonb[], unknown) AS SELECT * FROM pgmq.send_batch($1, $2, $3);
PREPARE pbatch4(unknown, jsonb[], jsonb[], unknown) AS SELECT * FROM pgmq.send_batch($1, $2, $3, $4);
PREPARE psetvt(unknown, bigint, unknown) AS SELECT msg_id FROM pgmq.set_vt($1, $2, $3);
PREPARE psetvts(unknown, bigint[], unknown) AS SELECT msg_id FROM pgmq.set_vt($1, $2, $3);
SELECT name, parameter_types FROM pg_prepared_statements
WHERE name LIKE 'p%' AND name <> 'pbatch' ORDER BY name COLLATE "C";
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE psend3('uq', '{"p": "headers"}', '{"h": 1}');
EXECUTE psend3('uq', '{"p": "seconds"}', '30');
EXECUTE psend3('uq', '{"p": "timestamp"}', '2100-01-01 00:00:00+00');
EXECUTE psend3('uq', '{"p": "neither"}', NULL);
EXECUTE psend4('uq', '{"p": "headers+seconds"}', '{"h": 2}', '5');
EXECUTE pbatch3('uq', ARRAY['{"p": "batch headers"}']::jsonb[], '{"{\"h\": 3}"}');
EXECUTE pbatch3('uq', ARRAY['{"p": "batch seconds"}']::jsonb[], '30');
EXECUTE pbatch4('uq', ARRAY['{"p": "batch timestamp"}']::jsonb[], ARRAY['{"h": 4}']::jsonb[],
                '2100-01-01 00:00:00+00');
SELECT * FROM pgmq.send('uq', '{"p": "literal"}'::jsonb, '5');
SELECT * FROM uq ORDER BY msg_id;
SELECT * FROM called;
COMMIT;
SELECT msg_id, message->>'p' AS p FROM pgmq.q_uq WHERE message->>'p' = 'seconds' \gset
EXECUTE psetvt('uq', :msg_id, '0');
EXECUTE psetvts('uq', ARRAY[:msg_id], '2100-01-01 00:00:00+00');
SELECT message->>'p' AS p, vt = '2100-01-01 00:00:00+00' AS vt_2100
FROM pgmq.q_uq WHERE msg_id = :msg_id;
-- An untyped id (or id array) with a typed vt.
PREPARE pids(unknown, unknown, integer) AS SELECT msg_id FROM pgmq.set_vt($1, $2, $3);
PREPARE pidsat(unknown, unknown, timestamptz) AS SELECT msg_id FROM pgmq.set_vt($1, $2, $3);
EXECUTE pids('uq', :msg_id, 0);
EXECUTE pidsat('uq', ARRAY[:msg_id, 999]::text, '2000-01-01 00:00:00+00');
SELECT message->>'p' AS p, vt = '2000-01-01 00:00:00+00' AS vt_2000
FROM pgmq.q_uq WHERE msg_id = :msg_id;
EXECUTE pids('uq', :msg_id, -1);
\echo :LAST_ERROR_SQLSTATE
EXECUTE psend4('uq', '{}', '{}', NULL);
\echo :LAST_ERROR_SQLSTATE
EXECUTE psetvt('uq', 1, 'soon');
\echo :LAST_ERROR_SQLSTATE

DROP VIEW uq;
EXECUTE dropq('uq', 'false');
DEALLOCATE ALL;
SELECT * FROM pgmq.list_queues();
