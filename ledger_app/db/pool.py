"""The standalone adapter: pooled DB-API connections opened from a URL.

URLs: ``sqlite:///path/to/file.db``, ``mariadb://user:pass@host:port/db`` (``mysql://`` too),
``postgresql://user:pass@host:port/db`` (``postgres://`` too).  Pooling is SQLAlchemy's
``QueuePool`` (only the pool; no ORM).  Connections run in autocommit mode and the port issues
``BEGIN``/``COMMIT`` itself, so transaction boundaries are explicit on every backend:
SQLite's ``BEGIN IMMEDIATE`` takes the single writer lock up front (WAL journal, full sync,
30 s busy timeout), MariaDB and PostgreSQL keep their default isolation (REPEATABLE READ and
READ COMMITTED), the same as Frappe on MariaDB.

Outages (README "Database outages"): every driver has connect, read and write timeouts (the constants
below), a connection is checked before it is lent (one round trip: a MariaDB ping, an empty
PostgreSQL query) and discarded when broken, and opening a connection, which is idempotent, is
tried again with a bounded backoff; a database still unreachable after that raises
``DatabaseUnavailable``.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import unquote, urlsplit

from sqlalchemy.pool import QueuePool

from ledger_app.db.dialects import get_dialect, sqlite_cents_text, sqlite_money_add
from ledger_app.db.port import Database
from ledger_app.engine.errors import DatabaseUnavailable, ValidationFailed

sqlite3.register_adapter(Decimal, str)
sqlite3.register_adapter(datetime, lambda value: value.isoformat(" ", timespec="microseconds"))
sqlite3.register_adapter(date, lambda value: value.isoformat())

#: seconds to open a connection, handshake and authentication included (a server that accepts and
#: never answers fails in this time, not in minutes)
CONNECT_TIMEOUT = 5
#: seconds a statement's answer may take: above InnoDB's default 50 s lock wait, so a lock wait is
#: ended by the server (and replayed by the port), never cut by the client
READ_TIMEOUT = 60
#: seconds to send a statement (MariaDB); PostgreSQL: unacknowledged data for this long drops the
#: connection (TCP_USER_TIMEOUT), and TCP keepalives find a vanished server within about 25 s
WRITE_TIMEOUT = 30
#: PostgreSQL ends a statement (a lock wait included) after this long, as MariaDB's read timeout does
STATEMENT_TIMEOUT = READ_TIMEOUT
#: SQLite: how long a writer waits for another process's write lock
SQLITE_BUSY_TIMEOUT = 30
#: attempts to lend a working connection, and the longest wait between two of them (seconds)
CHECKOUT_ATTEMPTS = 4
CHECKOUT_MAX_WAIT = 0.5

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_SCHEMES = {"sqlite": "sqlite", "mariadb": "mariadb", "mysql": "mariadb", "postgresql": "postgres", "postgres": "postgres"}


def parse_url(url: str) -> tuple[str, dict]:
	"""(dialect name, connect arguments) for a database URL; a clear error for anything else."""
	parts = urlsplit(url)
	scheme = parts.scheme.split("+", 1)[0]
	if scheme not in _SCHEMES:
		raise ValidationFailed(f"unsupported database URL {url!r}: use sqlite:///file, mariadb://… or postgresql://…")
	dialect = _SCHEMES[scheme]
	if dialect == "sqlite":
		path = url.split("://", 1)[1]
		path = path.removeprefix("/")  # sqlite:///rel.db -> rel.db, sqlite:////abs -> /abs
		if not path:
			raise ValidationFailed(f"sqlite URL {url!r} names no file")
		return dialect, {"path": path}
	args = {
		"host": parts.hostname or "127.0.0.1",
		"port": parts.port or (3306 if dialect == "mariadb" else 5432),
		"user": unquote(parts.username or ("root" if dialect == "mariadb" else "postgres")),
		"password": unquote(parts.password or ""),
		"database": parts.path.lstrip("/") or None,
	}
	return dialect, args


def _connect_sqlite(args):
	conn = sqlite3.connect(args["path"], timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
	conn.execute("PRAGMA journal_mode=WAL")
	conn.execute("PRAGMA synchronous=FULL")
	conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
	conn.execute("PRAGMA foreign_keys=ON")
	conn.create_function("ledger_money_add", 2, sqlite_money_add, deterministic=True)
	conn.create_function("ledger_cents_text", 1, sqlite_cents_text, deterministic=True)
	conn.row_factory = sqlite3.Row
	return conn


def _connect_mariadb(args):
	import pymysql
	import pymysql.cursors

	conn = pymysql.connect(
		host=args["host"],
		port=args["port"],
		user=args["user"],
		password=args["password"],
		database=args["database"],
		charset="utf8mb4",
		autocommit=True,
		cursorclass=pymysql.cursors.DictCursor,
		connect_timeout=CONNECT_TIMEOUT,
		# PyMySQL reads the server's greeting and the authentication answer with the read timeout:
		# the connect timeout for those, the statements' read timeout once connected
		read_timeout=CONNECT_TIMEOUT,
		write_timeout=WRITE_TIMEOUT,
		# PyMySQL's default (TLS when the server offers it) builds a TLS context for every connection,
		# about 50 ms of CPU holding the GIL: a storm of reconnects after an outage queues on it.  On
		# the loopback interface TLS protects nothing; elsewhere it stays on
		ssl_disabled=args["host"] in _LOOPBACK,
	)
	conn._read_timeout = READ_TIMEOUT  # PyMySQL applies it to the socket before the next read
	return conn


def _connect_postgres(args):
	import psycopg
	from psycopg.rows import dict_row

	return psycopg.connect(
		host=args["host"],
		port=args["port"],
		user=args["user"],
		password=args["password"] or None,
		dbname=args["database"] or "postgres",
		autocommit=True,
		row_factory=dict_row,
		connect_timeout=CONNECT_TIMEOUT,
		keepalives=1,
		keepalives_idle=10,
		keepalives_interval=5,
		keepalives_count=3,
		tcp_user_timeout=WRITE_TIMEOUT * 1000,
		options=f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}",
	)


_CONNECT = {"sqlite": _connect_sqlite, "mariadb": _connect_mariadb, "postgres": _connect_postgres}


def _alive(dialect_name: str, conn) -> bool:
	"""Whether a pooled connection still reaches its server (one round trip; SQLite has no server)."""
	if dialect_name == "sqlite":
		return True
	try:
		if dialect_name == "mariadb":
			conn.ping(reconnect=False)
		else:
			if conn.closed or conn.broken:
				return False
			conn.execute("")  # an empty query: the cheapest round trip psycopg has
		return True
	except Exception:
		return False


class PooledDatabase(Database):
	"""The port over one pooled DB-API connection (autocommit; the port issues BEGIN/COMMIT).

	On SQLite the pool's writer lock is held from BEGIN IMMEDIATE to COMMIT/ROLLBACK: SQLite has one
	writer at a time anyway, and threads queueing on a lock are served in order instead of polling
	the busy handler (other processes still wait through the busy timeout).
	"""

	def __init__(self, dialect, connection, writer_lock=None, scope=None):
		super().__init__(dialect)
		self.connection = connection
		self._writer_lock = writer_lock
		self.scope = scope

	def _execute(self, query, params, fetch):
		query = self.dialect.translate(query)
		if self.dialect.name == "sqlite":
			cursor = self.connection.execute(query, params)
			if fetch and cursor.description is not None:
				return [dict(row) for row in cursor.fetchall()]
			return [] if fetch else cursor.rowcount
		cursor = self.connection.cursor()
		try:
			cursor.execute(query, params or None)
			if fetch:
				return list(cursor.fetchall()) if cursor.description is not None else []
			return cursor.rowcount
		finally:
			cursor.close()

	def committed(self, statement):
		"""The connection is in autocommit mode: one statement outside BEGIN commits by itself."""
		if self.in_transaction:
			raise RuntimeError("committed() runs a statement of its own; a transaction is open on this connection")
		if self._writer_lock is None:
			return statement(self)
		with self._writer_lock:  # SQLite: in-process writers queue here, as for BEGIN IMMEDIATE
			return statement(self)

	def _begin(self):
		if self._writer_lock is None:
			self._execute("BEGIN", {}, False)
			return
		self._writer_lock.acquire()
		try:
			self._execute("BEGIN IMMEDIATE", {}, False)
		except BaseException:
			self._writer_lock.release()
			raise

	def _commit(self):
		self._execute("COMMIT", {}, False)  # on failure the port rolls back, which releases the lock
		if self._writer_lock is not None:
			self._writer_lock.release()

	def _rollback(self):
		try:
			self._execute("ROLLBACK", {}, False)
		except Exception:  # a broken connection: the pool discards it on return
			pass
		finally:
			if self._writer_lock is not None:
				self._writer_lock.release()


class ConnectionPool:
	"""A pool of connections to one database URL; ``connection()`` lends a ``Database``."""

	def __init__(self, url: str, size: int = 8, overflow: int = 32, timeout: float = 30):
		self.url = url
		self.dialect_name, self._args = parse_url(url)
		self.dialect = get_dialect(self.dialect_name)
		connect = _CONNECT[self.dialect_name]
		self._writer_lock = threading.Lock() if self.dialect_name == "sqlite" else None
		self._pool = QueuePool(
			lambda: connect(self._args),
			pool_size=size,
			max_overflow=overflow,
			timeout=timeout,
			# connection() rolls back a transaction left open; nothing else needs a reset round trip
			reset_on_return=None,
			recycle=3600,
		)

	@contextmanager
	def connection(self):
		raw = self._checkout()
		db = PooledDatabase(self.dialect, raw, self._writer_lock, scope=self.url)
		try:
			yield db
		except DatabaseUnavailable:
			self._discard(raw)
			raise
		finally:
			if db.in_transaction:
				db.rollback()
			raw.close()  # back to the pool (an invalidated one is closed)

	def _checkout(self):
		"""A pooled connection that answered a ping; broken ones are discarded, and opening one is
		tried ``CHECKOUT_ATTEMPTS`` times with jittered backoff (not again once ``CONNECT_TIMEOUT``
		has passed) before ``DatabaseUnavailable``."""
		failure, started = None, time.monotonic()
		for attempt in range(CHECKOUT_ATTEMPTS):
			if attempt:
				if time.monotonic() - started > CONNECT_TIMEOUT:
					break  # a server that times out is not tried again: failing fast matters more
				time.sleep(random.uniform(0, min(CHECKOUT_MAX_WAIT, 0.05 * 2 ** attempt)))
			try:
				raw = self._pool.connect()
			except Exception as exc:
				ours = self.dialect.classify(exc)
				if not isinstance(ours, DatabaseUnavailable):
					raise
				failure = ours
				continue
			if _alive(self.dialect_name, raw.dbapi_connection):
				return raw
			self._discard(raw)
			raw.close()
			failure = DatabaseUnavailable(f"a pooled connection to {self.dialect_name} no longer answers")
		raise failure

	def _discard(self, raw) -> None:
		"""A broken connection is never lent again, nor are the idle ones opened with it: a server
		that dropped one (a restart) dropped them all."""
		raw.invalidate()
		self._pool.dispose()

	def dispose(self) -> None:
		self._pool.dispose()


def open_database(url: str, **pool_args) -> ConnectionPool:
	return ConnectionPool(url, **pool_args)
