"""Inserting document rows the way Frappe lays them out (standard columns filled in).

Every table is a doctype table (``tab<DocType>``) with Frappe's standard columns; these helpers fill
them so rows written by the engine look exactly like rows Frappe itself writes.  Names are random
10-character hex strings like ``frappe.generate_hash(length=10)``, except for autoincrement doctypes
(Ledger Posting), whose ``name`` the database assigns.
"""

from __future__ import annotations

import secrets
from datetime import datetime


def table(doctype: str) -> str:
	return f"`tab{doctype}`"


def new_name() -> str:
	return secrets.token_hex(5)


def standard_columns(now: datetime, user: str, docstatus: int = 0) -> dict:
	return {"creation": now, "modified": now, "owner": user, "modified_by": user, "docstatus": docstatus, "idx": 0}


def insert(db, doctype: str, values: dict) -> None:
	"""Insert one row; ``values`` must already hold the standard columns it needs."""
	insert_many(db, doctype, [values])


def insert_many(db, doctype: str, rows: list[dict]) -> None:
	"""Insert rows with the same columns in one statement (one round trip)."""
	if not rows:
		return
	columns = list(rows[0])
	params = {}
	groups = []
	for i, row in enumerate(rows):
		names = []
		for column in columns:
			key = f"{column}_{i}"
			params[key] = row[column]
			names.append(f"%({key})s")
		groups.append("(" + ", ".join(names) + ")")
	column_sql = ", ".join(f"`{c}`" for c in columns)
	db.execute(f"INSERT INTO {table(doctype)} ({column_sql}) VALUES {', '.join(groups)}", params)
