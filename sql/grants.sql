--
-- grants: pgmq.grant_queue and pgmq.revoke_queue give a role what a
-- producer ('send'), a consumer ('consume': read, pop, set_vt, delete,
-- archive, dead-letter moves) or both with metrics ('all') need on one
-- queue, and nothing more: a producer never sees a message body.  Each
-- role's calls are run as that role; every refusal is 42501.
--
-- Roles are cluster-wide: all are named regress_pgmq_* and dropped at the end.
--
\set SHOW_CONTEXT never

-- err(statement) is defined by install.sql.

CREATE ROLE regress_pgmq_g_send;
CREATE ROLE regress_pgmq_g_consume;
CREATE ROLE regress_pgmq_g_all;
CREATE ROLE regress_pgmq_g_none;
CREATE ROLE regress_pgmq_g_owner;

SELECT pgmq.create('g_q');
SELECT pgmq.create('g_dlq');
SELECT pgmq.set_queue_policy('g_q', max_receives => 2, dead_letter_queue => 'g_dlq');
SELECT pgmq.bind_topic('g.*', 'g_q');
SELECT pgmq.create_partitioned('g_part', '1000', '10000');

SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_send', 'send');
SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_consume', 'consume');
SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_all', 'ALL');
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_g_none;

-- Every kind of call; %1$s is the id of a message in the queue.
CREATE TEMP TABLE g_calls (ord serial, fn text, stmt text);
INSERT INTO g_calls (fn, stmt) VALUES
    ('send', $$SELECT pgmq.send('g_q', '{"by": "call"}')$$),
    ('send_batch', $$SELECT pgmq.send_batch('g_q', ARRAY['{"by": "call"}']::jsonb[])$$),
    ('send_topic', $$SELECT pgmq.send_topic('g.new', '{"by": "topic"}')$$),
    ('send (dedup)', $$SELECT pgmq.send('g_q', '{"by": "dedup"}', jsonb_build_object('x-pgmq-dedup-id', current_user))$$),
    ('SELECT message', $$SELECT message FROM pgmq.q_g_q$$),
    ('read', $$SELECT pgmq.read('g_q', 0, 1)$$),
    ('set_vt', $$SELECT pgmq.set_vt('g_q', %1$s, 0)$$),
    ('pop', $$SELECT pgmq.pop('g_q')$$),
    ('delete', $$SELECT pgmq.delete('g_q', %1$s::bigint)$$),
    ('archive', $$SELECT pgmq.archive('g_q', %1$s::bigint)$$),
    ('metrics', $$SELECT pgmq.metrics('g_q')$$),
    ('purge_queue', $$SELECT pgmq.purge_queue('g_q')$$),
    ('drop_queue', $$SELECT pgmq.drop_queue('g_q')$$),
    ('create', $$SELECT pgmq.create('g_q_new')$$),
    ('set_queue_policy', $$SELECT pgmq.set_queue_policy('g_q', max_receives => 5)$$),
    ('grant_queue', $$SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_none', 'all')$$),
    ('read_grouped', $$SELECT pgmq.read_grouped('g_q', 0, 1)$$),
    ('create_fifo_index', $$SELECT pgmq.create_fifo_index('g_q')$$),
    ('enable_notify_insert', $$SELECT pgmq.enable_notify_insert('g_q', 0)$$),
    ('bind_topic', $$SELECT pgmq.bind_topic('g.*', 'g_q')$$),
    ('run_maintenance', $$SELECT pgmq.run_maintenance('g_q')$$),
    ('redrive', $$SELECT pgmq.redrive('g_dlq')$$),
    ('replay', $$SELECT pgmq.replay('g_q', '2000-01-01', '2100-01-01')$$);
GRANT SELECT ON g_calls TO PUBLIC;

-- as the current role: each call with a fresh message (sent by the owner
-- beforehand) and what came of it
CREATE FUNCTION pg_temp.calls_as_me(ids bigint[])
RETURNS TABLE (fn text, outcome text) LANGUAGE sql AS $$
    SELECT c.fn, err(format(c.stmt, ids[c.ord])) FROM g_calls c ORDER BY c.ord
$$;

-- one message per call, so no call finds its message gone
CREATE TEMP TABLE g_ids AS
    SELECT array_agg(id ORDER BY id) AS ids
    FROM pgmq.send_batch('g_q', array_fill('{"by": "owner"}'::jsonb, ARRAY[24])) AS id;
GRANT SELECT ON g_ids TO PUBLIC;

SET ROLE regress_pgmq_g_send;
SELECT * FROM pg_temp.calls_as_me((SELECT ids FROM g_ids));
RESET ROLE;
SET ROLE regress_pgmq_g_consume;
SELECT * FROM pg_temp.calls_as_me((SELECT ids FROM g_ids));
RESET ROLE;
SET ROLE regress_pgmq_g_none;
SELECT * FROM pg_temp.calls_as_me((SELECT ids FROM g_ids));
RESET ROLE;
SET ROLE regress_pgmq_g_all;
SELECT fn, outcome FROM pg_temp.calls_as_me((SELECT ids FROM g_ids))
WHERE fn NOT IN ('purge_queue', 'drop_queue', 'create', 'set_queue_policy', 'grant_queue');
RESET ROLE;

-- A consumer's read moves an exhausted message to the dead-letter queue,
-- whose table it may only insert into.
SELECT pgmq.purge_queue('g_q') >= 0 AS purged;
SELECT pgmq.send('g_q', '{"exhausted": true}') > 0 AS sent;
SELECT count(*) FROM pgmq.read('g_q', 0, 1);
SET ROLE regress_pgmq_g_consume;
SELECT count(*) AS read_twice FROM pgmq.read('g_q', 0, 1);
SELECT count(*) AS read_thrice FROM pgmq.read('g_q', 0, 1);
SELECT err($$SELECT count(*) FROM pgmq.q_g_dlq$$) AS dead_letters_unreadable;
RESET ROLE;
SELECT message, headers->>'x-pgmq-dlq-source' AS source FROM pgmq.q_g_dlq;

-- Partitioned queues: grants on the parent tables are enough.
SELECT pgmq.grant_queue('g_part', 'regress_pgmq_g_send', 'send');
SELECT pgmq.grant_queue('g_part', 'regress_pgmq_g_consume', 'consume');
SET ROLE regress_pgmq_g_send;
SELECT pgmq.send('g_part', '{"p": 1}') > 0 AS sent;
SELECT err($$SELECT pgmq.read('g_part', 30, 1)$$) AS producer_reads;
RESET ROLE;
SET ROLE regress_pgmq_g_consume;
SELECT msg_id > 0 AS read, message FROM pgmq.read('g_part', 30, 1);
SELECT pgmq.archive('g_part', (SELECT max(msg_id) FROM pgmq.q_g_part)) AS archived;
RESET ROLE;
SELECT count(*) AS archived_rows FROM pgmq.a_g_part;

-- revoke_queue takes back what grant_queue gave on the queue's tables.
SELECT pgmq.revoke_queue('g_q', 'regress_pgmq_g_send', 'send');
SET ROLE regress_pgmq_g_send;
SELECT err($$SELECT pgmq.send('g_q', '{}')$$) AS send_after_revoke;
RESET ROLE;
-- revoking 'consume' from a role with 'all' leaves it a producer
SELECT pgmq.revoke_queue('g_q', 'regress_pgmq_g_all', 'consume');
SET ROLE regress_pgmq_g_all;
SELECT err($$SELECT pgmq.send('g_q', '{}')$$) AS still_sends,
       err($$SELECT pgmq.read('g_q', 30, 1)$$) AS reads,
       err($$SELECT pgmq.delete('g_q', 1::bigint)$$) AS deletes;
RESET ROLE;
SELECT pgmq.revoke_queue('g_q', 'regress_pgmq_g_all', 'all');
SELECT pgmq.revoke_queue('g_q', 'regress_pgmq_g_consume', 'consume');
SELECT count(*) AS grants_left
FROM information_schema.role_table_grants
WHERE table_schema = 'pgmq' AND table_name IN ('q_g_q', 'a_g_q')
  AND grantee LIKE 'regress\_pgmq\_g\_%';
SELECT count(*) AS column_grants_left
FROM information_schema.column_privileges
WHERE table_schema = 'pgmq' AND table_name IN ('q_g_q', 'a_g_q')
  AND grantee LIKE 'regress\_pgmq\_g\_%';

-- A queue owner who does not own schema pgmq: it may grant on its queue,
-- not USAGE on the schema (an error naming what to ask for), and not
-- SELECT on pgmq.topic_bindings (a notice: only topic sends need it).
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_g_owner;
ALTER TABLE pgmq.q_g_q OWNER TO regress_pgmq_g_owner;
ALTER TABLE pgmq.a_g_q OWNER TO regress_pgmq_g_owner;
CREATE ROLE regress_pgmq_g_late;
SET ROLE regress_pgmq_g_owner;
SELECT err($$SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_late', 'send')$$) AS no_schema_usage;
RESET ROLE;
GRANT USAGE ON SCHEMA pgmq TO regress_pgmq_g_late;
SET ROLE regress_pgmq_g_owner;
SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_late', 'send');
RESET ROLE;
SET ROLE regress_pgmq_g_late;
SELECT pgmq.send('g_q', '{"late": true}') > 0 AS sent;
SELECT err($$SELECT pgmq.send_topic('g.late', '{}')$$) AS topic_send;
RESET ROLE;

-- Bad input: an error, and nothing granted.
SELECT err($$SELECT pgmq.grant_queue('g_nope', 'regress_pgmq_g_none', 'send')$$) AS unknown_queue;
SELECT err($$SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_nope', 'send')$$) AS unknown_role;
SELECT err($$SELECT pgmq.grant_queue('g_q', 'regress_pgmq_g_none', 'read')$$) AS bad_access;
SELECT err($$SELECT pgmq.grant_queue(NULL, 'regress_pgmq_g_none', 'send')$$) AS null_queue,
       err($$SELECT pgmq.grant_queue('g_q', NULL, 'send')$$) AS null_role,
       err($$SELECT pgmq.revoke_queue('g_q', 'regress_pgmq_g_none', NULL)$$) AS null_access;
SELECT has_table_privilege('regress_pgmq_g_none', 'pgmq.q_g_q', 'INSERT') AS none_may_insert;

SELECT pgmq.drop_queue('g_q');
SELECT pgmq.drop_queue('g_dlq');
SELECT pgmq.drop_queue('g_part');
DROP OWNED BY regress_pgmq_g_send, regress_pgmq_g_consume, regress_pgmq_g_all,
              regress_pgmq_g_none, regress_pgmq_g_owner, regress_pgmq_g_late;
DROP ROLE regress_pgmq_g_send, regress_pgmq_g_consume, regress_pgmq_g_all,
          regress_pgmq_g_none, regress_pgmq_g_owner, regress_pgmq_g_late;
