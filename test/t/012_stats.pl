# Statistics across restarts, crashes and a full table of tracked queues.
#
# The counters of pgmq.queue_stats live in shared memory.  A clean restart
# keeps them (written to pg_stat/pgmq_c.stat at shutdown, read back at
# start) with their stats_reset; a crash starts them from zero, and
# stats_reset says when.  Beyond pgmq_c.max_tracked_queues a queue is
# untracked: NULL counters in the view, and read_with_poll still works (it
# polls).  The worker samples the counters, so rates appear.  Slots of a
# dropped database are given back by the launcher.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '200ms'
pgmq_c.max_tracked_queues = 16
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('kept');
    SELECT count(*) FROM pgmq.send_batch('kept', ARRAY['{}', '{}', '{}']::jsonb[]);
    SELECT count(*) FROM pgmq.read('kept', 30, 1);
});
my $counts = q{SELECT sent_total || '/' || read_total FROM pgmq.queue_stats WHERE queue_name = 'kept'};
is($node->safe_psql('postgres', $counts), '3/1', 'counted before the restart');
my $reset = $node->safe_psql('postgres',
	q{SELECT stats_reset FROM pgmq.queue_stats WHERE queue_name = 'kept'});

# 1. A clean restart keeps them.
$node->restart;
is($node->safe_psql('postgres', $counts), '3/1', 'a clean restart keeps the counters');
is( $node->safe_psql('postgres',
		q{SELECT stats_reset FROM pgmq.queue_stats WHERE queue_name = 'kept'}),
	$reset, '... and when they were last reset');
ok(!-e $node->data_dir . '/pg_stat/pgmq_c.stat', 'the file is gone once read');

# 2. A crash starts them afresh, and says since when.
$node->safe_psql('postgres', q{SELECT count(*) FROM pgmq.send('kept', '{}')});
is($node->safe_psql('postgres', $counts), '4/1', 'counting goes on after the restart');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $counts), '0/0', 'a crash resets the counters');
ok( $node->safe_psql('postgres',
		qq{SELECT stats_reset > '$reset' FROM pgmq.queue_stats WHERE queue_name = 'kept'}) eq 't',
	'... and stats_reset moves to the new start');

# 3. Rates: the worker samples the counters; sends over a few seconds show.
my $deadline = time() + 30;
my $rate = '';
while (time() < $deadline)
{
	$node->safe_psql('postgres', q{SELECT count(*) FROM pgmq.send_batch('kept', ARRAY['{}', '{}']::jsonb[])});
	$rate = $node->safe_psql('postgres',
		q{SELECT send_rate > 0 FROM pgmq.queue_stats WHERE queue_name = 'kept'});
	last if $rate eq 't';
	select(undef, undef, undef, 0.2);
}
is($rate, 't', 'a send rate shows once the worker has sampled');

# 4. Beyond max_tracked_queues (16): untracked, NULL counters, still working.
$node->safe_psql('postgres', q{
    SELECT pgmq.create('q' || i) FROM generate_series(1, 20) i;
});
$node->safe_psql('postgres', "SELECT pgmq.send('q$_', '{}')") for 1 .. 20;
my ($tracked, $untracked) = split /\|/, $node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE sent_total IS NOT NULL), count(*) FILTER (WHERE sent_total IS NULL)
    FROM pgmq.queue_stats
});
is($tracked, 16, 'max_tracked_queues queues are tracked');
is($untracked, 5, 'the others are shown, untracked (NULL counters)');
my $untracked_queue = $node->safe_psql('postgres',
	q{SELECT queue_name FROM pgmq.queue_stats WHERE sent_total IS NULL ORDER BY queue_name LIMIT 1});
is( $node->safe_psql('postgres',
		qq{SELECT visible FROM pgmq.queue_stats WHERE queue_name = '$untracked_queue'}),
	'1', 'an untracked queue still shows its depth');

my $poll = $node->background_psql('postgres');
$poll->query_until(qr/polling/, qq{
    \\echo polling
    SELECT count(*) AS got FROM pgmq.read_with_poll('$untracked_queue', 30, 2, 20, 50);
});
$node->safe_psql('postgres', qq{SELECT pgmq.send('$untracked_queue', '{}')});
my $got = $poll->query_safe(q{SELECT 'after'});
like($got, qr/^1\n.*after/s, 'read_with_poll on an untracked queue gets the message (it polls)');
$poll->quit;

# 5. A dropped database gives its slots back (the launcher notices).
$node->safe_psql('postgres', q{SELECT pgmq.drop_queue('q' || i) FROM generate_series(1, 20) i});
$node->safe_psql('postgres', 'CREATE DATABASE gone');
$node->safe_psql('gone', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('g' || i) FROM generate_series(1, 15) i;
});
$node->safe_psql('gone', "SELECT pgmq.send('g$_', '{}')") for 1 .. 15;
$node->safe_psql('postgres', q{SELECT pgmq.create('late')});
is( $node->safe_psql('postgres',
		q{SELECT sent_total IS NULL FROM pgmq.queue_stats WHERE queue_name = 'late'}),
	't', 'with every slot taken, a new queue is untracked');
$node->safe_psql('postgres', 'DROP DATABASE gone WITH (FORCE)');
$deadline = time() + 30;
my $late = 't';
while (time() < $deadline)
{
	$late = $node->safe_psql('postgres',
		q{SELECT sent_total IS NULL FROM pgmq.queue_stats WHERE queue_name = 'late'});
	last if $late eq 'f';
	select(undef, undef, undef, 0.2);
}
is($late, 'f', 'once the database is dropped, its slots are free again');

$node->stop;
done_testing();
