# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.api import ledger as ledger_api
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	balance,
	drifted_account,
	ensure_users,
)


class TestReconciliationRun(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.account = drifted_account(self, cached="45.00")

	def reconcile_as_manager(self, fix: bool) -> dict:
		with self.set_user(LEDGER_MANAGER):
			return ledger_api.reconcile(fix=fix, account=self.account)

	def test_a_run_reports_a_drifted_cache_and_a_fixing_run_resets_it(self):
		report = self.reconcile_as_manager(fix=False)
		with self.set_user(LEDGER_USER):
			run = client.get("Reconciliation Run", report["run"])
		self.assertEqual(
			(run["status"], run["scope"], run["run_by"]),
			("Discrepancies", f"account:{self.account}", LEDGER_MANAGER),
		)
		self.assertEqual(
			(run["accounts_checked"], run["postings_checked"], run["discrepancy_count"], run["fixed_count"]),
			(1, 1, 1, 0),
		)
		self.assertEqual(balance(self.account), Decimal("45.00"))  # reported, not changed

		fixing = self.reconcile_as_manager(fix=True)
		run = frappe.get_doc("Reconciliation Run", fixing["run"])
		self.assertEqual(
			(run.status, run.fix_requested, run.discrepancy_count, run.fixed_count), ("Fixed", 1, 1, 1)
		)
		self.assertEqual(balance(self.account), Decimal("40.25"))
		clean = frappe.get_doc("Reconciliation Run", self.reconcile_as_manager(fix=False)["run"])
		self.assertEqual((clean.status, clean.discrepancy_count), ("Clean", 0))

	def test_runs_are_made_by_reconciliation_only(self):
		for user in (LEDGER_MANAGER, LEDGER_USER):
			with self.set_user(user), self.assertRaises(frappe.PermissionError):
				client.insert({"doctype": "Reconciliation Run", "status": "Clean", "scope": "all"})
		with self.set_user(LEDGER_USER), self.assertRaises(frappe.PermissionError):
			ledger_api.reconcile(fix=True, account=self.account)  # fixing is the manager's
		self.assertEqual(balance(self.account), Decimal("45.00"))

	def test_user_without_a_ledger_role_cannot_read_runs(self):
		run = self.reconcile_as_manager(fix=False)["run"]
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Reconciliation Run", run)
