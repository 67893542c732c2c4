# The background worker across crashes.
#
# With restart_after_crash = on, a backend killed by SIGKILL makes the
# postmaster end every process and reinitialise shared memory; so does a
# maintenance worker killed by SIGKILL (a background worker with shared
# memory access).  An immediate stop and a start is a crash too.  After
# each: the server comes back, the launcher and a maintenance worker come
# back, pgmq.worker_status shows passes again (its totals start over with
# the new shared memory), a dead letter made after the crash is moved by
# the worker, and every message committed before the crash is still there
# (and none that the killed backend had sent without committing).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '200ms'
restart_after_crash = on
});
$node->start;

# Committed before any crash: must all be there after each.
my $kept = '1,2,3,4,5';
$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('jobs');
    SELECT pgmq.create('jobs_dlq');
    SELECT pgmq.set_queue_policy('jobs', max_receives => 1, dead_letter_queue => 'jobs_dlq');
    SELECT pgmq.create('kept');
    SELECT count(*) FROM pgmq.send_batch('kept',
        (SELECT array_agg(jsonb_build_object('n', i)) FROM generate_series(1, 5) i));
});

# The pids of the launcher and of the worker serving postgres ('' when
# there is none).
sub launcher_pid
{
	return $node->safe_psql('postgres', q{
        SELECT pid FROM pg_stat_activity
         WHERE backend_type = 'pgmq_c launcher' AND datname IS NULL});
}

sub worker_pid
{
	return $node->safe_psql('postgres', q{
        SELECT pid FROM pg_stat_activity
         WHERE backend_type = 'pgmq_c maintenance' AND datname = 'postgres'});
}

ok( $node->poll_query_until('postgres', q{
        SELECT EXISTS (SELECT 1 FROM pgmq.worker_status
                        WHERE database = 'postgres' AND last_run_at IS NOT NULL)}),
	'before any crash: the worker runs passes');
my $launcher = launcher_pid();
my $worker = worker_pid();
like($launcher, qr/^\d+$/, 'the launcher runs');
like($worker, qr/^\d+$/, 'a maintenance worker serves postgres');

# Dead letters moved so far (each round adds one).
my $dead = 0;

# Everything that must hold once the server is back from a crash.  The
# launcher and the worker are new processes: $launcher and $worker are the
# pids from before.
sub check_recovery
{
	my ($what) = @_;

	ok( $node->poll_query_until('postgres', qq{
            SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE backend_type = 'pgmq_c launcher' AND pid <> $launcher)}),
		"$what: the server is back and the launcher runs again");
	ok( $node->poll_query_until('postgres', qq{
            SELECT EXISTS (SELECT 1 FROM pgmq.worker_status s
                             JOIN pg_stat_activity a USING (pid)
                            WHERE s.database = 'postgres' AND s.pid <> $worker
                              AND a.backend_type = 'pgmq_c maintenance'
                              AND a.datname = 'postgres'
                              AND s.last_run_at IS NOT NULL)}),
		"$what: a new maintenance worker serves postgres, shown in worker_status");
	is( $node->safe_psql('postgres', q{
            SELECT count(*), bool_and(moved = 0 AND last_error IS NULL)
              FROM pgmq.worker_status}),
		'1|t', "$what: worker_status starts over with the new shared memory");

	my $last = $node->safe_psql('postgres',
		q{SELECT last_run_at FROM pgmq.worker_status WHERE database = 'postgres'});
	ok( $node->poll_query_until('postgres', qq{
            SELECT last_run_at > '$last' FROM pgmq.worker_status
             WHERE database = 'postgres'}),
		"$what: last_run_at advances");

	# A dead letter made now: read once (its max_receives), left alone.
	$node->safe_psql('postgres', qq{
        SELECT pgmq.send('jobs', '{"poison": "$what"}');
        SELECT count(*) FROM pgmq.read('jobs', 0, 1);
    });
	$dead++;
	ok( $node->poll_query_until('postgres', qq{
            SELECT (SELECT count(*) FROM pgmq.q_jobs) = 0
               AND (SELECT count(*) FROM pgmq.q_jobs_dlq
                     WHERE headers->>'x-pgmq-dlq-source' = 'jobs') = $dead
               AND (SELECT moved FROM pgmq.worker_status
                     WHERE database = 'postgres') = 1}),
		"$what: the worker moves a dead letter made after the crash");

	is( $node->safe_psql('postgres',
			q{SELECT string_agg(message->>'n', ',' ORDER BY msg_id) FROM pgmq.q_kept}),
		$kept, "$what: every message committed before the crash is there");

	$launcher = launcher_pid();
	$worker = worker_pid();
	return;
}

#
# SIGKILL of a regular backend, with a transaction in progress.
#
my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->query_safe('BEGIN');
$victim->query_safe(q{SELECT pgmq.send('kept', '{"n": "uncommitted"}')});
my $log_offset = -s $node->logfile;
ok(kill('KILL', $victim_pid), 'SIGKILL a backend');
$node->wait_for_log(qr/\(PID $victim_pid\) was terminated by signal 9/,
	$log_offset);
$log_offset = $node->wait_for_log(qr/all server processes terminated; reinitializing/,
	$log_offset);
pass('the postmaster reinitialises shared memory');
eval { $victim->quit };
check_recovery('backend killed');

#
# SIGKILL of the maintenance worker itself: a crash too.
#
ok(kill('KILL', $worker), 'SIGKILL the maintenance worker');
$node->wait_for_log(
	qr/background worker "pgmq_c maintenance[^"]*" \(PID $worker\) was terminated by signal 9/,
	$log_offset);
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
pass('the postmaster reinitialises shared memory');
check_recovery('worker killed');

#
# Immediate stop, then start: crash recovery from WAL.
#
$node->stop('immediate');
$node->start;
check_recovery('immediate stop');

$node->stop;
done_testing();
