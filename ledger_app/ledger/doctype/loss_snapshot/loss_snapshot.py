# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class LossSnapshot(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from ledger_app.ledger.doctype.loss_settlement.loss_settlement import LossSettlement

		balance_record: DF.Link
		client_exchange: DF.Link
		company_share_pct: DF.Percent
		is_settled: DF.Check
		loss_amount: DF.Currency
		my_share_pct: DF.Percent
		remaining_loss: DF.Currency
		settled_at: DF.Datetime | None
		settlements: DF.Table[LossSettlement]
	# end: auto-generated types

	def before_insert(self):
		self.refuse_unless_from_engine()

	def validate(self):
		self.refuse_unless_from_engine()

	def on_trash(self):
		frappe.throw(_("Loss Snapshots are never deleted."), frappe.PermissionError)

	def refuse_unless_from_engine(self):
		if not self.flags.from_engine:
			frappe.throw(
				_(
					"Loss Snapshots are made by the ledger engine when a balance record shows a loss, and change only through loss settlements (ledger_app.api.clients)."
				),
				frappe.PermissionError,
			)
