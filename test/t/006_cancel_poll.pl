# A read_with_poll that is waiting can be stopped from outside.
#
# pg_cancel_backend ends the wait at once with "canceling statement due to
# user request"; the session stays usable (pgmq_c's calls too) and holds no
# lock on the queue any more.  pg_terminate_backend ends the session the
# same way, and the rest of the server carries on: no crash, no restart.
# Neither changes the queue: the poll has leased nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(gettimeofday tv_interval);

my $node = PostgreSQL::Test::Cluster->new('cancel_poll');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgmq_c'");
$node->start;

# Nothing the polls below ask for is visible: message 1 is visible but does
# not match their conditional, message 2 matches but is delayed an hour.  So
# they wait their full 60 seconds unless stopped, and each attempt passes
# over both rows.
$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('waiting');
    SELECT pgmq.send('waiting', '{"kind": "other"}');
    SELECT pgmq.send('waiting', '{"kind": "wanted"}', 3600);
});

my $poll = q{SELECT * FROM pgmq.read_with_poll('waiting', 30, 1, 60, 100, '{"kind": "wanted"}');};

# Everything about the queue a poll could change.
my $queue_state = q{
    SELECT (SELECT string_agg(row(q.*)::text, ' ' ORDER BY msg_id) FROM pgmq.q_waiting q)
           || ' archived: ' || (SELECT count(*) FROM pgmq.a_waiting)
};
my $before = $node->safe_psql('postgres', $queue_state);

# True once backend $pid is sleeping inside read_with_poll.
sub poll_waiting
{
	my ($pid) = @_;
	return qq{
        SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE pid = $pid AND state = 'active'
                          AND wait_event_type = 'Extension'
                          AND query LIKE '%read_with_poll%')
    };
}

# Start $poll in a background session; return the session and its pid once
# the poll is waiting.
sub start_poll
{
	my ($what) = @_;
	# The session outlives the poll's 60 second deadline, so a stop that
	# does not work shows as failed checks, not as psql timing out.
	my $session = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		timeout => 60 + $PostgreSQL::Test::Utils::timeout_default);
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$session->query_until(qr/polling/, "\\echo polling\n$poll\n");
	ok($node->poll_query_until('postgres', poll_waiting($pid)),
		"$what: the poll is waiting (wait_event_type Extension)");
	return ($session, $pid);
}

#
# pg_cancel_backend
#
my ($poller, $pid) = start_poll('cancel');

my $start = [gettimeofday];
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"),
	't', 'pg_cancel_backend signals the polling backend');
# psql runs this once the poll has ended, however it ended; were the cancel
# ignored, that would be after the 60 second deadline, without an error.
my $after = $poller->query(q{SELECT 'usable'});
my $elapsed = tv_interval($start);

like(
	$poller->{stderr},
	qr/ERROR:  canceling statement due to user request/,
	'the poll ends with "canceling statement due to user request"');
# A clock check, as promptness is what is tested: a cancelled poll ends
# within one poll interval (100 ms); the bound is far above that and far
# below the 60 second deadline, so only an ignored cancel fails it.
cmp_ok($elapsed, '<', 30,
	"it ends promptly, long before its 60 second deadline (${elapsed}s)");
is($after, 'usable', 'the session stays usable');
# BackgroundPsql keeps stderr across queries; query_safe fails on any.
$poller->{stderr} = '';
is( $poller->query_safe(
		q{SELECT count(*) FROM pgmq.read_with_poll('waiting', 30, 1, 0, 100, '{"kind": "wanted"}')}
	),
	'0',
	'and pgmq_c works in it: read_with_poll polls again');
is( $node->safe_psql(
		'postgres', qq{
        SELECT count(*) FROM pg_locks
        WHERE pid = $pid AND relation = 'pgmq.q_waiting'::regclass}),
	'0',
	'the cancelled poll holds no lock on the queue');
is($node->safe_psql('postgres', $queue_state),
	$before, 'the queue is unchanged after the cancel');
$poller->quit;

#
# pg_terminate_backend
#
# A session that stays connected throughout: were the terminated backend to
# crash, the postmaster would end every session (and, as test clusters run
# with restart_after_crash = off, stop).
my $bystander = $node->background_psql('postgres');
my $log_offset = -s $node->logfile;

my ($victim, $vpid) = start_poll('terminate');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($vpid)"),
	't', 'pg_terminate_backend signals the polling backend');
# The session is gone, so wait for psql to report it, not for a query.
my $ended = eval {
	pump_until($victim->{run}, $victim->{timeout}, \$victim->{stderr},
		qr/terminating connection due to administrator command/);
};
ok($ended,
	'the poll ends with "terminating connection due to administrator command"');
eval { $victim->quit };

is(eval { $bystander->query_safe('SELECT 1') },
	'1', 'another session is still connected: the server did not restart');
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $vpid)"),
	'the terminated backend exits');
is($node->safe_psql('postgres', $queue_state),
	$before, 'the queue is unchanged after the terminate');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgmq.read('waiting', 30, 1)}),
	'1', 'new sessions work, pgmq_c too');
ok( !$node->log_contains(
		qr/terminated by signal|exited with exit code|reinitializing/,
		$log_offset),
	'the log shows no crashed backend');
eval { $bystander->quit };

$node->stop;
done_testing();
