--
-- policies: set_queue_policy, dead letters on read and pop, and the
-- maintenance pass (run_maintenance): dead-letter moves, retention,
-- archive retention.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

SELECT pgmq.create('po_orders'), pgmq.create('po_orders_dlq'), pgmq.create('po_other');

--
-- Validation: each bad policy is refused with its SQLSTATE and changes
-- nothing.
--
SELECT pgmq.set_queue_policy('po_orders', max_receives => 5, retention => '1 day');
SELECT stmt, public.err(stmt) AS result FROM (VALUES
    ($$SELECT pgmq.set_queue_policy('po_nope', max_receives => 3)$$),
    ($$SELECT pgmq.set_queue_policy(NULL, max_receives => 3)$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', max_receives => 0)$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', max_receives => -1)$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', max_receives => 3, dead_letter_queue => 'po_nope')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', max_receives => 3, dead_letter_queue => 'po_orders')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', max_receives => 3, dead_letter_queue => 'PO_ORDERS')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', dead_letter_queue => 'po_orders_dlq')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', retention => '0 seconds')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', retention => '-1 hour')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', archive_retention => '-1 day')$$),
    ($$SELECT pgmq.set_queue_policy('po_orders', dedup_window => '0')$$)
) AS v(stmt);
SELECT queue_name, max_receives, dead_letter_queue, retention, archive_retention, dedup_window
FROM pgmq.queue_policies ORDER BY 1;

-- No cycles: orders -> dlq -> other -> orders would circle for ever.
SELECT pgmq.set_queue_policy('po_orders', max_receives => 3, dead_letter_queue => 'po_orders_dlq');
SELECT pgmq.set_queue_policy('po_orders_dlq', max_receives => 3, dead_letter_queue => 'po_other');
SELECT pgmq.set_queue_policy('po_other', max_receives => 3, dead_letter_queue => 'po_orders');
\echo :LAST_ERROR_SQLSTATE
SELECT pgmq.set_queue_policy('po_other', max_receives => 3, dead_letter_queue => 'PO_ORDERS_DLQ');
\echo :LAST_ERROR_SQLSTATE
-- The policy is replaced whole: all NULL removes it.
SELECT pgmq.set_queue_policy('po_orders_dlq');
SELECT pgmq.set_queue_policy('po_other');
SELECT queue_name, max_receives, dead_letter_queue FROM pgmq.queue_policies ORDER BY 1;

-- A dead-letter queue cannot be dropped while a policy sends to it.
SELECT pgmq.drop_queue('po_orders_dlq');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_there FROM pgmq.meta WHERE queue_name = 'po_orders_dlq';

--
-- Dead letters on read: max_receives 2.  A message read twice and not
-- deleted is never handed out again; the read that would have given it a
-- third time moves it to the dead-letter queue and gives the next one.
--
SELECT pgmq.set_queue_policy('po_orders', max_receives => 2, dead_letter_queue => 'po_orders_dlq');
SELECT * FROM pgmq.send('po_orders', '{"order": 1}', '{"trace": "t1"}'::jsonb);
SELECT enqueued_at AS first_enqueued_at FROM pgmq.q_po_orders WHERE msg_id = 1 \gset
SELECT * FROM pgmq.send('po_orders', '{"order": 2}');
SELECT msg_id, read_ct, message FROM pgmq.read('po_orders', 0, 1);
SELECT msg_id, read_ct, message FROM pgmq.read('po_orders', 0, 1);
SELECT msg_id, read_ct, message FROM pgmq.read('po_orders', 0, 1);
SELECT msg_id, message FROM pgmq.q_po_orders ORDER BY msg_id;
SELECT msg_id, read_ct, message,
       headers - 'x-pgmq-dlq-at' AS headers,
       (headers->>'x-pgmq-dlq-at')::timestamptz <= clock_timestamp() AS dlq_at_is_a_time,
       enqueued_at = :'first_enqueued_at' AS enqueued_at_kept,
       vt <= clock_timestamp() AS visible
FROM pgmq.q_po_orders_dlq;

-- Several exhausted messages in the window: all moved, the batch filled
-- from the messages after them.
SELECT count(*) FROM pgmq.send_batch('po_orders',
    ARRAY['{"order": 3}', '{"order": 4}', '{"order": 5}', '{"order": 6}']::jsonb[]);
SELECT msg_id, read_ct FROM pgmq.read('po_orders', 0, 3);
SELECT msg_id, read_ct FROM pgmq.read('po_orders', 0, 3);
SELECT msg_id, read_ct, message FROM pgmq.read('po_orders', 30, 3);
SELECT message->>'order' AS dead_order, headers->>'x-pgmq-dlq-msg-id' AS original_id,
       headers->>'x-pgmq-dlq-read-ct' AS read_ct
FROM pgmq.q_po_orders_dlq ORDER BY msg_id;

-- Conditional reads and pop follow the policy too.
SELECT pgmq.purge_queue('po_orders'), pgmq.purge_queue('po_orders_dlq');
SELECT count(*) FROM pgmq.send_batch('po_orders',
    ARRAY['{"k": "a"}', '{"k": "b"}', '{"k": "a"}']::jsonb[]);
SELECT msg_id, read_ct FROM pgmq.read('po_orders', 0, 5, '{"k": "a"}');
SELECT msg_id, read_ct FROM pgmq.read('po_orders', 0, 5, '{"k": "a"}');
SELECT msg_id, read_ct FROM pgmq.read('po_orders', 0, 5, '{"k": "a"}');
SELECT msg_id, read_ct, message FROM pgmq.read('po_orders', 0, 1);
SELECT msg_id, read_ct, message FROM pgmq.read('po_orders', 0, 1);
SELECT msg_id, read_ct, message FROM pgmq.pop('po_orders');
SELECT count(*) AS left_in_queue FROM pgmq.q_po_orders;
SELECT message->>'k' AS k, headers->>'x-pgmq-dlq-msg-id' AS original_id
FROM pgmq.q_po_orders_dlq ORDER BY msg_id;

-- read_with_poll: an exhausted message is not what ends the wait.
SELECT * FROM pgmq.send('po_orders', '{"poll": 1}');
SELECT msg_id FROM pgmq.read('po_orders', 0, 1);
SELECT msg_id FROM pgmq.read('po_orders', 0, 1);
SELECT count(*) AS got FROM pgmq.read_with_poll('po_orders', 30, 1, 0);
SELECT count(*) AS dead FROM pgmq.q_po_orders_dlq WHERE message->>'poll' = '1';

-- Without a dead-letter queue, exhausted messages go to the queue's own
-- archive, keeping their msg_id, with the same headers.
SELECT pgmq.set_queue_policy('po_other', max_receives => 1);
SELECT * FROM pgmq.send('po_other', '{"lonely": true}');
SELECT msg_id, read_ct FROM pgmq.read('po_other', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('po_other', 0, 1);
SELECT msg_id, read_ct, message, headers->>'x-pgmq-dlq-source' AS source
FROM pgmq.a_po_other;

-- Raising max_receives takes effect at once, in this session too.
SELECT * FROM pgmq.send('po_other', '{"second": true}');
SELECT pgmq.set_queue_policy('po_other', max_receives => 3);
SELECT msg_id, read_ct FROM pgmq.read('po_other', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('po_other', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('po_other', 0, 1);
SELECT msg_id, read_ct FROM pgmq.read('po_other', 0, 1);
SELECT count(*) AS archived FROM pgmq.a_po_other;

--
-- run_maintenance: moves exhausted messages nobody reads, expires old
-- messages, deletes old archive rows; a row per queue with a policy.
--
SELECT pgmq.purge_queue('po_orders'), pgmq.purge_queue('po_orders_dlq');
SELECT pgmq.set_queue_policy('po_orders', max_receives => 1, dead_letter_queue => 'po_orders_dlq',
                             retention => '1 hour', archive_retention => '7 days');
SELECT count(*) FROM pgmq.send_batch('po_orders', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT msg_id FROM pgmq.read('po_orders', 0, 1);
UPDATE pgmq.q_po_orders SET enqueued_at = now() - interval '2 hours' WHERE message->>'n' IN ('2', '3');
SELECT pgmq.archive('po_orders', (SELECT max(msg_id) FROM pgmq.q_po_orders));
UPDATE pgmq.a_po_orders SET archived_at = now() - interval '8 days';
SELECT * FROM pgmq.run_maintenance();
SELECT message FROM pgmq.q_po_orders ORDER BY msg_id;
SELECT message FROM pgmq.q_po_orders_dlq ORDER BY msg_id;
SELECT count(*) AS archived FROM pgmq.a_po_orders;
-- Nothing left to do: zeros.
SELECT * FROM pgmq.run_maintenance('po_orders');
-- One queue by name, any spelling; a queue without a policy gives zeros.
SELECT * FROM pgmq.run_maintenance('PO_ORDERS_DLQ');
SELECT * FROM pgmq.run_maintenance('po_nope');
\echo :LAST_ERROR_SQLSTATE

-- A broken queue is reported and skipped; the others are still served.
SELECT pgmq.create('po_broken');
SELECT pgmq.set_queue_policy('po_broken', retention => '1 hour');
ALTER TABLE pgmq.q_po_broken RENAME COLUMN enqueued_at TO created;
SELECT * FROM pgmq.send('po_orders', '{"fresh": true}');
UPDATE pgmq.q_po_orders SET enqueued_at = now() - interval '2 hours';
SELECT queue_name, moved, expired, archive_deleted, error IS NOT NULL AS failed, error
FROM pgmq.run_maintenance();

--
-- Dropping a queue drops its policy; after clearing the policy that
-- names it, the dead-letter queue can be dropped too.
--
SELECT pgmq.drop_queue('po_broken'), pgmq.drop_queue('po_other');
SELECT pgmq.set_queue_policy('po_orders', retention => '1 hour');
SELECT pgmq.drop_queue('po_orders_dlq');
SELECT pgmq.drop_queue('po_orders');
SELECT count(*) AS policies_left FROM pgmq.queue_policies;
