# shellcheck shell=bash
# A real Frappe v15 bench for the test suite; sourced by scripts/test after scripts/lib/backends.sh.
#
# The bench is built from the vendored Frappe source (FRAPPE_ARCHIVE, default
# ../shared/vendor/frappe-15.55.1.tar.gz) into a cache (LEDGER_BENCH_CACHE, default
# ~/.cache/ledger_app/bench), keyed by the archive, this app's dependencies and the Python version:
# apps/frappe (the extracted source) and env/ (a virtualenv with Frappe and this app's dependencies).
# The build takes about 75 s and is reused by later runs. The app itself is not installed into the
# cached env: every bench process runs with PYTHONPATH set to this checkout.
#
# bench_start then makes a bench folder inside the test run's temporary directory (apps/ linking the
# cached frappe and this checkout, sites/, logs/), starts two Redis servers (cache, queue) on free
# loopback ports, creates the site `127.0.0.1` on the MariaDB that backends.sh started (a site is
# picked by the request's Host header, and the gateway simulator calls back to 127.0.0.1), installs
# ledger_app and sets allow_tests. Exported on success:
#   LEDGER_TEST_FRAPPE_BENCH  the bench folder (run commands from its sites/)
#   LEDGER_TEST_FRAPPE_SITE   the site name
#   LEDGER_TEST_NGINX         nginx (installed from Debian's nginx-light when missing)
# tests/frappe_site.py serves that site with nginx in front of gunicorn, and a `frappe worker`, for
# the HTTP tests.
#
# CI=true: a bench that cannot be built or started fails the run; otherwise a loud warning and the
# Frappe tests skip.

BENCH_DIR=""            # this run's bench folder
BENCH_REDIS_PIDS=()
BENCH_SITE="127.0.0.1"
BENCH_ADMIN_PASSWORD="admin"
BENCH_CHECKOUT="$PWD"
BENCH_ARCHIVE="${FRAPPE_ARCHIVE:-$BENCH_CHECKOUT/../shared/vendor/frappe-15.55.1.tar.gz}"
BENCH_CACHE_ROOT="${LEDGER_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ledger_app/bench}"
# bump when the way the cached env is built changes
BENCH_BUILD_VERSION=1

# The bench's Python: helper commands run from its sites/ folder with the checkout importable.
bench_python() { (cd "$BENCH_DIR/sites" && PYTHONPATH="$BENCH_CHECKOUT" "$BENCH_DIR/env/bin/python" "$@"); }
bench_frappe() { bench_python -m frappe.utils.bench_helper frappe "$@"; }

# Prints the nginx binary (Debian's is in /usr/sbin, often not on a user's PATH); fails when there is none.
bench_nginx() { PATH="$PATH:/usr/sbin" command -v nginx; }

# The dependencies a test bench needs besides Frappe, one per line: pyproject's [project]
# dependencies and its [tool.bench.dev-dependencies] (what `bench setup requirements --dev` adds).
bench_app_dependencies() {
	"$BACKENDS_PYTHON" - "$BENCH_CHECKOUT/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
	project = tomllib.load(f)
dev = project.get("tool", {}).get("bench", {}).get("dev-dependencies", {})
print("\n".join([*project["project"]["dependencies"], *(f"{name}{spec}" for name, spec in dev.items())]))
EOF
}

bench_cache_key() {
	{
		echo "build $BENCH_BUILD_VERSION"
		sha256sum "$BENCH_ARCHIVE" | cut -d' ' -f1
		bench_app_dependencies
		"$BACKENDS_PYTHON" -c 'import sys; print(sys.version)'
	} | sha256sum | cut -c1-16
}

# Builds (once) the cached frappe source and env; prints its folder.
bench_build() {
	local key cache log
	key="$(bench_cache_key)" || return 1
	cache="$BENCH_CACHE_ROOT/$key"
	mkdir -p "$BENCH_CACHE_ROOT"
	# one build at a time per cache; a finished build is marked by the file `complete`
	exec {BENCH_LOCK_FD}>"$BENCH_CACHE_ROOT/.lock"
	flock "$BENCH_LOCK_FD"
	if [ ! -f "$cache/complete" ]; then
		rm -rf "$cache"
		mkdir -p "$cache/apps/frappe"
		log="$cache/build.log"
		backends_log "building the Frappe bench from $(basename "$BENCH_ARCHIVE") into $cache (about 75 s, once)"
		if ! {
			tar -xzf "$BENCH_ARCHIVE" -C "$cache/apps/frappe" &&
				# the release pins a gunicorn fork by git URL, which cannot be fetched here; PyPI's 23 is
				# what the fork is based on
				sed -i 's|"gunicorn @ git+https://github.com/frappe/gunicorn@[0-9a-f]*"|"gunicorn~=23.0"|' \
					"$cache/apps/frappe/pyproject.toml" &&
				"$BACKENDS_PYTHON" -m venv "$cache/env" &&
				PIP_ROOT_USER_ACTION=ignore "$cache/env/bin/pip" install -q --disable-pip-version-check \
					-e "$cache/apps/frappe" &&
				bench_app_dependencies | xargs -d '\n' env PIP_ROOT_USER_ACTION=ignore \
					"$cache/env/bin/pip" install -q --disable-pip-version-check
		} >"$log" 2>&1; then
			flock -u "$BENCH_LOCK_FD"
			backends_log_tail "$log"
			return 1
		fi
		touch "$cache/complete"
	fi
	flock -u "$BENCH_LOCK_FD"
	printf '%s\n' "$cache"
}

bench_start_redis() {
	local port="$1" name="$2"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--dir "$BENCH_DIR" --pidfile "$BENCH_DIR/config/pids/redis_$name.pid" \
		--logfile "$BENCH_DIR/logs/redis_$name.log" >/dev/null || return 1
	local _
	for _ in $(seq 1 50); do
		[ -s "$BENCH_DIR/config/pids/redis_$name.pid" ] && break
		sleep 0.1
	done
	BENCH_REDIS_PIDS+=("$(cat "$BENCH_DIR/config/pids/redis_$name.pid")")
}

# A MariaDB account with a password that can create databases and users: new-site needs one.
bench_db_root() {
	"$BACKENDS_PYTHON" - "$LEDGER_TEST_MARIADB_URL" "$1" <<'EOF'
import sys
from urllib.parse import unquote, urlsplit

import pymysql

url, password = urlsplit(sys.argv[1]), sys.argv[2]
conn = pymysql.connect(host=url.hostname, port=url.port, user=unquote(url.username or "root"),
	password=unquote(url.password or ""), autocommit=True)
with conn.cursor() as cur:
	cur.execute("CREATE USER IF NOT EXISTS 'frappe_root'@'127.0.0.1' IDENTIFIED BY %s", (password,))
	cur.execute("ALTER USER 'frappe_root'@'127.0.0.1' IDENTIFIED BY %s", (password,))
	cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'frappe_root'@'127.0.0.1' WITH GRANT OPTION")
conn.close()
EOF
}

bench_fail() {
	local reason="$1" log="${2:-}"
	backends_unavailable "Frappe bench" "$reason" "$log" || true
	BENCH_DIR=""
	return 1
}

bench_start() {
	local cache ports db_port root_password started
	started=$(date +%s%N)
	if [ -z "${LEDGER_TEST_MARIADB_URL:-}" ]; then
		bench_fail "no MariaDB to create the site on"
		return 1
	fi
	if [ ! -f "$BENCH_ARCHIVE" ]; then
		bench_fail "the vendored Frappe source $BENCH_ARCHIVE is missing"
		return 1
	fi
	if ! command -v redis-server >/dev/null 2>&1; then
		backends_log "redis-server missing; installing it from Debian"
		backends_apt_install redis-server || true
		command -v redis-server >/dev/null 2>&1 || { bench_fail "redis-server not found and could not be installed"; return 1; }
	fi
	# the HTTP tests reach the site through nginx, as `bench setup production` serves it (tests/frappe_site.py)
	if ! bench_nginx >/dev/null; then
		backends_log "nginx missing; installing it from Debian"
		backends_apt_install nginx-light || true
		bench_nginx >/dev/null || { bench_fail "nginx not found and could not be installed"; return 1; }
	fi
	LEDGER_TEST_NGINX="$(bench_nginx)"
	export LEDGER_TEST_NGINX
	cache="$(bench_build)" || { bench_fail "the bench could not be built"; return 1; }

	BENCH_DIR="${BACKENDS_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/ledger-bench.XXXXXXXX")}/bench"
	mkdir -p "$BENCH_DIR/apps" "$BENCH_DIR/sites" "$BENCH_DIR/logs" "$BENCH_DIR/config/pids"
	ln -s "$cache/env" "$BENCH_DIR/env"
	ln -s "$cache/apps/frappe" "$BENCH_DIR/apps/frappe"
	ln -s "$BENCH_CHECKOUT" "$BENCH_DIR/apps/ledger_app"
	printf 'frappe\nledger_app\n' >"$BENCH_DIR/sites/apps.txt"

	ports="$(backends_free_ports 2)"
	bench_start_redis "$(sed -n 1p <<<"$ports")" cache &&
		bench_start_redis "$(sed -n 2p <<<"$ports")" queue ||
		{ bench_fail "redis-server did not start" "$BENCH_DIR/logs/redis_cache.log"; return 1; }

	root_password="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	bench_db_root "$root_password" || { bench_fail "could not create the MariaDB account for new-site"; return 1; }
	db_port="$("$BACKENDS_PYTHON" -c 'import sys; from urllib.parse import urlsplit; print(urlsplit(sys.argv[1]).port)' "$LEDGER_TEST_MARIADB_URL")"
	cat >"$BENCH_DIR/sites/common_site_config.json" <<-EOF
		{
		 "db_host": "127.0.0.1",
		 "db_port": $db_port,
		 "redis_cache": "redis://127.0.0.1:$(sed -n 1p <<<"$ports")",
		 "redis_queue": "redis://127.0.0.1:$(sed -n 2p <<<"$ports")",
		 "redis_socketio": "redis://127.0.0.1:$(sed -n 2p <<<"$ports")",
		 "root_login": "frappe_root",
		 "root_password": "$root_password"
		}
	EOF

	backends_log "creating the Frappe site $BENCH_SITE in $BENCH_DIR (about 30 s)"
	# the site's own database user logs in over TCP from 127.0.0.1, so it may not be bound to localhost
	if ! bench_frappe new-site "$BENCH_SITE" --db-root-username frappe_root --db-root-password "$root_password" \
		--admin-password "$BENCH_ADMIN_PASSWORD" --mariadb-user-host-login-scope=% >"$BENCH_DIR/logs/new-site.log" 2>&1; then
		bench_fail "new-site failed" "$BENCH_DIR/logs/new-site.log"
		return 1
	fi
	if ! bench_frappe --site "$BENCH_SITE" install-app ledger_app >"$BENCH_DIR/logs/install-app.log" 2>&1; then
		bench_fail "install-app ledger_app failed" "$BENCH_DIR/logs/install-app.log"
		return 1
	fi
	bench_frappe --site "$BENCH_SITE" set-config allow_tests true >/dev/null
	export LEDGER_TEST_FRAPPE_BENCH="$BENCH_DIR" LEDGER_TEST_FRAPPE_SITE="$BENCH_SITE"
	export LEDGER_TEST_FRAPPE_ADMIN_PASSWORD="$BENCH_ADMIN_PASSWORD"
	backends_log "Frappe site ready in $((($(date +%s%N) - started) / 1000000)) ms: $BENCH_DIR/sites/$BENCH_SITE"
}

# The app's in-app tests (FrappeTestCase) through Frappe's own runner, as `bench run-tests` does.
bench_run_app_tests() {
	backends_log "bench --site $BENCH_SITE run-tests --app ledger_app"
	bench_frappe --site "$BENCH_SITE" run-tests --app ledger_app
}

bench_stop() {
	local pid
	for pid in "${BENCH_REDIS_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	BENCH_REDIS_PIDS=()
}
