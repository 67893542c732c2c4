# Crash safety under load, over several crash cycles.
#
# 001_durability.pl and 008_worker_crash.pl crash a quiet server.  Here
# producers and consumers run concurrently while the server crashes: six
# cycles, alternating a SIGKILL of a random client backend (with
# restart_after_crash = on the postmaster ends every process and recovers
# from WAL) and an immediate stop followed by a start.  Meanwhile the
# maintenance worker (every 100 ms) moves dead letters and keeps the
# partitions of a partitioned queue (creating and dropping them), so the
# crashes also interrupt those.
#
# Each client is a psql script, one generation of them per cycle, that logs
# what the server acknowledged.  Acknowledged means the client saw its
# COMMIT succeed: every operation runs in BEGIN ... COMMIT, its ids are
# echoed as "try" before the COMMIT and as "ack" after it, and with
# ON_ERROR_STOP a failed COMMIT (or a lost connection) is never followed by
# its "ack" line.  An operation with a "try" and no "ack" is in doubt: it
# may or may not have committed.  (psql writes each \echo before it runs
# the next command, and every client exits normally when its connection
# goes; a partly written last line of a log would be ignored all the same.)
#
# After each recovery, from the logs and the tables:
#   - no message is in two places (queue, archive, dead-letter queue), and
#     every message there was sent by a client;
#   - every acknowledged send is in the queue or its archive, or was
#     deleted (acknowledged, or in doubt);
#   - no acknowledged delete or archive comes back to the queue, and every
#     acknowledged archive is in the archive;
#   - no message is acknowledged deleted or archived twice;
#   - dead letters: each message sent to a queue with max_receives => 1 is
#     in exactly one of the queue and its dead-letter queue (found there by
#     the x-pgmq-dlq-msg-id header), or was deleted;
#   - the partitioned queue (partitions of 20 ids, retention of 200 ids)
#     keeps every message newer than its retention as above; older ones may
#     be gone with their partition (the retention contract), but none is
#     duplicated or comes back after a delete;
#   - the unlogged queue is empty (a crash empties it, as documented), its
#     logged archive keeps what was archived, and new ids do not repeat
#     any that committed before;
#   - every queue still takes a send, hands it to a read and archives or
#     deletes it, with an id past every id that committed before; the worker
#     is back and passes run without error.
#
# The checks do fail when they should: with synchronous_commit = off,
# acknowledged sends and archives go missing after a crash; with a
# dead-letter move that leaves the message in its queue, messages are in
# two places and deleted ones come back.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# Which backend a SIGKILL hits and when a crash comes are drawn at random;
# PGMQ_C_CRASH_SEED repeats a run's draws.
my $dir = PostgreSQL::Test::Utils::tempdir;    # before srand: its name is random
my $seed = $ENV{PGMQ_C_CRASH_SEED} // 19;
srand($seed);
note "seed $seed (PGMQ_C_CRASH_SEED)";

my $cycles = 6;
my $part_interval = 20;
my $part_retention = 200;

my $node = PostgreSQL::Test::Cluster->new('crash_cycles');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '100ms'
restart_after_crash = on
max_connections = 30
});
$node->start;

$node->safe_psql('postgres', qq{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('plain');
    SELECT pgmq.create_partitioned('part', '$part_interval', '$part_retention', 2);
    SELECT pgmq.create('dl');
    SELECT pgmq.create('dl_dlq');
    SELECT pgmq.set_queue_policy('dl', max_receives => 1, dead_letter_queue => 'dl_dlq');
    SELECT pgmq.create_unlogged('fast');
});

#
# The clients: psql scripts, written once, run by each generation.
#

# An operation in its own transaction: $select (one row, column "done": the
# ids, space-separated) is logged as tried before the COMMIT, acknowledged
# after it.
sub op
{
	my ($what, $queue, $select) = @_;
	return "BEGIN;\n$select \\gset\n"
	  . "\\echo try $what $queue :done .\n"
	  . "COMMIT;\n"
	  . "\\echo ack $what $queue :done .\n";
}

sub send_one
{
	my ($queue) = @_;
	return op('send', $queue,
		"SELECT id AS done FROM pgmq.send('$queue', '{\"by\": \"client\"}') AS id");
}

sub send_three
{
	my ($queue) = @_;
	return op('send', $queue,
		"SELECT string_agg(id::text, ' ') AS done FROM pgmq.send_batch('$queue',"
		  . " ARRAY['{\"n\": 1}', '{\"n\": 2}', '{\"n\": 3}']::jsonb[]) AS id");
}

# Read up to $qty (autocommit: a read is not an acknowledgement of
# anything), then delete or archive what was read.
sub read_then
{
	my ($what, $queue, $vt, $qty) = @_;
	return "SELECT coalesce(array_agg(msg_id), '{}') AS ids"
	  . " FROM pgmq.read('$queue', $vt, $qty) \\gset\n"
	  . op($what, $queue,
		"SELECT coalesce(string_agg(id::text, ' '), '') AS done"
		  . " FROM pgmq.$what('$queue', :'ids'::bigint[]) AS id");
}

sub pop_some
{
	my ($queue, $qty) = @_;
	return op('delete', $queue,
		"SELECT coalesce(string_agg(msg_id::text, ' '), '') AS done"
		  . " FROM pgmq.pop('$queue', $qty)");
}

# The dead-letter consumer reads without deleting most of the time, so
# messages run out of receives and move to dl_dlq, on the next read or in
# the worker's pass; it pauses so that the worker gets some of them.
sub dl_consumer
{
	my ($i) = @_;
	my $s = "SELECT coalesce(array_agg(msg_id), '{}') AS ids"
	  . " FROM pgmq.read('dl', " . ($i % 2) . ", 2) \\gset\n"
	  . "SELECT pg_sleep(0.01) \\gset\n";
	$s .= op('delete', 'dl',
		"SELECT coalesce(string_agg(id::text, ' '), '') AS done"
		  . " FROM pgmq.delete('dl', :'ids'::bigint[]) AS id")
	  if $i % 3 == 0;
	return $s;
}

my %clients = (
	producer_a => sub { send_one('plain') . send_three('part') . send_one('dl') },
	producer_b => sub { send_three('plain') . send_one('part') . send_three('fast') },
	consumer_a => sub { read_then('delete', 'plain', 2, 3) . read_then('archive', 'part', 2, 2) },
	consumer_b => sub {
		read_then('archive', 'plain', 2, 3)
		  . read_then('delete', 'part', 2, 2)
		  . read_then('archive', 'fast', 2, 1);
	},
	consumer_c => sub { pop_some('plain', 2) . pop_some('part', 1) },
	consumer_dl => \&dl_consumer,);

# Long enough to keep every client busy until the crash comes.
my $iterations = 3000;
for my $name (sort keys %clients)
{
	open my $fh, '>', "$dir/$name.sql" or die "$dir/$name.sql: $!";
	print $fh $clients{$name}->($_) for 1 .. $iterations;
	close $fh;
}

# One generation: every client started, connected as application_name
# crash_<client>.
sub start_clients
{
	my ($gen) = @_;
	my @running;
	for my $name (sort keys %clients)
	{
		my $out = "$dir/gen${gen}_$name.log";
		my $h = IPC::Run::start(
			[
				'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
				'-d', $node->connstr('postgres') . " application_name=crash_$name",
				'-f', "$dir/$name.sql"
			],
			'<', \undef, '>', $out, '2>', "$out.err",
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		push @running, { name => $name, h => $h, out => $out };
	}
	return @running;
}

# Wait for the clients to end (the crash ends their connections), then
# check that none stopped on an SQL error: each ran its script to the end
# or lost its connection.
sub finish_clients
{
	my ($gen, @running) = @_;
	my @errors;
	for my $c (@running)
	{
		eval { $c->{h}->finish };
		for (split /\n/, slurp_file("$c->{out}.err"))
		{
			next unless /ERROR:/;
			push @errors, "$c->{name}: $_";
		}
	}
	is(join("\n", @errors), '', "generation $gen: no client failed on an SQL error");
	return;
}

#
# What the clients were told, from every log so far.
#

# $ack{$op}{$queue}{$id}: how many times acknowledged; $try likewise for
# tried (acknowledged or in doubt).
my (%ack, %try);

sub read_logs
{
	%ack = ();
	%try = ();
	for my $log (glob "$dir/gen*.log")
	{
		my $text = slurp_file($log);
		my @lines = split /\n/, $text, -1;
		pop @lines;    # after the last newline: '' or a partly written line
		for (@lines)
		{
			my ($kind, $op, $queue, $ids) =
			  /^(try|ack) (send|delete|archive) (\w+) ([\d ]*)\.$/
			  or die "$log: unexpected line: $_";
			my $to = $kind eq 'ack' ? \%ack : \%try;
			$to->{$op}{$queue}{$_}++ for split ' ', $ids;
		}
	}
	return;
}

# Sends acknowledged to generation $gen so far (lines, not ids).
sub acked_sends
{
	my ($gen) = @_;
	my $n = 0;
	for my $log (glob "$dir/gen${gen}_*.log")
	{
		$n += () = slurp_file($log) =~ /^ack send \w+ \d[\d ]*\.\n/mg;
	}
	return $n;
}

# The probes each cycle sends: acknowledged by safe_psql's success.
my %probe;

sub ids_of
{
	my ($sql) = @_;
	return split /\n/, $node->safe_psql('postgres', $sql);
}

# "name: 1 2 3" of at most 20 ids, for messages.
sub show
{
	my ($what, @ids) = @_;
	@ids = sort { $a <=> $b } @ids;
	splice(@ids, 20, @ids - 20, '...') if @ids > 20;
	return "$what: @ids";
}

# The invariants for one queue.  %$places: where a message of it can be
# (name => list of msg_ids found there).  $from: acknowledged sends and
# archives below it are not required to be there (retention); $durable:
# false for the unlogged queue, whose messages a crash removes.
sub check_queue
{
	my (%args) = @_;
	my ($what, $queue, $places, $archive) = @args{qw(what queue places archive)};
	my $from = $args{from} // 0;
	my $durable = $args{durable} // 1;
	my $sent_ack = $ack{send}{$queue} // {};
	my $sent_try = $try{send}{$queue} // {};
	my $del_ack = $ack{delete}{$queue} // {};
	my $del_try = $try{delete}{$queue} // {};
	my $arc_ack = $ack{archive}{$queue} // {};

	my (%where, @twice);
	for my $place (sort keys %$places)
	{
		for my $id (@{ $places->{$place} })
		{
			push @twice, $id if exists $where{$id};
			$where{$id} = $place;
		}
	}
	is(show('in two places', @twice), 'in two places: ',
		"$what: $queue: no message is in two places (" . join(', ', sort keys %$places) . ')');
	is(show('never sent', grep { !$sent_try->{$_} } keys %where),
		'never sent: ', "$what: $queue: every message there was sent by a client");

	# The unlogged queue's messages go with a crash, and its consumer only
	# archives.
	if ($durable)
	{
		is( show(
				'missing',
				grep { $_ >= $from && !exists $where{$_} && !$del_try->{$_} }
				  keys %$sent_ack),
			'missing: ',
			"$what: $queue: every acknowledged send is there or was deleted");
		is(show('back', grep { exists $where{$_} } keys %$del_ack),
			'back: ', "$what: $queue: no acknowledged delete comes back");
	}
	if ($archive)
	{
		is( show(
				'not archived',
				grep { $_ >= $from && ($where{$_} // '') ne $archive } keys %$arc_ack),
			'not archived: ',
			"$what: $queue: every acknowledged archive is in the archive and not back in the queue");
	}
	is( show(
			'twice',
			(grep { $del_ack->{$_} > 1 || $arc_ack->{$_} } keys %$del_ack),
			(grep { $arc_ack->{$_} > 1 } keys %$arc_ack)),
		'twice: ',
		"$what: $queue: no message is acknowledged deleted or archived twice");
	return;
}

# After each recovery.  (Few psql calls: each costs a connection.)
sub check_recovery
{
	my ($what, $cycle) = @_;

	ok($node->poll_query_until('postgres', 'SELECT true'), "$what: the server is back");
	read_logs();
	# The probes of earlier cycles, as the clients' logs would have them.
	for my $p (values %probe)
	{
		for my $op ('send', $p->{op})
		{
			$ack{$op}{ $p->{queue} }{ $p->{id} }++;
			$try{$op}{ $p->{queue} }{ $p->{id} }++;
		}
	}

	# Every message where it is, as "place|msg_id" (a dead letter by its
	# id in dl).  part_from: retention drops the partitions wholly below
	# (last id - retention), so ids from there on must all be kept.  (The
	# clients are stopped: the last id only grows by the probes, which come
	# after the check.)
	my %places = map { $_ => [] }
	  qw(q_plain a_plain q_part a_part q_dl a_dl q_dl_dlq q_fast a_fast);
	my ($from, $foreign);
	for (split /\n/, $node->safe_psql('postgres', qq{
        SELECT 'q_plain', msg_id FROM pgmq.q_plain
        UNION ALL SELECT 'a_plain', msg_id FROM pgmq.a_plain
        UNION ALL SELECT 'q_part', msg_id FROM pgmq.q_part
        UNION ALL SELECT 'a_part', msg_id FROM pgmq.a_part
        UNION ALL SELECT 'q_dl', msg_id FROM pgmq.q_dl
        UNION ALL SELECT 'a_dl', msg_id FROM pgmq.a_dl
        UNION ALL SELECT 'q_dl_dlq', (headers->>'x-pgmq-dlq-msg-id')::bigint FROM pgmq.q_dl_dlq
        UNION ALL SELECT 'q_fast', msg_id FROM pgmq.q_fast
        UNION ALL SELECT 'a_fast', msg_id FROM pgmq.a_fast
        UNION ALL SELECT 'part_from',
               pg_sequence_last_value(pg_get_serial_sequence('pgmq.q_part', 'msg_id'))
               - $part_retention
        UNION ALL SELECT 'foreign_dead_letters', count(*) FROM pgmq.q_dl_dlq
                   WHERE headers->>'x-pgmq-dlq-source' IS DISTINCT FROM 'dl'}))
	{
		my ($place, $id) = split /\|/;
		if ($place eq 'part_from') { $from = $id }
		elsif ($place eq 'foreign_dead_letters') { $foreign = $id }
		else { push @{ $places{$place} }, $id }
	}

	check_queue(
		what => $what,
		queue => 'plain',
		archive => 'a_plain',
		places => { map { $_ => $places{$_} } qw(q_plain a_plain) });
	check_queue(
		what => $what,
		queue => 'part',
		archive => 'a_part',
		from => $from,
		places => { map { $_ => $places{$_} } qw(q_part a_part) });
	is($foreign, '0',
		"$what: every row of the dead-letter queue is a dead letter of dl, with its id there");
	check_queue(
		what => $what,
		queue => 'dl',
		places => { map { $_ => $places{$_} } qw(q_dl a_dl q_dl_dlq) });
	is(scalar @{ $places{q_fast} }, 0, "$what: the unlogged queue is empty after the crash");
	check_queue(
		what => $what,
		queue => 'fast',
		archive => 'a_fast',
		durable => 0,
		places => { map { $_ => $places{$_} } qw(q_fast a_fast) });

	# Every queue takes a send, hands it to a read, and archives or
	# deletes it: "queue sent read done".
	my %op = (plain => 'archive', part => 'archive', dl => 'delete', fast => 'archive');
	my $script = '';
	for my $q (sort keys %op)
	{
		$script .= qq{
SELECT id FROM pgmq.send('$q', '{"probe": $cycle}') AS id \\gset
SELECT coalesce(string_agg(msg_id::text, ' '), 'none') AS got
  FROM pgmq.read('$q', 30, 1, '{"probe": $cycle}') \\gset
SELECT pgmq.$op{$q}('$q', :id::bigint) AS done \\gset
\\echo $q :id :got :done
};
	}
	for (split /\n/, $node->safe_psql('postgres', $script))
	{
		my ($q, $id, $got, $done) = split / /;
		$probe{"$q $cycle"} = { queue => $q, id => $id, op => $op{$q} };
		is($got, $id, "$what: $q takes a send and hands it to a read");
		is($done, 't', "$what: $q: the message read is $op{$q}d");
		# Past every id that committed: acknowledged, or found in a table.
		# (Not every id handed out: a sequence logs 32 values ahead, and an
		# id drawn by a transaction that never committed may come again,
		# its WAL record lost with the crash, as Postgres documents.)
		my %own = (plain => [qw(q_plain a_plain)], part => [qw(q_part a_part)],
			dl => [qw(q_dl a_dl q_dl_dlq)], fast => [qw(q_fast a_fast)]);
		my ($last) = sort { $b <=> $a } keys(%{ $ack{send}{$q} // {} }),
		  map { @{ $places{$_} } } @{ $own{$q} };
		cmp_ok($id, '>', $last // 0,
			"$what: $q: a new id is past every id that committed before the crash");
	}

	ok( $node->poll_query_until('postgres', q{
            SELECT EXISTS (SELECT 1 FROM pgmq.worker_status
                            WHERE database = 'postgres' AND last_run_at IS NOT NULL)}),
		"$what: the maintenance worker is back");
	# (A pass of our own may meet the worker's and time out on a lock:
	# wait for a clean one.)
	ok( $node->poll_query_until('postgres', q{
            SELECT count(*) = 0 FROM pgmq.run_maintenance() WHERE error IS NOT NULL}),
		"$what: a maintenance pass serves every queue without error");
	return;
}

#
# The cycles.
#
for my $cycle (1 .. $cycles)
{
	my $kill = $cycle % 2 == 1;
	my $what = "cycle $cycle (" . ($kill ? 'SIGKILL of a backend' : 'immediate stop') . ')';

	my @running = start_clients($cycle);

	# Under way: the clients have had sends acknowledged, the unlogged
	# queue has messages for the crash to take, and the worker has made a
	# partition and moved a dead letter in this generation.
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	usleep(50_000) while acked_sends($cycle) < 150 && time < $deadline;
	ok( $node->poll_query_until('postgres', q{
            SELECT partitions_created > 0 AND moved > 0
                   AND EXISTS (SELECT 1 FROM pgmq.q_fast)
              FROM pgmq.worker_status WHERE database = 'postgres'}),
		"$what: under load, the worker making partitions and moving dead letters");
	note "$what: ", acked_sends($cycle), ' sends acknowledged so far;'
	  . ' the worker: ' . $node->safe_psql('postgres', q{
            SELECT format('%s moved, %s partitions created, %s dropped; %s messages in fast',
                          moved, partitions_created, partitions_dropped,
                          (SELECT count(*) FROM pgmq.q_fast))
              FROM pgmq.worker_status WHERE database = 'postgres'});
	usleep(int(rand(200_000)));

	if ($kill)
	{
		my @pids = ids_of(q{
            SELECT pid FROM pg_stat_activity
             WHERE application_name LIKE 'crash\_%'});
		my $offset = -s $node->logfile;
		my $victim;
		while (@pids && !defined $victim)
		{
			my $pid = splice(@pids, int(rand(@pids)), 1);
			$victim = $pid if kill('KILL', $pid);
		}
		ok(defined $victim, "$what: SIGKILL a client backend");
		$node->wait_for_log(qr/\(PID $victim\) was terminated by signal 9/, $offset);
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
		# Until recovery ends, psql can die before reading its input, and
		# IPC::Run then dies of the broken pipe instead of retrying.
		$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	finish_clients($cycle, @running);
	check_recovery($what, $cycle);
}

$node->stop;
done_testing();
