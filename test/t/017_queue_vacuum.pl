# The worker vacuums a busy queue table between autovacuum's visits
# (src/queue_vacuum.c): once the queue has made pgmq_c.vacuum_threshold
# dead row versions, the table is vacuumed and its dead rows are gone;
# while a snapshot holds the xmin horizon back it stops trying after one
# vacuum (nothing more could be removed), and starts again when the
# snapshot ends; a threshold of 0 turns it off; partitioned queues,
# tables set to autovacuum_enabled = false and the messages themselves
# are left alone.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('queue_vacuum');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
autovacuum = off
pgmq_c.vacuum_threshold = 200
pgmq_c.maintenance_interval = '1s'
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pgmq_c;
SELECT pgmq.create('churn');
SELECT pgmq.create('quiet');
SELECT pgmq.send_batch('quiet', array_fill('{"q":1}'::jsonb, ARRAY[10]));
});

sub vacuums
{
	my ($table) = @_;
	return $node->safe_psql('postgres',
		"SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'pgmq.$table'::regclass");
}

# $n messages sent, read and deleted: 2 * $n dead row versions.
sub churn
{
	my ($n) = @_;
	$node->safe_psql(
		'postgres', qq{
SELECT pgmq.send_batch('churn', array_fill('{"k":1}'::jsonb, ARRAY[$n]));
SELECT pgmq.delete('churn', ARRAY(SELECT msg_id FROM pgmq.read('churn', 30, $n)));
});
}

$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pgmq_c maintenance'")
  or die "the maintenance worker did not start";

# Below the threshold: no vacuum.
churn(50);
sleep 3;
is(vacuums('q_churn'), 0, 'a queue below the threshold is not vacuumed');

# Past it: vacuumed, dead rows gone, live ones kept (a message delayed
# for an hour, which the reads do not take).
$node->safe_psql('postgres', "SELECT pgmq.send('churn', '{\"keep\":true}', 3600)");
churn(300);
ok( $node->poll_query_until(
		'postgres',
		"SELECT vacuum_count > 0 FROM pg_stat_user_tables WHERE relid = 'pgmq.q_churn'::regclass"),
	'the worker vacuums a queue past the threshold');
$node->safe_psql('postgres', 'SELECT pg_stat_force_next_flush()');
is( $node->safe_psql(
		'postgres', q{
SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'pgmq.q_churn'::regclass}),
	0,
	'its dead rows are gone');
is($node->safe_psql('postgres', "SELECT message FROM pgmq.q_churn"),
	'{"keep": true}', 'its live message is still there');
is(vacuums('q_quiet'), 0, 'a queue that made no dead rows is not vacuumed');

# A snapshot held: one vacuum still pays, as the snapshot came after the
# last vacuum (a transaction id was used in between) and what died before
# it can go; then the worker stops vacuuming, as nothing more could go.
my $last = vacuums('q_churn');
$node->safe_psql('postgres', 'SELECT pg_catalog.txid_current()');
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT 1');
churn(300);
ok( $node->poll_query_until(
		'postgres', qq{
SELECT vacuum_count > $last FROM pg_stat_user_tables WHERE relid = 'pgmq.q_churn'::regclass}),
	'one more vacuum after the snapshot was taken');
my $held = vacuums('q_churn');
churn(300);
sleep 3;
churn(300);
sleep 3;
is(vacuums('q_churn'), $held, 'no vacuum while a snapshot holds every new dead row');

$holder->query_safe('COMMIT');
$holder->quit;
churn(300);
ok( $node->poll_query_until(
		'postgres', qq{
SELECT vacuum_count > $held FROM pg_stat_user_tables WHERE relid = 'pgmq.q_churn'::regclass}),
	'vacuums start again when the snapshot ends');

# pgmq_c.vacuum_threshold = 0: left to autovacuum.
$node->append_conf('postgresql.conf', 'pgmq_c.vacuum_threshold = 0');
$node->reload;
sleep 2;
my $before = vacuums('q_churn');
churn(300);
sleep 3;
is(vacuums('q_churn'), $before, 'a threshold of 0 turns it off');

# Partitioned queues are left to autovacuum.
$node->append_conf('postgresql.conf', 'pgmq_c.vacuum_threshold = 200');
$node->reload;
$node->safe_psql(
	'postgres', q{
SELECT pgmq.create_partitioned('parted', '1000', '10000');
SELECT pgmq.send_batch('parted', array_fill('{"k":1}'::jsonb, ARRAY[500]));
SELECT pgmq.delete('parted', ARRAY(SELECT msg_id FROM pgmq.read('parted', 30, 500)));
});
churn(300);
ok( $node->poll_query_until(
		'postgres', qq{
SELECT vacuum_count > $before FROM pg_stat_user_tables WHERE relid = 'pgmq.q_churn'::regclass}),
	'vacuums again once the threshold is back');
is( $node->safe_psql(
		'postgres', q{
SELECT coalesce(sum(vacuum_count), 0) FROM pg_stat_user_tables
WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'pgmq.q_parted'::regclass)}),
	0,
	'a partitioned queue is left to autovacuum');

# A table its owner set to autovacuum_enabled = false is left alone.
$node->safe_psql('postgres', 'ALTER TABLE pgmq.q_churn SET (autovacuum_enabled = false)');
sleep 2;
$before = vacuums('q_churn');
churn(300);
sleep 3;
is(vacuums('q_churn'), $before, 'a table set to autovacuum_enabled = false is not vacuumed');

# The worker's vacuums are ordinary ones: nothing in the log but the
# worker's own start.
my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR|WARNING/, 'no errors or warnings in the log');

$node->stop;
done_testing();
