"""What differs between MariaDB, PostgreSQL and SQLite, in one place.

Queries are written once, MariaDB-style: backtick identifiers and ``%(name)s`` parameters (Frappe's
own convention).  ``Dialect.translate`` rewrites them for the driver; the helpers below produce the
few expressions that cannot be written portably (locking clauses, money arithmetic on SQLite, text
casts that keep money out of floats).  Driver errors are classified here too.

Money on SQLite: SQLite has no decimal type, so money columns are TEXT and arithmetic on them goes
through exact functions registered on every connection (``ledger_money_add``) or through integer
cents (sums).  MariaDB and PostgreSQL do exact decimal arithmetic themselves.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from ledger_app.db.rows import doctype_names
from ledger_app.engine.errors import DatabaseUnavailable, RetryableDatabaseError, UniqueViolation

_PARAM = re.compile(r"%\((\w+)\)s")
_QUOTED = re.compile(r"`([^`]*)`")

#: MariaDB client/server error codes that mean the server cannot be reached or the connection is gone:
#: can't connect (2002, 2003), server gone away (2006), lost connection / read timeout (2013),
#: lost at handshake (2055, 2026), server shutting down (1053), statement or connection killed
#: (1317, 1927: a server shutting down kills them), idle connection closed by the server (4031)
_MYSQL_UNAVAILABLE = frozenset({2002, 2003, 2006, 2013, 2026, 2055, 1053, 1317, 1927, 4031})


class Dialect:
	name = "base"
	for_update = " FOR UPDATE"
	skip_locked = " SKIP LOCKED"
	#: clause for a read that must see the latest committed row even under REPEATABLE READ
	locking_read = ""
	supports_returning = False
	#: whether rows joined into a ``FOR UPDATE`` select are read as of the lock (MariaDB: every row
	#: of a locking select is a locking read; SQLite: one writer).  PostgreSQL re-checks only the
	#: locked table's row after a lock wait, so a joined row can be from before the wait there.
	joined_rows_fresh_under_lock = True
	#: statement that starts a read-only transaction with one consistent snapshot
	snapshot_begin = "START TRANSACTION WITH CONSISTENT SNAPSHOT"
	#: statement holding a lock on the name ``%(lock)s`` until the transaction ends, for writers of
	#: something with no row they could lock first; None where locking the rows' index range does
	#: (MariaDB's next-key locks under REPEATABLE READ; SQLite's single writer)
	name_lock: str | None = None
	#: index hint after a table name that makes a statement read (and lock) rows only by primary key
	primary_key_only = ""

	def for_update_of(self, alias: str) -> str:
		"""The locking clause of a select that joins other tables and locks only ``alias``'s rows."""
		return self.for_update

	def insert_or_skip(self, insert_sql: str, key_columns: tuple[str, ...]) -> str:
		"""``insert_sql`` made to insert nothing (rowcount 0) when the unique key over ``key_columns``
		already holds the values, instead of failing; no ``key_columns``: when any unique key of the row
		does.  (MariaDB's form always skips on any unique key of the row.)"""
		column = key_columns[0] if key_columns else "name"
		return f"{insert_sql} ON DUPLICATE KEY UPDATE `{column}` = `{column}`"

	def translate(self, query: str) -> str:
		return query

	def same(self, a: str, b: str) -> str:
		"""SQL that is true when ``a`` equals ``b``, NULL counting as equal to NULL."""
		return f"{a} <=> {b}"

	def money(self, expr: str) -> str:
		"""``expr`` as text, so money never passes through a float on any driver."""
		return f"CAST({expr} AS CHAR)"

	def money_add(self, column: str, expr: str) -> str:
		"""SQL for ``column + expr`` done exactly (``expr`` is an SQL expression, e.g. a parameter)."""
		return f"{column} + {expr}"

	def money_sum(self, expr: str) -> str:
		"""Exact sum of a money expression, as text ('0' when there are no rows)."""
		return self.money(f"COALESCE(SUM({expr}), 0)")

	def money_key(self, expr: str) -> str:
		"""A value of ``expr`` that compares exactly in SQL (cents on SQLite)."""
		return expr

	def money_sum_key(self, expr: str) -> str:
		"""Exact sum usable in SQL comparisons against ``money_key`` values."""
		return f"COALESCE(SUM({expr}), 0)"

	def classify(self, exc: BaseException) -> BaseException | None:
		"""Our error for a driver error (unique violation, retryable), or None to re-raise as is."""
		return None


class MariaDB(Dialect):
	name = "mariadb"
	#: an UPDATE of a few accounts by ``name IN (...)`` is planned as a full scan when they are many
	#: of the table's rows, and InnoDB then locks every row it scans, outside the list too: two posts
	#: over interleaved sets of accounts deadlock (tests/test_money_races.py).  Forced to the primary
	#: key it is a range read that locks only the listed rows.
	primary_key_only = " FORCE INDEX (PRIMARY)"
	locking_read = " LOCK IN SHARE MODE"

	def classify(self, exc):
		code = _mysql_code(exc)
		if code == 1062:
			return UniqueViolation(str(exc), _mysql_unique_key(exc))
		if code in (1213, 1205, 1020):  # deadlock, lock wait timeout, record changed
			return RetryableDatabaseError(str(exc))
		if code in _MYSQL_UNAVAILABLE or _driver_class(exc, "pymysql", "InterfaceError") or isinstance(exc, OSError):
			return DatabaseUnavailable(str(exc) or type(exc).__name__)
		return None


class Postgres(Dialect):
	name = "postgres"
	supports_returning = True
	joined_rows_fresh_under_lock = False
	snapshot_begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	name_lock = "SELECT pg_advisory_xact_lock(hashtext(%(lock)s))"

	def for_update_of(self, alias):
		return f" FOR UPDATE OF {alias}"

	def insert_or_skip(self, insert_sql, key_columns):
		return _on_conflict_do_nothing(insert_sql, key_columns)

	def translate(self, query):
		return _pg_translate(query)

	def same(self, a, b):
		return f"{a} IS NOT DISTINCT FROM {b}"

	def money(self, expr):
		return f"CAST({expr} AS TEXT)"

	def classify(self, exc):
		state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
		if state == "23505":
			diag = getattr(exc, "diag", None)
			return UniqueViolation(str(exc), getattr(diag, "constraint_name", None))
		if state in ("40P01", "40001", "55P03"):  # deadlock, serialization failure, lock not available
			return RetryableDatabaseError(str(exc))
		# class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), or a
		# driver error without a server state (connection refused, closed or broken)
		if (state or "").startswith("08") or state in ("57P01", "57P02", "57P03") or (
				state is None and (_driver_class(exc, "psycopg", "OperationalError") or _driver_class(exc, "psycopg", "InterfaceError"))):
			return DatabaseUnavailable(str(exc) or type(exc).__name__)
		return None


class SQLite(Dialect):
	name = "sqlite"
	for_update = ""  # BEGIN IMMEDIATE takes the database's write lock for the whole transaction
	skip_locked = ""
	supports_returning = True
	snapshot_begin = "BEGIN DEFERRED"  # WAL: the snapshot taken at the first read holds to the end

	def insert_or_skip(self, insert_sql, key_columns):
		return _on_conflict_do_nothing(insert_sql, key_columns)

	def translate(self, query):
		return _sqlite_translate(query)

	def same(self, a, b):
		return f"{a} IS {b}"

	def money(self, expr):
		return f"CAST({expr} AS TEXT)"

	def money_add(self, column, expr):
		return f"ledger_money_add({column}, {expr})"

	def money_sum(self, expr):
		return f"ledger_cents_text({self.money_sum_key(expr)})"

	def money_key(self, expr):
		return f"CAST(ROUND({expr} * 100) AS INTEGER)"

	def money_sum_key(self, expr):
		return f"COALESCE(SUM(CAST(ROUND({expr} * 100) AS INTEGER)), 0)"

	def classify(self, exc):
		import sqlite3

		text = str(exc)
		if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in text:
			return UniqueViolation(text, text.split("failed:", 1)[-1].strip())
		if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
			return RetryableDatabaseError(text)
		return None


def _on_conflict_do_nothing(insert_sql: str, key_columns: tuple[str, ...]) -> str:
	"""PostgreSQL's and SQLite's skip: on the unique key over ``key_columns``, or on any (none given)."""
	target = f" ({', '.join(f'`{c}`' for c in key_columns)})" if key_columns else ""
	return f"{insert_sql} ON CONFLICT{target} DO NOTHING"


@lru_cache(maxsize=2048)
def _pg_translate(query: str) -> str:
	return query.replace("`", '"')


@lru_cache(maxsize=2048)
def _sqlite_translate(query: str) -> str:
	_check_quoted_names(query)
	return _PARAM.sub(r":\1", query).replace("%%", "%")


def _check_quoted_names(query: str) -> None:
	"""SQLite finds tables and columns whatever the case of their names; MariaDB's table names and
	PostgreSQL's quoted names are exact.  So that a name in the wrong case fails on the default backend
	as it would on those, a quoted name of an app table must be spelled exactly (``tab`` + its doctype),
	and a column or alias is lower case (every field name of the app is)."""
	for name in _QUOTED.findall(query):
		if name.startswith("tab") and name[3:].lower() in _app_tables_lower():
			if name[3:] not in _app_tables():
				raise ValueError(f"no table `{name}` (table names are exact: `tab` + the doctype)")
		elif name.startswith("tab") and name[3:4].isupper():
			continue  # another table (a copy being rebuilt): SQLite says if it is not there
		elif name != name.lower():
			raise ValueError(f"column names are lower case: `{name}`")


@lru_cache(maxsize=1)
def _app_tables() -> frozenset[str]:
	return doctype_names() | {"Singles"}


@lru_cache(maxsize=1)
def _app_tables_lower() -> frozenset[str]:
	return frozenset(name.lower() for name in _app_tables())


def _mysql_code(exc) -> int | None:
	args = getattr(exc, "args", ())
	if args and isinstance(args[0], int):
		return args[0]
	cause = exc.__cause__ or exc.__context__
	return _mysql_code(cause) if cause is not None and cause is not exc else None


def _driver_class(exc, module: str, name: str) -> bool:
	"""Whether ``exc`` is an instance of the driver's ``module.name`` (checked without importing
	the driver: a host may not have it)."""
	return any(cls.__name__ == name and cls.__module__.split(".")[0] == module for cls in type(exc).__mro__)


def _mysql_unique_key(exc) -> str | None:
	match = re.search(r"for key '([^']+)'", str(exc))
	return match.group(1).split(".")[-1] if match else None


def sqlite_money_add(a, b) -> str:
	"""Exact decimal addition of two money texts (registered on every SQLite connection)."""
	return str((Decimal(str(a or 0)) + Decimal(str(b or 0))).quantize(Decimal("0.01")))


def sqlite_cents_text(cents) -> str:
	return str((Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01")))


DIALECTS = {"mariadb": MariaDB(), "postgres": Postgres(), "sqlite": SQLite()}


def get_dialect(name: str) -> Dialect:
	return DIALECTS[name]
