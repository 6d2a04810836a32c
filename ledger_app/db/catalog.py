"""Catalog look-ups: which tables, columns, indexes, CHECKs and sequences a database already has.

Every function takes anything with ``sql(query, params) -> list[dict]`` and ``dialect.name`` in
{"mariadb", "postgres", "sqlite"}: the database port, or the small adapter over ``frappe.db`` that
the Frappe patch uses.  Queries are written MariaDB-style (backticks, ``%(name)s``) like every other
query of the app; the port rewrites them per dialect.  Names are compared exactly: Frappe table names
keep their case and spaces (``tabLedger Posting``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class IndexInfo:
	name: str
	columns: tuple[str, ...]
	unique: bool
	partial: bool = False


@dataclass(frozen=True)
class TextColumn:
	"""A MariaDB text column as ``information_schema.columns`` describes it."""

	column_type: str
	collation: str
	nullable: bool
	#: the DEFAULT clause's SQL (``NULL``, ``'x'``), or None when the column has no default
	default: str | None
	#: the expression of a generated column, else None
	generation: str | None


def dialect_name(db) -> str:
	return db.dialect.name


#: the schema a connection works in, as information_schema names it
_CURRENT_SCHEMA = {"mariadb": "DATABASE()", "postgres": "current_schema()"}


def table_exists(db, table: str) -> bool:
	dialect = dialect_name(db)
	if dialect == "sqlite":
		query = "SELECT 1 AS `found` FROM sqlite_master WHERE type = 'table' AND name = %(table)s"
	else:
		query = (f"SELECT 1 AS `found` FROM information_schema.tables"
			f" WHERE table_schema = {_CURRENT_SCHEMA[dialect]} AND table_name = %(table)s")
	return bool(db.sql(query, {"table": table}))


def columns(db, table: str) -> set[str]:
	"""Lower-cased column names of ``table`` (MariaDB compares column names case-insensitively)."""
	dialect = dialect_name(db)
	if dialect == "sqlite":
		query = "SELECT name AS `name` FROM pragma_table_info(%(table)s)"
	else:
		query = (f"SELECT column_name AS `name` FROM information_schema.columns"
			f" WHERE table_schema = {_CURRENT_SCHEMA[dialect]} AND table_name = %(table)s")
	return {str(row["name"]).lower() for row in db.sql(query, {"table": table})}


def text_columns(db, table: str) -> dict[str, TextColumn]:
	"""MariaDB: the lower-cased name and definition of each column of ``table`` that has a collation."""
	if dialect_name(db) != "mariadb":
		raise ValueError("text_columns reads MariaDB's catalog only")
	rows = db.sql(
		"SELECT column_name AS `name`, column_type AS `column_type`, collation_name AS `collation`,"
		" is_nullable AS `nullable`, column_default AS `column_default`,"
		" generation_expression AS `generation`, is_generated AS `is_generated`"
		" FROM information_schema.columns"
		" WHERE table_schema = DATABASE() AND table_name = %(table)s AND collation_name IS NOT NULL",
		{"table": table},
	)
	return {
		str(row["name"]).lower(): TextColumn(
			column_type=str(row["column_type"]),
			collation=str(row["collation"]),
			nullable=row["nullable"] == "YES",
			default=None if row["column_default"] is None else str(row["column_default"]),
			generation=str(row["generation"]) if row["is_generated"] == "ALWAYS" else None,
		)
		for row in rows
	}


def indexes(db, table: str) -> list[IndexInfo]:
	"""Every index of ``table`` with its ordered columns (primary keys included)."""
	dialect = dialect_name(db)
	if dialect == "sqlite":
		query = (
			"SELECT il.name AS `index_name`, il.`unique` AS `is_unique`, il.partial AS `is_partial`,"
			" ii.seqno AS `seq`, ii.name AS `column_name`"
			" FROM pragma_index_list(%(table)s) AS il, pragma_index_info(il.name) AS ii"
			" ORDER BY il.name, ii.seqno"
		)
	elif dialect == "mariadb":
		query = (
			"SELECT index_name AS `index_name`, non_unique = 0 AS `is_unique`, 0 AS `is_partial`,"
			" seq_in_index AS `seq`, column_name AS `column_name`"
			" FROM information_schema.statistics"
			" WHERE table_schema = DATABASE() AND table_name = %(table)s"
			" ORDER BY index_name, seq_in_index"
		)
	else:
		query = (
			"SELECT i.relname AS `index_name`, ix.indisunique AS `is_unique`,"
			" ix.indpred IS NOT NULL AS `is_partial`, k.ord AS `seq`, a.attname AS `column_name`"
			" FROM pg_index ix"
			" JOIN pg_class t ON t.oid = ix.indrelid"
			" JOIN pg_namespace n ON n.oid = t.relnamespace"
			" JOIN pg_class i ON i.oid = ix.indexrelid"
			" CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
			" JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
			" WHERE n.nspname = current_schema() AND t.relname = %(table)s"
			" ORDER BY i.relname, k.ord"
		)
	found: dict[str, dict] = {}
	for row in db.sql(query, {"table": table}):
		entry = found.setdefault(
			row["index_name"],
			{"columns": [], "unique": bool(row["is_unique"]), "partial": bool(row["is_partial"])},
		)
		entry["columns"].append(str(row["column_name"]).lower())
	return [
		IndexInfo(name, tuple(entry["columns"]), entry["unique"], entry["partial"])
		for name, entry in found.items()
	]


def index_exists(db, table: str, name: str) -> bool:
	dialect = dialect_name(db)
	if dialect == "sqlite":
		query = (
			"SELECT 1 AS `found` FROM sqlite_master"
			" WHERE type = 'index' AND tbl_name = %(table)s AND name = %(name)s"
		)
	elif dialect == "mariadb":
		query = (
			"SELECT 1 AS `found` FROM information_schema.statistics"
			" WHERE table_schema = DATABASE() AND table_name = %(table)s AND index_name = %(name)s"
			" LIMIT 1"
		)
	else:
		query = (
			"SELECT 1 AS `found` FROM pg_indexes"
			" WHERE schemaname = current_schema() AND tablename = %(table)s AND indexname = %(name)s"
		)
	return bool(db.sql(query, {"table": table, "name": name}))


def has_index_on(db, table: str, columns: tuple[str, ...], unique: bool) -> bool:
	"""Whether some full (non-partial) index covers exactly ``columns`` in that order; a unique
	index also satisfies a request for a plain one."""
	wanted = tuple(column.lower() for column in columns)
	return any(
		info.columns == wanted and not info.partial and (info.unique or not unique)
		for info in indexes(db, table)
	)


def check_exists(db, table: str, name: str) -> bool:
	dialect = dialect_name(db)
	if dialect == "sqlite":
		rows = db.sql(
			"SELECT sql AS `sql` FROM sqlite_master WHERE type = 'table' AND name = %(table)s",
			{"table": table},
		)
		if not rows:
			return False
		pattern = rf"CONSTRAINT\s+[`\"\[]?{re.escape(name)}[`\"\]]?\s+CHECK"
		return re.search(pattern, rows[0]["sql"] or "", flags=re.IGNORECASE) is not None
	if dialect == "mariadb":
		query = (
			"SELECT 1 AS `found` FROM information_schema.check_constraints"
			" WHERE constraint_schema = DATABASE() AND table_name = %(table)s"
			" AND constraint_name = %(name)s"
		)
	else:
		query = (
			"SELECT 1 AS `found` FROM pg_constraint c"
			" JOIN pg_class t ON t.oid = c.conrelid"
			" JOIN pg_namespace n ON n.oid = t.relnamespace"
			" WHERE c.contype = 'c' AND n.nspname = current_schema()"
			" AND t.relname = %(table)s AND c.conname = %(name)s"
		)
	return bool(db.sql(query, {"table": table, "name": name}))


def sequence_exists(db, name: str) -> bool:
	dialect = dialect_name(db)
	if dialect == "sqlite":
		return False
	if dialect == "mariadb":
		query = (
			"SELECT 1 AS `found` FROM information_schema.tables"
			" WHERE table_schema = DATABASE() AND table_type = 'SEQUENCE' AND table_name = %(name)s"
		)
	else:
		query = (
			"SELECT 1 AS `found` FROM information_schema.sequences"
			" WHERE sequence_schema = current_schema() AND sequence_name = %(name)s"
		)
	return bool(db.sql(query, {"name": name}))
