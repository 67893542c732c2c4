--
-- redrive: dead letters back to their source queue (pgmq.redrive), and
-- archived messages sent again as new ones (pgmq.replay).
--
-- A dead letter is what the dead-letter move writes into a dead-letter
-- queue: a new message keeping body and enqueued_at, whose headers add
-- x-pgmq-dlq-source, -msg-id, -read-ct and -at.  Here they are made by hand
-- with pgmq.send.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- err(statement) is defined by install.sql.
CREATE FUNCTION public.rd_dead_letter(dlq text, source text, orig_id bigint, body jsonb,
                                      extra jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE sql AS $$
    SELECT pgmq.send(dlq, body, extra || jsonb_build_object(
        'x-pgmq-dlq-source', source, 'x-pgmq-dlq-msg-id', orig_id,
        'x-pgmq-dlq-read-ct', 3, 'x-pgmq-dlq-at', '2026-01-01T00:00:00+00:00'))
$$;
-- A queue's messages as the tests look at them (no times, only facts).
CREATE FUNCTION public.rd_show(queue text)
RETURNS TABLE (msg_id bigint, read_ct integer, message jsonb, headers jsonb, visible boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT msg_id, read_ct, message, headers, vt <= clock_timestamp()'
        ' FROM pgmq.%I ORDER BY msg_id', 'q_' || queue);
END
$$;

--
-- 1. The basic redrive: every dead letter back to its source queue, as a
-- new message there: read_ct 0, visible, body and enqueued_at kept, the
-- x-pgmq-dlq-* headers gone (other headers kept) and x-pgmq-redriven-from
-- added.  The dead-letter queue is empty afterwards.
--
SELECT pgmq.create('rd_orders'), pgmq.create('rd_dlq');
SELECT * FROM pgmq.send('rd_orders', '{"order": 0}');
SELECT public.rd_dead_letter('rd_dlq', 'rd_orders', 11, '{"order": 1}', '{"trace": "t-1"}');
SELECT public.rd_dead_letter('rd_dlq', 'rd_orders', 12, '{"order": 2}');
SELECT public.rd_dead_letter('rd_dlq', 'rd_orders', 13, '{"order": 3}',
                             '{"x-pgmq-dlq-reason": "bad amount"}');
-- Dead letters were enqueued long ago, and someone looked at them in the
-- dead-letter queue (read_ct 1 there).
UPDATE pgmq.q_rd_dlq SET enqueued_at = '2020-01-01 00:00:00+00'::timestamptz + msg_id * interval '1 hour';
SELECT count(*) FROM pgmq.read('rd_dlq', 0, 10);
SELECT * FROM public.rd_show('rd_dlq');
SELECT pgmq.redrive('rd_dlq');
SELECT * FROM public.rd_show('rd_orders');
SELECT msg_id, enqueued_at, last_read_at FROM pgmq.q_rd_orders WHERE msg_id > 1 ORDER BY msg_id;
SELECT count(*) AS left_in_dlq FROM pgmq.q_rd_dlq;
-- Nothing to do: 0.
SELECT pgmq.redrive('rd_dlq');

--
-- 2. Oldest first, by the dead-letter queue's msg_id (not by enqueued_at,
-- nor by the source's name), up to max_messages; each source queue gets
-- its messages in that order, with increasing new ids.
--
SELECT pgmq.create('rd_b'), pgmq.create('rd_a'), pgmq.create('rd_dlq2');
SELECT public.rd_dead_letter('rd_dlq2', 'rd_b', 1, '{"n": 1}');
SELECT public.rd_dead_letter('rd_dlq2', 'rd_a', 1, '{"n": 2}');
SELECT public.rd_dead_letter('rd_dlq2', 'rd_b', 2, '{"n": 3}');
SELECT public.rd_dead_letter('rd_dlq2', 'rd_a', 2, '{"n": 4}');
SELECT public.rd_dead_letter('rd_dlq2', 'rd_b', 3, '{"n": 5}');
SELECT public.rd_dead_letter('rd_dlq2', 'rd_a', 3, '{"n": 6}');
-- The two oldest were enqueued last, and their rows now lie after the
-- others in the table (updated, with a new vt, so not in place), so neither
-- enqueued_at nor a table scan gives msg_id order.
UPDATE pgmq.q_rd_dlq2 SET enqueued_at = '2030-01-01', vt = vt - interval '1 hour'
WHERE message->>'n' IN ('1', '2');
SELECT pgmq.redrive('rd_dlq2', max_messages => 3);
SELECT msg_id, message FROM pgmq.q_rd_b ORDER BY msg_id;
SELECT msg_id, message FROM pgmq.q_rd_a ORDER BY msg_id;
SELECT message FROM pgmq.q_rd_dlq2 ORDER BY msg_id;
SELECT pgmq.redrive('rd_dlq2', NULL, 1);
SELECT pgmq.redrive('rd_dlq2', max_messages => 100);
SELECT msg_id, message FROM pgmq.q_rd_b ORDER BY msg_id;
SELECT msg_id, message FROM pgmq.q_rd_a ORDER BY msg_id;
SELECT count(*) AS left_in_dlq FROM pgmq.q_rd_dlq2;

--
-- 3. Dead letters that cannot go back stay, and a WARNING says how many
-- and why: the source queue no longer exists, there is no
-- x-pgmq-dlq-source header (or no headers at all), or the source is the
-- dead-letter queue itself.  A source named in another case is the same
-- queue (its tables are the same).
--
SELECT pgmq.create('rd_gone');
SELECT public.rd_dead_letter('rd_dlq', 'rd_gone', 1, '{"n": "gone"}');
SELECT pgmq.drop_queue('rd_gone');
SELECT public.rd_dead_letter('rd_dlq', repeat('rd_never_was_', 100), 1, '{"n": "never"}');
SELECT * FROM pgmq.send('rd_dlq', '{"n": "no headers"}');
SELECT * FROM pgmq.send('rd_dlq', '{"n": "other headers"}', '{"trace": "t-2"}'::jsonb);
SELECT * FROM pgmq.send('rd_dlq', '{"n": "array headers"}', '["x-pgmq-dlq-source", "rd_a"]'::jsonb);
SELECT * FROM pgmq.send('rd_dlq', '{"n": "numeric source"}', '{"x-pgmq-dlq-source": 7}'::jsonb);
SELECT public.rd_dead_letter('rd_dlq', 'rd_dlq', 1, '{"n": "itself"}');
SELECT public.rd_dead_letter('rd_dlq', 'RD_A', 4, '{"n": "case"}');
SELECT pgmq.redrive('rd_dlq');
SELECT msg_id, message, headers FROM pgmq.q_rd_a WHERE msg_id > 3 ORDER BY msg_id;
SELECT message FROM pgmq.q_rd_dlq ORDER BY msg_id;
-- Again: the same warning, nothing moves.
SELECT pgmq.redrive('rd_dlq');
-- A quiet redrive (client_min_messages above warning) still works.
SET client_min_messages = error;
SELECT pgmq.redrive('rd_dlq');
SET client_min_messages = warning;

--
-- 4. To a target queue: every dead letter moves there, with or without a
-- source header; headers that are not a JSON object are kept as they are.
--
SELECT pgmq.create('rd_inspect');
-- Oldest first here too (the two oldest rows moved to the table's end).
UPDATE pgmq.q_rd_dlq SET vt = vt - interval '1 hour' WHERE message->>'n' IN ('gone', 'never');
SELECT pgmq.redrive('rd_dlq', 'rd_inspect', 2);
SELECT message FROM pgmq.q_rd_inspect ORDER BY msg_id;
SELECT pgmq.redrive('rd_dlq', target_queue => 'rd_inspect');
SELECT * FROM public.rd_show('rd_inspect');
SELECT count(*) AS left_in_dlq FROM pgmq.q_rd_dlq;

--
-- 5. Only visible dead letters move: one leased by a reader of the
-- dead-letter queue (or sent with a delay) stays until it is visible.
--
SELECT public.rd_dead_letter('rd_dlq', 'rd_a', 5, '{"n": "leased"}');
SELECT public.rd_dead_letter('rd_dlq', 'rd_a', 6, '{"n": "free"}');
SELECT * FROM pgmq.send('rd_dlq', '{"n": "delayed"}', '{"x-pgmq-dlq-source": "rd_a"}'::jsonb, 3600);
SELECT message FROM pgmq.read('rd_dlq', 3600, 1);
SELECT pgmq.redrive('rd_dlq');
SELECT pgmq.redrive('rd_dlq', 'rd_inspect');
SELECT message FROM pgmq.q_rd_dlq ORDER BY msg_id;
SELECT message FROM pgmq.q_rd_a WHERE message->>'n' IN ('leased', 'free', 'delayed');
-- Once visible, it goes.
UPDATE pgmq.q_rd_dlq SET vt = now();
SELECT pgmq.redrive('rd_dlq');
SELECT message FROM pgmq.q_rd_a WHERE message->>'n' IN ('leased', 'free', 'delayed') ORDER BY msg_id;
SELECT count(*) AS left_in_dlq FROM pgmq.q_rd_dlq;

--
-- 6. Bad arguments: the SQLSTATE and message of each, and nothing changed.
--
SELECT public.rd_dead_letter('rd_dlq', 'rd_a', 7, '{"n": "stays"}');
CREATE TEMP TABLE rd_before AS
SELECT (SELECT count(*) FROM pgmq.q_rd_dlq) AS dlq, (SELECT count(*) FROM pgmq.q_rd_a) AS a,
       (SELECT count(*) FROM pgmq.q_rd_inspect) AS inspect;
SELECT c AS call, public.err(c) AS result
FROM unnest(ARRAY[
    'SELECT pgmq.redrive(NULL)',
    'SELECT pgmq.redrive('''')',
    'SELECT pgmq.redrive(''rd_dlq;'')',
    'SELECT pgmq.redrive(''rd_no_such_q'')',
    'SELECT pgmq.redrive(''rd_dlq'', ''rd_no_such_q'')',
    'SELECT pgmq.redrive(''rd_dlq'', '''')',
    'SELECT pgmq.redrive(''rd_dlq'', ''rd_dlq'')',
    'SELECT pgmq.redrive(''rd_dlq'', ''RD_DLQ'')',
    'SELECT pgmq.redrive(''rd_dlq'', NULL, 0)',
    'SELECT pgmq.redrive(''rd_dlq'', ''rd_inspect'', -1)',
    'SELECT pgmq.redrive(''rd_no_such_q'', NULL, 0)'
]) AS c;
SELECT (SELECT count(*) FROM pgmq.q_rd_dlq) AS dlq, (SELECT count(*) FROM pgmq.q_rd_a) AS a,
       (SELECT count(*) FROM pgmq.q_rd_inspect) AS inspect,
       (SELECT row(dlq, a, inspect) FROM rd_before) AS before;

--
-- 7. A failed call changes nothing: when the move to one target fails
-- (here a trigger refuses), the moves already made to other targets in the
-- same call are undone, and every dead letter is still in the dead-letter
-- queue, unchanged.
--
SELECT public.rd_dead_letter('rd_dlq', 'rd_b', 4, '{"n": "to b"}');
CREATE FUNCTION public.rd_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rd_b refuses %', NEW.message;
END
$$;
CREATE TRIGGER rd_refuse BEFORE INSERT ON pgmq.q_rd_b FOR EACH ROW EXECUTE FUNCTION public.rd_refuse();
CREATE TEMP TABLE rd_dlq_before AS SELECT * FROM pgmq.q_rd_dlq;
SELECT public.err('SELECT pgmq.redrive(''rd_dlq'')');
SELECT NOT EXISTS ((SELECT * FROM pgmq.q_rd_dlq EXCEPT SELECT * FROM rd_dlq_before)
                   UNION ALL (SELECT * FROM rd_dlq_before EXCEPT SELECT * FROM pgmq.q_rd_dlq)) AS dlq_unchanged,
       (SELECT count(*) FROM pgmq.q_rd_a) = (SELECT a FROM rd_before) AS rd_a_unchanged;
-- The same in a transaction that goes on: a savepoint undoes just the call.
BEGIN;
SAVEPOINT s;
SELECT pgmq.redrive('rd_dlq');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS in_dlq FROM pgmq.q_rd_dlq;
COMMIT;
DROP TRIGGER rd_refuse ON pgmq.q_rd_b;
SELECT pgmq.redrive('rd_dlq');
SELECT count(*) AS left_in_dlq FROM pgmq.q_rd_dlq;

--
-- 8. replay: archived messages whose archived_at is in [since, until) are
-- sent again as new messages, in their original msg_id order, with
-- x-pgmq-replay-of (a JSON number) added to their headers.  The archive
-- keeps its rows.
--
SELECT pgmq.create('rd_events'), pgmq.create('rd_copy');
SELECT * FROM pgmq.send_batch('rd_events',
    ARRAY['{"e": 1}', '{"e": 2}', '{"e": 3}', '{"e": 4}', '{"e": 5}']::jsonb[],
    ARRAY['{"trace": "t-1"}', NULL, '{"x-pgmq-replay-of": 99}', NULL, NULL]::jsonb[]);
-- Archived out of msg_id order: 3 first, then 1, 4, 2, 5, an hour apart
-- (so neither archived_at nor a table scan gives msg_id order).
SELECT pgmq.archive('rd_events', id) FROM unnest(ARRAY[3, 1, 4, 2, 5]::bigint[]) AS id;
UPDATE pgmq.a_rd_events SET archived_at = '2026-01-01 10:00:00+00'::timestamptz
    + (array_position(ARRAY[3, 1, 4, 2, 5], msg_id::int) - 1) * interval '1 hour';
SELECT msg_id, archived_at FROM pgmq.a_rd_events ORDER BY archived_at;
-- [11:00, 13:00): messages 1 and 4, in msg_id order.
SELECT pgmq.replay('rd_events', '2026-01-01 11:00:00+00', '2026-01-01 13:00:00+00');
SELECT * FROM public.rd_show('rd_events');
SELECT jsonb_typeof(headers->'x-pgmq-replay-of') AS replay_of_type
FROM pgmq.q_rd_events ORDER BY msg_id LIMIT 1;
SELECT count(*) AS archived FROM pgmq.a_rd_events;
-- To another queue, until now() by default: everything, in msg_id order;
-- a replayed message's earlier x-pgmq-replay-of is replaced.
SELECT pgmq.replay('rd_events', '-infinity', target_queue => 'rd_copy');
SELECT * FROM public.rd_show('rd_copy');
-- An empty window replays nothing; until is exclusive, since inclusive.
SELECT pgmq.replay('rd_events', '2026-01-01 12:00:00+00', '2026-01-01 12:00:00+00');
SELECT pgmq.replay('rd_events', '2026-01-01 12:00:00+00', '2026-01-01 12:00:00.000001+00');
SELECT pgmq.replay('rd_events', '2026-01-01 14:00:00.000001+00', 'infinity');
SELECT message, headers FROM pgmq.q_rd_events ORDER BY msg_id DESC LIMIT 1;
SELECT count(*) AS archived FROM pgmq.a_rd_events;

--
-- 9. replay's bad arguments, and nothing changed.
--
CREATE TEMP TABLE rd_replay_before AS
SELECT (SELECT count(*) FROM pgmq.q_rd_events) AS events, (SELECT count(*) FROM pgmq.q_rd_copy) AS copy;
SELECT c AS call, public.err(c) AS result
FROM unnest(ARRAY[
    'SELECT pgmq.replay(NULL, now())',
    'SELECT pgmq.replay(''rd_events'', NULL)',
    'SELECT pgmq.replay(''rd_events'', now(), NULL)',
    'SELECT pgmq.replay(''rd_events'', ''2026-01-02'', ''2026-01-01'')',
    'SELECT pgmq.replay(''rd_events'', ''infinity'')',
    'SELECT pgmq.replay(''rd_no_such_q'', ''-infinity'')',
    'SELECT pgmq.replay(''rd_events'', ''-infinity'', now(), ''rd_no_such_q'')',
    'SELECT pgmq.replay(''rd_events'', ''-infinity'', now(), '''')',
    'SELECT pgmq.replay(''rd_events'', ''-infinity'', now(), ''rd_copy$'')'
]) AS c;
-- A queue whose archive table is gone (dropped by hand).
SELECT pgmq.create('rd_noarchive');
DROP TABLE pgmq.a_rd_noarchive;
SELECT public.err('SELECT pgmq.replay(''rd_noarchive'', ''-infinity'')');
-- A replay that fails midway (the target refuses one message) sends none.
CREATE FUNCTION public.rd_refuse_e4() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.message = '{"e": 4}' THEN
        RAISE EXCEPTION 'refusing %', NEW.message;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER rd_refuse_e4 BEFORE INSERT ON pgmq.q_rd_copy FOR EACH ROW EXECUTE FUNCTION public.rd_refuse_e4();
SELECT public.err('SELECT pgmq.replay(''rd_events'', ''-infinity'', now(), ''rd_copy'')');
DROP TRIGGER rd_refuse_e4 ON pgmq.q_rd_copy;
SELECT (SELECT count(*) FROM pgmq.q_rd_events) AS events, (SELECT count(*) FROM pgmq.q_rd_copy) AS copy,
       (SELECT row(events, copy) FROM rd_replay_before) AS before,
       (SELECT count(*) FROM pgmq.a_rd_events) AS archived;

--
-- 10. Privileges: both run with the caller's rights.  redrive needs a
-- consumer's grants on the dead-letter queue (SELECT, UPDATE, DELETE) and
-- INSERT on each queue it moves to; replay needs SELECT on the archive and
-- INSERT on the queue it sends to.  Each grant is needed.
--
CREATE ROLE regress_rd_operator;
GRANT USAGE ON SCHEMA pgmq TO regress_rd_operator;
GRANT SELECT, UPDATE, DELETE ON pgmq.q_rd_dlq TO regress_rd_operator;
GRANT INSERT ON pgmq.q_rd_a TO regress_rd_operator;
GRANT SELECT ON pgmq.a_rd_events TO regress_rd_operator;
GRANT INSERT ON pgmq.q_rd_copy TO regress_rd_operator;
SELECT public.rd_dead_letter('rd_dlq', 'rd_a', 8, '{"n": "by operator"}');
SET ROLE regress_rd_operator;
SELECT pgmq.redrive('rd_dlq');
SELECT pgmq.replay('rd_events', '2026-01-01 10:00:00+00', '2026-01-01 11:00:00+00', 'rd_copy');
-- Not to a queue it may not insert into, nor from its archive.
SELECT public.err('SELECT pgmq.replay(''rd_events'', ''-infinity'')');
SELECT public.err('SELECT pgmq.replay(''rd_copy'', ''-infinity'', now(), ''rd_copy'')');
RESET ROLE;
SELECT message FROM pgmq.q_rd_a ORDER BY msg_id DESC LIMIT 1;
SELECT public.rd_dead_letter('rd_dlq', 'rd_a', 9, '{"n": "refused"}');
REVOKE INSERT ON pgmq.q_rd_a FROM regress_rd_operator;
SET ROLE regress_rd_operator;
SELECT public.err('SELECT pgmq.redrive(''rd_dlq'')');
RESET ROLE;
GRANT INSERT ON pgmq.q_rd_a TO regress_rd_operator;
REVOKE UPDATE ON pgmq.q_rd_dlq FROM regress_rd_operator;
SET ROLE regress_rd_operator;
SELECT public.err('SELECT pgmq.redrive(''rd_dlq'')');
RESET ROLE;
GRANT UPDATE ON pgmq.q_rd_dlq TO regress_rd_operator;
REVOKE DELETE ON pgmq.q_rd_dlq FROM regress_rd_operator;
SET ROLE regress_rd_operator;
SELECT public.err('SELECT pgmq.redrive(''rd_dlq'')');
RESET ROLE;
SELECT message FROM pgmq.q_rd_dlq;

--
-- 11. End to end: a dead letter made by a max_receives policy goes back to
-- its queue with a fresh read_ct, and is delivered there again.
--
SELECT pgmq.create('rd_pay'), pgmq.create('rd_pay_dlq');
SELECT pgmq.set_queue_policy('rd_pay', max_receives => 2, dead_letter_queue => 'rd_pay_dlq');
SELECT * FROM pgmq.send('rd_pay', '{"amount": "12,50"}', '{"trace": "t-4"}'::jsonb);
UPDATE pgmq.q_rd_pay SET enqueued_at = '2026-01-01 00:00:00+00';
SELECT msg_id, read_ct FROM pgmq.read('rd_pay', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('rd_pay', 0, 1);
-- The third read moves it to the dead-letter queue instead.
SELECT msg_id, read_ct FROM pgmq.read('rd_pay', 0, 1);
SELECT msg_id, read_ct, message, headers ?& ARRAY['x-pgmq-dlq-source', 'x-pgmq-dlq-msg-id',
       'x-pgmq-dlq-read-ct', 'x-pgmq-dlq-at', 'trace'] AS dlq_headers
FROM pgmq.q_rd_pay_dlq;
SELECT pgmq.redrive('rd_pay_dlq');
SELECT msg_id, read_ct, message, headers, enqueued_at = '2026-01-01 00:00:00+00' AS enqueued_at_kept
FROM pgmq.q_rd_pay;
SELECT msg_id, read_ct, message FROM pgmq.read('rd_pay', 0, 1);
SELECT count(*) AS left_in_dlq FROM pgmq.q_rd_pay_dlq;
SELECT pgmq.set_queue_policy('rd_pay');

--
-- 12. A caller's search_path changes nothing: functions and operators that
-- shadow the built-in ones (here found before pg_catalog) are not used.
--
CREATE SCHEMA rd_evil;
CREATE FUNCTION rd_evil.jsonb_build_object(text, text) RETURNS jsonb
    LANGUAGE sql AS $$ SELECT '{"evil": "build"}'::jsonb $$;
CREATE FUNCTION rd_evil.jsonb_typeof(jsonb) RETURNS text
    LANGUAGE sql AS $$ SELECT 'array' $$;
CREATE FUNCTION rd_evil.starts_with(text, text) RETURNS boolean
    LANGUAGE sql AS $$ SELECT false $$;
CREATE FUNCTION rd_evil.concat_jsonb(jsonb, jsonb) RETURNS jsonb
    LANGUAGE sql AS $$ SELECT '{"evil": "||"}'::jsonb $$;
CREATE OPERATOR rd_evil.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = rd_evil.concat_jsonb);
CREATE FUNCTION rd_evil.always(timestamptz, timestamptz) RETURNS boolean
    LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR rd_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = rd_evil.always);
CREATE OPERATOR rd_evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = rd_evil.always);
SELECT public.rd_dead_letter('rd_dlq', 'rd_a', 10, '{"n": "path"}', '{"trace": "t-3"}');
SELECT * FROM pgmq.send('rd_dlq', '{"n": "later"}', '{"x-pgmq-dlq-source": "rd_a"}'::jsonb, 3600);
SET search_path = rd_evil, pg_catalog, public;
-- Moves "path" and the one left over from 10 ("refused"), not "later".
SELECT pgmq.redrive('rd_dlq', max_messages => 5);
SELECT pgmq.replay('rd_events', '2026-01-01 10:00:00+00', '2026-01-01 11:00:00+00', 'rd_copy');
RESET search_path;
SELECT message, headers FROM pgmq.q_rd_a ORDER BY msg_id DESC LIMIT 2;
SELECT message, headers FROM pgmq.q_rd_copy ORDER BY msg_id DESC LIMIT 1;
SELECT message FROM pgmq.q_rd_dlq ORDER BY msg_id;
DROP SCHEMA rd_evil CASCADE;

--
-- Clean up.
--
DROP OWNED BY regress_rd_operator;
DROP ROLE regress_rd_operator;
SELECT pgmq.drop_queue(q)
FROM unnest(ARRAY['rd_orders', 'rd_dlq', 'rd_dlq2', 'rd_a', 'rd_b', 'rd_inspect', 'rd_events',
                  'rd_copy', 'rd_pay', 'rd_pay_dlq']) AS q;
DROP TABLE pgmq.q_rd_noarchive;
DELETE FROM pgmq.meta WHERE queue_name = 'rd_noarchive';
DROP FUNCTION public.rd_dead_letter(text, text, bigint, jsonb, jsonb), public.rd_show(text),
              public.rd_refuse(), public.rd_refuse_e4();
