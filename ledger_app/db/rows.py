"""Inserting document rows the way Frappe lays them out (standard columns filled in).

Every table is a doctype table (``tab<DocType>``) with Frappe's standard columns; these helpers fill
them so rows written by the engine look exactly like rows Frappe itself writes.  Names are random
10-character hex strings like ``frappe.generate_hash(length=10)``, except for autoincrement doctypes
(Ledger Posting), whose ``name`` the database assigns.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import lru_cache

from ledger_app.db.schema import autoincrement_name_expr, is_autoincrement, load_doctypes
from ledger_app.engine.errors import UniqueViolation


def table(doctype: str) -> str:
	return f"`tab{doctype}`"


@lru_cache(maxsize=1)
def doctype_names() -> frozenset[str]:
	"""The app's doctypes, spelled exactly."""
	return frozenset(load_doctypes())


def new_name() -> str:
	return secrets.token_hex(5)


def standard_columns(now: datetime, user: str, docstatus: int = 0) -> dict:
	"""Frappe's standard columns of a new row; every row records when and by whom it was made."""
	if not isinstance(now, datetime) or not user:
		raise ValueError(f"a row needs the time and the user who made it (got {now!r}, {user!r})")
	return {"creation": now, "modified": now, "owner": user, "modified_by": user, "docstatus": docstatus, "idx": 0}


def insert(db, doctype: str, values: dict, *, skip_if_exists: tuple[str, ...] | None = None) -> int:
	"""Insert one row; ``values`` must already hold the standard columns it needs.

	With ``skip_if_exists`` (the columns of a unique key; ``()``: any unique key of the row), a row
	whose values are already there is not inserted and 0 is returned instead of an error (the
	transaction stays usable on every backend).  A concurrent transaction inserting the same values is
	waited for: skipped if it commits, inserted if it rolls back.
	"""
	return insert_many(db, doctype, [values], skip_if_exists=skip_if_exists)


def insert_many(db, doctype: str, rows: list[dict], *, common: dict | None = None,
		skip_if_exists: tuple[str, ...] | None = None, returning: str | None = None):
	"""Insert rows with the same columns in one statement (one round trip); the number inserted.

	``common`` holds columns whose value is the same in every row (standard columns, the parent,
	the time): each is bound once, so the driver escapes or adapts it once.  For an autoincrement
	doctype, leave ``name`` out: it is taken from the doctype's sequence as Frappe does
	(MariaDB/PostgreSQL), or numbered by SQLite.  ``returning`` (a select list, where the dialect
	``supports_returning``): the inserted rows' values of it instead of the count.
	"""
	if isinstance(skip_if_exists, str):
		raise TypeError("skip_if_exists takes a tuple of column names")
	if not rows:
		return [] if returning else 0
	if returning and not db.dialect.supports_returning:
		raise ValueError(f"{db.dialect.name} has no INSERT .. RETURNING")
	common = common or {}
	own = tuple(rows[0])
	statement = _insert_sql(doctype, db.dialect, tuple(common), own, len(rows), skip_if_exists)
	params = dict(common)
	for i, row in enumerate(rows):
		for column in own:
			params[f"{column}_{i}"] = row[column]
	if returning:
		return db.sql(f"{statement} RETURNING {returning}", params)
	return db.execute(statement, params)


def insert_or_lock(db, doctype: str, name: str, row: dict | None) -> str:
	"""Create the row called ``name``, or lock the one there is, without a failing statement (on
	PostgreSQL the first error aborts the whole transaction): ``row`` (None: do not create one) is
	inserted unless one of its unique values is taken (a concurrent insert of them is waited for),
	otherwise the row called ``name`` is locked ``FOR UPDATE``, read past any REPEATABLE READ snapshot.

	Returns ``"inserted"``, ``"locked"`` (it exists and this transaction now holds its lock) or
	``"missing"`` (no such row and ``row`` is None).  ``UniqueViolation`` when ``row`` was skipped for
	another unique value than its name (another row holds it).
	"""
	if row is not None and insert(db, doctype, row, skip_if_exists=()):
		return "inserted"
	if db.sql(f"SELECT `name` FROM {table(doctype)} WHERE `name` = %(n)s{db.dialect.for_update}", {"n": name}):
		return "locked"
	if row is not None:
		raise UniqueViolation(f"a {doctype} other than {name!r} holds one of its unique values")
	return "missing"


@lru_cache(maxsize=256)
def _insert_sql(doctype: str, dialect, common: tuple, own: tuple, count: int, skip_if_exists: tuple | None) -> str:
	name_expr = _name_expr(doctype, dialect.name) if "name" not in common and "name" not in own else None
	columns = (["name"] if name_expr else []) + [*common, *own]
	shared = [f"%({c})s" for c in common]
	groups = []
	for i in range(count):
		values = ([name_expr] if name_expr else []) + shared + [f"%({c}_{i})s" for c in own]
		groups.append("(" + ", ".join(values) + ")")
	column_sql = ", ".join(f"`{c}`" for c in columns)
	statement = f"INSERT INTO {table(doctype)} ({column_sql}) VALUES {', '.join(groups)}"
	if skip_if_exists is not None:
		statement = dialect.insert_or_skip(statement, skip_if_exists)
	return statement


@lru_cache(maxsize=64)
def _name_expr(doctype: str, dialect_name: str) -> str | None:
	if not is_autoincrement(load_doctypes()[doctype]):
		raise ValueError(f"a {doctype} row needs a name")
	return autoincrement_name_expr(doctype, dialect_name)
