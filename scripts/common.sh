# shellcheck shell=bash
# scripts/common.sh: shared by scripts/demo and scripts/test (sourced, not run).
#
# Both scripts work on a fresh Debian 12 machine, run either as root (as CI
# does) or as an ordinary user who has sudo.  Postgres will not run as root,
# so when we are root every server, initdb and test run happens as the
# `postgres` OS user (created by the postgresql-15 package) via runuser.

PG_MAJOR=15
PG_BINDIR=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BINDIR/pg_config
# What both scripts need; scripts/test adds what only the tests use.
PACKAGES=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" libipc-run-perl make gcc)

export PG_CONFIG
export PATH="$PG_BINDIR:$PATH"
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGOPTIONS

# Repository root: the parent of the directory holding this file.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Set by setup_workdir.
WORKDIR=
BUILD_DIR=

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command with root rights: directly when root, else through sudo.
# Without a terminal (CI, cron) sudo must not prompt, so use sudo -n.
as_root() {
	if is_root; then
		"$@"
	elif [ -t 0 ]; then
		sudo "$@"
	else
		sudo -n "$@" || die "sudo needs a password but there is no terminal; run as root or configure passwordless sudo"
	fi
}

check_privileges() {
	if ! is_root && ! command -v sudo >/dev/null 2>&1; then
		die "not running as root and sudo is not installed: run this script as root, or install sudo (as root: apt-get install sudo) and give $(id -un) sudo rights"
	fi
}

# The OS user that owns test clusters: postgres when we are root, else us.
pg_os_user() {
	if is_root; then echo postgres; else id -un; fi
}

# Run a command as pg_os_user, in the current directory, with our PATH.
as_pg() {
	if is_root; then
		runuser -u postgres -- env PATH="$PATH" PG_CONFIG="$PG_CONFIG" \
			LC_ALL="$LC_ALL" LANG="$LANG" HOME="${PG_HOME:-/var/lib/postgresql}" "$@"
	else
		"$@"
	fi
}

# Install the Debian packages we need, but only those that are missing.
ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		say "packages present: ${PACKAGES[*]}"
	else
		say "installing: ${missing[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		# Packages such as pgbouncer and prometheus start a system service
		# when installed; the tests start their own.  A policy-rc.d that
		# says no keeps them stopped (unless the machine has one already).
		local policy=/usr/sbin/policy-rc.d added_policy=
		if [ ! -e "$policy" ]; then
			as_root sh -c "printf '#!/bin/sh\\nexit 101\\n' > $policy && chmod 755 $policy" && added_policy=1
		fi
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 \
			--no-install-recommends "${missing[@]}" || {
			[ -n "$added_policy" ] && as_root rm -f "$policy"
			die "apt-get install failed"
		}
		[ -n "$added_policy" ] && as_root rm -f "$policy"
	fi
	[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after installing packages"
	if is_root; then
		id postgres >/dev/null 2>&1 || die "OS user postgres is missing (it comes with postgresql-$PG_MAJOR)"
	fi
}

# Make a temporary work directory (removed by cleanup_workdir) holding a
# fresh copy of the source tree in $BUILD_DIR.  Build products and test
# output of a developer's own tree are left out, and `make clean` runs in the
# copy, so what gets built is exactly the sources.
setup_workdir() {
	# As root, the postgres user must be able to reach it: use /tmp, not a
	# TMPDIR that may sit under root's home.
	local base=${TMPDIR:-/tmp}
	is_root && base=/tmp
	WORKDIR=$(mktemp -d "$base/pgmq_c.XXXXXX")
	chmod 755 "$WORKDIR"
	BUILD_DIR=$WORKDIR/build
	mkdir "$BUILD_DIR"
	tar -C "$REPO_ROOT" -cf - \
		--exclude=./.git --exclude=./tmp_check --exclude=./tmp_check_iso \
		--exclude=./results --exclude=./output_iso --exclude=./log \
		--exclude=./regression.diffs --exclude=./regression.out \
		--exclude=./test/bench/results . |
		tar -C "$BUILD_DIR" -xf -
	if is_root; then
		chown -R postgres:postgres "$WORKDIR"
	fi
}

# Node.js and npm, for the client-library tests: Debian's, when the machine
# has none of its own.
ensure_node() {
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		return 0
	fi
	say "installing: nodejs npm"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 nodejs npm
}

cleanup_workdir() {
	if [ -n "$WORKDIR" ] && [ -d "$WORKDIR" ]; then
		rm -rf -- "$WORKDIR"
	fi
}

# Build with warnings as errors (as pg_os_user), then install (as root).
build() {
	say "building in $BUILD_DIR (make WERROR=1)"
	(cd "$BUILD_DIR" && as_pg make -s clean >/dev/null && as_pg make -s WERROR=1 -j"$(nproc)")
}

install_ext() {
	say "installing into $($PG_CONFIG --pkglibdir) (make install)"
	(cd "$BUILD_DIR" && as_root make -s install PG_CONFIG="$PG_CONFIG")
}

# The companion extension pgmq (companion/), which the tests need: it
# refuses, and so fails the run, where pgmq itself is installed.
install_companion() {
	say "installing the companion extension pgmq into $($PG_CONFIG --sharedir)/extension (make install-companion)"
	(cd "$BUILD_DIR" && as_root make -s install-companion PG_CONFIG="$PG_CONFIG")
}

# A port on 127.0.0.1 that nothing listens on right now.
free_port() {
	perl -MIO::Socket::INET -e \
		'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "$!\n"; print $s->sockport, "\n";'
}

# Throwaway server: initdb in $WORKDIR/data, socket in $WORKDIR, listening on
# a free port of 127.0.0.1, pgmq_c preloaded.  Sets PGHOST, PGPORT, PGUSER,
# PGDATABASE for the clients.  stop_server undoes it.
PGDATA_DIR=
start_server() {
	PGDATA_DIR=$WORKDIR/data
	local user port try
	user=$(pg_os_user)
	say "initdb (as OS user $user) in $PGDATA_DIR"
	(cd "$WORKDIR" && as_pg initdb -D "$PGDATA_DIR" -U "$user" -A trust -E UTF8 \
		--no-instructions >"$WORKDIR/initdb.log" 2>&1) ||
		{ cat "$WORKDIR/initdb.log" >&2; die "initdb failed"; }
	for try in 1 2 3; do
		port=$(free_port)
		as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# scripts/common.sh: a throwaway server for the pgmq_c demo
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$WORKDIR'
shared_preload_libraries = 'pgmq_c'
fsync = off
log_min_messages = warning
EOF
		say "starting Postgres on 127.0.0.1:$port (socket in $WORKDIR)"
		if (cd "$WORKDIR" && as_pg pg_ctl -D "$PGDATA_DIR" -l "$WORKDIR/server.log" -w -t 60 start >/dev/null); then
			export PGHOST=$WORKDIR PGPORT=$port PGUSER=$user PGDATABASE=postgres
			return 0
		fi
		warn "server did not start (try $try); log follows"
		tail -n 20 "$WORKDIR/server.log" >&2 || true
	done
	die "could not start Postgres"
}

stop_server() {
	if [ -n "$PGDATA_DIR" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		(cd "$WORKDIR" && as_pg pg_ctl -D "$PGDATA_DIR" -m fast -w -t 30 stop >/dev/null 2>&1) ||
			(cd "$WORKDIR" && as_pg pg_ctl -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1) || true
	fi
}
