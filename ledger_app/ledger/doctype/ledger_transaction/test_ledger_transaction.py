# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.desk.form.save import savedocs
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


class TestLedgerTransaction(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.cash = new_account("Asset")
		self.sales = new_account("Income")
		self.txn = journal(self.cash, self.sales, "250.75")

	def test_cancel_from_the_desk_posts_the_reversal_in_the_same_database_transaction(self):
		with self.set_user(LEDGER_MANAGER):
			cancelled = client.cancel("Ledger Transaction", self.txn)
		self.assertEqual(cancelled["docstatus"], 2)
		reversal = frappe.get_doc("Ledger Transaction", {"reversal_of": self.txn})
		self.assertEqual(
			(reversal.docstatus, reversal.transaction_type, reversal.idempotency_key, reversal.owner),
			(1, "Reversal", f"cancel:{self.txn}", LEDGER_MANAGER),
		)
		self.assertEqual(
			{(p.account, Decimal(str(p.amount))) for p in reversal.postings},
			{(self.cash, Decimal("-250.75")), (self.sales, Decimal("250.75"))},
		)
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("0.00"), Decimal("0.00")))

		frappe.db.rollback()  # the request fails after on_cancel: the reversal goes with the cancel
		self.assertEqual(frappe.db.get_value("Ledger Transaction", self.txn, "docstatus"), 1)
		self.assertFalse(frappe.db.exists("Ledger Transaction", {"reversal_of": self.txn}))
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("250.75"), Decimal("250.75")))

	def test_a_cancelled_transaction_cannot_be_cancelled_again(self):
		with self.set_user(LEDGER_MANAGER):
			client.cancel("Ledger Transaction", self.txn)
			frappe.db.commit()
			with self.assertRaises(frappe.ValidationError):
				client.cancel("Ledger Transaction", self.txn)
		self.assertEqual(frappe.db.count("Ledger Transaction", {"reversal_of": self.txn}), 1)
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("0.00"), Decimal("0.00")))

	def test_a_cancel_the_ledger_cannot_post_is_refused_with_the_reason_and_changes_nothing(self):
		journal(new_account("Expense"), self.cash, "200.00")  # cash is down to 50.75
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.ValidationError) as raised:
			client.cancel("Ledger Transaction", self.txn)  # its reversal would take cash to -200.00
		self.assertIn(f"balance of {self.cash} would become -200.00", str(raised.exception))
		frappe.db.rollback()  # as the failed request is
		self.assertEqual(frappe.db.get_value("Ledger Transaction", self.txn, "docstatus"), 1)
		self.assertEqual(balance(self.cash), Decimal("50.75"))

	def test_a_reversal_cannot_be_cancelled(self):
		with self.set_user(LEDGER_MANAGER):
			client.cancel("Ledger Transaction", self.txn)
			frappe.db.commit()
			reversal = frappe.db.get_value("Ledger Transaction", {"reversal_of": self.txn})
			with self.assertRaises(frappe.DuplicateEntryError) as raised:  # the engine's Conflict (409)
				client.cancel("Ledger Transaction", reversal)
		self.assertIn("a Reversal transaction cannot be reversed", str(raised.exception))
		frappe.db.rollback()
		self.assertEqual(frappe.db.get_value("Ledger Transaction", reversal, "docstatus"), 1)
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("0.00"), Decimal("0.00")))

	def test_amending_a_cancelled_transaction_is_refused_with_a_clear_message(self):
		with self.set_user(LEDGER_MANAGER):
			client.cancel("Ledger Transaction", self.txn)
		frappe.db.commit()
		for user in (LEDGER_MANAGER, "Administrator"):
			with self.set_user(user), self.assertRaises(frappe.ValidationError) as raised:
				savedocs(frappe.as_json(self.amendment_as_the_desk_makes_it()), "Save")
			self.assertNotIsInstance(raised.exception, frappe.PermissionError)
			self.assertIn(f"Ledger Transaction {self.txn} cannot be amended", str(raised.exception))
		self.assertFalse(frappe.db.exists("Ledger Transaction", {"amended_from": self.txn}))

	def amendment_as_the_desk_makes_it(self) -> dict:
		"""What the form's Amend sends to savedocs: a copy of the cancelled document as a new draft."""
		amendment = frappe.copy_doc(frappe.get_doc("Ledger Transaction", self.txn)).as_dict()
		amendment.update(name="new-ledger-transaction-1", docstatus=0, amended_from=self.txn, __islocal=1)
		return amendment

	def test_the_desk_cannot_post_a_transaction(self):
		draft = {
			"doctype": "Ledger Transaction",
			"transaction_type": "Journal",
			"posting_datetime": frappe.utils.now(),
			"idempotency_key": frappe.generate_hash(),
			"postings": [{"account": self.cash, "amount": 5}, {"account": self.sales, "amount": -5}],
		}
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.PermissionError):
			client.insert(dict(draft))  # no role may create one
		with self.assertRaises(frappe.PermissionError) as raised:  # not even Administrator
			client.insert(dict(draft))
		self.assertIn("posted by the ledger engine only", str(raised.exception))
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("250.75"), Decimal("250.75")))

	def test_a_posted_transaction_cannot_be_changed_or_deleted_from_the_desk(self):
		with self.set_user(LEDGER_MANAGER):
			doc = client.get("Ledger Transaction", self.txn)
			doc["postings"][0]["amount"] = 999
			with self.assertRaises(frappe.UpdateAfterSubmitError):
				client.save(doc)
			with self.assertRaises(frappe.UpdateAfterSubmitError):
				client.submit(doc)
			with self.assertRaises(frappe.PermissionError):
				client.delete("Ledger Transaction", self.txn)
		self.assertEqual((balance(self.cash), balance(self.sales)), (Decimal("250.75"), Decimal("250.75")))

	def test_a_cancelled_transaction_is_never_deleted(self):
		with self.set_user(LEDGER_MANAGER):
			client.cancel("Ledger Transaction", self.txn)
		with self.assertRaises(frappe.PermissionError) as raised:  # not even by Administrator
			client.delete("Ledger Transaction", self.txn)
		self.assertIn("never deleted", str(raised.exception))
		self.assertTrue(frappe.db.exists("Ledger Transaction", self.txn))

	def test_ledger_user_reads_transactions_but_cannot_cancel_them(self):
		with self.set_user(LEDGER_USER):
			doc = client.get("Ledger Transaction", self.txn)
			self.assertEqual(doc["docstatus"], 1)
			with self.assertRaises(frappe.PermissionError):
				client.cancel("Ledger Transaction", self.txn)
		self.assertEqual(frappe.db.get_value("Ledger Transaction", self.txn, "docstatus"), 1)

	def test_user_without_a_ledger_role_can_neither_read_nor_cancel_a_transaction(self):
		with self.set_user(NO_LEDGER_ROLE):
			with self.assertRaises(frappe.PermissionError):
				client.get("Ledger Transaction", self.txn)
			with self.assertRaises(frappe.PermissionError):
				client.cancel("Ledger Transaction", self.txn)
		self.assertEqual(frappe.db.get_value("Ledger Transaction", self.txn, "docstatus"), 1)
