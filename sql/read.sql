--
-- read: read, read_with_poll, pop.
--
-- A read at clock time c sets vt = c + vt seconds and last_read_at = c.
-- Inside one transaction now() <= c <= clock_timestamp().
--
\set SHOW_CONTEXT never

SELECT pgmq.create('r_q');
SELECT * FROM pgmq.send_batch('r_q', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[]);

--
-- read(queue_name, vt, qty): the oldest visible messages, by msg_id
--
BEGIN;
CREATE TEMP TABLE got AS SELECT * FROM pgmq.read('r_q', 30, 2);
SELECT msg_id, read_ct, message, headers,
       last_read_at BETWEEN now() AND clock_timestamp() AS read_now,
       vt BETWEEN now() + interval '30 seconds' AND clock_timestamp() + interval '30 seconds' AS vt_in_30s,
       enqueued_at < now() AS enqueued_before
FROM got ORDER BY msg_id;
-- the table agrees with what read returned
SELECT q.msg_id, q.read_ct = g.read_ct AS same_read_ct, q.vt = g.vt AS same_vt,
       q.last_read_at = g.last_read_at AS same_last_read_at
FROM pgmq.q_r_q q JOIN got g USING (msg_id) ORDER BY msg_id;
COMMIT;
DROP TABLE got;
-- the two leased messages are invisible now; the next read gets the rest
SELECT msg_id, read_ct, message FROM pgmq.read('r_q', 30, 10);
SELECT msg_id, read_ct, message FROM pgmq.read('r_q', 30, 10);
-- named arguments
SELECT msg_id FROM pgmq.read(queue_name => 'r_q', vt => 30, qty => 1);

--
-- vt = 0 leaves the message visible at once; each read counts.
--
SELECT count(*) AS reset FROM pgmq.set_vt('r_q', ARRAY[1, 2, 3, 4, 5]::bigint[], 0);
SELECT msg_id, read_ct, vt <= clock_timestamp() AS visible FROM pgmq.read('r_q', 0, 1);
SELECT msg_id, read_ct, vt <= clock_timestamp() AS visible FROM pgmq.read('r_q', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('r_q', 0, 3);

--
-- Order is by msg_id, not by vt: message 4 became visible first.
--
SELECT msg_id FROM pgmq.set_vt('r_q', ARRAY[1, 2, 3, 5]::bigint[], '2000-01-02 00:00:00+00'::timestamptz);
SELECT msg_id FROM pgmq.set_vt('r_q', 4, '2000-01-01 00:00:00+00'::timestamptz);
SELECT msg_id, read_ct FROM pgmq.read('r_q', 30, 5);
-- qty larger than what is visible returns what there is; nothing visible: no rows
SELECT msg_id FROM pgmq.read('r_q', 30, 100);

--
-- conditional: message @> conditional; '{}' and NULL mean everything.
--
SELECT pgmq.create('r_cond');
SELECT * FROM pgmq.send_batch('r_cond', ARRAY[
    '{"type": "a", "n": 1}',
    '{"type": "b", "n": 2}',
    '{"type": "a", "n": 3, "meta": {"prio": "high", "tags": ["x", "y"]}}',
    '{"type": "c", "n": 4}',
    '{"type": "a", "n": 5, "meta": {"prio": "low"}}']::jsonb[]);
SELECT msg_id, message FROM pgmq.read('r_cond', 0, 10, '{"type": "a"}');
SELECT msg_id, message FROM pgmq.read('r_cond', 0, 10, '{"meta": {"prio": "high"}}');
SELECT msg_id, message FROM pgmq.read('r_cond', 0, 10, '{"meta": {"tags": ["y"]}}');
SELECT msg_id, message FROM pgmq.read('r_cond', 0, 10, '{"type": "a", "n": 5}');
SELECT msg_id, message FROM pgmq.read('r_cond', 0, 10, '{"type": "zzz"}');
SELECT msg_id, message FROM pgmq.read('r_cond', 0, 1, '{"type": "a"}');
-- qty applies after the condition: the first 2 of type a
SELECT msg_id FROM pgmq.read('r_cond', 0, 2, '{"type": "a"}');
SELECT msg_id FROM pgmq.read('r_cond', 0, 10, '{}');
SELECT msg_id FROM pgmq.read('r_cond', 0, 10, NULL);
SELECT msg_id FROM pgmq.read(queue_name => 'r_cond', vt => 0, qty => 10, conditional => '{"type": "b"}');
-- a conditional read leases only what it returns
SELECT msg_id FROM pgmq.read('r_cond', 30, 10, '{"type": "a"}');
SELECT msg_id FROM pgmq.read('r_cond', 30, 10);
SELECT msg_id, read_ct FROM pgmq.q_r_cond ORDER BY msg_id;
SELECT pgmq.drop_queue('r_cond');

--
-- A transaction reads its own uncommitted sends.
--
BEGIN;
SELECT * FROM pgmq.send('r_q', '{"own": "send"}');
SELECT msg_id, read_ct, message FROM pgmq.read('r_q', 30, 5);
ROLLBACK;

--
-- read_with_poll
--
-- How long it takes is the behaviour under test here (at once when there is
-- a message, at the deadline when there is none), so these checks look at
-- the clock.  Each bound sits far from what a correct call takes and close
-- only to what a broken one would take: a call that must return at once
-- gets a 60 second deadline and must be done within 30; one that runs with
-- the 5 second default, or must give up after 0 or 1 second, must be done
-- within 4, before that default deadline.  Only a machine stalled for
-- seconds fails them, not a slow one.
SELECT pgmq.purge_queue('r_q');
SELECT * FROM pgmq.send_batch('r_q', ARRAY['{"p": 1}', '{"p": 2}', '{"p": 3}']::jsonb[]);
-- messages are there: it returns at once, with at most qty of them
SELECT count(*) AS got, array_agg(msg_id ORDER BY msg_id) AS ids, bool_and(read_ct = 1) AS read_once,
       clock_timestamp() - statement_timestamp() < interval '30 seconds' AS returned_at_once
FROM pgmq.read_with_poll('r_q', 30, 2, 60, 100);
-- the defaults (max_poll_seconds 5, poll_interval_ms 100): the rest, at once
SELECT count(*) AS got, clock_timestamp() - statement_timestamp() < interval '4 seconds' AS returned_at_once
FROM pgmq.read_with_poll('r_q', 30, 10);
-- nothing visible: it waits max_poll_seconds, then returns no rows
SELECT count(*) AS got,
       clock_timestamp() - statement_timestamp() >= interval '1 second' AS waited,
       clock_timestamp() - statement_timestamp() < interval '4 seconds' AS not_too_long
FROM pgmq.read_with_poll('r_q', 30, 1, 1, 50);
-- max_poll_seconds = 0 still makes one attempt, and does not wait
SELECT count(*) AS got,
       clock_timestamp() - statement_timestamp() < interval '4 seconds' AS returned_at_once
FROM pgmq.read_with_poll('r_q', 30, 1, 0, 100);
SELECT * FROM pgmq.send('r_q', '{"p": 4}');
SELECT msg_id, read_ct, message FROM pgmq.read_with_poll('r_q', 30, 1, 0, 100);
-- a message that becomes visible while it waits is returned then (after
-- its 1 second delay, long before the 60 second deadline)
SELECT * FROM pgmq.send('r_q', '{"p": 5}', 1);
SELECT msg_id, message,
       clock_timestamp() - statement_timestamp() < interval '30 seconds' AS before_the_deadline
FROM pgmq.read_with_poll('r_q', 30, 5, 60, 50);
-- the conditional: a non-matching message does not end the wait
SELECT * FROM pgmq.send_batch('r_q', ARRAY['{"kind": "other"}', '{"kind": "wanted"}']::jsonb[]);
SELECT msg_id, message FROM pgmq.read_with_poll('r_q', 30, 5, 1, 50, '{"kind": "wanted"}');
SELECT count(*) AS got,
       clock_timestamp() - statement_timestamp() >= interval '1 second' AS waited
FROM pgmq.read_with_poll('r_q', 30, 5, 1, 50, '{"kind": "wanted"}');
SELECT msg_id, message
FROM pgmq.read_with_poll(queue_name => 'r_q', vt => 30, qty => 5, max_poll_seconds => 1,
                         poll_interval_ms => 10, conditional => '{}');
-- the wait can be cancelled, here by statement_timeout
SET statement_timeout = '300ms';
SELECT * FROM pgmq.read_with_poll('r_q', 30, 1, 60, 100, '{"never": true}');
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT count(*) AS queued FROM pgmq.q_r_q;

--
-- pop: reads and deletes; read_ct is not incremented.
--
SELECT pgmq.purge_queue('r_q');
SELECT * FROM pgmq.send_batch('r_q', ARRAY['{"o": 1}', '{"o": 2}', '{"o": 3}', '{"o": 4}']::jsonb[],
                              ARRAY['{"h": 1}', '{"h": 2}', '{"h": 3}', '{"h": 4}']::jsonb[]);
BEGIN;
CREATE TEMP TABLE before_pop AS SELECT * FROM pgmq.q_r_q;
CREATE TEMP TABLE popped AS SELECT * FROM pgmq.pop('r_q');
SELECT msg_id, read_ct, last_read_at, message, headers FROM popped;
-- the row comes back exactly as it was stored
SELECT row(p.*)::text = row(b.*)::text AS unchanged FROM popped p JOIN before_pop b USING (msg_id);
COMMIT;
DROP TABLE before_pop, popped;
SELECT msg_id, read_ct, message FROM pgmq.pop('r_q', 2);
SELECT msg_id FROM pgmq.q_r_q;
-- pop skips messages that are not visible
SELECT msg_id, read_ct FROM pgmq.read('r_q', 30, 1);
SELECT * FROM pgmq.send('r_q', '{"o": 5}');
SELECT msg_id, read_ct, message FROM pgmq.pop('r_q', 10);
SELECT msg_id, read_ct FROM pgmq.q_r_q;
-- a read message popped after it becomes visible keeps its read_ct
SELECT msg_id FROM pgmq.set_vt('r_q', 17, 0);
SELECT msg_id, read_ct, message FROM pgmq.pop(queue_name => 'r_q');
SELECT msg_id, read_ct FROM pgmq.pop('r_q');
-- pop in a transaction that rolls back: the message is still there
SELECT * FROM pgmq.send('r_q', '{"o": 6}');
BEGIN;
SELECT msg_id FROM pgmq.pop('r_q');
ROLLBACK;
SELECT msg_id, read_ct, message FROM pgmq.q_r_q;

SELECT pgmq.drop_queue('r_q');
