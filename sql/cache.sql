--
-- cache: one session keeps prepared plans per queue.  They must follow the
-- queue through drop, re-create, ALTER TABLE, rollback and errors caught in
-- subtransactions.
--
\set SHOW_CONTEXT never

-- err(statement) is defined by install.sql.

-- use_queue(q): every plan of the queue once, on five fresh messages
-- (ids a .. a+4) and one delayed one (a+5); what each step returned.
CREATE FUNCTION pg_temp.use_queue(q text) RETURNS TABLE (step text, result text)
LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
BEGIN
    SELECT i INTO a FROM pgmq.send(q, '{"k": "one"}') AS i;
    step := 'send'; result := a; RETURN NEXT;
    step := 'send_batch';
    SELECT array_agg(i ORDER BY i)::text INTO result
    FROM pgmq.send_batch(q, ARRAY['{"k": "two"}', '{"k": "three"}', '{"k": "four"}', '{"k": "five"}']::jsonb[]) AS i;
    RETURN NEXT;
    step := 'send delayed';
    SELECT array_agg(i)::text INTO result FROM pgmq.send(q, '{"k": "six"}', 60) AS i;
    RETURN NEXT;
    step := 'read';
    SELECT array_agg(msg_id ORDER BY msg_id)::text INTO result FROM pgmq.read(q, 30, 1);
    RETURN NEXT;
    step := 'read conditional';
    SELECT array_agg(msg_id ORDER BY msg_id)::text INTO result FROM pgmq.read(q, 30, 5, '{"k": "three"}');
    RETURN NEXT;
    step := 'read_with_poll';
    SELECT array_agg(msg_id ORDER BY msg_id)::text INTO result FROM pgmq.read_with_poll(q, 30, 1, 0);
    RETURN NEXT;
    step := 'set_vt';
    SELECT array_agg(msg_id ORDER BY msg_id)::text INTO result FROM pgmq.set_vt(q, a + 2, 0);
    RETURN NEXT;
    step := 'set_vt array';
    SELECT array_agg(msg_id ORDER BY msg_id)::text INTO result FROM pgmq.set_vt(q, ARRAY[a, a + 1], now());
    RETURN NEXT;
    step := 'pop';
    SELECT array_agg(msg_id ORDER BY msg_id)::text INTO result FROM pgmq.pop(q);
    RETURN NEXT;
    step := 'delete'; result := pgmq.delete(q, a + 1); RETURN NEXT;
    step := 'archive'; result := pgmq.archive(q, a + 2); RETURN NEXT;
    step := 'delete array';
    SELECT array_agg(i ORDER BY i)::text INTO result FROM pgmq.delete(q, ARRAY[a + 3, a + 1]) AS i;
    RETURN NEXT;
    step := 'archive array';
    SELECT array_agg(i ORDER BY i)::text INTO result FROM pgmq.archive(q, ARRAY[a + 4, a + 2]) AS i;
    RETURN NEXT;
    step := 'metrics';
    SELECT format('length %s, visible %s, total %s', queue_length, queue_visible_length, total_messages)
    INTO result FROM pgmq.metrics(q);
    RETURN NEXT;
    step := 'purge_queue'; result := pgmq.purge_queue(q); RETURN NEXT;
END
$$;

SELECT pgmq.create('cq');
SELECT * FROM pg_temp.use_queue('cq');
SELECT msg_id, message FROM pgmq.a_cq ORDER BY msg_id;

--
-- Drop and re-create: the same plans now work on the new tables; ids start
-- again at 1 and the new archive holds only what this round archived.
--
SELECT pgmq.drop_queue('cq');
SELECT pgmq.create('cq');
SELECT * FROM pg_temp.use_queue('cq');
SELECT msg_id, message FROM pgmq.a_cq ORDER BY msg_id;
-- the other spellings of the name have their own cache entries; they
-- follow too
SELECT * FROM pgmq.send('CQ', '{"spelling": "upper"}');
SELECT pgmq.drop_queue('cq');
SELECT pgmq.create('cq');
SELECT * FROM pgmq.send('CQ', '{"spelling": "upper"}');
SELECT msg_id, message FROM pgmq.read('Cq', 30, 5);

--
-- Dropped and not re-created: every function reports the missing table.
--
SELECT pgmq.drop_queue('cq');
SELECT * FROM pgmq.send('cq', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.send('cq', '{}')$$),
    ($$SELECT pgmq.send('CQ', '{}')$$),
    ($$SELECT pgmq.send_batch('cq', ARRAY['{}']::jsonb[])$$),
    ($$SELECT pgmq.read('cq', 30, 1)$$),
    ($$SELECT pgmq.read('cq', 30, 1, '{"k": "three"}')$$),
    ($$SELECT pgmq.read_with_poll('cq', 30, 1, 1, 10)$$),
    ($$SELECT pgmq.pop('cq')$$),
    ($$SELECT pgmq.delete('cq', 1::bigint)$$),
    ($$SELECT pgmq.delete('cq', ARRAY[1]::bigint[])$$),
    ($$SELECT pgmq.archive('cq', 1::bigint)$$),
    ($$SELECT pgmq.archive('cq', ARRAY[1]::bigint[])$$),
    ($$SELECT pgmq.set_vt('cq', 1, 30)$$),
    ($$SELECT pgmq.set_vt('cq', ARRAY[1]::bigint[], now())$$),
    ($$SELECT pgmq.metrics('cq')$$),
    ($$SELECT pgmq.purge_queue('cq')$$)
) AS v(stmt);
-- and re-created once more, it works again
SELECT pgmq.create('cq');
SELECT * FROM pg_temp.use_queue('cq');

--
-- Transactions: a rolled-back drop leaves a working queue; a rolled-back
-- create leaves none; drop and create in one transaction is a new queue.
--
SELECT * FROM pgmq.send('cq', '{"before": "rollback"}');
BEGIN;
SELECT pgmq.drop_queue('cq');
SELECT * FROM pgmq.send('cq', '{}');
ROLLBACK;
SELECT * FROM pgmq.send('cq', '{"after": "rollback"}');
SELECT msg_id, message FROM pgmq.read('cq', 30, 5);
BEGIN;
SELECT pgmq.create('cq_temp');
SELECT * FROM pgmq.send('cq_temp', '{}');
SELECT msg_id FROM pgmq.read('cq_temp', 30, 1);
ROLLBACK;
SELECT * FROM pgmq.send('cq_temp', '{}');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT pgmq.drop_queue('cq');
SELECT pgmq.create('cq');
SELECT * FROM pgmq.send('cq', '{"in": "new queue"}');
COMMIT;
SELECT msg_id, message FROM pgmq.read('cq', 30, 5);

--
-- ALTER TABLE on the queue and archive tables: the plans are re-planned.
--
ALTER TABLE pgmq.q_cq ADD COLUMN extra integer DEFAULT 7;
ALTER TABLE pgmq.a_cq ADD COLUMN note text DEFAULT 'archived';
SELECT * FROM pg_temp.use_queue('cq');
SELECT msg_id, message, note FROM pgmq.a_cq ORDER BY msg_id;
SELECT * FROM pgmq.send('cq', '{"with": "extra"}');
SELECT * FROM pgmq.read('cq', 30, 1) \gset r_
SELECT :r_msg_id AS msg_id, :r_read_ct AS read_ct, :'r_message' AS message;
SELECT msg_id, extra FROM pgmq.q_cq;
ALTER TABLE pgmq.q_cq DROP COLUMN extra;
ALTER TABLE pgmq.a_cq DROP COLUMN note;
SELECT * FROM pg_temp.use_queue('cq');
-- a new index, and a rewrite of the table (SET UNLOGGED / SET LOGGED)
CREATE INDEX cq_message_idx ON pgmq.q_cq USING gin (message);
ALTER TABLE pgmq.q_cq SET UNLOGGED;
SELECT * FROM pg_temp.use_queue('cq');
ALTER TABLE pgmq.q_cq SET LOGGED;
SELECT * FROM pg_temp.use_queue('cq');
SELECT relpersistence FROM pg_class WHERE oid = 'pgmq.q_cq'::regclass;

--
-- A queue whose archive was dropped by hand: archive reports the missing
-- table; create puts the archive back, and archive works again.
--
SELECT min(i) AS first FROM pgmq.send_batch('cq', ARRAY['{"a": 1}', '{"a": 2}']::jsonb[]) AS i \gset
DROP TABLE pgmq.a_cq;
SELECT public.err(format('SELECT pgmq.archive(%L, %s::bigint)', 'cq', :first)) AS archive,
       public.err(format('SELECT pgmq.archive(%L, ARRAY[%s]::bigint[])', 'cq', :first)) AS archive_array;
SELECT msg_id, message FROM pgmq.q_cq ORDER BY msg_id;
SELECT pgmq.create('cq');
SELECT pgmq.archive('cq', :first::bigint);
SELECT * FROM pgmq.archive('cq', ARRAY[:first + 1]::bigint[]);
SELECT msg_id, message FROM pgmq.a_cq ORDER BY msg_id;
SELECT * FROM pg_temp.use_queue('cq');

--
-- Re-created as an unlogged queue.
--
SELECT pgmq.drop_queue('cq');
SELECT pgmq.create_unlogged('cq');
SELECT relpersistence FROM pg_class WHERE oid = 'pgmq.q_cq'::regclass;
SELECT * FROM pg_temp.use_queue('cq');
SELECT queue_name, is_unlogged FROM pgmq.list_queues();

--
-- Errors inside subtransactions (plpgsql EXCEPTION blocks), then the queue
-- used again in the same function and afterwards.
--
ALTER TABLE pgmq.q_cq ADD CONSTRAINT no_poison CHECK (NOT message ? 'poison');
CREATE FUNCTION pg_temp.subtransactions() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pgmq.purge_queue('cq');
    PERFORM pgmq.send_batch('cq', ARRAY['{"start": 1}', '{"start": 2}']::jsonb[]);
    -- an error raised by the insert itself, after the send's plan ran
    BEGIN
        PERFORM pgmq.send('cq', '{"fine": 1}');
        PERFORM pgmq.send('cq', '{"poison": true}');
    EXCEPTION WHEN check_violation THEN
        RETURN NEXT 'send: caught ' || SQLSTATE;
    END;
    SELECT count(*) INTO n FROM pgmq.q_cq;
    RETURN NEXT 'queued after the failed block: ' || n;
    -- a batch that fails halfway
    BEGIN
        PERFORM pgmq.send_batch('cq', ARRAY['{"ok": 1}', '{"poison": 1}']::jsonb[]);
    EXCEPTION WHEN check_violation THEN
        RETURN NEXT 'send_batch: caught ' || SQLSTATE;
    END;
    -- argument errors and unknown queues
    BEGIN
        PERFORM pgmq.read('cq', -1, 1);
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN NEXT 'read: caught ' || SQLSTATE;
    END;
    BEGIN
        PERFORM pgmq.send('cq_missing', '{}');
    EXCEPTION WHEN undefined_table THEN
        RETURN NEXT 'send to a missing queue: caught ' || SQLSTATE;
    END;
    -- work done, then an error: the work is undone with the subtransaction
    BEGIN
        PERFORM pgmq.read('cq', 300, 10);
        PERFORM pgmq.pop('cq', 10);
        PERFORM pgmq.set_vt('cq', ARRAY[1]::bigint[], -5);
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN NEXT 'read, pop, then set_vt: caught ' || SQLSTATE;
    END;
    SELECT count(*) INTO n FROM pgmq.q_cq WHERE read_ct = 0 AND vt <= clock_timestamp();
    RETURN NEXT 'queued, visible and unread after the failed block: ' || n;
    -- a queue created and dropped inside a failed subtransaction
    BEGIN
        PERFORM pgmq.create('cq_sub');
        PERFORM pgmq.send('cq_sub', '{}');
        PERFORM pgmq.read('cq_sub', 30, 1);
        RAISE EXCEPTION 'undo' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN
        RETURN NEXT 'create, send, read in a failed block: caught ' || SQLSTATE;
    END;
    BEGIN
        PERFORM pgmq.send('cq_sub', '{}');
    EXCEPTION WHEN undefined_table THEN
        RETURN NEXT 'cq_sub is gone: caught ' || SQLSTATE;
    END;
    BEGIN
        PERFORM pgmq.drop_queue('cq');
        PERFORM pgmq.send('cq', '{}');
    EXCEPTION WHEN undefined_table THEN
        RETURN NEXT 'send after drop: caught ' || SQLSTATE;
    END;
    -- and the queue still works, in this function
    PERFORM pgmq.send('cq', '{"fine": 2}');
    SELECT count(*) INTO n FROM pgmq.read('cq', 30, 2);
    RETURN NEXT 'read after all that: ' || n;
    SELECT count(*) INTO n FROM pgmq.pop('cq', 10);
    RETURN NEXT 'popped: ' || n;
END
$$;
SELECT * FROM pg_temp.subtransactions();
SELECT * FROM pg_temp.subtransactions();
SELECT msg_id, read_ct, message FROM pgmq.q_cq ORDER BY msg_id;
ALTER TABLE pgmq.q_cq DROP CONSTRAINT no_poison;
SELECT * FROM pg_temp.use_queue('cq');

--
-- Plans prepared by one role run with the rights of whoever calls them:
-- access to a queue is access to its tables.
--
CREATE ROLE regress_pgmq_c_client;
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_c_client;
SET ROLE regress_pgmq_c_client;
SELECT * FROM pgmq.send('cq', '{"as": "client"}');
\echo :LAST_ERROR_SQLSTATE
SELECT msg_id FROM pgmq.read('cq', 30, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.delete('cq', 1::bigint);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgmq.q_cq TO regress_pgmq_c_client;
GRANT USAGE ON SEQUENCE pgmq.q_cq_msg_id_seq TO regress_pgmq_c_client;
SET ROLE regress_pgmq_c_client;
SELECT count(*) AS sent FROM pgmq.send_batch('cq', ARRAY['{"as": "client"}', '{"as": "client, 2"}']::jsonb[]);
SELECT message FROM pgmq.read('cq', 30, 1);
SELECT message FROM pgmq.pop('cq');
SELECT pgmq.archive('cq', 1::bigint);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS sent FROM pgmq.send('cq', '{"as": "owner"}');
SELECT message FROM pgmq.pop('cq');
DROP OWNED BY regress_pgmq_c_client;
DROP ROLE regress_pgmq_c_client;
SELECT pgmq.drop_queue('cq');

--
-- A queue table altered beyond recognition must not take the backend down:
-- each call gives the right rows or the promised clean error, 42804
-- (structure of query does not match function result type).
--
CREATE FUNCTION pg_temp.safe(stmt text, expected text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    got text;
    state text;
    msg text;
BEGIN
    EXECUTE format('SELECT string_agg(t::text, '';'' ORDER BY t::text) FROM (%s) t', stmt) INTO got;
    IF got IS NOT DISTINCT FROM expected THEN
        RETURN 'right rows';
    END IF;
    RETURN 'wrong result: ' || coalesce(got, 'no rows');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || msg;
END
$$;
-- Each step stands alone: whether an earlier one worked or failed cleanly
-- does not change what the next should return.
SELECT pgmq.create('cq_int_id');
SELECT * FROM pgmq.send_batch('cq_int_id', ARRAY['{"a": 1}', '{"a": 2}']::jsonb[],
                              ARRAY['{"h": 1}', '{"h": 2}']::jsonb[]);
ALTER TABLE pgmq.q_cq_int_id ALTER COLUMN msg_id TYPE integer;
SELECT step, pg_temp.safe(stmt, expected) FROM (VALUES
    ('read', $$SELECT msg_id, read_ct, message->>'a', headers->>'h' FROM pgmq.read('cq_int_id', 0, 1)$$, '(1,1,1,1)'),
    ('set_vt', $$SELECT msg_id, read_ct, message->>'a', headers->>'h' FROM pgmq.set_vt('cq_int_id', 2, 0)$$, '(2,0,2,2)'),
    ('pop', $$SELECT msg_id, message->>'a', headers->>'h' FROM pgmq.pop('cq_int_id')$$, '(1,1,1)')
) AS v(step, stmt, expected);
SELECT pgmq.drop_queue('cq_int_id');
SELECT pgmq.create('cq_text_body');
SELECT * FROM pgmq.send_batch('cq_text_body', ARRAY['{"a": 1}', '{"a": 2}']::jsonb[],
                              ARRAY['{"h": 1}', '{"h": 2}']::jsonb[]);
ALTER TABLE pgmq.q_cq_text_body ALTER COLUMN message TYPE text, ALTER COLUMN headers TYPE text;
SELECT step, pg_temp.safe(stmt, expected) FROM (VALUES
    ('read', $$SELECT msg_id, read_ct, message->>'a', headers->>'h' FROM pgmq.read('cq_text_body', 0, 1)$$, '(1,1,1,1)'),
    ('set_vt', $$SELECT msg_id, read_ct, message->>'a', headers->>'h' FROM pgmq.set_vt('cq_text_body', 2, 0)$$, '(2,0,2,2)'),
    ('pop', $$SELECT msg_id, message->>'a', headers->>'h' FROM pgmq.pop('cq_text_body')$$, '(1,1,1)')
) AS v(step, stmt, expected);
SELECT pgmq.drop_queue('cq_text_body');
SELECT * FROM pgmq.list_queues();
--
-- A queue that disappears while its cache entry and plans are in use further
-- up the stack: a trigger on the queue table renames the table, then calls
-- pgmq on the same queue (which now reports it missing) and on another queue.
-- The outer send still finishes with its own plan; nothing is freed under it.
--
SELECT pgmq.create('cq_outer');
SELECT pgmq.create('cq_other');
CREATE FUNCTION pg_temp.rename_and_use() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE pgmq.q_cq_outer RENAME TO q_cq_outer_renamed;
    BEGIN
        PERFORM pgmq.send('cq_outer', '{}');
    EXCEPTION WHEN undefined_table THEN
        RAISE NOTICE 'nested send: %', sqlerrm;
    END;
    PERFORM pgmq.send('cq_other', '{}') FROM generate_series(1, 10);
    PERFORM pgmq.read('cq_other', 0, 1);
    PERFORM pgmq.pop('cq_other');
    PERFORM pgmq.metrics('cq_other');
    RETURN NEW;
END $$;
CREATE TRIGGER rename_and_use BEFORE INSERT ON pgmq.q_cq_outer
    FOR EACH ROW EXECUTE FUNCTION pg_temp.rename_and_use();
SELECT * FROM pgmq.send('cq_outer', '{"outer": true}');
SELECT msg_id, message FROM pgmq.q_cq_outer_renamed;
SELECT queue_length FROM pgmq.metrics('cq_other');
SELECT * FROM pgmq.send('cq_outer', '{}');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE pgmq.q_cq_outer_renamed RENAME TO q_cq_outer;
DROP TRIGGER rename_and_use ON pgmq.q_cq_outer;
SELECT * FROM pgmq.send('cq_outer', '{"after": true}');
SELECT pgmq.drop_queue('cq_outer');
SELECT pgmq.drop_queue('cq_other');
--
-- Plans of dropped queues are freed at the next commit, so a session that
-- works through many short-lived queues does not keep their plans forever.
-- (A DO block at top level may COMMIT; here it does after each queue.)
--
DO $$
BEGIN
    FOR i IN 1..20 LOOP
        PERFORM pgmq.create('cq_tmp_' || i);
        PERFORM pgmq.send('cq_tmp_' || i, '{}');
        PERFORM pgmq.read('cq_tmp_' || i, 30, 1);
        PERFORM pgmq.drop_queue('cq_tmp_' || i);
        COMMIT;
    END LOOP;
END $$;
SELECT count(*) AS plans_left
FROM pg_backend_memory_contexts WHERE ident LIKE '%q_cq_tmp_%';
-- A queue that still exists keeps its plans across commits.
SELECT pgmq.create('cq_kept');
SELECT * FROM pgmq.send('cq_kept', '{}');
SELECT count(*) > 0 AS plans_kept
FROM pg_backend_memory_contexts WHERE ident LIKE '%q_cq_kept%';
SELECT pgmq.drop_queue('cq_kept');
--
-- Plans made while a queue is drained and vacuumed (it then looks empty)
-- must still find rows through the primary key once a burst arrives, not
-- scan the whole queue on every call until the next ANALYZE.
--
SELECT pgmq.create('cq_idle');
ALTER TABLE pgmq.q_cq_idle SET (autovacuum_enabled = off);
VACUUM pgmq.q_cq_idle;
SELECT relpages, reltuples FROM pg_class WHERE oid = 'pgmq.q_cq_idle'::regclass;
-- This session's first use of the queue plans every statement now.
SELECT count(*) FROM pgmq.read('cq_idle', 30, 1);
SELECT count(*) FROM pgmq.read('cq_idle', 30, 1, '{"k": 1}');
SELECT count(*) FROM pgmq.pop('cq_idle');
SELECT pgmq.delete('cq_idle', 1::bigint), pgmq.archive('cq_idle', 1::bigint);
SELECT count(*) FROM pgmq.delete('cq_idle', ARRAY[1]::bigint[]);
SELECT count(*) FROM pgmq.archive('cq_idle', ARRAY[1]::bigint[]);
SELECT count(*) FROM pgmq.set_vt('cq_idle', 1::bigint, 0);
SELECT count(*) FROM pgmq.set_vt('cq_idle', ARRAY[1]::bigint[], 0);
-- The burst.
SELECT count(*) FROM pgmq.send_batch('cq_idle',
    ARRAY(SELECT jsonb_build_object('k', i % 2) FROM generate_series(1, 5000) AS i));
-- (Flush this session's pending table counters, so the next transaction's
-- pg_stat_xact_user_tables counts only its own scans.)
SELECT pg_stat_force_next_flush() \gset
BEGIN;
SELECT count(*) FROM pgmq.read('cq_idle', 30, 1);
SELECT count(*) FROM pgmq.read('cq_idle', 30, 1, '{"k": 1}');
SELECT count(*) FROM pgmq.pop('cq_idle');
SELECT pgmq.delete('cq_idle', 10::bigint), pgmq.archive('cq_idle', 11::bigint);
SELECT count(*) FROM pgmq.delete('cq_idle', ARRAY[12]::bigint[]);
SELECT count(*) FROM pgmq.archive('cq_idle', ARRAY[13]::bigint[]);
SELECT count(*) FROM pgmq.set_vt('cq_idle', 14::bigint, 0);
SELECT count(*) FROM pgmq.set_vt('cq_idle', ARRAY[15]::bigint[], 0);
SELECT seq_scan, idx_scan >= 9 AS by_index
FROM pg_stat_xact_user_tables WHERE relid = 'pgmq.q_cq_idle'::regclass;
COMMIT;
SELECT pgmq.drop_queue('cq_idle');
