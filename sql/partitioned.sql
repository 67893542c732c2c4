--
-- partitioned: create_partitioned, convert_archive_partitioned,
-- _get_partition_col, partition upkeep (pgmq._maintain_partitions), and
-- every queue function on a partitioned queue.  Partitions are Postgres'
-- own; no pg_partman.
--
\set SHOW_CONTEXT never

-- The partitions of a table, as the catalog has them: default first, then
-- by lower bound.  Names are left out (time partitions are named by date).
-- Time bounds are checked through pg_temp.utc_bounds, which reads them back
-- as UTC whatever the session's TimeZone and DateStyle.
CREATE FUNCTION pg_temp.parts(rel regclass)
RETURNS TABLE (bound text, rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT * FROM (SELECT c.oid, pg_get_expr(c.relpartbound, c.oid) AS b
                       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = rel) p
        ORDER BY b <> 'DEFAULT', length(b), b
    LOOP
        bound := r.b;
        EXECUTE format('SELECT count(*) FROM %s', r.oid::regclass) INTO rows;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE FUNCTION pg_temp.utc_bounds(rel regclass)
RETURNS TABLE (lo timestamp, hi timestamp)
LANGUAGE sql AS $$
    SELECT (m[1]::timestamptz AT TIME ZONE 'UTC'), (m[2]::timestamptz AT TIME ZONE 'UTC')
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
         LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                              $re$FROM \('([^']*)'\) TO \('([^']*)'\)$re$) m
    WHERE i.inhparent = rel
    ORDER BY 1
$$;

--
-- _get_partition_col: an interval that reads as an integer partitions by
-- msg_id, anything else by time (pgmq's rule, NULL included).
--
SELECT v, pgmq._get_partition_col(v)
FROM unnest(ARRAY['10000', ' 42 ', '-5', '1 day', 'daily', '10000000000', '', NULL]) AS v;

--
-- Names: the 47-character limit and the character checks of create.
--
SELECT pgmq.create_partitioned(repeat('p', 48));
SELECT pgmq.create_partitioned(repeat('p', 47));
SELECT pgmq.create_partitioned('bad;name');
SELECT pgmq.drop_queue(repeat('p', 47));

--
-- A queue partitioned by msg_id: layout as pgmq's (identity BY DEFAULT, no
-- primary key), a default partition and premake partitions ahead.
--
SELECT pgmq.create_partitioned('part_q', '10', '20', 2);
SELECT c.relname, c.relkind, pg_get_partkeydef(c.oid) AS partition_key
FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname IN ('q_part_q', 'a_part_q')
ORDER BY 1;
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity
FROM pg_attribute a
WHERE a.attrelid = 'pgmq.q_part_q'::regclass AND a.attnum > 0
ORDER BY a.attnum;
SELECT count(*) AS primary_keys FROM pg_constraint
WHERE conrelid IN ('pgmq.q_part_q'::regclass, 'pgmq.a_part_q'::regclass) AND contype = 'p';
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) LIKE '%(' || a || ')' AS on_column
FROM pg_index i, LATERAL (SELECT string_agg(attname, ',') AS a FROM pg_attribute
                          WHERE attrelid = i.indrelid AND attnum = ANY (i.indkey)) k
WHERE indrelid IN ('pgmq.q_part_q'::regclass, 'pgmq.a_part_q'::regclass)
ORDER BY 1::text;
SELECT * FROM pg_temp.parts('pgmq.q_part_q');
SELECT * FROM pg_temp.parts('pgmq.a_part_q');
SELECT queue_name, table_kind, partition_column, partition_interval, retention_interval, premake
FROM pgmq.partition_config ORDER BY 1, 2;
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues();

-- create is idempotent; create, create_partitioned on the other kind
SELECT pgmq.create_partitioned('part_q', '10', '20', 2);
SELECT pgmq.create('part_q');
SELECT count(*) FROM pgmq.meta WHERE queue_name = 'part_q';
SELECT pgmq.create('plain_q');
SELECT pgmq.create_partitioned('plain_q');
SELECT is_partitioned FROM pgmq.meta WHERE queue_name = 'plain_q';

--
-- Every queue function works on it (pgmq's partitioned-queue tests, and
-- the rest of the API).
--
SELECT * FROM pgmq.send('part_q', '{"n": 1}');
SELECT * FROM pgmq.send('part_q', '{"n": 2}', '{"h": 2}'::jsonb);
SELECT * FROM pgmq.send('part_q', '{"n": 3}', 0);
SELECT * FROM pgmq.send_batch('part_q', ARRAY['{"n": 4}', '{"n": 5}']::jsonb[]);
SELECT count(*) = 5 AS five FROM pgmq.q_part_q;
SELECT msg_id, read_ct, message, headers FROM pgmq.read('part_q', 30, 2);
SELECT msg_id, message FROM pgmq.read('part_q', 30, 5, '{"n": 4}');
SELECT msg_id, read_ct FROM pgmq.set_vt('part_q', 1::bigint, 0);
SELECT msg_id FROM pgmq.set_vt('part_q', ARRAY[2, 4]::bigint[], 0);
SELECT msg_id FROM pgmq.read_with_poll('part_q', 30, 1, 1, 10);
SELECT msg_id, message FROM pgmq.pop('part_q');
SELECT pgmq.delete('part_q', 3::bigint), pgmq.delete('part_q', 3::bigint);
SELECT * FROM pgmq.send('part_q', '{"n": 6}');
SELECT * FROM pgmq.send('part_q', '{"n": 7}');
SELECT * FROM pgmq.delete('part_q', ARRAY[6, 7, -3]::bigint[]);
-- archive: the ids that existed, and the rows moved with their bodies
SELECT * FROM pgmq.archive('part_q', ARRAY[1, 2, 3, -3]::bigint[]);
SELECT pgmq.archive('part_q', 4::bigint), pgmq.archive('part_q', 4::bigint);
SELECT msg_id, read_ct, message, headers, archived_at IS NOT NULL AS archived FROM pgmq.a_part_q ORDER BY msg_id;
SELECT count(*) FROM pgmq.q_part_q;
SELECT queue_name, queue_length, total_messages, queue_visible_length, default_partition_length
FROM pgmq.metrics('part_q');
SELECT queue_name, default_partition_length FROM pgmq.metrics_all() WHERE queue_name IN ('part_q', 'plain_q');

-- by-id lookups and the head of the queue stay index scans
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM pgmq.q_part_q WHERE msg_id = 5;
EXPLAIN (COSTS OFF) SELECT msg_id FROM pgmq.q_part_q WHERE vt <= now() ORDER BY msg_id LIMIT 1;
RESET enable_seqscan;

--
-- Sends never fail for want of a partition: ids past the premade ones go
-- to the default partition, and upkeep moves them out.
--
SELECT count(*) FROM (SELECT pgmq.send_batch('part_q', array_agg(to_jsonb(g)))
                      FROM generate_series(1, 40) g) s;
SELECT * FROM pg_temp.parts('pgmq.q_part_q');
SELECT default_partition_length FROM pgmq.metrics('part_q');
-- ... counted in metrics' one pass over the queue: the default partition
-- is scanned once, as every other partition
CREATE FUNCTION pg_temp.default_scans() RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(pg_catalog.pg_stat_get_xact_numscans(partdefid), 0)
    FROM pg_partitioned_table WHERE partrelid = 'pgmq.q_part_q'::regclass
$$;
-- (in one transaction: pending statistics are not flushed within one)
BEGIN;
SELECT pg_temp.default_scans() AS before \gset
SELECT queue_length, default_partition_length FROM pgmq.metrics('part_q');
SELECT pg_temp.default_scans() - :before AS default_partition_scans;
COMMIT;
SELECT * FROM pgmq._maintain_partitions('part_q');
-- last id 47, retention 20: partitions ending at or before 27 are dropped
SELECT * FROM pg_temp.parts('pgmq.q_part_q');
SELECT min(msg_id), max(msg_id), count(*) FROM pgmq.q_part_q;
SELECT default_partition_length FROM pgmq.metrics('part_q');
-- the archive keeps by msg_id too: its rows 1-4 were in the dropped range
SELECT * FROM pg_temp.parts('pgmq.a_part_q');
-- a second upkeep has nothing to do
SELECT * FROM pgmq._maintain_partitions('part_q');

--
-- The issue's case: 10 batches of 1,000 messages, partition_interval 1000,
-- retention_interval 3000.  With upkeep after each batch, the queue holds
-- only the last few thousand messages, in a bounded number of partitions.
--
SELECT pgmq.create_partitioned('bulk_q', '1000', '3000');
CREATE TEMP TABLE bulk_log (batch int, created bigint, dropped bigint, messages bigint,
                            partitions bigint, in_default bigint);
DO $$
DECLARE
    c record;
BEGIN
    FOR b IN 1..10 LOOP
        PERFORM pgmq.send_batch('bulk_q', (SELECT array_agg(jsonb_build_object('b', b, 'i', i))
                                           FROM generate_series(1, 1000) i));
        SELECT * INTO c FROM pgmq._maintain_partitions('bulk_q');
        INSERT INTO bulk_log
        SELECT b, c.partitions_created, c.partitions_dropped,
               (SELECT count(*) FROM pgmq.q_bulk_q),
               (SELECT count(*) FROM pg_inherits WHERE inhparent = 'pgmq.q_bulk_q'::regclass),
               (SELECT default_partition_length FROM pgmq.metrics('bulk_q'));
    END LOOP;
END
$$;
SELECT * FROM bulk_log ORDER BY batch;
SELECT min(msg_id), max(msg_id), count(*) FROM pgmq.q_bulk_q;
SELECT * FROM pg_temp.parts('pgmq.q_bulk_q');
SELECT total_messages FROM pgmq.metrics('bulk_q');

-- The same without upkeep until the end: the 5,001 messages beyond the
-- premade partitions wait in the default partition, then one upkeep keeps
-- the same last 3,001 messages.
SELECT pgmq.create_partitioned('bulk2_q', '1000', '3000');
SELECT count(*) FROM (SELECT pgmq.send_batch('bulk2_q', array_agg(to_jsonb(i)))
                      FROM generate_series(1, 10000) i GROUP BY i / 1000) s;
SELECT queue_length, default_partition_length FROM pgmq.metrics('bulk2_q');
SELECT * FROM pgmq._maintain_partitions('bulk2_q');
SELECT min(msg_id), max(msg_id), count(*) FROM pgmq.q_bulk2_q;
SELECT * FROM pg_temp.parts('pgmq.q_bulk2_q');

--
-- A partition detached by hand is no longer the queue's: upkeep neither
-- drops nor counts it, and makes a new partition for its range when rows
-- of that range arrive.
--
SELECT pgmq.create_partitioned('det_q', '10', '1000', 1);
SELECT count(*) FROM (SELECT pgmq.send_batch('det_q', array_agg(to_jsonb(g)))
                      FROM generate_series(1, 15) g) s;
SELECT c.oid::regclass AS detached FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'pgmq.q_det_q'::regclass AND pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM (''10'')%' \gset
ALTER TABLE pgmq.q_det_q DETACH PARTITION :detached;
-- ids 16-20 have no partition now but the default one
SELECT count(*) FROM (SELECT pgmq.send_batch('det_q', array_agg(to_jsonb(g)))
                      FROM generate_series(1, 5) g) s;
SELECT * FROM pg_temp.parts('pgmq.q_det_q');
SELECT * FROM pgmq._maintain_partitions('det_q');
SELECT * FROM pg_temp.parts('pgmq.q_det_q');
-- the detached table keeps its rows (ids 10-15); the queue has the rest
SELECT min(msg_id), max(msg_id), count(*) FROM :detached;
SELECT min(msg_id), max(msg_id), count(*) FROM pgmq.q_det_q;
SELECT msg_id FROM pgmq.read('det_q', 30, 20) WHERE msg_id >= 9;
DROP TABLE :detached;

--
-- A queue partitioned by time: enqueued_at, the archive by archived_at.
-- Rows older than retention are dropped with their partition, rows in
-- range get a partition of their own.
--
SELECT pgmq.create_partitioned('time_q', 'daily', '7 days', 2);
SELECT c.relname, pg_get_partkeydef(c.oid) AS partition_key
FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname IN ('q_time_q', 'a_time_q')
ORDER BY 1;
-- the day of now (UTC days) and 2 ahead, each one day, from midnight UTC
SELECT count(*) AS partitions,
       bool_and(lo::time = '00:00' AND hi - lo = interval '1 day') AS whole_days,
       min(lo) = date_trunc('day', now() AT TIME ZONE 'UTC') AS from_today,
       max(hi) = date_trunc('day', now() AT TIME ZONE 'UTC') + interval '3 days' AS to_in_3_days
FROM pg_temp.utc_bounds('pgmq.q_time_q');
SELECT bound FROM pg_temp.parts('pgmq.q_time_q') WHERE bound = 'DEFAULT';
SELECT * FROM pgmq.send('time_q', '{"now": true}');
INSERT INTO pgmq.q_time_q (enqueued_at, vt, message)
VALUES (now() - interval '3 days', now(), '"3 days old"'),
       (now() - interval '30 days', now(), '"30 days old"');
SELECT default_partition_length FROM pgmq.metrics('time_q');
SELECT * FROM pgmq._maintain_partitions('time_q');
SELECT message FROM pgmq.q_time_q ORDER BY msg_id;
SELECT default_partition_length FROM pgmq.metrics('time_q');
SELECT count(*) AS partitions,
       bool_or(lo = date_trunc('day', now() AT TIME ZONE 'UTC') - interval '3 days') AS three_days_ago
FROM pg_temp.utc_bounds('pgmq.q_time_q');
SELECT msg_id, message FROM pgmq.read('time_q', 0, 5);
SELECT pgmq.archive('time_q', 1::bigint);
SELECT msg_id FROM pgmq.a_time_q;
-- pgmq's own time cases: seconds, and months
SELECT pgmq.create_partitioned('test_duration_queue', '5 seconds', '10 seconds');
SELECT pgmq.create_partitioned('month_q', '1 month', '6 months', 1);
SELECT count(*) AS partitions,
       bool_and(lo = date_trunc('month', lo) AND hi = lo + interval '1 month') AS whole_months,
       min(lo) = date_trunc('month', now() AT TIME ZONE 'UTC') AS from_this_month
FROM pg_temp.utc_bounds('pgmq.q_month_q');
SELECT count(*) AS partitions,
       bool_and(hi - lo = interval '5 seconds' AND extract(second FROM lo)::int % 5 = 0) AS five_seconds
FROM pg_temp.utc_bounds('pgmq.q_test_duration_queue');

--
-- Bad input: clear errors, nothing created.
--
SELECT pgmq.create_partitioned('bad_q', 'fortnightly');
SELECT pgmq.create_partitioned('bad_q', '0');
SELECT pgmq.create_partitioned('bad_q', '-10');
SELECT pgmq.create_partitioned('bad_q', '10', '1 day');
SELECT pgmq.create_partitioned('bad_q', '10', '0');
SELECT pgmq.create_partitioned('bad_q', '1 day', '10 parsecs');
SELECT pgmq.create_partitioned('bad_q', '-1 day', '7 days');
SELECT pgmq.create_partitioned('bad_q', '1 month 2 days', '7 days');
SELECT pgmq.create_partitioned('bad_q', '1 day', '7 days', 0);
SELECT pgmq.create_partitioned('bad_q', NULL);
SELECT pgmq.create_partitioned(NULL);
-- their SQLSTATEs
CREATE FUNCTION pg_temp.sqlstate(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT sql, pg_temp.sqlstate(sql) FROM unnest(ARRAY[
    $$SELECT pgmq.create_partitioned('bad_q', 'fortnightly')$$,
    $$SELECT pgmq.create_partitioned('bad_q', '10', '1 day')$$,
    $$SELECT pgmq.create_partitioned('bad_q', '1 day', '7 days', 0)$$,
    $$SELECT pgmq.create_partitioned('bad_q', NULL)$$,
    $$SELECT pgmq.convert_archive_partitioned('bad_q', '1 day', '-7 days')$$,
    $$SELECT pgmq._maintain_partitions('bad_q')$$,
    $$SELECT pgmq.create_partitioned('plain_q')$$]) AS sql;
SELECT count(*) FROM pgmq.meta WHERE queue_name = 'bad_q';
SELECT to_regclass('pgmq.q_bad_q') IS NULL AS no_table;
SELECT * FROM pgmq._maintain_partitions('no_such_q');
SELECT * FROM pgmq._maintain_partitions('plain_q');
-- create_partitioned adopts only a partitioned table of the queue's layout
CREATE TABLE pgmq.q_adopt_q (msg_id bigint GENERATED BY DEFAULT AS IDENTITY, read_ct integer NOT NULL DEFAULT 0,
    enqueued_at timestamptz NOT NULL DEFAULT now(), last_read_at timestamptz,
    vt timestamptz NOT NULL, message jsonb, headers jsonb) PARTITION BY RANGE (vt);
SELECT pgmq.create_partitioned('adopt_q', '100', '1000');
DROP TABLE pgmq.q_adopt_q;
CREATE TABLE pgmq.q_adopt_q (msg_id bigint);
SELECT pgmq.create_partitioned('adopt_q', '100', '1000');
DROP TABLE pgmq.q_adopt_q;
SELECT count(*) FROM pgmq.meta WHERE queue_name = 'adopt_q';
-- a queue table replaced by hand by a plain one: upkeep says so
SELECT pgmq.create_partitioned('swap_q', '100', '1000', 1);
BEGIN;
DROP TABLE pgmq.q_swap_q;
CREATE TABLE pgmq.q_swap_q (msg_id bigint);
SELECT * FROM pgmq._maintain_partitions('swap_q');
ROLLBACK;

--
-- Partitions belong to the queue table's owner, whoever runs upkeep.
--
CREATE ROLE regress_part_owner;
SELECT pgmq.create_partitioned('own_q', '10', '1000', 1);
ALTER TABLE pgmq.q_own_q OWNER TO regress_part_owner;
ALTER TABLE pgmq.a_own_q OWNER TO regress_part_owner;
GRANT USAGE ON SCHEMA pgmq TO regress_part_owner;
SELECT count(*) FROM (SELECT pgmq.send('own_q', '{}') FROM generate_series(1, 25)) s;
SELECT * FROM pgmq._maintain_partitions('own_q');
-- (the 6 made before the owner changed keep theirs: ALTER TABLE OWNER does
-- not recurse to partitions)
SELECT c.relowner = 'regress_part_owner'::regrole AS owned_by_queue_owner, count(*)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent IN ('pgmq.q_own_q'::regclass, 'pgmq.a_own_q'::regclass)
GROUP BY 1 ORDER BY 1;
SELECT pgmq.drop_queue('own_q');
REVOKE USAGE ON SCHEMA pgmq FROM regress_part_owner;
DROP ROLE regress_part_owner;

--
-- purge_queue, drop_queue (both forms), detach_archive.
--
SELECT pgmq.purge_queue('part_q');
SELECT count(*) FROM pgmq.q_part_q;
SELECT pgmq.detach_archive('part_q');
SELECT pgmq.drop_queue('part_q');
SELECT pgmq.drop_queue('bulk_q', true);
SELECT to_regclass('pgmq.q_part_q') IS NULL AND to_regclass('pgmq.a_part_q') IS NULL AS gone;
SELECT count(*) AS leftover_partitions FROM pg_class
WHERE relnamespace = 'pgmq'::regnamespace AND (relname LIKE 'q\_part\_q\_%' OR relname LIKE 'q\_bulk\_q\_%');
SELECT queue_name, table_kind FROM pgmq.partition_config WHERE queue_name IN ('part_q', 'bulk_q');

--
-- convert_archive_partitioned: as in pgmq, the old archive becomes
-- a_<name>_old (its rows stay there) and a partitioned archive replaces it.
--
SELECT pgmq.create('conv_q');
SELECT * FROM pgmq.send('conv_q', '{"test": 1}');
SELECT * FROM pgmq.send('conv_q', '{"test": 2}');
SELECT pgmq.archive('conv_q', ARRAY[1, 2]::bigint[]);
SELECT pgmq.convert_archive_partitioned('conv_q', '1 hour', '2 hours');
SELECT c.relname, c.relkind, pg_get_partkeydef(c.oid) AS partition_key
FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname IN ('a_conv_q', 'a_conv_q_old')
ORDER BY 1;
SELECT count(*) FROM pgmq.a_conv_q_old;
SELECT pgmq.archive('conv_q', (SELECT * FROM pgmq.send('conv_q', '{"test": 3}')));
SELECT msg_id, message FROM pgmq.a_conv_q;
SELECT pgmq.convert_archive_partitioned('conv_q');
SELECT pgmq.convert_archive_partitioned('no_such_q');
-- the longest names, by msg_id
SELECT pgmq.create('long_queue_name_1234567890123456789012345678901');
SELECT pgmq.convert_archive_partitioned('long_queue_name_1234567890123456789012345678901');
SELECT relkind FROM pg_class WHERE relname = 'a_long_queue_name_1234567890123456789012345678901';
SELECT pgmq.convert_archive_partitioned('conv_q', 'weekly', 'daily', 0);
SELECT queue_name, table_kind, partition_column, partition_interval, premake
FROM pgmq.partition_config WHERE queue_name LIKE 'conv_q' OR queue_name LIKE 'long%' ORDER BY 1, 2;
SELECT pgmq.drop_queue('long_queue_name_1234567890123456789012345678901');

--
-- The maintenance pass runs partition upkeep: run_maintenance() reports
-- the partitions it made and dropped, and the queue keeps only what its
-- retention says, in a bounded number of partitions.
--
SELECT pgmq.create_partitioned('pm_q', '100', '200');
SELECT count(*) FROM pgmq.send_batch('pm_q', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 1000)));
SELECT queue_name, partitions_created > 0 AS created, partitions_dropped > 0 AS dropped, error
FROM pgmq.run_maintenance() WHERE queue_name = 'pm_q';
SELECT min(msg_id) >= 800 AS old_ids_gone, max(msg_id) AS newest FROM pgmq.q_pm_q;
SELECT count(*) <= 10 AS bounded_partitions FROM pg_inherits WHERE inhparent = 'pgmq.q_pm_q'::regclass;
SELECT queue_name, partitions_created, partitions_dropped FROM pgmq.run_maintenance('pm_q');
SELECT pgmq.drop_queue('pm_q');

-- clean up
DROP TABLE pgmq.a_conv_q_old;
SELECT pgmq.drop_queue(queue_name) FROM pgmq.list_queues() ORDER BY queue_name;
SELECT count(*) FROM pgmq.partition_config;
