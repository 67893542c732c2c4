--
-- bad_input: every bad argument gets a clear error with the right SQLSTATE
-- and changes nothing.
--
-- 22004  NULL where a value is required
-- 22023  a value that is not allowed (empty name, bad characters, qty < 1,
--        negative vt or delay, infinite timestamps, mismatched arrays)
-- 42P01  no such queue (the message names its table)
-- plus the input errors of the types themselves for untyped values.
--
\set SHOW_CONTEXT never

-- err(statement) is defined by install.sql.

-- A queue with some history: visible, leased, delayed and archived messages.
SELECT pgmq.create('bad_q');
SELECT * FROM pgmq.send_batch('bad_q', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[],
                              ARRAY['{"h": 1}', NULL, NULL, '{"h": 4}']::jsonb[]);
SELECT * FROM pgmq.send('bad_q', '{"n": 5}', 3600);
SELECT msg_id FROM pgmq.read('bad_q', 600, 1);
SELECT pgmq.archive('bad_q', 2::bigint);

-- Everything a failed call must leave alone, and a view comparing with it.
CREATE TEMP TABLE snap_q AS SELECT * FROM pgmq.q_bad_q;
CREATE TEMP TABLE snap_a AS SELECT * FROM pgmq.a_bad_q;
CREATE TEMP TABLE snap_meta AS SELECT * FROM pgmq.meta;
CREATE TEMP TABLE snap_rel AS SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace;
CREATE TEMP TABLE snap_total AS SELECT total_messages FROM pgmq.metrics('bad_q');
CREATE TEMP VIEW unchanged AS
SELECT NOT EXISTS ((SELECT * FROM pgmq.q_bad_q EXCEPT SELECT * FROM snap_q)
                   UNION ALL (SELECT * FROM snap_q EXCEPT SELECT * FROM pgmq.q_bad_q)) AS queue,
       NOT EXISTS ((SELECT * FROM pgmq.a_bad_q EXCEPT SELECT * FROM snap_a)
                   UNION ALL (SELECT * FROM snap_a EXCEPT SELECT * FROM pgmq.a_bad_q)) AS archive,
       NOT EXISTS ((SELECT * FROM pgmq.meta EXCEPT SELECT * FROM snap_meta)
                   UNION ALL (SELECT * FROM snap_meta EXCEPT SELECT * FROM pgmq.meta)) AS meta,
       NOT EXISTS ((SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace
                    EXCEPT SELECT relname FROM snap_rel)
                   UNION ALL (SELECT relname FROM snap_rel
                    EXCEPT SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace)) AS relations,
       (SELECT total_messages FROM pgmq.metrics('bad_q')) = (SELECT total_messages FROM snap_total) AS msg_ids;
SELECT * FROM unchanged;

-- Every function that takes a queue name, as format() strings: %1$s is
-- the queue name, already written as an SQL literal.
CREATE TEMP TABLE calls (fn text, stmt text);
INSERT INTO calls VALUES
    ('create', 'SELECT pgmq.create(%1$s)'),
    ('create_non_partitioned', 'SELECT pgmq.create_non_partitioned(%1$s)'),
    ('create_unlogged', 'SELECT pgmq.create_unlogged(%1$s)'),
    ('drop_queue', 'SELECT pgmq.drop_queue(%1$s)'),
    ('drop_queue(, partitioned)', 'SELECT pgmq.drop_queue(%1$s, false)'),
    ('purge_queue', 'SELECT pgmq.purge_queue(%1$s)'),
    ('validate_queue_name', 'SELECT pgmq.validate_queue_name(%1$s)'),
    ('format_table_name', 'SELECT pgmq.format_table_name(%1$s, ''q'')'),
    ('send(msg)', 'SELECT pgmq.send(%1$s, ''{}''::jsonb)'),
    ('send(msg, int)', 'SELECT pgmq.send(%1$s, ''{}''::jsonb, 1)'),
    ('send(msg, tstz)', 'SELECT pgmq.send(%1$s, ''{}''::jsonb, now())'),
    ('send(msg, headers)', 'SELECT pgmq.send(%1$s, ''{}''::jsonb, ''{}''::jsonb)'),
    ('send(msg, headers, int)', 'SELECT pgmq.send(%1$s, ''{}''::jsonb, ''{}''::jsonb, 1)'),
    ('send(msg, headers, tstz)', 'SELECT pgmq.send(%1$s, ''{}''::jsonb, ''{}''::jsonb, now())'),
    ('send($1, $2, $3)', 'SELECT pgmq.send(%1$s, ''{}'', ''1'')'),
    ('send($1, $2, $3, $4)', 'SELECT pgmq.send(%1$s, ''{}'', ''{}'', ''1'')'),
    ('send_batch(msgs)', 'SELECT pgmq.send_batch(%1$s, ARRAY[''{}'']::jsonb[])'),
    ('send_batch(msgs, int)', 'SELECT pgmq.send_batch(%1$s, ARRAY[''{}'']::jsonb[], 1)'),
    ('send_batch(msgs, tstz)', 'SELECT pgmq.send_batch(%1$s, ARRAY[''{}'']::jsonb[], now())'),
    ('send_batch(msgs, headers)', 'SELECT pgmq.send_batch(%1$s, ARRAY[''{}'']::jsonb[], ARRAY[''{}'']::jsonb[])'),
    ('send_batch(msgs, headers, int)', 'SELECT pgmq.send_batch(%1$s, ARRAY[''{}'']::jsonb[], ARRAY[''{}'']::jsonb[], 1)'),
    ('send_batch(msgs, headers, tstz)', 'SELECT pgmq.send_batch(%1$s, ARRAY[''{}'']::jsonb[], ARRAY[''{}'']::jsonb[], now())'),
    ('send_batch($1, $2, $3)', 'SELECT pgmq.send_batch(%1$s, ''{"{}"}'', ''1'')'),
    ('send_batch($1, $2, $3, $4)', 'SELECT pgmq.send_batch(%1$s, ''{"{}"}'', ''{"{}"}'', ''1'')'),
    ('_send_batch', 'SELECT pgmq._send_batch(%1$s, ARRAY[''{}'']::jsonb[], NULL, now())'),
    ('read', 'SELECT pgmq.read(%1$s, 30, 1)'),
    ('read(conditional)', 'SELECT pgmq.read(%1$s, 30, 1, ''{"a": 1}'')'),
    ('read_with_poll', 'SELECT pgmq.read_with_poll(%1$s, 30, 1, 1, 10)'),
    ('pop', 'SELECT pgmq.pop(%1$s)'),
    ('delete(id)', 'SELECT pgmq.delete(%1$s, 1::bigint)'),
    ('delete(ids)', 'SELECT pgmq.delete(%1$s, ARRAY[1]::bigint[])'),
    ('delete($1, $2)', 'SELECT pgmq.delete(%1$s, ''1'')'),
    ('archive(id)', 'SELECT pgmq.archive(%1$s, 1::bigint)'),
    ('archive(ids)', 'SELECT pgmq.archive(%1$s, ARRAY[1]::bigint[])'),
    ('archive($1, $2)', 'SELECT pgmq.archive(%1$s, ''{1}'')'),
    ('set_vt(id, int)', 'SELECT pgmq.set_vt(%1$s, 1, 30)'),
    ('set_vt(id, tstz)', 'SELECT pgmq.set_vt(%1$s, 1, now())'),
    ('set_vt(ids, int)', 'SELECT pgmq.set_vt(%1$s, ARRAY[1]::bigint[], 30)'),
    ('set_vt(ids, tstz)', 'SELECT pgmq.set_vt(%1$s, ARRAY[1]::bigint[], now())'),
    ('set_vt($1, $2, $3)', 'SELECT pgmq.set_vt(%1$s, ''1'', ''30'')'),
    ('metrics', 'SELECT pgmq.metrics(%1$s)');

--
-- NULL and empty queue names, for every function
--
SELECT c.fn, public.err(format(c.stmt, 'NULL')) AS null_name,
       public.err(format(c.stmt, '''''')) AS empty_name
FROM calls c;
SELECT * FROM unchanged;

--
-- $ ; -- and ' are refused everywhere with pgmq's message.
--
SELECT n AS name, count(*) AS functions, array_agg(DISTINCT public.err(format(c.stmt, quote_literal(n)))) AS errors
FROM unnest(ARRAY['bad_q$', 'bad_q;', 'bad_q; DROP TABLE pgmq.meta', 'bad--q', 'bad_q''', 'x''); DROP TABLE pgmq.meta; --']) AS n,
     calls c
GROUP BY n ORDER BY n COLLATE "C";
SELECT * FROM unchanged;

--
-- Queues that do not exist: 42P01 naming the queue table (drop_queue gives
-- a NOTICE and false; the create functions and the name helpers are left
-- out here, they would succeed).
--
SELECT c.fn, public.err(format(c.stmt, quote_literal('no_such_q'))) AS result
FROM calls c
WHERE c.fn NOT LIKE 'create%' AND c.fn NOT LIKE 'drop_queue%'
  AND c.fn NOT IN ('validate_queue_name', 'format_table_name');
SELECT pgmq.drop_queue('no_such_q');
SELECT * FROM unchanged;
-- Names that are fine for a queue but name none: spaces, double quotes,
-- unicode, another case of an existing name's letters plus a character.
SELECT n AS name, count(*) AS functions, array_agg(DISTINCT public.err(format(c.stmt, quote_literal(n)))) AS errors
FROM unnest(ARRAY['bad q', 'bad"q', 'Bad_Q_2', 'bäd_q', '队列']) AS n, calls c
WHERE c.fn NOT LIKE 'create%' AND c.fn NOT LIKE 'drop_queue%'
  AND c.fn NOT IN ('validate_queue_name', 'format_table_name')
GROUP BY n ORDER BY n COLLATE "C";
SELECT * FROM unchanged;

--
-- Too long: create refuses 48 characters (or 48 bytes); elsewhere such a
-- name simply names no queue.
--
SELECT length(n) AS characters, octet_length(n) AS bytes,
       public.err(format('SELECT pgmq.create(%L)', n)) AS "create",
       public.err(format('SELECT pgmq.create_unlogged(%L)', n)) AS create_unlogged,
       public.err(format('SELECT pgmq.validate_queue_name(%L)', n)) AS validate_queue_name
FROM unnest(ARRAY[repeat('b', 48), repeat('b', 63), repeat('b', 64), repeat('b', 1000),
                  repeat('ä', 24), repeat('ä', 47)]) AS n;
SELECT n AS name_length, count(*) AS functions, array_agg(DISTINCT public.err(format(c.stmt, quote_literal(repeat('b', n))))) AS errors
FROM unnest(ARRAY[48, 63, 64]) AS n, calls c
WHERE c.fn NOT LIKE 'create%' AND c.fn NOT LIKE 'drop_queue%'
  AND c.fn NOT IN ('validate_queue_name', 'format_table_name')
GROUP BY n ORDER BY n;
SELECT count(*) AS functions, array_agg(DISTINCT left(public.err(format(c.stmt, quote_literal(repeat('b', 1000)))), 60)) AS errors
FROM calls c
WHERE c.fn NOT LIKE 'create%' AND c.fn NOT LIKE 'drop_queue%'
  AND c.fn NOT IN ('validate_queue_name', 'format_table_name');
SELECT pgmq.drop_queue(repeat('b', 48));
SELECT pgmq.drop_queue(repeat('b', 64), true);
SELECT * FROM unchanged;

--
-- Message arrays: NULL or empty msgs, more than one dimension, headers
-- arrays of another length.
--
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.send_batch('bad_q', NULL::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL::jsonb[], 1)$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL::jsonb[], now())$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL::jsonb[], ARRAY['{}']::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL::jsonb[], NULL::jsonb[], 1)$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL::jsonb[], NULL::jsonb[], now())$$),
    ($$SELECT pgmq._send_batch('bad_q', NULL, NULL, now())$$),
    ($$SELECT pgmq._validate_batch_params(NULL, NULL)$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL, '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', NULL, NULL, '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY[]::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', '{}'::jsonb[], 1)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY[]::jsonb[], now())$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY[]::jsonb[], ARRAY[]::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY[]::jsonb[], ARRAY['{}']::jsonb[], 1)$$),
    ($$SELECT pgmq._send_batch('bad_q', ARRAY[]::jsonb[], NULL, now())$$),
    ($$SELECT pgmq._validate_batch_params(ARRAY[]::jsonb[], NULL)$$),
    ($$SELECT pgmq.send_batch('bad_q', '{}', '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{}', '{}', '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY[['{}', '{}'], ['{}', '{}']]::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', '{{"{}"}, {"{}"}}', '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}', '{}']::jsonb[], ARRAY[['{}', '{}']]::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}', '{}']::jsonb[], ARRAY['{}']::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], ARRAY['{}', '{}']::jsonb[], 1)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], ARRAY['{}', '{}']::jsonb[], now())$$),
    ($$SELECT pgmq._send_batch('bad_q', ARRAY['{}', '{}', '{}']::jsonb[], ARRAY['{}']::jsonb[], now())$$),
    ($$SELECT pgmq._validate_batch_params(ARRAY['{}', '{}']::jsonb[], ARRAY['{}', '{}', '{}']::jsonb[])$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}", "{}"}', '{"{}"}')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '{"{}", "{}"}', '1')$$)
) AS v(stmt);
SELECT * FROM unchanged;

--
-- qty: at least 1; vt and delays: not negative, not NULL, finite
--
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.read('bad_q', 30, 0)$$),
    ($$SELECT pgmq.read('bad_q', 30, -1)$$),
    ($$SELECT pgmq.read('bad_q', 30, NULL)$$),
    ($$SELECT pgmq.read('bad_q', 30, -2147483648)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, 0)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, -5, 1, 10)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, NULL)$$),
    ($$SELECT pgmq.pop('bad_q', 0)$$),
    ($$SELECT pgmq.pop('bad_q', -1)$$),
    ($$SELECT pgmq.pop('bad_q', NULL)$$),
    ($$SELECT pgmq.read('bad_q', -1, 1)$$),
    ($$SELECT pgmq.read('bad_q', -2147483648, 1)$$),
    ($$SELECT pgmq.read('bad_q', NULL, 1)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', -1, 1)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', NULL, 1)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, 1, -1)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, 1, NULL)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, 1, 1, -100)$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, 1, 1, NULL)$$),
    ($$SELECT pgmq.set_vt('bad_q', 1, -1)$$),
    ($$SELECT pgmq.set_vt('bad_q', ARRAY[1]::bigint[], -1)$$),
    ($$SELECT pgmq.set_vt('bad_q', 1, NULL::integer)$$),
    ($$SELECT pgmq.set_vt('bad_q', 1, NULL::timestamptz)$$),
    ($$SELECT pgmq.set_vt('bad_q', ARRAY[1]::bigint[], NULL::integer)$$),
    ($$SELECT pgmq.set_vt('bad_q', ARRAY[1]::bigint[], NULL::timestamptz)$$),
    ($$SELECT pgmq.set_vt('bad_q', 1, 'infinity'::timestamptz)$$),
    ($$SELECT pgmq.set_vt('bad_q', ARRAY[1]::bigint[], '-infinity'::timestamptz)$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', '-1')$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', NULL)$$),
    ($$SELECT pgmq.set_vt('bad_q', '{1}', 'infinity')$$),
    ($$SELECT pgmq.send('bad_q', '{}', -1)$$),
    ($$SELECT pgmq.send('bad_q', '{}', NULL::integer)$$),
    ($$SELECT pgmq.send('bad_q', '{}', NULL::timestamptz)$$),
    ($$SELECT pgmq.send('bad_q', '{}', 'infinity'::timestamptz)$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}'::jsonb, -1)$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}'::jsonb, NULL::integer)$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}'::jsonb, NULL::timestamptz)$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}'::jsonb, '-infinity'::timestamptz)$$),
    ($$SELECT pgmq.send('bad_q', '{}', '-1')$$),
    ($$SELECT pgmq.send('bad_q', '{}', 'infinity')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}', '-1')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}', NULL)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], -1)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], NULL::integer)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], NULL::timestamptz)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], 'infinity'::timestamptz)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], ARRAY['{}']::jsonb[], -1)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], ARRAY['{}']::jsonb[], NULL::integer)$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], NULL::jsonb[], 'infinity'::timestamptz)$$),
    ($$SELECT pgmq._send_batch('bad_q', ARRAY['{}']::jsonb[], NULL, NULL)$$),
    ($$SELECT pgmq._send_batch('bad_q', ARRAY['{}']::jsonb[], NULL, 'infinity')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '-1')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '{"{}"}', NULL)$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '{"{}"}', '-infinity')$$)
) AS v(stmt);
SELECT * FROM unchanged;

--
-- Numbers beyond integer, timestamps beyond the calendar
--
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.send('bad_q', '{}', 2147483648)$$),
    ($$SELECT pgmq.send('bad_q', '{}', 2147483648::integer)$$),
    ($$SELECT pgmq.send('bad_q', '{}', '2147483648')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '-2147483649')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '99999999999999999999')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}', '2147483648')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '2147483648')$$),
    ($$SELECT pgmq.send_batch('bad_q', ARRAY['{}']::jsonb[], 2147483648)$$),
    ($$SELECT pgmq.read('bad_q', '2147483648', 1)$$),
    ($$SELECT pgmq.read('bad_q', 30, '2147483648')$$),
    ($$SELECT pgmq.pop('bad_q', '2147483648')$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', '2147483648')$$),
    ($$SELECT pgmq.set_vt('bad_q', 1, 2147483648)$$),
    ($$SELECT pgmq.set_vt('bad_q', '9223372036854775808', '30')$$),
    ($$SELECT pgmq.delete('bad_q', '9223372036854775808')$$),
    ($$SELECT pgmq.archive('bad_q', '{1, 9223372036854775808}')$$),
    ($$SELECT pgmq.read_with_poll('bad_q', 30, 1, '2147483648')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '294277-01-01 00:00:00+00')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '294277-01-01 00:00:00+00'::timestamptz)$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', '10000000-01-01')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '{"{}"}', '4714-11-23 BC')$$)
) AS v(stmt);
SELECT * FROM unchanged;

--
-- Garbage where the untyped overloads expect an id, a number, a timestamp
-- or JSON: the type's own input error, or 22023 saying what the value could
-- have meant where the type's error would mislead (a fractional delay is
-- not a malformed timestamp; a JSON array is neither headers nor a delay).
--
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.delete('bad_q', 'abc')$$),
    ($$SELECT pgmq.delete('bad_q', '1.5')$$),
    ($$SELECT pgmq.delete('bad_q', '')$$),
    ($$SELECT pgmq.delete('bad_q', '{1, abc}')$$),
    ($$SELECT pgmq.delete('bad_q', '{1')$$),
    ($$SELECT pgmq.delete('bad_q', '{"a": 1}')$$),
    ($$SELECT pgmq.archive('bad_q', 'abc')$$),
    ($$SELECT pgmq.archive('bad_q', '{{1}, {2')$$),
    ($$SELECT pgmq.set_vt('bad_q', 'abc', '30')$$),
    ($$SELECT pgmq.set_vt('bad_q', '{1, x}', '30')$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', 'not a time')$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', '')$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', '5.5')$$),
    ($$SELECT pgmq.set_vt('bad_q', '1', '5 seconds')$$),
    ($$SELECT pgmq.send('bad_q', 'not json', '1')$$),
    ($$SELECT pgmq.send('bad_q', '{"a": }', '1')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{bad json')$$),
    ($$SELECT pgmq.send('bad_q', '{}', 'soon')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '1e3')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '1.5')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '[{"h": 1}]')$$),
    ($$SELECT pgmq.send('bad_q', '{}'::jsonb, '[1, 2]')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '[{"h": 1}]')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '-0.5')$$),
    ($$SELECT pgmq.send('bad_q', '{}', 'not json', '1')$$),
    ($$SELECT pgmq.send('bad_q', '{}', '{}', 'later')$$),
    ($$SELECT pgmq.send_batch('bad_q', 'not an array', '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{bad"}', '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '{"{bad"}')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', 'not an array', '1')$$),
    ($$SELECT pgmq.send_batch('bad_q', '{"{}"}', '{"{}"}', 'whenever')$$)
) AS v(stmt);
SELECT * FROM unchanged;

--
-- The same errors as a client sees them (with their details), outside any
-- subtransaction, and inside a transaction block that then rolls back.
--
SELECT * FROM pgmq.read('bad_q', 30, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.set_vt('bad_q', 1, -30);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send('bad_q', '{}', '{}'::jsonb, -5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send_batch('bad_q', ARRAY['{"x": 1}', '{"x": 2}']::jsonb[], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send('bad_q', '{}', '1.5');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send('bad_q', '{}', '["a", "b"]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send_batch('bad_q', '{"{}"}', '[{"h": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.send(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.pop('no_such_q');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgmq.delete('bad_q', 'abc');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.create(repeat('b', 48));
\echo :LAST_ERROR_SQLSTATE
-- detach_archive does nothing, but like pgmq's it refuses a bad name
SELECT pgmq.detach_archive('bad$q');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT msg_id, read_ct FROM pgmq.read('bad_q', 30, 1);
SELECT msg_id FROM pgmq.read('bad_q', 30, -1);
SELECT msg_id FROM pgmq.read('bad_q', 30, 1);
ROLLBACK;
SELECT * FROM unchanged;

-- An argument a megabyte long is not echoed whole: an error quotes at most
-- 64 bytes of it, cut on a character boundary, and "...".
SELECT public.err($$SELECT pgmq.read(repeat('q', 1000000), 30, 1)$$);
SELECT public.err($$SELECT pgmq.metrics(repeat('é', 500000))$$);
SELECT public.err($$SELECT pgmq.set_vt('bad_q', '{1}', repeat('x', 1000000))$$);
SELECT public.err($$SELECT pgmq.set_queue_policy('bad_q', max_receives => 1, dead_letter_queue => repeat('d', 1000000))$$);
SELECT public.err($$SELECT pgmq.create_partitioned('bad_p', repeat('9', 1000000), '10')$$);
SELECT * FROM unchanged;

-- After all that, the queue works as before.
SELECT msg_id, read_ct, message, headers FROM pgmq.read('bad_q', 30, 10);
SELECT msg_id, message FROM pgmq.a_bad_q;
SELECT queue_length, total_messages FROM pgmq.metrics('bad_q');

DROP VIEW unchanged;
SELECT pgmq.drop_queue('bad_q');
SELECT * FROM pgmq.list_queues();
