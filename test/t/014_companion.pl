# The companion extension "pgmq" (companion/, `make install-companion`):
# CREATE EXTENSION pgmq gives pgmq_c, so pgmq clients and migrations work
# unchanged, and every way it can go wrong says so.
#
# This test installs nothing.  It needs the companion installed beside
# pgmq_c (scripts/test does it), and fails at once when it is not there:
# a test that skipped itself would hide a companion that stopped installing.

use strict;
use warnings;

use File::Basename qw(basename dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('companion');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgmq_c'");
$node->start;

# The installed files are those of this tree, or the test stops here.
my $srcdir = dirname(__FILE__) . '/../../companion';
my $extdir = $node->config_data('--sharedir') . '/extension';
my @problems;
for my $file (glob("$srcdir/pgmq.control"), glob("$srcdir/pgmq--*.sql"))
{
    my $installed = "$extdir/" . basename($file);
    if (!-f $installed)
    {
        push @problems, "$installed is missing";
    }
    elsif (slurp_file($installed) ne slurp_file($file))
    {
        push @problems, "$installed is not the file of this tree";
    }
}
if (!is(join('; ', @problems), '', 'the companion extension pgmq of this tree is installed'))
{
    diag('install it with `make install-companion`, run as `make install` is');
    $node->stop;
    done_testing();
    exit;
}
is( $node->safe_psql('postgres', q{
        SELECT version || ' ' || superuser || ' ' || relocatable || ' ' || schema
               || ' ' || array_to_string(requires, ',')
        FROM pg_available_extension_versions WHERE name = 'pgmq'}),
    '1.13.0 false false pgmq pgmq_c',
    'pgmq 1.13.0 is available: requires pgmq_c, lives in schema pgmq, needs no superuser');

my $c_version = $node->safe_psql('postgres',
    q{SELECT default_version FROM pg_available_extensions WHERE name = 'pgmq_c'});

# Run SQL, expecting it to fail: returns its stderr (verbose: with SQLSTATE).
sub fails
{
    my ($db, $sql, %opts) = @_;
    my ($rc, $out, $err) = $node->psql($db, $sql,
        extra_params => [ '-v', 'VERBOSITY=verbose', @{ $opts{extra} // [] } ]);
    return $rc == 0 ? "(no error)\n$out" : $err;
}

my $extensions = q{
    SELECT string_agg(extname || ' ' || extversion || ' ' || extnamespace::regnamespace, ', ' ORDER BY extname)
    FROM pg_extension WHERE extname <> 'plpgsql'};

# Objects that belong to the companion itself: none.
my $members = q{
    SELECT count(*) FROM pg_depend
    WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
      AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgmq')};

$node->safe_psql('postgres', join '',
    map { "CREATE DATABASE $_;" } qw(fresh clients migration objects restored restored_sql));

# Without pgmq_c and without CASCADE: Postgres' own message, which says what
# is missing and how to get it.
like(fails('fresh', 'CREATE EXTENSION IF NOT EXISTS pgmq'),
    qr/42704.*required extension "pgmq_c" is not installed.*HINT:.*CASCADE/s,
    'without pgmq_c: "required extension pgmq_c is not installed", hint CASCADE');
# WITH SCHEMA names a schema that must exist already, as for pgmq itself.
like(fails('fresh', 'CREATE EXTENSION IF NOT EXISTS "pgmq" WITH SCHEMA "pgmq" CASCADE'),
    qr/schema "pgmq" does not exist/,
    'WITH SCHEMA pgmq in a database without schema pgmq fails as for pgmq');
is($node->safe_psql('fresh', $extensions), '', 'and nothing was created');

# What pgmq clients run on connect (pgmq-js, pgmq-py, Npgmq, the Rust crate).
my ($rc, $out, $err) = $node->psql('clients', 'CREATE EXTENSION IF NOT EXISTS pgmq CASCADE');
is($rc, 0, 'CREATE EXTENSION IF NOT EXISTS pgmq CASCADE in a fresh database');
like($err, qr/installing required extension "pgmq_c"/, 'it creates pgmq_c first');
is($node->safe_psql('clients', $extensions), "pgmq 1.13.0 pgmq, pgmq_c $c_version pgmq",
    'both in schema pgmq; pgmq reports version 1.13.0');
is($node->safe_psql('clients', $members), '0', 'the companion owns no object');
($rc, $out, $err) = $node->psql('clients', q{
    CREATE EXTENSION IF NOT EXISTS pgmq CASCADE;
    CREATE EXTENSION IF NOT EXISTS pgmq;
    CREATE EXTENSION IF NOT EXISTS "pgmq" WITH SCHEMA "pgmq";});
is($rc, 0, 'and again, in each form: nothing to do');
is($node->safe_psql('clients', q{
        SELECT pgmq.create('jobs');
        SELECT pgmq.send('jobs', '{"n": 1}');
        SELECT message->>'n' FROM pgmq.read('jobs', 30, 1)}),
    "\n1\n1", 'the pgmq API works');
like(fails('clients', 'CREATE EXTENSION pgmq'), qr/extension "pgmq" already exists/,
    'without IF NOT EXISTS: already exists');

# Migrations: pgmq_c created once (by a superuser), then the application's
# own migration, as pgmq applications ship them.
$node->safe_psql('migration', 'CREATE EXTENSION pgmq_c');
($rc, $out, $err) = $node->psql('migration', q{
    CREATE SCHEMA IF NOT EXISTS "pgmq";
    CREATE EXTENSION IF NOT EXISTS "pgmq" WITH SCHEMA "pgmq";});
is($rc, 0, 'migration: CREATE SCHEMA IF NOT EXISTS pgmq; CREATE EXTENSION IF NOT EXISTS "pgmq" WITH SCHEMA "pgmq"');
$node->safe_psql('migration', 'DROP EXTENSION pgmq');
like(fails('migration', 'CREATE EXTENSION pgmq WITH SCHEMA public'),
    qr/extension "pgmq" must be installed in schema "pgmq"/,
    'any other schema is refused, as by pgmq');
like(fails('migration', q{CREATE EXTENSION IF NOT EXISTS "pgmq" WITH SCHEMA "pgmq" VERSION '1.4.4'}),
    qr/extension "pgmq" has no installation script nor update path for version "1.4.4"/,
    'a pinned older pgmq version is refused, naming the version');

# Roles without superuser: pgmq's control file lets any role with CREATE on
# the database create it, and so does the companion's, once pgmq_c is there.
$node->safe_psql('postgres', q{
    CREATE ROLE app LOGIN;
    GRANT CREATE ON DATABASE migration TO app;
    GRANT CREATE ON DATABASE fresh TO app;});
($rc, $out, $err) = $node->psql('migration', 'CREATE EXTENSION IF NOT EXISTS pgmq CASCADE',
    extra_params => [ '-U', 'app' ]);
is($rc, 0, 'a role without superuser creates the companion once pgmq_c exists');
like(fails('fresh', 'CREATE EXTENSION IF NOT EXISTS pgmq CASCADE', extra => [ '-U', 'app' ]),
    qr/permission denied to create extension "pgmq_c".*HINT:.*superuser/s,
    'but not pgmq_c: "permission denied to create extension pgmq_c"');
is($node->safe_psql('fresh', $extensions), '', 'and nothing was created');

# pgmq's objects already in schema pgmq (here its table pgmq.meta, as the
# SQL-only install of pgmq leaves): pgmq_c's refusal reaches the user.
$node->safe_psql('objects', q{
    CREATE SCHEMA pgmq;
    CREATE TABLE pgmq.meta (queue_name varchar UNIQUE NOT NULL, is_partitioned boolean NOT NULL,
                            is_unlogged boolean NOT NULL, created_at timestamptz NOT NULL DEFAULT now());});
like(fails('objects', 'CREATE EXTENSION IF NOT EXISTS pgmq CASCADE'),
    qr/42P07.*schema pgmq already contains pgmq objects \(table pgmq\.meta exists\).*HINT:  Remove the existing pgmq installation first/s,
    'pgmq objects in schema pgmq: pgmq_c refuses, and CASCADE passes its error on');
is($node->safe_psql('objects', $extensions), '', 'and nothing was created');

# DROP EXTENSION pgmq removes the name, and nothing else.
$node->safe_psql('clients', q{SELECT pgmq.send('jobs', '{"n": 2}')});
my $queues = q{
    SELECT (SELECT string_agg(queue_name, ',') FROM pgmq.list_queues())
           || ' ' || (SELECT count(*) FROM pgmq.q_jobs) || ' ' || (SELECT extversion FROM pg_extension WHERE extname = 'pgmq_c')};
is($node->safe_psql('clients', $queues), "jobs 2 $c_version", 'a queue with two messages');
$node->safe_psql('clients', 'DROP EXTENSION pgmq');
is($node->safe_psql('clients', $queues), "jobs 2 $c_version", 'DROP EXTENSION pgmq leaves pgmq_c, its queues and messages');
$node->safe_psql('clients', 'CREATE EXTENSION pgmq; DROP EXTENSION pgmq CASCADE');
is($node->safe_psql('clients', $queues), "jobs 2 $c_version", 'so does DROP EXTENSION pgmq CASCADE (a down migration)');
$node->safe_psql('clients', 'CREATE EXTENSION pgmq');

# pgmq_c cannot go while the companion needs it.
like(fails('clients', 'DROP EXTENSION pgmq_c'),
    qr/cannot drop extension pgmq_c because other objects depend on it.*DETAIL:  extension pgmq depends on extension pgmq_c/s,
    'DROP EXTENSION pgmq_c: refused, extension pgmq depends on it');
is($node->safe_psql('clients', $queues), "jobs 2 $c_version", 'and nothing changed');

# ALTER EXTENSION: nothing to update, nowhere to move.
($rc, $out, $err) = $node->psql('clients', 'ALTER EXTENSION pgmq UPDATE');
is($rc, 0, 'ALTER EXTENSION pgmq UPDATE succeeds');
like($err, qr/version "1\.13\.0" of extension "pgmq" is already installed/, 'with nothing to do');
like(fails('clients', q{ALTER EXTENSION pgmq UPDATE TO '1.14.0'}),
    qr/extension "pgmq" has no update path from version "1\.13\.0" to version "1\.14\.0"/,
    'an update to a version we do not ship names both versions');
like(fails('clients', 'ALTER EXTENSION pgmq SET SCHEMA public'),
    qr/extension "pgmq" does not support SET SCHEMA/, 'SET SCHEMA is refused');

# pgmq_c's own updates are not held back by the companion (0.1.0 is the
# first release: every later update starts there).
$node->safe_psql('postgres', 'CREATE DATABASE updated');
$node->safe_psql('updated', q{CREATE EXTENSION pgmq_c VERSION '0.1.0'; CREATE EXTENSION pgmq});
($rc, $out, $err) = $node->psql('updated', 'ALTER EXTENSION pgmq_c UPDATE');
is($rc, 0, 'ALTER EXTENSION pgmq_c UPDATE with the companion in place');
is($node->safe_psql('updated', q{SELECT extversion FROM pg_extension WHERE extname = 'pgmq_c'}),
    $c_version, 'pgmq_c is at its default version');

# pg_dump and restore, both formats: pgmq_c is created before the companion
# (pg_dump follows the dependency, though "pgmq" sorts first by name).
my $custom = $node->basedir . '/clients.dump';
my $plain = $node->basedir . '/clients.sql';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('clients'), '-f', $custom ],
    'pg_dump -Fc of a database with pgmq_c and the companion');
$node->command_ok([ 'pg_dump', '-d', $node->connstr('clients'), '-f', $plain ],
    'pg_dump (plain) of the same');
like(slurp_file($plain),
    qr/CREATE EXTENSION IF NOT EXISTS pgmq_c WITH SCHEMA pgmq;.*CREATE EXTENSION IF NOT EXISTS pgmq WITH SCHEMA pgmq;/s,
    'the dump creates pgmq_c, then pgmq');
$node->command_ok(
    [ 'pg_restore', '--exit-on-error', '-j', '2', '-d', $node->connstr('restored'), $custom ],
    'pg_restore (two jobs) into an empty database');
$node->command_ok(
    [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored_sql'), '-f', $plain ],
    'psql restores the plain dump');
for my $db (qw(restored restored_sql))
{
    is($node->safe_psql($db, $extensions), "pgmq 1.13.0 pgmq, pgmq_c $c_version pgmq",
        "$db: both extensions, same versions");
    is($node->safe_psql($db, $members), '0', "$db: the companion still owns nothing");
    is($node->safe_psql($db, q{SELECT string_agg(message->>'n', ',' ORDER BY msg_id) FROM pgmq.read('jobs', 30, 10)}),
        '2', "$db: the queue and its message, still unread in the source");
}

# make install-companion / uninstall-companion, into a scratch DESTDIR:
# they never overwrite nor remove a pgmq file that is not the companion's.
my $destdir = PostgreSQL::Test::Utils::tempdir('companion_destdir');
my $destext = $destdir . $node->config_data('--sharedir') . '/extension';
my @make = ('make', '-s', '--no-print-directory', '-C', dirname(__FILE__) . '/../..',
    'PG_CONFIG=pg_config', "DESTDIR=$destdir");
command_ok([ @make, 'install-companion' ], 'make install-companion');
is( join(' ', map { basename($_) } grep { slurp_file($_) eq slurp_file("$srcdir/" . basename($_)) }
        glob("$destext/pgmq*")),
    'pgmq--1.13.0.sql pgmq.control', 'installs the two files of companion/');
command_ok([ @make, 'install-companion' ], 'and again, over its own files');
command_ok([ @make, 'uninstall-companion' ], 'make uninstall-companion');
is(join(' ', glob("$destext/pgmq*")), '', 'removes them');
my $pgmq_control = "comment = 'pgmq itself'\ndefault_version = '1.13.1'\nschema = 'pgmq'\n";
PostgreSQL::Test::Utils::append_to_file("$destext/pgmq.control", $pgmq_control);
PostgreSQL::Test::Utils::append_to_file("$destext/pgmq--1.13.0--1.13.1.sql", "-- pgmq's update\n");
command_fails_like([ @make, 'install-companion' ],
    qr/pgmq \(the SQL extension\) is installed in .*pgmq\.control pgmq--1\.13\.0--1\.13\.1\.sql.*Uninstall pgmq first/s,
    'make install-companion where pgmq is installed: refused, naming its files');
is(slurp_file("$destext/pgmq.control"), $pgmq_control, 'pgmq\'s control file is untouched');
ok(!-e "$destext/pgmq--1.13.0.sql", 'and nothing of the companion was installed');
my ($make_out, $make_err) = run_command([ @make, 'uninstall-companion' ]);
like($make_err, qr/left .*pgmq\.control alone: it belongs to pgmq/,
    'make uninstall-companion says it leaves pgmq\'s files');
is(join(' ', map { basename($_) } glob("$destext/pgmq*")), 'pgmq--1.13.0--1.13.1.sql pgmq.control',
    'and leaves them');

$node->stop;
done_testing();
