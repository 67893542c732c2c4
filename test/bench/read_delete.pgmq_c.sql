-- read + delete, pgmq_c: lease one message for 30 s, then delete it; two
-- statements, each its own transaction, as a consumer runs them.  \aset
-- leaves msg_id at 0 when nothing was read, and deleting id 0 is a no-op
-- (test/bench/run checks afterwards that the queue never ran dry).
\set msg_id 0
SELECT msg_id FROM pgmq.read('bench_q', 30, 1) \aset
SELECT pgmq.delete('bench_q', :msg_id::bigint);
