# Instant wakeups (issue 7): read_with_poll sleeps until something can
# change its answer, and enable_notify_insert tells LISTENers about new
# messages.
#
# Preloaded, a waiting read_with_poll wakes when a transaction that makes a
# message readable commits (not when it rolls back), when a delayed message
# or an expired lease becomes visible, at its deadline, on cancel or
# statement_timeout, and with an error when its queue is dropped; it follows
# a queue dropped and created again; a REPEATABLE READ reader does not
# swallow a wakeup another reader needed; it holds no lock on the queue
# while it sleeps.  A commit wakes one waiter per
# message, not all of them (the server log shows which waiters looked).
# enable_notify_insert notifies on channel 'pgmq.q_' || queue name as given
# || '.INSERT', once per transaction, at most once per throttle interval;
# with the worker on, a delayed message is notified again once it is due,
# and a message sent without a delay is not.  Without preloading,
# read_with_poll polls and notify still works, throttled through
# pgmq.notify_insert_throttle.
#
# Time is measured, but only against generous bounds: a wake "within 10 s"
# of a commit, for a read that would otherwise wait 60 s (and whose
# poll_interval_ms is 30 s, where that matters, so polling cannot pass for a
# wake).  Lower bounds ("not before the message is due") come from the
# server's clock or from checks that ended before the due time, so a slow
# machine cannot make them fail.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('wakeups');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
# Only the delayed-notification case needs the worker; it turns it on.
pgmq_c.worker_enabled = off
max_connections = 80
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgmq_c');

# The server's clock, in seconds since the epoch, as SQL.
my $now = q{extract(epoch FROM clock_timestamp())};

# Every psql started by start_psql, so that none outlives the test.
my @started;

# Start psql in the background, running each of @sql (one -c each, so each
# in its own transaction, and the next runs after an error) as
# application_name $name.  Rows come out unaligned ('|' between columns),
# errors with their SQLSTATE ("ERROR:  57014: ...").
sub start_psql
{
	my ($n, $name, @sql) = @_;
	my $p = { name => $name, node => $n, out => '', err => '' };
	my @cmd = (
		$n->installed_command('psql'), '-X', '-A', '-t', '-q',
		'-v', 'VERBOSITY=verbose',
		'-d', $n->connstr('postgres') . " application_name=$name",
		map { ('-c', $_) } @sql);
	$p->{h} = IPC::Run::start(\@cmd, '<', '/dev/null', '>', \$p->{out},
		'2>', \$p->{err});
	push @started, $p;
	return $p;
}

# Has psql $p exited?  Does not wait.
sub is_done
{
	my ($p) = @_;
	return 1 if $p->{done};
	if ($p->{h}->pumpable)
	{
		$p->{h}->pump_nb;
		return 0 if $p->{h}->pumpable;
	}
	$p->{h}->finish;
	$p->{done} = 1;
	$p->{done_at} = time;
	return 1;
}

# Wait up to $secs for psql $p to exit; true when it did.
sub wait_done
{
	my ($p, $secs) = @_;
	my $deadline = time + $secs;
	while (!is_done($p))
	{
		return 0 if time > $deadline;
		usleep(20_000);
	}
	return 1;
}

# End psql $p if it is still running (after a failed check): cancel its
# statement, then kill it.
sub stop_psql
{
	my ($p) = @_;
	return if is_done($p);
	$p->{node}->psql('postgres', qq{
        SELECT pg_cancel_backend(pid) FROM pg_stat_activity
         WHERE application_name = '$p->{name}'});
	$p->{h}->kill_kill unless wait_done($p, 10);
	$p->{done} = 1;
}

# True once the session named $name is sleeping in read_with_poll.
sub waiting
{
	my ($name) = @_;
	return qq{
        SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE application_name = '$name' AND state = 'active'
                          AND wait_event_type = 'Extension'
                          AND query LIKE '%read_with_poll%')};
}

# The rows psql $p printed, each as an array of its columns.
sub rows
{
	my ($p) = @_;
	return [ map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/, $p->{out} ];
}

# The last line of some output.
sub last_line
{
	my @lines = split /\n/, $_[0];
	return $lines[-1];
}

#
# A commit wakes the waiting reader.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('wake')});
for my $interval (100, 30000)
{
	my $name = "wake_$interval";
	my $a = start_psql($node, $name, qq{
        SELECT msg_id, message->>'n', $now
          FROM pgmq.read_with_poll('wake', 30, 1, 60, $interval)});
	ok($node->poll_query_until('postgres', waiting($name)),
		"commit, poll_interval_ms $interval: the reader waits (wait_event_type Extension)");
	my $committed = last_line($node->safe_psql('postgres', qq{
        BEGIN;
        SELECT pgmq.send('wake', '{"n": $interval}');
        COMMIT;
        SELECT $now;}));
	ok(wait_done($a, 30),
		"commit, poll_interval_ms $interval: the reader returns, long before its 60 s deadline");
	my ($row) = @{ rows($a) };
	is($row->[1] // '', $interval, "commit, poll_interval_ms $interval: it returns the committed message");
	my $delay = defined $row->[2] ? $row->[2] - $committed : 'none';
	ok($delay ne 'none' && $delay < 10,
		"commit, poll_interval_ms $interval: it returns within 10 s of the commit (${delay}s)");
	stop_psql($a);
}

#
# A rollback does not end the wait; the next commit does, and only the
# committed message is read.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('rollback')});
{
	my $a = start_psql($node, 'rollback', q{
        SELECT message->>'n' FROM pgmq.read_with_poll('rollback', 30, 10, 60, 100)});
	ok($node->poll_query_until('postgres', waiting('rollback')),
		'rollback: the reader waits');
	$node->safe_psql('postgres', q{
        BEGIN;
        SELECT pgmq.send('rollback', '{"n": "rolled back"}');
        ROLLBACK;});
	# Give a wrong wake a moment to show.
	usleep(500_000);
	ok(!is_done($a), 'rollback: the reader has not returned');
	is($node->safe_psql('postgres', waiting('rollback')),
		't', 'rollback: it is still active and waiting (wait_event_type Extension)');
	$node->safe_psql('postgres', q{SELECT pgmq.send('rollback', '{"n": "committed"}')});
	ok(wait_done($a, 30), 'rollback: a committed send then wakes it');
	is($a->{out}, "committed\n", 'rollback: it returns only the committed message');
	stop_psql($a);
}

#
# A delayed message wakes the reader when it becomes visible.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('delayed')});
{
	my $a = start_psql($node, 'delayed', qq{
        SELECT message->>'n', extract(epoch FROM clock_timestamp() - enqueued_at)
          FROM pgmq.read_with_poll('delayed', 30, 1, 60, 30000)});
	ok($node->poll_query_until('postgres', waiting('delayed')),
		'delayed: the reader waits');
	$node->safe_psql('postgres', q{SELECT pgmq.send('delayed', '{"n": 3}', 2)});
	ok(wait_done($a, 30), 'delayed: the reader returns, long before its 60 s deadline');
	my ($row) = @{ rows($a) };
	is($row->[0] // '', '3', 'delayed: it returns the delayed message');
	# The message's age when the reader returned, on the server's clock.
	my $age = $row->[1] // 'none';
	ok($age ne 'none' && $age >= 1.5, "delayed: not before the message is due (${age}s after the send)");
	ok($age ne 'none' && $age < 10, "delayed: soon after it is due (${age}s after the send)");
	stop_psql($a);
}

#
# An expired lease wakes the reader.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('lease')});
{
	my $id = $node->safe_psql('postgres', q{SELECT pgmq.send('lease', '{"n": 4}')});
	# Someone else reads it with a 2 second lease.
	my ($leased, $read_ct, $leased_at) = split /\|/, $node->safe_psql('postgres', qq{
        SELECT msg_id, read_ct, $now FROM pgmq.read('lease', 2, 1)});
	is("$leased $read_ct", "$id 1", 'lease: another reader holds the message');
	my $a = start_psql($node, 'lease', qq{
        SELECT msg_id, read_ct, $now FROM pgmq.read_with_poll('lease', 30, 1, 60, 30000)});
	ok(wait_done($a, 30), 'lease: the reader returns, long before its 60 s deadline');
	my ($row) = @{ rows($a) };
	is(join(' ', ($row->[0] // ''), ($row->[1] // '')),
		"$id 2", 'lease: it gets the message once the lease expires, read_ct 2');
	my $after = defined $row->[2] ? $row->[2] - $leased_at : 'none';
	ok($after ne 'none' && $after >= 1.5, "lease: not before the lease ends (${after}s after the first read)");
	ok($after ne 'none' && $after < 10, "lease: soon after it ends (${after}s after the first read)");
	stop_psql($a);
}

#
# The deadline: an empty queue gives no rows after max_poll_seconds.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('empty')});
{
	my ($count, $took) = split /\|/, $node->safe_psql('postgres', q{
        SELECT count(*), extract(epoch FROM clock_timestamp() - statement_timestamp())
          FROM pgmq.read_with_poll('empty', 30, 1, 1, 100)});
	is($count, '0', 'timeout: no rows from an empty queue');
	ok($took >= 0.95 && $took < 10, "timeout: after about max_poll_seconds, 1 s (${took}s)");
}

#
# pg_cancel_backend and statement_timeout end the wait at once; the session
# goes on.
#
{
	my $a = start_psql($node, 'cancel',
		q{SELECT * FROM pgmq.read_with_poll('empty', 30, 1, 60, 100)},
		q{SELECT 'usable', count(*) FROM pgmq.read_with_poll('empty', 30, 1, 0, 100)});
	ok($node->poll_query_until('postgres', waiting('cancel')), 'cancel: the reader waits');
	my $start = time;
	is( $node->safe_psql('postgres', q{
            SELECT pg_cancel_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'cancel'}),
		't', 'cancel: pg_cancel_backend signals it');
	ok(wait_done($a, 30), 'cancel: the reader returns, long before its 60 s deadline');
	my $took = time - $start;
	like($a->{err}, qr/ERROR:  57014: canceling statement due to user request/,
		"cancel: SQLSTATE 57014 ($took s after the cancel)");
	is($a->{out}, "usable|0\n", 'cancel: the session goes on, pgmq_c too');
	stop_psql($a);

	my $b = start_psql($node, 'stmt_timeout',
		q{SET statement_timeout = '1s'},
		q{SELECT * FROM pgmq.read_with_poll('empty', 30, 1, 60, 100)},
		q{RESET statement_timeout},
		q{SELECT 'usable', count(*) FROM pgmq.read_with_poll('empty', 30, 1, 0, 100)});
	ok(wait_done($b, 30), 'statement_timeout: the reader returns, long before its 60 s deadline');
	like($b->{err}, qr/ERROR:  57014: canceling statement due to statement timeout/,
		'statement_timeout: SQLSTATE 57014');
	is($b->{out}, "usable|0\n", 'statement_timeout: the session goes on, pgmq_c too');
	stop_psql($b);
}

#
# A sleeping reader holds no lock on its queue: drop_queue, purge_queue and
# enable_notify_insert do not wait for it.  A dropped queue ends the wait
# with an error.
#
# Run $sql with a lock_timeout well below the readers' 60 s: blocked by a
# reader, it fails instead of waiting.  Returns (exit code, stdout, stderr,
# seconds).
sub not_blocked
{
	my ($sql) = @_;
	my $start = time;
	my ($rc, $out, $err) = $node->psql('postgres', "SET lock_timeout = '10s';\n$sql");
	return ($rc, $out, $err, time - $start);
}

$node->safe_psql('postgres', q{SELECT pgmq.create('dropme')});
{
	my $a = start_psql($node, 'dropme', q{
        SELECT * FROM pgmq.read_with_poll('dropme', 30, 1, 60, 100)});
	ok($node->poll_query_until('postgres', waiting('dropme')), 'drop: the reader waits');
	my ($rc, $out, $err, $took) = not_blocked(q{SELECT pgmq.drop_queue('dropme')});
	is("$rc $out", '0 t', "drop: drop_queue is not blocked by the sleeping reader (${took}s)")
	  or diag($err);
	my $start = time;
	ok(wait_done($a, 20), 'drop: the reader returns, long before its 60 s deadline');
	my $ended = time - $start;
	like($a->{err}, qr/ERROR:  42P01: .*dropme/,
		"drop: with SQLSTATE 42P01, naming the queue (${ended}s after the drop)");
	is($a->{out}, '', 'drop: and no rows');
	stop_psql($a);
}

# Dropped and created again while a reader waits: it follows the queue to
# its new table, and a send to that wakes it.
$node->safe_psql('postgres', q{SELECT pgmq.create('again')});
{
	my $a = start_psql($node, 'again', q{
        SELECT message->>'n' FROM pgmq.read_with_poll('again', 30, 1, 60, 30000)});
	ok($node->poll_query_until('postgres', waiting('again')), 'recreate: the reader waits');
	$node->safe_psql('postgres', q{
        BEGIN; SELECT pgmq.drop_queue('again'); SELECT pgmq.create('again'); COMMIT;});
	ok($node->poll_query_until('postgres', waiting('again')), 'recreate: it waits on');
	$node->safe_psql('postgres', q{SELECT pgmq.send('again', '{"n": "new"}')});
	ok(wait_done($a, 20), 'recreate: a send to the new table wakes it, long before its deadline');
	is($a->{out}, "new\n", 'recreate: it reads the new message');
	stop_psql($a);
}

# A REPEATABLE READ reader cannot see messages committed after its
# snapshot; a wakeup it takes is not lost to a READ COMMITTED reader waiting
# behind it.
$node->safe_psql('postgres', q{SELECT pgmq.create('rr')});
{
	my $a = start_psql($node, 'rr_a', q{
        BEGIN ISOLATION LEVEL REPEATABLE READ;
        SELECT count(*) FROM pgmq.read_with_poll('rr', 30, 1, 8, 30000);
        COMMIT;});
	ok($node->poll_query_until('postgres', waiting('rr_a')), 'repeatable read: the first reader waits');
	my $b = start_psql($node, 'rr_b', q{
        SELECT message->>'n' FROM pgmq.read_with_poll('rr', 30, 1, 60, 30000)});
	ok($node->poll_query_until('postgres', waiting('rr_b')), 'repeatable read: a second reader waits');
	$node->safe_psql('postgres', q{SELECT pgmq.send('rr', '{"n": "one"}')});
	ok(wait_done($b, 6), 'repeatable read: the read committed reader gets the message at once');
	is($b->{out}, "one\n", 'repeatable read: ... that message');
	stop_psql($b);
	ok(wait_done($a, 20), 'repeatable read: the other ends at its deadline');
	stop_psql($a);
}

$node->safe_psql('postgres', q{SELECT pgmq.create('busy')});
{
	my $a = start_psql($node, 'busy', q{
        SELECT message->>'n' FROM pgmq.read_with_poll('busy', 30, 1, 60, 100)});
	ok($node->poll_query_until('postgres', waiting('busy')), 'purge: the reader waits');
	my ($rc, $out, $err, $took) = not_blocked(q{SELECT pgmq.purge_queue('busy')});
	is("$rc $out", '0 0', "purge: purge_queue is not blocked by the sleeping reader (${took}s)")
	  or diag($err);
	($rc, $out, $err, $took) = not_blocked(q{SELECT pgmq.enable_notify_insert('busy', 0)});
	is($rc, 0, "notify: enable_notify_insert is not blocked by the sleeping reader (${took}s)")
	  or diag($err);
	is($node->safe_psql('postgres', waiting('busy')), 't', 'purge, notify: the reader still waits');
	$node->safe_psql('postgres', q{SELECT pgmq.send('busy', '{"n": "after"}')});
	ok(wait_done($a, 30), 'purge, notify: a send then wakes it');
	is($a->{out}, "after\n", 'purge, notify: it reads the new message');
	stop_psql($a);
}

#
# A thundering herd: 50 readers wait on one queue, one message comes.  One
# reader gets it; the others are not even woken to look.  Each reader logs
# the statements it runs inside read_with_poll (auto_explain of nested
# statements; the log line carries its application_name), so the log shows
# which readers looked at the queue after the send.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('herd')});
{
	my $n = 50;
	my @herd = map {
		start_psql($node, "herd_$_",
			q{LOAD 'auto_explain'},
			q{SET auto_explain.log_min_duration = 0},
			q{SET auto_explain.log_nested_statements = on},
			q{SELECT msg_id FROM pgmq.read_with_poll('herd', 30, 1, 60, 100)})
	} 1 .. $n;
	ok( $node->poll_query_until('postgres', qq{
            SELECT count(*) FROM pg_stat_activity
             WHERE application_name ~ '^herd_' AND state = 'active'
               AND wait_event_type = 'Extension'}, $n),
		"herd: $n readers wait");
	my $log_offset = -s $node->logfile;
	my $id = $node->safe_psql('postgres', q{SELECT pgmq.send('herd', '{}')});
	my $deadline = time + 30;
	my @done;
	while (time < $deadline)
	{
		@done = grep { is_done($_) } @herd;
		last if @done;
		usleep(20_000);
	}
	is(scalar @done, 1, 'herd: one reader returns');
	is(join(',', map { $_->{out} } @done), "$id\n", 'herd: with the message');
	# Give wrongly woken readers a moment to show.
	usleep(500_000);
	is(scalar(grep { is_done($_) } @herd), 1, 'herd: no other reader returns');
	is( $node->safe_psql('postgres', q{
            SELECT count(*) FROM pg_stat_activity
             WHERE application_name ~ '^herd_' AND state = 'active'
               AND wait_event_type = 'Extension'}),
		$n - 1, 'herd: the others still wait');

	my $log = slurp_file($node->logfile, $log_offset);
	my %looked;
	$looked{$1}++
	  while $log =~ /^[^\[\n]*\[\d+\] (herd_\d+) LOG:  duration: [^\n]*\n\s*Query Text: [^\n]*q_herd/mg;
	my $statements = 0;
	$statements += $_ for values %looked;
	my $readers = scalar keys %looked;
	diag("herd: after the send, $readers of $n readers looked at the queue ($statements statements)");
	ok($readers >= 1, 'herd: the log shows the reader that got the message looking');
	cmp_ok($readers, '<=', 5, "herd: one message wakes one reader, not $n ($readers looked)");

	is( $node->safe_psql('postgres', q{
            SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
             WHERE application_name ~ '^herd_'}),
		$n - 1, 'herd: cancel the others');
	is(scalar(grep { wait_done($_, 30) } @herd), $n, 'herd: all have returned');
}

#
# Notifications: LISTEN on pgmq's channel for a queue.
#
# Channels seen by listener $l since the last call, in order.
sub notifications
{
	my ($l) = @_;
	my $out = $l->query_safe('SELECT 1');
	return map { /^Asynchronous notification "([^"]*)"/ ? $1 : () } split /\n/, $out;
}

# NOTIFY marker on node $n, and return the channels listener $l got before
# it.  Notifications arrive in commit order, so all those of transactions
# committed before the marker are in.
sub until_marker
{
	my ($n, $l) = @_;
	my @got;
	$n->safe_psql('postgres', 'NOTIFY marker');
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		for my $channel (notifications($l))
		{
			return @got if $channel eq 'marker';
			push @got, $channel;
		}
		usleep(50_000);
	}
	die 'the marker notification did not arrive';
}

# $k sends to $queue, in separate transactions (psql's autocommit), from one
# psql on node $n: a check that they all commit.  Returns how long they
# took, psql's start included.
sub sends
{
	my ($n, $queue, $k, $what) = @_;
	my $start = time;
	my ($rc, $out, $err) =
	  $n->psql('postgres', join("\n", (qq{SELECT pgmq.send('$queue', '{}');}) x $k));
	my $took = time - $start;
	is($rc, 0, "$what: $k sends to $queue commit") or diag($err);
	return $took;
}

# Checks that a burst of sends, within a throttle interval of one second,
# gives one notification on $channel, and that a send after the interval
# gives another.
sub check_throttle
{
	my ($n, $l, $queue, $channel, $what) = @_;
	my $took = sends($n, $queue, 10, $what);
	my $sent_at = time;
	my @got = until_marker($n, $l);
	if ($took < 1)
	{
		is_deeply(\@got, [$channel],
			"$what: 10 sends within the 1 s throttle interval, one notification");
	}
	else
	{
		# A slow machine: the burst may span more than one interval.
		my $max = 1 + int($took);
		ok(@got >= 1 && @got <= $max && !grep({ $_ ne $channel } @got),
			"$what: 10 sends over ${took}s, 1 to $max notifications (got "
			  . scalar(@got) . ')');
	}
	# Past the interval, counted from the last send, a send notifies again.
	my $rest = $sent_at + 1.2 - time;
	usleep($rest * 1e6) if $rest > 0;
	sends($n, $queue, 1, $what);
	@got = until_marker($n, $l);
	is_deeply(\@got, [$channel], "$what: a send after the interval, one more notification");
}

$node->safe_psql('postgres', q{
    SELECT pgmq.create('MixedCase');
    SELECT pgmq.enable_notify_insert('MixedCase', 0);
    SELECT pgmq.create('q2');
    SELECT pgmq.enable_notify_insert('q2', 1000);
});
{
	my $l = $node->background_psql('postgres');
	$l->query_safe(q{
        LISTEN "pgmq.q_MixedCase.INSERT";
        LISTEN "pgmq.q_mixedcase.INSERT";
        LISTEN "pgmq.q_q2.INSERT";
        LISTEN marker;});

	sends($node, 'MixedCase', 1, 'notify');
	is_deeply([ until_marker($node, $l) ], ['pgmq.q_MixedCase.INSERT'],
		'notify: a committed send, one notification on pgmq.q_MixedCase.INSERT (the name as given)');
	$node->safe_psql('postgres', q{
        BEGIN;
        SELECT pgmq.send('MixedCase', '{}');
        ROLLBACK;});
	is_deeply([ until_marker($node, $l) ], [], 'notify: a rolled-back send, none');
	$node->safe_psql('postgres', q{
        BEGIN;
        SELECT pgmq.send('MixedCase', '{"n": 1}');
        SELECT pgmq.send('MixedCase', '{"n": 2}');
        SELECT * FROM pgmq.send_batch('MixedCase', ARRAY['{"n": 3}']::jsonb[]);
        COMMIT;});
	is_deeply([ until_marker($node, $l) ], ['pgmq.q_MixedCase.INSERT'],
		'notify: a transaction with 3 sends, one notification');

	check_throttle($node, $l, 'q2', 'pgmq.q_q2.INSERT', 'notify, throttled');
	$l->quit;
}

#
# Beyond pgmq: with the worker on, a delayed message is notified again when
# it becomes due.
#
$node->safe_psql('postgres', q{
    ALTER SYSTEM SET pgmq_c.worker_enabled = on;
    SELECT pg_reload_conf();
    SELECT pgmq.create('q3');
    SELECT pgmq.enable_notify_insert('q3', 0);
});
ok( $node->poll_query_until('postgres', q{
        SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE backend_type = 'pgmq_c maintenance' AND datname = 'postgres')}),
	'due notify: the worker runs');
{
	my $l = $node->background_psql('postgres');
	$l->query_safe(q{LISTEN "pgmq.q_q3.INSERT"});
	my $start = time;
	$node->safe_psql('postgres', q{SELECT pgmq.send('q3', '{}', 2)});
	# Look every 100 ms; remember how many had come by each look's end.
	my @looks;
	my $count = 0;
	while (time < $start + 30)
	{
		$count += scalar notifications($l);
		push @looks, [ time - $start, $count ];
		last if $count >= 2;
		usleep(100_000);
	}
	my ($first) = grep { $_->[1] >= 1 } @looks;
	my ($second) = grep { $_->[1] >= 2 } @looks;
	ok($first, 'due notify: a notification at the commit of the delayed send');
	ok($second, 'due notify: a second one, when the message is due');
	my @early = grep { $_->[0] < 1.5 && $_->[1] >= 2 } @looks;
	ok(!@early, 'due notify: the second did not come within 1.5 s of the send (it is due after 2 s)');
	my $at = $second ? $second->[0] : 1e9;
	cmp_ok($at, '<', 15, "due notify: it came soon after the message was due (seen ${at}s after the send)");

	# A message sent without a delay is notified at its commit, and only
	# then: the worker announces messages that were delayed.  A delayed
	# message on another queue makes the worker look at every queue, at
	# that send's commit and when it is due.
	$node->safe_psql('postgres', q{
        SELECT pgmq.create('q4');
        SELECT pgmq.enable_notify_insert('q4', 0);});
	$l->query_safe(q{LISTEN "pgmq.q_q4.INSERT"; LISTEN marker});
	notifications($l);
	$node->safe_psql('postgres', q{SELECT pgmq.send('q3', '{"delay": "none"}')});
	$node->safe_psql('postgres', q{SELECT pgmq.send('q4', '{}', 1)});
	my @got;
	$start = time;
	while (time < $start + 30 && grep({ $_ eq 'pgmq.q_q4.INSERT' } @got) < 2)
	{
		push @got, notifications($l);
		usleep(100_000);
	}
	push @got, until_marker($node, $l);
	is(scalar(grep { $_ eq 'pgmq.q_q4.INSERT' } @got), 2,
		'due notify: the other queue, notified at the commit and when due');
	is(scalar(grep { $_ eq 'pgmq.q_q3.INSERT' } @got), 1,
		'due notify: a send without delay, one notification: the worker does not announce it again');
	$l->quit;
}
$node->safe_psql('postgres', q{
    ALTER SYSTEM RESET pgmq_c.worker_enabled;
    SELECT pg_reload_conf();
});

#
# Without preloading: read_with_poll polls, and notify is throttled through
# pgmq.notify_insert_throttle.
#
my $plain = PostgreSQL::Test::Cluster->new('without_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('np');
    SELECT pgmq.create('NoPreload');
    SELECT pgmq.enable_notify_insert('NoPreload', 1000);
});
{
	my $a = start_psql($plain, 'np', qq{
        SELECT message->>'n', $now FROM pgmq.read_with_poll('np', 30, 1, 60, 100)});
	ok( $plain->poll_query_until('postgres', q{
            SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE application_name = 'np' AND state = 'active')}),
		'no preload: the reader waits');
	my $committed = last_line($plain->safe_psql('postgres', qq{
        SELECT pgmq.send('np', '{"n": 10}');
        SELECT $now;}));
	ok(wait_done($a, 30), 'no preload: the reader returns, long before its 60 s deadline');
	my ($row) = @{ rows($a) };
	is($row->[0] // '', '10', 'no preload: with the committed message');
	my $delay = defined $row->[1] ? $row->[1] - $committed : 'none';
	ok($delay ne 'none' && $delay < 10, "no preload: within 10 s of the commit (${delay}s)");
	stop_psql($a);

	my ($count, $took) = split /\|/, $plain->safe_psql('postgres', q{
        SELECT count(*), extract(epoch FROM clock_timestamp() - statement_timestamp())
          FROM pgmq.read_with_poll('np', 30, 1, 1, 100)});
	is($count, '0', 'no preload: timeout, no rows');
	ok($took >= 0.95 && $took < 10, "no preload: after about max_poll_seconds, 1 s (${took}s)");

	my $l = $plain->background_psql('postgres');
	$l->query_safe(q{
        LISTEN "pgmq.q_NoPreload.INSERT";
        LISTEN "pgmq.q_nopreload.INSERT";
        LISTEN marker;});
	check_throttle($plain, $l, 'NoPreload', 'pgmq.q_NoPreload.INSERT', 'no preload, notify');
	is( $plain->safe_psql('postgres', q{
            SELECT throttle_interval_ms || ' ' || (last_notified_at > now() - interval '1 minute')
              FROM pgmq.notify_insert_throttle WHERE queue_name = 'NoPreload'}),
		'1000 true', 'no preload: the throttle is pgmq.notify_insert_throttle\'s row');
	$l->quit;
}

stop_psql($_) for @started;
$plain->stop;
$node->stop;
done_testing();
