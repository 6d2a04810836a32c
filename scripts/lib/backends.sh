# shellcheck shell=bash
# Throw-away MariaDB and PostgreSQL servers for the test suite; sourced by scripts/test.
#
# Both servers live in one temporary directory, listen on 127.0.0.1 only, on free ports, and are
# stopped and deleted by backends_stop (scripts/test calls it from its EXIT trap). Nothing here uses
# service/systemd: the daemons are started directly (policy-rc.d may deny services, containers have
# no systemd). Requires bash, python3 (with PyMySQL and psycopg installed) and, for installing the
# servers, apt-get (as root, or with sudo).
#
# Exported on success:
#   LEDGER_TEST_MARIADB_URL=mariadb://root@127.0.0.1:<port>/
#   LEDGER_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:<port>/postgres

BACKENDS_TMP=""          # the temporary directory holding both servers
BACKENDS_MARIADB_PID=""  # mariadbd is our child; PostgreSQL is stopped with pg_ctl
BACKENDS_PG_DATA=""
BACKENDS_PG_CTL=""
BACKENDS_START_TIMEOUT="${LEDGER_TEST_START_TIMEOUT:-60}"
BACKENDS_PYTHON="${PYTHON:-python3}"
BACKENDS_APT_UPDATED="${BACKENDS_APT_UPDATED:-}"  # scripts/lib/python.sh may have run it

# ---------------------------------------------------------------------------------------------------
# small helpers

backends_log() { printf '[scripts/test] %s\n' "$*" >&2; }

backends_in_ci() {
	case "${CI:-}" in
	[Tt][Rr][Uu][Ee] | 1 | [Yy][Ee][Ss]) return 0 ;;
	*) return 1 ;;
	esac
}

backends_is_root() { [ "$(id -u)" = 0 ]; }

# Run a command as root: directly when we are root, else through sudo -n (never prompts).
backends_as_root() {
	if backends_is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		backends_log "need root (or sudo) to run: $*"
		return 1
	fi
}

# The first executable of that name on PATH or in the sbin directories (PATH often lacks /usr/sbin).
backends_find_bin() {
	local name dir
	for name in "$@"; do
		for dir in ${PATH//:/ } /usr/local/sbin /usr/sbin /sbin /usr/local/bin /usr/bin; do
			if [ -x "$dir/$name" ] && [ ! -d "$dir/$name" ]; then
				printf '%s\n' "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

# Newest /usr/lib/postgresql/<version>/bin holding initdb, pg_ctl and postgres (override: PG_BINDIR).
backends_find_pg_bindir() {
	local dir
	if [ -n "${PG_BINDIR:-}" ]; then
		dir="$PG_BINDIR"
		[ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && printf '%s\n' "$dir" && return 0
		return 1
	fi
	for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
		if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
			printf '%s\n' "$dir"
			return 0
		fi
	done
	return 1
}

backends_have_mariadb() {
	backends_find_bin mariadbd mysqld >/dev/null && backends_find_bin mariadb-install-db mysql_install_db >/dev/null
}

backends_have_postgres() { backends_find_pg_bindir >/dev/null; }

# The last lines of a server log, for failure messages.
backends_log_tail() {
	local file="$1"
	if [ -s "$file" ]; then
		printf '%s\n' "----- last lines of $file -----" >&2
		tail -n 40 "$file" >&2
		printf '%s\n' "----- end of $file -----" >&2
	else
		backends_log "(no log at $file)"
	fi
}

# A backend could not be installed or started: fatal in CI, a loud warning elsewhere.
# Returns 1 (never returns in CI).
backends_unavailable() {
	local name="$1" reason="$2" log="${3:-}"
	[ -n "$log" ] && backends_log_tail "$log"
	if backends_in_ci; then
		backends_log "ERROR: $name: $reason"
		backends_log "ERROR: CI=true, so every backend is required; giving up."
		exit 1
	fi
	{
		printf '\n'
		printf '%s\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
		printf '%s\n' "!! WARNING: $name is NOT available: $reason"
		printf '%s\n' "!! The $name tests will be SKIPPED. (With CI=true this is an error.)"
		printf '%s\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
		printf '\n'
	} >&2
	return 1
}

# ---------------------------------------------------------------------------------------------------
# installation (Debian packages, only when missing)

backends_apt_install() {
	if ! command -v apt-get >/dev/null 2>&1; then
		backends_log "apt-get not found; cannot install: $*"
		return 1
	fi
	local env=(env DEBIAN_FRONTEND=noninteractive) log status=0
	log="$(mktemp "${TMPDIR:-/tmp}/ledger-test-apt.XXXXXXXX")"
	if [ -z "$BACKENDS_APT_UPDATED" ]; then
		backends_log "apt-get update"
		backends_as_root "${env[@]}" apt-get update -q >"$log" 2>&1 || status=$?
		[ "$status" = 0 ] && BACKENDS_APT_UPDATED=1
	fi
	if [ "$status" = 0 ]; then
		backends_log "apt-get install $* (a minute or two; output only on failure)"
		# We never start services through init scripts. A package's postinst may try to (no
		# policy-rc.d and no init system makes invoke-rc.d refuse); a server it did start would sit
		# on the default port and not disturb ours.
		backends_as_root "${env[@]}" apt-get install -y -q --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >>"$log" 2>&1 || status=$?
	fi
	if [ "$status" != 0 ]; then
		backends_log "apt-get failed (exit $status)"
		backends_log_tail "$log"
	fi
	rm -f "$log"
	return "$status"
}

# Installs whatever is missing. Sets BACKENDS_SKIP_MARIADB / BACKENDS_SKIP_POSTGRES when a
# backend is still unavailable afterwards (outside CI; in CI that exits).
backends_install() {
	local want=()
	BACKENDS_SKIP_MARIADB=""
	BACKENDS_SKIP_POSTGRES=""
	[ -n "${LEDGER_TEST_MARIADB_URL:-}" ] || backends_have_mariadb || want+=(mariadb-server)
	[ -n "${LEDGER_TEST_POSTGRES_URL:-}" ] || backends_have_postgres || want+=(postgresql)
	if [ "${#want[@]}" -gt 0 ]; then
		backends_log "missing server packages: ${want[*]}; installing them from Debian"
		backends_apt_install "${want[@]}" || true
	fi
	if [ -z "${LEDGER_TEST_MARIADB_URL:-}" ] && ! backends_have_mariadb; then
		backends_unavailable MariaDB "mariadbd / mariadb-install-db not found and could not be installed" ||
			BACKENDS_SKIP_MARIADB=1
	fi
	if [ -z "${LEDGER_TEST_POSTGRES_URL:-}" ] && ! backends_have_postgres; then
		backends_unavailable PostgreSQL "no /usr/lib/postgresql/*/bin/{initdb,pg_ctl,postgres} and could not be installed" ||
			BACKENDS_SKIP_POSTGRES=1
	fi
	return 0
}

# ---------------------------------------------------------------------------------------------------
# temporary directory, ports, readiness

backends_make_tmp() {
	BACKENDS_TMP="$(mktemp -d "${TMPDIR:-/tmp}/ledger-test.XXXXXXXX")"
	# PostgreSQL runs as the postgres OS user and must be able to reach its directory inside.
	chmod 0755 "$BACKENDS_TMP"
}

# Prints N free TCP ports on 127.0.0.1, one per line (all held open at once, so they differ).
backends_free_ports() {
	"$BACKENDS_PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	s.bind(("127.0.0.1", 0))
	socks.append(s)
for s in socks:
	print(s.getsockname()[1])
	s.close()
EOF
}

# Polls until the URL accepts a real login (with the driver the tests use) or the timeout
# passes; gives up at once when the server process (pid, optional) has died.
backends_wait_ready() {
	local url="$1" pid="${2:-}"
	"$BACKENDS_PYTHON" - "$url" "$BACKENDS_START_TIMEOUT" "$pid" <<'EOF'
import sys, time
from urllib.parse import urlsplit, unquote

url, timeout, pid = sys.argv[1], float(sys.argv[2]), sys.argv[3]
parts = urlsplit(url)


def alive(pid):
	# A dead child stays a zombie until the shell reaps it, so look at its state, not just its pid.
	try:
		with open(f"/proc/{pid}/stat") as f:
			return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
	except OSError:
		return False


deadline = time.monotonic() + timeout
last = None
while True:
	try:
		if parts.scheme.startswith("mariadb"):
			import pymysql

			conn = pymysql.connect(
				host=parts.hostname, port=parts.port, user=unquote(parts.username or "root"),
				password=unquote(parts.password or ""), connect_timeout=2,
			)
		else:
			import psycopg

			conn = psycopg.connect(url, connect_timeout=2)
		with conn.cursor() as cur:
			cur.execute("SELECT 1")
			cur.fetchall()
		conn.close()
		sys.exit(0)
	except ImportError:
		raise
	except Exception as exc:
		last = exc
	if pid and not alive(pid):
		print(f"server process {pid} exited; last error: {last}", file=sys.stderr)
		sys.exit(2)
	if time.monotonic() > deadline:
		print(f"not ready after {timeout:.0f} s; last error: {last}", file=sys.stderr)
		sys.exit(1)
	time.sleep(0.1)
EOF
}

# True while the process runs (a zombie, i.e. exited but not yet reaped, counts as gone).
backends_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state="$(sed -e 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# ---------------------------------------------------------------------------------------------------
# MariaDB

# Initialises a datadir and starts mariadbd in the background (does not wait); sets
# BACKENDS_MARIADB_PID and BACKENDS_MARIADB_URL. Returns non-zero when that fails.
backends_mariadb_launch() {
	local port="$1" dir="$BACKENDS_TMP/mariadb" mariadbd install_db user_opt=()
	mariadbd="$(backends_find_bin mariadbd mysqld)" || return 1
	install_db="$(backends_find_bin mariadb-install-db mysql_install_db)" || return 1
	mkdir -p "$dir/data" "$dir/tmp"
	# mariadbd refuses to run as root unless told to; as another user --user would be ignored.
	backends_is_root && user_opt=(--user=root)
	cat >"$dir/my.cnf" <<-EOF
		[mysqld]
		datadir = $dir/data
		tmpdir = $dir/tmp
		socket = $BACKENDS_TMP/mysqld.sock
		pid-file = $dir/mariadbd.pid
		log-error = $dir/error.log
		port = $port
		bind-address = 127.0.0.1
		skip-name-resolve
		skip-log-bin
		innodb-buffer-pool-size = 256M
		innodb-flush-log-at-trx-commit = 1
		# Containers often cap or lack Linux native AIO (io_setup fails); simulated AIO always works.
		innodb-use-native-aio = 0
		max-connections = 500
		# MariaDB's default, and what Frappe runs on; tests/test_backends_start.py checks it.
		transaction-isolation = REPEATABLE-READ
		# Frappe's required settings (frappe.database.mariadb.setup_db checks them).
		character-set-server = utf8mb4
		collation-server = utf8mb4_unicode_ci
		character-set-client-handshake = FALSE
	EOF
	# root@127.0.0.1 without password; mariadb-install-db (normal auth) creates it, this makes sure.
	cat >"$dir/init.sql" <<-'EOF'
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		FLUSH PRIVILEGES;
	EOF
	if ! "$install_db" --defaults-file="$dir/my.cnf" "${user_opt[@]}" --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1; then
		backends_log "mariadb-install-db failed"
		cat "$dir/install.log" >>"$dir/error.log"
		return 1
	fi
	"$mariadbd" --defaults-file="$dir/my.cnf" "${user_opt[@]}" --init-file="$dir/init.sql" \
		>>"$dir/stdout.log" 2>&1 </dev/null &
	BACKENDS_MARIADB_PID=$!
	BACKENDS_MARIADB_URL="mariadb://root@127.0.0.1:$port/"
}

backends_mariadb_stop() {
	[ -n "$BACKENDS_MARIADB_PID" ] || return 0
	local pid="$BACKENDS_MARIADB_PID" restarted=""
	BACKENDS_MARIADB_PID=""
	# a test may have restarted the server with its own command line (tests/test_outage.py, the
	# Frappe site's outage): that process is named by the pid file, and is stopped too
	restarted="$(cat "$BACKENDS_TMP/mariadb/mariadbd.pid" 2>/dev/null || true)"
	backends_mariadb_stop_pid "$pid"
	wait "$pid" 2>/dev/null || true
	if [ -n "$restarted" ] && [ "$restarted" != "$pid" ] && backends_alive "$restarted" &&
		grep -q "$BACKENDS_TMP/mariadb/my.cnf" "/proc/$restarted/cmdline" 2>/dev/null; then
		backends_mariadb_stop_pid "$restarted"
	fi
}

backends_mariadb_stop_pid() {
	local pid="$1" _
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 300); do # up to 30 s for a clean shutdown
		backends_alive "$pid" || break
		sleep 0.1
	done
	if backends_alive "$pid"; then
		backends_log "mariadbd ($pid) did not stop in 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL (refuses to run as root: as root we run it as the postgres OS user)

backends_as_pg() {
	if backends_is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

backends_pg_user() {
	backends_is_root || return 0
	id -u postgres >/dev/null 2>&1 && return 0
	backends_log "creating the postgres OS user"
	useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

# initdb + pg_ctl start (pg_ctl waits for the socket); sets BACKENDS_POSTGRES_URL.
backends_postgres_launch() {
	local port="$1" bindir dir="$BACKENDS_TMP/postgres"
	bindir="$(backends_find_pg_bindir)" || return 1
	backends_pg_user || return 1
	mkdir -p "$dir"
	backends_is_root && chown postgres: "$dir"
	chmod 0700 "$dir"
	BACKENDS_PG_DATA="$dir/data"
	BACKENDS_PG_CTL="$bindir/pg_ctl"
	if ! backends_as_pg test -w "$dir"; then
		backends_log "the postgres user cannot write $dir (is ${TMPDIR:-/tmp} reachable for it?)"
		return 1
	fi
	# C locale: available everywhere, byte-wise ordering; UTF8 like production.
	if ! backends_as_pg "$bindir/initdb" -D "$BACKENDS_PG_DATA" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$dir/initdb.log" 2>&1; then
		backends_log "initdb failed"
		cat "$dir/initdb.log" >"$dir/server.log"
		return 1
	fi
	backends_as_pg tee -a "$BACKENDS_PG_DATA/postgresql.conf" >/dev/null <<-EOF

		# --- scripts/test: a throw-away server for the test suite ---
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$dir'
		max_connections = 300
		shared_buffers = 128MB
		# Data is thrown away after the run: skip disk flushes (no effect on transaction semantics).
		fsync = off
		full_page_writes = off
		logging_collector = off
	EOF
	if ! backends_as_pg "$BACKENDS_PG_CTL" -D "$BACKENDS_PG_DATA" -l "$dir/server.log" -w \
		-t "$BACKENDS_START_TIMEOUT" start >"$dir/pg_ctl.log" 2>&1; then
		backends_log "pg_ctl start failed: $(tail -n 3 "$dir/pg_ctl.log" 2>/dev/null)"
		return 1
	fi
	BACKENDS_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

backends_postgres_stop() {
	[ -n "$BACKENDS_PG_DATA" ] && [ -f "$BACKENDS_PG_DATA/postmaster.pid" ] || return 0
	backends_as_pg "$BACKENDS_PG_CTL" -D "$BACKENDS_PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
		backends_as_pg "$BACKENDS_PG_CTL" -D "$BACKENDS_PG_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
		backends_log "could not stop PostgreSQL in $BACKENDS_PG_DATA"
	BACKENDS_PG_DATA=""
}

# ---------------------------------------------------------------------------------------------------
# public entry points

# Installs (if needed) and starts both servers, exporting their URLs. A URL already set in the
# environment is used as-is (an external server) and that server is not started here.
backends_start() {
	local ports mariadb_port postgres_port started
	backends_install
	started=$(date +%s%N)
	if [ -n "${LEDGER_TEST_MARIADB_URL:-}" ]; then
		backends_log "using the MariaDB server from LEDGER_TEST_MARIADB_URL (not starting one)"
		BACKENDS_SKIP_MARIADB=1
	fi
	if [ -n "${LEDGER_TEST_POSTGRES_URL:-}" ]; then
		backends_log "using the PostgreSQL server from LEDGER_TEST_POSTGRES_URL (not starting one)"
		BACKENDS_SKIP_POSTGRES=1
	fi
	[ -n "$BACKENDS_SKIP_MARIADB" ] && [ -n "$BACKENDS_SKIP_POSTGRES" ] && return 0

	backends_make_tmp
	ports="$(backends_free_ports 2)"
	mariadb_port="$(sed -n 1p <<<"$ports")"
	postgres_port="$(sed -n 2p <<<"$ports")"

	# mariadbd boots in the background while PostgreSQL is initialised and started.
	local mariadb_ok=""
	if [ -z "$BACKENDS_SKIP_MARIADB" ]; then
		backends_log "starting MariaDB on 127.0.0.1:$mariadb_port ($BACKENDS_TMP/mariadb)"
		backends_mariadb_launch "$mariadb_port" && mariadb_ok=1
	fi
	if [ -z "$BACKENDS_SKIP_POSTGRES" ]; then
		backends_log "starting PostgreSQL on 127.0.0.1:$postgres_port ($BACKENDS_TMP/postgres)"
		if backends_postgres_launch "$postgres_port" && backends_wait_ready "$BACKENDS_POSTGRES_URL"; then
			export LEDGER_TEST_POSTGRES_URL="$BACKENDS_POSTGRES_URL"
			backends_log "PostgreSQL ready: $LEDGER_TEST_POSTGRES_URL"
		else
			backends_postgres_stop
			backends_unavailable PostgreSQL "the server did not start" "$BACKENDS_TMP/postgres/server.log" || true
		fi
	fi
	if [ -z "$BACKENDS_SKIP_MARIADB" ]; then
		if [ -n "$mariadb_ok" ] && backends_wait_ready "$BACKENDS_MARIADB_URL" "$BACKENDS_MARIADB_PID"; then
			export LEDGER_TEST_MARIADB_URL="$BACKENDS_MARIADB_URL"
			backends_log "MariaDB ready: $LEDGER_TEST_MARIADB_URL"
		else
			backends_mariadb_stop
			cat "$BACKENDS_TMP/mariadb/stdout.log" >>"$BACKENDS_TMP/mariadb/error.log" 2>/dev/null || true
			backends_unavailable MariaDB "the server did not start" "$BACKENDS_TMP/mariadb/error.log" || true
		fi
	fi
	backends_log "servers started in $((($(date +%s%N) - started) / 1000000)) ms"
}

# Stops whatever was started and removes the temporary directory; safe to call more than once.
backends_stop() {
	backends_mariadb_stop
	backends_postgres_stop
	if [ -n "$BACKENDS_TMP" ] && [ -d "$BACKENDS_TMP" ]; then
		if [ -n "${LEDGER_TEST_KEEP_TMP:-}" ]; then
			backends_log "keeping $BACKENDS_TMP (LEDGER_TEST_KEEP_TMP is set)"
		else
			rm -rf "$BACKENDS_TMP"
		fi
	fi
	BACKENDS_TMP=""
}
