"""``ensure_schema`` builds the generated schema on real databases, and its constraints hold there.

Parametrised over ``db_url`` (SQLite, MariaDB, PostgreSQL): every table, column, index and constraint
once, also when run twice, over an older table or by racing processes; and the keys and checks the
ledger relies on refuse what they must.
"""

from __future__ import annotations

import json
import multiprocessing
from decimal import Decimal

import pytest

from ledger_app.db import catalog, constraints, schema
from ledger_app.db.pool import ConnectionPool
from ledger_app.engine.errors import UniqueViolation
from tests.layout import DOCTYPES, VIRTUAL_FIELDS


def tables_and_indexes(db) -> dict:
	result = {}
	for meta in DOCTYPES.values():
		if meta.get("issingle"):
			continue
		table = schema.table_name(meta["name"])
		result[table] = (
			sorted(catalog.columns(db, table)),
			sorted((i.columns, i.unique) for i in catalog.indexes(db, table)),
		)
	return result


def test_ensure_schema_twice_builds_every_table_once(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			first = tables_and_indexes(db)
			schema.ensure_schema(db)
			assert tables_and_indexes(db) == first
			assert catalog.table_exists(db, "tabSingles")
			assert not catalog.table_exists(db, "tabLedger Settings")
			for meta in DOCTYPES.values():
				if meta.get("issingle"):
					continue
				table = schema.table_name(meta["name"])
				expected = {name for name, _ in schema.table_columns(meta, db.dialect.name)}
				if db.dialect.name == "mariadb":  # a partial unique key's generated columns
					expected |= {
						c.generated_column(column)
						for c in constraints.CONSTRAINTS
						if isinstance(c, constraints.PartialUnique) and c.table == table
						for column in c.columns
					}
				assert set(first[table][0]) == expected
				for _, columns, unique in schema.wanted_indexes(meta, db.dialect.name):
					assert catalog.has_index_on(db, table, columns, unique), (table, columns)
			for constraint in constraints.CONSTRAINTS:
				assert constraints.exists(db, constraint), constraint.name
	finally:
		pool.dispose()


def test_constraints_hold_on_the_generated_schema(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			db.sql(
				"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side)"
				" VALUES ('Paybill', 'Paybill', 'Asset', 'Debit')"
			)
			with pytest.raises(Exception):
				db.sql(
					"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side)"
					" VALUES ('Odd', 'Odd', 'Asset', 'Sideways')"
				)
			with pytest.raises(Exception):  # account_name is unique
				db.sql(
					"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side)"
					" VALUES ('Paybill 2', 'Paybill', 'Asset', 'Debit')"
				)
			expr = schema.autoincrement_name_expr("Ledger Posting", db.dialect.name)
			name_column, name_value = ("name, ", f"{expr}, ") if expr else ("", "")

			def post(amount, seq):
				db.sql(
					f"INSERT INTO `tabLedger Posting` ({name_column}account, account_seq, amount, parent, parentfield,"
					f" parenttype) VALUES ({name_value}'Paybill', %(seq)s, %(amount)s, 'T1', 'postings', 'Ledger Transaction')",
					{"amount": amount, "seq": seq},
				)

			post("10.50", 1)
			post("-10.50", 2)
			with pytest.raises(Exception):  # a posting of zero is no posting
				post("0.00", 3)
			with pytest.raises(Exception):  # one posting per position in the account's history
				post("1.00", 2)
			rows = db.sql(
				f"SELECT name, {db.dialect.money('amount')} AS amount FROM `tabLedger Posting` ORDER BY name"
			)
			assert [int(r["name"]) for r in rows] == [1, 2]  # autoincrement names
			assert [Decimal(r["amount"]) for r in rows] == [Decimal("10.50"), Decimal("-10.50")]
	finally:
		pool.dispose()


def test_ensure_schema_upgrades_an_older_table(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			dialect = db.dialect.name
			old = json.loads(json.dumps(DOCTYPES["Callback Log"]))
			old["fields"] = [f for f in old["fields"] if f["fieldname"] not in ("reference", "http_status")]
			for statement in schema.create_table_sql(old, dialect):
				db.sql(statement)
			db.sql("INSERT INTO `tabCallback Log` (name, endpoint) VALUES ('old-1', 'c2b_confirmation')")
			assert "reference" not in catalog.columns(db, "tabCallback Log")

			schema.ensure_schema(db)

			assert {"reference", "http_status"} <= catalog.columns(db, "tabCallback Log")
			assert catalog.has_index_on(db, "tabCallback Log", ("reference",), unique=False)
			row = db.sql("SELECT endpoint, http_status, status FROM `tabCallback Log` WHERE name = 'old-1'")[
				0
			]
			assert row["endpoint"] == "c2b_confirmation" and int(row["http_status"]) == 0
	finally:
		pool.dispose()


def test_partial_unique_allows_one_row_per_key_where_the_condition_holds(db_url):
	pool = ConnectionPool(db_url)
	partial = constraints.PartialUnique(
		"test_one_open_per_party", "tabLedger Account", ("party",), "frozen = 0"
	)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			assert constraints.apply_all(db, [partial]) == ["test_one_open_per_party"]
			assert constraints.apply_all(db, [partial]) == []

			def add(name, frozen):
				db.sql(
					"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side, party, frozen)"
					" VALUES (%(name)s, %(name)s, 'Liability', 'Credit', 'Driver 1', %(frozen)s)",
					{"name": name, "frozen": frozen},
				)

			add("open", 0)
			add("closed 1", 1)
			add("closed 2", 1)
			with pytest.raises(Exception):
				add("open again", 0)
			db.sql("UPDATE `tabLedger Account` SET frozen = 1 WHERE name = 'open'")
			add("open again", 0)
	finally:
		pool.dispose()


def _ensure_schema_in_a_process(url, barrier, failures):
	try:
		pool = ConnectionPool(url, size=1, overflow=0)
		try:
			with pool.connection() as db:
				barrier.wait(timeout=60)
				schema.ensure_schema(db)
		finally:
			pool.dispose()
	except BaseException as exc:
		barrier.abort()  # the others stop waiting for this one
		failures.put(f"{type(exc).__name__}: {exc}")
		raise


def test_processes_racing_ensure_schema_leave_one_correct_schema(db_url):
	context = multiprocessing.get_context("spawn")
	barrier, failures = context.Barrier(3), context.Queue()
	processes = [
		context.Process(target=_ensure_schema_in_a_process, args=(db_url, barrier, failures)) for _ in range(3)
	]
	for process in processes:
		process.start()
	for process in processes:
		process.join(timeout=120)
	reported = []
	while not failures.empty():
		reported.append(failures.get())
	assert [p.exitcode for p in processes] == [0, 0, 0], reported

	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			raced = tables_and_indexes(db)
			schema.ensure_schema(db)
			assert tables_and_indexes(db) == raced
			for constraint in constraints.CONSTRAINTS:
				assert constraints.exists(db, constraint), constraint.name
	finally:
		pool.dispose()


def test_virtual_fields_have_no_column_on_the_database(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			columns = catalog.columns(db, "tabFleet Driver")
			assert {"driver_id", "payable_account", "deposit_account", "last_target_date"} <= columns
			assert not columns & VIRTUAL_FIELDS["Fleet Driver"]
			schema.ensure_schema(db)  # an upgrade run never adds them either
			assert not catalog.columns(db, "tabFleet Driver") & VIRTUAL_FIELDS["Fleet Driver"]
			for table in ("tabFleet Vehicle", "tabUnmatched Payment"):
				assert catalog.table_exists(db, table)
	finally:
		pool.dispose()


def test_client_constraints_hold_on_the_generated_schema(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)

			def record(name, exchange, date):
				db.sql(
					"INSERT INTO `tabBalance Record` (name, client_exchange, date, idempotency_key)"
					" VALUES (%(name)s, %(exchange)s, %(date)s, %(name)s)",
					{"name": name, "exchange": exchange, "date": date},
				)

			def snapshot(name, exchange, settled, balance_record=None):
				db.sql(
					"INSERT INTO `tabLoss Snapshot` (name, client_exchange, balance_record, is_settled)"
					" VALUES (%(name)s, %(exchange)s, %(record)s, %(settled)s)",
					{
						"name": name,
						"exchange": exchange,
						"record": balance_record or name,
						"settled": settled,
					},
				)

			record("r1", "CX1", "2026-03-01")
			record("r2", "CX1", "2026-03-02")
			record("r3", "CX2", "2026-03-01")
			with pytest.raises(UniqueViolation):  # one balance record per exchange per day
				record("r4", "CX1", "2026-03-01")

			snapshot("r1", "CX1", 1)
			snapshot("r2", "CX1", 0)
			snapshot("r3", "CX2", 0)
			with pytest.raises(UniqueViolation):  # one active loss per exchange
				snapshot("r5", "CX1", 0)
			snapshot("r6", "CX1", 1)  # settled ones never clash
			with pytest.raises(UniqueViolation):  # balance_record is unique
				snapshot("s8", "CX2", 1, balance_record="r2")
			db.sql("UPDATE `tabLoss Snapshot` SET is_settled = 1 WHERE name = 'r2'")
			snapshot("r7", "CX1", 0)
	finally:
		pool.dispose()
