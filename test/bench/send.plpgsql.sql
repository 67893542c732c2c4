-- send, pgmq-style PL/pgSQL (see setup.psql).
SELECT * FROM plpgsql_q.send('bench_q', '{"k":1}');
