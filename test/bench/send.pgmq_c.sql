-- send, pgmq_c: one message per transaction.
SELECT * FROM pgmq.send('bench_q', '{"k":1}');
