"""The Frappe host for the HTTP tests: the real v15 site ``./scripts/test`` creates
(``scripts/lib/bench.sh``), served as ``bench setup production`` serves it: nginx in front (on the
site's URL, ``base``) proxying to gunicorn with ``frappe.app:application`` (sync workers, on a port
of its own), and a ``frappe worker`` process running the queued jobs (payout dispatch after a commit).

nginx is what keeps slow clients from starving the site: a gunicorn sync worker is held by one
connection until its request is complete, so three clients that send half a request would stop the
three workers; nginx reads every request in full before it passes it on, and closes a connection that
sends nothing for ``IDLE_TIMEOUT`` seconds (README, "Slow clients"). Its settings are bench's own
(``X-Forwarded-For`` set to the caller, ``X-Frappe-Site-Name``, a 50 MB body limit, 120 s to answer);
it runs from the bench's ``config/`` folder, on loopback.

The site's staff token and callback token are set to the ones the standalone tests use
(``tests.support.AUTH`` / ``CALLBACK_TOKEN``), so a test talks to both hosts the same way. Every
test starts from the site as installed, like a fresh standalone database: ``reset()`` empties every
table of the Ledger module (the engine creates its business accounts when first needed), puts Ledger
Settings back to their defaults with only the callback token set (as saved through Frappe when the
site was first served), and empties Frappe's Redis cache (a document cached by one test must not
answer the next).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import requests

from tests.support import API_KEY, API_SECRET, CALLBACK_TOKEN, free_port

CHECKOUT = Path(__file__).resolve().parent.parent
GUNICORN_WORKERS = 3  # a 2-core machine: bench's production default would be 2 * cores + 1 = 5
IDLE_TIMEOUT = 5  # nginx's client_header_timeout / client_body_timeout here (nginx's default: 60 s)
NGINX_CONF = """\
daemon off;
worker_processes 1;
worker_rlimit_nofile 8192;
pid {config}/pids/nginx.pid;
error_log {logs}/test-nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
	access_log off;
	client_body_temp_path {config}/nginx/client_body;
	proxy_temp_path {config}/nginx/proxy;
	fastcgi_temp_path {config}/nginx/fastcgi;
	uwsgi_temp_path {config}/nginx/uwsgi;
	scgi_temp_path {config}/nginx/scgi;
	upstream frappe-bench-frappe {{ server 127.0.0.1:{upstream} fail_timeout=0; }}
	server {{
		listen 127.0.0.1:{port};
		server_name {site};
		client_max_body_size 25m;
		client_header_timeout {idle}s;
		client_body_timeout {idle}s;
		location / {{
			proxy_http_version 1.1;
			proxy_set_header X-Forwarded-For $remote_addr;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_set_header X-Frappe-Site-Name {site};
			proxy_set_header Host $host;
			proxy_set_header X-Use-X-Accel-Redirect True;
			proxy_read_timeout 120;
			proxy_redirect off;
			proxy_pass http://frappe-bench-frappe;
		}}
	}}
}}
"""


def nginx_binary() -> str:
	"""nginx as ``scripts/lib/bench.sh`` installed it (Debian's package)."""
	import shutil

	found = os.environ.get("LEDGER_TEST_NGINX") or shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
	if not found:
		raise RuntimeError("nginx not found: ./scripts/test installs it (apt-get install nginx-light)")
	return found


def bench_env() -> tuple[Path, str] | None:
	bench, site = os.environ.get("LEDGER_TEST_FRAPPE_BENCH"), os.environ.get("LEDGER_TEST_FRAPPE_SITE")
	return (Path(bench), site) if bench and site else None


class FrappeSite:
	"""One served site: ``base`` (its URL), ``db_url`` (its MariaDB database), ``reset()``."""

	def __init__(self, bench: Path, site: str):
		self.bench, self.site = bench, site
		self.sites = bench / "sites"
		self.port = free_port()  # nginx: the site's URL
		self.upstream_port = free_port()  # gunicorn, behind it
		self.base = f"http://{site}:{self.port}"
		self.processes: list[subprocess.Popen] = []
		self._settings: dict[str, list[dict]] = {"tabSingles": [], "__Auth": []}
		self.db_url = self._db_url()

	# -- processes ------------------------------------------------------------------------------

	def _env(self) -> dict:
		return {**os.environ, "PYTHONPATH": str(CHECKOUT)}

	def frappe(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
		"""``bench --site SITE <args>``, as bench runs it."""
		return subprocess.run([str(self.bench / "env/bin/python"), "-m", "frappe.utils.bench_helper", "frappe",
			"--site", self.site, *args], cwd=self.sites, env=self._env(), capture_output=True, text=True,
			timeout=timeout)

	def _spawn(self, name: str, *args: str) -> subprocess.Popen:
		log = open(self.bench / "logs" / f"test-{name}.log", "ab")
		process = subprocess.Popen(args, cwd=self.sites, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
			start_new_session=True)
		self.processes.append(process)
		return process

	def start(self) -> None:
		# the gateway builds its callback URLs from host_name outside a request (the worker's jobs)
		done = self.frappe("set-config", "host_name", self.base)
		assert done.returncode == 0, done.stderr
		self._spawn("gunicorn", str(self.bench / "env/bin/gunicorn"), "-b", f"127.0.0.1:{self.upstream_port}",
			"-w", str(GUNICORN_WORKERS), "-t", "120", "--preload", "frappe.app:application")
		self._spawn("nginx", nginx_binary(), "-c", str(self._nginx_conf()))
		self._spawn("worker", str(self.bench / "env/bin/python"), "-m", "frappe.utils.bench_helper", "frappe",
			"worker", "--queue", "short,default,long")
		self._wait_until_serving()
		self.reset()  # Ledger Settings at their defaults (the in-app tests may have changed them)...
		self._configure()  # ... saved through Frappe with the callback token
		self._settings = self._read_settings()

	def _nginx_conf(self) -> Path:
		config = self.bench / "config"
		for folder in ("pids", "nginx"):
			(config / folder).mkdir(parents=True, exist_ok=True)
		path = config / "nginx.conf"
		path.write_text(NGINX_CONF.format(config=config, logs=self.bench / "logs", upstream=self.upstream_port,
			port=self.port, site=self.site, idle=IDLE_TIMEOUT))
		return path

	def stop(self) -> None:
		for process in self.processes:
			with suppress(ProcessLookupError):
				os.killpg(process.pid, signal.SIGTERM)
		for process in self.processes:
			try:
				process.wait(timeout=20)
			except subprocess.TimeoutExpired:
				with suppress(ProcessLookupError):
					os.killpg(process.pid, signal.SIGKILL)
				process.wait()
		self.processes.clear()

	def _wait_until_serving(self, timeout: float = 120) -> None:
		deadline = time.monotonic() + timeout
		while True:
			for process in self.processes:
				if process.poll() is not None:
					raise RuntimeError(f"{process.args[0]} exited: see {self.bench / 'logs'}")
			with suppress(requests.RequestException):
				if requests.get(f"{self.base}/api/method/ping", timeout=5).status_code == 200:
					return
			if time.monotonic() > deadline:
				raise RuntimeError(f"the site did not answer in {timeout:.0f} s: see {self.bench / 'logs'}")
			time.sleep(0.2)

	def _configure(self) -> None:
		"""Administrator's API token and the callback token: the ones the standalone tests use."""
		session = requests.Session()
		login = session.post(f"{self.base}/api/method/login", timeout=30,
			data={"usr": "Administrator", "pwd": os.environ.get("LEDGER_TEST_FRAPPE_ADMIN_PASSWORD", "admin")})
		assert login.status_code == 200, login.text
		for doctype, name, values in (
			("User", "Administrator", {"api_key": API_KEY, "api_secret": API_SECRET}),
			("Ledger Settings", "Ledger Settings", {"callback_token": CALLBACK_TOKEN}),
		):
			answer = session.post(f"{self.base}/api/method/frappe.client.set_value", timeout=30,
				json={"doctype": doctype, "name": name, "fieldname": values})
			assert answer.status_code == 200, answer.text

	# -- the site's database --------------------------------------------------------------------

	def _db_url(self) -> str:
		common = json.loads((self.sites / "common_site_config.json").read_text())
		config = {**common, **json.loads((self.sites / self.site / "site_config.json").read_text())}
		user = config.get("db_user") or config["db_name"]
		return (f"mariadb://{user}:{config['db_password']}@{config.get('db_host', '127.0.0.1')}:"
			f"{config.get('db_port', 3306)}/{config['db_name']}")

	def _connect(self):
		import pymysql

		from tests.conftest import connect

		conn = connect(self.db_url)
		conn.cursorclass = pymysql.cursors.DictCursor
		return conn

	def _tables(self, cur) -> list[str]:
		cur.execute("SELECT `name` FROM `tabDocType` WHERE `module` = 'Ledger' AND `issingle` = 0 ORDER BY `name`")
		return [f"tab{row['name']}" for row in cur.fetchall()]

	def _read_settings(self) -> dict[str, list[dict]]:
		"""Ledger Settings as Frappe stored them: every field's row (a single with some rows stored
		gets no defaults for the others) and the callback token, encrypted with the site's key."""
		conn = self._connect()
		try:
			with conn.cursor() as cur:
				cur.execute("SELECT * FROM `tabSingles` WHERE `doctype` = 'Ledger Settings'")
				stored = {"tabSingles": cur.fetchall()}
				cur.execute("SELECT * FROM `__Auth` WHERE `doctype` = 'Ledger Settings'")
				stored["__Auth"] = cur.fetchall()
				return stored
		finally:
			conn.close()

	def reset(self) -> None:
		"""Empty Ledger tables, Ledger Settings as first configured, an empty cache."""
		conn = self._connect()
		try:
			with conn.cursor() as cur:
				cur.execute("SET SESSION lock_wait_timeout = 30")
				for table in self._tables(cur):
					cur.execute(f"DELETE FROM `{table}`")
				cur.execute("DELETE FROM `tabSingles` WHERE `doctype` = 'Ledger Settings'")
				cur.execute("DELETE FROM `__Auth` WHERE `doctype` = 'Ledger Settings'")
				for table, rows in self._settings.items():
					for row in rows:
						columns = ", ".join(f"`{column}`" for column in row)
						cur.execute(f"INSERT INTO `{table}` ({columns}) VALUES ({', '.join(['%s'] * len(row))})",
							tuple(row.values()))
		finally:
			conn.close()
		self._flush_cache()

	def _flush_cache(self) -> None:
		common = json.loads((self.sites / "common_site_config.json").read_text())
		host, port = common["redis_cache"].removeprefix("redis://").split(":")
		with socket.create_connection((host, int(port)), timeout=10) as redis:
			redis.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
			assert redis.recv(64).startswith(b"+OK"), "redis FLUSHALL failed"
