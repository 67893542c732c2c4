-- pop, pgmq-style PL/pgSQL (see setup.psql).
SELECT * FROM plpgsql_q.pop('bench_q');
