--
-- search_path: a caller's search_path changes nothing pgmq_c does.
--
-- Schema sp_evil holds look-alikes of the built-in operators, functions,
-- aggregates and types pgmq_c's SQL uses: the same names with the same
-- argument types (so they win over pg_catalog's when found first), and
-- concrete versions of polymorphic built-ins (unnest(bigint[]) wins over
-- unnest(anyarray) wherever it is on the path).  Every look-alike raises
-- "look-alike ... called".  Then every function in schema pgmq, the
-- maintenance pass the worker runs, the insert-notify trigger and the
-- views are called with search_path = sp_evil, pg_catalog, public: none
-- may reach a look-alike, and each must do what it does without them.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE SCHEMA sp_evil;

-- A look-alike raising when called: sp_evil.<name>(<args>) returning rettype.
CREATE FUNCTION pg_temp.plant(name text, args text, rettype text, returns_set boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE FUNCTION sp_evil.%I(%s) RETURNS %s%s LANGUAGE plpgsql AS %L',
                   name, args, CASE WHEN returns_set THEN 'SETOF ' ELSE '' END, rettype,
                   format('BEGIN RAISE EXCEPTION %L; END', 'look-alike ' || name || '(' || args || ') called'));
END
$$;

DO $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    -- Operators: every built-in one of these names on ordinary types.
    FOR r IN
        SELECT o.oid, o.oprname, o.oprleft, o.oprright, o.oprresult
        FROM pg_operator o
        WHERE o.oprnamespace = 'pg_catalog'::regnamespace
          AND o.oprname IN ('=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/', '||', '->',
                            '->>', '#>', '#>>', '@>', '<@', '?', '~', '~~', '~*', '&&')
          AND o.oprright <> 0
          AND NOT EXISTS (SELECT FROM pg_type t
                          WHERE t.oid IN (o.oprleft, o.oprright, o.oprresult) AND t.typtype = 'p')
    LOOP
        PERFORM pg_temp.plant('op_' || r.oid,
                              concat_ws(', ', CASE WHEN r.oprleft <> 0 THEN format_type(r.oprleft, NULL) END,
                                        format_type(r.oprright, NULL)),
                              format_type(r.oprresult, NULL));
        EXECUTE format('CREATE OPERATOR sp_evil.%s (%s RIGHTARG = %s, FUNCTION = sp_evil.%I)',
                       r.oprname,
                       CASE WHEN r.oprleft <> 0 THEN format('LEFTARG = %s,', format_type(r.oprleft, NULL)) ELSE '' END,
                       format_type(r.oprright, NULL), 'op_' || r.oid);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'operators: %', n > 500;
    n := 0;
    -- Functions: every built-in one of these names with ordinary types.
    FOR r IN
        SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
               format_type(p.prorettype, NULL) AS rettype, p.proretset
        FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
          AND p.proname IN ('now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp',
                            'lower', 'upper', 'replace', 'format', 'concat', 'length', 'octet_length',
                            'substr', 'substring', 'left', 'right', 'strpos', 'position', 'starts_with',
                            'regexp_replace', 'regexp_match', 'regexp_matches', 'split_part',
                            'to_timestamp', 'date_trunc', 'date_part', 'extract', 'round', 'floor',
                            'ceil', 'abs', 'greatest', 'least', 'random', 'md5', 'hashtext',
                            'jsonb_build_object', 'jsonb_typeof', 'jsonb_each', 'jsonb_each_text',
                            'jsonb_set', 'jsonb_array_length', 'jsonb_array_elements', 'jsonb_object_keys',
                            'jsonb_strip_nulls', 'to_jsonb', 'jsonb_exists', 'jsonb_contains',
                            'to_regclass', 'pg_get_expr', 'pg_sequence_last_value', 'nextval', 'setval',
                            'currval', 'pg_advisory_xact_lock', 'pg_try_advisory_xact_lock',
                            'pg_notify', 'txid_current', 'pg_current_xact_id', 'array_to_string',
                            'array_length', 'cardinality', 'string_to_array', 'quote_ident',
                            'quote_literal', 'make_interval', 'age', 'to_char', 'generate_series',
                            'pg_get_serial_sequence', 'pg_relation_size', 'pg_total_relation_size',
                            'has_table_privilege', 'pg_has_role', 'current_setting', 'set_config')
          AND NOT EXISTS (SELECT FROM pg_type t
                          WHERE (t.oid = ANY (p.proargtypes) OR t.oid = p.prorettype) AND t.typtype = 'p')
          AND p.provariadic = 0
    LOOP
        PERFORM pg_temp.plant(r.proname, r.args, r.rettype, r.proretset);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'functions: %', n > 100;
END
$$;

-- Concrete versions of polymorphic built-ins, for the types pgmq_c uses.
SELECT pg_temp.plant('unnest', t || '[]', t, true),
       pg_temp.plant('array_position', t || '[], ' || t, 'integer'),
       pg_temp.plant('coalesce_', t, t)
FROM unnest(ARRAY['bigint', 'integer', 'text', 'jsonb', 'timestamp with time zone', 'oid', 'name']) t;
SELECT pg_temp.plant('jsonb_build_object', 'text, text, text, text', 'jsonb'),
       pg_temp.plant('jsonb_build_object', 'text, bigint', 'jsonb'),
       pg_temp.plant('jsonb_build_object', 'text, text, text, bigint', 'jsonb'),
       pg_temp.plant('format', 'text, text', 'text'),
       pg_temp.plant('format', 'text, text, text', 'text'),
       pg_temp.plant('concat', 'text, text', 'text'),
       pg_temp.plant('concat', 'text, text, text', 'text');

-- Aggregates: a state function that raises, for each aggregate of these
-- names on ordinary types, and concrete ones for the polymorphic.
CREATE FUNCTION sp_evil.agg_raise(bigint) RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'look-alike count(*) called'; END $$;
CREATE AGGREGATE sp_evil.count(*) (SFUNC = sp_evil.agg_raise, STYPE = bigint);
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.proname AS name, format_type(p.proargtypes[0], NULL) AS arg,
               format_type(p.prorettype, NULL) AS rettype
        FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'a' AND p.pronargs = 1
          AND p.proname IN ('min', 'max', 'sum', 'count', 'bool_and', 'bool_or', 'every', 'avg')
          AND NOT EXISTS (SELECT FROM pg_type t
                          WHERE t.oid IN (p.proargtypes[0], p.prorettype) AND t.typtype = 'p')
        UNION ALL
        SELECT a.name, t, CASE a.name WHEN 'count' THEN 'bigint' ELSE t || '[]' END
        FROM unnest(ARRAY['bigint', 'integer', 'text', 'jsonb', 'timestamp with time zone', 'oid']) t,
             unnest(ARRAY['count', 'array_agg']) a(name)
    LOOP
        PERFORM pg_temp.plant('agg_' || md5(r.name || r.arg), r.rettype || ', ' || r.arg, r.rettype);
        EXECUTE format('CREATE AGGREGATE sp_evil.%I(%s) (SFUNC = sp_evil.%I, STYPE = %s)',
                       r.name, r.arg, 'agg_' || md5(r.name || r.arg), r.rettype);
    END LOOP;
    -- string_agg(text, text), jsonb_object_agg(text, jsonb)
    PERFORM pg_temp.plant('agg_string', 'text, text, text', 'text');
    CREATE AGGREGATE sp_evil.string_agg(text, text) (SFUNC = sp_evil.agg_string, STYPE = text);
    PERFORM pg_temp.plant('agg_object', 'jsonb, text, jsonb', 'jsonb');
    CREATE AGGREGATE sp_evil.jsonb_object_agg(text, jsonb) (SFUNC = sp_evil.agg_object, STYPE = jsonb);
END
$$;

-- Types of the same names as the built-in ones a query might spell
-- unqualified.
CREATE TYPE sp_evil.text AS (evil int);
CREATE TYPE sp_evil.jsonb AS (evil int);
CREATE TYPE sp_evil.int8 AS (evil int);
CREATE TYPE sp_evil.int4 AS (evil int);
CREATE TYPE sp_evil.timestamptz AS (evil int);
CREATE TYPE sp_evil.interval AS (evil int);
CREATE TYPE sp_evil.regclass AS (evil int);
CREATE TYPE sp_evil.name AS (evil int);

-- The look-alikes work: with sp_evil first, plain SQL reaches them.
SET search_path = sp_evil, pg_catalog, public;
SELECT 1::pg_catalog.int8 = 1::pg_catalog.int8;
SELECT now();
SELECT count(*) FROM pg_catalog.pg_class;
RESET search_path;

-- under_evil_path(statement): run it with sp_evil first on the path; 'ok',
-- or its error.  Its own expressions are schema-qualified, and it puts the
-- path back afterwards, so only the statement runs under it.
CREATE FUNCTION public.under_evil_path(stmt pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE plpgsql AS $$
DECLARE
    saved pg_catalog.text := pg_catalog.current_setting('search_path');
    state pg_catalog.text;
    msg pg_catalog.text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'sp_evil, pg_catalog, public', false);
    BEGIN
        EXECUTE stmt;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    PERFORM pg_catalog.set_config('search_path', saved, false);
    RETURN CASE WHEN state IS NULL THEN 'ok' ELSE pg_catalog.concat(state, ': ', msg) END;
END
$$;

CREATE ROLE regress_sp_role;
CREATE TEMP TABLE calls (ord serial, stmt text);
INSERT INTO calls (stmt) VALUES
    ($$SELECT pgmq.create('sp_q')$$),
    ($$SELECT pgmq.create('sp_dlq')$$),
    ($$SELECT pgmq.create_unlogged('sp_u')$$),
    ($$SELECT pgmq.create_partitioned('sp_p', '10', '100', 2)$$),
    ($$SELECT pgmq.create_fifo_index('sp_q')$$),
    ($$SELECT pgmq.create_fifo_indexes_all()$$),
    ($$SELECT pgmq._create_fifo_index_if_not_exists('sp_dlq')$$),
    ($$SELECT pgmq.set_queue_policy('sp_q', max_receives => 1, dead_letter_queue => 'sp_dlq', retention => '1 day', archive_retention => '1 day', dedup_window => '1 hour')$$),
    ($$SELECT * FROM pgmq.queue_policies$$),
    ($$SELECT pgmq.enable_notify_insert('sp_q', 0)$$),
    ($$SELECT * FROM pgmq.list_notify_insert_throttles()$$),
    ($$SELECT pgmq.update_notify_insert('sp_q', 0)$$),
    ($$SELECT pgmq.send('sp_q', '{"n": 1}')$$),
    ($$SELECT pgmq.send('sp_q', '{"n": 2}', '{"x-pgmq-group": "g"}', 0)$$),
    ($$SELECT pgmq.send('sp_q', '{"n": 3}', '{"x-pgmq-dedup-id": "d1"}'::pg_catalog.jsonb)$$),
    ($$SELECT pgmq.send('sp_q', '{"n": 3}', '{"x-pgmq-dedup-id": "d1"}'::pg_catalog.jsonb)$$),
    ($$SELECT pgmq.send('sp_q', '{"n": 4}', '0')$$),
    ($$SELECT pgmq.send('sp_q', '{"n": 5}', '2000-01-01 00:00:00+00'::pg_catalog.timestamptz)$$),
    ($$SELECT pgmq.send_batch('sp_q', ARRAY['{"n": 6}', '{"n": 7}']::pg_catalog.jsonb[])$$),
    ($$SELECT pgmq.send_batch('sp_q', '{"{\"n\": 8}"}', '{"{\"x-pgmq-dedup-id\": \"d2\"}"}', '0')$$),
    ($$SELECT pgmq.send_batch('sp_p', ARRAY['{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}']::pg_catalog.jsonb[])$$),
    ($$SELECT pgmq.send('sp_u', '{"u": 1}')$$),
    ($$SELECT pgmq.read('sp_q', 0, 1)$$),
    ($$SELECT pgmq.read('sp_q', 0, 1, '{"n": 2}')$$),
    ($$SELECT pgmq.read_with_poll('sp_q', 0, 1, 0, 100)$$),
    ($$SELECT pgmq.read_grouped('sp_q', 0, 1)$$),
    ($$SELECT pgmq.read_grouped_rr('sp_q', 0, 1)$$),
    ($$SELECT pgmq.read_grouped_head('sp_q', 0, 1)$$),
    ($$SELECT pgmq.read_grouped_with_poll('sp_q', 0, 1, 0, 100)$$),
    ($$SELECT pgmq.read('sp_q', 30, 10)$$),
    ($$SELECT pgmq.set_vt('sp_q', 6, 0)$$),
    ($$SELECT pgmq.set_vt('sp_q', ARRAY[7, 8]::bigint[], 0)$$),
    ($$SELECT pgmq.delete('sp_q', 6::bigint)$$),
    ($$SELECT pgmq.archive('sp_q', 7::bigint)$$),
    ($$SELECT pgmq.archive('sp_q', ARRAY[8]::bigint[])$$),
    ($$SELECT pgmq.pop('sp_q', 1)$$),
    ($$SELECT pgmq.read('sp_p', 30, 3)$$),
    ($$SELECT pgmq.pop('sp_p', 1)$$),
    ($$SELECT pgmq.archive('sp_p', ARRAY[4, 5]::bigint[])$$),
    ($$SELECT pgmq.delete('sp_p', ARRAY[6]::bigint[])$$),
    ($$SELECT pgmq._maintain_partitions('sp_p')$$),
    ($$SELECT * FROM pgmq.run_maintenance()$$),
    ($$SELECT pgmq.metrics('sp_q')$$),
    ($$SELECT pgmq.metrics('sp_p')$$),
    ($$SELECT pgmq.metrics_all()$$),
    ($$SELECT pgmq.list_queues()$$),
    ($$SELECT * FROM pgmq.queue_stats$$),
    ($$SELECT pgmq.prometheus_metrics()$$),
    ($$SELECT pgmq.bind_topic('orders.*', 'sp_q')$$),
    ($$SELECT pgmq.send_topic('orders.new', '{"t": 1}')$$),
    ($$SELECT pgmq.send_batch_topic('orders.new', ARRAY['{"t": 2}']::pg_catalog.jsonb[])$$),
    ($$SELECT pgmq.list_topic_bindings()$$),
    ($$SELECT pgmq.unbind_topic('orders.*', 'sp_q')$$),
    ($$SELECT pgmq.redrive('sp_dlq')$$),
    ($$SELECT pgmq.replay('sp_q', '2000-01-01', '2100-01-01', 'sp_u')$$),
    ($$SELECT pgmq.grant_queue('sp_q', 'regress_sp_role', 'all')$$),
    ($$SELECT pgmq.revoke_queue('sp_q', 'regress_sp_role', 'all')$$),
    ($$SELECT pgmq.stats_reset('sp_q')$$),
    ($$SELECT pgmq.disable_notify_insert('sp_q')$$),
    ($$SELECT pgmq.validate_queue_name('sp_q')$$),
    ($$SELECT pgmq.format_table_name('sp_q', 'q')$$),
    ($$SELECT pgmq.purge_queue('sp_u')$$),
    ($$SELECT pgmq.convert_archive_partitioned('sp_u', '10', '100', 1)$$),
    ($$SELECT pgmq.detach_archive('sp_q')$$),
    ($$SELECT pgmq.read_grouped_rr_with_poll('sp_q', 0, 1, 0, 100)$$),
    ($$SELECT pgmq.read_grouped_head_with_poll('sp_q', 0, 1, 0, 100)$$),
    ($$SELECT pgmq.validate_routing_key('orders.new')$$),
    ($$SELECT pgmq.validate_topic_pattern('orders.#')$$),
    ($$SELECT pgmq.test_routing('orders.new')$$),
    ($$SELECT pgmq.acquire_queue_lock('sp_q')$$),
    ($$SELECT pgmq.create_non_partitioned('sp_np')$$),
    ($$SELECT pgmq._send_batch('sp_np', ARRAY['{}']::pg_catalog.jsonb[], NULL, '2000-01-01 00:00:00+00')$$),
    ($$SELECT pgmq._validate_batch_params(ARRAY['{}']::pg_catalog.jsonb[], NULL)$$),
    ($$SELECT pgmq._belongs_to_pgmq('q_sp_q')$$),
    ($$SELECT pgmq._extension_exists('pgmq_c')$$),
    ($$SELECT pgmq._get_partition_col('10')$$),
    ($$SELECT pgmq._head_mark('sp_q')$$),
    ($$SELECT pgmq._notified_at('sp_q')$$),
    ($$SELECT pgmq._prometheus_label('a"b')$$),
    ($$SELECT pgmq._statistics_enabled()$$),
    ($$SELECT * FROM pgmq.worker_status$$),
    ($$SELECT pgmq.drop_queue('sp_np')$$),
    ($$SELECT pgmq.drop_queue('sp_u')$$),
    ($$SELECT pgmq.drop_queue('sp_p')$$);
SELECT ord, stmt, public.under_evil_path(stmt) AS result FROM calls ORDER BY ord;

-- What the calls did, seen with the ordinary path: the messages are where
-- the calls put them.
SELECT msg_id, read_ct, message, headers FROM pgmq.q_sp_q ORDER BY msg_id;
SELECT msg_id, message FROM pgmq.a_sp_q ORDER BY msg_id;
SELECT message, headers->>'x-pgmq-dlq-source' AS source FROM pgmq.q_sp_dlq ORDER BY msg_id;
SELECT count(*) AS dedup_keys FROM pgmq.dedup_keys WHERE queue_name = 'sp_q';

-- Every function in schema pgmq was called above, but for the trigger
-- functions, which the calls fire (notify_insert's on send, the topic
-- cache's on bind_topic), and those behind the views.
SELECT p.proname
FROM pg_proc p
WHERE p.pronamespace = 'pgmq'::regnamespace
  AND NOT EXISTS (SELECT FROM calls c WHERE c.stmt ~ ('pgmq\.' || p.proname || '\('))
ORDER BY 1;

SELECT pgmq.drop_queue('sp_q'), pgmq.drop_queue('sp_dlq');
DROP FUNCTION public.under_evil_path(text);
DROP SCHEMA sp_evil CASCADE;
DROP OWNED BY regress_sp_role;
DROP ROLE regress_sp_role;
