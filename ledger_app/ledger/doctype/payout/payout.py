# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class Payout(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		amount: DF.Currency
		attempts: DF.Int
		conversation_id: DF.Data | None
		gateway: DF.Data | None
		gateway_receipt: DF.Data | None
		idempotency_key: DF.Data
		key_scope: DF.Data
		last_error: DF.SmallText | None
		next_attempt_at: DF.Datetime | None
		originator_conversation_id: DF.Data
		party: DF.DynamicLink
		party_type: DF.Link
		phone: DF.Data
		purpose: DF.Literal["Driver Share", "Deposit Refund", "Profit Withdrawal", "Refund", "Bonus"]
		queue_transaction: DF.Link | None
		result_code: DF.Data | None
		result_desc: DF.SmallText | None
		retry_of: DF.Link | None
		settle_transaction: DF.Link | None
		status: DF.Literal["Queued", "Submitted", "Unknown", "Paid", "Failed"]
		status_query_id: DF.Data | None
		submitted_at: DF.Datetime | None
	# end: auto-generated types

	def before_insert(self):
		self.refuse_unless_from_engine()

	def validate(self):
		self.refuse_unless_from_engine()

	def on_trash(self):
		frappe.throw(_("Payouts are never deleted."), frappe.PermissionError)

	def refuse_unless_from_engine(self):
		if not self.flags.from_engine:
			frappe.throw(
				_("Payouts are made by the ledger engine (ledger_app.api.payouts.request_payout) and move only through the payout worker and gateway callbacks."),
				frappe.PermissionError,
			)
