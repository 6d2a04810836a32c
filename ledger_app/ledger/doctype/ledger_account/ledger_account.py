# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document

#: kept by ledger_app.engine.posting with SQL increments; never written from a form
ENGINE_FIELDS = ("balance", "posting_count")


class LedgerAccount(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		account_name: DF.Data
		account_type: DF.Data | None
		allow_negative_balance: DF.Check
		balance: DF.Currency
		currency: DF.Data | None
		frozen: DF.Check
		normal_side: DF.Literal["Debit", "Credit"]
		party: DF.DynamicLink | None
		party_type: DF.Link | None
		posting_count: DF.Int
		root_type: DF.Literal["Asset", "Liability", "Equity", "Income", "Expense"]
	# end: auto-generated types

	def before_insert(self):
		"""The name is the account name as the engine takes it (``accounts.validate_name``: no
		look-alikes, NFC); checked before Frappe names the document from it."""
		from ledger_app.engine.accounts import validate_name
		from ledger_app.ledger.engine_owned import engine_errors

		with engine_errors():
			self.account_name = validate_name(self.account_name)

	def validate(self):
		from ledger_app.engine.accounts import normal_side_for

		if self.root_type:  # a missing one is reported by Frappe's mandatory check right after
			self.normal_side = normal_side_for(self.root_type)
		self.keep_engine_fields()

	def keep_engine_fields(self):
		"""The cached balance and the posting count belong to the posting engine.  A desk or REST save
		never sets them: a new account starts at zero, and an existing one keeps the values of its row
		as locked by this save (``load_doc_before_save`` reads it ``FOR UPDATE``), even when the form
		was loaded before a posting moved them."""
		before = None if self.is_new() else self.get_doc_before_save()
		for fieldname in ENGINE_FIELDS:
			self.set(fieldname, before.get(fieldname) if before is not None else 0)
