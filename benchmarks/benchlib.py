"""Shared plumbing for the benchmarks: databases, schema, accounts, bulk loads, timing, tables.

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
import os
import shutil
import statistics
import sys
import tempfile
import time
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


def _admin_connect(backend: str):
	parts = urlsplit(_server(backend))
	if backend == "mariadb":
		import pymysql

		return pymysql.connect(
			host=parts.hostname,
			port=parts.port or 3306,
			user=unquote(parts.username or "root"),
			password=unquote(parts.password or ""),
			autocommit=True,
			connect_timeout=10,
		)
	import psycopg

	return psycopg.connect(
		host=parts.hostname,
		port=parts.port or 5432,
		user=unquote(parts.username or "postgres"),
		password=unquote(parts.password or "") or None,
		dbname="postgres",
		autocommit=True,
		connect_timeout=10,
	)


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
	conn = _admin_connect(backend)
	try:
		if backend == "mariadb":
			with conn.cursor() as cur:
				cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
		else:
			conn.execute(f'CREATE DATABASE "{name}"')
	finally:
		conn.close()
	return _with_database(_server(backend), name)


def drop_database(backend: str, url: str) -> None:
	if backend == "sqlite":
		path = url.split("://", 1)[1][1:]
		for suffix in ("", "-wal", "-shm"):
			Path(path + suffix).unlink(missing_ok=True)
		return
	name = unquote(urlsplit(url).path.lstrip("/"))
	assert name.startswith(DB_PREFIX), name
	conn = _admin_connect(backend)
	try:
		if backend == "mariadb":
			with conn.cursor() as cur:
				cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
		else:
			conn.execute(
				"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
				(name,),
			)
			conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
	finally:
		conn.close()


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
	conn = _admin_connect(backend)
	try:
		if backend == "mariadb":
			with conn.cursor() as cur:
				cur.execute(
					"SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_buffer_pool_size,"
					" @@log_bin, @@innodb_doublewrite, @@tx_isolation"
				)
				v = cur.fetchone()
			return {
				"version": v[0],
				"innodb_flush_log_at_trx_commit": v[1],
				"innodb_buffer_pool_size": v[2],
				"log_bin": v[3],
				"innodb_doublewrite": v[4],
				"isolation": v[5],
			}
		names = (
			"server_version",
			"fsync",
			"synchronous_commit",
			"full_page_writes",
			"shared_buffers",
			"max_wal_size",
			"default_transaction_isolation",
			"work_mem",
		)
		row = conn.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names)).fetchone()
		return dict(zip(names, row))
	finally:
		conn.close()


# --- raw SQL helpers --------------------------------------------------------------------------


def raw_sql(dialect_name: str, query: str) -> str:
	"""Backtick / ``%s`` SQL for the raw DB-API driver of ``dialect_name``."""
	if dialect_name == "postgres":
		return query.replace("`", '"')
	if dialect_name == "sqlite":
		return query.replace("%s", "?")
	return query


def raw_exec(db, query: str, params=None, fetch: bool = False):
	"""Run ``query`` (backticks, positional ``%s``) straight on the pooled DB-API connection of
	``db`` (a ``PooledDatabase``), bypassing the port.  Rows are dicts (the pool's row factories)."""
	name = db.dialect.name
	conn = db.connection
	query = raw_sql(name, query)
	if name == "sqlite":
		cur = conn.execute(query, params or ())
		return cur.fetchall() if fetch else cur.rowcount
	cur = conn.cursor()
	try:
		cur.execute(query, params)
		if fetch:
			return cur.fetchall()
		return cur.rowcount
	finally:
		cur.close()


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
	rows = raw_exec(
		db,
		"SELECT column_default AS d FROM information_schema.columns WHERE table_schema = "
		f"{schema} AND table_name = 'tabLedger Posting' AND column_name = 'name'",
		fetch=True,
	)
	default = rows[0]["d"] if rows else None
	if default not in (None, "", "NULL"):
		return None
	return autoincrement_name_expr("Ledger Posting", d)


def drop_posting_indexes(pool, specs: list[str]) -> list[str]:
	"""Experiment only: drop the non-unique Ledger Posting indexes whose columns are exactly one of
	``specs`` ("account", "account+name", ...).  Returns the names dropped."""
	from ledger_app.db import catalog

	wanted = {tuple(spec.split("+")) for spec in specs if spec}
	dropped = []
	with pool.connection() as db:
		for index in catalog.indexes(db, "tabLedger Posting"):
			if index.unique or tuple(index.columns) not in wanted:
				continue
			if db.dialect.name == "mariadb":
				raw_exec(db, f"ALTER TABLE {POSTING} DROP INDEX `{index.name}`")
			else:
				raw_exec(db, f"DROP INDEX `{index.name}`")
			dropped.append(index.name)
	return dropped


# --- accounts ---------------------------------------------------------------------------------


def account_row(
	name: str,
	root_type: str,
	balance: Decimal = Decimal(0),
	posting_count: int = 0,
	allow_negative: bool = True,
	now: datetime | None = None,
	with_count: bool = True,
) -> dict:
	"""A Ledger Account row exactly as ``accounts.create_account`` writes it (plus a starting
	balance/posting_count for bulk-loaded history)."""
	now = now or clock.now()
	row = {
		"name": name,
		**ledger_rows.standard_columns(now, "Administrator"),
		"account_name": name,
		"root_type": root_type,
		"normal_side": "Debit" if root_type in ("Asset", "Expense") else "Credit",
		"account_type": None,
		"party_type": None,
		"party": None,
		"currency": "KES",
		"balance": str(balance),
		"frozen": 0,
		"allow_negative_balance": 1 if allow_negative else 0,
	}
	if with_count:
		row["posting_count"] = posting_count
	return row


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
	if dialect == "postgres":
		return f"(({cents_expr})::numeric / 100)"
	if dialect == "mariadb":
		return f"(({cents_expr}) / 100)"
	e = f"({cents_expr})"
	return f"(CASE WHEN {e} < 0 THEN '-' ELSE '' END || printf('%d.%02d', abs({e}) / 100, abs({e}) % 100))"


def _concat(dialect: str, *parts: str) -> str:
	if dialect == "mariadb":
		return f"CONCAT({', '.join(parts)})"
	return "(" + " || ".join(parts) + ")"


def _lpad5(dialect: str, expr: str) -> str:
	if dialect == "postgres":
		return f"lpad(({expr})::text, 5, '0')"
	if dialect == "mariadb":
		return f"LPAD({expr}, 5, '0')"
	return f"printf('%05d', {expr})"


def _idiv(dialect: str, a: str, b: str) -> str:
	return f"(({a}) DIV ({b}))" if dialect == "mariadb" else f"(({a}) / ({b}))"


def _datetime(dialect: str, seconds_expr: str) -> str:
	if dialect == "postgres":
		return f"(TIMESTAMP '{BASE_TIME}' + ({seconds_expr}) * INTERVAL '1 second')"
	if dialect == "mariadb":
		return f"(TIMESTAMP '{BASE_TIME}' + INTERVAL ({seconds_expr}) SECOND)"
	return f"strftime('%Y-%m-%d %H:%M:%S.000000', '{BASE_TIME}', '+' || ({seconds_expr}) || ' seconds')"


def _reserve_posting_names(db, count: int) -> int:
	"""First of ``count`` consecutive ``name`` values for Ledger Posting rows, with the table's
	sequence moved past them so later engine inserts never collide."""
	d = db.dialect.name
	if d == "sqlite":
		top = raw_exec(db, f"SELECT COALESCE(MAX(`name`), 0) AS m FROM {POSTING}", fetch=True)[0]["m"]
		return int(top) + 1  # AUTOINCREMENT moves sqlite_sequence past explicit names itself
	seq = sequence_name("Ledger Posting")
	expr = autoincrement_name_expr("Ledger Posting", d)
	first = raw_exec(db, f"SELECT {expr} AS v", fetch=True)[0]["v"]
	last = int(first) + count
	if d == "postgres":
		raw_exec(db, f"SELECT setval('{seq}', {last})", fetch=True)
	else:
		raw_exec(db, f"SELECT SETVAL(`{seq}`, {last})", fetch=True)
	return int(first) + 1


def bulk_history(
	pool,
	prefix: str,
	pairs: int,
	seq_from: int,
	seq_to: int,
	*,
	headers: bool = True,
	chunk: int = 200_000,
	tag: str | None = None,
	quiet: bool = False,
) -> float:
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
					raw_exec(
						db,
						f"{with_clause}INSERT INTO {TRANSACTION} (`name`, `creation`, `modified`, `owner`, `modified_by`,"
						f" `docstatus`, `idx`, `transaction_type`, `posting_datetime`, `idempotency_key`, `payload_hash`, `key_scope`)"
						f" SELECT {parent}, {std}, 0, 'Journal', {when}, {key}, '{FIXED_HASH}', 'Journal'"
						f" FROM {source}",
					)
				for leg, (suffix, sign) in enumerate((("-A", ""), ("-L", "-")), start=1):
					account = _concat(d, f"'{prefix}'", _lpad5(d, p), f"'{suffix}'")
					raw_exec(
						db,
						f"{with_clause}INSERT INTO {POSTING} (`name`, `creation`, `modified`, `owner`, `modified_by`,"
						f" `docstatus`, `idx`, `parent`, `parentfield`, `parenttype`, `account`, `amount`,"
						f" `balance_after`, `posting_datetime`, `account_seq`)"
						f" SELECT {name_base + 2 * offset + leg - 1} + 2 * g, {std}, {leg}, {parent}, 'postings',"
						f" 'Ledger Transaction', {account}, {_money(d, f'{sign}{cents}')}, {_money(d, f'{s} * {cents}')},"
						f" {when}, {s} FROM {source}",
					)
			if not quiet:
				log(
					f"  loaded {offset + n:,}/{total:,} journals ({2 * (offset + n):,} postings) in"
					f" {time.perf_counter() - started:.1f} s"
				)
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
	q = raw_sql(
		db.dialect.name, f"UPDATE {ACCOUNT} SET `balance` = %s, `posting_count` = %s WHERE `name` = %s"
	)
	with db.transaction():
		if db.dialect.name == "sqlite":
			db.connection.executemany(q, params)
		else:
			cur = db.connection.cursor()
			try:
				for i in range(0, len(params), 1000):
					cur.executemany(q, params[i : i + 1000])
			finally:
				cur.close()


def pair_accounts(prefix: str, pairs: int, seq: int = 0) -> list[dict]:
	now = clock.now()
	out = []
	for p in range(pairs):
		a, l = pair_names(prefix, p)
		bal = Decimal(seq * pair_cents(p)) / 100
		out.append(account_row(a, "Asset", bal, seq, now=now))
		out.append(account_row(l, "Liability", bal, seq, now=now))
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
