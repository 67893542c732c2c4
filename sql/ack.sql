--
-- ack: delete, archive and set_vt, for one id and for an array of ids.
--
\set SHOW_CONTEXT never

SELECT pgmq.create('a_q');
SELECT * FROM pgmq.send_batch('a_q', (SELECT array_agg(jsonb_build_object('n', i) ORDER BY i)
                                      FROM generate_series(1, 12) AS i));

--
-- delete(queue_name, msg_id) -> boolean
--
SELECT pgmq.delete('a_q', 1);
SELECT pgmq.delete('a_q', 1);
SELECT pgmq.delete('a_q', 999);
SELECT pgmq.delete(queue_name => 'a_q', msg_id => 2);
-- regardless of vt: a leased message can be deleted
SELECT msg_id FROM pgmq.read('a_q', 300, 1);
SELECT pgmq.delete('a_q', 3::bigint);
SELECT msg_id FROM pgmq.q_a_q ORDER BY msg_id;

--
-- delete(queue_name, msg_ids) -> the ids that existed
--
SELECT * FROM pgmq.delete('a_q', ARRAY[4, 5, 999]::bigint[]) AS deleted ORDER BY 1;
SELECT * FROM pgmq.delete('a_q', ARRAY[4, 5]::bigint[]);
SELECT * FROM pgmq.delete('a_q', ARRAY[]::bigint[]);
SELECT * FROM pgmq.delete('a_q', ARRAY[6, 6, NULL]::bigint[]);
SELECT * FROM pgmq.delete(queue_name => 'a_q', msg_ids => ARRAY[7]::bigint[]);
SELECT msg_id FROM pgmq.q_a_q ORDER BY msg_id;
-- a delete in a transaction that rolls back changes nothing
BEGIN;
SELECT pgmq.delete('a_q', 8);
ROLLBACK;
SELECT count(*) AS msg_8 FROM pgmq.q_a_q WHERE msg_id = 8;

--
-- archive(queue_name, msg_id) -> boolean: the row moves, with every column
-- kept and archived_at = now().
--
SELECT msg_id, read_ct FROM pgmq.read('a_q', 0, 1);
SELECT msg_id FROM pgmq.set_vt('a_q', 8, '2100-01-01 00:00:00+00'::timestamptz);
UPDATE pgmq.q_a_q SET headers = '{"h": 8}' WHERE msg_id = 8;
BEGIN;
CREATE TEMP TABLE before_archive AS SELECT * FROM pgmq.q_a_q WHERE msg_id = 8;
SELECT pgmq.archive('a_q', 8);
SELECT a.msg_id, a.read_ct, a.message, a.headers,
       a.archived_at = now() AS archived_now,
       (a.msg_id, a.read_ct, a.enqueued_at, a.last_read_at, a.vt, a.message, a.headers)
         IS NOT DISTINCT FROM
       (b.msg_id, b.read_ct, b.enqueued_at, b.last_read_at, b.vt, b.message, b.headers) AS columns_kept
FROM pgmq.a_a_q a JOIN before_archive b USING (msg_id);
SELECT count(*) AS left_in_queue FROM pgmq.q_a_q WHERE msg_id = 8;
COMMIT;
DROP TABLE before_archive;
SELECT pgmq.archive('a_q', 8);
SELECT pgmq.archive('a_q', 999);
SELECT pgmq.archive(queue_name => 'a_q', msg_id => 9);
SELECT msg_id, message FROM pgmq.a_a_q ORDER BY msg_id;
-- an archive in a transaction that rolls back changes nothing
BEGIN;
SELECT pgmq.archive('a_q', 10);
ROLLBACK;
SELECT (SELECT count(*) FROM pgmq.q_a_q WHERE msg_id = 10) AS in_queue,
       (SELECT count(*) FROM pgmq.a_a_q WHERE msg_id = 10) AS in_archive;

--
-- archive(queue_name, msg_ids) -> the ids that existed
--
SELECT * FROM pgmq.archive('a_q', ARRAY[10, 11, 999]::bigint[]) AS archived ORDER BY 1;
SELECT * FROM pgmq.archive('a_q', ARRAY[10, 11]::bigint[]);
SELECT * FROM pgmq.archive('a_q', ARRAY[]::bigint[]);
SELECT * FROM pgmq.archive(queue_name => 'a_q', msg_ids => ARRAY[12, 12]::bigint[]);
SELECT msg_id, message, archived_at <= now() AS archived_at_set FROM pgmq.a_a_q ORDER BY msg_id;
SELECT msg_id FROM pgmq.q_a_q;

--
-- NULL ids match nothing (as in pgmq).
--
SELECT * FROM pgmq.send_batch('a_q', ARRAY['{"m": 1}', '{"m": 2}', '{"m": 3}']::jsonb[]);
SELECT pgmq.delete('a_q', NULL::bigint) AS delete_one, pgmq.archive('a_q', NULL::bigint) AS archive_one;
SELECT * FROM pgmq.delete('a_q', NULL::bigint[]);
SELECT * FROM pgmq.archive('a_q', NULL::bigint[]);
SELECT * FROM pgmq.set_vt('a_q', NULL::bigint, 30);
SELECT * FROM pgmq.set_vt('a_q', NULL::bigint[], 30);
SELECT * FROM pgmq.set_vt('a_q', NULL::bigint, now());
SELECT * FROM pgmq.set_vt('a_q', NULL::bigint[], now());
SELECT msg_id, read_ct, vt <= now() AS visible FROM pgmq.q_a_q ORDER BY msg_id;

--
-- set_vt(queue_name, msg_id, vt integer): relative to the clock, only vt
-- changes, the updated row comes back.
--
SELECT msg_id FROM pgmq.read('a_q', 0, 1);
BEGIN;
CREATE TEMP TABLE before_vt AS SELECT * FROM pgmq.q_a_q;
CREATE TEMP TABLE got AS SELECT * FROM pgmq.set_vt('a_q', 13, 60);
SELECT msg_id, read_ct, message, headers,
       vt BETWEEN now() + interval '60 seconds' AND clock_timestamp() + interval '60 seconds' AS vt_in_60s
FROM got;
SELECT q.msg_id, q.vt = g.vt AS table_has_vt,
       (q.read_ct, q.enqueued_at, q.last_read_at, q.message, q.headers)
         IS NOT DISTINCT FROM
       (b.read_ct, b.enqueued_at, b.last_read_at, b.message, b.headers) AS rest_unchanged
FROM pgmq.q_a_q q JOIN got g USING (msg_id) JOIN before_vt b USING (msg_id);
COMMIT;
DROP TABLE before_vt, got;
SELECT msg_id FROM pgmq.read('a_q', 30, 10);
SELECT msg_id, read_ct FROM pgmq.set_vt('a_q', 13, 0);
SELECT msg_id FROM pgmq.read('a_q', 0, 1);
SELECT msg_id FROM pgmq.set_vt(queue_name => 'a_q', msg_id => 13, vt => 0);

--
-- set_vt(queue_name, msg_id, vt timestamptz): absolute
--
SELECT msg_id, vt = '2100-01-01 00:00:00+00' AS vt_as_given
FROM pgmq.set_vt('a_q', 14, '2100-01-01 00:00:00+00'::timestamptz);
SELECT msg_id, vt = '2000-01-01 00:00:00+00' AS vt_as_given
FROM pgmq.set_vt('a_q', 14, '2000-01-01 00:00:00+00'::timestamptz);
SELECT msg_id, vt = '2000-01-01 00:00:00+00' AS vt_as_given FROM pgmq.q_a_q WHERE msg_id = 14;

--
-- set_vt(queue_name, msg_ids, vt integer | timestamptz): the updated rows,
-- by msg_id; missing ids are left out.
--
BEGIN;
SELECT msg_id, read_ct,
       vt BETWEEN now() + interval '120 seconds' AND clock_timestamp() + interval '120 seconds' AS vt_in_120s
FROM pgmq.set_vt('a_q', ARRAY[15, 999, 13]::bigint[], 120);
SELECT count(*) AS visible FROM pgmq.q_a_q WHERE vt <= clock_timestamp();
COMMIT;
SELECT msg_id, vt = '2000-01-01 00:00:00+00' AS vt_as_given
FROM pgmq.set_vt('a_q', ARRAY[13, 14, 15]::bigint[], '2000-01-01 00:00:00+00'::timestamptz);
SELECT msg_id FROM pgmq.set_vt(queue_name => 'a_q', msg_ids => ARRAY[13]::bigint[], vt => 5);

--
-- missing ids: no rows
--
SELECT * FROM pgmq.set_vt('a_q', 999, 30);
SELECT * FROM pgmq.set_vt('a_q', 999, now());
SELECT * FROM pgmq.set_vt('a_q', ARRAY[998, 999]::bigint[], 30);
SELECT * FROM pgmq.set_vt('a_q', ARRAY[]::bigint[], now());
-- set_vt does not touch archived or deleted messages
SELECT * FROM pgmq.set_vt('a_q', 8, 30);

SELECT pgmq.drop_queue('a_q');
