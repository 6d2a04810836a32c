# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class BalanceRecord(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		capital_at_time: DF.Currency
		client_exchange: DF.Link
		date: DF.Date
		idempotency_key: DF.Data
		loss_at_time: DF.Currency
		loss_snapshot: DF.Link | None
		payout: DF.Link | None
		profit_at_time: DF.Currency
		profit_consumed: DF.Check
		profit_withdrawal_id: DF.Data | None
		remaining_balance: DF.Currency
		withdrawal_transaction: DF.Link | None
	# end: auto-generated types

	def before_insert(self):
		self.refuse_unless_from_engine()

	def validate(self):
		self.refuse_unless_from_engine()

	def on_trash(self):
		frappe.throw(_("Balance Records are never deleted."), frappe.PermissionError)

	def refuse_unless_from_engine(self):
		if not self.flags.from_engine:
			frappe.throw(
				_(
					"Balance Records are recorded by the ledger engine (ledger_app.api.clients) and change only through it."
				),
				frappe.PermissionError,
			)
