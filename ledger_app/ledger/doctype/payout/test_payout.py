# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import payouts
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	assert_written_by_the_engine_only,
	engine_db,
	ensure_users,
	new_driver,
	new_vehicle,
	pay,
	unique,
)


class TestPayout(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.driver = new_driver(self)
		pay(new_vehicle(self.driver), "125.75")
		self.payout = payouts.request_payout(engine_db(), "Fleet Driver", self.driver, unique("payout"))
		# settled as the gateway's result would, so no Queued payout is left for a dispatcher
		self.addCleanup(
			payouts.record_result,
			engine_db(),
			self.payout["originator_conversation_id"],
			"0",
			"paid by the test's cleanup",
			receipt=unique("R"),
		)

	def test_a_payout_takes_the_whole_units_payable_into_flight(self):
		with self.set_user(LEDGER_USER):
			doc = client.get("Payout", self.payout["name"])
		self.assertEqual(
			(doc["status"], doc["amount"], doc["purpose"], doc["phone"]),
			("Queued", 125, "Driver Share", "254712345678"),
		)
		self.assertEqual(frappe.get_doc("Fleet Driver", self.driver).payable, Decimal("0.75"))
		queued = frappe.get_doc("Ledger Transaction", doc["queue_transaction"])
		self.assertEqual(
			(queued.transaction_type, queued.party, queued.docstatus), ("Payout Queued", self.driver, 1)
		)

	def test_a_paid_payout_shows_its_receipt(self):
		receipt = unique("R")
		payouts.record_result(
			engine_db(), self.payout["originator_conversation_id"], "0", "ok", receipt=receipt
		)
		with self.set_user(LEDGER_MANAGER):
			doc = client.get("Payout", self.payout["name"])
		self.assertEqual((doc["status"], doc["gateway_receipt"], doc["result_code"]), ("Paid", receipt, "0"))
		self.assertEqual(
			frappe.db.get_value("Ledger Transaction", doc["settle_transaction"], "transaction_type"),
			"Payout Paid",
		)

	def test_the_desk_writes_no_payout(self):
		new = {
			"party_type": "Fleet Driver",
			"party": self.driver,
			"amount": 10,
			"purpose": "Bonus",
			"phone": "254712345678",
			"originator_conversation_id": unique("OC"),
			"idempotency_key": unique("k"),
		}
		assert_written_by_the_engine_only(self, "Payout", self.payout["name"], new)

	def test_user_without_a_ledger_role_cannot_read_payouts(self):
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Payout", self.payout["name"])
