# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import clients
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	engine_db,
	ensure_users,
	new_client_exchange,
	unique,
)

MONEY = ("payment", "your_share", "company_share", "capital_closed")


class TestLossSettlement(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.exchange = new_client_exchange(my_share_pct=30, company_share_pct=20)
		db = engine_db()
		clients.fund(db, self.exchange, "1000.00", unique("fund"))
		self.snapshot = clients.record_balance(db, self.exchange, "2026-03-02", "599.50", unique("cb"))[
			"loss_snapshot"
		]
		clients.settle(db, self.exchange, "60.10", unique("settle"))
		clients.settle(db, self.exchange, "140.15", unique("settle"))  # the rest payable: 280.30 at 50 %

	def test_settlements_are_read_with_their_loss_snapshot_exactly(self):
		with self.set_user(LEDGER_USER):
			doc = client.get("Loss Snapshot", self.snapshot)
		rows = [
			{key: Decimal(str(row[key])).quantize(Decimal("0.01")) for key in MONEY}
			for row in doc["settlements"]
		]
		self.assertEqual(
			rows,
			[
				{
					"payment": Decimal("60.10"),
					"your_share": Decimal("36.06"),
					"company_share": Decimal("24.04"),
					"capital_closed": Decimal("120.20"),
				},
				{
					"payment": Decimal("140.15"),
					"your_share": Decimal("84.09"),
					"company_share": Decimal("56.06"),
					"capital_closed": Decimal("280.30"),
				},
			],
		)
		self.assertEqual([row["closed_snapshot"] for row in doc["settlements"]], [0, 1])
		self.assertEqual((doc["is_settled"], doc["remaining_loss"]), (1, 0))
		for row in doc["settlements"]:
			self.assertEqual(
				frappe.db.get_value("Ledger Transaction", row["ledger_transaction"], "transaction_type"),
				"Settlement",
			)

	def test_a_settlement_cannot_be_added_from_the_desk(self):
		row = {
			"doctype": "Loss Settlement",
			"parenttype": "Loss Snapshot",
			"parent": self.snapshot,
			"parentfield": "settlements",
			"payment": 1,
		}
		for user in (LEDGER_MANAGER, "Administrator"):
			with self.set_user(user), self.assertRaises(frappe.PermissionError):
				client.insert(dict(row))
			frappe.db.rollback()
		self.assertEqual(frappe.db.count("Loss Settlement", {"parent": self.snapshot}), 2)

	def test_user_without_a_ledger_role_cannot_read_settlements(self):
		name = frappe.db.get_value("Loss Settlement", {"parent": self.snapshot})
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Loss Settlement", name, parent="Loss Snapshot")
