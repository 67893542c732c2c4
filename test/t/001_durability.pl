# Crash and restart behaviour of queues.
#
# A committed send survives a crash of a logged queue; a committed delete
# or archive never comes back; an uncommitted send is gone; an unlogged
# queue comes back empty but usable.  Sessions that cached a queue's plans
# before a restart work after it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('durability');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgmq_c'");
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('durable');
    SELECT pgmq.create_unlogged('fast');
    SELECT pgmq.send_batch('durable', ARRAY['{"n":1}','{"n":2}','{"n":3}','{"n":4}']::jsonb[]);
    SELECT pgmq.send_batch('fast', ARRAY['{"n":1}','{"n":2}']::jsonb[]);
    SELECT pgmq.delete('durable', 1::bigint);
    SELECT pgmq.archive('durable', 2::bigint);
    SELECT pgmq.archive('fast', 1::bigint);
});

# A transaction that sent but never committed when the server died.
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT pgmq.send('durable', '{"n":"uncommitted"}')});

# Crash: no shutdown checkpoint, recovery replays WAL.
$node->stop('immediate');
eval { $open->quit };
$node->start;

is( $node->safe_psql('postgres',
        q{SELECT string_agg(message->>'n', ',' ORDER BY msg_id) FROM pgmq.q_durable}),
    '3,4',
    'committed sends survive a crash; deleted and archived messages stay gone; uncommitted send is lost');
is( $node->safe_psql('postgres',
        q{SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM pgmq.a_durable}),
    '2', 'archive of a logged queue survives a crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgmq.q_fast'),
    '0', 'unlogged queue is empty after a crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgmq.a_fast'),
    '1', 'archive of an unlogged queue is logged and survives');

# The queues keep working, ids continue past what was handed out.
my $id = $node->safe_psql('postgres', q{SELECT * FROM pgmq.send('fast', '{"n":"after"}')});
ok($id > 2, "unlogged queue keeps msg_ids unique across a crash (new id $id)");
is($node->safe_psql('postgres', qq{SELECT pgmq.archive('fast', ${id}::bigint)}),
    't', 'a message sent after the crash archives without colliding with archived ids');
$id = $node->safe_psql('postgres', q{SELECT * FROM pgmq.send('fast', '{"n":"after"}')});
is( $node->safe_psql('postgres',
        q{SELECT message->>'n' FROM pgmq.read('fast', 30, 1)}),
    'after', 'unlogged queue delivers after the crash');

# read_ct of a read-but-unacknowledged message is durable too.
$node->safe_psql('postgres', q{SELECT pgmq.read('durable', 0, 1)});
$node->stop('immediate');
$node->start;
is( $node->safe_psql('postgres',
        q{SELECT read_ct FROM pgmq.q_durable WHERE msg_id = 3}),
    '1', 'read_ct survives a crash');

# A clean restart keeps everything, and metrics agree.
$node->restart;
# (The msg_id sequence may jump ahead after a crash: sequences log ahead.)
is( $node->safe_psql('postgres',
        q{SELECT queue_length || '/' || (total_messages >= 5) FROM pgmq.metrics('durable')}),
    '2/true', 'metrics after restart: two messages left, at least five ids handed out');

$node->stop;
done_testing();
