# pg_dump and restore: queues are ordinary tables, pgmq.meta is dumped as
# extension configuration, so a restored database has every queue, message,
# archived message and msg_id position, and keeps working; insert
# notifications too (their trigger goes with the table, their settings with
# pgmq.notify_insert_throttle), and topic bindings (pgmq.topic_bindings, its
# compiled_regex recomputed on restore).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgmq_c'");
$node->start;

$node->safe_psql('postgres', q{
    CREATE DATABASE source;
    CREATE DATABASE target;
});
$node->safe_psql('source', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('Orders');
    SELECT pgmq.create_unlogged('cache');
    SELECT pgmq.send_batch('Orders', ARRAY['{"n":1}','{"n":2}','{"n":3}']::jsonb[],
                           ARRAY['{"h":1}','{"h":2}','{"h":3}']::jsonb[]);
    SELECT pgmq.archive('Orders', 1::bigint);
    SELECT pgmq.read('Orders', 0, 1);
    SELECT pgmq.send('cache', '{"c":1}');
    SELECT pgmq.enable_notify_insert('Orders', 500);
    SELECT pgmq.bind_topic('orders.*', 'Orders');
    SELECT pgmq.bind_topic('#', 'cache');
    SELECT pgmq.bind_topic('orders.#', 'cache');
});

my $dump = $node->basedir . '/source.sql';
$node->command_ok(
    [ 'pg_dump', '-d', $node->connstr('source'), '-f', $dump ],
    'pg_dump of a database with queues');
$node->command_ok(
    [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('target'), '-f', $dump ],
    'restore into an empty database');

my $query = q{
    SELECT string_agg(queue_name || ':' || is_unlogged, ',' ORDER BY queue_name) FROM pgmq.list_queues();
};
is($node->safe_psql('target', $query), $node->safe_psql('source', $query),
    'pgmq.meta restored, name case and unlogged flag kept');
$query = q{
    SELECT string_agg(msg_id || '/' || read_ct || '/' || message::text || '/' || headers::text, ' ' ORDER BY msg_id)
    FROM pgmq.q_orders
};
is($node->safe_psql('target', $query), $node->safe_psql('source', $query),
    'queued messages restored with read_ct and headers');
is($node->safe_psql('target', 'SELECT string_agg(msg_id::text, \',\') FROM pgmq.a_orders'),
    '1', 'archive restored');
is($node->safe_psql('target', q{SELECT * FROM pgmq.send('Orders', '{"n":4}')}),
    '4', 'msg_ids continue where the source left off');
is( $node->safe_psql('target',
        q{SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM pgmq.read('Orders', 30, 10)}),
    '2,3,4', 'restored queue delivers old and new messages');
is($node->safe_psql('target', q{SELECT count(*) FROM pgmq.q_cache}),
    '1', 'unlogged queue contents are dumped too');
is( $node->safe_psql('target',
        q{SELECT queue_name || ':' || throttle_interval_ms FROM pgmq.list_notify_insert_throttles()}),
    'Orders:500', 'insert notification settings restored');
$query = q{
    SELECT string_agg(pattern || '>' || queue_name || '>' || compiled_regex || '>' || bound_at, ' '
                      ORDER BY pattern, queue_name)
    FROM pgmq.topic_bindings
};
is($node->safe_psql('target', $query), $node->safe_psql('source', $query),
    'topic bindings restored with their bound_at and compiled_regex');
is( $node->safe_psql('target', q{
        SELECT string_agg(queue_name || ':' || msg_id, ',' ORDER BY queue_name)
        FROM pgmq.send_batch_topic('orders.new', ARRAY['{"t":1}']::jsonb[])}),
    'Orders:5,cache:2', 'send_batch_topic routes by the restored bindings');
my ($stdout, $stderr);
# The earlier send notified: wait out the 500 ms throttle first.
$node->psql('target', q{LISTEN "pgmq.q_Orders.INSERT"; SELECT pg_sleep(0.6); SELECT pgmq.send('Orders', '{"n":5}'); SELECT 'after';},
    stdout => \$stdout, stderr => \$stderr);
like($stdout, qr/Asynchronous notification "pgmq\.q_Orders\.INSERT" received/,
    'the restored trigger notifies on the queue\'s channel');

$node->stop;
done_testing();
