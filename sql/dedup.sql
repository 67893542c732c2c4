--
-- dedup: exactly-once sends.  A message whose headers carry
-- x-pgmq-dedup-id is stored at most once per queue within the queue's
-- dedup window; a repeat returns the original msg_id and inserts nothing.
-- Races between transactions: test/isolation/specs/dedup.spec.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- err(statement) is defined by install.sql.
-- What a queue holds: its messages' ids, bodies and dedup ids.
CREATE FUNCTION pg_temp.held(q text) RETURNS TABLE (msg_id bigint, message jsonb, dedup text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT msg_id, message, headers->>''x-pgmq-dedup-id'' FROM pgmq.%I ORDER BY msg_id',
        'q_' || lower(q));
END $$;

SELECT pgmq.create('dd'), pgmq.create('dd_other');

--
-- A repeat returns the original id and inserts nothing: with other
-- headers, another body, another spelling of the queue's name, or a delay.
--
SELECT * FROM pgmq.send('dd', '{"n": 1}', '{"x-pgmq-dedup-id": "a", "trace": "t1"}'::jsonb);
SELECT * FROM pgmq.send('dd', '{"n": 2}', '{"x-pgmq-dedup-id": "a"}'::jsonb);
SELECT * FROM pgmq.send('DD', '{"n": 3}', '{"x-pgmq-dedup-id": "a"}'::jsonb, 10);
SELECT * FROM pgmq.send('dd', '{"n": 4}', '{"x-pgmq-dedup-id": "a"}'::jsonb, now() + interval '1 hour');
-- without the header, or with another id, every send is a new message
SELECT * FROM pgmq.send('dd', '{"n": 5}', '{"trace": "t5"}'::jsonb);
SELECT * FROM pgmq.send('dd', '{"n": 6}');
SELECT * FROM pgmq.send('dd', '{"n": 7}', '{"x-pgmq-dedup-id": "A"}'::jsonb);
-- headers that are not an object carry no id
SELECT * FROM pgmq.send('dd', '{"n": 8}', '["x-pgmq-dedup-id", "a"]'::jsonb);
SELECT * FROM pg_temp.held('dd');

-- Ids are per queue: the same id in another queue is a message there.
SELECT * FROM pgmq.send('dd_other', '{"n": 1}', '{"x-pgmq-dedup-id": "a"}'::jsonb);
SELECT * FROM pgmq.send('dd_other', '{"n": 2}', '{"x-pgmq-dedup-id": "a"}'::jsonb);
SELECT * FROM pg_temp.held('dd_other');
SELECT queue_name, dedup_id, msg_id,
       expires_at BETWEEN now() + interval '4 minutes' AND clock_timestamp() + interval '5 minutes'
         AS default_window
FROM pgmq.dedup_keys ORDER BY 1, 2;

--
-- Batches: ids come back in input order; a repeat inside the batch gets
-- the first one's id, a repeat of an earlier send its id; messages
-- without an id (or with NULL headers) are inserted as usual.
--
SELECT * FROM pgmq.send_batch('dd',
    ARRAY['{"n": 10}', '{"n": 11}', '{"n": 12}', '{"n": 13}', '{"n": 14}', '{"n": 15}']::jsonb[],
    ARRAY['{"x-pgmq-dedup-id": "b"}', '{"x-pgmq-dedup-id": "b"}', '{"x-pgmq-dedup-id": "a"}',
          '{"trace": "t13"}', NULL, '{"x-pgmq-dedup-id": "c"}']::jsonb[]);
SELECT * FROM pgmq.send_batch('dd',
    ARRAY['{"n": 16}', '{"n": 17}']::jsonb[],
    ARRAY['{"x-pgmq-dedup-id": "c"}', '{"x-pgmq-dedup-id": "d"}']::jsonb[], 5);
-- a batch without any id takes the one-statement path
SELECT * FROM pgmq.send_batch('dd', ARRAY['{"n": 18}', '{"n": 19}']::jsonb[],
                              ARRAY['{"trace": "x"}', '{}']::jsonb[]);
SELECT * FROM pg_temp.held('dd') WHERE msg_id >= 9;

--
-- Bad ids are refused (22023) and change nothing; in a batch, nothing of
-- it is inserted, whichever message is bad.
--
SELECT pg_catalog.count(*) AS messages FROM pgmq.q_dd;
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": ""}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": 42}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": null}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": true}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": ["a"]}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": {"a": 1}}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', jsonb_build_object('x-pgmq-dedup-id', repeat('x', 257)))$$),
    ($$SELECT pgmq.send_batch('dd', ARRAY['{}', '{}', '{}']::jsonb[],
        ARRAY['{"x-pgmq-dedup-id": "new1"}', NULL, '{"x-pgmq-dedup-id": 7}']::jsonb[])$$),
    ($$SELECT pgmq.send_batch('dd', ARRAY['{}', '{}']::jsonb[],
        ARRAY['{"trace": 1}', '{"x-pgmq-dedup-id": ""}']::jsonb[])$$),
    ($$SELECT pgmq.send('dd_nope', '{}', '{"x-pgmq-dedup-id": "a"}'::jsonb)$$)
) AS t(stmt);
SELECT pg_catalog.count(*) AS messages FROM pgmq.q_dd;
SELECT pg_catalog.count(*) AS new1_keys FROM pgmq.dedup_keys WHERE dedup_id = 'new1';
-- 256 bytes is the limit (here 128 two-byte characters), inclusive
SELECT pgmq.send('dd', '{"n": 20}', jsonb_build_object('x-pgmq-dedup-id', repeat('é', 128)))
     = pgmq.send('dd', '{"n": 21}', jsonb_build_object('x-pgmq-dedup-id', repeat('é', 128)))
     AS same_id;

--
-- A repeat after the original was deleted, archived or purged still
-- returns the original id within the window: the id was sent, and the
-- message was dealt with.  (purge_queue keeps the keys for that reason.)
--
SELECT pgmq.delete('dd', 1::bigint), pgmq.archive('dd', 9::bigint);
SELECT * FROM pgmq.send('dd', '{"n": 30}', '{"x-pgmq-dedup-id": "a"}'::jsonb);
SELECT * FROM pgmq.send('dd', '{"n": 31}', '{"x-pgmq-dedup-id": "b"}'::jsonb);
SELECT msg_id FROM pgmq.q_dd WHERE msg_id IN (1, 9);

--
-- In a transaction: a repeat sees the transaction's own key; a rolled-back
-- send (or savepoint) leaves no key behind.
--
BEGIN;
SELECT * FROM pgmq.send('dd', '{"n": 40}', '{"x-pgmq-dedup-id": "tx"}'::jsonb) AS first \gset
SELECT pgmq.send('dd', '{"n": 41}', '{"x-pgmq-dedup-id": "tx"}'::jsonb) = :first AS same_in_tx;
SAVEPOINT s;
SELECT pgmq.send('dd', '{"n": 42}', '{"x-pgmq-dedup-id": "sp"}'::jsonb) > :first AS new_in_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT pgmq.send('dd', '{"n": 43}', '{"x-pgmq-dedup-id": "sp"}'::jsonb) > :first AS new_again;
ROLLBACK;
SELECT pg_catalog.count(*) AS keys_after_rollback FROM pgmq.dedup_keys WHERE dedup_id IN ('tx', 'sp');
SELECT pg_catalog.count(*) AS messages_after_rollback FROM pgmq.q_dd WHERE message->>'n' IN ('40', '41', '42', '43');

--
-- The window: the queue's dedup_window policy, 5 minutes when unset.  A
-- key past its window no longer counts: the next send inserts anew and
-- takes the key over.
--
SELECT pgmq.set_queue_policy('dd_other', dedup_window => '1 hour');
SELECT * FROM pgmq.send('dd_other', '{"n": 3}', '{"x-pgmq-dedup-id": "h"}'::jsonb);
SELECT dedup_id, expires_at BETWEEN now() + interval '59 minutes' AND clock_timestamp() + interval '1 hour'
         AS one_hour
FROM pgmq.dedup_keys WHERE queue_name = 'dd_other' ORDER BY 1;
-- a window that has passed (made so here, rather than waited for)
UPDATE pgmq.dedup_keys SET expires_at = clock_timestamp() - interval '1 second'
WHERE queue_name = 'dd_other' AND dedup_id = 'a';
SELECT * FROM pgmq.send('dd_other', '{"n": 4}', '{"x-pgmq-dedup-id": "a"}'::jsonb);
SELECT * FROM pgmq.send('dd_other', '{"n": 5}', '{"x-pgmq-dedup-id": "a"}'::jsonb);
-- in a batch too: an expired key is taken over once, its repeat gets that id
UPDATE pgmq.dedup_keys SET expires_at = clock_timestamp() - interval '1 second'
WHERE queue_name = 'dd_other' AND dedup_id = 'h';
SELECT * FROM pgmq.send_batch('dd_other', ARRAY['{"n": 5.1}', '{"n": 5.2}', '{"n": 5.3}']::jsonb[],
    ARRAY['{"x-pgmq-dedup-id": "h"}', '{"x-pgmq-dedup-id": "a"}', '{"x-pgmq-dedup-id": "h"}']::jsonb[]);
SELECT dedup_id, msg_id, expires_at > now() + interval '59 minutes' AS renewed
FROM pgmq.dedup_keys WHERE queue_name = 'dd_other' ORDER BY 1;
-- and a real wait: a 1 second window
SELECT pgmq.set_queue_policy('dd_other', dedup_window => '1 second');
SELECT * FROM pgmq.send('dd_other', '{"n": 6}', '{"x-pgmq-dedup-id": "s"}'::jsonb);
SELECT * FROM pgmq.send('dd_other', '{"n": 7}', '{"x-pgmq-dedup-id": "s"}'::jsonb);
SELECT pg_sleep(1.1);
SELECT * FROM pgmq.send('dd_other', '{"n": 8}', '{"x-pgmq-dedup-id": "s"}'::jsonb);
SELECT * FROM pg_temp.held('dd_other');

--
-- Expiry: run_maintenance() removes expired keys of every queue that has
-- some (dd has no policy at all), and only those.
--
UPDATE pgmq.dedup_keys SET expires_at = clock_timestamp() - interval '1 second'
WHERE queue_name = 'dd' AND dedup_id IN ('a', 'b', 'c');
SELECT pg_sleep(1.1);   -- dd_other's 's' expires too
SELECT queue_name, moved, expired, dedup_keys_expired, error FROM pgmq.run_maintenance();
SELECT queue_name, dedup_id FROM pgmq.dedup_keys ORDER BY 1, 2;
SELECT queue_name, dedup_keys_expired FROM pgmq.run_maintenance();
SELECT queue_name, dedup_keys_expired FROM pgmq.run_maintenance('dd');

--
-- send_topic and send_batch_topic go through the same path: each bound
-- queue keeps the id once.  send_topic counts the queues reached, repeats
-- included; send_batch_topic returns each queue's (original) ids.
--
SELECT pgmq.create('dd_t1'), pgmq.create('dd_t2');
SELECT pgmq.bind_topic('dd.*', 'dd_t1'), pgmq.bind_topic('dd.#', 'dd_t2');
SELECT pgmq.send_topic('dd.order', '{"n": 1}', '{"x-pgmq-dedup-id": "t"}'::jsonb, 0);
SELECT pgmq.send_topic('dd.order', '{"n": 2}', '{"x-pgmq-dedup-id": "t"}'::jsonb, 0);
SELECT * FROM pgmq.send_batch_topic('dd.order', ARRAY['{"n": 3}', '{"n": 4}']::jsonb[],
    ARRAY['{"x-pgmq-dedup-id": "t"}', '{"x-pgmq-dedup-id": "u"}']::jsonb[]) ORDER BY 1, 2;
SELECT * FROM pg_temp.held('dd_t1');
SELECT * FROM pg_temp.held('dd_t2');
SELECT pgmq.drop_queue('dd_t1'), pgmq.drop_queue('dd_t2');

--
-- Counters count only messages inserted (2 sends, 1 repeat).
--
SELECT pgmq.create('dd_count');
SELECT pgmq.stats_reset('dd_count');
SELECT * FROM pgmq.send('dd_count', '{}', '{"x-pgmq-dedup-id": "k"}'::jsonb);
SELECT * FROM pgmq.send('dd_count', '{}', '{"x-pgmq-dedup-id": "k"}'::jsonb);
SELECT * FROM pgmq.send_batch('dd_count', ARRAY['{}', '{}']::jsonb[],
                              ARRAY['{"x-pgmq-dedup-id": "k"}', '{"x-pgmq-dedup-id": "l"}']::jsonb[]);
SELECT queue_name, sent_total, visible FROM pgmq.queue_stats WHERE queue_name = 'dd_count';

--
-- Partitioned and unlogged queues.
--
SELECT pgmq.create_partitioned('dd_part', '10', '100');
SELECT pgmq.create_unlogged('dd_unlogged');
SELECT * FROM pgmq.send('dd_part', '{}', '{"x-pgmq-dedup-id": "p"}'::jsonb);
SELECT * FROM pgmq.send('dd_part', '{}', '{"x-pgmq-dedup-id": "p"}'::jsonb);
SELECT * FROM pgmq.send('dd_unlogged', '{}', '{"x-pgmq-dedup-id": "p"}'::jsonb);
SELECT * FROM pgmq.send('dd_unlogged', '{}', '{"x-pgmq-dedup-id": "p"}'::jsonb);
SELECT (SELECT count(*) FROM pgmq.q_dd_part) AS part, (SELECT count(*) FROM pgmq.q_dd_unlogged) AS unlogged;

--
-- Privileges: a producer needs INSERT on the queue table (and USAGE on
-- schema pgmq), nothing on pgmq.dedup_keys; without INSERT, even a repeat
-- is refused (42501), so nobody learns which ids were sent.
--
CREATE ROLE regress_pgmq_dedup_producer;
CREATE ROLE regress_pgmq_dedup_nobody;
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_dedup_producer, regress_pgmq_dedup_nobody;
GRANT INSERT ON pgmq.q_dd TO regress_pgmq_dedup_producer;
SET ROLE regress_pgmq_dedup_producer;
SELECT * FROM pgmq.send('dd', '{"n": 50}', '{"x-pgmq-dedup-id": "role"}'::jsonb);
SELECT * FROM pgmq.send('dd', '{"n": 51}', '{"x-pgmq-dedup-id": "role"}'::jsonb);
SELECT * FROM pgmq.send_batch('dd', ARRAY['{"n": 52}', '{"n": 53}', '{"n": 54}']::jsonb[],
                              ARRAY['{"x-pgmq-dedup-id": "role"}', '{"x-pgmq-dedup-id": "role2"}', NULL]::jsonb[]);
-- (a send without any id returns its ids through INSERT ... RETURNING,
-- which needs SELECT as well, as in pgmq)
SELECT public.err($$SELECT pgmq.send('dd', '{"n": 55}')$$) AS plain_send;
SELECT public.err($$SELECT * FROM pgmq.dedup_keys$$) AS read_keys;
RESET ROLE;
SET ROLE regress_pgmq_dedup_nobody;
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": "role"}'::jsonb)$$),
    ($$SELECT pgmq.send('dd', '{}', '{"x-pgmq-dedup-id": "fresh"}'::jsonb)$$),
    ($$SELECT pgmq.send_batch('dd', ARRAY['{}']::jsonb[], ARRAY['{"x-pgmq-dedup-id": "role"}']::jsonb[])$$)
) AS t(stmt);
RESET ROLE;
SELECT msg_id, message FROM pgmq.q_dd WHERE message->>'n' IN ('50', '51', '52', '53', '54', '55') ORDER BY 1;
SELECT dedup_id FROM pgmq.dedup_keys WHERE dedup_id IN ('role', 'role2', 'fresh') ORDER BY 1;

--
-- drop_queue removes the queue's keys: created again, it starts afresh.
--
SELECT pgmq.drop_queue('dd_other');
SELECT pg_catalog.count(*) AS dd_other_keys FROM pgmq.dedup_keys WHERE queue_name = 'dd_other';
SELECT pgmq.create('dd_other');
SELECT * FROM pgmq.send('dd_other', '{"n": 1}', '{"x-pgmq-dedup-id": "h"}'::jsonb);
-- A queue whose tables were dropped by hand left its keys; created again,
-- it starts without them all the same.
SELECT * FROM pgmq.send_batch('dd_other', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[]);
SELECT * FROM pgmq.send('dd_other', '{"n": 4}', '{"x-pgmq-dedup-id": "g"}'::jsonb);
DROP TABLE pgmq.q_dd_other, pgmq.a_dd_other;
DELETE FROM pgmq.meta WHERE queue_name = 'dd_other';
SELECT pg_catalog.count(*) AS left_behind FROM pgmq.dedup_keys WHERE queue_name = 'dd_other';
SELECT pgmq.create('dd_other');
SELECT pg_catalog.count(*) AS after_create FROM pgmq.dedup_keys WHERE queue_name = 'dd_other';
SELECT * FROM pgmq.send('dd_other', '{"n": 5}', '{"x-pgmq-dedup-id": "g"}'::jsonb);
-- purge_queue keeps them (see above)
SELECT pgmq.purge_queue('dd_count');
SELECT * FROM pgmq.send('dd_count', '{}', '{"x-pgmq-dedup-id": "k"}'::jsonb);

REVOKE ALL ON SCHEMA pgmq FROM regress_pgmq_dedup_producer, regress_pgmq_dedup_nobody;
SELECT pgmq.drop_queue(q) FROM unnest(ARRAY['dd', 'dd_other', 'dd_count', 'dd_part', 'dd_unlogged']) AS q;
DROP ROLE regress_pgmq_dedup_producer, regress_pgmq_dedup_nobody;
SELECT pg_catalog.count(*) AS keys_left FROM pgmq.dedup_keys;
