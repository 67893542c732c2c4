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

# Every statement pgmq_c ran on the queue's tables: all eleven tracked, each
# executed in every round, and each planned exactly once.  (metrics runs
# none: it reads an ordinary queue table with a heap scan in C.)  Zero plans would
# mean pg_stat_statements did not see the planning (the check would prove
# nothing), more than one that a statement was re-planned.
my $stmts = q{
    SELECT plans, calls, regexp_replace(query, '\s+', ' ', 'g')
    FROM pg_stat_statements
    WHERE query LIKE '%pgmq.q_hot%' OR query LIKE '%pgmq.a_hot%'
    ORDER BY query
};
my @stmts = map { [ split /\|/, $_, 3 ] }
  split /\n/, $node->safe_psql('postgres', $stmts);
my $all = join "\n", map { "plans $_->[0], calls $_->[1]: $_->[2]" } @stmts;

is(scalar @stmts, 11, 'the eleven kinds of statement pgmq_c runs on a queue were tracked')
  or diag $all;
is(scalar(grep { $_->[1] < $rounds } @stmts),
    0, "each ran at least $rounds times") or diag $all;
is(scalar(grep { $_->[0] != 1 } @stmts), 0, 'each was planned exactly once')
  or diag $all;

$node->stop;
done_testing();
