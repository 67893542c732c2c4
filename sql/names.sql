--
-- names: what a queue may be called, and which tables a name maps to.
--
\set SHOW_CONTEXT never

-- err(statement) is defined by install.sql.

--
-- validate_queue_name: at most 47 characters, none of $ ; -- '
--
SELECT pgmq.validate_queue_name('good_name');
SELECT pgmq.validate_queue_name(repeat('x', 47));
SELECT pgmq.validate_queue_name(repeat('x', 48));
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.validate_queue_name('a$b');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.validate_queue_name(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.validate_queue_name('');
\echo :LAST_ERROR_SQLSTATE

--
-- format_table_name: lower(prefix || '_' || name)
--
SELECT pgmq.format_table_name('orders', 'q') AS q,
       pgmq.format_table_name('orders', 'a') AS a,
       pgmq.format_table_name('My_Queue', 'q') AS mixed,
       pgmq.format_table_name('x', 'PREFIX') AS upper_prefix,
       pgmq.format_table_name('with space', 'q') AS space,
       pgmq.format_table_name('dq"name', 'q') AS double_quote,
       pgmq.format_table_name('a-b', 'q') AS one_dash;
SELECT pgmq.format_table_name('a;b', 'q');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.format_table_name('orders', NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- The characters pgmq refuses: $ ; -- '  (pgmq's exact message)
--
SELECT n AS name,
       public.err(format('SELECT pgmq.validate_queue_name(%L)', n)) AS validate_queue_name,
       public.err(format('SELECT pgmq.create(%L)', n)) AS "create"
FROM unnest(ARRAY['a$b', '$', 'a;b', 'a--b', '--', 'a''b', '''']) AS n;
SELECT n AS name,
       public.err(format('SELECT pgmq.format_table_name(%L, %L)', n, 'q')) AS format_table_name,
       public.err(format('SELECT pgmq.send(%L, %L::jsonb)', n, '{}')) AS send,
       public.err(format('SELECT pgmq.drop_queue(%L)', n)) AS drop_queue
FROM unnest(ARRAY['a$b', 'a;b', 'a--b', 'a''b']) AS n;
SELECT count(*) AS queues FROM pgmq.meta;

--
-- Mixed case: meta keeps the name as given, tables are lower case, and any
-- spelling reaches the queue.
--
SELECT pgmq.create('MixedCase_Q');
SELECT queue_name FROM pgmq.meta;
SELECT relname FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND relname ILIKE '%mixedcase%'
ORDER BY relname;
SELECT * FROM pgmq.send('MixedCase_Q', '{"spelling": "as created"}');
SELECT * FROM pgmq.send('mixedcase_q', '{"spelling": "lower"}');
SELECT * FROM pgmq.send('MIXEDCASE_Q', '{"spelling": "upper"}');
SELECT msg_id, message FROM pgmq.read('mIxEdCaSe_q', 30, 10);
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics('MIXEDCASE_Q');
SELECT pgmq.archive('mixedcase_q', 1::bigint);
SELECT pgmq.delete('MixedCase_Q', 2::bigint);
SELECT msg_id FROM pgmq.a_mixedcase_q;
SELECT pgmq.drop_queue('MixedCase_Q');
SELECT count(*) AS queues FROM pgmq.meta;

--
-- Unicode names: allowed; table names are lower(...) like pgmq's.
--
SELECT pgmq.create('Ünïcødé_队列');
SELECT queue_name FROM pgmq.meta;
SELECT pgmq.format_table_name('Ünïcødé_队列', 'q') = lower('q_Ünïcødé_队列') AS lowered_like_sql,
       to_regclass(quote_ident('pgmq') || '.' || quote_ident(lower('q_Ünïcødé_队列'))) IS NOT NULL AS queue_table,
       to_regclass(quote_ident('pgmq') || '.' || quote_ident(lower('a_Ünïcødé_队列'))) IS NOT NULL AS archive_table;
SELECT * FROM pgmq.send('Ünïcødé_队列', '{"text": "héllo 世界"}');
SELECT msg_id, message FROM pgmq.read('Ünïcødé_队列', 30, 1);
SELECT pgmq.drop_queue('Ünïcødé_队列');

--
-- Spaces and double quotes: allowed, and always quoted in SQL.
--
SELECT pgmq.create('with space');
SELECT pgmq.create('dq"name');
SELECT pgmq.create('Robert"); DROP TABLE pgmq.meta --');
\echo :LAST_ERROR_SQLSTATE
SELECT queue_name FROM pgmq.meta ORDER BY queue_name;
SELECT relname FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND (relname LIKE '%with space%' OR relname LIKE '%dq"name%')
ORDER BY relname;
SELECT * FROM pgmq.send('with space', '{"n": 1}');
SELECT * FROM pgmq.send('dq"name', '{"n": 2}');
SELECT * FROM pgmq.send_batch('dq"name', ARRAY['{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT msg_id, message FROM pgmq.read('with space', 30, 5);
SELECT msg_id, message FROM pgmq.pop('dq"name');
SELECT msg_id, read_ct FROM pgmq.set_vt('dq"name', 2, 0);
SELECT pgmq.archive('dq"name', 2::bigint), pgmq.delete('dq"name', 3::bigint);
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics('dq"name');
SELECT pgmq.purge_queue('with space');
SELECT pgmq.drop_queue('with space'), pgmq.drop_queue('dq"name');
SELECT count(*) AS queues FROM pgmq.meta;

--
-- Length: 47 characters is the limit (archived_at_idx_<name> must fit in
-- 63 bytes).  pgmq_c also counts bytes: a multibyte name of at most 47
-- characters but more than 47 bytes would be truncated in its index name.
--
SELECT pgmq.create(repeat('x', 47));
SELECT length(queue_name) FROM pgmq.meta;
SELECT relname, length(relname) FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND relname LIKE '%' || repeat('x', 47) || '%'
ORDER BY relname;
SELECT * FROM pgmq.send(repeat('x', 47), '{}');
SELECT pgmq.drop_queue(repeat('x', 47));
SELECT pgmq.create(repeat('x', 48));
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.create_unlogged(repeat('x', 48));
\echo :LAST_ERROR_SQLSTATE
SELECT length(n) AS characters, octet_length(n) AS bytes,
       public.err(format('SELECT pgmq.validate_queue_name(%L)', n)) AS validate_queue_name,
       public.err(format('SELECT pgmq.create(%L)', n)) AS "create"
FROM (VALUES (repeat('é', 23) || 'x'),
             (repeat('é', 24)),
             (repeat('队', 15) || 'xx'),
             (repeat('队', 16)),
             -- 40 bytes as given, but lower() makes each 'Ⱥ' a 3-byte 'ⱥ': 60
             (repeat('Ⱥ', 20))) AS v(n);
SELECT pgmq.create(repeat('é', 24));
\echo :LAST_ERROR_SQLSTATE
SELECT octet_length(queue_name) AS bytes FROM pgmq.meta;
SELECT relname FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND relname LIKE '%éé%'
ORDER BY relname;
SELECT pgmq.drop_queue(repeat('é', 23) || 'x');
SELECT pgmq.drop_queue(repeat('队', 15) || 'xx');
SELECT count(*) AS queues FROM pgmq.meta;

--
-- acquire_queue_lock: a transaction-level advisory lock with pgmq's key,
-- hashtext('pgmq.queue_' || name).
--
BEGIN;
SELECT pgmq.acquire_queue_lock('lock_me');
SELECT count(*) AS advisory_locks,
       bool_and(((l.classid::bigint << 32) | l.objid::bigint)
                = hashtext('pgmq.queue_lock_me')::bigint) AS pgmq_key
FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid();
-- the same lock again is fine (re-entrant within the transaction)
SELECT pgmq.acquire_queue_lock('lock_me');
COMMIT;
SELECT count(*) AS advisory_locks_after_commit
FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT pgmq.acquire_queue_lock(NULL);
\echo :LAST_ERROR_SQLSTATE
