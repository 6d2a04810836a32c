# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class LedgerTransaction(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from ledger_app.ledger.doctype.ledger_posting.ledger_posting import LedgerPosting

		amended_from: DF.Link | None
		idempotency_key: DF.Data
		key_scope: DF.Data
		party: DF.DynamicLink | None
		party_type: DF.Link | None
		payload_hash: DF.Data | None
		posting_datetime: DF.Datetime
		postings: DF.Table[LedgerPosting]
		remarks: DF.SmallText | None
		reversal_of: DF.Link | None
		transaction_type: DF.Data
	# end: auto-generated types

	def before_insert(self):
		refuse_amendment(self)
		self.refuse_unless_from_engine()

	def validate(self):
		self.refuse_unless_from_engine()

	def on_cancel(self):
		"""Cancelling posts the reversal in the same database transaction as the cancel itself."""
		from ledger_app.engine import posting
		from ledger_app.host import get_db
		from ledger_app.ledger.engine_owned import engine_errors

		self.ignore_linked_doctypes = ("Ledger Transaction",)
		db = get_db()
		with engine_errors(), db.joined():
			posting.reverse(db, self.name, idempotency_key=f"cancel:{self.name}", user=frappe.session.user)

	def on_trash(self):
		if not self.flags.from_engine:
			frappe.throw(
				_("Ledger Transactions are never deleted. Cancel one to post its reversal."),
				frappe.PermissionError,
			)

	def refuse_unless_from_engine(self):
		if not self.flags.from_engine:
			frappe.throw(
				_(
					"Ledger Transactions are posted by the ledger engine only. "
					"Use the ledger API (ledger_app.api) to post or reverse a transaction."
				),
				frappe.PermissionError,
			)


def refuse_amendment(doc) -> None:
	"""A posted transaction is never amended: its correction is the reversal its cancel posted, then a
	new transaction.  Said as a validation error with the reason, not as a missing permission."""
	if doc.get("amended_from"):
		frappe.throw(
			_(
				"Ledger Transaction {0} cannot be amended. Cancelling a transaction posts its reversal; "
				"post the corrected transaction through the ledger API (ledger_app.api.ledger.post_journal)."
			).format(doc.amended_from),
			title=_("Amendment Not Allowed"),
		)


def has_permission(doc, ptype=None, user=None, debug=False):
	"""Frappe's ``has_permission`` hook (hooks.py): it runs before the role permissions, so an amendment is
	refused with its reason here, where Frappe's own check would answer a bare PermissionError (nobody
	may create a Ledger Transaction).  Decides nothing else (None)."""
	if ptype == "create":
		refuse_amendment(doc)
	return None
