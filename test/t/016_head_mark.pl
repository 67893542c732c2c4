# The head mark under load: producers whose transactions stall for a
# random while and sometimes roll back, racing consumers that read (or pop)
# and delete, each logging in the same transaction what it did.  Every
# committed message must be consumed exactly once: a mark that ran ahead of
# a stalled producer would skip its message for good.  The mark must also
# have moved, or the test proves nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('head_mark');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
pgmq_c.worker_enabled = off
synchronous_commit = off
max_connections = 40
});
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pgmq_c;
SELECT pgmq.create('hm');
CREATE TABLE sent (msg_id bigint);
CREATE TABLE consumed (msg_id bigint, how text);
});

my $dir = PostgreSQL::Test::Utils::tempdir;
sub script
{
	my ($name, $text) = @_;
	open my $fh, '>', "$dir/$name.sql" or die;
	print $fh $text;
	close $fh;
	return ('-f', "$dir/$name.sql");
}

# Producers: one message or a batch, a stall of up to 30 ms after drawing
# the ids, and one transaction in five rolled back.
my @producers = (
	script('send', <<'EOF'),
\set stall random(0, 30)
\set fate random(1, 5)
BEGIN;
INSERT INTO sent SELECT * FROM pgmq.send('hm', '{"p": 1}');
SELECT pg_sleep(:stall / 1000.0);
\if :fate = 1
ROLLBACK;
\else
COMMIT;
\endif
EOF
	script('batch', <<'EOF'));
\set stall random(0, 30)
\set fate random(1, 5)
BEGIN;
INSERT INTO sent SELECT * FROM pgmq.send_batch('hm', ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}']::jsonb[]);
SELECT pg_sleep(:stall / 1000.0);
\if :fate = 1
ROLLBACK;
\else
COMMIT;
\endif
EOF
my @consumers = (
	script('read', <<'EOF'),
BEGIN;
WITH got AS (SELECT msg_id FROM pgmq.read('hm', 30, 4)),
     gone AS (SELECT * FROM pgmq.delete('hm', ARRAY(SELECT msg_id FROM got)) d)
INSERT INTO consumed SELECT d, 'read' FROM gone d;
COMMIT;
EOF
	script('pop', <<'EOF'));
INSERT INTO consumed SELECT msg_id, 'pop' FROM pgmq.pop('hm', 3);
EOF

my @connect = ('-h', $node->host, '-p', $node->port, 'postgres');
my ($pout, $perr, $cout, $cerr) = ('', '', '', '');
my $prod = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', '10', @producers, @connect ],
	'>', \$pout, '2>', \$perr);
IPC::Run::run([ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '10', @consumers, @connect ],
	'>', \$cout, '2>', \$cerr)
  or diag($cerr);
$prod->finish or diag($perr);
like($pout, qr/number of failed transactions: 0/, 'no producer transaction failed');
like($cout, qr/number of failed transactions: 0/, 'no consumer transaction failed');

my $mark = $node->safe_psql('postgres', q{SELECT pgmq._head_mark('hm')});
# Drain in one session, as the consumers did.
$node->safe_psql('postgres', q{
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pgmq.q_hm);
        INSERT INTO consumed SELECT msg_id, 'drain' FROM pgmq.pop('hm', 100);
    END LOOP;
END $$});

ok($mark ne '' && $mark > 100, "the mark moved during the run (to $mark)");
my $sent = $node->safe_psql('postgres', 'SELECT count(*) FROM sent');
ok($sent > 100, "producers committed $sent messages");
is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT msg_id FROM sent EXCEPT SELECT msg_id FROM consumed) s'),
	0, 'every committed message was consumed');
is($node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT msg_id) FROM consumed'),
	0, 'no message was consumed twice');
is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT msg_id FROM consumed EXCEPT SELECT msg_id FROM sent) s'),
	0, 'nothing rolled back was consumed');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM consumed WHERE how <> 'drain'}),
	'>', 100, 'the consumers did most of the work');

# TRUNCATE ... RESTART IDENTITY starts ids again from 1, far below the
# mark: the table's new file makes the mark start again too.
is( $node->safe_psql(
		'postgres', q{
TRUNCATE pgmq.q_hm RESTART IDENTITY;
SELECT * FROM pgmq.send('hm', '{"after": "truncate"}');
SELECT msg_id || ' ' || message::text FROM pgmq.read('hm', 30, 5);
SELECT count(*) FROM pgmq.q_hm WHERE msg_id < 5;}),
	"1\n1 {\"after\": \"truncate\"}\n1",
	'after TRUNCATE RESTART IDENTITY, message 1 is read');

$node->stop;
done_testing();
