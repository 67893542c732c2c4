# test/bench/lib.sh: what a benchmark script needs to run against a
# throwaway server of its own.  Source it, then call bench_start_server
# with the settings the benchmark wants on top of the defaults; `sql` runs
# psql against that server, `as_pg` any program as the server's OS user.
# The server and its directory are removed on exit.  As root, the server,
# psql and pgbench run as OS user postgres.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_start_server fifo "autovacuum = off"
#   sql -c "SELECT 1"

export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGOPTIONS

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}
say() { printf '==> %s\n' "$*"; }

if [ -z "${PG_CONFIG:-}" ]; then
	if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
		PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	else
		PG_CONFIG=$(command -v pg_config) || die "pg_config not found; set PG_CONFIG"
	fi
fi
PG_BINDIR=$("$PG_CONFIG" --bindir)
export PATH="$PG_BINDIR:$PATH"
for prog in initdb pg_ctl psql; do
	[ -x "$PG_BINDIR/$prog" ] || command -v "$prog" >/dev/null 2>&1 ||
		die "$prog not found (looked in $PG_BINDIR and PATH)"
done
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/pgmq_c.control" ] ||
	[ ! -f "$("$PG_CONFIG" --pkglibdir)/pgmq_c.so" ]; then
	die "pgmq_c is not installed in $("$PG_CONFIG" --pkglibdir); build and install it first"
fi
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root, but there is no OS user postgres to run the server"
	PG_USER=postgres
else
	PG_USER=$(id -un)
fi

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS_DIR=$BENCH_DIR/results
WORK=
DATA=
PORT=

as_pg() {
	local vars=(PATH="$PATH" LC_ALL="$LC_ALL" LANG="$LANG")
	if [ -n "$PORT" ]; then
		vars+=(PGHOST="$WORK" PGPORT="$PORT" PGUSER="$PG_USER" PGDATABASE=postgres)
	fi
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env HOME="$WORK" "${vars[@]}" "$@"
	else
		env "${vars[@]}" "$@"
	fi
}

sql() { as_pg psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$DATA" ] && [ -f "$DATA/postmaster.pid" ]; then
		(cd "$WORK" && as_pg pg_ctl -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1) ||
			(cd "$WORK" && as_pg pg_ctl -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1) || true
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		rm -rf -- "$WORK"
	fi
	exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

bench_free_port() {
	local port
	if command -v perl >/dev/null 2>&1 &&
		port=$(perl -MIO::Socket::INET -e \
			'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or exit 1; print $s->sockport' 2>/dev/null); then
		echo "$port"
	else
		echo $((55000 + RANDOM % 1000))
	fi
}

# bench_start_server NAME [SETTING...]: initdb a cluster in a new temporary
# directory ($WORK) and start it on a unix socket there, pgmq_c preloaded,
# with each SETTING line added to postgresql.conf.
bench_start_server() {
	local name=$1
	shift
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgmq_c_$name.XXXXXX")
	DATA=$WORK/data
	[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK"
	cd "$WORK"
	say "initdb (OS user $PG_USER) in $WORK"
	as_pg initdb -D "$DATA" -U "$PG_USER" -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 || {
		cat "$WORK/initdb.log" >&2
		die "initdb failed"
	}
	PORT=$(bench_free_port)
	{
		printf '\n# test/bench/%s: throwaway benchmark server\n' "$name"
		printf '%s\n' "listen_addresses = ''" "port = $PORT" "unix_socket_directories = '$WORK'" \
			"shared_preload_libraries = 'pgmq_c'" "log_min_messages = warning" "$@"
	} | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
	say "starting the server (unix socket $WORK/.s.PGSQL.$PORT)"
	as_pg pg_ctl -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null || {
		tail -n 20 "$WORK/server.log" >&2
		die "the server did not start"
	}
}

# bench_copy FILE: a file of the benchmark's directory, readable by the
# server's OS user, in $WORK; prints its path.
bench_copy() {
	as_pg tee "$WORK/$(basename "$1")" <"$BENCH_DIR/$1" >/dev/null
	echo "$WORK/$(basename "$1")"
}

# median of whitespace-separated numbers on stdin
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR] = $1} END {
	if (NR == 0) exit; if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# bench_report FILE: stdin to the terminal, and to results/FILE where that
# can be written.
bench_report() {
	local out=/dev/null
	if mkdir -p "$RESULTS_DIR" 2>/dev/null && [ -w "$RESULTS_DIR" ]; then
		out=$RESULTS_DIR/$1
	fi
	tee -a "$out"
}
