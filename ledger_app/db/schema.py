"""The standalone schema, generated from the doctype JSON with Frappe's own column rules.

The doctype JSON files are the single source of the schema.  Inside a bench Frappe creates the
tables from them; standalone, ``ensure_schema`` does, following what Frappe v15 does
(``frappe/database/schema.py``, ``frappe/database/{mariadb,postgres}/schema.py`` and the
``type_map`` of ``frappe/database/{mariadb,postgres}/database.py``):

- one table ``tab<DocType>`` per doctype that is not a Single; Singles keep their values in the
  shared ``tabSingles (doctype, field, value)`` table;
- the standard columns ``name, creation, modified, modified_by, owner, docstatus, idx``; child
  tables add ``parent, parentfield, parenttype`` and an index on ``parent``; other tables add the
  text columns ``_user_tags, _comments, _assign, _liked_by`` (and ``_seen`` with ``track_seen``);
- one column per field that holds a value, typed by Frappe's type map (layout and Table fields
  have none, nor have virtual fields, ``is_virtual``: ``DBTable.get_columns_from_docfields``
  skips them, the controller computes their value); Check, Int, Currency, Float and Percent
  columns are ``NOT NULL`` with the field's default (or 0); other fields get their static default;
- ``unique`` fields get a unique key and ``search_index`` fields an index (never on text
  columns), and every table an index on ``modified``;
- ``autoname: autoincrement`` makes ``name`` a bigint fed by the sequence ``<scrub(doctype)>_id_seq``
  (SQLite: ``INTEGER PRIMARY KEY AUTOINCREMENT``).

SQLite has no decimal type.  Money must stay exact, so Currency, Float and Percent columns are
``TEXT`` there: TEXT affinity keeps '10.50' as written, where NUMERIC would turn it into a float.

Statements are written MariaDB-style with backtick identifiers; the port rewrites them for
PostgreSQL, and SQLite accepts backticks as they are.  This module imports nothing from Frappe.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from ledger_app.db import catalog, constraints

log = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parent.parent
VARCHAR_LEN = 140
SINGLES_TABLE = "tabSingles"

#: fields without a column (frappe.model.no_value_fields)
NO_VALUE_FIELDTYPES = frozenset(
	{
		"Section Break",
		"Column Break",
		"Tab Break",
		"HTML",
		"Table",
		"Table MultiSelect",
		"Button",
		"Image",
		"Fold",
		"Heading",
	}
)
#: columns that are NOT NULL with a numeric default (frappe.database.schema.NOT_NULL_TYPES)
NOT_NULL_TYPES = frozenset({"Check", "Int", "Currency", "Float", "Percent"})
DECIMAL_TYPES = frozenset({"Currency", "Float", "Percent"})
#: defaults Frappe resolves per document, never written into the column (Database.DEFAULT_SHORTCUTS)
DEFAULT_SHORTCUTS = frozenset({"_Login", "__user", "Today", "__today", "now", "Now"})
OPTIONAL_COLUMNS = ("_user_tags", "_comments", "_assign", "_liked_by")
CHILD_TABLE_COLUMNS = ("parent", "parentfield", "parenttype")

_VARCHAR = ("varchar", VARCHAR_LEN)

#: Frappe v15's type maps: (column type, size); size None means no size
TYPE_MAPS: dict[str, dict[str, tuple[str, object]]] = {
	"mariadb": {
		"Currency": ("decimal", "21,9"),
		"Int": ("int", 11),
		"Long Int": ("bigint", 20),
		"Float": ("decimal", "21,9"),
		"Percent": ("decimal", "21,9"),
		"Check": ("int", 1),
		"Small Text": ("text", None),
		"Long Text": ("longtext", None),
		"Code": ("longtext", None),
		"Text Editor": ("longtext", None),
		"Markdown Editor": ("longtext", None),
		"HTML Editor": ("longtext", None),
		"Date": ("date", None),
		"Datetime": ("datetime", 6),
		"Time": ("time", 6),
		"Text": ("text", None),
		"Data": _VARCHAR,
		"Link": _VARCHAR,
		"Dynamic Link": _VARCHAR,
		"Password": ("text", None),
		"Select": _VARCHAR,
		"Rating": ("decimal", "3,2"),
		"Read Only": _VARCHAR,
		"Attach": ("text", None),
		"Attach Image": ("text", None),
		"Signature": ("longtext", None),
		"Color": _VARCHAR,
		"Barcode": ("longtext", None),
		"Geolocation": ("longtext", None),
		"Duration": ("decimal", "21,9"),
		"Icon": _VARCHAR,
		"Phone": _VARCHAR,
		"Autocomplete": _VARCHAR,
		"JSON": ("json", None),
	},
}
#: PostgreSQL's map is MariaDB's but for integers, long texts and datetimes
TYPE_MAPS["postgres"] = {
	**TYPE_MAPS["mariadb"],
	"Int": ("bigint", None),
	"Long Int": ("bigint", None),
	"Check": ("smallint", None),
	"Datetime": ("timestamp", None),
	**{fieldtype: ("text", None) for fieldtype in ("Long Text", "Code", "Text Editor", "Markdown Editor", "HTML Editor",
		"Signature", "Barcode", "Geolocation")},
}

_SQLITE_INTEGER = frozenset({"Int", "Long Int", "Check"})


def indexable(fieldtype: str) -> bool:
	"""Whether Frappe puts a unique key or an index on a field of this type: it never does on
	text columns (judged by Frappe's type map, so SQLite's all-TEXT columns follow the same rule)."""
	mapped = TYPE_MAPS["mariadb"].get(fieldtype)
	return mapped is not None and mapped[0] not in ("text", "longtext")


def scrub(text: str) -> str:
	"""frappe.scrub: 'Ledger Posting' -> 'ledger_posting'."""
	return text.replace(" ", "_").replace("-", "_").lower()


def table_name(doctype: str) -> str:
	return "tab" + doctype


def sequence_name(doctype: str) -> str:
	"""The sequence Frappe creates for an autoincrement doctype (frappe.database.sequence)."""
	return scrub(doctype + "_id_seq")


def is_autoincrement(meta: dict) -> bool:
	return not meta.get("issingle") and meta.get("autoname") == "autoincrement"


def autoincrement_name_expr(doctype: str, dialect_name: str) -> str | None:
	"""The SQL expression that gives the next ``name`` of an autoincrement doctype, for an INSERT:
	the doctype's sequence on MariaDB and PostgreSQL (Frappe names rows the same way, so the same
	SQL works inside a bench), ``None`` on SQLite, where the column is left out and
	``INTEGER PRIMARY KEY AUTOINCREMENT`` numbers the row."""
	sequence = sequence_name(doctype)
	if dialect_name == "mariadb":
		return f"NEXTVAL(`{sequence}`)"
	if dialect_name == "postgres":
		return f"nextval('{sequence}')"
	return None


# --- loading the doctype JSON -----------------------------------------------------------------


def load_doctypes(app_dir: str | Path | None = None) -> dict[str, dict]:
	"""Every doctype JSON of the app (``ledger_app/<module>/doctype/<name>/<name>.json``), by name."""
	root = Path(app_dir) if app_dir is not None else APP_DIR
	return copy.deepcopy(_load_doctypes(str(root.resolve())))


@lru_cache(maxsize=8)
def _load_doctypes(root: str) -> dict[str, dict]:
	found: dict[str, dict] = {}
	for path in sorted(Path(root).glob("*/doctype/*/*.json")):
		if path.stem != path.parent.name:
			continue
		meta = json.loads(path.read_text(encoding="utf-8"))
		if meta.get("doctype") != "DocType":
			continue
		found[meta["name"]] = meta
	return found


def value_fields(meta: dict) -> list[dict]:
	"""The fields that have a database column, in JSON order: not the layout and Table fields
	(``frappe.model.no_value_fields``), not the virtual ones (``Meta.get_fieldnames_with_value``)."""
	return [
		field
		for field in meta.get("fields", [])
		if field.get("fieldtype") not in NO_VALUE_FIELDTYPES and not field.get("is_virtual")
	]


def column_type(fieldtype: str, dialect_name: str, length: int | None = None) -> str | None:
	"""The column type of a fieldtype (Frappe's get_definition without NULL/DEFAULT/UNIQUE);
	``None`` for a fieldtype without a column."""
	if dialect_name == "sqlite":
		if fieldtype in NO_VALUE_FIELDTYPES:
			return None
		return "INTEGER" if fieldtype in _SQLITE_INTEGER else "TEXT"
	mapped = TYPE_MAPS[dialect_name].get(fieldtype)
	if mapped is None:
		return None
	coltype, size = mapped
	if fieldtype == "Int" and length and int(length) > 11:
		coltype, size = TYPE_MAPS[dialect_name]["Long Int"]
	if size is not None and length and (coltype == "varchar" or (coltype == "int" and int(length) < 11)):
		size = int(length)
	return f"{coltype}({size})" if size is not None else coltype


def _literal(value, dialect_name: str) -> str:
	text = str(value).replace("'", "''")
	if dialect_name == "mariadb":  # MariaDB reads backslash escapes in string literals
		text = text.replace("\\", "\\\\")
	return f"'{text}'"


def _number(value, fieldtype: str) -> str:
	"""Frappe's cint/flt of a default, written as an SQL number."""
	text = str(value or "0").strip() or "0"
	if fieldtype in ("Int", "Check"):
		try:
			return str(int(float(text)))
		except ValueError:
			return "0"
	try:
		number = Decimal(text)
	except (ValueError, ArithmeticError):
		return "0"
	return format(number.normalize(), "f") if number else "0"


def column_definition(field: dict, dialect_name: str, for_alter: bool = False) -> str | None:
	"""Frappe's DbColumn.get_definition for ``field``.  ``for_alter`` leaves ``UNIQUE`` out (SQLite
	cannot add a UNIQUE column; ``ensure_schema`` adds the unique index separately)."""
	fieldtype = field["fieldtype"]
	definition = column_type(fieldtype, dialect_name, field.get("length"))
	if not definition:
		return None
	default = field.get("default")
	if fieldtype in NOT_NULL_TYPES:
		number = _number(default, fieldtype)
		if dialect_name == "sqlite" and fieldtype in DECIMAL_TYPES:
			number = _literal(number, dialect_name)  # money is TEXT on SQLite
		definition += f" NOT NULL DEFAULT {number}"
	elif (
		default not in (None, "")
		and str(default) not in DEFAULT_SHORTCUTS
		and not str(default).startswith(":")
	):
		definition += f" DEFAULT {_literal(default, dialect_name)}"
	if field.get("unique") and not for_alter and indexable(fieldtype):
		definition += " UNIQUE"
	return definition


def _standard_columns(meta: dict, dialect_name: str) -> list[tuple[str, str]]:
	autoincrement = is_autoincrement(meta)
	if dialect_name == "mariadb":
		varchar = f"varchar({VARCHAR_LEN})"
		name = "bigint primary key" if autoincrement else f"{varchar} primary key"
		return [
			("name", name),
			("creation", "datetime(6)"),
			("modified", "datetime(6)"),
			("modified_by", varchar),
			("owner", varchar),
			("docstatus", "int(1) not null default '0'"),
			("idx", "int(8) not null default '0'"),
		]
	if dialect_name == "postgres":
		varchar = f"varchar({VARCHAR_LEN})"
		name = "bigint primary key" if autoincrement else f"{varchar} primary key"
		return [
			("name", name),
			("creation", "timestamp(6)"),
			("modified", "timestamp(6)"),
			("modified_by", varchar),
			("owner", varchar),
			("docstatus", "smallint not null default '0'"),
			("idx", "bigint not null default '0'"),
		]
	name = "INTEGER PRIMARY KEY AUTOINCREMENT" if autoincrement else "TEXT NOT NULL PRIMARY KEY"
	return [
		("name", name),
		("creation", "TEXT"),
		("modified", "TEXT"),
		("modified_by", "TEXT"),
		("owner", "TEXT"),
		("docstatus", "INTEGER NOT NULL DEFAULT 0"),
		("idx", "INTEGER NOT NULL DEFAULT 0"),
	]


def _extra_fields(meta: dict) -> list[dict]:
	"""The columns Frappe adds that are not fields: child-table columns or the optional ones."""
	if meta.get("istable"):
		return [{"fieldname": column, "fieldtype": "Data"} for column in CHILD_TABLE_COLUMNS]
	extra = [{"fieldname": column, "fieldtype": "Text"} for column in OPTIONAL_COLUMNS]
	if meta.get("track_seen"):
		extra.append({"fieldname": "_seen", "fieldtype": "Text"})
	return extra


def table_columns(meta: dict, dialect_name: str) -> list[tuple[str, str]]:
	"""(column, definition) for every column of the doctype's table, standard columns first."""
	result = list(_standard_columns(meta, dialect_name))
	seen = {name for name, _ in result}
	fields = value_fields(meta)
	# MariaDB puts the child-table columns after the field indexes; the order does not matter to SQL
	for field in fields + _extra_fields(meta):
		name = field["fieldname"]
		if name in seen:
			continue
		definition = column_definition(field, dialect_name)
		if definition:
			result.append((name, definition))
			seen.add(name)
	return result


def wanted_indexes(meta: dict, dialect_name: str) -> list[tuple[str, tuple[str, ...], bool]]:
	"""(name, columns, unique) for every index the doctype's table should have besides the primary
	key: one per ``unique`` and per ``search_index`` field (not on text columns), ``parent`` on child
	tables, and ``modified``.  Names follow Frappe's on MariaDB; PostgreSQL and SQLite index names are
	unique per schema, so there they carry the table's name."""
	table = table_name(meta["name"])
	result = []
	for field in value_fields(meta):
		if not indexable(field["fieldtype"]):
			continue
		if field.get("unique"):
			result.append(
				(
					_index_name(table, field["fieldname"], dialect_name, unique=True),
					(field["fieldname"],),
					True,
				)
			)
		elif field.get("search_index"):
			result.append(
				(_index_name(table, field["fieldname"], dialect_name), (field["fieldname"],), False)
			)
	if meta.get("istable"):
		result.append((_index_name(table, "parent", dialect_name), ("parent",), False))
	result.append((_index_name(table, "modified", dialect_name), ("modified",), False))
	return result


def _index_name(table: str, column: str, dialect_name: str, unique: bool = False) -> str:
	if dialect_name == "mariadb":
		return f"unique_{column}" if unique else column
	base = f"{scrub(table[3:])}_{column}_{'unique' if unique else 'index'}"
	if len(base) <= 63:
		return base
	digest = hashlib.md5(base.encode()).hexdigest()[:10]
	return f"{base[:52]}_{digest}"


def create_table_sql(meta: dict, dialect_name: str) -> list[str]:
	"""The statements that create the doctype's table (and its sequence and indexes) if missing.
	A Single has no table: ``[]`` (see ``singles_table_sql``)."""
	if dialect_name not in constraints.DIALECTS:
		raise ValueError(f"unknown dialect {dialect_name!r}")
	if meta.get("issingle"):
		return []
	table = table_name(meta["name"])
	statements = []
	if is_autoincrement(meta) and dialect_name != "sqlite":
		statements.append(_sequence_sql(meta["name"], dialect_name))

	lines = [f"`{name}` {definition}" for name, definition in table_columns(meta, dialect_name)]
	indexes = [index for index in wanted_indexes(meta, dialect_name) if not index[2]]  # unique: inline
	if dialect_name == "mariadb":
		lines += [f"index `{name}`({_cols(columns)})" for name, columns, _ in indexes]
		options = (
			f"ENGINE={meta.get('engine') or 'InnoDB'} ROW_FORMAT=DYNAMIC"
			" CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
		)
		statements.append(
			f"CREATE TABLE IF NOT EXISTS `{table}` (\n\t" + ",\n\t".join(lines) + f"\n) {options}"
		)
		return statements

	if dialect_name == "sqlite":
		lines += constraints.checks_for_table(table, "sqlite")
	statements.append(f"CREATE TABLE IF NOT EXISTS `{table}` (\n\t" + ",\n\t".join(lines) + "\n)")
	statements += [
		f"CREATE INDEX IF NOT EXISTS `{name}` ON `{table}` ({_cols(columns)})" for name, columns, _ in indexes
	]
	return statements


def _sequence_sql(doctype: str, dialect_name: str) -> str:
	# what frappe.database.sequence.create_sequence(check_not_exists=True) issues in v15: MariaDB
	# with the database's SEQUENCE_CACHE (50), PostgreSQL without a cache
	if dialect_name == "mariadb":
		return f"CREATE SEQUENCE IF NOT EXISTS `{sequence_name(doctype)}` CACHE 50 NOCYCLE"
	return f"CREATE SEQUENCE IF NOT EXISTS `{sequence_name(doctype)}`"


def singles_table_sql(dialect_name: str) -> list[str]:
	"""``tabSingles`` as Frappe creates it (framework_mariadb.sql / framework_postgres.sql)."""
	if dialect_name == "mariadb":
		return [
			(
				f"CREATE TABLE IF NOT EXISTS `{SINGLES_TABLE}` (\n"
				"\t`doctype` varchar(255) DEFAULT NULL,\n"
				"\t`field` varchar(255) DEFAULT NULL,\n"
				"\t`value` longtext,\n"
				"\tKEY `singles_doctype_field_index` (`doctype`, `field`)\n"
				") ENGINE=InnoDB ROW_FORMAT=DYNAMIC CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
			)
		]
	varchar = "varchar(255)" if dialect_name == "postgres" else "TEXT"
	value = "text" if dialect_name == "postgres" else "TEXT"
	return [
		(
			f"CREATE TABLE IF NOT EXISTS `{SINGLES_TABLE}` (\n"
			f"\t`doctype` {varchar} DEFAULT NULL,\n"
			f"\t`field` {varchar} DEFAULT NULL,\n"
			f"\t`value` {value}\n"
			")"
		),
		f"CREATE INDEX IF NOT EXISTS `singles_doctype_field_index` ON `{SINGLES_TABLE}` (`doctype`, `field`)",
	]


def _cols(columns) -> str:
	return ", ".join(f"`{column}`" for column in columns)


# --- create or upgrade ------------------------------------------------------------------------


def ensure_schema(db, app_dir: str | Path | None = None) -> None:
	"""Create or upgrade the standalone schema: missing tables, columns, indexes and sequences,
	``tabSingles``, then every constraint of ``constraints.CONSTRAINTS``.  The rows an older version
	stored are the engine's to upgrade, after this (``engine/upgrade.upgrade_data``).

	Safe to run again and again, and from several processes at once: every statement is
	``IF NOT EXISTS`` where the database allows it, and a statement that fails because another
	process did the same thing first is ignored after a look at the catalog.  It never drops or
	changes an existing column; it drops a single-column unique key the JSON no longer asks for,
	as Frappe's migrate does (on SQLite, whose column UNIQUE cannot be dropped, by rebuilding the
	table with its rows).  Run it outside a transaction (DDL commits implicitly on MariaDB).
	"""
	if getattr(db, "in_transaction", False):
		raise RuntimeError("ensure_schema runs DDL; call it outside a transaction")
	dialect = catalog.dialect_name(db)
	for meta in load_doctypes(app_dir).values():
		if meta.get("issingle"):
			continue
		_ensure_table(db, meta, dialect)
	_ensure_singles(db, dialect)
	constraints.apply_all(db)


def _ensure_singles(db, dialect: str) -> None:
	if not catalog.table_exists(db, SINGLES_TABLE):
		for statement in singles_table_sql(dialect):
			_run(db, statement, lambda: catalog.table_exists(db, SINGLES_TABLE))
	columns = ("doctype", "field")
	if not catalog.has_index_on(db, SINGLES_TABLE, columns, unique=False):
		if dialect == "mariadb":
			statement = f"ALTER TABLE `{SINGLES_TABLE}` ADD INDEX IF NOT EXISTS `singles_doctype_field_index` ({_cols(columns)})"
		else:
			statement = singles_table_sql(dialect)[-1]
		_run(db, statement, lambda: catalog.has_index_on(db, SINGLES_TABLE, columns, unique=False))


def _ensure_table(db, meta: dict, dialect: str) -> None:
	table = table_name(meta["name"])
	if is_autoincrement(meta) and dialect != "sqlite":
		sequence = sequence_name(meta["name"])
		if not catalog.sequence_exists(db, sequence):
			_run(db, _sequence_sql(meta["name"], dialect), lambda: catalog.sequence_exists(db, sequence))
	if not catalog.table_exists(db, table):
		for statement in create_table_sql(meta, dialect):
			if statement.startswith("CREATE SEQUENCE"):
				continue
			_run(db, statement, lambda: catalog.table_exists(db, table))

	# upgrade an older table: add what the JSON gained since it was created
	have = catalog.columns(db, table)
	for name, definition in table_columns(meta, dialect):
		if name.lower() in have:
			continue
		field = next((f for f in value_fields(meta) if f["fieldname"] == name), None)
		if field is not None:
			definition = column_definition(field, dialect, for_alter=True)
		if_not_exists = "" if dialect == "sqlite" else "IF NOT EXISTS "
		_run(
			db,
			f"ALTER TABLE `{table}` ADD COLUMN {if_not_exists}`{name}` {definition}",
			lambda name=name: name.lower() in catalog.columns(db, table),
		)
		log.info("added column %s.%s", table, name)

	_drop_stale_uniques(db, meta, dialect)

	for name, columns, unique in wanted_indexes(meta, dialect):
		if catalog.has_index_on(db, table, columns, unique):
			continue
		kind = "UNIQUE INDEX" if unique else "INDEX"
		if dialect == "mariadb":
			statement = f"ALTER TABLE `{table}` ADD {kind} IF NOT EXISTS `{name}` ({_cols(columns)})"
		else:
			statement = f"CREATE {kind} IF NOT EXISTS `{name}` ON `{table}` ({_cols(columns)})"
		_run(
			db,
			statement,
			lambda columns=columns, unique=unique: catalog.has_index_on(db, table, columns, unique),
		)
		log.info("added index %s on %s(%s)", name, table, ", ".join(columns))


def _drop_stale_uniques(db, meta: dict, dialect: str) -> None:
	"""Drop each single-column unique key on a field the JSON no longer marks ``unique`` (what
	Frappe's migrate does: ``DBTable.alter``'s ``drop_unique``).  A SQLite column UNIQUE (an
	``sqlite_autoindex``) cannot be dropped: the table is rebuilt instead (``_rebuild_sqlite_table``)."""
	table = table_name(meta["name"])
	fields = {field["fieldname"].lower(): field for field in value_fields(meta)}
	for info in catalog.indexes(db, table):
		if not info.unique or info.partial or len(info.columns) != 1:
			continue
		field = fields.get(info.columns[0])
		if field is None or field.get("unique"):
			continue
		if dialect == "sqlite" and info.name.startswith("sqlite_autoindex_"):
			_rebuild_sqlite_table(db, meta)
			return
		if dialect == "mariadb":
			statement = f"ALTER TABLE `{table}` DROP INDEX IF EXISTS `{info.name}`"
		elif dialect == "postgres" and db.sql(
			"SELECT 1 AS `found` FROM pg_constraint WHERE conname = %(n)s", {"n": info.name}
		):
			statement = f"ALTER TABLE `{table}` DROP CONSTRAINT IF EXISTS `{info.name}`"
		else:
			statement = f"DROP INDEX IF EXISTS `{info.name}`"
		_run(db, statement, lambda: not catalog.index_exists(db, table, info.name))
		log.info("dropped unique key %s on %s(%s): the doctype no longer asks for it", info.name, table, info.columns[0])


def _rebuild_sqlite_table(db, meta: dict) -> None:
	"""SQLite's way to change a table's constraints: in one transaction, rename it aside, create it
	anew from the JSON, copy every row and drop the old one.  The old table's indexes go with it;
	``ensure_schema`` creates them again after."""
	table = table_name(meta["name"])
	aside = f"{table}__rebuild"

	def unit(db):
		db.sql(f"ALTER TABLE `{table}` RENAME TO `{aside}`")
		for statement in create_table_sql(meta, "sqlite"):
			if statement.startswith("CREATE TABLE"):
				db.sql(statement)
		kept = catalog.columns(db, aside)
		names = _cols(name for name, _ in table_columns(meta, "sqlite") if name.lower() in kept)
		db.sql(f"INSERT INTO `{table}` ({names}) SELECT {names} FROM `{aside}`")
		db.sql(f"DROP TABLE `{aside}`")

	db.run_in_transaction(unit)
	log.info("rebuilt %s to drop the unique keys its doctype no longer asks for", table)


def _run(db, statement: str, done) -> None:
	"""Run one DDL statement; if it fails, accept the failure only when ``done()`` shows that
	another process got there first."""
	try:
		db.sql(statement)
	except Exception:
		if done():
			return
		raise
