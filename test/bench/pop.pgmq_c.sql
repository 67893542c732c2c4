-- pop, pgmq_c: take and delete the oldest visible message.
SELECT * FROM pgmq.pop('bench_q');
