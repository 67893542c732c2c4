--
-- topics: RabbitMQ-style routing as pgmq has it (pgmq.topic_bindings,
-- bind_topic, send_topic, ...), with pgmq's checks, messages and quirks.
-- Errors are shown as "SQLSTATE: message" by err() (install.sql):
--
-- 22004  NULL where a value is required
-- 22023  a routing key, pattern, queue name, msgs array or delay not allowed
-- 42P01  bind_topic to a queue that does not exist
--
-- The matcher is C; the last part of "Matching" proves it equivalent to
-- pgmq's regex (routing_key ~ compiled_regex) over keys x patterns.
--
\set SHOW_CONTEXT never

SELECT pgmq.create('t_logs');
SELECT pgmq.create('t_errors');
SELECT pgmq.create('t_all');
SELECT pgmq.create('T_Mixed');

-- The table is extension configuration (pg_dump dumps its rows) and
-- readable by pg_monitor, like the other catalog tables.
SELECT 'pgmq.topic_bindings'::regclass::oid = ANY (extconfig) AS config_dumped
FROM pg_extension WHERE extname = 'pgmq_c';
SELECT has_table_privilege('pg_monitor', 'pgmq.topic_bindings', 'SELECT') AS pg_monitor_reads;

--
-- Validation: validate_routing_key and validate_topic_pattern return true
-- or raise (never false), checking in pgmq's order: NULL or empty, length
-- (characters), characters, leading dot, trailing dot, "..", then for
-- patterns "**", "##", "*#"/"#*".
--
-- (long values shown by their length)
CREATE FUNCTION pg_temp.shown(s text) RETURNS text LANGUAGE sql
AS $$ SELECT CASE WHEN length(s) > 20 THEN left(s, 3) || '... (' || length(s) || ' chars)' ELSE s END $$;
SELECT pg_temp.shown(k) AS k, pgmq.validate_routing_key(k)
FROM (VALUES ('logs'), ('logs.error'), ('app.user-service.auth'),
             ('system_events.db.connection_failed'), ('A.b-C_9'), (repeat('x', 255))) AS v(k);
SELECT pg_temp.shown(k) AS k, err(format('SELECT pgmq.validate_routing_key(%L)', k))
FROM (VALUES (NULL), (''), (repeat('x', 256)), (repeat('é', 256)), ('logs error'),
             ('logs.*'), ('logs.#'), ('logs.error!'), ('logé'), (E'logs\n'),
             ('.logs'), ('logs.'), ('logs..error'), ('.'), ('..'), ('.a..b.')) AS v(k);

SELECT pg_temp.shown(p) AS p, pgmq.validate_topic_pattern(p)
FROM (VALUES ('logs.*'), ('logs.#'), ('*.error'), ('#.error'), ('app.*.#'), ('#'), ('*'),
             ('ab*'), ('a#'), ('*b.#c'), ('*.*'), ('#.#'), ('x-y_z.9'), (repeat('*.', 127) || '#')) AS v(p);
SELECT pg_temp.shown(p) AS p, err(format('SELECT pgmq.validate_topic_pattern(%L)', p))
FROM (VALUES (NULL), (''), (repeat('*', 256)), ('logs error'), ('logs.error!'), ('logs.+'),
             ('.logs.*'), ('logs.*.'), ('logs..error'), ('logs.**'), ('logs.##'),
             ('logs.*#'), ('logs.#*'), ('**.a.'), ('.**')) AS v(p);

--
-- bind_topic: a valid pattern and an existing queue, by its name exactly as
-- created; binding twice is harmless.  Nothing is bound after an error.
--
SELECT pgmq.bind_topic('logs.*', 't_logs');
SELECT pgmq.bind_topic('logs.*', 't_logs');
SELECT pgmq.bind_topic('*.error', 't_errors');
SELECT pgmq.bind_topic('logs.#', 't_errors');
SELECT pgmq.bind_topic('#', 't_all');
SELECT pgmq.bind_topic('Orders.*', 'T_Mixed');
SELECT stmt, err(stmt) FROM (VALUES
    ('SELECT pgmq.bind_topic(NULL, ''t_logs'')'),
    ('SELECT pgmq.bind_topic('''', ''t_logs'')'),
    ('SELECT pgmq.bind_topic(''logs..x'', ''t_logs'')'),
    ('SELECT pgmq.bind_topic(''logs.x'', NULL)'),
    ('SELECT pgmq.bind_topic(''logs.x'', '''')'),
    ('SELECT pgmq.bind_topic(''logs.x'', ''nosuchqueue'')'),
    ('SELECT pgmq.bind_topic(''logs.x'', ''t_mixed'')'),
    ('SELECT pgmq.bind_topic(''bad pattern'', NULL)')) AS v(stmt);
-- pgmq's order of ORDER BY: newest first, then pattern, queue
SELECT pattern, queue_name, compiled_regex FROM pgmq.list_topic_bindings();
SELECT pattern, queue_name, compiled_regex FROM pgmq.list_topic_bindings('t_errors');
SELECT count(*) FROM pgmq.list_topic_bindings('nosuchqueue');
SELECT count(*) AS rows, count(DISTINCT (pattern, queue_name)) AS distinct_bindings
FROM pgmq.topic_bindings;

--
-- unbind_topic: true when the binding was there, false otherwise (the
-- pattern is not validated, the queue need not exist); NULL or empty
-- arguments are errors.
--
SELECT pgmq.bind_topic('tmp.*', 't_logs');
SELECT pgmq.unbind_topic('tmp.*', 't_logs') AS was_there,
       pgmq.unbind_topic('tmp.*', 't_logs') AS again,
       pgmq.unbind_topic('logs..x', 't_logs') AS invalid_pattern,
       pgmq.unbind_topic('logs.*', 'nosuchqueue') AS no_queue;
SELECT stmt, err(stmt) FROM (VALUES
    ('SELECT pgmq.unbind_topic(NULL, ''t_logs'')'),
    ('SELECT pgmq.unbind_topic('''', ''t_logs'')'),
    ('SELECT pgmq.unbind_topic(''logs.*'', NULL)'),
    ('SELECT pgmq.unbind_topic(''logs.*'', '''')')) AS v(stmt);

--
-- test_routing: the matching bindings by pattern (then queue), the key
-- validated first.
--
SELECT * FROM pgmq.test_routing('logs.error');
SELECT * FROM pgmq.test_routing('logs.api.error');
SELECT * FROM pgmq.test_routing('Orders.new');
SELECT * FROM pgmq.test_routing('orders.new');
SELECT err('SELECT pgmq.test_routing(''logs.*'')'), err('SELECT pgmq.test_routing(NULL)');

--
-- Matching.  pgmq's quirks, each kept:
--  1. '#' is '.*', any characters or none, not "zero or more segments":
--     'logs.#' needs the dot, so it does not match 'logs'; '#.error' does
--     not match 'error'; 'a.#.b' does not match 'a.b'.
--  2. '#' also matches inside a segment: 'a#' matches 'ab' and 'ab.c'.
--  3. '*' is '[^.]+', one or more characters other than a dot, also inside
--     a segment: 'ab*' matches 'abc' but not 'ab'; '*b' matches 'ab'.
--  4. Matching is case-sensitive.
--
SELECT pgmq.create('t_quirk');
SELECT pgmq.bind_topic(p, 't_quirk')
FROM (VALUES ('q.#'), ('#.end'), ('a.#.b'), ('a#'), ('ab*'), ('*b'), ('Case.*')) AS v(p);
SELECT k, (SELECT string_agg(pattern, ' ' ORDER BY pattern) FROM pgmq.test_routing(k)
           WHERE queue_name = 't_quirk') AS matches
FROM (VALUES ('q'), ('q.x'), ('q.x.y'), ('end'), ('x.end'), ('x.y.end'), ('a.b'), ('a.x.b'),
             ('ab'), ('ab.c'), ('abc'), ('b'), ('Case.x'), ('case.x')) AS v(k);
SELECT pgmq.drop_queue('t_quirk');

-- Equivalence with pgmq's regex: patterns made of every combination of up
-- to three segments from a set of literals and wildcards, plus patterns
-- that only direct DML can store (bind_topic refuses them), bound to one
-- queue; keys of up to three segments.  For every key the bindings
-- test_routing returns (the C matcher) are those whose compiled_regex
-- matches.
SELECT pgmq.create('t_eq');
CREATE TEMP TABLE seg (s text);
INSERT INTO seg VALUES ('a'), ('b'), ('ab'), ('*'), ('#'), ('a*'), ('*b'), ('#b'), ('a#');
INSERT INTO pgmq.topic_bindings (pattern, queue_name)
SELECT DISTINCT p, 't_eq' FROM (
    SELECT s1.s AS p FROM seg s1
    UNION SELECT s1.s || '.' || s2.s FROM seg s1, seg s2
    UNION SELECT s1.s || '.' || s2.s || '.' || s3.s FROM seg s1, seg s2, seg s3
    UNION VALUES (''), ('a..b'), ('.a'), ('a.'), ('**'), ('*#'), ('#*'), ('##'), ('*.*.*.*'),
                 ('a+b'), ('a b'), ('(a)'), ('[ab]'), ('a|b'), ('^a'), ('a$'), ('a?'), ('a{2}'),
                 (E'a\\*'), (E'\\'), ('é*'), ('A*'), ('-_'), ('*-*'), ('#_#')) AS x(p);
CREATE TEMP TABLE keyseg (s text);
INSERT INTO keyseg VALUES ('a'), ('b'), ('ab'), ('ba'), ('aab'), ('a-b'), ('A');
CREATE TEMP TABLE keys AS
SELECT s1.s AS k FROM keyseg s1
UNION SELECT s1.s || '.' || s2.s FROM keyseg s1, keyseg s2
UNION SELECT s1.s || '.' || s2.s || '.' || s3.s FROM keyseg s1, keyseg s2, keyseg s3;
CREATE TEMP TABLE compared AS
SELECT k,
       ARRAY(SELECT t.pattern FROM pgmq.test_routing(k) t WHERE t.queue_name = 't_eq') AS c_matcher,
       ARRAY(SELECT b.pattern FROM pgmq.topic_bindings b
             WHERE b.queue_name = 't_eq' AND k ~ b.compiled_regex
             ORDER BY b.pattern) AS regex
FROM keys;
SELECT (SELECT count(*) FROM pgmq.topic_bindings WHERE queue_name = 't_eq') AS patterns,
       count(*) AS keys,
       (SELECT count(*) FROM pgmq.topic_bindings WHERE queue_name = 't_eq') * count(*) AS pairs,
       sum(cardinality(regex)) AS matching_pairs,
       count(*) FILTER (WHERE c_matcher IS DISTINCT FROM regex) AS keys_that_differ
FROM compared;
-- any difference, spelled out (none expected)
SELECT k, c_matcher, regex FROM compared WHERE c_matcher IS DISTINCT FROM regex LIMIT 5;
-- compiled_regex is pgmq's, character for character
SELECT pattern, compiled_regex FROM pgmq.topic_bindings
WHERE queue_name = 't_eq' AND pattern IN ('a.*', '#.b', 'a+b', '(a)', '[ab]', 'a|b', '^a', 'a$',
                                          'a?', 'a{2}', E'a\\*', E'\\', '')
ORDER BY pattern COLLATE "C";

-- Direct DML is seen at once (the statement trigger): update, delete.
SELECT count(*) FROM pgmq.test_routing('ab.b');
UPDATE pgmq.topic_bindings SET pattern = 'zz' WHERE queue_name = 't_eq' AND pattern = 'ab.b';
SELECT count(*) FROM pgmq.test_routing('ab.b');
SELECT * FROM pgmq.test_routing('zz');
DELETE FROM pgmq.topic_bindings WHERE queue_name = 't_eq';
SELECT count(*) FROM pgmq.test_routing('ab.b');
SELECT pgmq.drop_queue('t_eq');

--
-- send_topic: one copy to every queue the key routes to, each queue once
-- even when several of its patterns match; returns how many queues.  No
-- match is not an error: 0.  Headers and delay as send has them.
--
CREATE TEMP VIEW sent AS
SELECT 't_logs' AS queue, msg_id, message, headers,
       CASE WHEN vt <= clock_timestamp() THEN 'visible' ELSE 'delayed' END AS vt FROM pgmq.q_t_logs
UNION ALL SELECT 't_errors', msg_id, message, headers,
       CASE WHEN vt <= clock_timestamp() THEN 'visible' ELSE 'delayed' END FROM pgmq.q_t_errors
UNION ALL SELECT 't_all', msg_id, message, headers,
       CASE WHEN vt <= clock_timestamp() THEN 'visible' ELSE 'delayed' END FROM pgmq.q_t_all
UNION ALL SELECT 'T_Mixed', msg_id, message, headers,
       CASE WHEN vt <= clock_timestamp() THEN 'visible' ELSE 'delayed' END FROM pgmq."q_t_mixed";
SELECT pgmq.send_topic('logs.error', '{"n": 1}');
SELECT pgmq.send_topic('app.error', '{"n": 2}', 3600);
SELECT pgmq.send_topic('logs.api.error', '{"n": 3}', '{"h": 3}', 0);
SELECT pgmq.send_topic('Orders.new', '{"n": 4}', NULL, 0);
SELECT pgmq.send_topic(routing_key => 'x', msg => '{"n": 5}', delay => 0);
SELECT * FROM sent ORDER BY queue, msg_id;
-- nothing bound matches: 0
SELECT pgmq.unbind_topic('#', 't_all');
SELECT pgmq.send_topic('nothing.bound', '{"n": 6}');
SELECT count(*) FROM sent WHERE message = '{"n": 6}';
SELECT pgmq.bind_topic('#', 't_all');

-- Errors, in pgmq's order: routing key, msg, delay; nothing is sent.
SELECT stmt, err(stmt) FROM (VALUES
    ('SELECT pgmq.send_topic(NULL, ''{}'')'),
    ('SELECT pgmq.send_topic('''', ''{}'')'),
    ('SELECT pgmq.send_topic(''logs.*'', ''{}'')'),
    ('SELECT pgmq.send_topic(''.logs'', NULL)'),
    ('SELECT pgmq.send_topic(''logs.x'', NULL)'),
    ('SELECT pgmq.send_topic(''logs.x'', NULL, -1)'),
    ('SELECT pgmq.send_topic(''logs.x'', ''{}'', -1)'),
    ('SELECT pgmq.send_topic(''logs.x'', ''{}'', NULL)'),
    ('SELECT pgmq.send_topic(''logs.x'', ''{}'', ''{}'', -5)'),
    ('SELECT pgmq.send_topic(''logs.x'', ''{}'', ''{}'', NULL)')) AS v(stmt);
SELECT count(*) AS messages FROM sent;

--
-- send_batch_topic: the batch to every queue the key routes to; rows
-- (queue_name, msg_id), queue by queue in name order, ids in input order.
--
SELECT pgmq.purge_queue(q) FROM (VALUES ('t_logs'), ('t_errors'), ('t_all'), ('T_Mixed')) AS v(q);
SELECT * FROM pgmq.send_batch_topic('logs.error', ARRAY['{"b": 1}', '{"b": 2}']::jsonb[]);
SELECT * FROM pgmq.send_batch_topic('logs.error', ARRAY['{"b": 3}']::jsonb[],
                                    ARRAY['{"h": 3}']::jsonb[]);
SELECT * FROM pgmq.send_batch_topic('app.error', ARRAY['{"b": 4}']::jsonb[], 3600);
SELECT * FROM pgmq.send_batch_topic('app.info', ARRAY['{"b": 5}']::jsonb[],
                                    '2100-01-01 00:00:00+00'::timestamptz);
SELECT * FROM pgmq.send_batch_topic('logs.x', ARRAY['{"b": 6}']::jsonb[],
                                    ARRAY['{"h": 6}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch_topic('Orders.x', ARRAY['{"b": 7}']::jsonb[],
                                    ARRAY['{"h": 7}']::jsonb[], now());
SELECT * FROM sent ORDER BY queue, msg_id;
SELECT pgmq.unbind_topic('#', 't_all');
SELECT count(*) FROM pgmq.send_batch_topic('nothing.bound', ARRAY['{}']::jsonb[]);
SELECT pgmq.bind_topic('#', 't_all');
-- Errors as send_batch has them, after the routing key's.
SELECT stmt, err(stmt) FROM (VALUES
    ('SELECT pgmq.send_batch_topic(''bad key'', NULL::jsonb[])'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', NULL::jsonb[])'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', ARRAY[]::jsonb[])'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', ARRAY[''{}'']::jsonb[], ARRAY[]::jsonb[])'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', ARRAY[''{}'']::jsonb[], ARRAY[''{}'', ''{}'']::jsonb[])'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', ARRAY[''{}'']::jsonb[], -1)'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', ARRAY[''{}'']::jsonb[], NULL::integer)'),
    ('SELECT pgmq.send_batch_topic(''logs.x'', ARRAY[''{}'']::jsonb[], ''infinity''::timestamptz)'),
    ('SELECT pgmq.send_batch_topic(''nothing.bound.x'', ARRAY[]::jsonb[])')) AS v(stmt);

--
-- Atomic: the copies go into the caller's transaction.  When the third
-- queue refuses the insert, the first two keep nothing.
--
SELECT pgmq.create(q) FROM (VALUES ('t_at1'), ('t_at2'), ('t_at3')) AS v(q);
SELECT pgmq.bind_topic('atomic.#', q) FROM (VALUES ('t_at1'), ('t_at2'), ('t_at3')) AS v(q);
ALTER TABLE pgmq.q_t_at3 ADD CONSTRAINT refuse CHECK (false) NOT VALID;
SELECT err($$SELECT pgmq.send_topic('atomic.x', '{}')$$);
SELECT err($$SELECT * FROM pgmq.send_batch_topic('atomic.x', ARRAY['{}', '{}']::jsonb[])$$);
SELECT (SELECT count(*) FROM pgmq.q_t_at1) AS t_at1, (SELECT count(*) FROM pgmq.q_t_at2) AS t_at2,
       (SELECT count(*) FROM pgmq.q_t_at3) AS t_at3;
ALTER TABLE pgmq.q_t_at3 DROP CONSTRAINT refuse;
-- and a rolled-back transaction takes every copy with it
BEGIN;
SELECT pgmq.send_topic('atomic.x', '{}');
ROLLBACK;
SELECT (SELECT count(*) FROM pgmq.q_t_at1) AS t_at1, (SELECT count(*) FROM pgmq.q_t_at2) AS t_at2,
       (SELECT count(*) FROM pgmq.q_t_at3) AS t_at3;

--
-- Dropping a queue takes its bindings (ON DELETE CASCADE), and routing
-- stops at once; a binding made and rolled back is gone from the cache.
--
SELECT pgmq.drop_queue('t_at2');
SELECT pattern, queue_name FROM pgmq.topic_bindings WHERE pattern = 'atomic.#' ORDER BY queue_name;
SELECT pgmq.send_topic('atomic.x', '{}');
BEGIN;
SELECT pgmq.bind_topic('atomic.#', 't_logs');
SELECT pgmq.send_topic('atomic.x', '{}');
ROLLBACK;
SELECT pgmq.send_topic('atomic.x', '{}');
SELECT queue_name FROM pgmq.test_routing('atomic.x') ORDER BY 1;

--
-- Untyped parameters (node-postgres, asyncpg): send_topic has one form per
-- arity, so its untyped calls resolve as they are; send_batch_topic's
-- three- and four-argument calls reach text overloads that read the value:
-- '{...}' headers, an integer seconds, else a timestamp.  Typed calls still
-- reach pgmq's signatures.  pg_stat_xact_user_functions says which ran.
--
CREATE TEMP VIEW called AS
SELECT funcid::regprocedure AS function, calls
FROM pg_stat_xact_user_functions
WHERE funcid::regprocedure::text LIKE 'pgmq.send%topic%'
ORDER BY funcid::regprocedure::text COLLATE "C";
PREPARE topic2(unknown, unknown) AS SELECT pgmq.send_topic($1, $2);
PREPARE topic3(unknown, unknown, unknown) AS SELECT pgmq.send_topic($1, $2, $3);
PREPARE topic4(unknown, unknown, unknown, unknown) AS SELECT pgmq.send_topic($1, $2, $3, $4);
PREPARE btopic2(unknown, unknown) AS SELECT * FROM pgmq.send_batch_topic($1, $2);
PREPARE btopic3(unknown, unknown, unknown) AS SELECT * FROM pgmq.send_batch_topic($1, $2, $3);
PREPARE btopic4(unknown, unknown, unknown, unknown) AS SELECT * FROM pgmq.send_batch_topic($1, $2, $3, $4);
PREPARE btopic3j(unknown, jsonb[], unknown) AS SELECT * FROM pgmq.send_batch_topic($1, $2, $3);
PREPARE btopic4j(unknown, jsonb[], unknown, unknown) AS SELECT * FROM pgmq.send_batch_topic($1, $2, $3, $4);
SELECT pgmq.purge_queue(q) FROM (VALUES ('t_logs'), ('t_errors'), ('t_all'), ('T_Mixed')) AS v(q);
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
EXECUTE topic2('Orders.a', '{"u": 1}');
EXECUTE topic3('Orders.a', '{"u": 2}', '3600');
EXECUTE topic4('Orders.a', '{"u": 3}', '{"h": 3}', '0');
EXECUTE btopic2('Orders.b', '{"{\"u\": 4}"}');
EXECUTE btopic3('Orders.b', '{"{\"u\": 5}"}', '{"{\"h\": 5}"}');
EXECUTE btopic3('Orders.b', '{"{\"u\": 6}"}', '3600');
EXECUTE btopic3('Orders.b', '{"{\"u\": 7}"}', '2100-01-01 00:00:00+00');
EXECUTE btopic3('Orders.b', '{"{\"u\": 8}"}', NULL);
EXECUTE btopic4('Orders.b', '{"{\"u\": 9}"}', '{"{\"h\": 9}"}', '3600');
EXECUTE btopic4('Orders.b', '{"{\"u\": 10}"}', NULL, '2100-01-01 00:00:00+00');
EXECUTE btopic3j('Orders.b', '{"{\"u\": 11}"}', '{"{\"h\": 11}"}');
EXECUTE btopic4j('Orders.b', '{"{\"u\": 12}"}', '{"{\"h\": 12}"}', '0');
SELECT * FROM sent WHERE queue = 'T_Mixed' ORDER BY msg_id;
SELECT * FROM called;
COMMIT;
-- typed calls reach pgmq's signatures
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SET LOCAL track_functions = 'all';
SELECT pgmq.send_topic('Orders.c', '{"t": 1}'::jsonb, 0);
SELECT * FROM pgmq.send_batch_topic('Orders.c', ARRAY['{"t": 2}']::jsonb[], ARRAY['{}']::jsonb[]);
SELECT * FROM pgmq.send_batch_topic('Orders.c', ARRAY['{"t": 3}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch_topic('Orders.c', ARRAY['{"t": 4}']::jsonb[], now());
SELECT * FROM pgmq.send_batch_topic('Orders.c', ARRAY['{"t": 5}']::jsonb[], NULL::jsonb[], 0);
SELECT * FROM pgmq.send_batch_topic('Orders.c', ARRAY['{"t": 6}']::jsonb[], NULL::jsonb[], now());
SELECT * FROM called;
COMMIT;
-- untyped values that fit no meaning
SELECT stmt, err(stmt) FROM (VALUES
    ('EXECUTE btopic3(''Orders.b'', ''{"{}"}'', ''[{}]'')'),
    ('EXECUTE btopic3(''Orders.b'', ''{"{}"}'', ''1.5'')'),
    ('EXECUTE btopic3(''Orders.b'', ''{}'', ''0'')'),
    ('EXECUTE btopic3(''Orders.b'', NULL, ''0'')'),
    ('EXECUTE btopic4(''Orders.b'', ''{"{}"}'', NULL, NULL)'),
    ('EXECUTE btopic3(''bad key'', ''{"{}"}'', ''0'')'),
    ('EXECUTE topic3(''Orders.b'', ''{}'', ''{}'')')) AS v(stmt);

--
-- Rights: send_topic and test_routing read the bindings with the caller's
-- rights, also when this backend has them cached.
--
CREATE ROLE regress_topic_user;
GRANT USAGE ON SCHEMA pgmq TO regress_topic_user;
GRANT INSERT, SELECT ON pgmq.q_t_logs TO regress_topic_user;
SELECT count(*) FROM pgmq.test_routing('logs.x');
SET ROLE regress_topic_user;
SELECT err($$SELECT pgmq.send_topic('logs.x', '{}')$$);
SELECT err($$SELECT * FROM pgmq.test_routing('logs.x')$$);
RESET ROLE;
GRANT SELECT ON pgmq.topic_bindings TO regress_topic_user;
SELECT pgmq.unbind_topic('#', 't_all'), pgmq.unbind_topic('logs.#', 't_errors');
SET ROLE regress_topic_user;
SELECT pgmq.send_topic('logs.x', '{}');
RESET ROLE;
REVOKE ALL ON pgmq.q_t_logs, pgmq.topic_bindings FROM regress_topic_user;
REVOKE ALL ON SCHEMA pgmq FROM regress_topic_user;
DROP ROLE regress_topic_user;

DROP VIEW sent;
SELECT pgmq.drop_queue(q) FROM (VALUES ('t_logs'), ('t_errors'), ('t_all'), ('T_Mixed'),
                                       ('t_at1'), ('t_at3')) AS v(q);
SELECT count(*) AS bindings_left FROM pgmq.topic_bindings;
