# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	balance,
	ensure_users,
	journal,
	new_account,
)


class TestLedgerPosting(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.cash, self.sales = new_account("Asset"), new_account("Income")
		journal(self.cash, self.sales, "10.05")
		self.txn = journal(self.cash, self.sales, "0.10")

	def test_postings_are_read_with_their_transaction_with_running_balances(self):
		with self.set_user(LEDGER_USER):
			postings = client.get("Ledger Transaction", self.txn)["postings"]
		rows = {p["account"]: p for p in postings}
		self.assertEqual(set(rows), {self.cash, self.sales})
		for account, amount, after in ((self.cash, "0.10", "10.15"), (self.sales, "-0.10", "10.15")):
			self.assertEqual(Decimal(str(rows[account]["amount"])), Decimal(amount))
			self.assertEqual(Decimal(str(rows[account]["balance_after"])), Decimal(after))
			self.assertEqual(rows[account]["account_seq"], 2)
		with self.set_user(LEDGER_USER):  # one row on its own, through its parent's permission
			one = client.get("Ledger Posting", rows[self.cash]["name"], parent="Ledger Transaction")
		self.assertEqual(one["parent"], self.txn)

	def test_a_posting_cannot_be_added_or_changed_from_the_desk(self):
		row = {
			"doctype": "Ledger Posting",
			"parenttype": "Ledger Transaction",
			"parent": self.txn,
			"parentfield": "postings",
			"account": self.cash,
			"amount": 5,
		}
		with self.set_user(LEDGER_MANAGER):
			with self.assertRaises(frappe.UpdateAfterSubmitError):
				client.insert(row)
			posting = frappe.db.get_value("Ledger Posting", {"parent": self.txn, "account": self.cash})
			with self.assertRaises(frappe.UpdateAfterSubmitError):
				client.set_value("Ledger Posting", posting, "amount", 7)
		frappe.db.rollback()
		self.assertEqual(frappe.db.count("Ledger Posting", {"parent": self.txn}), 2)
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("10.15"), Decimal("10.15")))

	def test_user_without_a_ledger_role_cannot_read_postings(self):
		posting = frappe.db.get_value("Ledger Posting", {"parent": self.txn, "account": self.cash})
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Ledger Posting", posting, parent="Ledger Transaction")
