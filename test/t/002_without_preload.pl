# The whole SQL API works on a server that does not preload pgmq_c: the
# library is loaded by the first session that calls one of its functions.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
    '', 'pgmq_c is not preloaded');

$node->safe_psql('postgres', q{
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('plain');
    SELECT pgmq.send_batch('plain', ARRAY['{"n":1}','{"n":2}']::jsonb[]);
});

# A new session: the library loads on its first call.
is( $node->safe_psql('postgres',
        q{SELECT string_agg(message->>'n', ',' ORDER BY msg_id) FROM pgmq.read('plain', 30, 5)}),
    '1,2', 'read works in a fresh session of a server without preloading');
is( $node->safe_psql('postgres',
        q{SELECT count(*) FROM pgmq.read_with_poll('plain', 30, 1, 1, 50)}),
    '0', 'read_with_poll polls and gives up after max_poll_seconds');
is( $node->safe_psql('postgres',
        q{SELECT pgmq.delete('plain', 1::bigint)::text || ',' || pgmq.archive('plain', 2::bigint)::text}),
    'true,true', 'delete and archive work');
is( $node->safe_psql('postgres',
        q{SELECT queue_length || '/' || total_messages FROM pgmq.metrics('plain')}),
    '0/2', 'metrics work');

# Policies and the maintenance pass need no worker: run_maintenance() does
# a pass from SQL, and dead letters move on read.
$node->safe_psql('postgres', q{
    SELECT pgmq.create('plain_dlq');
    SELECT pgmq.set_queue_policy('plain', max_receives => 1, dead_letter_queue => 'plain_dlq',
                                 retention => '1 hour');
    SELECT pgmq.send_batch('plain', ARRAY['{"n":3}','{"n":4}']::jsonb[]);
    UPDATE pgmq.q_plain SET enqueued_at = now() - interval '2 hours' WHERE message->>'n' = '4';
    SELECT pgmq.read('plain', 0, 1);
});
is( $node->safe_psql('postgres',
        q{SELECT moved || '/' || expired || '/' || coalesce(error, '') FROM pgmq.run_maintenance('plain')}),
    '1/1/', 'run_maintenance moves a dead letter and expires a message without the worker');
is( $node->safe_psql('postgres', q{SELECT message->>'n' FROM pgmq.q_plain_dlq}),
    '3', 'the dead letter is in the dead-letter queue');

# Statistics: depth without counters; Prometheus text all the same; a
# reset says what it needs.
$node->safe_psql('postgres',
    q{SELECT pgmq.create('statsq'); SELECT pgmq.send_batch('statsq', ARRAY['{}', '{}']::jsonb[])});
is( $node->safe_psql('postgres', q{
        SELECT visible || '/' || COALESCE(sent_total::text, 'null') || '/'
               || COALESCE(stats_reset::text, 'null')
        FROM pgmq.queue_stats WHERE queue_name = 'statsq'}),
    '2/null/null', 'queue_stats shows the depth, and NULL counters');
like($node->safe_psql('postgres', 'SELECT pgmq.prometheus_metrics()'),
    qr/^pgmq_queue_visible_messages\{queue="statsq"\} 2$/m,
    'prometheus_metrics works without shared memory');
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT pgmq.stats_reset()',
    extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000.*need shared memory.*shared_preload_libraries/s,
    'stats_reset: 55000, with the setting to change');

$node->stop;
done_testing();
