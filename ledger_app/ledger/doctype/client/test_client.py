# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.tests.fixtures import LEDGER_MANAGER, LEDGER_USER, NO_LEDGER_ROLE, ensure_users, unique


class TestClient(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def new_client(self, phone: str) -> dict:
		with self.set_user(LEDGER_MANAGER):
			return client.insert(
				{"doctype": "Client", "client_id": unique("CLI"), "client_name": "Otieno", "phone": phone}
			)

	def test_the_phone_is_stored_as_the_engine_pays_profit_withdrawals_to_it(self):
		self.assertEqual(self.new_client("0712 345 678")["phone"], "254712345678")
		self.assertEqual(self.new_client("+254 112 345 678")["phone"], "254112345678")
		with self.assertRaises(frappe.ValidationError) as raised:
			self.new_client("12345")
		self.assertIn("Kenyan mobile number", str(raised.exception))

	def test_ledger_user_reads_clients_but_cannot_create_or_change_them(self):
		name = self.new_client("0712345678")["name"]
		with self.set_user(LEDGER_USER):
			form = client.get("Client", name)
			form["client_name"] = "Changed"
			with self.assertRaises(frappe.PermissionError):
				client.save(form)
			with self.assertRaises(frappe.PermissionError):
				client.insert(
					{
						"doctype": "Client",
						"client_id": unique("CLI"),
						"client_name": "X",
						"phone": "0712345678",
					}
				)
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Client", name)
		self.assertEqual(frappe.db.get_value("Client", name, "client_name"), "Otieno")
