"""The standalone schema generated from the doctype JSON follows Frappe v15's column rules (no database).

``db/schema.py`` turns each doctype JSON into DDL per dialect, and ``db/constraints.py`` declares the
keys and checks the ledger relies on; this module checks the generated statements: column types,
standard and optional columns, defaults, Singles, sequences, virtual fields, and constraints that name
real tables and columns.
"""

from __future__ import annotations

import json

import pytest

from ledger_app.db import constraints, schema
from tests.layout import DOCTYPES, VIRTUAL_FIELDS


@pytest.mark.parametrize(
	"dialect, expected",
	[
		(
			"mariadb",
			[
				"`name` bigint primary key",
				"`creation` datetime(6)",
				"`docstatus` int(1) not null default '0'",
				"`idx` int(8) not null default '0'",
				"`account` varchar(140)",
				"`amount` decimal(21,9) NOT NULL DEFAULT 0",
				"`balance_after` decimal(21,9) NOT NULL DEFAULT 0",
				"`posting_datetime` datetime(6)",
				"`parent` varchar(140)",
				"`parentfield` varchar(140)",
				"`parenttype` varchar(140)",
				"index `account`(`account`)",
				"index `parent`(`parent`)",
				"index `modified`(`modified`)",
				"ENGINE=InnoDB ROW_FORMAT=DYNAMIC CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
			],
		),
		(
			"postgres",
			[
				"`name` bigint primary key",
				"`creation` timestamp(6)",
				"`docstatus` smallint not null default '0'",
				"`idx` bigint not null default '0'",
				"`account` varchar(140)",
				"`amount` decimal(21,9) NOT NULL DEFAULT 0",
				"`posting_datetime` timestamp",
				"`parent` varchar(140)",
			],
		),
		(
			"sqlite",
			[
				"`name` INTEGER PRIMARY KEY AUTOINCREMENT",
				"`account` TEXT",
				"`amount` TEXT NOT NULL DEFAULT '0'",
				"`balance_after` TEXT NOT NULL DEFAULT '0'",
				"`posting_datetime` TEXT",
				"`docstatus` INTEGER NOT NULL DEFAULT 0",
				"`parent` TEXT",
				"CONSTRAINT `ledger_posting_amount_nonzero` CHECK (CAST(amount AS REAL) <> 0)",
			],
		),
	],
)
def test_ledger_posting_ddl_uses_frappe_column_types(dialect, expected):
	statements = schema.create_table_sql(DOCTYPES["Ledger Posting"], dialect)
	create = next(s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS `tabLedger Posting`"))
	for fragment in expected:
		assert fragment in create, fragment
	assert "_user_tags" not in create  # child tables have no optional columns
	if dialect != "sqlite":
		# autoincrement: Frappe names rows from the sequence <scrub(doctype)>_id_seq
		assert statements[0].startswith("CREATE SEQUENCE IF NOT EXISTS `ledger_posting_id_seq`")
	if dialect != "mariadb":
		assert any("ON `tabLedger Posting` (`account`)" in s for s in statements)
		assert any("ON `tabLedger Posting` (`parent`)" in s for s in statements)
		assert any("ON `tabLedger Posting` (`modified`)" in s for s in statements)


@pytest.mark.parametrize("dialect", constraints.DIALECTS)
def test_parent_tables_get_frappe_optional_columns_and_inline_unique_keys(dialect):
	create = schema.create_table_sql(DOCTYPES["Ledger Transaction"], dialect)
	table = next(s for s in create if s.startswith("CREATE TABLE"))
	for column in ("_user_tags", "_comments", "_assign", "_liked_by"):
		assert f"`{column}`" in table
	assert "`parent`" not in table
	reversal_of = next(line for line in table.splitlines() if line.strip().startswith("`reversal_of`"))
	assert reversal_of.rstrip(",").endswith("UNIQUE"), reversal_of
	for column in ("remarks", "idempotency_key"):  # a key is unique with its scope: constraints.py
		line = next(line for line in table.splitlines() if line.strip().startswith(f"`{column}`"))
		assert "UNIQUE" not in line, line
	name = next(line for line in table.splitlines() if line.strip().startswith("`name`"))
	assert "bigint" not in name and "INTEGER" not in name  # hash names


@pytest.mark.parametrize("dialect", constraints.DIALECTS)
def test_defaults_and_not_null_follow_frappe(dialect):
	create = next(
		s for s in schema.create_table_sql(DOCTYPES["Callback Log"], dialect) if s.startswith("CREATE TABLE")
	)
	assert "`status` " in create and "DEFAULT 'Received'" in create
	assert "NOT NULL DEFAULT 0" in next(line for line in create.splitlines() if "`http_status`" in line)
	account = next(
		s
		for s in schema.create_table_sql(DOCTYPES["Ledger Account"], dialect)
		if s.startswith("CREATE TABLE")
	)
	assert "DEFAULT 'KES'" in next(line for line in account.splitlines() if "`currency`" in line)


def test_singles_have_no_table_and_share_frappes_tabsingles():
	assert schema.create_table_sql(DOCTYPES["Ledger Settings"], "mariadb") == []
	mariadb = schema.singles_table_sql("mariadb")[0]
	assert "`doctype` varchar(255) DEFAULT NULL" in mariadb
	assert "`field` varchar(255) DEFAULT NULL" in mariadb
	assert "`value` longtext" in mariadb
	assert "KEY `singles_doctype_field_index` (`doctype`, `field`)" in mariadb
	postgres = schema.singles_table_sql("postgres")
	assert "`value` text" in postgres[0]
	assert postgres[1].endswith("ON `tabSingles` (`doctype`, `field`)")


def test_constraints_name_existing_tables_and_columns():
	names = [c.name for c in constraints.CONSTRAINTS]
	assert len(names) == len(set(names))
	for constraint in constraints.CONSTRAINTS:
		doctype = constraint.table.removeprefix("tab")
		assert doctype in DOCTYPES, constraint
		columns = {name for name, _ in schema.table_columns(DOCTYPES[doctype], "mariadb")}
		for column in getattr(constraint, "columns", ()):
			assert column in columns, (constraint, column)
		if isinstance(constraint, constraints.PartialUnique):  # its generated columns take the key's type
			types = dict(schema.table_columns(DOCTYPES[doctype], "mariadb"))
			assert {types[column].split(" ")[0] for column in constraint.columns} == {constraint.generated_type}
	declared = {c.name: c for c in constraints.CONSTRAINTS}
	assert declared["posting_account_name"].columns == ("account", "name")
	assert declared["posting_account_datetime"].columns == ("account", "posting_datetime")
	assert declared["posting_account_seq"].columns == ("account", "account_seq")
	assert declared["posting_account_seq"].unique


def test_constraint_statements_per_dialect():
	index = constraints.Index("posting_account_name", "tabLedger Posting", ("account", "name"))
	assert constraints.statements(index, "mariadb") == [
		"ALTER TABLE `tabLedger Posting` ADD INDEX IF NOT EXISTS `posting_account_name` (`account`, `name`)"
	]
	assert constraints.statements(index, "postgres") == [
		"CREATE INDEX IF NOT EXISTS `posting_account_name` ON `tabLedger Posting` (`account`, `name`)"
	]
	partial = constraints.PartialUnique("one_open_per_party", "tabLedger Account", ("party",), "frozen = 0")
	assert constraints.statements(partial, "sqlite") == [
		"CREATE UNIQUE INDEX IF NOT EXISTS `one_open_per_party` ON `tabLedger Account` (`party`) WHERE frozen = 0"
	]
	# MariaDB has no partial index: a generated column, NULL outside the condition, carries the key
	assert constraints.statements(partial, "mariadb") == [
		(
			"ALTER TABLE `tabLedger Account` ADD COLUMN IF NOT EXISTS `_one_open_per_party` varchar(140)"
			" AS (IF(frozen = 0, `party`, NULL)) PERSISTENT"
		),
		"ALTER TABLE `tabLedger Account` ADD UNIQUE INDEX IF NOT EXISTS `one_open_per_party` (`_one_open_per_party`)",
	]
	check = next(c for c in constraints.CONSTRAINTS if c.name == "ledger_posting_amount_nonzero")
	assert constraints.statements(check, "postgres") == [
		"ALTER TABLE `tabLedger Posting` ADD CONSTRAINT `ledger_posting_amount_nonzero` CHECK (amount <> 0)"
	]
	assert constraints.statements(check, "sqlite") == []  # inline in CREATE TABLE instead
	assert constraints.checks_for_table("tabLedger Posting", "sqlite") == [
		"CONSTRAINT `ledger_posting_amount_nonzero` CHECK (CAST(amount AS REAL) <> 0)"
	]


def test_client_constraints_are_declared():
	declared = {c.name: c for c in constraints.CONSTRAINTS}
	one_active = declared["one_active_loss"]
	assert isinstance(one_active, constraints.PartialUnique)
	assert (one_active.table, one_active.columns, one_active.where) == (
		"tabLoss Snapshot",
		("client_exchange",),
		"is_settled = 0",
	)
	per_day = declared["balance_record_exchange_date"]
	assert isinstance(per_day, constraints.Index) and per_day.unique
	assert (per_day.table, per_day.columns) == ("tabBalance Record", ("client_exchange", "date"))


def test_autoincrement_names_come_from_frappes_sequence():
	assert schema.sequence_name("Ledger Posting") == "ledger_posting_id_seq"
	assert schema.autoincrement_name_expr("Ledger Posting", "mariadb") == "NEXTVAL(`ledger_posting_id_seq`)"
	assert schema.autoincrement_name_expr("Ledger Posting", "postgres") == "nextval('ledger_posting_id_seq')"
	assert schema.autoincrement_name_expr("Ledger Posting", "sqlite") is None


@pytest.mark.parametrize("dialect", constraints.DIALECTS)
def test_virtual_fields_get_no_column_and_no_index(dialect):
	# frappe/database/schema.py, DBTable.get_columns_from_docfields: "if field.get('is_virtual'): continue"
	meta = DOCTYPES["Fleet Driver"]
	columns = {name for name, _ in schema.table_columns(meta, dialect)}
	assert not columns & VIRTUAL_FIELDS["Fleet Driver"]
	assert {"driver_id", "daily_target", "target_account", "consecutive_misses"} <= columns
	create = "\n".join(schema.create_table_sql(meta, dialect))
	for fieldname in VIRTUAL_FIELDS["Fleet Driver"]:
		assert f"`{fieldname}`" not in create, fieldname
	# whatever flags a virtual field carries, it gets neither a column nor an index
	probe = json.loads(json.dumps(meta))
	probe["fields"] += [
		{"fieldname": "probe_code", "fieldtype": "Data", "is_virtual": 1, "unique": 1},
		{
			"fieldname": "probe_ref",
			"fieldtype": "Link",
			"options": "Fleet Driver",
			"is_virtual": 1,
			"search_index": 1,
		},
		{"fieldname": "probe_total", "fieldtype": "Currency", "is_virtual": 1, "default": "5"},
	]
	assert schema.table_columns(probe, dialect) == schema.table_columns(meta, dialect)
	assert schema.wanted_indexes(probe, dialect) == schema.wanted_indexes(meta, dialect)
	assert schema.create_table_sql(probe, dialect) == schema.create_table_sql(meta, dialect)
	assert [f["fieldname"] for f in schema.value_fields(probe)] == [
		f["fieldname"] for f in schema.value_fields(meta)
	]
