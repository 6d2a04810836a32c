# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class UnmatchedPayment(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		amount: DF.Currency
		assigned_at: DF.Datetime | None
		assigned_by: DF.Data | None
		assigned_driver: DF.Link | None
		assignment_transaction: DF.Link | None
		bill_ref_number: DF.Data | None
		ledger_transaction: DF.Link | None
		msisdn: DF.Data | None
		payer_name: DF.Data | None
		status: DF.Literal["Open", "Assigned", "Refund Requested", "Refunded"]
		trans_id: DF.Data
		trans_time: DF.Datetime | None
	# end: auto-generated types

	def before_insert(self):
		self.refuse_unless_from_engine()

	def validate(self):
		self.refuse_unless_from_engine()

	def on_trash(self):
		if not self.flags.from_engine:
			frappe.throw(
				_(
					"Unmatched Payments are never deleted: the money is in suspense until it is assigned or refunded."
				),
				frappe.PermissionError,
			)

	def refuse_unless_from_engine(self):
		if not self.flags.from_engine:
			frappe.throw(
				_(
					"Unmatched Payments are recorded by the ledger engine when a payment names an unknown "
					"account, and change only when staff assign or refund them."
				),
				frappe.PermissionError,
			)
