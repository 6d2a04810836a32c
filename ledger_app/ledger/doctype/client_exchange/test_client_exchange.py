# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import clients
from ledger_app.engine.business import PAYBILL
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	engine_db,
	ensure_users,
	new_client_exchange,
	unique,
)

POSITION = ("capital", "active_loss", "remaining_loss", "your_share_total", "company_share_total")


class TestClientExchange(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()
		cls.client = frappe.get_doc(
			{"doctype": "Client", "client_id": unique("CLI"), "client_name": "Wanjiku", "phone": "0722000111"}
		).insert()
		frappe.db.commit()

	def fields(self, **values) -> dict:
		return {
			"doctype": "Client Exchange",
			"client_exchange_id": unique("CX"),
			"client": self.client.name,
			"exchange": "Binance",
			"my_share_pct": 30,
			"company_share_pct": 20,
			**values,
		}

	def test_manager_creates_an_exchange_with_its_two_accounts(self):
		with self.set_user(LEDGER_MANAGER):
			doc = client.insert(self.fields(capital_account=PAYBILL))  # an engine field: ignored
		names = clients.exchange_accounts(doc["name"])
		self.assertEqual(
			(doc["capital_account"], doc["payable_account"]), (names["capital"], names["payable"])
		)
		for account in names.values():
			row = frappe.db.get_value(
				"Ledger Account", account, ["party_type", "party", "owner"], as_dict=True
			)
			self.assertEqual(
				(row.party_type, row.party, row.owner), ("Client Exchange", doc["name"], LEDGER_MANAGER)
			)

	def test_a_failed_request_takes_the_new_exchanges_accounts_with_it(self):
		doc = frappe.get_doc(self.fields()).insert()
		names = list(clients.exchange_accounts(doc.name).values())
		self.assertEqual(frappe.db.count("Ledger Account", {"name": ("in", names)}), 2)
		frappe.db.rollback()  # after_insert neither committed nor ended the request's transaction
		self.assertFalse(frappe.db.exists("Client Exchange", doc.name))
		self.assertEqual(frappe.db.count("Ledger Account", {"name": ("in", names)}), 0)

	def test_the_shares_are_checked(self):
		for my_share, company_share in ((0, 50), (50, 0), (-1, 50), (60, 40.01), (None, 10)):
			with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.ValidationError):
				client.insert(self.fields(my_share_pct=my_share, company_share_pct=company_share))
		for my_share, company_share in ((50, 50), (0.01, 99.99)):
			with self.set_user(LEDGER_MANAGER):
				doc = client.insert(self.fields(my_share_pct=my_share, company_share_pct=company_share))
			self.assertEqual((doc["my_share_pct"], doc["company_share_pct"]), (my_share, company_share))

	def test_the_position_is_read_from_the_engine_exactly(self):
		name = new_client_exchange(my_share_pct=30, company_share_pct=20)
		db = engine_db()
		clients.fund(db, name, "1000.00", unique("fund"))
		clients.record_balance(db, name, "2026-03-02", "599.50", unique("cb"))  # a loss of 400.50
		clients.settle(db, name, "60.10", unique("settle"))  # closes 120.20 of capital at 50 %
		doc = frappe.get_doc("Client Exchange", name)
		position = {key: getattr(doc, key) for key in POSITION}
		self.assertEqual(
			position,
			{
				"capital": Decimal("879.80"),
				"active_loss": Decimal("400.50"),
				"remaining_loss": Decimal("280.30"),
				"your_share_total": Decimal("36.06"),
				"company_share_total": Decimal("24.04"),
			},
		)
		self.assertTrue(all(type(value) is Decimal for value in position.values()))
		self.assertEqual(position, clients.position(db, name))
		unsaved = frappe.new_doc("Client Exchange")
		self.assertEqual({getattr(unsaved, key) for key in POSITION}, {Decimal(0)})

	def test_a_desk_save_keeps_the_engines_accounts_and_drops_the_position_sent_back(self):
		name = new_client_exchange()
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Client Exchange", name)
			form.update(exchange="Kraken", capital=5000, capital_account=PAYBILL, payable_account=None)
			saved = client.save(form)
		names = clients.exchange_accounts(name)
		self.assertEqual((saved["exchange"], saved["capital"]), ("Kraken", 0))
		stored = frappe.db.get_value(
			"Client Exchange", name, ["capital_account", "payable_account"], as_dict=True
		)
		self.assertEqual(
			(stored.capital_account, stored.payable_account), (names["capital"], names["payable"])
		)

	def test_ledger_user_reads_exchanges_but_cannot_create_or_change_them(self):
		name = new_client_exchange()
		with self.set_user(LEDGER_USER):
			form = client.get("Client Exchange", name)
			form["my_share_pct"] = 10
			with self.assertRaises(frappe.PermissionError):
				client.save(form)
			with self.assertRaises(frappe.PermissionError):
				client.insert(self.fields())
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Client Exchange", name)
		self.assertEqual(frappe.db.get_value("Client Exchange", name, "my_share_pct"), 30)
