# The background worker is not led astray by a database's search_path.
#
# The worker connects as a superuser with the database's settings.  A
# database owner (no superuser) could ALTER DATABASE ... SET search_path to
# a schema of look-alike operators, functions and aggregates: if any
# statement the worker runs (dead-letter moves, retention, partition
# upkeep, due notifications, vacuums, statistics) reached one, it would run
# the owner's code as a superuser.  Here every look-alike raises; the
# worker does all of its jobs in that database, records no error, and the
# log shows no look-alike called.  Every statement of the worker names
# what it uses schema-qualified, which alone passes this test; the worker
# also runs with an empty search_path (worker.c), in case one day one does
# not.  (sql/search_path.sql does the same for every function a session
# calls.)

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_search_path');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '100ms'
log_min_messages = warning
pgmq_c.vacuum_threshold = 10
});
$node->start;

# The database and its owner, who is no superuser.
$node->safe_psql('postgres', q{
    CREATE ROLE db_owner LOGIN;
    CREATE DATABASE wsp OWNER db_owner;
});

# The owner's look-alikes: exact signatures of the built-in operators on
# the types the worker's statements use, and concrete versions of
# polymorphic functions and aggregates, all raising.
$node->safe_psql('wsp', q{
    SET ROLE db_owner;
    CREATE SCHEMA evil;
    CREATE FUNCTION evil.plant(name text, args text, rettype text, returns_set boolean DEFAULT false)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s%s LANGUAGE plpgsql AS %L',
                       name, args, CASE WHEN returns_set THEN 'SETOF ' ELSE '' END, rettype,
                       format('BEGIN RAISE EXCEPTION %L; END', 'look-alike ' || name || ' called'));
    END
    $$;
    DO $$
    DECLARE
        r record;
    BEGIN
        FOR r IN
            SELECT o.oid, o.oprname, o.oprleft, o.oprright, o.oprresult
            FROM pg_operator o
            WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprleft <> 0
              AND o.oprname IN ('=', '<>', '<', '<=', '>', '>=', '+', '-', '||', '->>', '@>')
              AND o.oprleft IN ('int8'::regtype, 'int4'::regtype, 'timestamptz'::regtype,
                                'interval'::regtype, 'jsonb'::regtype, 'text'::regtype, 'oid'::regtype,
                                'name'::regtype, 'float4'::regtype, 'float8'::regtype)
              AND o.oprright IN ('int8'::regtype, 'int4'::regtype, 'timestamptz'::regtype,
                                 'interval'::regtype, 'jsonb'::regtype, 'text'::regtype, 'oid'::regtype,
                                 'name'::regtype, 'float4'::regtype, 'float8'::regtype)
        LOOP
            PERFORM evil.plant('op_' || r.oid,
                               format_type(r.oprleft, NULL) || ', ' || format_type(r.oprright, NULL),
                               format_type(r.oprresult, NULL));
            EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%I)',
                           r.oprname, format_type(r.oprleft, NULL), format_type(r.oprright, NULL),
                           'op_' || r.oid);
        END LOOP;
    END
    $$;
    SELECT evil.plant('now', '', 'timestamptz'),
           evil.plant('clock_timestamp', '', 'timestamptz'),
           evil.plant('lower', 'text', 'text'),
           evil.plant('jsonb_build_object', 'text, text', 'jsonb'),
           evil.plant('jsonb_build_object', 'text, bigint', 'jsonb'),
           evil.plant('unnest', 'bigint[]', 'bigint', true),
           evil.plant('pg_notify', 'text, text', 'void'),
           evil.plant('agg_star', 'bigint', 'bigint'),
           evil.plant('agg_int8', 'bigint, bigint', 'bigint'),
           evil.plant('agg_tstz', 'timestamptz, timestamptz', 'timestamptz');
    CREATE AGGREGATE evil.count(*) (SFUNC = evil.agg_star, STYPE = bigint);
    CREATE AGGREGATE evil.count(bigint) (SFUNC = evil.agg_int8, STYPE = bigint);
    CREATE AGGREGATE evil.array_agg(bigint) (SFUNC = evil.agg_int8, STYPE = bigint);
    CREATE AGGREGATE evil.min(timestamptz) (SFUNC = evil.agg_tstz, STYPE = timestamptz);
    CREATE AGGREGATE evil.max(timestamptz) (SFUNC = evil.agg_tstz, STYPE = timestamptz);
    ALTER DATABASE wsp SET search_path = evil, pg_catalog, public;
});

# The look-alikes work for a session of the database.
my ($ret, $out, $err) = $node->psql('wsp', 'SELECT now()');
like($err, qr/look-alike now called/, 'a session of the database reaches the look-alikes');
my $log_offset = -s $node->logfile;

# Work for every job of the worker, set up with an ordinary path.
$node->safe_psql('wsp', q{
    SET search_path = pg_catalog, public;
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('jobs');
    SELECT pgmq.create('jobs_dlq');
    SELECT pgmq.set_queue_policy('jobs', max_receives => 1, dead_letter_queue => 'jobs_dlq');
    SELECT pgmq.create('old');
    SELECT pgmq.set_queue_policy('old', retention => '1 second');
    SELECT pgmq.create_partitioned('parts', '10', '1000', 1);
    SELECT pgmq.create('later');
    SELECT pgmq.enable_notify_insert('later', 0);
    SELECT pgmq.send_batch('jobs', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
    SELECT count(*) FROM pgmq.read('jobs', 0, 10);
    SELECT pgmq.send('old', '{"stale": true}');
    SELECT pgmq.send_batch('parts', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 25)));
    SELECT pgmq.send('later', '{"due": "soon"}', 1);
    SELECT count(*) FROM pgmq.send_batch('later', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 50)));
    SELECT count(*) FROM pgmq.pop('later', 50);
});

# The worker serves wsp with the look-alikes on its database's path.
# (One statement, as poll_query_until wants: its operators and functions
# are qualified, since the session has the database's path.)
ok( $node->poll_query_until('wsp', q{
        SELECT (SELECT pg_catalog.count(*) FROM pgmq.q_jobs_dlq) OPERATOR(pg_catalog.=) 3
           AND (SELECT pg_catalog.count(*) FROM pgmq.q_old) OPERATOR(pg_catalog.=) 0
           AND (SELECT partitions_created OPERATOR(pg_catalog.>) 0 FROM pgmq.worker_status
                 WHERE database OPERATOR(pg_catalog.=) 'wsp')}),
    'the worker moves dead letters, expires old messages and creates partitions')
  or diag $node->safe_psql('wsp', q{
        SET search_path = pg_catalog;
        SELECT (SELECT count(*) FROM pgmq.q_jobs_dlq), (SELECT count(*) FROM pgmq.q_old), w.*
          FROM pgmq.worker_status w WHERE database = 'wsp'});
is( $node->safe_psql('wsp', q{
        SET search_path = pg_catalog;
        SELECT coalesce(last_error, 'none') FROM pgmq.worker_status WHERE database = 'wsp'}),
    'none', 'the worker records no error');
is( $node->safe_psql('wsp', q{
        SET search_path = pg_catalog;
        SELECT setting FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) setting
         WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = 'wsp')}),
    'search_path=evil, pg_catalog, public', 'the database keeps its search_path');

# Let a few more passes run (due notifications, vacuum, statistics), then
# read the log.
$node->safe_psql('wsp', q{SELECT pg_catalog.pg_sleep(1.5)});
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/look-alike/, 'no look-alike was called');
unlike($log, qr/ERROR/, 'no error in the log');

$node->stop;
done_testing();
