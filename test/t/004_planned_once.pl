# The hot paths never plan per call: each statement pgmq_c runs on a queue is
# planned once per backend and then reused, for every function, whatever
# the arguments.  pg_stat_statements (track = all, track_planning = on)
# counts both the executions and the plannings of those nested statements.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('planned_once');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pgmq_c, pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_stat_statements;
    CREATE EXTENSION pgmq_c;
    SELECT pgmq.create('hot');
});

# One session, 25 rounds of every hot path, with arguments that vary.
my $rounds = 25;
$node->safe_psql('postgres', qq{
    SELECT pg_stat_statements_reset();
    DO \$\$
    DECLARE
        id bigint;
    BEGIN
        FOR i IN 1..$rounds LOOP
            id := pgmq.send('hot', jsonb_build_object('i', i));
            PERFORM pgmq.send('hot', '{}', jsonb_build_object('h', i), i % 3);
            PERFORM pgmq.send_batch('hot', ARRAY['{}', jsonb_build_object('i', i)]);
            PERFORM pgmq.read('hot', 0, 1 + i % 4);
            PERFORM pgmq.read('hot', 0, 1, jsonb_build_object('i', i));
            PERFORM pgmq.set_vt('hot', id, i);
            PERFORM pgmq.set_vt('hot', ARRAY[id, id + 1], i);
            PERFORM pgmq.archive('hot', id);
            PERFORM pgmq.archive('hot', ARRAY[id + 1, id + 2]);
            PERFORM pgmq.delete('hot', id + 3);
            PERFORM pgmq.delete('hot', ARRAY[id + 4]);
            PERFORM pgmq.pop('hot', 1 + i % 2);
            PERFORM pgmq.metrics('hot');
        END LOOP;
    END
    \$\$;
});

# Every statement pgmq_c ran on the queue's tables.
my $stats = $node->safe_psql('postgres', q{
    SELECT count(*), min(calls), max(plans)
    FROM pg_stat_statements
    WHERE query LIKE '%pgmq.q_hot%' OR query LIKE '%pgmq.a_hot%'
});
my ($statements, $min_calls, $max_plans) = split /\|/, $stats;
is($statements, 12, 'the twelve kinds of statement pgmq_c runs on a queue');
cmp_ok($min_calls, '>=', $rounds, "each ran at least $rounds times");
cmp_ok($max_plans, '<=', 1, 'none was planned more than once');

$node->stop;
done_testing();
