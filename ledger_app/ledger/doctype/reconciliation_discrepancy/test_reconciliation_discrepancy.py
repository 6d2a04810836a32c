# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine.reconcile import reconcile
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	drifted_account,
	engine_db,
	ensure_users,
)

MONEY = ("cached", "derived", "difference", "balance_before", "balance_after")


def money(row: dict) -> dict:
	return {key: Decimal(str(row[key])).quantize(Decimal("0.01")) for key in MONEY}


class TestReconciliationDiscrepancy(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.account = drifted_account(self, cached="45.00")

	def test_each_discrepancy_is_a_row_of_its_run_with_the_exact_amounts(self):
		run = reconcile(engine_db(), fix=False, account=self.account, user=LEDGER_MANAGER)["run"]
		with self.set_user(LEDGER_USER):
			(row,) = client.get("Reconciliation Run", run)["discrepancies"]
		self.assertEqual(
			(row["account"], row["kind"], row["fixed"], row["fixed_by"]),
			(self.account, "Cached Balance", 0, None),
		)
		self.assertEqual(
			money(row),
			{
				"cached": Decimal("45.00"),
				"derived": Decimal("40.25"),
				"difference": Decimal("4.75"),
				"balance_before": Decimal("0.00"),
				"balance_after": Decimal("0.00"),
			},
		)

	def test_a_fixed_discrepancy_records_who_fixed_it_and_the_balance_before_and_after(self):
		run = reconcile(engine_db(), fix=True, account=self.account, user=LEDGER_MANAGER)["run"]
		(row,) = frappe.get_doc("Reconciliation Run", run).discrepancies
		row = row.as_dict()
		self.assertEqual((row["fixed"], row["fixed_by"]), (1, LEDGER_MANAGER))
		self.assertIsNotNone(row["fixed_at"])
		self.assertEqual(
			(money(row)["balance_before"], money(row)["balance_after"]), (Decimal("45.00"), Decimal("40.25"))
		)

	def test_discrepancy_rows_are_never_written_from_the_desk(self):
		run = reconcile(engine_db(), fix=False, account=self.account, user=LEDGER_MANAGER)["run"]
		row = {
			"doctype": "Reconciliation Discrepancy",
			"parenttype": "Reconciliation Run",
			"parent": run,
			"parentfield": "discrepancies",
			"account": self.account,
			"kind": "Cached Balance",
		}
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.PermissionError):
			client.insert(row)
		frappe.db.rollback()
		self.assertEqual(frappe.db.count("Reconciliation Discrepancy", {"parent": run}), 1)
		name = frappe.db.get_value("Reconciliation Discrepancy", {"parent": run})
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Reconciliation Discrepancy", name, parent="Reconciliation Run")
