--
-- notify: pgmq's insert notifications (enable_notify_insert and the
-- functions around it).  What arrives on the channel is checked by the
-- isolation spec notify.spec (psql would print backend pids here); this
-- file checks the settings, the trigger they make and every error.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT pgmq.create('nt_orders'), pgmq.create('Nt_Mixed');

--
-- 1. Errors, in pgmq's words where pgmq has them; nothing changes.
--
SELECT public.err(s) FROM (VALUES
    ($$SELECT pgmq.enable_notify_insert('nt_nope')$$),
    ($$SELECT pgmq.enable_notify_insert('nt_orders', -1)$$),
    ($$SELECT pgmq.enable_notify_insert('nt_orders', NULL)$$),
    ($$SELECT pgmq.enable_notify_insert(NULL)$$),
    ($$SELECT pgmq.enable_notify_insert('nt;orders')$$),
    ($$SELECT pgmq.enable_notify_insert('NT_ORDERS')$$),
    ($$SELECT pgmq.update_notify_insert('nt_nope', 10)$$),
    ($$SELECT pgmq.update_notify_insert('nt_orders', 10)$$),
    ($$SELECT pgmq.update_notify_insert('nt_orders', -5)$$),
    ($$SELECT pgmq.disable_notify_insert('nt_nope')$$),
    ($$SELECT pgmq.notify_queue_listeners()$$)
) AS t(s);
SELECT count(*) AS throttles FROM pgmq.notify_insert_throttle;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname = 'trigger_notify_queue_insert_listeners';

--
-- 2. enable: a row of settings and one statement-level AFTER INSERT
-- trigger carrying the name as given and the interval.  The default
-- interval is pgmq's 250 ms; last_notified_at starts at the epoch.
--
SELECT pgmq.enable_notify_insert('nt_orders');
SELECT pgmq.enable_notify_insert('Nt_Mixed', 0);
SELECT * FROM pgmq.list_notify_insert_throttles();
SELECT tgrelid::regclass, tgname, pg_get_triggerdef(oid) AS definition
FROM pg_trigger WHERE tgname = 'trigger_notify_queue_insert_listeners' ORDER BY 1;

-- Enabling again replaces the settings (and the trigger): still one of each.
SELECT pgmq.enable_notify_insert('nt_orders', 100);
SELECT queue_name, throttle_interval_ms FROM pgmq.list_notify_insert_throttles();
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname = 'trigger_notify_queue_insert_listeners';

--
-- 3. update: a new interval, the same trigger made again with it.
--
SELECT pgmq.update_notify_insert('nt_orders', 1000);
SELECT queue_name, throttle_interval_ms FROM pgmq.list_notify_insert_throttles();
SELECT pg_get_triggerdef(oid) AS definition FROM pg_trigger
WHERE tgname = 'trigger_notify_queue_insert_listeners' AND tgrelid = 'pgmq.q_nt_orders'::regclass;

--
-- 4. Sending through the trigger: sends, batches and plain INSERTs work
-- and record a notification time (shared memory, shown by the list).
--
SELECT * FROM pgmq.send('nt_orders', '{"n": 1}');
SELECT count(*) FROM pgmq.send_batch('nt_orders', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[]);
INSERT INTO pgmq.q_nt_orders (vt, message) VALUES (now(), '{"n": 4}');
SELECT queue_name, last_notified_at > now() - interval '1 minute' AS notified_lately
FROM pgmq.list_notify_insert_throttles() WHERE queue_name = 'nt_orders';
SELECT count(*) AS messages FROM pgmq.q_nt_orders;

-- The trigger function refuses to be anything but an AFTER INSERT trigger.
CREATE TABLE public.nt_other (id int);
CREATE TRIGGER nt_wrong BEFORE INSERT ON public.nt_other
    FOR EACH ROW EXECUTE FUNCTION pgmq.notify_queue_listeners();
SELECT public.err($$INSERT INTO public.nt_other VALUES (1)$$);
DROP TABLE public.nt_other;

--
-- 5. Only the queue's owner may enable (it makes a trigger on the table),
-- as with pgmq; a producer still sends through the trigger.
--
CREATE ROLE regress_nt_producer;
GRANT USAGE ON SCHEMA pgmq TO regress_nt_producer;
GRANT SELECT, INSERT ON pgmq.q_nt_orders TO regress_nt_producer;
GRANT SELECT ON pgmq.meta TO regress_nt_producer;
GRANT SELECT, INSERT, UPDATE ON pgmq.notify_insert_throttle TO regress_nt_producer;
SET ROLE regress_nt_producer;
SELECT public.err($$SELECT pgmq.enable_notify_insert('nt_orders', 5)$$);
SELECT count(*) AS sent FROM pgmq.send('nt_orders', '{"n": 5}');
RESET ROLE;
SELECT queue_name, throttle_interval_ms FROM pgmq.list_notify_insert_throttles();

--
-- 6. disable removes both; disabling again is fine; dropping a queue
-- removes its settings with it.
--
SELECT pgmq.disable_notify_insert('nt_orders');
SELECT pgmq.disable_notify_insert('nt_orders');
SELECT * FROM pgmq.list_notify_insert_throttles();
SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'trigger_notify_queue_insert_listeners';
SELECT pgmq.drop_queue('Nt_Mixed');
SELECT count(*) AS throttles FROM pgmq.notify_insert_throttle;

SELECT pgmq.drop_queue('nt_orders');
REVOKE ALL ON SCHEMA pgmq FROM regress_nt_producer;
REVOKE ALL ON pgmq.meta, pgmq.notify_insert_throttle FROM regress_nt_producer;
DROP ROLE regress_nt_producer;
