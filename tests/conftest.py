"""Shared fixtures: one fresh, empty database per test on every backend.

``./scripts/test`` starts throw-away MariaDB and PostgreSQL servers and exports their URLs:

- ``LEDGER_TEST_MARIADB_URL``  e.g. ``mariadb://root@127.0.0.1:PORT/``
- ``LEDGER_TEST_POSTGRES_URL`` e.g. ``postgresql://postgres@127.0.0.1:PORT/postgres``

Fixtures:

- ``backend``: parametrised over ``sqlite``, ``mariadb``, ``postgres``; a test that takes
  ``backend`` or ``db_url`` runs once per backend.
- ``db_url``: a fresh, empty database for the test's backend, as a URL string
  (``sqlite:////abs/path/ledger.db``, ``mariadb://root@127.0.0.1:PORT/ledger_t_HEX``,
  ``postgresql://postgres@127.0.0.1:PORT/ledger_t_HEX``); dropped after the test.
- ``make_db_url``: a factory, ``make_db_url(backend=None)``, for more fresh databases in one test
  (defaults to the test's own backend when it has one); all are dropped after the test.
- ``connect_db``: ``connect_db(url)`` opens a plain DB-API connection (sqlite3 / PyMySQL /
  psycopg, autocommit) to such a URL, closed after the test. For checks that bypass the app.

A server whose URL is missing makes its tests skip, or fail when ``CI`` is true.
"""

import contextlib
import os
import secrets
import sqlite3
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest

BACKENDS = ("sqlite", "mariadb", "postgres")
SERVER_ENV = {"mariadb": "LEDGER_TEST_MARIADB_URL", "postgres": "LEDGER_TEST_POSTGRES_URL"}
DB_PREFIX = "ledger_t_"
CONNECT_TIMEOUT = 10
# Never let a teardown DROP wait forever behind a lock some leaked connection holds.
DROP_LOCK_TIMEOUT = 30


def in_ci() -> bool:
	return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def backend_of(url: str) -> str:
	scheme = urlsplit(url).scheme.lower()
	if scheme == "sqlite":
		return "sqlite"
	if scheme in ("mariadb", "mysql") or scheme.startswith(("mariadb+", "mysql+")):
		return "mariadb"
	if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
		return "postgres"
	raise ValueError(f"unknown database URL scheme in {url!r}")


def server_url(backend: str) -> str:
	"""The server URL ./scripts/test exported for ``backend``; skips (fails in CI) when missing."""
	var = SERVER_ENV[backend]
	url = os.environ.get(var, "").strip()
	if not url:
		message = f"{backend} server not started ({var} is not set); run ./scripts/test"
		if in_ci():
			pytest.fail(f"{message} (CI=true: every backend is required)", pytrace=False)
		pytest.skip(message)
	return url


def with_database(url: str, name: str) -> str:
	"""``url`` with its path (the database name) replaced by ``name``."""
	parts = urlsplit(url)
	return urlunsplit((parts.scheme, parts.netloc, "/" + quote(name), parts.query, parts.fragment))


def database_name(url: str) -> str:
	return unquote(urlsplit(url).path.lstrip("/"))


def sqlite_path(url: str) -> str:
	"""``sqlite:////abs/file.db`` -> ``/abs/file.db``; ``sqlite:///rel.db`` -> ``rel.db``."""
	return url.split("://", 1)[1].removeprefix("/")


def connect(url: str, database: str | None = None):
	"""A plain DB-API connection (autocommit) to ``url``, or to ``database`` on the same server."""
	backend = backend_of(url)
	if backend == "sqlite":
		conn = sqlite3.connect(sqlite_path(url), timeout=30, isolation_level=None)
		return conn
	parts = urlsplit(url)
	dbname = database if database is not None else database_name(url)
	if backend == "mariadb":
		import pymysql

		return pymysql.connect(
			host=parts.hostname or "127.0.0.1",
			port=parts.port or 3306,
			user=unquote(parts.username or "root"),
			password=unquote(parts.password or ""),
			database=dbname or None,
			charset="utf8mb4",
			autocommit=True,
			connect_timeout=CONNECT_TIMEOUT,
		)
	import psycopg

	return psycopg.connect(
		host=parts.hostname or "127.0.0.1",
		port=parts.port or 5432,
		user=unquote(parts.username or "postgres"),
		password=unquote(parts.password or "") or None,
		dbname=dbname or "postgres",
		autocommit=True,
		connect_timeout=CONNECT_TIMEOUT,
	)


def create_server_database(backend: str, base: str | None = None, name: str | None = None) -> str:
	"""Creates an empty database (default ``ledger_t_<hex>``) on the backend's server (or the server at
	``base``, a URL of that backend); returns its URL."""
	base = base or server_url(backend)
	name = name or DB_PREFIX + secrets.token_hex(6)
	if backend == "mariadb":
		conn = connect(base, database="")
		try:
			with conn.cursor() as cur:
				cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
		finally:
			conn.close()
	else:
		conn = connect(base)
		try:
			# FILE_COPY (PostgreSQL 15+) is about 3x faster than the default WAL_LOG for an empty
			# template when, as under ./scripts/test, fsync is off.
			strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
			conn.execute(f'CREATE DATABASE "{name}"{strategy}')
		finally:
			conn.close()
	return with_database(base, name)


def drop_server_database(url: str) -> None:
	"""Drops a database made by ``create_server_database``, first ending connections still on it."""
	backend = backend_of(url)
	name = database_name(url)
	assert name.startswith(DB_PREFIX), f"refusing to drop {name!r}: not a test database"
	if backend == "mariadb":
		import pymysql

		conn = connect(url, database="")
		try:
			with conn.cursor() as cur:
				cur.execute(f"SET SESSION lock_wait_timeout = {DROP_LOCK_TIMEOUT}")
				cur.execute(
					"SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
					(name,),
				)
				for (thread_id,) in cur.fetchall():
					with contextlib.suppress(pymysql.MySQLError):  # already gone
						cur.execute(f"KILL {int(thread_id)}")
				cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
		finally:
			conn.close()
	else:
		conn = connect(url, database="postgres")
		try:
			conn.execute(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}s'")
			conn.execute(
				"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
				(name,),
			)
			force = " WITH (FORCE)" if conn.info.server_version >= 130000 else ""
			conn.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
		finally:
			conn.close()


class DatabaseFactory:
	"""Makes fresh databases for one test and drops them all afterwards."""

	def __init__(self, tmp_path, default_backend: str | None):
		self.tmp_path = tmp_path
		self.default_backend = default_backend
		self.created: list[str] = []
		self._sqlite_count = 0

	def __call__(self, backend: str | None = None) -> str:
		backend = backend or self.default_backend
		if backend not in BACKENDS:
			raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
		if backend == "sqlite":
			self._sqlite_count += 1
			filename = "ledger.db" if self._sqlite_count == 1 else f"ledger_{self._sqlite_count}.db"
			return f"sqlite:///{self.tmp_path / filename}"
		url = create_server_database(backend)
		self.created.append(url)
		return url

	def drop_all(self) -> None:
		errors = []
		for url in reversed(self.created):
			try:
				drop_server_database(url)
			except Exception as exc:  # noqa: BLE001  (drop the others anyway, then report them all)
				errors.append(f"{url}: {exc!r}")
		self.created.clear()
		if errors:
			raise RuntimeError("could not drop test database(s): " + "; ".join(errors))


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request) -> str:
	return request.param


@pytest.fixture
def make_db_url(request, tmp_path):
	"""``make_db_url(backend=None) -> url``: another fresh database (default: the test's backend)."""
	default = request.node.callspec.params.get("backend") if hasattr(request.node, "callspec") else None
	factory = DatabaseFactory(tmp_path, default)
	yield factory
	factory.drop_all()


@pytest.fixture
def db_url(backend, make_db_url) -> str:
	"""A fresh, empty database for this test on ``backend``, as a URL string."""
	return make_db_url(backend)


@pytest.fixture
def connect_db():
	"""``connect_db(url)``: a plain DB-API connection (autocommit), closed after the test."""
	opened = []

	def _connect(url: str):
		conn = connect(url)
		opened.append(conn)
		return conn

	yield _connect
	for conn in reversed(opened):
		with contextlib.suppress(Exception):  # a connection the test already broke or closed
			conn.close()


# --- hosts: the standalone host on each backend, and the real Frappe site ---------------------------

HOSTS = (*BACKENDS, "frappe")


@pytest.fixture(scope="session")
def frappe_site():
	"""The site ./scripts/test created, served by gunicorn with a frappe worker (tests/frappe_site.py)
	for the whole session; skips (fails in CI) when there is no bench."""
	from tests.frappe_site import FrappeSite, bench_env

	found = bench_env()
	if found is None:
		message = "no Frappe bench (LEDGER_TEST_FRAPPE_BENCH is not set); run ./scripts/test"
		if in_ci():
			pytest.fail(f"{message} (CI=true: the bench is required)", pytrace=False)
		pytest.skip(message)
	site = FrappeSite(*found)
	try:
		site.start()
		yield site
	finally:
		site.stop()


@pytest.fixture(params=HOSTS, ids=HOSTS)
def host_kind(request) -> str:
	"""Parametrises a test over the standalone host on SQLite, MariaDB, PostgreSQL and the Frappe site."""
	return request.param


@pytest.fixture
def served(host_kind, make_db_url, request):
	"""``served(process=False, args=(), **config) -> (base URL, pool)``: the test's host serving a
	database in its initial state, with a pool on that database for setting up and checking; cleaned
	up after the test. ``process=True`` serves the standalone host as a real ``ledger-app serve``
	process (16 threads, and ``args``: more ``serve`` options) instead of in a thread; the Frappe site
	is always its nginx in front of gunicorn."""
	from tests.support import make_pool, running_server, server_process

	opened = contextlib.ExitStack()

	def serve(process=False, args=(), **config):
		if host_kind == "frappe":
			from ledger_app.db.pool import ConnectionPool

			site = request.getfixturevalue("frappe_site")
			site.reset()
			pool = ConnectionPool(site.db_url)
			opened.callback(pool.dispose)
			return site.base, pool
		pool = make_pool(make_db_url(host_kind))
		opened.callback(pool.dispose)
		if process:
			return opened.enter_context(server_process(pool.url, "--no-scheduler", "--threads", "16", *args, **config)), pool
		return opened.enter_context(running_server(pool, **config)), pool

	with opened:
		yield serve
