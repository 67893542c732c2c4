# Scraping pgmq_c with Prometheus, as a monitoring role would.
#
# A LOGIN role that is only a member of pg_monitor, with no right on any
# queue table (not even the SELECT pg_monitor has by default), reads the
# metrics two ways:
#
#  (a) SELECT pgmq.prometheus_metrics(): the text passes `promtool check
#      metrics` (the linter) without a remark, and has the series of each
#      queue with the values the activity below must give, queue names
#      escaped as the format requires (a mixed-case name, and one with a
#      double quote and a backslash);
#  (b) Debian's prometheus-postgres-exporter with
#      monitoring/postgres_exporter.yaml: the exporter runs the file's
#      queries as that role without an error, and its /metrics has the
#      same series (names, labels, types and values as in (a)), plus the
#      worker's; the scraped text passes promtool too.  A queue whose
#      maintenance fails turns the worker's error indicator on, its repair
#      turns it off.
#
# Needs the Debian packages prometheus-postgres-exporter and prometheus
# (for promtool); scripts/test installs both.  Skipped without them.  The
# exporter runs as the OS user running the test, on a free port of
# 127.0.0.1, reaching the server through its unix socket.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

# An executable in PATH, else in /usr/bin.
sub find_program
{
	my ($name) = @_;
	my ($path) = grep { -x $_ } ((map { "$_/$name" } File::Spec->path), "/usr/bin/$name");
	return $path;
}

my $promtool = find_program('promtool');
my $exporter_bin = find_program('prometheus-postgres-exporter');
plan skip_all => 'promtool is not installed (Debian package prometheus; scripts/test installs it)'
  unless $promtool;
plan skip_all =>
  'prometheus-postgres-exporter is not installed (Debian package prometheus-postgres-exporter; scripts/test installs it)'
  unless $exporter_bin;

my $queries_file =
  File::Spec->rel2abs(dirname(__FILE__) . '/../../monitoring/postgres_exporter.yaml');
BAIL_OUT("no $queries_file") unless -r $queries_file;

my $node = PostgreSQL::Test::Cluster->new('prometheus');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
pgmq_c.worker_enabled = on
pgmq_c.maintenance_interval = '200ms'
});
$node->start;

# Queue names as given to pgmq.create, and as the queue label must show
# them once unescaped.
my $orders = 'Orders';
my $weird = 'we"ird\q';    # the exposition format escapes both " and \

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION pgmq_c;
SELECT pgmq.create('$orders');
SELECT pgmq.create('$weird');
SELECT pgmq.create('payments');
SELECT pgmq.create('payments_dlq');
SELECT pgmq.set_queue_policy('payments', max_receives => 1, dead_letter_queue => 'payments_dlq');
CREATE ROLE mon LOGIN IN ROLE pg_monitor;
});

#
# Activity, each queue's numbers known.
#
# Orders: 6 sent (one delayed by an hour), 3 read, of which 1 deleted and 1
# archived; left: 2 visible, 1 in flight, 1 delayed, 1 archived.
$node->safe_psql(
	'postgres', qq{
SELECT count(*) FROM pgmq.send_batch('$orders',
    ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT pgmq.send('$orders', '{"n": 5}', 3600);
SELECT count(*) FROM pgmq.read('$orders', 600, 3);
SELECT pgmq.delete('$orders', 1::bigint);
SELECT pgmq.archive('$orders', 2::bigint);
ANALYZE pgmq.a_orders;
});
# archive_size is the planner's estimate: ANALYZE (above) made it exact.
# The rates compare the counters with a sample the worker took: the 6th
# message after the first sample the rate can use, so that it shows.
ok( $node->poll_query_until('postgres', qq{
        SELECT send_rate IS NOT NULL FROM pgmq.queue_stats WHERE queue_name = '$orders'}),
	'the worker sampled the counters of $orders');
$node->safe_psql('postgres', qq{SELECT pgmq.send('$orders', '{"n": 6}')});
# we"ird\q: 3 sent, 1 popped; left: 2 visible.
$node->safe_psql(
	'postgres', qq{
SELECT count(*) FROM pgmq.send_batch('$weird', ARRAY['{}', '{}', '{}']::jsonb[]);
SELECT count(*) FROM pgmq.pop('$weird');
});
# payments: 1 sent, read once (max_receives 1, visible again at once); the
# next read (or the worker, whichever comes first) moves it to payments_dlq.
$node->safe_psql(
	'postgres', q{
SELECT pgmq.send('payments', '{"amount": "12,50"}');
SELECT count(*) FROM pgmq.read('payments', 0, 1);
});
$node->safe_psql('postgres', q{SELECT count(*) FROM pgmq.read('payments', 0, 1)});
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM pgmq.q_payments_dlq', '1'),
	'the payment went to its dead-letter queue');
# A pass of the worker, so that worker_status has a last run.
ok( $node->poll_query_until('postgres', q{
        SELECT last_run_at IS NOT NULL FROM pgmq.worker_status WHERE database = 'postgres'}),
	'the worker ran a pass');

# What each scrape must show: [family, queue, value].
my @expected = (
	[ 'pgmq_queue_sent_total', $orders, 6 ],
	[ 'pgmq_queue_read_total', $orders, 3 ],
	[ 'pgmq_queue_deleted_total', $orders, 1 ],
	[ 'pgmq_queue_archived_total', $orders, 1 ],
	[ 'pgmq_queue_visible_messages', $orders, 2 ],
	[ 'pgmq_queue_in_flight_messages', $orders, 1 ],
	[ 'pgmq_queue_delayed_messages', $orders, 1 ],
	[ 'pgmq_queue_archive_messages', $orders, 1 ],
	[ 'pgmq_queue_sent_total', $weird, 3 ],
	[ 'pgmq_queue_popped_total', $weird, 1 ],
	[ 'pgmq_queue_visible_messages', $weird, 2 ],
	[ 'pgmq_queue_sent_total', 'payments', 1 ],
	[ 'pgmq_queue_visible_messages', 'payments', 0 ],
	[ 'pgmq_queue_dead_lettered_total', 'payments', 1 ],
	[ 'pgmq_queue_dead_letter_messages', 'payments', 1 ],
	[ 'pgmq_queue_visible_messages', 'payments_dlq', 1 ]);

# Each family's type.
my %types = (
	(map { ("pgmq_queue_${_}_messages" => 'gauge') }
		  qw(visible in_flight delayed archive dead_letter)),
	pgmq_queue_oldest_visible_age_seconds => 'gauge',
	(map { ("pgmq_queue_${_}_total" => 'counter') }
		  qw(sent read deleted archived popped dead_lettered expired redriven)),
	pgmq_queue_send_rate => 'gauge',
	pgmq_queue_read_rate => 'gauge');

#
# Helpers
#

# Parse text in the Prometheus exposition format:
# { types => { family => type }, samples => { name => [ { labels, value } ] } }.
sub parse_exposition
{
	my ($text) = @_;
	my (%types, %samples, @bad);
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^# TYPE (\S+) (\S+)$/)
		{
			$types{$1} = $2;
			next;
		}
		next if $line =~ /^#/ || $line eq '';
		if ($line !~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/)
		{
			push @bad, $line;
			next;
		}
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my %l;
		while ($labels =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gc)
		{
			my ($k, $v) = ($1, $2);
			$v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
			$l{$k} = $v;
		}
		push @bad, $line if (pos($labels) // 0) != length($labels);
		push @{ $samples{$name} }, { labels => \%l, value => $value };
	}
	return { types => \%types, samples => \%samples, bad => \@bad };
}

# The samples of $name whose labels include %want.
sub samples
{
	my ($m, $name, %want) = @_;
	return grep {
		my $s = $_;
		!grep { ($s->{labels}{$_} // "\0") ne $want{$_} } keys %want
	} @{ $m->{samples}{$name} // [] };
}

# The value of the one sample of $name with labels %want; undef unless
# exactly one.
sub value_of
{
	my ($m, $name, %want) = @_;
	my @s = samples($m, $name, %want);
	return @s == 1 ? $s[0]{value} : undef;
}

# Run promtool check metrics on $text; returns (exit code, its output).
sub promtool_check
{
	my ($text) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', \$text, '>', \$out, '2>', \$err);
	return ($? >> 8, $out . $err);
}

# Check $m (parsed from $source) against @expected and %types.
sub check_expected
{
	my ($m, $source, %extra_labels) = @_;
	is_deeply($m->{bad}, [], "$source: every line parses");
	for my $e (@expected)
	{
		my ($name, $queue, $want) = @$e;
		my $got = value_of($m, $name, queue => $queue, %extra_labels);
		ok(defined $got && $got == $want, "$source: $name\{queue=\"$queue\"} is $want")
		  or diag('got ' . ($got // 'no single such sample') . '; samples: '
			  . join(', ', map { join(',', %{ $_->{labels} }) . " $_->{value}" }
				  @{ $m->{samples}{$name} // [] }));
	}
	for my $family (sort keys %types)
	{
		is($m->{types}{$family}, $types{$family}, "$source: $family is a $types{$family}");
	}
	my $age = value_of($m, 'pgmq_queue_oldest_visible_age_seconds', queue => $orders, %extra_labels);
	ok(defined $age && $age > 0 && $age < 600,
		"$source: the oldest visible message of $orders has an age (" . ($age // 'none') . ')');
	my $rate = value_of($m, 'pgmq_queue_send_rate', queue => $orders, %extra_labels);
	ok(defined $rate && $rate > 0, "$source: $orders has a send rate (" . ($rate // 'none') . ')');
}

#
# promtool itself: it must reject what breaks the conventions, or its
# silence below proves nothing.
#
{
	my ($rc, $out) = promtool_check("# HELP x_count A counter.\n# TYPE x_count counter\nx_count 1\n");
	ok($rc != 0 && $out =~ /_total/, 'promtool check metrics flags a counter without _total')
	  or diag("exit $rc: $out");
}

#
# The monitoring role reaches no queue table.  pg_monitor may read them all
# (as in pgmq, for pgmq.metrics); take that away, since neither
# prometheus_metrics() nor the views must need it.
#
$node->safe_psql(
	'postgres', q{
DO $$
DECLARE
    r regclass;
BEGIN
    FOR r IN SELECT c.oid FROM pg_class c
              WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname ~ '^[qa]_'
                AND c.relkind IN ('r', 'p', 'S')
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM pg_monitor', r);
    END LOOP;
END $$;
});
{
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM pgmq.q_payments',
		extra_params => [ '-U', 'mon' ]);
	like($err, qr/permission denied/, 'the pg_monitor role cannot read a queue table');
}

#
# (a) pgmq.prometheus_metrics() as the pg_monitor role.
#
my $text = $node->safe_psql('postgres', 'SELECT pgmq.prometheus_metrics()',
	extra_params => [ '-U', 'mon' ]);
is( $node->safe_psql(
		'postgres', q{SELECT right(pgmq.prometheus_metrics(), 1) = E'\n'},
		extra_params => [ '-U', 'mon' ]),
	't',
	'prometheus_metrics(): the text ends with a newline');
# psql drops the last newline; promtool wants it.
$text .= "\n";
{
	my ($rc, $out) = promtool_check($text);
	is($rc, 0, 'prometheus_metrics(): promtool check metrics passes');
	is($out, '', 'prometheus_metrics(): without a remark') or diag($out);
}
my $direct = parse_exposition($text);
check_expected($direct, 'prometheus_metrics()');
like($text, qr/\{queue="we\\"ird\\\\q"\}/, 'prometheus_metrics(): the queue label is escaped');
ok(!samples($direct, 'pgmq_queue_dead_letter_messages', queue => $orders),
	'prometheus_metrics(): no dead-letter gauge for a queue without a dead-letter queue');
cmp_ok(value_of($direct, 'pgmq_worker_last_run_timestamp_seconds', database => 'postgres') // 0,
	'>', 0, 'prometheus_metrics(): the worker\'s last pass, labelled database="postgres"');

#
# (b) prometheus-postgres-exporter with monitoring/postgres_exporter.yaml,
# as the pg_monitor role.
#
my $port = PostgreSQL::Test::Cluster::get_free_port();
my ($exporter_out, $exporter_err) = ('', '');
my $exporter;
{
	# Only the queries file's metrics (--disable-default-metrics), and none
	# of the exporter's collectors (database sizes, bgwriter): the scrape is
	# the pgmq series and the exporter's own few.
	delete local @ENV{ grep { /^(DATA_SOURCE_|PG_EXPORTER_)/ } keys %ENV };
	local $ENV{DATA_SOURCE_NAME} =
	  'host=' . $node->host . ' port=' . $node->port . ' user=mon dbname=postgres sslmode=disable';
	$exporter = IPC::Run::start(
		[
			$exporter_bin, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries_file", '--disable-default-metrics',
			'--disable-settings-metrics', '--no-collector.database',
			'--no-collector.bgwriter'
		],
		'<', '/dev/null', '>', \$exporter_out, '2>', \$exporter_err);
}

# Stop the exporter however the test ends.
END
{
	# Keep the test's exit status: finish sets $?.
	local $?;
	if ($exporter)
	{
		my $pid = eval { $exporter->{KIDS}[0]{PID} };
		kill 'TERM', $pid if $pid;
		eval { $exporter->finish };
	}
}

# Not through any proxy the environment names.
my $http = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef);

# GET /metrics; the body, or undef.
sub scrape
{
	my $r = $http->get("http://127.0.0.1:$port/metrics");
	return $r->{success} ? $r->{content} : undef;
}

my $scraped;
for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
{
	$scraped = scrape();
	last if defined $scraped && $scraped =~ /^pgmq_queue_sent_total/m;
	last unless $exporter->pumpable;
	usleep(100_000);
}
ok(defined $scraped && $scraped =~ /^pgmq_queue_sent_total/m,
	'the exporter serves pgmq series on /metrics')
  or BAIL_OUT("no pgmq series from the exporter: $exporter_err " . ($scraped // ''));

my $exported = parse_exposition($scraped);
is(value_of($exported, 'pg_up'), 1, 'exporter: connected');
is(value_of($exported, 'pg_exporter_user_queries_load_error'),
	0, 'exporter: the queries file loads');
is(value_of($exported, 'pg_exporter_last_scrape_error'), 0,
	'exporter: every query ran without an error as the pg_monitor role')
  or diag($exporter_err);
{
	# The exporter's own series (go_*, process_*, pg_exporter_*) lint
	# cleanly too with Debian 12's 0.11.1, so the whole text is checked.
	my ($rc, $out) = promtool_check($scraped);
	is($rc, 0, 'exporter: promtool check metrics passes');
	is($out, '', 'exporter: without a remark') or diag($out);
}
check_expected($exported, 'exporter', database => 'postgres');
like($scraped, qr/queue="we\\"ird\\\\q"/, 'exporter: the queue label is escaped');
ok(!samples($exported, 'pgmq_queue_dead_letter_messages', queue => $orders),
	'exporter: no dead-letter gauge for a queue without a dead-letter queue');
is(value_of($exported, 'pgmq_queue_oldest_visible_age_seconds', queue => 'payments'),
	0, 'exporter: an empty queue\'s oldest visible age is 0');

# The exporter gives what prometheus_metrics() gives, for every queue
# series both have (the rates and the age move with time).
{
	my ($compared, @differ) = (0);
	for my $name (grep { /^pgmq_queue_/ && !/_rate$|_age_seconds$/ } sort keys %types)
	{
		for my $s (samples($direct, $name))
		{
			my $queue = $s->{labels}{queue};
			next unless defined $queue;
			my $got = value_of($exported, $name, queue => $queue);
			next unless defined $got;
			$compared++;
			push @differ, "$name\{queue=\"$queue\"}: $s->{value} vs $got"
			  unless $got == $s->{value};
		}
	}
	cmp_ok($compared, '>=', scalar(@expected), "exporter and prometheus_metrics(): $compared samples compared");
	is_deeply(\@differ, [], 'exporter and prometheus_metrics(): the same values');
}

#
# The worker, as the exporter shows it.
#
{
	my $age = value_of($exported, 'pgmq_worker_last_run_age_seconds', database => 'postgres');
	ok(defined $age && $age >= 0 && $age < 60,
		'exporter: the worker ran a pass lately (' . ($age // 'none') . ' s ago)');
	my $duration =
	  value_of($exported, 'pgmq_worker_last_run_duration_seconds', database => 'postgres');
	ok(defined $duration && $duration >= 0, 'exporter: the last pass\'s duration');
	is(value_of($exported, 'pgmq_worker_last_run_failed', database => 'postgres'),
		0, 'exporter: no worker error');
	is($exported->{types}{pgmq_worker_moved_total}, 'counter', 'exporter: worker totals are counters');
	for my $name (qw(pgmq_worker_moved_total pgmq_worker_expired_total))
	{
		my $got = value_of($exported, $name, database => 'postgres');
		my $want = value_of($direct, $name, database => 'postgres');
		ok(defined $got && defined $want && $got == $want,
			"exporter and prometheus_metrics(): $name the same (" . ($got // 'none') . ')');
	}
	my $last = value_of($exported, 'pgmq_worker_last_run_timestamp_seconds', database => 'postgres');
	ok(defined $last && abs($last - time()) < 60,
		'exporter: the last pass\'s time (' . ($last // 'none') . ')');
}

# A queue whose maintenance fails (its archive lost archived_at, which
# archive retention needs): the indicator is on while it fails.
$node->safe_psql(
	'postgres', q{
SELECT pgmq.create('broken');
SELECT pgmq.set_queue_policy('broken', archive_retention => '1 hour');
ALTER TABLE pgmq.a_broken DROP COLUMN archived_at;
});
ok( $node->poll_query_until('postgres', q{
        SELECT last_error LIKE 'queue "broken": %archived_at%' AND last_error_at >= last_run_at
          FROM pgmq.worker_status WHERE database = 'postgres'}),
	'a failing queue: the worker reports the error');
$exported = parse_exposition(scrape() // '');
is(value_of($exported, 'pgmq_worker_last_run_failed', database => 'postgres'),
	1, 'exporter: the worker error indicator is on');
cmp_ok(value_of($exported, 'pgmq_worker_last_error_timestamp_seconds', database => 'postgres') // 0,
	'>', 0, 'exporter: with the time of the error');
is(value_of($exported, 'pg_exporter_last_scrape_error'), 0, 'exporter: still no query error');
cmp_ok(
	value_of(
		parse_exposition($node->safe_psql('postgres', 'SELECT pgmq.prometheus_metrics()',
			extra_params => [ '-U', 'mon' ]) . "\n"),
		'pgmq_worker_last_error_timestamp_seconds',
		database => 'postgres') // 0,
	'>', 0, 'prometheus_metrics(): the time of the error');

$node->safe_psql('postgres',
	q{ALTER TABLE pgmq.a_broken ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now()});
ok( $node->poll_query_until('postgres', q{
        SELECT last_run_at > last_error_at FROM pgmq.worker_status WHERE database = 'postgres'}),
	'the queue repaired: a pass without an error');
$exported = parse_exposition(scrape() // '');
is(value_of($exported, 'pgmq_worker_last_run_failed', database => 'postgres'),
	0, 'exporter: the worker error indicator is off again');

$node->stop;
done_testing();
