# Deduplication beyond one session: the background worker removes dedup
# keys past their window (no run_maintenance() call, no policy but the
# window), a key survives a crash (immediate shutdown) and a dump and
# restore, so a repeat afterwards still returns the original msg_id, and a
# producer with only INSERT on the queue table sends with a dedup id while
# a role without it gets 42501.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dedup');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgmq_c'
pgmq_c.maintenance_interval = '200ms'
});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('kept');
    SELECT pgmq.create('brief');
    SELECT pgmq.set_queue_policy('brief', dedup_window => '1 second');
});

sub send_id
{
	my ($queue, $id) = @_;
	return $node->safe_psql('postgres', qq{
        SELECT * FROM pgmq.send('$queue', '{}', jsonb_build_object('x-pgmq-dedup-id', '$id'))});
}

#
# A key survives a crash: the repeat after recovery gets the original id.
#
my $first = send_id('kept', 'order-1');
$node->stop('immediate');
$node->start;
is(send_id('kept', 'order-1'), $first, 'after a crash, a repeat returns the original msg_id');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgmq.q_kept'), '1',
	'and inserts nothing');

#
# The worker expires keys past their window, of a queue whose only policy
# is the window.
#
send_id('brief', 'b-1');
send_id('brief', 'b-2');
ok( $node->poll_query_until('postgres', q{
        SELECT count(*) = 0 FROM pgmq.dedup_keys WHERE queue_name = 'brief'}),
	'the worker removes keys past their window');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgmq.dedup_keys WHERE queue_name = 'kept'}),
	'1', 'and leaves keys within it');
ok(send_id('brief', 'b-1') > 2, 'an expired id is a new message');

#
# Privileges: INSERT on the queue table (and USAGE on the schema) is all a
# producer of messages with dedup ids needs.
#
$node->safe_psql('postgres', q{
    CREATE ROLE producer LOGIN;
    CREATE ROLE outsider LOGIN;
    GRANT USAGE ON SCHEMA pgmq TO producer, outsider;
    GRANT INSERT ON pgmq.q_kept TO producer;
});
my ($ret, $out, $err) = $node->psql('postgres', q{
    SELECT * FROM pgmq.send('kept', '{}', '{"x-pgmq-dedup-id": "order-1"}'::jsonb)},
	extra_params => [ '-U', 'producer' ]);
is($out, $first, 'a producer with INSERT alone gets the original id of a repeat');
($ret, $out, $err) = $node->psql('postgres', q{
    SELECT * FROM pgmq.send_batch('kept', ARRAY['{}', '{}']::jsonb[],
        ARRAY['{"x-pgmq-dedup-id": "order-2"}', '{"x-pgmq-dedup-id": "order-2"}']::jsonb[])},
	extra_params => [ '-U', 'producer' ]);
my @ids = split /\n/, $out;
ok(@ids == 2 && $ids[0] == $ids[1] && $ids[0] > $first, 'and sends a batch with dedup ids');
($ret, $out, $err) = $node->psql('postgres', q{
    \set VERBOSITY verbose
    SELECT * FROM pgmq.send('kept', '{}', '{"x-pgmq-dedup-id": "order-1"}'::jsonb)},
	extra_params => [ '-U', 'outsider' ]);
like($err, qr/42501: permission denied for queue "kept"\nDETAIL:  Postgres refused it: permission denied for table q_kept\./,
	'a role without INSERT gets 42501 naming the queue and its table, even for a repeat');

#
# A dump and restore keeps the keys with the messages they name.
#
my $dump = $node->backup_dir . '/dedup.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('restored'), '-f', $dump ], 'restore');
is( $node->safe_psql('restored', q{
        SELECT * FROM pgmq.send('kept', '{}', '{"x-pgmq-dedup-id": "order-1"}'::jsonb)}),
	$first, 'after a restore, a repeat returns the original msg_id');
is($node->safe_psql('restored', 'SELECT count(*) FROM pgmq.q_kept'), '2',
	'and inserts nothing');

$node->stop;
done_testing();
