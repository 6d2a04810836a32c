# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.api import drivers as drivers_api
from ledger_app.engine.business import SUSPENSE
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	assert_written_by_the_engine_only,
	balance,
	engine_db,
	ensure_users,
	new_driver,
	pay,
	unique,
)


class TestUnmatchedPayment(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.account = unique("NOBODY")
		self.suspense_before = (
			balance(SUSPENSE) if frappe.db.exists("Ledger Account", SUSPENSE) else Decimal(0)
		)
		with self.assertLogs("ledger_app.alerts", "WARNING") as alerts:
			outcome = pay(self.account, "150.35")
		self.assertEqual(outcome.kind, "unmatched")
		self.assertIn(self.account, alerts.output[0])
		self.unmatched = outcome.unmatched_payment

	def test_its_transid_resent_with_another_amount_is_an_alerted_mismatch_that_moves_nothing(self):
		from ledger_app.engine import drivers

		trans_id = frappe.db.get_value("Unmatched Payment", self.unmatched, "trans_id")
		with self.assertLogs("ledger_app.alerts", "WARNING") as alerts:
			outcome = drivers.record_missed_payment(engine_db(), trans_id, "99.00", self.account)
		self.assertTrue(outcome.duplicate)
		self.assertTrue(outcome.mismatch.startswith(f"mismatch: TransID {trans_id} was recorded as Unmatched Payment"))
		self.assertIn("99.00", outcome.mismatch)
		self.assertEqual(alerts.output, [f"WARNING:ledger_app.alerts:{outcome.mismatch}"])
		self.assertEqual(balance(SUSPENSE) - self.suspense_before, Decimal("150.35"))

	def test_a_payment_to_an_unknown_account_waits_in_suspense(self):
		with self.set_user(LEDGER_MANAGER):
			doc = client.get("Unmatched Payment", self.unmatched)
		self.assertEqual(
			(doc["status"], doc["bill_ref_number"], doc["amount"]), ("Open", self.account, 150.35)
		)
		self.assertEqual(balance(SUSPENSE) - self.suspense_before, Decimal("150.35"))

	def test_the_desk_writes_no_unmatched_payment(self):
		assert_written_by_the_engine_only(
			self, "Unmatched Payment", self.unmatched, {"trans_id": unique("T"), "amount": 5}
		)

	def test_manager_assigns_it_to_a_driver_once(self):
		driver, other = new_driver(self), new_driver(self)
		with self.set_user(LEDGER_MANAGER):
			drivers_api.assign_unmatched(unmatched_payment=self.unmatched, driver=driver)
			again = drivers_api.assign_unmatched(unmatched_payment=self.unmatched, driver=driver)
			with self.assertRaises(frappe.DuplicateEntryError):  # the engine's Conflict
				drivers_api.assign_unmatched(unmatched_payment=self.unmatched, driver=other)
			doc = client.get("Unmatched Payment", self.unmatched)
		self.assertTrue(again["duplicate"])
		self.assertEqual(
			(doc["status"], doc["assigned_driver"], doc["assigned_by"]), ("Assigned", driver, LEDGER_MANAGER)
		)
		self.assertEqual(
			frappe.get_doc("Fleet Driver", driver).payable, Decimal("150.35")
		)  # nothing was owed
		self.assertEqual(frappe.get_doc("Fleet Driver", other).payable, Decimal("0.00"))
		self.assertEqual(balance(SUSPENSE), self.suspense_before)

	def test_only_a_ledger_manager_reads_unmatched_payments(self):
		for user in (LEDGER_USER, NO_LEDGER_ROLE):
			with self.set_user(user), self.assertRaises(frappe.PermissionError):
				client.get("Unmatched Payment", self.unmatched)
		driver = new_driver(self)
		with self.set_user(LEDGER_USER), self.assertRaises(frappe.PermissionError):
			drivers_api.assign_unmatched(unmatched_payment=self.unmatched, driver=driver)
		self.assertEqual(frappe.db.get_value("Unmatched Payment", self.unmatched, "status"), "Open")
