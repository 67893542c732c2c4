--
-- queues: create, create_non_partitioned, create_unlogged, list_queues,
-- drop_queue, purge_queue, detach_archive.
--
\set SHOW_CONTEXT never

-- The layout of one of our tables: columns, defaults, identity.
CREATE FUNCTION pg_temp.columns(rel regclass)
RETURNS TABLE (attnum smallint, attname name, data_type text, not_null boolean,
               "default" text, identity "char")
LANGUAGE sql AS $$
    SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           pg_get_expr(d.adbin, d.adrelid), a.attidentity
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
$$;

--
-- create
--
SELECT pgmq.create('q_basic');
SELECT queue_name, is_partitioned, is_unlogged, created_at <= now() AS created_at_set
FROM pgmq.meta;

-- Every relation the queue owns, by name.
SELECT c.relname, c.relkind, c.relpersistence
FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname LIKE '%q_basic%'
ORDER BY c.relname;

-- The queue table, as pgmq lays it out.
SELECT * FROM pg_temp.columns('pgmq.q_q_basic');
SELECT pg_get_serial_sequence('pgmq.q_q_basic', 'msg_id') AS msg_id_sequence;
-- The archive: archived_at between last_read_at and vt; msg_id no identity.
SELECT * FROM pg_temp.columns('pgmq.a_q_basic');
SELECT pg_get_serial_sequence('pgmq.a_q_basic', 'msg_id') AS archive_sequence;
-- Indexes and constraints of both.
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'pgmq' AND tablename IN ('q_q_basic', 'a_q_basic')
ORDER BY tablename, indexname;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) AS definition
FROM pg_constraint WHERE conrelid IN ('pgmq.q_q_basic'::regclass, 'pgmq.a_q_basic'::regclass)
ORDER BY 1, 2;

-- A second create changes nothing: same tables, one meta row, no error.
SELECT 'pgmq.q_q_basic'::regclass::oid AS q_oid, 'pgmq.a_q_basic'::regclass::oid AS a_oid,
       (SELECT created_at FROM pgmq.meta WHERE queue_name = 'q_basic') AS created_at \gset
SELECT * FROM pgmq.send('q_basic', '{"before": "second create"}');
SELECT pgmq.create('q_basic');
SELECT pgmq.create_non_partitioned('q_basic');
SELECT 'pgmq.q_q_basic'::regclass::oid = :q_oid AS same_queue_table,
       'pgmq.a_q_basic'::regclass::oid = :a_oid AS same_archive_table,
       (SELECT count(*) FROM pgmq.meta WHERE queue_name = 'q_basic') AS meta_rows,
       (SELECT created_at FROM pgmq.meta WHERE queue_name = 'q_basic') = :'created_at' AS same_created_at,
       (SELECT count(*) FROM pgmq.q_q_basic) AS messages_kept;
-- create_unlogged on an existing logged queue changes nothing either.
SELECT pgmq.create_unlogged('q_basic');
SELECT relpersistence FROM pg_class WHERE oid = 'pgmq.q_q_basic'::regclass;
SELECT queue_name, is_unlogged FROM pgmq.meta WHERE queue_name = 'q_basic';

-- A name differing only in case would share q_basic's tables: refused.
SELECT pgmq.create('Q_Basic');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.create_unlogged('Q_BASIC');
\echo :LAST_ERROR_SQLSTATE
SELECT queue_name FROM pgmq.meta ORDER BY queue_name;

-- create inside a transaction that rolls back leaves nothing behind.
BEGIN;
SELECT pgmq.create('q_rolled_back');
SELECT * FROM pgmq.send('q_rolled_back', '{}');
ROLLBACK;
SELECT to_regclass('pgmq.q_q_rolled_back') AS queue_table,
       (SELECT count(*) FROM pgmq.meta WHERE queue_name = 'q_rolled_back') AS meta_rows;

--
-- create_non_partitioned is create.
--
SELECT pgmq.create_non_partitioned('q_np');
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.meta WHERE queue_name = 'q_np';
SELECT c.relname, c.relpersistence FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname LIKE '%q_np%' AND c.relkind = 'r'
ORDER BY c.relname;
SELECT (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.q_q_np') c)
     = (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.q_q_basic') c) AS same_queue_layout,
       (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.a_q_np') c)
     = (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.a_q_basic') c) AS same_archive_layout;

--
-- create_unlogged: the queue table is unlogged, the archive is logged.
--
SELECT pgmq.create_unlogged('q_unlogged');
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.meta WHERE queue_name = 'q_unlogged';
SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname LIKE '%q_unlogged%' AND c.relkind IN ('r', 'i')
ORDER BY c.relname;
-- the msg_id sequence stays logged, so ids stay unique after a crash empties
-- the queue table while the archive keeps its rows
SELECT relpersistence FROM pg_class WHERE oid = 'pgmq.q_q_unlogged_msg_id_seq'::regclass;
SELECT (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.q_q_unlogged') c)
     = (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.q_q_basic') c) AS same_queue_layout,
       (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.a_q_unlogged') c)
     = (SELECT array_agg(row(c.*)::text) FROM pg_temp.columns('pgmq.a_q_basic') c) AS same_archive_layout;
SELECT pgmq.create_unlogged('q_unlogged');
SELECT pgmq.create('q_unlogged');
SELECT count(*) AS meta_rows, bool_and(is_unlogged) AS still_unlogged
FROM pgmq.meta WHERE queue_name = 'q_unlogged';
SELECT relpersistence FROM pg_class WHERE oid = 'pgmq.q_q_unlogged'::regclass;
SELECT * FROM pgmq.send('q_unlogged', '{"fast": true}');
SELECT msg_id, message FROM pgmq.read('q_unlogged', 30, 1);

--
-- list_queues: every queue, oldest first.
--
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues();
SELECT count(*) = (SELECT count(*) FROM pgmq.meta) AS all_listed,
       bool_and(l.created_at = m.created_at) AS same_created_at
FROM pgmq.list_queues() l JOIN pgmq.meta m USING (queue_name);
-- queues created in one transaction share created_at, and list by name
BEGIN;
SELECT pgmq.create('q_list_b');
SELECT pgmq.create('q_list_a');
COMMIT;
SELECT queue_name FROM pgmq.list_queues();

--
-- purge_queue: returns how many messages it removed; the archive and the
-- msg_id sequence stay as they were.
--
SELECT * FROM pgmq.send_batch('q_basic', ARRAY['{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT pgmq.archive('q_basic', 2::bigint);
SELECT msg_id FROM pgmq.read('q_basic', 30, 1);
SELECT count(*) AS queued FROM pgmq.q_q_basic;
SELECT pgmq.purge_queue('q_basic');
SELECT (SELECT count(*) FROM pgmq.q_q_basic) AS queued,
       (SELECT count(*) FROM pgmq.a_q_basic) AS archived,
       (SELECT total_messages FROM pgmq.metrics('q_basic')) AS total_messages;
SELECT pgmq.purge_queue('q_basic');
SELECT * FROM pgmq.send('q_basic', '{"after": "purge"}');
SELECT msg_id FROM pgmq.a_q_basic;
-- purge in a transaction that rolls back: the messages come back
BEGIN;
SELECT pgmq.purge_queue('q_basic');
ROLLBACK;
SELECT msg_id, message FROM pgmq.q_q_basic;
SELECT pgmq.purge_queue('no_such_queue');
\echo :LAST_ERROR_SQLSTATE

--
-- detach_archive: deprecated, does nothing but warn.
--
SELECT pgmq.detach_archive('q_basic');
SELECT to_regclass('pgmq.a_q_basic') AS archive,
       EXISTS (SELECT 1 FROM pg_depend WHERE objid = 'pgmq.a_q_basic'::regclass AND deptype = 'e') AS member;

--
-- drop_queue
--
SELECT pgmq.drop_queue('q_np');
SELECT to_regclass('pgmq.q_q_np') AS queue_table, to_regclass('pgmq.a_q_np') AS archive_table,
       (SELECT count(*) FROM pgmq.meta WHERE queue_name = 'q_np') AS meta_rows;
SELECT count(*) AS relations_left FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND relname LIKE '%q_np%';
-- an unknown queue: NOTICE and false
SELECT pgmq.drop_queue('q_np');
SELECT pgmq.drop_queue('never_existed');
-- drop in a transaction that rolls back: the queue is still there
BEGIN;
SELECT pgmq.drop_queue('q_unlogged');
ROLLBACK;
SELECT queue_name FROM pgmq.meta WHERE queue_name = 'q_unlogged';
SELECT msg_id, read_ct FROM pgmq.q_q_unlogged;
SELECT pgmq.drop_queue('q_unlogged');

-- The deprecated two-argument form warns, drops, and always returns true.
SELECT pgmq.drop_queue('q_list_a', false);
SELECT to_regclass('pgmq.q_q_list_a') AS queue_table;
SELECT pgmq.drop_queue('q_list_a', true);
SELECT pgmq.drop_queue(queue_name => 'q_list_b', partitioned => false);

-- The archive goes with the queue even when it holds rows.
SELECT pgmq.drop_queue('q_basic');
SELECT count(*) AS relations_left FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND relname LIKE '%q_basic%';
SELECT * FROM pgmq.list_queues();
