# Updates: for every path ALTER EXTENSION can take from an older version of
# pgmq_c to the default version, a database updated along it holds exactly
# the objects a fresh CREATE EXTENSION pgmq_c gives, and queues made under
# the old version keep their messages and keep working.
#
# Nothing here names a version: versions and update steps come from the
# server (pg_available_extension_versions, pg_extension_update_paths), and
# are checked against the scripts in sql/, so the test grows with them.

use strict;
use warnings;

use File::Basename qw(basename dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgmq_c'");
$node->start;

# Version strings compare by their numeric parts: 0.10.0 is after 0.9.0.
sub version_cmp
{
    my @a = split /\./, $_[0];
    my @b = split /\./, $_[1];
    while (@a || @b)
    {
        my ($x, $y) = (shift(@a) // 0, shift(@b) // 0);
        my $c = ($x =~ /^\d+$/ && $y =~ /^\d+$/) ? $x <=> $y : $x cmp $y;
        return $c if $c;
    }
    return 0;
}

# What the server offers.
my $default = $node->safe_psql('postgres',
    q{SELECT default_version FROM pg_available_extensions WHERE name = 'pgmq_c'});
my @versions = sort { version_cmp($a, $b) } split /\n/,
  $node->safe_psql('postgres',
    q{SELECT version FROM pg_available_extension_versions WHERE name = 'pgmq_c'});
# Direct steps (one update script each), and the path ALTER EXTENSION
# UPDATE takes by itself (the shortest).
my (%steps, %shortest);
for my $row (split /\n/,
    $node->safe_psql('postgres',
        q{SELECT source, target, path FROM pg_extension_update_paths('pgmq_c') WHERE path IS NOT NULL}))
{
    my ($source, $target, $path) = split /\|/, $row;
    $shortest{$source}{$target} = $path;
    push @{ $steps{$source} }, $target if $path eq "$source--$target";
}

# The same versions and steps as the scripts in sql/: otherwise this tests
# an installation that is not the source tree's (run make install).
my $sqldir = dirname(__FILE__) . '/../../sql';
my (%tree_versions, @tree_steps);
for my $file (glob "$sqldir/pgmq_c--*.sql")
{
    my ($name) = $file =~ m{pgmq_c--(.+)\.sql$};
    if ($name =~ /^(.+)--(.+)$/)
    {
        push @tree_steps, "$1--$2";
        $tree_versions{$_} = 1 for ($1, $2);
    }
    else
    {
        $tree_versions{$name} = 1;
    }
}
is( join(' ', @versions),
    join(' ', sort { version_cmp($a, $b) } keys %tree_versions),
    'the server offers the versions of the scripts in sql/');
is( join(' ', sort map { my $s = $_; map { "$s--$_" } @{ $steps{$s} } } keys %steps),
    join(' ', sort @tree_steps),
    'the server has the update scripts in sql/');
my $extdir = $node->config_data('--sharedir') . '/extension';
my @stale = grep { slurp_file($_) ne slurp_file("$extdir/" . basename($_)) }
  grep { -f "$extdir/" . basename($_) } (glob("$sqldir/pgmq_c--*.sql"), "$sqldir/../pgmq_c.control");
is(join(' ', map { basename($_) } @stale), '', 'the installed scripts and control file are those of the tree');

# Every path from one version to another over the direct steps, as lists
# of versions; no version twice (downgrade scripts would make cycles).
sub paths
{
    my ($steps, $from, $to, $seen) = @_;
    $seen //= { $from => 1 };
    return ([$from]) if $from eq $to;
    my @found;
    for my $next (@{ $steps->{$from} // [] })
    {
        next if $seen->{$next};
        push @found, map { [ $from, @$_ ] } paths($steps, $next, $to, { %$seen, $next => 1 });
    }
    return @found;
}
# (Today there is one step; the search itself, on a made-up graph with a
# shortcut and a downgrade.)
is( join(' ', sort map { join('>', @$_) }
        paths({ a => [ 'b', 'c' ], b => ['c'], c => [ 'b', 'd' ] }, 'a', 'd')),
    'a>b>c>d a>c>d', 'the path search finds every path, once, without cycles');

my @older = grep { version_cmp($_, $default) < 0 } @versions;
ok(@older > 0, "there are versions older than the default $default to update from");
my @paths;
for my $old (@older)
{
    my @from_old = paths(\%steps, $old, $default);
    ok(@from_old > 0, "ALTER EXTENSION can update $old to $default");
    push @paths, @from_old;
}

# A canonical description of the extension: each member with its
# definition, and what CREATE EXTENSION makes that is not a member (the
# schema, default privileges).  One line per fact, sorted.
my $describe = q{
WITH ext AS (SELECT * FROM pg_extension WHERE extname = 'pgmq_c'),
member AS (
    SELECT d.classid, d.objid, d.objsubid,
           pg_describe_object(d.classid, d.objid, d.objsubid) AS name
    FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
fact (object, aspect, value) AS (
    SELECT 'extension pgmq_c', 'row',
           format('version %s, schema %s, owner %s, relocatable %s, config %s, condition %s',
                  extversion, extnamespace::regnamespace, extowner::regrole, extrelocatable,
                  extconfig::regclass[], extcondition)
    FROM ext
    UNION ALL
    SELECT 'extension pgmq_c', 'comment', obj_description(oid, 'pg_extension') FROM ext
    UNION ALL
    SELECT 'schema ' || nspname, 'owner, privileges, comment',
           format('%s %s %s', nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace'))
    FROM pg_namespace WHERE nspname = 'pgmq'
    UNION ALL
    SELECT 'default privileges in schema pgmq',
           format('for %s on %s', defaclrole::regrole, defaclobjtype), defaclacl::text
    FROM pg_default_acl WHERE defaclnamespace = 'pgmq'::regnamespace
    UNION ALL
    SELECT name, 'member', '' FROM member
    -- functions
    UNION ALL
    SELECT m.name, 'definition',
           CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid)
                ELSE format('%s %s', p.prokind, pg_get_function_arguments(p.oid)) END
    FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT m.name, 'owner, privileges', format('%s %s', p.proowner::regrole, p.proacl)
    FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    -- types
    UNION ALL
    SELECT m.name, 'definition',
           format('%s %s %s', t.typtype, t.typowner::regrole, t.typacl)
           || coalesce(E'\n' || (SELECT string_agg(format('%s %s %s', a.attname,
                                                            format_type(a.atttypid, a.atttypmod),
                                                            a.attcollation::regcollation),
                                                     E'\n' ORDER BY a.attnum)
                                 FROM pg_attribute a
                                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
    FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    -- relations: kind, columns, indexes, constraints, triggers, policies,
    -- view text, sequence parameters
    UNION ALL
    SELECT m.name, 'definition',
           format('kind %s, persistence %s, owner %s, privileges %s, options %s, rls %s/%s',
                  c.relkind, c.relpersistence, c.relowner::regrole, c.relacl, c.reloptions,
                  c.relrowsecurity, c.relforcerowsecurity)
    FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT m.name, 'column ' || a.attnum::text,
           format('%s %s %s not null %s, default %s, identity %s, generated %s, privileges %s',
                  a.attname, format_type(a.atttypid, a.atttypmod), a.attcollation::regcollation,
                  a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  a.attacl)
    FROM member m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT m.name, 'index', pg_get_indexdef(i.indexrelid)
    FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT m.name, 'constraint ' || co.conname, pg_get_constraintdef(co.oid)
    FROM member m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    -- (not the internal triggers of foreign keys: the constraint above says
    -- all they do, and their names carry oids)
    SELECT m.name, 'trigger', pg_get_triggerdef(tg.oid)
    FROM member m JOIN pg_trigger tg ON m.classid = 'pg_class'::regclass AND tg.tgrelid = m.objid
    WHERE NOT tg.tgisinternal
    UNION ALL
    SELECT m.name, 'policy ' || po.polname, format('%s %s %s %s', po.polcmd, po.polroles::regrole[],
           pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
    FROM member m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
    UNION ALL
    SELECT m.name, 'view', pg_get_viewdef(m.objid)
    FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT m.name, 'sequence',
           format('%s start %s increment %s min %s max %s cache %s cycle %s', s.seqtypid::regtype,
                  s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
    FROM member m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
    -- comments on members and their columns
    UNION ALL
    SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), 'comment', d.description
    FROM pg_description d JOIN member m ON d.classoid = m.classid AND d.objoid = m.objid
    -- the privileges pg_dump takes as the extension's own (pg_init_privs),
    -- of members and of the schema
    UNION ALL
    SELECT pg_describe_object(ip.classoid, ip.objoid, ip.objsubid), 'initial privileges ' || ip.privtype::text,
           ip.initprivs::text
    FROM pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM member)
       OR (ip.classoid, ip.objoid) = ('pg_namespace'::regclass, 'pgmq'::regnamespace)
    -- what each member depends on, besides the extension
    UNION ALL
    SELECT m.name, 'depends on',
           format('%s (%s)', pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
    FROM member m JOIN pg_depend d ON d.classid = m.classid AND d.objid = m.objid
    WHERE d.refclassid <> 'pg_extension'::regclass
)
SELECT line
FROM (SELECT format('%s | %s: %s', object, aspect, coalesce(value, '<null>')) AS line FROM fact) f
ORDER BY line COLLATE "C";
};

# pg_dump --schema-only of a database without the queue tables.  With
# --binary-upgrade pg_dump writes out every member of the extension (a
# plain dump says only CREATE EXTENSION); lines that carry oids,
# relfilenodes, xids or a per-run key are dropped.
sub schema_dump
{
    my ($db, @exclude) = @_;
    my ($out, $err) = run_command(
        [
            $node->installed_command('pg_dump'), '--schema-only', '--binary-upgrade', '--no-sync',
            (map { ('--exclude-table', $_) } @exclude),
            '-d', $node->connstr($db)
        ]);
    is($err, '', "pg_dump of $db runs cleanly");
    my @lines = grep {
        !/^SELECT pg_catalog\.binary_upgrade_set_next_/
          && !/^\\(un)?restrict /
          && !/^SET relfrozenxid = /
          && !/^WHERE oid = '\d+';$/
    } split /\n/, $out;
    s/'\{\d+(,\d+)*\}'/'{oids}'/g for @lines;
    return join("\n", @lines) . "\n";
}

# is(), with a unified diff when they differ.
my $diffs = 0;
sub same_text
{
    my ($got, $expected, $name) = @_;
    return pass($name) if $got eq $expected;
    $diffs++;
    my $dir = $node->basedir;
    my ($a, $b) = ("$dir/expected.$diffs", "$dir/got.$diffs");
    append_to_file($a, $expected);
    append_to_file($b, $got);
    my ($diff) = run_command([ 'diff', '-u', $a, $b ]);
    fail($name);
    diag("--- a fresh install\n+++ after the update\n$diff");
    return 0;
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pgmq_c');
my $fresh_catalog = $node->safe_psql('fresh', $describe);
my $fresh_dump = schema_dump('fresh');
like($fresh_catalog, qr/function pgmq\.send\(text,jsonb\) \| definition: CREATE OR REPLACE FUNCTION/,
    'the description covers function definitions');

# What must come through an update unchanged: the queue list, and queue
# orders with its archive and msg_id position (queue events is used across
# the update by a session, below).
my $state = q{
    SELECT 'meta', queue_name, is_partitioned, is_unlogged, created_at FROM pgmq.meta ORDER BY queue_name;
    SELECT 'orders', * FROM pgmq.q_orders ORDER BY msg_id;
    SELECT 'orders archive', * FROM pgmq.a_orders ORDER BY msg_id;
    SELECT 'orders ids', last_value, is_called FROM pgmq.q_orders_msg_id_seq;
    SELECT 'orders metrics', queue_name, queue_length, queue_visible_length, total_messages
      FROM pgmq.metrics('orders');
};

my $n = 0;
for my $path (@paths)
{
    my @path = @$path;
    my $name = join(' -> ', @path);
    my $db = 'update_' . ++$n;

    $node->safe_psql('postgres', "CREATE DATABASE $db");
    $node->safe_psql($db, qq{
        CREATE EXTENSION pgmq_c VERSION '$path[0]';
        SELECT pgmq.create('orders');
        SELECT pgmq.create_unlogged('events');
        SELECT pgmq.send_batch('orders', ARRAY['{"n":1}','{"n":2}','{"n":3}','{"n":4}']::jsonb[],
                               ARRAY['{"h":1}','{"h":2}','{"h":3}','{"h":4}']::jsonb[]);
        SELECT pgmq.send('orders', '{"n":5}', 3600);
        SELECT pgmq.read('orders', 3600, 1);
        SELECT pgmq.archive('orders', 2::bigint);
        SELECT pgmq.delete('orders', 3::bigint);
        SELECT pgmq.send_batch('events', ARRAY['{"e":1}','{"e":2}']::jsonb[]);
    });
    my $before = $node->safe_psql($db, $state);

    # A session that has used the queues under the old version stays
    # through the update and goes on using them.
    my @alter =
      (join('--', @path) eq $shortest{ $path[0] }{$default})
      ? ('ALTER EXTENSION pgmq_c UPDATE')
      : map { "ALTER EXTENSION pgmq_c UPDATE TO '$_'" } @path[ 1 .. $#path ];
    my $session = $node->background_psql($db);
    $session->query_safe(q{SELECT pgmq.send('events', '{"e":3}')});
    $session->query_safe(q{SELECT pgmq.read('events', 0, 1)});
    $session->query_safe(q{SELECT pgmq.metrics('events')});
    $session->query_safe($_) for @alter;
    is($session->query_safe(q{SELECT extversion FROM pg_extension WHERE extname = 'pgmq_c'}),
        $default, "$name: the extension is at $default");
    is($session->query_safe(q{SELECT * FROM pgmq.send('events', '{"e":4}')}),
        '4', "$name: a session that used the queues before the update sends on");
    is( $session->query_safe(
            q{SELECT string_agg(msg_id || ':' || read_ct, ',' ORDER BY msg_id) FROM pgmq.read('events', 0, 10)}),
        '1:2,2:1,3:1,4:1', "$name: and reads old and new messages");
    is($session->query_safe(q{SELECT queue_length || '/' || total_messages FROM pgmq.metrics('events')}),
        '4/4', "$name: and gets metrics");
    $session->quit;

    same_text($node->safe_psql($db, $describe), $fresh_catalog,
        "$name: the same extension objects as a fresh install");
    same_text(schema_dump($db, 'pgmq.q_orders', 'pgmq.a_orders', 'pgmq.q_events', 'pgmq.a_events'),
        $fresh_dump, "$name: the same schema dump as a fresh install");

    # pg_monitor reads no message of a queue made before the update (0.1.0
    # granted it SELECT on every queue table) nor of one made after, and
    # still reads their metrics.
    $node->safe_psql($db, q{SELECT pgmq.create('later')});
    is( $node->safe_psql($db, q{
            SELECT string_agg(format('%s %s', c.oid::regclass, has_table_privilege('pg_monitor', c.oid, 'SELECT')),
                              ', ' ORDER BY c.relname)
            FROM pg_class c
            WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relkind IN ('r', 'S')
              AND c.relname ~ '^[qa]_(orders|later)'}),
        'pgmq.a_later f, pgmq.a_orders f, pgmq.q_later f, pgmq.q_later_msg_id_seq f, '
          . 'pgmq.q_orders f, pgmq.q_orders_msg_id_seq f',
        "$name: pg_monitor has no right on queue tables made before or after the update");
    is( $node->safe_psql($db, q{
            CREATE ROLE monitor_only IN ROLE pg_monitor;
            SET ROLE monitor_only;
            SELECT string_agg(queue_name || ' ' || queue_length, ', ' ORDER BY queue_name) FROM pgmq.metrics_all();
            RESET ROLE;
            DROP ROLE monitor_only;}),
        'events 4, later 0, orders 3', "$name: a pg_monitor member reads every queue's metrics");
    $node->safe_psql($db, q{SELECT pgmq.drop_queue('later')});

    # The old queue: everything as it was, and working.
    is($node->safe_psql($db, $state), $before,
        "$name: queues, messages, archive, msg_ids and metrics unchanged");
    is($node->safe_psql($db, q{SELECT * FROM pgmq.send('orders', '{"n":6}', '{"h":6}'::jsonb)}),
        '6', "$name: send continues the msg_id sequence");
    is( $node->safe_psql($db,
            q{SELECT string_agg(msg_id || ':' || read_ct || ':' || message::text || ':' || headers::text, ' ' ORDER BY msg_id)
              FROM pgmq.read('orders', 30, 10)}),
        '4:1:{"n": 4}:{"h": 4} 6:1:{"n": 6}:{"h": 6}',
        "$name: read skips the message leased and the one delayed under the old version");
    is( $node->safe_psql($db,
            q{SELECT string_agg(msg_id || ':' || read_ct, ',') FROM pgmq.set_vt('orders', 1, 0)}),
        '1:1', "$name: set_vt on a message leased under the old version");
    is( $node->safe_psql($db,
            q{SELECT string_agg(msg_id || ':' || read_ct, ',') FROM pgmq.pop('orders')}),
        '1:1', "$name: pop");
    is( $node->safe_psql($db,
            q{SELECT pgmq.delete('orders', 4::bigint) || ',' || pgmq.archive('orders', 6::bigint)}),
        'true,true', "$name: delete and archive");
    is( $node->safe_psql($db,
            q{SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM pgmq.a_orders}),
        '2,6', "$name: the archive holds the old and the new archived message");
    is( $node->safe_psql($db,
            q{SELECT string_agg(format('%s %s/%s/%s', queue_name, queue_length, queue_visible_length, total_messages), ', ' ORDER BY queue_name)
              FROM pgmq.metrics_all()}),
        'events 4/4/4, orders 1/0/6', "$name: metrics_all");
    is($node->safe_psql($db, q{SELECT pgmq.drop_queue('events')}),
        't', "$name: drop_queue of a queue made under $path[0]");
}

$node->stop;
done_testing();
