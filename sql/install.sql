--
-- install: CREATE EXTENSION and the SQL surface it creates.
--
-- Later files assume the extension exists; this one leaves it installed.
--
\set SHOW_CONTEXT never

CREATE EXTENSION pgmq_c;

SELECT e.extname, e.extversion, e.extrelocatable, n.nspname
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pgmq_c';

-- Every function in schema pgmq, with argument names, defaults and results.
SELECT p.proname,
       pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result
FROM pg_proc p
WHERE p.pronamespace = 'pgmq'::regnamespace
ORDER BY p.proname, pg_get_function_arguments(p.oid);

-- All of them are extension members and run with the caller's rights.
SELECT count(*) AS functions,
       count(*) FILTER (WHERE p.prosecdef) AS security_definer,
       count(*) FILTER (WHERE d.objid IS NULL) AS not_members
FROM pg_proc p
LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
     AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgmq_c')
WHERE p.pronamespace = 'pgmq'::regnamespace;

-- Parts of pgmq 1.13 that are not in this release do not exist at all.
SELECT f AS function,
       EXISTS (SELECT 1 FROM pg_proc p
               WHERE p.pronamespace = 'pgmq'::regnamespace AND p.proname = f) AS exists
FROM unnest(ARRAY[
    'create_fifo_index',
    'create_fifo_indexes_all', '_create_fifo_index_if_not_exists',
    'read_grouped', 'read_grouped_with_poll',
    'read_grouped_rr', 'read_grouped_rr_with_poll', 'read_grouped_head',
    'read_grouped_head_with_poll', 'enable_notify_insert',
    'disable_notify_insert', 'update_notify_insert',
    'list_notify_insert_throttles', 'notify_queue_listeners',
    'validate_routing_key', 'validate_topic_pattern', 'bind_topic',
    'unbind_topic', 'test_routing', 'list_topic_bindings', 'send_topic',
    'send_batch_topic']) AS f
ORDER BY f;

-- Composite types: column order is API.
SELECT c.relname AS type, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS data_type
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relkind = 'c'
ORDER BY c.relname, a.attnum;

-- pgmq.meta: columns, defaults, constraints.
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS data_type,
       a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid) AS default
FROM pg_attribute a
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = 'pgmq.meta'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

SELECT contype, pg_get_constraintdef(oid) AS definition
FROM pg_constraint WHERE conrelid = 'pgmq.meta'::regclass
ORDER BY contype, conname;

-- The only relation the extension owns is meta, and pg_dump dumps its rows
-- (pg_extension_config_dump).
SELECT c.relname, c.relkind
FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgmq_c')
ORDER BY c.relname;

SELECT extconfig::regclass[] AS extconfig, extcondition
FROM pg_extension WHERE extname = 'pgmq_c';

-- Queue and archive tables, their indexes and sequences are not members.
SELECT pgmq.create('install_q');
SELECT c.relname, c.relkind,
       EXISTS (SELECT 1 FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                 AND d.deptype = 'e') AS extension_member
FROM pg_class c
WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname LIKE '%install_q%'
ORDER BY c.relname;
SELECT pgmq._belongs_to_pgmq('meta') AS meta,
       pgmq._belongs_to_pgmq('q_install_q') AS queue,
       pgmq._belongs_to_pgmq('a_install_q') AS archive,
       pgmq._belongs_to_pgmq('no_such_table') AS unknown;
SELECT pgmq._extension_exists('pgmq_c') AS pgmq_c,
       pgmq._extension_exists('pgmq') AS pgmq,
       pgmq._extension_exists('plpgsql') AS plpgsql;

-- Monitoring: pg_monitor sees the catalog of queues, and no message: it
-- reads metrics and queue_stats, which read the queues as their owners for
-- it (privileges.sql), and has no right on queue tables, nor default
-- privileges that would give it one on queues created later.
SELECT has_schema_privilege('pg_monitor', 'pgmq', 'USAGE') AS schema_usage,
       has_schema_privilege('pg_monitor', 'pgmq', 'CREATE') AS schema_create,
       has_table_privilege('pg_monitor', 'pgmq.meta', 'SELECT') AS meta_select,
       has_table_privilege('pg_monitor', 'pgmq.meta', 'INSERT') AS meta_insert,
       has_table_privilege('pg_monitor', 'pgmq.q_install_q', 'SELECT') AS queue_select,
       has_table_privilege('pg_monitor', 'pgmq.q_install_q', 'DELETE') AS queue_delete,
       has_table_privilege('pg_monitor', 'pgmq.a_install_q', 'SELECT') AS archive_select,
       has_sequence_privilege('pg_monitor', 'pgmq.q_install_q_msg_id_seq', 'SELECT') AS seq_select,
       has_sequence_privilege('pg_monitor', 'pgmq.q_install_q_msg_id_seq', 'USAGE') AS seq_usage;
SELECT d.defaclobjtype, a.privilege_type, a.grantee::regrole
FROM pg_default_acl d, aclexplode(d.defaclacl) a
WHERE d.defaclnamespace = 'pgmq'::regnamespace
ORDER BY 1, 2, 3;

-- DROP EXTENSION removes what the extension owns and leaves the queues'
-- tables (they are user data, as in pgmq); schema pgmq stays too.
SELECT * FROM pgmq.send('install_q', '{"kept": true}');
DROP EXTENSION pgmq_c;
SELECT to_regclass('pgmq.meta') AS meta,
       to_regclass('pgmq.q_install_q') AS queue,
       to_regclass('pgmq.a_install_q') AS archive,
       to_regnamespace('pgmq') AS schema;
SELECT msg_id, message FROM pgmq.q_install_q;
DROP TABLE pgmq.q_install_q, pgmq.a_install_q;

-- A schema pgmq that already holds pgmq's catalog (here made by hand, as a
-- pgmq installed from its SQL files would leave it) is not taken over.
CREATE TABLE pgmq.meta (queue_name varchar UNIQUE NOT NULL);
CREATE EXTENSION pgmq_c;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'pgmq_c';
SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'pgmq'::regnamespace;
SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'pgmq'::regnamespace ORDER BY 1;
DROP TABLE pgmq.meta;
DROP SCHEMA pgmq;

-- A clean install again, for the tests that follow.
CREATE EXTENSION pgmq_c;
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'pgmq'::regnamespace;
SELECT * FROM pgmq.list_queues();

--
-- For the files that follow (they run in this database, in order):
-- err(statement): run it; 'ok', or the error as "SQLSTATE: message"; a
-- refusal (42501) adds its detail, which says what Postgres refused.
--
CREATE FUNCTION public.err(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    IF state = '42501' AND detail <> '' THEN
        msg := msg || ' (' || detail || ')';
    END IF;
    RETURN state || ': ' || msg;
END
$$;
