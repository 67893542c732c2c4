# FIFO groups under load: consumers racing with read_grouped, _rr, _head
# and their _with_poll forms, each transaction reading a batch and deleting
# it, while a producer keeps sending.  Every consumer logs what it got, in
# the transaction that deletes it.  Afterwards: every message was processed
# exactly once, and within each group in msg_id order (no consumer ever got
# a message while an earlier one of its group was in another's hands).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('fifo_stress');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
pgmq_c.worker_enabled = off
synchronous_commit = off
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pgmq_c;
SELECT pgmq.create('stress');
SELECT pgmq.create_fifo_index('stress');
CREATE TABLE processed (seq bigserial PRIMARY KEY, msg_id bigint, grp text, how text);
-- 2,000 messages over 40 groups before the consumers start
SELECT count(*) FROM pgmq.send_batch('stress',
    ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, 2000) i),
    ARRAY(SELECT jsonb_build_object('x-pgmq-group', 'g' || (i % 40)) FROM generate_series(1, 2000) i));
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	fill => 'read_grouped(\'stress\', 30, 7)',
	rr => 'read_grouped_rr(\'stress\', 30, 5)',
	head => 'read_grouped_head(\'stress\', 30, 3)',
	poll => 'read_grouped_with_poll(\'stress\', 30, 4, 1, 10)',
	rrpoll => 'read_grouped_rr_with_poll(\'stress\', 30, 6, 1, 10)',
	headpoll => 'read_grouped_head_with_poll(\'stress\', 30, 2, 1, 10)');
my @files;
for my $how (sort keys %scripts)
{
	my $file = "$dir/$how.sql";
	open my $fh, '>', $file or die;
	print $fh <<"EOF";
BEGIN;
WITH got AS (SELECT msg_id, headers->>'x-pgmq-group' AS grp FROM pgmq.$scripts{$how}),
     logged AS (INSERT INTO processed (msg_id, grp, how) SELECT msg_id, grp, '$how' FROM got ORDER BY msg_id RETURNING msg_id)
SELECT count(*) FROM pgmq.delete('stress', ARRAY(SELECT msg_id FROM logged));
COMMIT;
EOF
	close $fh;
	push @files, '-f', $file;
}
# One producer, sending each group's messages in order, 2 per transaction.
open my $ph, '>', "$dir/produce.sql" or die;
print $ph <<'EOF';
\set g random(0, 39)
SELECT pgmq.send_batch('stress', ARRAY['{"late": 1}', '{"late": 2}']::jsonb[],
    ARRAY[jsonb_build_object('x-pgmq-group', 'g' || :g), jsonb_build_object('x-pgmq-group', 'g' || :g)]);
EOF
close $ph;

my @connect = ('-h', $node->host, '-p', $node->port, 'postgres');
my ($out, $err) = ('', '');
my $producer = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '1', '-t', '300', '-f', "$dir/produce.sql", @connect ],
	'>', \$out, '2>', \$err);
my ($cout, $cerr) = ('', '');
IPC::Run::run([ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', '8', @files, @connect ],
	'>', \$cout, '2>', \$cerr)
  or diag($cerr);
$producer->finish or diag($err);
like($cout, qr/number of failed transactions: 0/, 'no consumer transaction failed');

# Drain what is left, one consumer, so everything ends up processed.
my $fill = PostgreSQL::Test::Utils::slurp_file("$dir/fill.sql");
for (1 .. 400)
{
	last if $node->safe_psql('postgres', 'SELECT count(*) FROM pgmq.q_stress') == 0;
	$node->safe_psql('postgres', $fill);
}

my $sent = $node->safe_psql('postgres', q{SELECT total_messages FROM pgmq.metrics('stress')});
is($sent, 2600, 'the producer sent 300 pairs on top of the 2,000');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgmq.q_stress'), 0, 'the queue is drained');
is( $node->safe_psql(
		'postgres', 'SELECT count(*), count(DISTINCT msg_id) FROM processed'),
	"$sent|$sent",
	'every message was processed exactly once');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
    SELECT msg_id < lag(msg_id) OVER (PARTITION BY grp ORDER BY seq) AS backwards FROM processed) s
WHERE backwards}), 0, 'within each group, messages were processed in msg_id order');
is( $node->safe_psql(
		'postgres', q{SELECT count(DISTINCT how) FROM processed}),
	6, 'each kind of grouped read took part');

$node->stop;
done_testing();
