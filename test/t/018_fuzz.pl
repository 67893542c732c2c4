# Fuzzing every function in schema pgmq with hostile arguments.
#
# The signatures come from pg_proc, so a function added to the extension is
# fuzzed without touching this file.  Each call picks, for every argument, a
# value from a pool of hostile values of the argument's type (NULLs, empty
# and huge strings, unicode, quotes, `;`, `--`, extreme integers, negative
# and enormous intervals, infinite timestamps, huge jsonb and arrays,
# unknown and mixed-case queue names), and sometimes an untyped literal, a
# value of another type, a NULL, or named notation (`name => value`, in any
# order, defaults left out).  Calls run against a set of real queues
# (plain, unlogged, partitioned, one with a policy and a dead-letter queue,
# one with topic bindings, a FIFO queue with its group index, a mixed-case
# name), rebuilt before every batch.
#
# What must hold, for every call:
#   - no backend crash (psql loses its connection, or the server log says
#     "terminated by signal");
#   - no internal error: SQLSTATE class XX, or a code that says nothing
#     about the cause (P0000, P0001, classes 38, 39, 58);
#   - a failed call changes nothing: a fingerprint of every queue (count,
#     max(msg_id) and a hash of (msg_id, vt, read_ct, row version) of each
#     queue and archive table: a changed body or header is a new row
#     version), of pgmq.meta, the policies, topic
#     bindings, dedup keys, notify throttles, partition configs, the
#     relations and grants in schema pgmq, triggers on them, and the
#     per-queue counters of pgmq._queue_stats() (kept in shared memory,
#     outside any transaction) is the same after the failed call as before.
#     The fingerprint is taken server-side by fuzz.fp(), after each
#     successful volatile call and after each failed one;
#   - after each batch, a pop of every queue gets exactly the messages that
#     plain SQL on its table says are visible (fuzz.check_reads()), so
#     state outside the tables (the head mark, caches) was not led astray.
# Every third batch (by the seed) runs its calls inside transactions, each
# call under a savepoint that a failure rolls back to, and ends the
# transaction with a COMMIT or a ROLLBACK: after a ROLLBACK the fingerprint
# must be the one from before BEGIN.  (Except for the counters when the
# transaction called stats_reset, which like pg_stat_reset() acts at once,
# not at commit.)
#
# Run longer, or with another seed (the seed is printed in the summary):
#
#   PGMQ_C_FUZZ_CALLS=200000 PGMQ_C_FUZZ_SEED=12345 \
#     make installcheck REGRESS= ISOLATION= PROVE_TESTS=test/t/018_fuzz.pl
#
# PGMQ_C_FUZZ_CALLS (default 2000) is the number of calls: 20 to 45 s on
# two cores, depending on what else runs (15,000 take about 3 minutes).
# PGMQ_C_FUZZ_SEED (default 20261202) fixes the sequence of calls, so a
# failure reproduces with the same seed and count.  Each finding prints the statement that caused it;
# PGMQ_C_FUZZ_KEEP=<directory> also writes each batch's psql script there
# (batchN.sql), to replay by hand.  The summary goes to the test's log
# (tmp_check/log/regress_log_018_fuzz): SQLSTATE counts per function and
# an example statement for each SQLSTATE.
#
# Limits, deliberately:
#   - read_with_poll and the read_grouped*_with_poll functions get a
#     max_poll_seconds of 0, 1 (at most 5 times per run), a negative number
#     or NULL, never its default of 5: a larger value only makes the call sleep, and a run of
#     thousands of calls cannot afford seconds each.  statement_timeout is
#     5 s, so a call that hangs fails the run (57014) instead of CI
#     (PGMQ_C_FUZZ_STATEMENT_TIMEOUT sets another, in seconds: under
#     valgrind, test/valgrind/run, a call takes 20 to 50 times as long).
#   - premake (create_partitioned) and leading_partition
#     (convert_archive_partitioned) from 101 to 1000 are made 100: 1,000
#     hourly partitions made ahead take longer than the statement timeout,
#     a cost the caller asked for, not a fault.  More than 1000 is refused
#     (22023), so those values go through.
#   - An error message longer than $MAX_MESSAGE characters is a finding:
#     an argument echoed whole (a 4 MB name, say) must be cut.
#   - Huge values are a few MB (a 4 MB text, a 2.5 MB jsonb, arrays of 5,000
#     messages and 100,000 ids), not the 1 GB limit: they test the paths,
#     not the machine's memory.
#   - One batch in four runs as fz_role, which is a producer of fz_topic, a
#     consumer of fz_policy and both for fz_plain (grant_queue), and has no
#     right on the other queues: refusals (42501) must change nothing
#     either.  The others run as a superuser.
#   - The trigger functions (notify_queue_listeners, _topic_bindings_changed)
#     are called like the others: Postgres refuses them before they run
#     (0A000), which checks that no C entry point assumes a trigger context.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $seed = $ENV{PGMQ_C_FUZZ_SEED} // 20261202;
my $ncalls = $ENV{PGMQ_C_FUZZ_CALLS} // 2000;
my $statement_timeout = $ENV{PGMQ_C_FUZZ_STATEMENT_TIMEOUT} // 5;
my $batch_size = 250;
my $MAX_MESSAGE = 1000;
srand($seed);

# Known bugs: each entry is [ the bug, a function that gets the function's
# name and its arguments (name => SQL) and says whether a call hits it ].
# A call that hits one is not run, and counts as skipped.
my @known_bugs = ();

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pgmq_c'
pgmq_c.worker_enabled = off
synchronous_commit = off
fsync = off
log_min_messages = warning
log_min_error_statement = panic
});
$node->start;

$node->safe_psql('postgres', <<'EOF');
CREATE EXTENSION pgmq_c;
CREATE ROLE fz_role;
CREATE SCHEMA fuzz;
GRANT USAGE ON SCHEMA fuzz TO fz_role;

-- The fingerprint: one "part=md5" item per thing a failed call must leave
-- alone, so a difference says where it is.  A row of a queue or archive
-- table counts by msg_id, vt, read_ct and its version (ctid, xmin): a
-- message or headers changed in any way is a new row version, and hashing
-- the version instead of the bodies keeps the fingerprint cheap when a
-- queue holds megabytes of jsonb.
CREATE FUNCTION fuzz.fp() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	r record;
	h text;
	acc text[] := '{}';
BEGIN
	FOR r IN SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relkind IN ('r', 'p')
		  AND NOT c.relispartition
		  AND (c.relname LIKE 'q\_%' OR c.relname LIKE 'a\_%')
		ORDER BY c.relname
	LOOP
		BEGIN
			EXECUTE format($q$SELECT count(*) || '/' || coalesce(max(msg_id), 0) || '/'
				|| coalesce(sum(hashtext(msg_id::text || '|' || vt::text || '|' || read_ct::text
				|| '|' || ctid::text || '|' || xmin::text)), 0)
				FROM pgmq.%I$q$, r.relname) INTO h;
		EXCEPTION WHEN OTHERS THEN
			h := 'unreadable: ' || SQLSTATE;
		END;
		acc := acc || (r.relname || '=' || md5(h));
	END LOOP;
	acc := acc || ('meta=' || md5(coalesce((SELECT string_agg(m::text, ',' ORDER BY queue_name) FROM pgmq.meta m), '')));
	acc := acc || ('policy=' || md5(coalesce((SELECT string_agg(p::text, ',' ORDER BY p::text) FROM pgmq.queue_policy p), '')));
	acc := acc || ('bindings=' || md5(coalesce((SELECT string_agg(b::text, ',' ORDER BY b::text) FROM pgmq.topic_bindings b), '')));
	acc := acc || ('dedup=' || md5(coalesce((SELECT string_agg(d::text, ',' ORDER BY d::text) FROM pgmq.dedup_keys d), '')));
	acc := acc || ('throttle=' || md5(coalesce((SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pgmq.notify_insert_throttle t), '')));
	acc := acc || ('partcfg=' || md5(coalesce((SELECT string_agg(c::text, ',' ORDER BY c::text) FROM pgmq.partition_config c), '')));
	acc := acc || ('relations=' || md5(coalesce((SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || c.relpersistence::text
			|| ':' || coalesce(c.relacl::text, '-'), ',' ORDER BY c.relname)
		FROM pg_class c WHERE c.relnamespace = 'pgmq'::regnamespace), '')));
	acc := acc || ('columnacl=' || md5(coalesce((SELECT string_agg(a.attrelid::regclass::text || '.' || a.attname || ':' || a.attacl::text, ','
			ORDER BY a.attrelid::regclass::text, a.attname)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = 'pgmq'::regnamespace AND a.attacl IS NOT NULL), '')));
	acc := acc || ('schemaacl=' || md5(coalesce((SELECT nspacl::text FROM pg_namespace WHERE nspname = 'pgmq'), '')));
	acc := acc || ('triggers=' || md5(coalesce((SELECT string_agg(t.tgrelid::regclass::text || '.' || t.tgname || ':' || t.tgenabled::text, ','
			ORDER BY t.tgrelid::regclass::text, t.tgname)
		FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE c.relnamespace = 'pgmq'::regnamespace AND NOT t.tgisinternal), '')));
	BEGIN
		acc := acc || ('stats=' || md5(coalesce((SELECT string_agg(concat_ws('/', queue_name, sent_total, read_total,
				deleted_total, archived_total, popped_total, dead_lettered_total, expired_total,
				redriven_total, stats_reset), ',' ORDER BY queue_name) FROM pgmq._queue_stats()), '')));
	EXCEPTION WHEN OTHERS THEN
		acc := acc || ('stats=unreadable: ' || SQLSTATE);
	END;
	RETURN array_to_string(acc, ' ');
END
$$;

-- After a batch: a pop of each queue must get the messages plain SQL says
-- are visible (a read that skipped live messages, a head mark moved by a
-- failed call, would show here).  Queues with a message whose vt is close
-- to now are left out: which side of now it falls on is a race.
CREATE FUNCTION fuzz.check_reads() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	q text;
	tbl text;
	maxr int;
	expected bigint[];
	got bigint[];
	racy boolean;
	report text := '';
BEGIN
	FOR q IN SELECT queue_name FROM pgmq.meta ORDER BY queue_name LOOP
		BEGIN
			tbl := pgmq.format_table_name(q, 'q');
			SELECT max_receives INTO maxr FROM pgmq.queue_policy p WHERE p.queue_name = q;
			EXECUTE format('SELECT EXISTS (SELECT FROM pgmq.%I WHERE vt BETWEEN clock_timestamp() - interval ''10 s''
				AND clock_timestamp() + interval ''10 s'')', tbl) INTO racy;
			CONTINUE WHEN racy;
			EXECUTE format('SELECT ARRAY(SELECT msg_id FROM pgmq.%I WHERE vt <= clock_timestamp() AND read_ct < $1
				ORDER BY msg_id LIMIT 5)', tbl) INTO expected USING coalesce(maxr, 2147483647);
			got := ARRAY(SELECT msg_id FROM pgmq.pop(q, 5));
			IF got IS DISTINCT FROM expected THEN
				report := report || format('[queue %L: pop gave %s, visible were %s] ', q, got, expected);
			END IF;
		EXCEPTION WHEN OTHERS THEN
			report := report || format('[queue %L: %s %s] ', q, SQLSTATE, SQLERRM);
		END;
	END LOOP;
	RETURN report;
END
$$;

-- Drop every queue and make the fixtures again.
CREATE FUNCTION fuzz.rebuild() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	q text;
BEGIN
	DELETE FROM pgmq.queue_policy;
	FOR q IN SELECT queue_name FROM pgmq.meta LOOP
		BEGIN
			PERFORM pgmq.drop_queue(q);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'fuzz.rebuild: drop_queue(%) failed: % %', quote_literal(q), SQLSTATE, SQLERRM;
		END;
	END LOOP;
	FOR q IN SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relkind IN ('r', 'p')
		  AND NOT c.relispartition AND (c.relname LIKE 'q\_%' OR c.relname LIKE 'a\_%')
	LOOP
		EXECUTE format('DROP TABLE pgmq.%I CASCADE', q);
	END LOOP;
	DELETE FROM pgmq.meta;
	DELETE FROM pgmq.dedup_keys;
	DELETE FROM pgmq.topic_bindings;
	DELETE FROM pgmq.partition_config;
	DELETE FROM pgmq.notify_insert_throttle;

	PERFORM pgmq.create('fz_plain');
	PERFORM pgmq.create_unlogged('fz_unlogged');
	PERFORM pgmq.create_partitioned('fz_part', '10', '100', 2);
	PERFORM pgmq.create_partitioned('fz_parttime', 'daily', '7 days', 1);
	PERFORM pgmq.create('fz_dlq');
	PERFORM pgmq.create('fz_policy');
	PERFORM pgmq.set_queue_policy('fz_policy', max_receives => 2, dead_letter_queue => 'fz_dlq',
		retention => '1 day', archive_retention => '7 days', dedup_window => '1 hour');
	PERFORM pgmq.create('fz_topic');
	PERFORM pgmq.bind_topic('fz.*', 'fz_topic');
	PERFORM pgmq.bind_topic('fz.#', 'fz_topic');
	PERFORM pgmq.bind_topic('#', 'fz_plain');
	PERFORM pgmq.create('fz_fifo');
	PERFORM pgmq.create_fifo_index('fz_fifo');
	PERFORM pgmq.create('Fz_Mixed');
	PERFORM pgmq.enable_notify_insert('fz_plain', 100);
	-- For the batches run as fz_role: a producer, a consumer and both.
	PERFORM pgmq.grant_queue('fz_plain', 'fz_role', 'all');
	PERFORM pgmq.grant_queue('fz_policy', 'fz_role', 'consume');
	PERFORM pgmq.grant_queue('fz_topic', 'fz_role', 'send');

	FOR q IN SELECT queue_name FROM pgmq.meta LOOP
		PERFORM pgmq.send_batch(q, ARRAY(SELECT jsonb_build_object('i', i, 'k', i % 3) FROM generate_series(1, 12) i),
			ARRAY(SELECT jsonb_build_object('x-pgmq-group', 'g' || (i % 3)) FROM generate_series(1, 12) i));
		PERFORM pgmq.send(q, '{"late": true}', 3600);
		PERFORM pgmq.send(q, '{"dedup": true}', '{"x-pgmq-dedup-id": "d1"}'::jsonb);
		PERFORM pgmq.read(q, 3600, 2);
		PERFORM pgmq.archive(q, 3::bigint);
		PERFORM pgmq.delete(q, 4::bigint);
	END LOOP;
	-- fz_policy: a message read max_receives times, so the next read moves it.
	UPDATE pgmq.q_fz_policy SET read_ct = 2, vt = now() - interval '1 second' WHERE msg_id = 5;
	PERFORM pgmq.send('fz_dlq', '{"dead": true}', '{"x-pgmq-dlq-source": "fz_policy", "x-pgmq-dlq-msg-id": 99}'::jsonb);
END
$$;
EOF

#
# The signatures.
#
my @sigs;
for my $line (split /\n/, $node->safe_psql('postgres', q{
	SELECT p.proname, p.oid::regprocedure::text,
		coalesce(array_to_string(p.proargtypes::regtype[]::text[], ','), ''),
		coalesce(array_to_string(ARRAY(
			SELECT n FROM unnest(p.proargnames,
				coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)])))
				AS u(n, m)
			WHERE m IN ('i', 'b', 'v')), ','), ''),
		p.pronargdefaults, p.proretset, p.provolatile
	FROM pg_proc p
	WHERE p.pronamespace = 'pgmq'::regnamespace
	ORDER BY 2}))
{
	my ($name, $sig, $types, $names, $ndef, $retset, $vol) = split /\|/, $line, -1;
	push @sigs, {
		name => $name,
		sig => $sig,
		types => [ $types eq '' ? () : split(/,/, $types) ],
		names => [ $names eq '' ? () : split(/,/, $names) ],
		ndef => $ndef,
		retset => $retset eq 't',
		volatile => $vol eq 'v',
	};
}
ok(@sigs >= 100, 'found ' . scalar(@sigs) . ' functions in schema pgmq');

#
# Hostile values.  A value is { sql => typed SQL } or { lit => a string },
# which can go in typed ('...'::type) or untyped ('...').
#
sub lit { return { lit => $_[0] }; }
sub expr { return { sql => $_[0] }; }
sub quote_lit { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

my @queues = qw(fz_plain fz_unlogged fz_part fz_parttime fz_dlq fz_policy fz_topic fz_fifo Fz_Mixed);
my %pool;
$pool{queue} = [
	(map { lit($_) } @queues, @queues),
	(map { lit(uc $_) } @queues),
	lit('fz_mixed'), lit('FZ_MIXED'), lit('fZ_pLaIn'),
	lit('nope'), lit('Nope'), lit('fz_plain '), lit(' fz_plain'), lit("fz_plain\t"),
	lit("fz\nplain"), lit(''), lit(' '), lit('pgmq'), lit('meta'), lit('q_fz_plain'),
	lit('a_fz_plain'), lit('public.fz_plain'), lit('pgmq.fz_plain'), lit('"fz_plain"'),
	lit('fz_plain;'), lit('fz--x'), lit("fz'x"), lit('fz$x'), lit('fz$$x'), lit('fz\\x'),
	lit('fz_%'), lit('_'), lit('x y'), lit('fz.x'), lit('/*'), lit('%s%n'),
	lit(q{x'); DROP TABLE pgmq.meta; --}), lit('fz_plain; DROP TABLE pgmq.meta'),
	lit('n' x 47), lit('n' x 48), lit('N' x 47), lit('n' x 63), lit('n' x 64),
	lit("\xc3\xa9" x 23), lit("\xc3\xa9" x 24), lit("\xc3\xa9" x 47),
	lit("\xc8\xba" x 16), lit("\xc8\xba" x 24),    # lower() makes it longer
	lit("\xc4\xb0stanbul"), lit("\xc7\x85ungla"), lit("\xf0\x9f\x99\x82"),
	lit("\xe2\x80\x8bfz_plain"), lit("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"),
	expr(q{'fz' || chr(1) || 'x'}), expr(q{chr(127)}),
	expr(q{repeat('q', 100000)}), expr(q{repeat(E'\u00e9', 10000)}),
	expr(q{(SELECT min(queue_name) FROM pgmq.meta)}),
];
$pool{topic} = [
	lit('fz.a'), lit('fz.a.b'), lit('fz'), lit('#'), lit('*'), lit('fz.*'), lit('fz.#'),
	lit('#.#'), lit('*.*'), lit('**'), lit('##'), lit('*#'), lit('#*'), lit('.fz'),
	lit('fz.'), lit('fz..a'), lit('a' x 255), lit('a' x 256), lit('Fz.A'),
	lit("fz.\xc3\xa9"), lit('fz a'), lit('fz;a'), lit('fz-a_b.C9'), lit(''), lit('.'),
	lit('fz.*.#'), lit('[a]'), lit('fz.(a|b)'), lit('^fz$'), lit('\\d'),
	expr(q{repeat('a.', 50000) || 'a'}), expr(q{repeat('*.', 200) || '#'}),
];
$pool{interval_text} = [
	map({ lit($_) } '10', '10000', '0', '-1', '1', '2', '9223372036854775807',
		'9223372036854775808', '-9223372036854775808', '1 day', 'daily', 'hourly', 'weekly',
		'monthly', 'quarterly', 'yearly', 'Daily', '1 second', '1 microsecond', '-1 day',
		'1000000 years', '178000000 years', 'infinity', 'NaN', '1.5', '1e3', 'abc', '',
		'1 day; DROP TABLE pgmq.meta', ' 10 ', '0x10', '1 mon -30 days', '@ 1 hour ago'),
];
$pool{access} = [ map { lit($_) } 'send', 'consume', 'all', 'SEND', 'Consume', 'ALL', 'none', '', 'send,consume', ' all' ];
$pool{prefix} = [ map { lit($_) } 'q', 'a', 'q_', 'a_', 'x', '', 'Q', "\xc3\xa9" ];
$pool{extension} = [ map { lit($_) } 'pgmq_c', 'plpgsql', 'pgmq', 'nope', '', "x'y" ];
$pool{misc_text} = [
	map({ lit($_) } '{}', '{"a": 1}', '[]', '[1, 2]', 'null', 'true', '"s"',
		'{"x-pgmq-group": "g1"}', '{"x-pgmq-dedup-id": "d1"}', '10', '0', '-5', '1.5', '1e5',
		'2147483647', '2147483648', '9223372036854775808', 'now', 'infinity', '-infinity',
		'2030-01-01 00:00:00+00', 'epoch', '{1,2,3}', '{}', '{NULL}', '{"{}","{}"}',
		'{"{\"a\": 1}"}', '{{1},{2}}', 'abc', '', ' ', '1 day', '+3', '0x10', '1_000'),
];
$pool{text} = [
	lit(''), lit(' '), lit('x'), lit("'"), lit('"'), lit(';'), lit('--'), lit('$$'),
	lit('\\'), lit("a\tb"), lit("a\nb"), lit("\xf0\x9f\x99\x82"), lit('%s'),
	expr(q{repeat('x', 4000000)}), expr(q{repeat(E'\u00e9', 100000)}),
];
$pool{jsonb} = [
	(map { lit($_) } '{}', '[]', 'null', '1', '-0', '1e1000', '"s"', 'true', '{"a": 1}',
		'{"k": 1}', '{"i": 1}', '{"x-pgmq-group": "g1"}', '{"x-pgmq-group": null}',
		'{"x-pgmq-group": 1}', '{"x-pgmq-group": ""}', '{"x-pgmq-dedup-id": "d1"}',
		'{"x-pgmq-dedup-id": "d2", "x-pgmq-group": "g2"}', '{"x-pgmq-dedup-id": 1}',
		'{"x-pgmq-dedup-id": ""}', '{"x-pgmq-dedup-id": null}', '{"x-pgmq-dedup-id": []}',
		'{"x-pgmq-dlq-source": "fz_policy"}', '{"k": "\u00e9\ud83d\ude42"}',
		'{"a": "\u0000"}', '{"a": ', '{"a": 1, "a": 2}', '[{"x-pgmq-group": "g1"}]'),
	expr(q{jsonb_build_object('x-pgmq-dedup-id', repeat('d', 256))}),
	expr(q{jsonb_build_object('x-pgmq-dedup-id', repeat('d', 257))}),
	expr(q{jsonb_build_object('x-pgmq-group', repeat('g', 100000))}),
	expr(q{(repeat('[', 5000) || repeat(']', 5000))::jsonb}),
	expr(q{(SELECT jsonb_object_agg(i::text, repeat('v', 100)) FROM generate_series(1, 20000) i)}),
	expr(q{to_jsonb(repeat('x', 2000000))}),
];
$pool{'jsonb[]'} = [
	(map { lit($_) } '{}', '{NULL}', '{"{}"}', '{"{}","[]","null","1"}', '{{"{}"},{"{}"}}',
		'[0:1]={"{}","{}"}', '[5:5]={"{}"}', '{"{\"x-pgmq-group\": \"g1\"}","{\"x-pgmq-group\": \"g2\"}"}',
		'{"{\"x-pgmq-dedup-id\": \"b1\"}","{\"x-pgmq-dedup-id\": \"b1\"}"}',
		'{"{\"x-pgmq-dedup-id\": 5}"}', '{NULL,"{}"}', '{"{\"a\": "}'),
	expr(q{ARRAY['{}', '{}', '{}']::jsonb[]}),
	expr(q{array_fill('{}'::jsonb, ARRAY[1000])}),
	expr(q{array_fill('{"x": 1}'::jsonb, ARRAY[5000])}),
	expr(q{array_fill('{}'::jsonb, ARRAY[2, 2])}),
	expr(q{ARRAY(SELECT jsonb_build_object('x-pgmq-dedup-id', 'k' || i) FROM generate_series(1, 300) i)}),
];
$pool{integer} = [
	(map { lit($_) } qw(0 1 -1 2 5 30 3600 2147483647 -2147483648 100 1000)),
	lit('2147483648'), lit('1.5'), lit(''), lit('1e3'),
];
$pool{bigint} = [
	(map { lit($_) } qw(0 1 2 3 5 6 10 11 12 13 14 -1 9223372036854775807 -9223372036854775808 1000000)),
	lit('9223372036854775808'), lit('1.5'),
	expr(q{(SELECT max(msg_id) FROM pgmq.q_fz_plain)}),
];
$pool{'bigint[]'} = [
	(map { lit($_) } '{}', '{NULL}', '{1,2,3}', '{1,1,1}', '{5,6,7,8,9,10,11,12}', '{-1,0,9223372036854775807}',
		'{{1,2},{3,4}}', '[5:7]={1,2,3}', '{NULL,5}', '{9223372036854775808}'),
	expr(q{ARRAY(SELECT generate_series(1, 100000)::bigint)}),
	expr(q{ARRAY(SELECT generate_series(-5, 20)::bigint)}),
];
$pool{boolean} = [ map { lit($_) } qw(true false yes off 1 maybe) ];
$pool{'timestamp with time zone'} = [
	(map { lit($_) } 'infinity', '-infinity', 'epoch', '2000-01-01 00:00:00+00', '294276-12-31 23:59:59+00',
		'4713-01-01 00:00:00+00 BC', '2030-06-01 12:00:00+14', 'allballs', 'now', 'today', 'tomorrow', ''),
	expr('now()'), expr('clock_timestamp()'), expr(q{now() + interval '1 hour'}),
	expr(q{now() - interval '1 hour'}), expr(q{now() + interval '100 years'}),
	expr(q{now() - interval '1000 years'}),
];
$pool{interval} = [
	map({ lit($_) } '0', '1 microsecond', '1 second', '-1 second', '1 day', '178000000 years',
		'-178000000 years', '1 mon', '2147483647 days', '-2147483648 mons', 'P1D',
		'1 day -86400 seconds', 'infinity', '', '00:00:00.000001', '1 hour ago'),
];
$pool{name} = [
	(map { lit($_) } 'postgres', 'fz_role', 'pg_monitor', 'public', 'PUBLIC', 'nobody', '',
		'"fz_role"', 'FZ_ROLE', 'fz_role; DROP ROLE fz_role'),
	expr('current_user'), expr(q{repeat('r', 100)::name}),
];

# Values that make sense, for the calls that should get past the checks
# (one in three: the deeper paths, and the state they change, get fuzzed
# too).
my %sane = (
	queue => [ map { lit($_) } @queues ],
	topic => [ map { lit($_) } 'fz.a', 'fz.a.b', 'fz', 'fz.*', 'fz.#', '#' ],
	interval_text => [ map { lit($_) } '10', '100', 'daily', '1 day' ],
	access => [ map { lit($_) } 'send', 'consume', 'all' ],
	misc_text => [ map { lit($_) } '{}', '{"a": 1}', '{"x-pgmq-group": "g1"}', '0', '1', '5', '{1,2,3}', '{"{}","{}"}' ],
	jsonb => [ map { lit($_) } '{}', '{"a": 1}', '{"k": 1}', '{"x-pgmq-group": "g1"}', '{"x-pgmq-dedup-id": "d1"}' ],
	'jsonb[]' => [ map { lit($_) } '{"{}"}', '{"{}","{\"a\": 1}"}', '{"{\"x-pgmq-group\": \"g1\"}","{\"x-pgmq-group\": \"g2\"}"}' ],
	integer => [ map { lit($_) } 0, 1, 2, 5, 30 ],
	bigint => [ map { lit($_) } 1 .. 14 ],
	'bigint[]' => [ map { lit($_) } '{1,2,3}', '{5,6,7,8,9,10,11,12}', '{13,14}' ],
	'timestamp with time zone' => [ expr('now()'), expr(q{now() + interval '1 hour'}), expr(q{now() - interval '1 hour'}) ],
	interval => [ map { lit($_) } '1 hour', '1 day', '1 second' ],
	name => [ map { lit($_) } 'fz_role' ],
);

# Which pool a text argument draws from, by its name.
my %text_pool_by_name = (
	queue_name => 'queue', dead_letter_queue => 'queue', target_queue => 'queue',
	table_name => 'queue', routing_key => 'topic', pattern => 'topic',
	partition_interval => 'interval_text', retention_interval => 'interval_text',
	access => 'access', prefix => 'prefix', extension_name => 'extension',
	msg => 'misc_text', msgs => 'misc_text', headers => 'misc_text', delay => 'misc_text',
	vt => 'misc_text', msg_id => 'misc_text', msg_ids => 'misc_text',
	msg_id_or_ids => 'misc_text',
);

sub pick { my $a = shift; return $a->[ int(rand(@$a)) ]; }

my $poll_budget = 5;
my $sane_call = 0;

# One argument as SQL.
sub argument
{
	my ($type, $argname, $fname) = @_;
	my $r = rand();

	if ($argname eq 'max_poll_seconds')
	{
		my @v = ('0', '0', '0', '-1', 'NULL', '-2147483648', '0::integer');
		if ($poll_budget > 0 && rand() < 0.05)
		{
			$poll_budget--;
			return '1';
		}
		return pick(\@v);
	}
	if ($argname eq 'premake' || $argname eq 'leading_partition')
	{
		# Partitions made ahead: 101 to 1000 become 100, see the header.
		my $v = argument($type, '', $fname);
		return $v =~ /^'?(\d+)'?(::integer)?$/ && $1 > 100 && $1 <= 1000 ? '100' : $v;
	}
	if ($sane_call && rand() < 0.85)
	{
		my $poolname = $type eq 'text' ? ($text_pool_by_name{$argname} // 'misc_text') : $type;
		if ($sane{$poolname})
		{
			my $v = pick($sane{$poolname});
			return "($v->{sql})" if defined $v->{sql};
			return rand() < 0.2 ? quote_lit($v->{lit}) : quote_lit($v->{lit}) . "::$type";
		}
	}
	return 'NULL' if $r < 0.04;
	return "NULL::$type" if $r < 0.07;

	my ($poolname, $cast) = ($type, $type);
	if ($r < 0.10)
	{
		# A value of another type.
		$poolname = pick([ grep { $_ ne $type } 'jsonb', 'integer', 'bigint', 'jsonb[]', 'bigint[]',
			'timestamp with time zone', 'interval', 'boolean', 'text' ]);
		$cast = $poolname;
	}
	elsif ($type eq 'text')
	{
		$poolname = $text_pool_by_name{$argname} // 'text';
		$poolname = pick([ 'text', 'misc_text', 'queue', 'topic' ]) if rand() < 0.1;
	}
	$poolname = 'text' unless $pool{$poolname};
	my $v = pick($pool{$poolname});
	return "($v->{sql})" if defined $v->{sql};
	# An untyped literal one time in five.
	return quote_lit($v->{lit}) if rand() < 0.2;
	return quote_lit($v->{lit}) . "::$cast";
}

# One call as a statement.
sub call_sql
{
	my ($s) = @_;
	my @types = @{ $s->{types} };
	my @names = @{ $s->{names} };
	my $n = @types;
	# Leave out some of the trailing defaulted arguments.
	my $keep = $n;
	$keep = $n - int(rand($s->{ndef} + 1)) if $s->{ndef} > 0 && rand() < 0.5;
	# Never max_poll_seconds' default (5 s): see the header.
	my ($poll) = grep { $names[$_] eq 'max_poll_seconds' } 0 .. $#names;
	$keep = $poll + 1 if defined $poll && $keep <= $poll;
	$sane_call = rand() < 0.33;
	my @args = map { argument($types[$_], $names[$_] // '', $s->{name}) } 0 .. $keep - 1;
	my %byname = map { (($names[$_] // "\$$_") => $args[$_]) } 0 .. $#args;
	my $argsql;
	my $style = rand();
	if (@names == $n && $n > 0 && $style < 0.3)
	{
		# Named notation, all or after some positional arguments, any order.
		my $positional = $style < 0.1 ? int(rand($keep + 1)) : 0;
		my @named = map { "$names[$_] => $args[$_]" } $positional .. $keep - 1;
		# Defaulted arguments may be left out from the middle too.
		@named = grep { /^max_poll_seconds / || rand() > 0.1 } @named if $s->{ndef} > 0;
		for (my $i = @named - 1; $i > 0; $i--)
		{
			my $j = int(rand($i + 1));
			@named[ $i, $j ] = @named[ $j, $i ];
		}
		$argsql = join(', ', @args[ 0 .. $positional - 1 ], @named);
	}
	else
	{
		$argsql = join(', ', @args);
	}
	my $fn = $s->{name} eq 'create' ? 'pgmq."create"' : "pgmq.$s->{name}";
	my $sql = rand() < 0.5 || !$s->{retset}
	  ? "SELECT $fn($argsql)"
	  : "SELECT * FROM $fn($argsql)";
	return ($sql, \%byname);
}

#
# Run the calls in batches, each batch one psql session after a rebuild.
#
my (%by_state, %by_func, %sample, @findings);
my $calls_done = 0;
my $skipped = 0;
my $start = time();
my $batchno = 0;

sub finding
{
	my ($what, $sql, $detail) = @_;
	push @findings, "$what\n  statement: $sql" . ($detail ? "\n  $detail" : '');
}

while ($calls_done < $ncalls)
{
	$batchno++;
	my $in_tx = int(rand(3)) == 0;
	my $as_role = int(rand(4)) == 0;
	my $n = $ncalls - $calls_done < $batch_size ? $ncalls - $calls_done : $batch_size;
	my (@stmts, @funcs, %tx_reset);
	my $script = "\\set VERBOSITY terse\n\\o /dev/null\n\\set ON_ERROR_STOP on\n"
	  . "SET statement_timeout = '${statement_timeout}s';\nSELECT fuzz.rebuild();\nSELECT fuzz.fp() AS fp \\gset\n"
	  . ($as_role ? "SET ROLE fz_role;\n" : '')
	  . "\\set ON_ERROR_STOP off\n\\echo \@\@READY\n";
	my $i = 0;
	while ($i < $n)
	{
		my $tx_calls = $in_tx ? 1 + int(rand(5)) : 1;
		my $tx_resets = 0;
		$script .= "SELECT :'fp' AS fp0 \\gset\nBEGIN;\n" if $in_tx;
		for (1 .. $tx_calls)
		{
			last if $i >= $n;
			my $s = pick(\@sigs);
			my ($sql, $args) = call_sql($s);
			$i++;
			if (grep { $_->[1]->($s->{name}, $args) } @known_bugs)
			{
				$skipped++;
				next;
			}
			$tx_resets = 1 if $s->{name} eq 'stats_reset';
			push @stmts, $sql;
			push @funcs, $s->{sig};
			my $k = $#stmts;
			$script .= "SAVEPOINT s;\n" if $in_tx;
			$script .= "\\echo \@\@C $k\n$sql;\n\\echo \@\@R $k :SQLSTATE\n\\if :ERROR\n"
			  . "\\echo \@\@M $k :LAST_ERROR_MESSAGE\n";
			$script .= "ROLLBACK TO SAVEPOINT s;\n" if $in_tx;
			$script .= "SELECT fuzz.fp() AS fpnow \\gset\nSELECT :'fp' = :'fpnow' AS same \\gset\n"
			  . "\\if :same\n\\else\n\\echo \@\@D $k :fp\n\\echo \@\@E $k :fpnow\nSELECT :'fpnow' AS fp \\gset\n\\endif\n"
			  . "\\else\n";
			$script .= "RELEASE SAVEPOINT s;\n" if $in_tx;
			$script .= "SELECT fuzz.fp() AS fp \\gset\n" if $s->{volatile};
			$script .= "\\endif\n";
		}
		if ($in_tx)
		{
			if (rand() < 0.5)
			{
				$script .= "COMMIT;\n\\echo \@\@T commit :SQLSTATE\nSELECT fuzz.fp() AS fp \\gset\n";
			}
			else
			{
				$tx_reset{$#stmts} = 1 if $tx_resets;
				$script .= "ROLLBACK;\nSELECT fuzz.fp() AS fp \\gset\nSELECT :'fp' = :'fp0' AS same \\gset\n"
				  . "\\if :same\n\\else\n\\echo \@\@X $#stmts :fp0\n\\echo \@\@E $#stmts :fp\n\\endif\n";
			}
		}
	}
	$script .= "RESET ROLE;\nSELECT fuzz.check_reads() AS chk \\gset\n\\echo \@\@K :chk\n";
	if ($ENV{PGMQ_C_FUZZ_KEEP})
	{
		open my $fh, '>', "$ENV{PGMQ_C_FUZZ_KEEP}/batch$batchno.sql" or die;
		print $fh $script;
		close $fh;
	}
	my ($out, $err) = ('', '');
	my $timed_out = 0;
	my $ret = $node->psql('postgres', $script, stdout => \$out, stderr => \$err,
		on_error_stop => 0, timeout => 120 * ($statement_timeout > 5 ? $statement_timeout : 5), timed_out => \$timed_out);
	die "batch $batchno: psql timed out" if $timed_out;
	if ($out !~ /^\@\@READY$/m)
	{
		die "batch $batchno: the rebuild failed: $err";
	}
	my $last_started;
	my %done;
	my ($fp_before, $fp_kind);
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^\@\@C (\d+)$/)
		{
			$last_started = $1;
		}
		elsif ($line =~ /^\@\@R (\d+) (\S+)$/)
		{
			my ($k, $state) = ($1, $2);
			$done{$k} = 1;
			$by_state{$state}++;
			$by_func{ $funcs[$k] }{$state}++;
			$sample{$state} //= $stmts[$k];
			$calls_done++;
			if ($state =~ /^(XX|P0|58|57P)/ || $state eq '38000' || $state eq '39000')
			{
				finding("SQLSTATE $state", $stmts[$k]);
			}
		}
		elsif ($line =~ /^\@\@K (.+)$/)
		{
			finding("batch $batchno: a pop after the batch disagrees with the queue table", '(the batch)', $1);
		}
		elsif ($line =~ /^\@\@M (\d+) (.*)$/)
		{
			my ($k, $msg) = ($1, $2);
			$sample{"msg:$funcs[$k]"} //= $msg;
			finding('an error message echoes a long argument whole', $stmts[$k],
				'message: ' . substr($msg, 0, 200) . '... (' . length($msg) . ' characters)')
			  if length($msg) > $MAX_MESSAGE;
			$findings[-1] .= "\n  message: $msg"
			  if @findings && $findings[-1] =~ /\Q$stmts[$k]\E/ && $findings[-1] !~ /message:/;
		}
		elsif ($line =~ /^\@\@([DX]) (\d+) (.*)$/)
		{
			$fp_kind = $1;
			$fp_before = $3;
		}
		elsif ($line =~ /^\@\@E (\d+) (.*)$/)
		{
			my ($k, $after) = ($1, $2);
			my %b = map { split /=/, $_, 2 } split / /, $fp_before // '';
			my %a = map { split /=/, $_, 2 } split / /, $after;
			my @diff = sort grep { ($a{$_} // '') ne ($b{$_} // '') } keys %a, keys %b;
			my %seen;
			@diff = grep { !$seen{$_}++ } @diff;
			# stats_reset is not undone by a ROLLBACK.
			@diff = grep { $_ ne 'stats' } @diff if $fp_kind eq 'X' && $tx_reset{$k};
			next unless @diff;
			finding($fp_kind eq 'X'
				? 'a ROLLBACK left the fingerprint changed (statement: the last of the transaction)'
				: 'a failed call changed the fingerprint',
				$stmts[$k], 'changed: ' . join(', ', @diff));
		}
	}
	if ($ret != 0 || $err =~ /server closed the connection|connection to server was lost|terminated by signal/)
	{
		my $k = defined $last_started && !$done{$last_started} ? $last_started : undef;
		finding("psql exited $ret (backend crash?)", defined $k ? $stmts[$k] : '(unknown)',
			'stderr: ' . substr($err, -2000));
		# The postmaster restarts after a crash: wait until it takes connections.
		$node->poll_query_until('postgres', 'SELECT true');
	}
}
my $elapsed = time() - $start;

#
# The report.
#
my $log = slurp_file($node->logfile);
for my $pat ('terminated by signal', 'TRAP:', 'PANIC:')
{
	push @findings, "server log: $pat\n" . join("\n", grep { /\Q$pat\E/ } split /\n/, $log)
	  if $log =~ /\Q$pat\E/;
}

diag(sprintf('fuzz: seed %s, %d calls (%d skipped as known bugs) in %.1f s, %d functions',
	$seed, $calls_done, $skipped, $elapsed, scalar @sigs));
diag('SQLSTATE counts: ' . join(', ', map { "$_ $by_state{$_}" } sort keys %by_state));
for my $f (sort keys %by_func)
{
	note(sprintf('  %-70s %s', $f, join(' ', map { "$_:$by_func{$f}{$_}" } sort keys %{ $by_func{$f} })));
}
for my $st (sort keys %by_state)
{
	note("  example of $st: $sample{$st}");
}
my @never = grep { !$by_func{$_} } map { $_->{sig} } @sigs;
if ($ncalls >= 15 * @sigs)
{
	is(scalar(@never), 0, 'every function was called') or diag('never called: ' . join(', ', @never));
}
else
{
	note('never called (a short run): ' . join(', ', @never));
}
my @never_ok = grep { !$by_func{$_}{'00000'} } map { $_->{sig} } @sigs;
note('never succeeded: ' . join(', ', @never_ok)) if @never_ok;
ok($calls_done + $skipped >= $ncalls, "ran $calls_done calls");
is(scalar(@findings), 0, 'no crash, no internal error, no failed call that changed anything')
  or diag(join("\n", @findings[ 0 .. ($#findings < 30 ? $#findings : 29) ]));

$node->stop;
done_testing();
