-- read + delete, pgmq-style PL/pgSQL.  See read_delete.pgmq_c.sql.
\set msg_id 0
SELECT msg_id FROM plpgsql_q.read('bench_q', 30, 1) \aset
SELECT plpgsql_q.delete('bench_q', :msg_id::bigint);
