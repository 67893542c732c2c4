# Failover to a streaming standby.
#
# A primary with pgmq_c preloaded, and a hot standby made from a base
# backup that streams from it.  Queue traffic (send, read, delete, archive,
# a partitioned queue, a dead-letter policy and the worker's moves)
# replicates.  On the standby the reading functions and views work, every
# function that writes fails with 25006 (read_only_sql_transaction) and
# nothing fails with an internal error or crashes; no launcher or
# maintenance worker runs there, and none logs errors.  A consumer that
# calls pgmq.read on the standby by mistake leaves nothing behind that
# could hide a message after promotion (the head mark).  Then the primary
# goes (immediate stop) and the standby is promoted: every committed
# message is there and can be read, msg_ids go on without repeating one,
# and the worker starts and enforces policies on the new primary.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '200ms'
log_error_verbosity = verbose
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pgmq_c');

# The standby has the primary's settings (postgresql.conf comes with the
# backup): pgmq_c is preloaded there too.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# What queue tables hold, to compare servers: a hash of table name to its
# rows (id, read count, payload), read in one statement.
sub contents
{
	my ($node, @tables) = @_;
	my $sql = join(' UNION ALL ', map { qq{
        SELECT '$_', coalesce(string_agg(msg_id || ':' || read_ct || ':' || message::text, ','
                                         ORDER BY msg_id), '')
          FROM pgmq.$_} } @tables);
	my %rows = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('postgres', $sql);
	return \%rows;
}

# Run $sql in the session $psql (made with on_error_stop => 0): 'ok', or
# the SQLSTATE of its error.
sub sqlstate
{
	my ($psql, $sql) = @_;
	$psql->{stderr} = '';	# query() leaves the last query's errors there
	$psql->query($sql);
	return 'ok' if $psql->{stderr} eq '';
	return $1 if $psql->{stderr} =~ /ERROR:  ([0-9A-Z]{5}):/;
	return "no SQLSTATE: $psql->{stderr}";
}

#
# Queue traffic on the primary, all of it after the base backup: it reaches
# the standby by streaming only.
#
$primary->safe_psql('postgres', q{
    SELECT pgmq.create('jobs');
    SELECT pgmq.create('retry');
    SELECT pgmq.create('retry_dlq');
    SELECT pgmq.set_queue_policy('retry', max_receives => 1, dead_letter_queue => 'retry_dlq');
    SELECT pgmq.create('expiring');
    SELECT pgmq.set_queue_policy('expiring', retention => '1 hour');
    SELECT pgmq.create_partitioned('parts', '10', '1000');
    SELECT pgmq.create('inflight');
});
# Ids handed out by the old primary, per queue: the new one must not repeat them.
my %max_id;
$max_id{jobs} = $primary->safe_psql('postgres', q{
    SELECT max(id) FROM pgmq.send_batch('jobs',
        (SELECT array_agg(jsonb_build_object('n', i)) FROM generate_series(1, 20) i)) AS id});
$max_id{parts} = $primary->safe_psql('postgres', q{
    SELECT max(id) FROM pgmq.send_batch('parts',
        (SELECT array_agg(jsonb_build_object('p', i)) FROM generate_series(1, 35) i)) AS id});
$primary->safe_psql('postgres', q{
    SELECT count(*) FROM pgmq.read('jobs', 3600, 6);     -- ids 1..6 leased
    SELECT pgmq.delete('jobs', 1);
    SELECT pgmq.delete('jobs', ARRAY[2, 3]::bigint[]);
    SELECT pgmq.archive('jobs', 4);
    SELECT pgmq.archive('jobs', ARRAY[5, 7]::bigint[]);
    SELECT count(*) FROM pgmq.read('parts', 3600, 4);
    SELECT pgmq.archive('parts', ARRAY[1, 2]::bigint[]);
    SELECT pgmq.delete('parts', 3);
    SELECT pgmq.send('retry', '{"poison": 1}');
    SELECT count(*) FROM pgmq.read('retry', 0, 1);
});
ok( $primary->poll_query_until('postgres', q{
        SELECT (SELECT count(*) FROM pgmq.q_retry) = 0
           AND (SELECT count(*) FROM pgmq.q_retry_dlq) = 1}),
	'primary: the worker moves a dead letter');

# A message whose transaction is still open when the standby is read, with
# later ids committed and every earlier one gone: the case a head mark
# worked out on the standby would get wrong.
$primary->safe_psql('postgres', q{
    SELECT count(*) FROM pgmq.send_batch('inflight', ARRAY['{"early": 1}', '{"early": 2}']::jsonb[]);
    SELECT count(*) FROM pgmq.pop('inflight', 2);
});
my $open = $primary->background_psql('postgres');
$open->query_safe('BEGIN');
my $late_id = $open->query_safe(q{SELECT pgmq.send('inflight', '{"late": true}')});
$max_id{inflight} = $primary->safe_psql('postgres', q{
    SELECT max(id) FROM pgmq.send_batch('inflight', ARRAY['{"after": 1}', '{"after": 2}']::jsonb[]) AS id});
cmp_ok($late_id, '<', $max_id{inflight}, 'an open send holds an id below committed ones');

$primary->wait_for_catchup($standby);

#
# The standby: same contents, reads work, writes fail clearly.
#
my @tables = qw(q_jobs a_jobs q_parts a_parts q_retry q_retry_dlq q_inflight q_expiring);
my $on_primary = contents($primary, @tables);
my $on_standby = contents($standby, @tables);
is($on_standby->{$_}, $on_primary->{$_}, "standby: pgmq.$_ as on the primary") for @tables;
is( $standby->safe_psql('postgres',
		q{SELECT string_agg(queue_name || ':' || coalesce(max_receives, 0), ',' ORDER BY queue_name)
            FROM pgmq.queue_policies}),
	$primary->safe_psql('postgres',
		q{SELECT string_agg(queue_name || ':' || coalesce(max_receives, 0), ',' ORDER BY queue_name)
            FROM pgmq.queue_policies}),
	'standby: the policies replicated');

is( $standby->safe_psql('postgres',
		q{SELECT queue_length, queue_visible_length FROM pgmq.metrics('jobs')}),
	'14|13', 'standby: pgmq.metrics works (14 messages, 13 visible)');
is( $standby->safe_psql('postgres',
		q{SELECT string_agg(queue_name || ':' || queue_length, ',' ORDER BY queue_name)
            FROM pgmq.metrics_all()}),
	$primary->safe_psql('postgres',
		q{SELECT string_agg(queue_name || ':' || queue_length, ',' ORDER BY queue_name)
            FROM pgmq.metrics_all()}),
	'standby: pgmq.metrics_all works, the same lengths as on the primary');
is( $standby->safe_psql('postgres',
		q{SELECT visible, in_flight FROM pgmq.queue_stats WHERE queue_name = 'jobs'}),
	'13|1', 'standby: pgmq.queue_stats works (depth from the tables)');
is( $standby->safe_psql('postgres',
		q{SELECT dead_letter_size FROM pgmq.queue_stats WHERE queue_name = 'retry'}),
	'1', 'standby: queue_stats counts the dead letters');
like($standby->safe_psql('postgres', 'SELECT pgmq.prometheus_metrics()'),
	qr/pgmq_queue_visible_messages\{queue="jobs"\} 13/m, 'standby: pgmq.prometheus_metrics works');
is( $standby->safe_psql('postgres',
		q{SELECT count(*), min(msg_id) FROM pgmq.q_jobs WHERE vt <= now()}),
	'13|8', 'standby: a read-only query on a queue table works');
is( $standby->safe_psql('postgres', 'SELECT count(*) FROM pgmq.list_queues()'),
	'6', 'standby: pgmq.list_queues works');

# Everything that writes: 25006, however it writes (a row, a sequence,
# a table, the catalog).
my @writes = (
	q{SELECT pgmq.send('jobs', '{}')},
	q{SELECT pgmq.send('jobs', '{}', 5)},
	q{SELECT pgmq.send_batch('jobs', ARRAY['{}']::jsonb[])},
	q{SELECT pgmq.read('jobs', 30, 1)},
	q{SELECT pgmq.read_with_poll('jobs', 30, 1, 1, 100)},
	q{SELECT pgmq.pop('jobs')},
	q{SELECT pgmq.read_grouped('retry_dlq', 30, 1)},
	q{SELECT pgmq.delete('jobs', 8)},
	q{SELECT pgmq.delete('jobs', ARRAY[8, 9]::bigint[])},
	q{SELECT pgmq.archive('jobs', 8)},
	q{SELECT pgmq.archive('jobs', ARRAY[8, 9]::bigint[])},
	q{SELECT pgmq.set_vt('jobs', 8, 60)},
	q{SELECT pgmq.purge_queue('jobs')},
	q{SELECT pgmq.read('retry', 30, 1)},
	q{SELECT pgmq.send('parts', '{}')},
	q{SELECT pgmq.read('parts', 30, 1)},
	q{SELECT pgmq.create('new_queue')},
	q{SELECT pgmq.create_partitioned('new_parts', '10', '100')},
	q{SELECT pgmq.drop_queue('jobs')},
	q{SELECT pgmq.set_queue_policy('jobs', retention => '1 day')},
	q{SELECT pgmq.redrive('retry_dlq', 'retry')},
	q{SELECT * FROM pgmq.run_maintenance()},
	q{SELECT * FROM pgmq.run_maintenance('retry')},
);
# One session for all of them: it stays connected across the promotion.
my $session = $standby->background_psql('postgres', on_error_stop => 0);
$session->query_safe('\\set VERBOSITY verbose');
for my $sql (@writes)
{
	is(sqlstate($session, $sql), '25006', "standby: $sql fails with 25006");
}
$session->{stderr} = '';
$session->query(q{SELECT pgmq.read('jobs', 30, 1)});
like($session->{stderr}, qr/cannot execute .* in a read-only transaction/,
	'standby: the message says the transaction is read-only');

# A consumer pointed at the standby by mistake, retrying in one session:
# each read fails, and no head mark is worked out from the standby's view,
# where the open transaction's message is not visible.
my ($rc, $out, $err) = $standby->psql('postgres', q{
    SELECT pgmq.read('inflight', 30, 1);
    SELECT pg_sleep(0.05);
    SELECT pgmq.read('inflight', 30, 1);
    SELECT pg_sleep(0.05);
    SELECT pgmq.read('inflight', 30, 1);
    SELECT pg_sleep(0.05);
    SELECT pgmq.pop('inflight');
}, on_error_stop => 0);
is(scalar(() = $err =~ /read-only transaction/g), 4, 'standby: each read by the consumer fails');
is($standby->safe_psql('postgres', q{SELECT pgmq._head_mark('inflight') IS NULL}),
	't', 'standby: no head mark is set by reads that fail there');

# No maintenance on a standby: no launcher, no worker, nothing in the log.
is( $standby->safe_psql('postgres', q{
        SELECT count(*) FROM pg_stat_activity
         WHERE backend_type IN ('pgmq_c launcher', 'pgmq_c maintenance')}),
	'0', 'standby: no launcher or maintenance worker runs');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM pgmq.worker_status'),
	'0', 'standby: pgmq.worker_status works, and is empty');

# The open transaction commits; the primary sends a little more, then goes
# (an immediate stop: a crash), once the standby has it all.
$open->query_safe('COMMIT');
$open->quit;
$max_id{jobs} = $primary->safe_psql('postgres', q{SELECT pgmq.send('jobs', '{"last": true}')});
$primary->safe_psql('postgres', q{SELECT pgmq.send('expiring', '{"old": true}')});
$primary->wait_for_catchup($standby);
my $expected = contents($primary, @tables);
$primary->stop('immediate');

my $log = slurp_file($standby->logfile);
unlike($log, qr/background worker "pgmq_c/, 'standby log: no pgmq_c background worker started or exited');
unlike($log, qr/ERROR:  XX000|PANIC|terminated by signal/, 'standby log: no internal error, no crash');
my @errors = grep { !/ERROR:  25006:/ } ($log =~ /^.*ERROR:  .*$/mg);
is_deeply(\@errors, [], 'standby log: no ERROR but the 25006s of the tests');

#
# Promotion.
#
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');

my $promoted = contents($standby, @tables);
is($promoted->{$_}, $expected->{$_}, "new primary: every committed message of pgmq.$_ is there")
  for @tables;

# A session opened on the standby goes on on the new primary.
$session->{stderr} = '';
is($session->query_safe(q{SELECT pgmq.send('expiring', '{"from": "standby session"}') > 0}),
	't', 'new primary: a session from before the promotion can send');
$session->quit;

ok( $standby->poll_query_until('postgres', q{
        SELECT EXISTS (SELECT 1 FROM pgmq.worker_status s
                         JOIN pg_stat_activity a USING (pid)
                        WHERE s.database = 'postgres'
                          AND a.backend_type = 'pgmq_c maintenance'
                          AND s.last_run_at IS NOT NULL)}),
	'new primary: the launcher starts a maintenance worker, which runs passes');

# Consumable: the visible messages read in order, then archived; the leased
# ones come back when their lease is cut short.
is( $standby->safe_psql('postgres',
		q{SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM pgmq.read('jobs', 30, 100)}),
	join(',', 8 .. 20, $max_id{jobs}), 'new primary: every visible message of jobs is read');
is( $standby->safe_psql('postgres', q{
        SELECT count(*) FROM pgmq.set_vt('jobs', ARRAY[6]::bigint[], 0);
        SELECT string_agg(msg_id::text, ',') FROM pgmq.read('jobs', 30, 100)}),
	"1\n6", 'new primary: a message leased on the old primary is read once its lease is cut');
is( $standby->safe_psql('postgres', q{
        SELECT count(*) FROM pgmq.archive('jobs', (SELECT array_agg(msg_id) FROM pgmq.q_jobs));
        SELECT count(*) FROM pgmq.q_jobs}),
	"15\n0", 'new primary: and archived');
is( $standby->safe_psql('postgres',
		q{SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM pgmq.read('inflight', 30, 10)}),
	join(',', $late_id, $late_id + 1, $late_id + 2),
	'new primary: the message committed last, with the lowest id, is read with the others');
is( $standby->safe_psql('postgres', q{SELECT count(*) FROM pgmq.pop('parts', 100)}),
	'31', 'new primary: the partitioned queue pops its visible messages');

# Ids go on from above every id the old primary handed out.
for my $queue (qw(jobs parts inflight))
{
	my $id = $standby->safe_psql('postgres', "SELECT pgmq.send('$queue', '{\"new\": true}')");
	cmp_ok($id, '>', $max_id{$queue}, "new primary: a new $queue id ($id) is above the old ones");
}

# The worker enforces policies: a dead letter, retention, partitions.
$standby->safe_psql('postgres', q{
    SELECT pgmq.send('retry', '{"poison": 2}');
    SELECT count(*) FROM pgmq.read('retry', 0, 1);
    UPDATE pgmq.q_expiring SET enqueued_at = now() - interval '2 hours';
    SELECT count(*) FROM pgmq.send_batch('parts',
        (SELECT array_agg(jsonb_build_object('p', i)) FROM generate_series(1, 30) i));
});
ok( $standby->poll_query_until('postgres', q{
        SELECT (SELECT count(*) FROM pgmq.q_retry) = 0
           AND (SELECT count(*) FROM pgmq.q_retry_dlq) = 2
           AND (SELECT count(*) FROM pgmq.q_expiring) = 0
           AND (SELECT moved >= 1 AND expired >= 1 AND partitions_created >= 1
                  FROM pgmq.worker_status WHERE database = 'postgres')}),
	'new primary: the worker moves a dead letter, expires a message, makes partitions');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pgmq.worker_status WHERE last_error IS NOT NULL}),
	'0', 'new primary: the worker has no error');

$standby->stop;
done_testing();
