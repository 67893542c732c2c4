# pgmq_c through PgBouncer in transaction pooling mode.
#
# A read_with_poll through the pooler waits, holding its server connection
# for the length of the wait, and gets a message another connection commits.
# With more waiting clients than server connections (a pool of 2, 4
# clients), the clients beyond the pool wait in PgBouncer, and every one of
# them gets a message once messages come.  send, read and delete work as
# they do directly.
#
# Needs Debian's pgbouncer package (scripts/test installs it); skipped when
# there is no pgbouncer.  PgBouncer runs as the OS user running the test,
# on a free port of 127.0.0.1, with trust authentication, reaching the
# server through its unix socket.

use strict;
use warnings;

use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my ($pgbouncer) = grep { -x $_ }
  ((map { "$_/pgbouncer" } File::Spec->path), '/usr/sbin/pgbouncer');
plan skip_all => 'pgbouncer is not installed (Debian package pgbouncer; scripts/test installs it)'
  unless $pgbouncer;

my $node = PostgreSQL::Test::Cluster->new('pgbouncer');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
pgmq_c.worker_enabled = off
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgmq_c');
my $user = $node->safe_psql('postgres', 'SELECT current_user');

#
# PgBouncer: transaction pooling, 2 server connections per pool.
#
my $dir = PostgreSQL::Test::Utils::tempdir;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $host = $node->host;
my $server_port = $node->port;
append_to_file("$dir/userlist.txt", qq{"$user" ""\n});
append_to_file(
	"$dir/pgbouncer.ini", qq{
[databases]
postgres = host=$host port=$server_port dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $user
pool_mode = transaction
default_pool_size = 2
max_client_conn = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
});

my ($bouncer_out, $bouncer_err) = ('', '');
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ],
	'<', '/dev/null', '>', \$bouncer_out, '2>', \$bouncer_err);

# Stop PgBouncer however the test ends.
END
{
	# Keep the test's exit status: finish sets $?.
	local $?;
	if ($bouncer)
	{
		my $pid = eval { $bouncer->{KIDS}[0]{PID} };
		kill 'TERM', $pid if $pid;
		eval { $bouncer->finish };
	}
}

my $via_bouncer = "host=127.0.0.1 port=$port dbname=postgres user=$user";

# Run $sql through PgBouncer; returns (exit code, stdout, stderr).
sub bouncer_psql
{
	my ($sql, $db) = @_;
	my ($out, $err) = ('', '');
	my $connstr = "host=127.0.0.1 port=$port dbname=" . ($db // 'postgres') . " user=$user";
	IPC::Run::run(
		[ $node->installed_command('psql'), '-X', '-A', '-t', '-q', '-F', '|', '-d', $connstr, '-c', $sql ],
		'<', '/dev/null', '>', \$out, '2>', \$err);
	my $rc = $? >> 8;
	chomp $out;
	return ($rc, $out, $err);
}

my $ready = 0;
for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
{
	my ($rc, $out) = bouncer_psql('SELECT 1');
	if ($rc == 0 && $out eq '1')
	{
		$ready = 1;
		last;
	}
	last unless $bouncer->pumpable;
	usleep(100_000);
}
ok($ready, 'PgBouncer accepts connections and passes them to the server')
  or BAIL_OUT("pgbouncer did not start: $bouncer_err "
	  . (-f "$dir/pgbouncer.log" ? slurp_file("$dir/pgbouncer.log") : ''));

#
# send, read, delete.
#
{
	my ($rc, $out, $err) = bouncer_psql(q{SELECT pgmq.create('bq')});
	is($rc, 0, 'create through PgBouncer') or diag($err);
	my $id;
	($rc, $id, $err) = bouncer_psql(q{SELECT pgmq.send('bq', '{"via": "bouncer"}')});
	like($id, qr/^\d+$/, 'send through PgBouncer') or diag($err);
	($rc, $out, $err) = bouncer_psql(q{SELECT msg_id, read_ct, message->>'via' FROM pgmq.read('bq', 30, 1)});
	is($out, "$id|1|bouncer", 'read through PgBouncer') or diag($err);
	($rc, $out, $err) = bouncer_psql(qq{SELECT pgmq.delete('bq', ${id}::bigint)});
	is($out, 't', 'delete through PgBouncer') or diag($err);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pgmq.q_bq'), '0', 'the queue is empty');
}

# psql through PgBouncer in the background, running $sql as application_name
# $name (PgBouncer passes it on to the server).
sub start_poller
{
	my ($name, $sql) = @_;
	my $p = { name => $name, out => '', err => '' };
	$p->{h} = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-A', '-t', '-q', '-F', '|',
			'-d', "$via_bouncer application_name=$name", '-c', $sql
		],
		'<', '/dev/null', '>', \$p->{out}, '2>', \$p->{err});
	return $p;
}

# Wait up to $secs for poller $p to exit; true when it did.
sub wait_done
{
	my ($p, $secs) = @_;
	my $deadline = time + $secs;
	while ($p->{h}->pumpable)
	{
		return 0 if time > $deadline;
		$p->{h}->pump_nb;
		usleep(20_000);
	}
	$p->{h}->finish;
	return 1;
}

# End poller $p if it still runs (after a failed check).
sub stop_poller
{
	my ($p) = @_;
	$p->{h}->kill_kill if $p->{h}->pumpable;
}

# How many sessions named like $pattern sleep in read_with_poll on the server.
sub waiting
{
	my ($pattern) = @_;
	return qq{
        SELECT count(*) FROM pg_stat_activity
         WHERE application_name ~ '$pattern' AND state = 'active'
           AND wait_event_type = 'Extension' AND query LIKE '%read_with_poll%'};
}

#
# read_with_poll through PgBouncer waits, and gets a message committed by a
# direct connection.
#
{
	my $p = start_poller('bpoll', q{
        SELECT message->>'n' FROM pgmq.read_with_poll('bq', 30, 1, 60, 100)});
	ok($node->poll_query_until('postgres', waiting('^bpoll$'), 1),
		'read_with_poll through PgBouncer waits on the server');
	$node->safe_psql('postgres', q{SELECT pgmq.send('bq', '{"n": "direct"}')});
	my $start = time;
	ok(wait_done($p, 30), 'it returns, long before its 60 s deadline');
	my $took = time - $start;
	is($p->{out}, "direct\n", "with the message committed directly (${took}s after the commit)")
	  or diag($p->{err});
	stop_poller($p);
}

#
# 4 waiting clients, a pool of 2 server connections.
#
$node->safe_psql('postgres', q{SELECT pgmq.create('pool')});
{
	my @p = map {
		start_poller("bpool_$_", q{
            SELECT msg_id FROM pgmq.read_with_poll('pool', 30, 1, 30, 100)})
	} 1 .. 4;
	ok($node->poll_query_until('postgres', waiting('^bpool_'), 2),
		'a pool of 2: two clients wait on the server');
	# PgBouncer's own view: 2 clients have the pool's server connections,
	# 2 wait for one.
	my $saw = '';
	for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		my ($rc, $out) = bouncer_psql('SHOW POOLS', 'pgbouncer');
		# Columns: database|user|cl_active|cl_waiting|...
		($saw) = map { my @c = split /\|/; "$c[2] $c[3]" } grep { /^postgres\|/ } split /\n/, $out;
		$saw //= '';
		last if $saw eq '2 2';
		usleep(100_000);
	}
	is($saw, '2 2', 'PgBouncer: 2 clients active, 2 waiting for a server connection');

	$node->safe_psql('postgres', q{
        SELECT count(*) FROM pgmq.send_batch('pool', ARRAY['{}', '{}', '{}', '{}']::jsonb[])});
	my $done = grep { wait_done($_, 30) } @p;
	is($done, 4, 'all 4 clients return');
	my @ids = sort map { $_->{out} =~ /^(\d+)$/m ? $1 : () } @p;
	my %distinct = map { $_ => 1 } @ids;
	is(scalar(keys %distinct), 4, 'each got a message of its own (' . join(',', @ids) . ')')
	  or diag(join("\n", map { $_->{err} } @p));
	stop_poller($_) for @p;
}

$node->stop;
done_testing();
