"""What ``install-app`` and ``migrate`` leave on the site: the two roles and the constraints a doctype JSON
cannot express (``ledger_app/db/constraints.py``), applied by ``after_install`` and the patch."""

import frappe
from frappe.tests.utils import FrappeTestCase

from ledger_app.db import constraints
from ledger_app.patches.v0_1.apply_constraints import FrappeCatalog
from ledger_app.patches.v0_1.apply_constraints import execute as apply_constraints
from ledger_app.patches.v0_2.scope_idempotency_keys import execute as scope_idempotency_keys
from ledger_app.setup.install import ROLES, after_install
from ledger_app.tests.fixtures import unique

#: an index that only speeds reads up: safe to drop for a moment
DROPPABLE = "posting_account_datetime"


class TestInstall(FrappeTestCase):
	def missing_constraints(self) -> list[str]:
		catalog = FrappeCatalog(frappe)
		return [c.name for c in constraints.CONSTRAINTS if not constraints.exists(catalog, c)]

	def test_after_install_leaves_both_roles_and_every_constraint_and_can_run_again(self):
		after_install()
		after_install()
		for role in ROLES:
			self.assertEqual(frappe.db.get_value("Role", role, "desk_access"), 1)
		self.assertEqual(self.missing_constraints(), [])

	def test_a_missing_constraint_is_restored_even_after_writes_in_the_same_transaction(self):
		self.addCleanup(apply_constraints)
		frappe.db.commit()
		frappe.db.sql_ddl(f"DROP INDEX `{DROPPABLE}` ON `tabLedger Posting`")
		self.assertEqual(self.missing_constraints(), [DROPPABLE])
		name = unique("CLI")  # a write pending when the patch runs its DDL (MariaDB commits on DDL)
		frappe.get_doc(
			{"doctype": "Client", "client_id": name, "client_name": "X", "phone": "0712345678"}
		).insert()
		apply_constraints()
		self.assertEqual(self.missing_constraints(), [])
		frappe.db.rollback()
		self.assertTrue(frappe.db.exists("Client", name))  # committed first, as frappe.db.add_index does

	def test_the_database_keeps_one_active_loss_per_client_exchange(self):
		frappe.db.commit()
		rows = [
			{
				"name": unique("LS"),
				"client_exchange": "CX-CONSTRAINT",
				"balance_record": unique("BR"),
				"is_settled": 0,
			}
			for _ in range(2)
		]
		insert = (
			"INSERT INTO `tabLoss Snapshot` (name, client_exchange, balance_record, is_settled)"
			" VALUES (%(name)s, %(client_exchange)s, %(balance_record)s, %(is_settled)s)"
		)
		frappe.db.sql(insert, rows[0])
		with self.assertRaises(Exception) as raised:
			frappe.db.sql(insert, rows[1])
		self.assertTrue(frappe.db.is_unique_key_violation(raised.exception), raised.exception)
		self.assertIn("one_active_loss", str(raised.exception))
		frappe.db.rollback()
		self.assertFalse(frappe.db.exists("Loss Snapshot", rows[0]["name"]))

	def insert_transaction(self, name, transaction_type, scope, key):
		frappe.db.sql(
			"INSERT INTO `tabLedger Transaction` (name, docstatus, transaction_type, posting_datetime, key_scope,"
			" idempotency_key) VALUES (%(name)s, 1, %(type)s, '2026-03-01 00:00:00', %(scope)s, %(key)s)",
			{"name": name, "type": transaction_type, "scope": scope, "key": key},
		)

	def test_the_database_keeps_each_idempotency_key_unique_within_its_scope_only(self):
		frappe.db.commit()
		key = unique("QKEY")
		self.insert_transaction(unique("LT"), "Journal", "Journal", key)
		self.insert_transaction(unique("LT"), "C2B Payment", "C2B Receipt", key)  # another scope: allowed
		with self.assertRaises(Exception) as raised:
			self.insert_transaction(unique("LT"), "Unmatched Payment", "C2B Receipt", key)
		self.assertTrue(frappe.db.is_unique_key_violation(raised.exception), raised.exception)
		self.assertIn("transaction_scope_key", str(raised.exception))
		frappe.db.rollback()

	def test_the_key_scope_patch_gives_rows_from_before_it_their_scope_and_can_run_again(self):
		self.addCleanup(frappe.db.rollback)
		names = {unique("LT"): ("Driver Repayment", "C2B Receipt"), unique("LT"): ("Journal", "Journal")}
		for name, (transaction_type, _) in names.items():
			self.insert_transaction(name, transaction_type, "", unique("QOLD"))
		frappe.db.commit()
		try:
			scope_idempotency_keys()
			scope_idempotency_keys()
			for name, (_, scope) in names.items():
				self.assertEqual(frappe.db.get_value("Ledger Transaction", name, "key_scope"), scope)
			self.assertEqual(self.missing_constraints(), [])
		finally:
			frappe.db.sql("DELETE FROM `tabLedger Transaction` WHERE name IN %(names)s", {"names": tuple(names)})
			frappe.db.commit()
