# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt


import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import clients, payouts
from ledger_app.engine.errors import Conflict
from ledger_app.tests.fixtures import (
	LEDGER_USER,
	NO_LEDGER_ROLE,
	assert_written_by_the_engine_only,
	engine_db,
	ensure_users,
	new_client_exchange,
	unique,
)


class TestBalanceRecord(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.exchange = new_client_exchange()
		clients.fund(engine_db(), self.exchange, "1000.00", unique("fund"))
		self.record = clients.record_balance(
			engine_db(), self.exchange, "2026-03-02", "1250.40", unique("cb")
		)
		# the withdrawal's payout, settled as the gateway's result would (no Queued payout is left behind)
		ocid = frappe.db.get_value("Payout", self.record["payout"], "originator_conversation_id")
		self.addCleanup(
			payouts.record_result, engine_db(), ocid, "0", "paid by the test's cleanup", receipt=unique("R")
		)

	def test_a_profit_is_recorded_and_withdrawn_once_in_the_same_transaction(self):
		with self.set_user(LEDGER_USER):
			doc = client.get("Balance Record", self.record["name"])
		self.assertEqual(
			(doc["remaining_balance"], doc["capital_at_time"], doc["profit_at_time"], doc["loss_at_time"]),
			(1250.40, 1000, 250.40, 0),
		)
		self.assertEqual((doc["profit_consumed"], doc["loss_snapshot"]), (1, None))
		withdrawal = frappe.get_doc("Ledger Transaction", doc["withdrawal_transaction"])
		self.assertEqual(
			(withdrawal.transaction_type, withdrawal.idempotency_key),
			("Profit Withdrawal", doc["profit_withdrawal_id"]),
		)
		payout = frappe.get_doc("Payout", doc["payout"])
		self.assertEqual(
			(payout.purpose, payout.party, payout.amount), ("Profit Withdrawal", self.exchange, 250)
		)
		payable = clients.exchange_accounts(self.exchange)["payable"]
		self.assertEqual(
			frappe.db.get_value("Ledger Account", payable, "balance"), 0.40
		)  # the cents stay payable
		with self.assertRaises(Conflict):  # one balance per exchange and day
			clients.record_balance(engine_db(), self.exchange, "2026-03-02", "1300.00", unique("cb"))
		self.assertEqual(frappe.db.count("Balance Record", {"client_exchange": self.exchange}), 1)

	def test_the_desk_writes_no_balance_record(self):
		new = {
			"client_exchange": self.exchange,
			"date": "2026-03-03",
			"remaining_balance": 1,
			"idempotency_key": unique("k"),
		}
		assert_written_by_the_engine_only(self, "Balance Record", self.record["name"], new)

	def test_user_without_a_ledger_role_cannot_read_balance_records(self):
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Balance Record", self.record["name"])
