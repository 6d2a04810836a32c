# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import clients
from ledger_app.engine.errors import Conflict
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	assert_written_by_the_engine_only,
	engine_db,
	ensure_users,
	new_client_exchange,
	unique,
)


class TestLossSnapshot(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.exchange = new_client_exchange(my_share_pct=30, company_share_pct=20)
		clients.fund(engine_db(), self.exchange, "1000.00", unique("fund"))
		self.record = clients.record_balance(engine_db(), self.exchange, "2026-03-02", "599.50", unique("cb"))
		self.snapshot = self.record["loss_snapshot"]

	def test_a_loss_is_frozen_with_the_shares_of_its_moment(self):
		with self.set_user(LEDGER_MANAGER):  # the exchange's shares change after the loss
			form = client.get("Client Exchange", self.exchange)
			form.update(my_share_pct=10, company_share_pct=10)
			client.save(form)
		with self.set_user(LEDGER_USER):
			doc = client.get("Loss Snapshot", self.snapshot)
		self.assertEqual((doc["loss_amount"], doc["remaining_loss"], doc["is_settled"]), (400.50, 400.50, 0))
		self.assertEqual((doc["my_share_pct"], doc["company_share_pct"]), (30, 20))
		self.assertEqual(
			(doc["client_exchange"], doc["balance_record"]), (self.exchange, self.record["name"])
		)
		frappe.db.rollback()

	def test_a_new_balance_is_refused_while_the_loss_is_active(self):
		with self.assertRaises(Conflict):
			clients.record_balance(engine_db(), self.exchange, "2026-03-03", "700.00", unique("cb"))
		self.assertEqual(clients.position(engine_db(), self.exchange)["remaining_loss"], Decimal("400.50"))

	def test_the_desk_writes_no_loss_snapshot(self):
		new = {"client_exchange": self.exchange, "balance_record": self.record["name"], "loss_amount": 1}
		assert_written_by_the_engine_only(self, "Loss Snapshot", self.snapshot, new)

	def test_user_without_a_ledger_role_cannot_read_loss_snapshots(self):
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Loss Snapshot", self.snapshot)
