# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine.errors import InvariantViolation
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	balance,
	ensure_users,
	journal,
	new_account,
	unique,
)


class TestLedgerAccount(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def test_an_account_created_from_the_desk_starts_at_zero_on_its_normal_side(self):
		name = unique("Desk Liability")
		with self.set_user(LEDGER_MANAGER):
			doc = client.insert(
				{
					"doctype": "Ledger Account",
					"account_name": name,
					"root_type": "Liability",
					"normal_side": "Debit",  # derived from the root type, whatever the form says
					"balance": 500,
					"posting_count": 7,
				}
			)
		self.assertEqual((doc["normal_side"], doc["balance"], doc["posting_count"]), ("Credit", 0, 0))
		self.assertEqual(frappe.db.get_value("Ledger Account", name, "normal_side"), "Credit")

	def test_a_look_alike_account_name_is_refused_from_the_desk_and_a_decomposed_one_composed(self):
		with self.set_user(LEDGER_MANAGER):
			with self.assertRaises(frappe.ValidationError) as raised:
				client.insert({"doctype": "Ledger Account", "account_name": unique("Desk Ca\u200bsh"), "root_type": "Asset"})
			self.assertIn("invisible character (U+200B)", str(raised.exception))
			name = unique("Cafe\u0301")
			doc = client.insert({"doctype": "Ledger Account", "account_name": name, "root_type": "Asset"})
		composed = name.replace("e\u0301", "\u00e9")
		self.assertEqual((doc["name"], doc["account_name"]), (composed, composed))

	def test_a_desk_save_from_a_form_opened_before_a_posting_keeps_the_engines_balance(self):
		cash, sales = new_account("Asset"), new_account("Income")
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Ledger Account", cash)
		journal(cash, sales, "40.25")  # moves balance and posting_count, not `modified`
		form.update(allow_negative_balance=1, balance=999, posting_count=0)
		with self.set_user(LEDGER_MANAGER):
			client.save(form)
		stored = frappe.db.get_value(
			"Ledger Account", cash, ["allow_negative_balance", "posting_count"], as_dict=True
		)
		self.assertEqual((stored.allow_negative_balance, stored.posting_count), (1, 1))
		self.assertEqual(balance(cash), Decimal("40.25"))

	def test_an_account_frozen_from_the_desk_takes_no_postings(self):
		cash, sales = new_account("Asset"), new_account("Income")
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Ledger Account", cash)
			form["frozen"] = 1
			client.save(form)
		frappe.db.commit()
		with self.assertRaises(InvariantViolation) as raised:
			journal(cash, sales, "1.00")
		self.assertIn("frozen", str(raised.exception))
		self.assertEqual((balance(cash), balance(sales)), (Decimal("0.00"), Decimal("0.00")))

	def test_ledger_user_reads_accounts_but_cannot_create_or_change_them(self):
		cash = new_account("Asset")
		with self.set_user(LEDGER_USER):
			form = client.get("Ledger Account", cash)
			with self.assertRaises(frappe.PermissionError):
				client.insert(
					{"doctype": "Ledger Account", "account_name": unique("X"), "root_type": "Asset"}
				)
			form["frozen"] = 1
			with self.assertRaises(frappe.PermissionError):
				client.save(form)
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.PermissionError):
			client.delete("Ledger Account", cash)
		self.assertEqual(frappe.db.get_value("Ledger Account", cash, "frozen"), 0)

	def test_user_without_a_ledger_role_cannot_read_accounts(self):
		cash = new_account("Asset")
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Ledger Account", cash)
