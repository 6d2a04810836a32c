"""Shared plumbing for the benchmarks: databases, schema, accounts, bulk loads, the raw-SQL floor,
statement timing, timed clients, tables.

Nothing here changes how the engine works; it only sets up data the way the engine would have
written it (same tables, same columns, consistent ``account_seq`` / ``balance_after`` /
cached ``balance`` / ``posting_count``), so the engine's drift checks accept it.

Server URLs come from ``LEDGER_TEST_MARIADB_URL`` / ``LEDGER_TEST_POSTGRES_URL`` (exported by
``scripts/lib/backends.sh``, which ``benchmarks/run`` sources).  Each benchmark creates its own
``ledger_bench_*`` databases on those servers and drops them afterwards; SQLite files live in a
temporary directory.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
	sys.path.insert(0, str(ROOT))

from ledger_app.db import rows as ledger_rows
from ledger_app.db.pool import ConnectionPool
from ledger_app.db.schema import autoincrement_name_expr, ensure_schema, sequence_name
from ledger_app.engine import clock
from ledger_app.engine.errors import RetryableDatabaseError

BACKENDS = ("sqlite", "mariadb", "postgres")
SERVER_ENV = {"mariadb": "LEDGER_TEST_MARIADB_URL", "postgres": "LEDGER_TEST_POSTGRES_URL"}
DB_PREFIX = "ledger_bench_"
#: a fixed, realistic-length payload hash written by the raw floor and by bulk loads
FIXED_HASH = "0" * 64
BASE_TIME = "2024-01-01 00:00:00"
TRANSACTION = "`tabLedger Transaction`"
POSTING = "`tabLedger Posting`"
ACCOUNT = "`tabLedger Account`"

_SQLITE_DIR: str | None = None
_KEEP_SQLITE = False  # set when a SQLite database is kept (--keep): its directory then stays


def log(message: str) -> None:
	print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def backends_from_arg(value: str) -> list[str]:
	wanted = list(BACKENDS) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
	for name in wanted:
		if name not in BACKENDS:
			raise SystemExit(f"unknown backend {name!r}; use sqlite, mariadb, postgres or all")
	available = []
	for name in wanted:
		if name == "sqlite" or os.environ.get(SERVER_ENV[name], "").strip():
			available.append(name)
		else:
			log(f"SKIP {name}: {SERVER_ENV[name]} is not set (run through benchmarks/run)")
	return available


# --- databases ------------------------------------------------------------------------------


def _server(backend: str) -> str:
	url = os.environ.get(SERVER_ENV[backend], "").strip()
	if not url:
		raise SystemExit(f"{SERVER_ENV[backend]} is not set")
	return url


def _with_database(url: str, name: str) -> str:
	parts = urlsplit(url)
	return urlunsplit((parts.scheme, parts.netloc, "/" + quote(name), parts.query, parts.fragment))


def admin_connect(backend: str):
	parts = urlsplit(_server(backend))
	if backend == "mariadb":
		import pymysql

		return pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or "root"),
			password=unquote(parts.password or ""), autocommit=True, connect_timeout=10)
	import psycopg

	return psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=unquote(parts.username or "postgres"),
		password=unquote(parts.password or "") or None, dbname="postgres", autocommit=True, connect_timeout=10)


def _remove_sqlite_dir() -> None:
	if _SQLITE_DIR is not None and not _KEEP_SQLITE:
		shutil.rmtree(_SQLITE_DIR, ignore_errors=True)


def create_database(backend: str, purpose: str) -> str:
	"""A fresh, empty database (dropped first if a previous run left it); returns its URL."""
	global _SQLITE_DIR
	name = DB_PREFIX + purpose
	if backend == "sqlite":
		if _SQLITE_DIR is None:
			_SQLITE_DIR = tempfile.mkdtemp(prefix="ledger-bench-")
			atexit.register(_remove_sqlite_dir)
		path = Path(_SQLITE_DIR) / f"{name}.db"
		for suffix in ("", "-wal", "-shm"):
			Path(str(path) + suffix).unlink(missing_ok=True)
		return f"sqlite:///{path}"
	drop_database(backend, _with_database(_server(backend), name))
	charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if backend == "mariadb" else ""
	_admin(backend, raw_sql(backend, f"CREATE DATABASE `{name}`{charset}"))
	return _with_database(_server(backend), name)


def _admin(backend: str, *statements) -> None:
	"""Run ``statements`` (text, or (text, params)) on the server's admin connection."""
	conn = admin_connect(backend)
	try:
		for statement in statements:
			query, params = statement if isinstance(statement, tuple) else (statement, None)
			if backend == "mariadb":
				with conn.cursor() as cur:
					cur.execute(query, params)
			else:
				conn.execute(query, params)
	finally:
		conn.close()


def drop_database(backend: str, url: str) -> None:
	if backend == "sqlite":
		path = url.split("://", 1)[1][1:]
		for suffix in ("", "-wal", "-shm"):
			Path(path + suffix).unlink(missing_ok=True)
		return
	name = unquote(urlsplit(url).path.lstrip("/"))
	assert name.startswith(DB_PREFIX), name
	if backend == "mariadb":
		_admin(backend, f"DROP DATABASE IF EXISTS `{name}`")
		return
	others = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
	_admin(backend, (others, (name,)), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def bench_database(backend: str, purpose: str, keep: bool = False, pool_size: int = 8, overflow: int = 32):
	"""A fresh database with the schema; yields (url, pool).  Dropped afterwards unless ``keep``."""
	global _KEEP_SQLITE
	url = create_database(backend, purpose)
	if keep and backend == "sqlite":
		_KEEP_SQLITE = True
		log(f"keeping {url}")
	pool = ConnectionPool(url, size=pool_size, overflow=overflow)
	try:
		with pool.connection() as db:
			ensure_schema(db)
		yield url, pool
	finally:
		pool.dispose()
		if not keep:
			drop_database(backend, url)


def server_settings(backend: str) -> dict:
	"""The durability-relevant settings of the running server (for the report)."""
	if backend == "sqlite":
		import sqlite3

		return {"version": sqlite3.sqlite_version, "journal_mode": "WAL", "synchronous": "FULL"}
	conn = admin_connect(backend)
	try:
		if backend == "mariadb":
			names = ("version", "innodb_flush_log_at_trx_commit", "innodb_buffer_pool_size", "log_bin",
				"innodb_doublewrite", "tx_isolation")
			with conn.cursor() as cur:
				cur.execute("SELECT VERSION(), " + ", ".join(f"@@{n}" for n in names[1:]))
				return dict(zip(names[:-1] + ("isolation",), cur.fetchone()))
		names = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size",
			"default_transaction_isolation", "work_mem")
		row = conn.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names)).fetchone()
		return dict(zip(names, row))
	finally:
		conn.close()


# --- raw SQL helpers --------------------------------------------------------------------------


def raw_sql(dialect_name: str, query: str) -> str:
	"""Backtick / ``%s`` SQL for the raw DB-API driver of ``dialect_name``."""
	return {"postgres": query.replace("`", '"'), "sqlite": query.replace("%s", "?")}.get(dialect_name, query)


def raw_exec(db, query: str, params=None, fetch: bool = False):
	"""Run ``query`` (backticks, positional ``%s``) straight on the pooled DB-API connection of
	``db`` (a ``PooledDatabase``), bypassing the port.  Rows are dicts (the pool's row factories)."""
	name = db.dialect.name
	conn = db.connection
	query = raw_sql(name, query)
	if name == "sqlite":
		cur = conn.execute(query, params or ())
		return cur.fetchall() if fetch else cur.rowcount
	with contextlib.closing(conn.cursor()) as cur:
		cur.execute(query, params)
		return cur.fetchall() if fetch else cur.rowcount


def analyze(db) -> None:
	"""Refresh planner statistics after a bulk load (what an operator does after a big import)."""
	name = db.dialect.name
	for table in (POSTING, TRANSACTION, ACCOUNT):
		if name == "mariadb":
			raw_exec(db, f"ANALYZE TABLE {table}", fetch=True)
		elif name == "postgres":
			raw_exec(db, f"ANALYZE {table}")
	if name == "sqlite":
		raw_exec(db, "ANALYZE")


def posting_name_expr(db) -> str | None:
	"""How a raw INSERT names a Ledger Posting row: ``None`` when the database fills ``name`` itself
	(SQLite's AUTOINCREMENT, or a column DEFAULT on the sequence), else the sequence expression."""
	d = db.dialect.name
	if d == "sqlite":
		return None
	schema = "DATABASE()" if d == "mariadb" else "current_schema()"
	rows = raw_exec(db, f"SELECT column_default AS d FROM information_schema.columns WHERE table_schema = {schema}"
		" AND table_name = 'tabLedger Posting' AND column_name = 'name'", fetch=True)
	default = rows[0]["d"] if rows else None
	if default not in (None, "", "NULL"):
		return None
	return autoincrement_name_expr("Ledger Posting", d)


# --- the raw-SQL floor ------------------------------------------------------------------------


class Floor:
	"""The floor: the least work a database must do for one posting, the denominator of every
	engine / floor ratio.  The same rows and columns the engine writes (a constant ``payload_hash``,
	each posting's ``name`` from the doctype's sequence), straight on the pooled DB-API connection
	(``db.connection``): no port, no validation, no idempotency look-up.  One transaction of 6
	round trips::

		BEGIN                                            (SQLite: BEGIN IMMEDIATE)
		INSERT INTO `tabLedger Transaction` (... the engine's 16 columns ...) VALUES (...)
		SELECT `name`, `balance`, `posting_count`, `normal_side` FROM `tabLedger Account`
			WHERE `name` IN (...) ORDER BY `name` FOR UPDATE  (SQLite: no FOR UPDATE)
		INSERT INTO `tabLedger Posting` (... 14 columns ...) VALUES (...), (...)
			-- balance_after = locked balance + delta, account_seq = locked posting_count + 1
		UPDATE `tabLedger Account` SET `balance` = `balance` + CASE `name` WHEN .. THEN .. END,
			`posting_count` = `posting_count` + 1 WHERE `name` IN (...)
			-- like the engine, the derived balance columns leave `modified` alone
		COMMIT

	On SQLite the transaction is opened and ended through the port (``db.begin()`` / ``commit()``)
	so that in-process writers queue on the pool's writer lock as the engine's do."""

	def __init__(self, pool):
		self.dialect = pool.dialect
		self.sqlite = self.dialect.name == "sqlite"
		with pool.connection() as db:
			self.name_expr = posting_name_expr(db)
		self.insert_txn = raw_sql(
			self.dialect.name,
			f"INSERT INTO {TRANSACTION} (`name`, `creation`, `modified`, `owner`, `modified_by`, `docstatus`, `idx`,"
			" `transaction_type`, `posting_datetime`, `idempotency_key`, `remarks`, `reversal_of`, `party_type`,"
			" `party`, `payload_hash`, `key_scope`) VALUES (" + ", ".join(["%s"] * 16) + ")",
		)
		self._by_count: dict[int, tuple[str, str, str]] = {}
		self.retries = 0
		self.money = (lambda v: str(v.quantize(Decimal("0.01")))) if self.sqlite else (lambda v: v)

	def _statements(self, n: int) -> tuple[str, str, str]:
		"""The lock, postings INSERT and balance UPDATE for ``n`` accounts, built once."""
		if n not in self._by_count:
			d, names = self.dialect.name, ", ".join(["%s"] * n)
			row = "(" + (f"{self.name_expr}, " if self.name_expr else "") + ", ".join(["%s"] * 14) + ")"
			name_col = "`name`, " if self.name_expr else ""
			self._by_count[n] = (
				raw_sql(d, f"SELECT `name`, `balance`, `posting_count`, `normal_side` FROM {ACCOUNT}"
					f" WHERE `name` IN ({names}) ORDER BY `name`{self.dialect.for_update}"),
				raw_sql(d, f"INSERT INTO {POSTING} ({name_col}`creation`, `modified`, `owner`, `modified_by`,"
					" `docstatus`, `idx`, `parent`, `parentfield`, `parenttype`, `account`, `amount`, `balance_after`,"
					" `posting_datetime`, `account_seq`) VALUES " + ", ".join([row] * n)),
				raw_sql(d, f"UPDATE {ACCOUNT} SET `balance` = "
					+ self.dialect.money_add("`balance`", "CASE `name` " + "WHEN %s THEN %s " * n + "END")
					+ f", `posting_count` = `posting_count` + 1 WHERE `name` IN ({names})"),
			)
		return self._by_count[n]

	def post(self, db, key: str, legs, *, accounts=None, transaction_type="Journal", key_scope="Journal",
			owner="Administrator", remarks=None, party_type=None, party=None) -> dict:
		"""One posting.  ``legs``: {account: signed amount}, or a function of the locked rows (by
		account name) that returns them, then over ``accounts``.  Returns the legs posted."""
		lock, insert_postings, update = self._statements(len(accounts or legs))
		accounts = sorted(accounts or legs)
		conn = db.connection
		cur = None if self.sqlite else conn.cursor()

		def run(query, params=(), fetch=False):
			if cur is None:
				result = conn.execute(query, params)
				return result.fetchall() if fetch else result.rowcount
			cur.execute(query, params or None)
			return cur.fetchall() if fetch else cur.rowcount

		now, name = clock.now(), ledger_rows.new_name()
		try:
			db.begin() if self.sqlite else run("BEGIN")
			try:
				run(self.insert_txn, (name, now, now, owner, owner, 1, 0, transaction_type, now, key, remarks, None,
					party_type, party, FIXED_HASH, key_scope))
				rows = {r["name"]: r for r in run(lock, accounts, True)}
				if callable(legs):
					legs = legs(rows)
				params, deltas = [], []
				for idx, account in enumerate(accounts, start=1):
					r = rows[account]
					delta = legs[account] if r["normal_side"] == "Debit" else -legs[account]
					after = Decimal(str(r["balance"])) + delta
					params += [now, now, owner, owner, 1, idx, name, "postings", "Ledger Transaction", account,
						self.money(legs[account]), self.money(after), now, int(r["posting_count"]) + 1]
					deltas += [account, self.money(delta)]
				run(insert_postings, params)
				run(update, deltas + accounts)
				db.commit() if self.sqlite else run("COMMIT")
			except BaseException:
				with contextlib.suppress(Exception):  # the connection may be gone; the first error matters
					db.rollback() if self.sqlite else run("ROLLBACK")
				raise
		finally:
			if cur is not None:
				cur.close()
		return legs

	def post_retrying(self, db, key: str, legs, **header) -> dict:
		"""``post``, retried on a deadlock or lock timeout as the port retries the engine's units
		(counted in ``retries``)."""
		for attempt in range(10):
			try:
				return self.post(db, key, legs, **header)
			except Exception as exc:  # a rolled-back attempt left nothing behind: the same key again
				retryable = isinstance(exc, RetryableDatabaseError) or isinstance(
					db.dialect.classify(exc), RetryableDatabaseError)
				if not retryable or attempt == 9:
					raise
				self.retries += 1
				time.sleep(random.uniform(0, 0.01 * (2**attempt)))
		raise AssertionError("unreachable")


# --- accounts ---------------------------------------------------------------------------------


def account_row(name: str, root_type: str, balance: Decimal, posting_count: int, now: datetime) -> dict:
	"""A Ledger Account row exactly as ``accounts.create_account`` writes it, with a starting
	balance/posting_count for bulk-loaded history."""
	normal_side = "Debit" if root_type in ("Asset", "Expense") else "Credit"
	return {"name": name, **ledger_rows.standard_columns(now, "Administrator"), "account_name": name,
		"root_type": root_type, "normal_side": normal_side, "account_type": None, "party_type": None, "party": None,
		"currency": "KES", "balance": str(balance), "frozen": 0, "allow_negative_balance": 1,
		"posting_count": posting_count}


def insert_accounts(pool, rows: list[dict], chunk: int = 500) -> None:
	with pool.connection() as db, db.transaction():
		for i in range(0, len(rows), chunk):
			ledger_rows.insert_many(db, "Ledger Account", rows[i : i + chunk])


# --- bulk history -----------------------------------------------------------------------------


def pair_names(prefix: str, p: int) -> tuple[str, str]:
	"""The two accounts of pair ``p``: an Asset (debited) and a Liability (credited)."""
	return f"{prefix}{p:05d}-A", f"{prefix}{p:05d}-L"


def pair_cents(p: int) -> int:
	"""The amount (in cents) every bulk journal of pair ``p`` moves: 1.00 .. 1.99."""
	return 100 + p % 100


def _series(dialect: str, count: int) -> tuple[str, str]:
	"""(WITH prefix, FROM clause) producing integers g = 0 .. count-1."""
	if dialect == "postgres":
		return "", f"generate_series(0, {count - 1}) AS t(g)"
	if dialect == "mariadb":
		return "", f"(SELECT seq AS g FROM seq_0_to_{count - 1}) AS t"
	return f"WITH RECURSIVE t(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM t WHERE g < {count - 1}) ", "t"


def _money(dialect: str, cents_expr: str) -> str:
	"""An exact money value from an integer cents expression."""
	e = f"({cents_expr})"
	return {"postgres": f"({e}::numeric / 100)", "mariadb": f"({e} / 100)"}.get(
		dialect, f"(CASE WHEN {e} < 0 THEN '-' ELSE '' END || printf('%d.%02d', abs({e}) / 100, abs({e}) % 100))")


def _concat(dialect: str, *parts: str) -> str:
	if dialect == "mariadb":
		return f"CONCAT({', '.join(parts)})"
	return "(" + " || ".join(parts) + ")"


def _lpad5(dialect: str, expr: str) -> str:
	return {"postgres": f"lpad(({expr})::text, 5, '0')", "mariadb": f"LPAD({expr}, 5, '0')"}.get(
		dialect, f"printf('%05d', {expr})")


def _idiv(dialect: str, a: str, b: str) -> str:
	return f"(({a}) DIV ({b}))" if dialect == "mariadb" else f"(({a}) / ({b}))"


def _datetime(dialect: str, seconds_expr: str) -> str:
	return {"postgres": f"(TIMESTAMP '{BASE_TIME}' + ({seconds_expr}) * INTERVAL '1 second')",
		"mariadb": f"(TIMESTAMP '{BASE_TIME}' + INTERVAL ({seconds_expr}) SECOND)"}.get(
		dialect, f"strftime('%Y-%m-%d %H:%M:%S.000000', '{BASE_TIME}', '+' || ({seconds_expr}) || ' seconds')")


def _reserve_posting_names(db, count: int) -> int:
	"""First of ``count`` consecutive ``name`` values for Ledger Posting rows, with the table's
	sequence moved past them so later engine inserts never collide."""
	d = db.dialect.name
	if d == "sqlite":
		top = raw_exec(db, f"SELECT COALESCE(MAX(`name`), 0) AS m FROM {POSTING}", fetch=True)[0]["m"]
		return int(top) + 1  # AUTOINCREMENT moves sqlite_sequence past explicit names itself
	seq = sequence_name("Ledger Posting")
	expr = autoincrement_name_expr("Ledger Posting", d)
	first = int(raw_exec(db, f"SELECT {expr} AS v", fetch=True)[0]["v"])
	setval = f"setval('{seq}', {first + count})" if d == "postgres" else f"SETVAL(`{seq}`, {first + count})"
	raw_exec(db, f"SELECT {setval}", fetch=True)
	return first + 1


def bulk_history(pool, prefix: str, pairs: int, seq_from: int, seq_to: int, *, headers: bool = True,
		chunk: int = 200_000, tag: str | None = None, quiet: bool = False) -> float:
	"""Load journals ``seq_from..seq_to`` (inclusive) on each of ``pairs`` account pairs with set-based
	INSERT ... SELECT from a generated series.  Journal (p, s) debits ``A_p`` and credits ``L_p`` by
	``pair_cents(p)``; both postings carry ``account_seq = s`` and ``balance_after = s * cents`` (on the
	account's normal side, as the engine writes it).  The accounts must exist and hold the balance and
	posting_count of seq ``seq_from - 1``; ``set_pair_caches`` moves them afterwards.

	Returns seconds spent.  ``headers=False`` skips the Ledger Transaction rows (reconcile never reads
	them)."""
	started = time.perf_counter()
	per_pair = seq_to - seq_from + 1
	total = pairs * per_pair
	tag = tag or f"{prefix}{seq_from}-"
	with pool.connection() as db:
		d = db.dialect.name
		name_base = _reserve_posting_names(db, 2 * total)
		for offset in range(0, total, chunk):
			n = min(chunk, total - offset)
			with_clause, source = _series(d, n)
			g = f"(g + {offset})"
			p = f"({g} % {pairs})"
			s = f"({seq_from} + {_idiv(d, g, str(pairs))})"
			cents = f"(100 + {p} % 100)"
			parent = _concat(d, f"'{tag}'", f"{g}")
			key = _concat(d, "'bulk-'", parent)
			when = _datetime(d, g)
			std = f"'{BASE_TIME}', '{BASE_TIME}', 'Administrator', 'Administrator', 1"
			with db.transaction():
				if headers:
					raw_exec(db, f"{with_clause}INSERT INTO {TRANSACTION} (`name`, `creation`, `modified`, `owner`, `modified_by`,"
						f" `docstatus`, `idx`, `transaction_type`, `posting_datetime`, `idempotency_key`, `payload_hash`, `key_scope`)"
						f" SELECT {parent}, {std}, 0, 'Journal', {when}, {key}, '{FIXED_HASH}', 'Journal'"
						f" FROM {source}")
				for leg, (suffix, sign) in enumerate((("-A", ""), ("-L", "-")), start=1):
					account = _concat(d, f"'{prefix}'", _lpad5(d, p), f"'{suffix}'")
					raw_exec(db, f"{with_clause}INSERT INTO {POSTING} (`name`, `creation`, `modified`, `owner`, `modified_by`,"
						f" `docstatus`, `idx`, `parent`, `parentfield`, `parenttype`, `account`, `amount`,"
						f" `balance_after`, `posting_datetime`, `account_seq`)"
						f" SELECT {name_base + 2 * offset + leg - 1} + 2 * g, {std}, {leg}, {parent}, 'postings',"
						f" 'Ledger Transaction', {account}, {_money(d, f'{sign}{cents}')}, {_money(d, f'{s} * {cents}')},"
						f" {when}, {s} FROM {source}")
			if not quiet:
				log(f"  loaded {offset + n:,}/{total:,} journals ({2 * (offset + n):,} postings) in"
					f" {time.perf_counter() - started:.1f} s")
		set_pair_caches(db, prefix, pairs, seq_to)
		analyze(db)
	return time.perf_counter() - started


def set_pair_caches(db, prefix: str, pairs: int, seq: int) -> None:
	"""Cached balance = seq * cents and posting_count = seq on every account of the pairs."""
	params = []
	for p in range(pairs):
		a, l = pair_names(prefix, p)
		bal = str(Decimal(seq * pair_cents(p)) / 100)
		params += [(bal, seq, a), (bal, seq, l)]
	q = raw_sql(db.dialect.name, f"UPDATE {ACCOUNT} SET `balance` = %s, `posting_count` = %s WHERE `name` = %s")
	with db.transaction():
		if db.dialect.name == "sqlite":
			db.connection.executemany(q, params)
			return
		with contextlib.closing(db.connection.cursor()) as cur:
			for i in range(0, len(params), 1000):
				cur.executemany(q, params[i : i + 1000])


def pair_accounts(prefix: str, pairs: int, seq: int = 0) -> list[dict]:
	now = clock.now()
	out = []
	for p in range(pairs):
		a, l = pair_names(prefix, p)
		bal = Decimal(seq * pair_cents(p)) / 100
		out += [account_row(a, "Asset", bal, seq, now), account_row(l, "Liability", bal, seq, now)]
	return out


# --- statistics & output ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
	if not values:
		return float("nan")
	values = sorted(values)
	k = (len(values) - 1) * q
	lo = int(k)
	hi = min(lo + 1, len(values) - 1)
	return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values):
	return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list]) -> str:
	out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
	for row in rows:
		out.append("| " + " | ".join(str(c) for c in row) + " |")
	return "\n".join(out)


def fmt_rate(x: float) -> str:
	return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
	return f"{x * 1000:.2f}"


def rate_range(x: dict) -> str:
	"""The lowest and highest rate over a variant's rounds."""
	return f"{min(x['rates']):,.0f}-{max(x['rates']):,.0f}"


def latency(x: dict, sep: str = " / ") -> str:
	return f"{fmt_ms(x['p50'])}{sep}{fmt_ms(x['p99'])}"


# --- statement timing -------------------------------------------------------------------------


def _timed(record, query, call):
	w0, c0 = time.perf_counter(), time.thread_time()
	try:
		return call()
	finally:
		record(query, w0, time.perf_counter(), c0, time.thread_time())


class _TimedCursor:
	def __init__(self, inner, record):
		self._inner, self._record = inner, record

	def execute(self, query, params=None):
		return _timed(self._record, query, lambda: self._inner.execute(query, params))

	def __getattr__(self, name):
		return getattr(self._inner, name)


class TimedConnection:
	"""Stands in for a pooled database's DB-API connection (``db.connection``) and reports every
	statement run on it, by the port or by the floor: ``record(query, wall0, wall1, cpu0, cpu1)``
	(``time.perf_counter`` and this thread's ``time.thread_time``)."""

	def __init__(self, inner, record):
		self._inner, self._record = inner, record

	def execute(self, query, *params):  # sqlite3's connection runs statements itself
		return _timed(self._record, query, lambda: self._inner.execute(query, *params))

	def cursor(self):
		return _TimedCursor(self._inner.cursor(), self._record)

	def __getattr__(self, name):
		return getattr(self._inner, name)


@contextmanager
def timed_statements(db, record):
	"""Every statement run on ``db`` (a pooled database) reported to ``record`` while inside.  A
	``db.begin()`` is reported as one ``BEGIN`` from its call on, so on SQLite it includes the wait
	for the pool's writer lock."""
	inner, begin, in_begin = db.connection, db.begin, [False]

	def report(query, *times):
		if not in_begin[0]:
			record(query, *times)

	def timed_begin():
		in_begin[0] = True
		try:
			_timed(record, "BEGIN", begin)
		finally:
			in_begin[0] = False

	db.connection, db.begin = TimedConnection(inner, report), timed_begin
	try:
		yield db
	finally:
		db.connection = inner
		del db.begin


def statement_kind(query: str) -> str:
	"""A short label for a statement of a posting or a C2B confirmation (backticks or double quotes)."""
	q = query.lstrip().replace('"', "`")
	verb = q.split(None, 1)[0].upper() if q else "?"
	if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
		return verb
	if "Ledger Account" in q:
		if verb == "SELECT" and ("`posting_count`, `normal_side`" in q or "`posting_count`, a.`normal_side`" in q):
			return "lock accounts (SELECT .. FOR UPDATE)"  # SQLite: no FOR UPDATE (BEGIN IMMEDIATE locked)
		return "UPDATE balances" if verb == "UPDATE" else "other account read"
	for table, insert, other in (("Ledger Posting", "INSERT postings", "last-posting read"),
			("Ledger Transaction", "INSERT header", "find_by_key"), ("Callback Log", "Callback Log INSERT",
			"Callback Log UPDATE"), ("Vehicle", None, "match_account (Fleet Vehicle)"),
			("tabFleet Driver", None, "get_driver"), ("Singles", None, "get_settings")):
		if table in q:
			return insert if verb == "INSERT" and insert else other
	return "other"


# --- timed clients ----------------------------------------------------------------------------


def timed_clients(threads: int, warmup: float, seconds: float, client, meters: dict | None = None) -> dict:
	"""``threads`` clients (threads) working for ``warmup`` + ``seconds``.  Each enters ``client(i)``,
	a context manager yielding ``step(rng, n)`` that does one unit of work (a value it returns is kept
	as that unit's sample), and calls it until stopped.  Units finishing inside the measured window
	count.  ``meters``: name -> a function read at the start and the end of the window (CPU
	counters); the differences are returned under those names."""
	stop, barrier, tag = threading.Event(), threading.Barrier(threads + 1), uuid.uuid4().hex[:8]
	finished: list[list[tuple]] = [[] for _ in range(threads)]
	errors: list[str] = []

	def worker(i: int) -> None:
		rng, out = random.Random(f"{tag}-{i}"), finished[i]
		try:
			with client(i) as step:
				barrier.wait()
				n = 0
				while not stop.is_set():
					n += 1
					t = time.perf_counter()
					try:
						sample = step(rng, n)
					except Exception as exc:  # noqa: BLE001 - recorded and reported, the run goes on
						errors.append(f"{type(exc).__name__}: {exc}"[:300])
						if len(errors) > 50:
							stop.set()
						continue
					e = time.perf_counter()
					out.append((e, e - t, sample))
		except threading.BrokenBarrierError:
			pass
		except Exception as exc:  # noqa: BLE001 - a client that could not start: the run is void
			errors.append(f"{type(exc).__name__}: {exc}"[:300])
			barrier.abort()

	workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
	for w in workers:
		w.start()
	try:
		barrier.wait()
	except threading.BrokenBarrierError:
		raise RuntimeError(f"a client did not start: {errors[:1]}") from None
	meters = meters or {}
	t0 = time.perf_counter()
	time.sleep(warmup)
	start = {k: read() for k, read in meters.items()}
	time.sleep(seconds)
	end = {k: read() for k, read in meters.items()}
	stop.set()
	for w in workers:
		w.join(timeout=120)
	lo, hi = t0 + warmup, t0 + warmup + seconds
	done = [(d, sample) for per in finished for (e, d, sample) in per if lo <= e < hi]
	return {
		"count": len(done),
		"seconds": seconds,
		"latencies": [d for d, _ in done],
		"samples": [x for _, x in done if x is not None],
		"errors": errors,
		**{k: end[k] - start[k] for k in meters},
	}


def alternating(variants, rounds: int):
	"""(round, variant, first run of it) in the order the variants take turns: ABC, CBA, ABC, ...,
	so that drift and bursts of other load on a shared machine hit every variant alike."""
	seen = set()
	for rnd in range(rounds):
		for variant in variants if rnd % 2 == 0 else variants[::-1]:
			yield rnd, variant, variant not in seen
			seen.add(variant)


def summary(results: list[dict], counters=("client_cpu",)) -> dict:
	"""A variant's runs in one scenario together: rate, the rate of each round, p50/p99 latency,
	errors and retries, and each CPU counter in ms per unit (``<counter>_ms``)."""
	count = sum(r["count"] for r in results)
	secs = sum(r["seconds"] for r in results)
	lat = [x for r in results for x in r["latencies"]]
	out = {
		"rate": count / secs if secs else 0.0,
		"rates": [r["count"] / r["seconds"] for r in results],
		"p50": percentile(lat, 0.5),
		"p99": percentile(lat, 0.99),
		"errors": sum(len(r["errors"]) for r in results),
		"retries": sum(r.get("retries", 0) for r in results),
		"first_errors": [e for r in results for e in r["errors"]][:3],
	}
	for counter in counters:
		out[f"{counter}_ms"] = sum(r[counter] for r in results) / max(1, count) * 1000
	return out


def run_args(parser, seconds: float, rounds: int, warmup: float = 1.0) -> None:
	"""The options every throughput benchmark takes."""
	parser.add_argument("--backend", default="all", help="sqlite|mariadb|postgres|all (or a comma list)")
	parser.add_argument("--seconds", type=float, default=seconds, help="measured seconds per variant and scenario")
	parser.add_argument("--rounds", type=int, default=rounds, help="alternating rounds per scenario (seconds split over them)")
	parser.add_argument("--warmup", type=float, default=warmup, help="unmeasured seconds at the start of a variant's first run")
	parser.add_argument("--threads", default="1,16")
	parser.add_argument("--layouts", default="hot,spread")
	parser.add_argument("--quick", action="store_true", help="smoke check: short runs, small data")
	parser.add_argument("--json", help="write the results here as JSON")
	parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")


# --- server processes -------------------------------------------------------------------------


@contextmanager
def server_process(cmd: list[str], ready, name: str, cwd=None, env=None, start_timeout: float = 90):
	"""``cmd`` as a process whose output goes to a log file, until ``ready(log text)`` holds; yields
	(pid, log path).  Stopped with SIGTERM (graceful: requests in flight finish), killed after 60 s."""
	fd, log_path = tempfile.mkstemp(prefix=f"ledger-bench-{name}-", suffix=".log")
	with os.fdopen(fd, "w+") as log:
		process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
		try:
			deadline = time.monotonic() + start_timeout
			while not ready(Path(log_path).read_text()):
				if process.poll() is not None or time.monotonic() > deadline:
					process.kill()
					raise RuntimeError(f"{name} did not start: {Path(log_path).read_text()[-3000:]}")
				time.sleep(0.1)
			yield process.pid, log_path
		finally:
			process.send_signal(signal.SIGTERM)
			try:
				process.wait(timeout=60)
			except subprocess.TimeoutExpired:
				process.kill()
				process.wait()
			Path(log_path).unlink(missing_ok=True)


def log_errors(path: str) -> list[str]:
	"""The first lines of a server's log that tell of an error."""
	text = Path(path).read_text() if Path(path).exists() else ""
	return [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line][:5]
