--
-- fifo: message groups.  read_grouped (SQS FIFO fill), read_grouped_rr
-- (round-robin layers), read_grouped_head (heads only), their _with_poll
-- forms, and the group index.
--
-- A group is headers->>'x-pgmq-group', '_default_fifo_group' without one.
-- A group's head is its lowest msg_id in the queue; the group gives
-- messages only while its head is visible (nothing earlier in flight).
--
\set SHOW_CONTEXT never

SELECT pgmq.create('fifo_q');
-- A: 1 2 6   B: 3 4   default: 5
SELECT * FROM pgmq.send_batch('fifo_q',
    ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}', '{"n": 6}']::jsonb[],
    ARRAY['{"x-pgmq-group": "A"}', '{"x-pgmq-group": "A"}', '{"x-pgmq-group": "B"}',
          '{"x-pgmq-group": "B"}', NULL, '{"x-pgmq-group": "A"}']::jsonb[]);

-- read_grouped: the oldest group first, filled as far as it goes, then the next.
BEGIN;
SELECT msg_id, read_ct, message FROM pgmq.read_grouped('fifo_q', 30, 2);
-- A is in flight now: nothing of A, not even 6, until 1 and 2 are done.
SELECT msg_id, message FROM pgmq.read_grouped('fifo_q', 30, 10);
SELECT msg_id FROM pgmq.read_grouped('fifo_q', 30, 10);
ROLLBACK;

-- read_grouped_rr: heads of every group in head order, then second messages...
BEGIN;
SELECT msg_id, message FROM pgmq.read_grouped_rr('fifo_q', 30, 10);
ROLLBACK;
BEGIN;
SELECT msg_id FROM pgmq.read_grouped_rr('fifo_q', 30, 4);
SELECT msg_id FROM pgmq.read_grouped_rr('fifo_q', 30, 4);
ROLLBACK;

-- read_grouped_head: at most one message per group.
BEGIN;
SELECT msg_id FROM pgmq.read_grouped_head('fifo_q', 30, 2);
SELECT msg_id FROM pgmq.read_grouped_head('fifo_q', 30, 10);
ROLLBACK;

-- Acknowledging the head frees the group; vt = 0 leaves it free at once.
BEGIN;
SELECT msg_id FROM pgmq.read_grouped_head('fifo_q', 30, 1);
SELECT pgmq.delete('fifo_q', 1::bigint);
SELECT msg_id FROM pgmq.read_grouped_head('fifo_q', 30, 1);
SELECT msg_id FROM pgmq.read_grouped_head('fifo_q', 0, 10);
SELECT msg_id FROM pgmq.read_grouped_head('fifo_q', 0, 10);
ROLLBACK;

-- A delayed head holds back its group, as an in-flight one does.
SELECT pgmq.create('fifo_delay');
SELECT * FROM pgmq.send('fifo_delay', '{"n": 1}', '{"x-pgmq-group": "g"}', 3600);
SELECT * FROM pgmq.send('fifo_delay', '{"n": 2}', '{"x-pgmq-group": "g"}');
SELECT * FROM pgmq.send('fifo_delay', '{"n": 3}', '{"x-pgmq-group": "h"}');
SELECT msg_id FROM pgmq.read_grouped('fifo_delay', 30, 10);

-- An earlier message of a group back in view (set_vt) comes first again;
-- later ones still in flight are passed over, as in pgmq.
SELECT pgmq.create('fifo_back');
SELECT * FROM pgmq.send_batch('fifo_back', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
    ARRAY['{"x-pgmq-group": "g"}', '{"x-pgmq-group": "g"}', '{"x-pgmq-group": "g"}',
          '{"x-pgmq-group": "g"}']::jsonb[]);
SELECT msg_id FROM pgmq.read_grouped('fifo_back', 30, 3);
SELECT msg_id FROM pgmq.set_vt('fifo_back', 1::bigint, 0);
SELECT msg_id FROM pgmq.read_grouped('fifo_back', 30, 10);

-- Groups are case-sensitive text; a non-string group is its JSON text.
SELECT pgmq.create('fifo_keys');
SELECT * FROM pgmq.send_batch('fifo_keys', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
    ARRAY['{"x-pgmq-group": "a"}', '{"x-pgmq-group": "A"}', '{"x-pgmq-group": 7}',
          '{"x-pgmq-group": "7"}']::jsonb[]);
SELECT msg_id FROM pgmq.read_grouped_head('fifo_keys', 0, 10);

-- The group index: q_<name>_group_idx on (group, msg_id); again is a no-op.
SELECT pgmq.create_fifo_index('fifo_q');
SELECT pgmq._create_fifo_index_if_not_exists('fifo_q');
SELECT pgmq.create_fifo_indexes_all();
SELECT c.relname, pg_get_indexdef(c.oid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'pgmq.q_fifo_q'::regclass ORDER BY 1;
SELECT count(*) AS queues_with_group_index
FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace AND relname LIKE 'q\_%\_group\_idx';

-- With the index, the reads are the same.
BEGIN;
SELECT msg_id FROM pgmq.read_grouped('fifo_q', 30, 2);
SELECT msg_id FROM pgmq.read_grouped_rr('fifo_q', 30, 10);
ROLLBACK;

-- A busy group with a long backlog in front of the rest: the walk gives up
-- and the index finds the other groups' heads.
SELECT pgmq.create('fifo_long');
SELECT count(*) FROM pgmq.send_batch('fifo_long',
    (SELECT array_agg(jsonb_build_object('n', i)) FROM generate_series(1, 3000) i),
    (SELECT array_agg('{"x-pgmq-group": "busy"}'::jsonb) FROM generate_series(1, 3000) i));
SELECT * FROM pgmq.send('fifo_long', '{"n": "late"}', '{"x-pgmq-group": "other"}');
SELECT msg_id FROM pgmq.read_grouped_head('fifo_long', 60, 1);
SELECT msg_id, message FROM pgmq.read_grouped('fifo_long', 30, 5);
SELECT pgmq.create_fifo_index('fifo_long');
SELECT pgmq.set_vt('fifo_long', 3001::bigint, 0) IS NOT NULL AS back;
SELECT msg_id, message FROM pgmq.read_grouped_rr('fifo_long', 30, 5);

-- Partitioned and unlogged queues too.
SELECT pgmq.create_partitioned('fifo_part', '10', '100');
SELECT pgmq.create_unlogged('fifo_unl');
SELECT count(*) FROM pgmq.send_batch('fifo_part', ARRAY['{}', '{}', '{}', '{}', '{}']::jsonb[],
    ARRAY['{"x-pgmq-group": "x"}', '{"x-pgmq-group": "y"}', '{"x-pgmq-group": "x"}',
          '{"x-pgmq-group": "y"}', '{"x-pgmq-group": "z"}']::jsonb[]);
SELECT count(*) FROM pgmq.send_batch('fifo_unl', ARRAY['{}', '{}', '{}']::jsonb[],
    ARRAY['{"x-pgmq-group": "x"}', '{"x-pgmq-group": "x"}', '{"x-pgmq-group": "y"}']::jsonb[]);
SELECT pgmq.create_fifo_index('fifo_part');
SELECT msg_id FROM pgmq.read_grouped_rr('fifo_part', 30, 4);
SELECT msg_id FROM pgmq.read_grouped('fifo_unl', 30, 10);

-- max_receives: an exhausted head goes to the dead letters instead of out,
-- and its group moves on to the next message.
SELECT pgmq.create('fifo_dlq');
SELECT pgmq.set_queue_policy('fifo_dlq', max_receives => 2);
SELECT count(*) FROM pgmq.send_batch('fifo_dlq', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[],
    ARRAY['{"x-pgmq-group": "g"}', '{"x-pgmq-group": "g"}']::jsonb[]);
SELECT msg_id, read_ct FROM pgmq.read_grouped_head('fifo_dlq', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read_grouped_rr('fifo_dlq', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read_grouped('fifo_dlq', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read_grouped('fifo_dlq', 0, 1);
SELECT msg_id, read_ct, headers->>'x-pgmq-dlq-read-ct' AS dlq_read_ct FROM pgmq.a_fifo_dlq;
SELECT dead_lettered_total, read_total FROM pgmq.queue_stats WHERE queue_name = 'fifo_dlq';

-- _with_poll: returns at once when something is there, empty at the deadline.
SELECT msg_id FROM pgmq.read_grouped_head_with_poll('fifo_keys', 0, 2, 1, 10);
SELECT msg_id FROM pgmq.read_grouped_rr_with_poll('fifo_keys', 30, 3, 0);
SELECT msg_id FROM pgmq.read_grouped_with_poll('fifo_keys', 30, 10, 1);
SELECT msg_id FROM pgmq.read_grouped_with_poll('fifo_keys', 30, 10, 1);

-- Bad input: a clear error, and nothing read.
SELECT err($$SELECT pgmq.read_grouped(NULL, 30, 1)$$);
SELECT err($$SELECT pgmq.read_grouped('fifo_q', NULL, 1)$$);
SELECT err($$SELECT pgmq.read_grouped_rr('fifo_q', -1, 1)$$);
SELECT err($$SELECT pgmq.read_grouped_head('fifo_q', 30, 0)$$);
SELECT err($$SELECT pgmq.read_grouped('no_such_fifo', 30, 1)$$);
SELECT err($$SELECT pgmq.read_grouped_with_poll('fifo_q', 30, 1, -1)$$);
SELECT err($$SELECT pgmq.read_grouped_rr_with_poll('fifo_q', 30, 1, 1, NULL)$$);
SELECT err($$SELECT pgmq.create_fifo_index('no_such_fifo')$$);
SELECT err($$SELECT pgmq.create_fifo_index('bad;name')$$);
SELECT count(*) AS leased FROM pgmq.q_fifo_q WHERE read_ct > 0;

--
-- The rules, checked against a reference: pgmq's selection written as
-- plain SQL (no locking), compared with each read on random queues.
--
SELECT pgmq.create('fifo_rand');
CREATE FUNCTION fifo_ref_pick(mode text, qty int) RETURNS bigint[]
LANGUAGE sql AS $$
WITH m AS (
    SELECT msg_id, vt <= clock_timestamp() AS visible,
           COALESCE(headers->>'x-pgmq-group', '_default_fifo_group') AS grp
    FROM pgmq.q_fifo_rand),
heads AS (
    SELECT DISTINCT ON (grp) grp, msg_id AS head, visible FROM m ORDER BY grp, msg_id),
ranked AS (
    SELECT m.msg_id, dense_rank() OVER (ORDER BY h.head) AS prio,
           row_number() OVER (PARTITION BY m.grp ORDER BY m.msg_id) AS rnk
    FROM m JOIN heads h USING (grp)
    WHERE h.visible AND m.visible)
SELECT coalesce(array_agg(msg_id ORDER BY o), '{}') FROM (
    SELECT msg_id, row_number() OVER (ORDER BY
        CASE mode WHEN 'rr' THEN rnk ELSE prio END,
        CASE mode WHEN 'rr' THEN prio ELSE rnk END) AS o
    FROM ranked WHERE mode <> 'head' OR rnk = 1) s
WHERE o <= qty
$$;

-- rounds random queues of up to size messages over ngroups groups, a fifth
-- in flight or delayed, read with and without the group index by turns;
-- the number of reads that differ from the reference.
CREATE FUNCTION fifo_random_check(rounds int, size int, ngroups int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    mismatches int := 0;
    modes text[] := ARRAY['fill', 'rr', 'head'];
    mode text;
    qty int;
    expected bigint[];
    got bigint[];
BEGIN
    FOR round IN 1..rounds LOOP
        PERFORM pgmq.purge_queue('fifo_rand');
        PERFORM pgmq.send('fifo_rand', '{}',
                          CASE WHEN random() < 0.15 THEN NULL
                               ELSE jsonb_build_object('x-pgmq-group', 'g' || (random() * ngroups)::int) END)
        FROM generate_series(1, size / 2 + (random() * size / 2)::int);
        UPDATE pgmq.q_fifo_rand SET vt = clock_timestamp() + interval '1 hour' WHERE random() < 0.2;
        IF round % 2 = 0 THEN
            PERFORM pgmq.create_fifo_index('fifo_rand');
        ELSE
            DROP INDEX IF EXISTS pgmq.q_fifo_rand_group_idx;
        END IF;
        mode := modes[1 + round % 3];
        qty := 1 + (random() * 8)::int;
        expected := fifo_ref_pick(mode, qty);
        BEGIN
            got := CASE mode
                WHEN 'fill' THEN (SELECT coalesce(array_agg(msg_id), '{}') FROM pgmq.read_grouped('fifo_rand', 30, qty))
                WHEN 'rr' THEN (SELECT coalesce(array_agg(msg_id), '{}') FROM pgmq.read_grouped_rr('fifo_rand', 30, qty))
                ELSE (SELECT coalesce(array_agg(msg_id), '{}') FROM pgmq.read_grouped_head('fifo_rand', 30, qty)) END;
            RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
        IF got IS DISTINCT FROM expected THEN
            mismatches := mismatches + 1;
            RAISE NOTICE 'round % %(%): expected % got %', round, mode, qty, expected, got;
        END IF;
    END LOOP;
    RETURN mismatches;
END
$$;

SET client_min_messages = warning;
SELECT setseed(0.42);
-- small queues: the walk alone
SELECT fifo_random_check(150, 30, 5) AS mismatches;
-- queues longer than the walk's budget, few groups, heads often in flight:
-- the group index finds the heads the walk gave up on
SELECT fifo_random_check(24, 2600, 3) AS mismatches;
RESET client_min_messages;

DROP FUNCTION fifo_random_check(int, int, int);
DROP FUNCTION fifo_ref_pick(text, int);
SELECT pgmq.drop_queue(q) FROM unnest(ARRAY['fifo_q', 'fifo_delay', 'fifo_back', 'fifo_keys',
    'fifo_long', 'fifo_part', 'fifo_unl', 'fifo_rand', 'fifo_dlq']) q;
