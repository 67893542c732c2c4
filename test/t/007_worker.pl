# The background worker: a launcher, and one maintenance worker per
# database that has pgmq_c.
#
# It starts with the server, finds a database whose extension is created
# later, runs passes that show in pgmq.worker_status, keeps serving the
# other queues when one queue is broken, comes back after
# pg_terminate_backend, follows settings on reload, and never holds up
# DROP DATABASE, CREATE DATABASE ... TEMPLATE or a fast shutdown.  Without
# preloading, pgmq.worker_status says how to get a worker.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(gettimeofday tv_interval);

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '200ms'
});
$node->start;

# The pid of the maintenance worker serving $db, as pg_stat_activity shows
# it ('' when there is none).
sub worker_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres', qq{
        SELECT pid FROM pg_stat_activity
         WHERE backend_type = 'pgmq_c maintenance' AND datname = '$db'
           AND application_name = 'pgmq_c maintenance'});
}

# True once worker_status shows a pass of $db's worker, pid $pid, that
# started after $after (a timestamptz literal, or NULL).
sub pass_after
{
	my ($db, $after) = @_;
	return qq{
        SELECT EXISTS (SELECT 1 FROM pgmq.worker_status s
                         JOIN pg_stat_activity a USING (pid)
                        WHERE s.database = '$db'
                          AND a.backend_type = 'pgmq_c maintenance'
                          AND s.last_run_at > coalesce(($after)::timestamptz, '-infinity'))};
}

#
# The launcher starts with the server, connected to no database.
#
ok( $node->poll_query_until('postgres', q{
        SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE backend_type = 'pgmq_c launcher'
                          AND application_name = 'pgmq_c launcher'
                          AND datname IS NULL)}),
	'the launcher runs, with its backend_type and application_name');

#
# A worker for a database once pgmq_c is created there, and passes.
#
$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('good');
    SELECT pgmq.create('good_dlq');
    SELECT pgmq.set_queue_policy('good', max_receives => 1, dead_letter_queue => 'good_dlq');
    SELECT pgmq.create('broken');
    SELECT pgmq.set_queue_policy('broken', retention => '1 day');
});
ok($node->poll_query_until('postgres', pass_after('postgres', 'NULL')),
	'a maintenance worker serves postgres and has run a pass');
my $pid = worker_pid('postgres');
like($pid, qr/^\d+$/, 'pg_stat_activity shows it as "pgmq_c maintenance"');

my $last = $node->safe_psql('postgres',
	q{SELECT last_run_at FROM pgmq.worker_status WHERE database = 'postgres'});
ok($node->poll_query_until('postgres', pass_after('postgres', "'$last'")),
	'last_run_at advances: the worker runs a pass every interval');
is( $node->safe_psql('postgres', q{
        SELECT started_at <= last_run_at AND last_run_duration >= '0'
               AND last_error IS NULL AND last_error_at IS NULL
          FROM pgmq.worker_status WHERE database = 'postgres'}),
	't', 'worker_status: started, last run, its duration, no error');

#
# A dead letter: read once (its max_receives) and let go, it is moved by
# the worker, not by a reader.
#
$node->safe_psql('postgres', q{
    SELECT pgmq.send('good', '{"poison": 1}');
    SELECT count(*) FROM pgmq.read('good', 0, 1);
});
ok( $node->poll_query_until('postgres', q{
        SELECT (SELECT count(*) FROM pgmq.q_good) = 0
           AND (SELECT count(*) FROM pgmq.q_good_dlq
                 WHERE headers->>'x-pgmq-dlq-source' = 'good') = 1
           AND (SELECT moved FROM pgmq.worker_status WHERE database = 'postgres') = 1}),
	'the worker moves a dead letter within an interval, and counts it in worker_status');

#
# The worker is a superuser, but a queue's own work runs as the owner of
# its queue table: a trigger on a user's queue sees that user, in a
# security-restricted operation.
#
$node->safe_psql('postgres', q{
    CREATE ROLE queue_owner;
    GRANT USAGE, CREATE ON SCHEMA pgmq TO queue_owner;
    GRANT SELECT, INSERT ON pgmq.meta TO queue_owner;
    CREATE TABLE public.trigger_saw (who name);
    GRANT INSERT ON public.trigger_saw TO PUBLIC;
    CREATE FUNCTION public.record_who() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO public.trigger_saw VALUES (current_user);
        RETURN OLD;
    END $$;
    SET ROLE queue_owner;
    SELECT pgmq.create('owned');
    CREATE TRIGGER record_who BEFORE DELETE ON pgmq.q_owned
        FOR EACH ROW EXECUTE FUNCTION public.record_who();
    RESET ROLE;
    SELECT pgmq.set_queue_policy('owned', retention => '1 hour');
    SELECT pgmq.send('owned', '{"old": true}');
    UPDATE pgmq.q_owned SET enqueued_at = now() - interval '2 hours';
});
ok( $node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pgmq.q_owned}),
	'the worker expires a message of a queue another role owns');
is($node->safe_psql('postgres', q{SELECT string_agg(who::text, ',') FROM public.trigger_saw}),
	'queue_owner', "that queue's triggers run as its owner, not as the worker's superuser");

#
# Partition upkeep: ahead of the ids in use, old partitions dropped.
#
$node->safe_psql('postgres', q{
    SELECT pgmq.create_partitioned('parts', '10', '20');
    SELECT count(*) FROM pgmq.send_batch('parts',
        (SELECT array_agg(to_jsonb(i)) FROM generate_series(1, 100) i));
});
ok( $node->poll_query_until('postgres', q{
        SELECT partitions_created > 0 AND partitions_dropped > 0
               AND (SELECT min(msg_id) > 1 FROM pgmq.q_parts)
          FROM pgmq.worker_status WHERE database = 'postgres'}),
	'the worker keeps partitions, and worker_status counts them');

#
# A database made later, and given the extension later still.
#
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('postgres', 'CREATE DATABASE never');
$node->safe_psql('later', 'CREATE EXTENSION pgmq_c');
ok($node->poll_query_until('postgres', pass_after('later', 'NULL')),
	'a database whose extension is created later is served');
# Only one worker per database, also after several intervals.
$last = $node->safe_psql('postgres',
	q{SELECT last_run_at FROM pgmq.worker_status WHERE database = 'later'});
ok($node->poll_query_until('postgres', pass_after('later', "'$last'")),
	'the worker for the later database keeps running passes');
# A database without pgmq_c is probed now and then by a worker that leaves
# at once: poll until no probe is caught in passing.
my $workers_per_db = q{
    SELECT string_agg(datname || ':' || n, ',' ORDER BY datname) FROM (
        SELECT datname, count(*) AS n FROM pg_stat_activity
         WHERE backend_type = 'pgmq_c maintenance' GROUP BY datname) w};
ok($node->poll_query_until('postgres', $workers_per_db, 'later:1,postgres:1'),
	'one worker per database that has pgmq_c, none stays for the others');

#
# A broken queue: its error shows, the worker goes on with the others.
#
$node->safe_psql('postgres', 'ALTER TABLE pgmq.q_broken DROP COLUMN enqueued_at');
ok( $node->poll_query_until('postgres', q{
        SELECT last_error LIKE 'queue "broken": %enqueued_at%' AND last_error_at IS NOT NULL
          FROM pgmq.worker_status WHERE database = 'postgres'}),
	'a broken queue: its error shows in worker_status');
is(worker_pid('postgres'), $pid, 'the worker did not stop for it');
# Queues are served in name order: a dead letter of "good", after "broken".
$node->safe_psql('postgres', q{
    SELECT pgmq.send('good', '{"poison": 2}');
    SELECT count(*) FROM pgmq.read('good', 0, 1);
});
ok( $node->poll_query_until('postgres', q{
        SELECT (SELECT count(*) FROM pgmq.q_good) = 0
           AND (SELECT count(*) FROM pgmq.q_good_dlq) = 2
           AND (SELECT moved FROM pgmq.worker_status WHERE database = 'postgres') = 2}),
	'the other queues are still served');
$last = $node->safe_psql('postgres',
	q{SELECT last_error_at FROM pgmq.worker_status WHERE database = 'postgres'});
ok( $node->poll_query_until('postgres', qq{
        SELECT last_run_at > '$last' AND last_error_at > '$last'
          FROM pgmq.worker_status WHERE database = 'postgres'}),
	'the broken queue is tried again on later passes');
my @logged = slurp_file($node->logfile) =~ /WARNING:  maintenance of queue "broken" failed: .*enqueued_at/g;
is(scalar @logged, 1, 'its error is logged, once while it stays the same');
$node->safe_psql('postgres',
	q{ALTER TABLE pgmq.q_broken ADD COLUMN enqueued_at timestamptz NOT NULL DEFAULT now()});
$last = $node->safe_psql('postgres', 'SELECT now()');
ok($node->poll_query_until('postgres', pass_after('postgres', "'$last'")),
	'a pass after the queue is repaired');
like(slurp_file($node->logfile), qr/LOG:  maintenance of queue "broken" succeeded again/,
	'the repair is logged');

#
# pg_cancel_backend cancels at most the pass in progress: the worker stays.
#
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"),
	't', 'cancel the worker');
$last = $node->safe_psql('postgres', 'SELECT now()');
ok($node->poll_query_until('postgres', pass_after('postgres', "'$last'")),
	'passes go on after pg_cancel_backend');
is(worker_pid('postgres'), $pid, 'by the same worker');

#
# pg_terminate_backend: the launcher starts the worker again; the totals
# of the database stay.
#
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"),
	't', 'terminate the worker');
ok( $node->poll_query_until('postgres', qq{
        SELECT pid <> $pid AND last_run_at > started_at
          FROM pgmq.worker_status WHERE database = 'postgres'}),
	'a new worker serves the database after pg_terminate_backend');
is($node->safe_psql('postgres', q{SELECT moved FROM pgmq.worker_status WHERE database = 'postgres'}),
	'2', 'the database keeps its totals across the restart');
$pid = worker_pid('postgres');

my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgmq_c launcher'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok( $node->poll_query_until('postgres', qq{
        SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE backend_type = 'pgmq_c launcher' AND pid <> $launcher)}),
	'the launcher is started again after pg_terminate_backend');
# The new launcher takes the running workers as they are: no second one.
$node->safe_psql('never', 'CREATE EXTENSION pgmq_c');
ok($node->poll_query_until('postgres', pass_after('never', 'NULL')),
	'the new launcher serves a database that got the extension since');
is($node->safe_psql('postgres', $workers_per_db), 'later:1,never:1,postgres:1',
	'still one worker per database');
is(worker_pid('postgres'), $pid, 'the running workers were kept');

#
# Settings, on reload (SIGHUP).
#
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgmq_c.worker_databases = 'later, never'});
$node->reload;
ok( $node->poll_query_until('postgres', q{
        SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE backend_type = 'pgmq_c maintenance'
                              AND datname = 'postgres')
           AND NOT EXISTS (SELECT 1 FROM pgmq.worker_status
                            WHERE database = 'postgres')}),
	'worker_databases: a database left out is no longer served');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(database, ',' ORDER BY database) FROM pgmq.worker_status}),
	'later,never', 'the listed databases still are');

$node->safe_psql('postgres', q{ALTER SYSTEM SET pgmq_c.worker_enabled = off});
$node->reload;
ok( $node->poll_query_until('postgres', q{
        SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE backend_type = 'pgmq_c maintenance')
           AND NOT EXISTS (SELECT 1 FROM pgmq.worker_status)}),
	'worker_enabled off: every maintenance worker stops');

$node->safe_psql('postgres', q{
    ALTER SYSTEM RESET pgmq_c.worker_enabled;
    ALTER SYSTEM RESET pgmq_c.worker_databases;
});
$node->reload;
ok( $node->poll_query_until('postgres', q{
        SELECT count(*) = 3 AND bool_and(pid IS NOT NULL AND last_run_at IS NOT NULL)
          FROM pgmq.worker_status}),
	'worker_enabled on again: every database is served again');

# The interval is read on reload too.  A worker started under an interval
# of an hour runs its first pass and sleeps; set back to 200ms, the reload
# wakes it and passes follow.
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgmq_c.maintenance_interval = '1h'});
$node->reload;
ok( $node->poll_query_until('postgres', q{SELECT setting = '3600000' FROM pg_settings
                                          WHERE name = 'pgmq_c.maintenance_interval'}),
	'maintenance_interval set to an hour');
$pid = worker_pid('later');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until('postgres', qq{
        SELECT pid <> $pid AND last_run_at > started_at
          FROM pgmq.worker_status WHERE database = 'later'}),
	'a worker started under the hour interval ran its first pass');
$pid = worker_pid('later');
$last = $node->safe_psql('postgres',
	q{SELECT last_run_at FROM pgmq.worker_status WHERE database = 'later'});
$node->safe_psql('postgres', q{ALTER SYSTEM RESET pgmq_c.maintenance_interval});
$node->reload;
ok($node->poll_query_until('postgres', pass_after('later', "'$last'")),
	'set back to 200ms, the same worker runs its next pass without waiting the hour');
is(worker_pid('later'), $pid, 'the reload did not restart the worker');

#
# Statements that need a database without other sessions do not wait on
# the worker.
#
my $start = [gettimeofday];
$node->safe_psql('postgres', 'CREATE DATABASE copy TEMPLATE later');
ok(tv_interval($start) < 4.5,
	'CREATE DATABASE ... TEMPLATE of a served database proceeds promptly');
ok($node->poll_query_until('postgres', pass_after('later', 'NULL')),
	'and the template database is served again afterwards');

$start = [gettimeofday];
$node->safe_psql('postgres', 'DROP DATABASE later');
ok(tv_interval($start) < 4.5, 'DROP DATABASE of a served database proceeds promptly');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgmq.worker_status WHERE database = 'later'}),
	'0', 'the dropped database has no status row');

$node->safe_psql('postgres', 'DROP DATABASE never WITH (FORCE)');
pass('DROP DATABASE ... WITH (FORCE) of a served database succeeds');

# A DROP DATABASE that fails (another session is connected) stops the
# worker for its length only: the database is served again after it.
ok($node->poll_query_until('postgres', pass_after('copy', 'NULL')),
	'the database copied from a served template is served');
$pid = worker_pid('copy');
my $other = $node->background_psql('copy');
$other->query_safe('SELECT 1');
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE copy');
like($err, qr/database "copy" is being accessed by other users.*\n.*There is 1 other session/,
	'a DROP DATABASE that fails counts only the other session, not the worker');
ok( $node->poll_query_until('postgres', qq{
        SELECT pid <> $pid AND last_run_at > started_at
          FROM pgmq.worker_status WHERE database = 'copy'}),
	'after it the database is served again');
$other->quit;

# DROP EXTENSION: the worker leaves within an interval.
$node->safe_psql('copy', 'DROP EXTENSION pgmq_c');
ok( $node->poll_query_until('postgres', q{
        SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE backend_type = 'pgmq_c maintenance'
                              AND datname = 'copy')}),
	'after DROP EXTENSION the database is no longer served');

#
# Fast shutdown is not held up by the launcher or the workers.
#
$start = [gettimeofday];
$node->stop('fast');
ok(tv_interval($start) < 30, 'fast shutdown proceeds promptly');

#
# Without preloading there is no worker, and the view says so.
#
my $plain = PostgreSQL::Test::Cluster->new('worker_no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION pgmq_c');
my ($ret, $stdout, $stderr) = $plain->psql('postgres', q{
    \set VERBOSITY verbose
    SELECT * FROM pgmq.worker_status});
like($stderr, qr/55000: the pgmq_c background worker is not running/,
	'without preloading, worker_status raises 55000');
like($stderr, qr/HINT:.*shared_preload_libraries/, 'its hint names shared_preload_libraries');
is($plain->safe_psql('postgres', "LOAD 'pgmq_c'; SHOW pgmq_c.maintenance_interval"),
	'10s', 'the settings exist without preloading');
$plain->stop;

done_testing();
