--
-- stats: pgmq.queue_stats (depth, counters, rates), pgmq.stats_reset and
-- pgmq.prometheus_metrics().  The counters are kept in shared memory and
-- counted when a transaction commits: what rolls back never counts.
-- (Restarts, crashes and untracked queues: test/t/012_stats.pl.)
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT pgmq.create('st_orders'), pgmq.create('st_dlq'), pgmq.create('St_Other');
SELECT pgmq.set_queue_policy('st_orders', max_receives => 2, dead_letter_queue => 'st_dlq',
                             retention => '1 hour');
CREATE FUNCTION public.st_counts(q text)
RETURNS TABLE (sent bigint, read bigint, deleted bigint, archived bigint, popped bigint,
               dead_lettered bigint, expired bigint, redriven bigint)
LANGUAGE sql AS $$
    SELECT sent_total, read_total, deleted_total, archived_total, popped_total,
           dead_lettered_total, expired_total, redriven_total
    FROM pgmq.queue_stats WHERE queue_name = q
$$;

-- A queue shown is tracked from then on, from zero.  (NULL counters mean
-- untracked: no room in shared memory, or pgmq_c not preloaded.)
SELECT * FROM public.st_counts('st_orders');

--
-- 1. A scripted sequence; the counts afterwards are exact.
--
SELECT count(*) FROM pgmq.send_batch('st_orders',
    ARRAY['{"n":1}','{"n":2}','{"n":3}','{"n":4}','{"n":5}','{"n":6}']::jsonb[]);  -- sent 6
SELECT * FROM pgmq.send('st_orders', '{"n":7}', 3600);              -- sent 7 (delayed)
SELECT msg_id FROM pgmq.read('st_orders', 0, 2);                   -- read 2 (1, 2 stay visible)
SELECT msg_id FROM pgmq.read('st_orders', 30, 1);                  -- read 3 (1 again, leased)
SELECT pgmq.delete('st_orders', 2::bigint);                        -- deleted 1
SELECT pgmq.archive('st_orders', 3::bigint);                       -- archived 1
SELECT msg_id FROM pgmq.pop('st_orders');                          -- popped 1 (4)
-- Rolled back, whole or in part: none of it counts.
BEGIN;
SELECT count(*) FROM pgmq.send('st_orders', '{}');
SELECT count(*) FROM pgmq.read('st_orders', 30, 5);
SELECT pgmq.delete('st_orders', 5::bigint);
ROLLBACK;
BEGIN;
SAVEPOINT sp;
SELECT count(*) FROM pgmq.send('st_orders', '{}');
ROLLBACK TO sp;
SELECT count(*) FROM pgmq.send('St_Other', '{}');                   -- St_Other: sent 1
COMMIT;
-- Message 1 has been read twice: visible again, the next read moves it.
SELECT count(*) FROM pgmq.set_vt('st_orders', 1::bigint, 0);
SELECT msg_id FROM pgmq.read('st_orders', 30, 1);                  -- dead-lettered 1, read 4 (5)
-- Retention: message 6 is made old, and maintenance expires it.
UPDATE pgmq.q_st_orders SET enqueued_at = now() - interval '2 hours' WHERE msg_id = 6;
SELECT queue_name, moved, expired FROM pgmq.run_maintenance('st_orders');  -- expired 1
SELECT pgmq.redrive('st_dlq');                                     -- redriven 1
SELECT * FROM public.st_counts('st_orders');
SELECT * FROM public.st_counts('St_Other');
SELECT * FROM public.st_counts('st_dlq');

--
-- 2. Depth, now: the redriven message is visible, 5 is in flight, 7 is
-- delayed; the dead-letter queue is empty again.  No worker runs here, so
-- no rates yet.
--
SELECT queue_name, visible, in_flight, delayed, dead_letter_size,
       oldest_visible_age IS NOT NULL AS has_head, send_rate, read_rate,
       stats_reset > now() - interval '1 hour' AS reset_lately
FROM pgmq.queue_stats ORDER BY queue_name;
SELECT count(*) AS archived FROM pgmq.a_st_orders;

--
-- 3. stats_reset: one queue (any case of its name? no: the queue's table),
-- then all of them; an unknown queue is 42P01.
--
SELECT now() AS before_reset \gset
SELECT pgmq.stats_reset('st_orders');
SELECT * FROM public.st_counts('st_orders');
SELECT stats_reset >= :'before_reset' AS reset_now FROM pgmq.queue_stats WHERE queue_name = 'st_orders';
SELECT sent FROM public.st_counts('St_Other');
SELECT pgmq.stats_reset();
SELECT sent FROM public.st_counts('St_Other');
SELECT public.err($$SELECT pgmq.stats_reset('st_nope')$$);
SELECT public.err($$SELECT pgmq.stats_reset('st;nope')$$);

--
-- 4. Prometheus text: one family after another, HELP and TYPE first,
-- counters ending in _total, label values escaped.
--
SELECT pgmq.create('st"odd\name');
SELECT count(*) FROM pgmq.send('st"odd\name', '{}');
SELECT line FROM pg_catalog.regexp_split_to_table(pgmq.prometheus_metrics(), E'\n') AS line
WHERE (line LIKE '%odd%' AND line NOT LIKE '%age_seconds%') OR line LIKE '# TYPE pgmq_queue_%'
ORDER BY line COLLATE "C";

--
-- 5. Privileges: pg_monitor reads queue_stats and prometheus_metrics()
-- without any right on the queue tables; others may not.  Only the owner
-- (or whom they grant it) resets.
--
CREATE ROLE regress_st_monitor IN ROLE pg_monitor;
CREATE ROLE regress_st_nobody;
REVOKE ALL ON pgmq.q_st_orders, pgmq.a_st_orders, pgmq.q_st_dlq FROM pg_monitor;
SET ROLE regress_st_monitor;
SELECT public.err($$SELECT count(*) FROM pgmq.q_st_orders$$);
SELECT queue_name, visible, in_flight, delayed FROM pgmq.queue_stats WHERE queue_name = 'st_orders';
SELECT pgmq.prometheus_metrics() LIKE '%pgmq_queue_visible_messages{queue="st_orders"} 1%' AS scraped;
SELECT public.err($$SELECT pgmq.stats_reset()$$);
RESET ROLE;
SET ROLE regress_st_nobody;
SELECT public.err($$SELECT * FROM pgmq.queue_stats$$);
SELECT public.err($$SELECT pgmq.prometheus_metrics()$$);
RESET ROLE;
GRANT SELECT ON pgmq.q_st_orders, pgmq.a_st_orders, pgmq.q_st_dlq TO pg_monitor;
DROP ROLE regress_st_monitor, regress_st_nobody;

--
-- 6. A dropped queue leaves the view, and its counters go with it.
--
SELECT pgmq.drop_queue('St_Other');
SELECT count(*) FROM pgmq.queue_stats WHERE queue_name = 'St_Other';
SELECT pgmq.create('St_Other');
SELECT * FROM public.st_counts('St_Other');

SELECT pgmq.drop_queue(q) FROM unnest(ARRAY['st_orders', 'st_dlq', 'St_Other', 'st"odd\name']) AS q;
DROP FUNCTION public.st_counts(text);
