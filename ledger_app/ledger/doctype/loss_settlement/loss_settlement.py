# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class LossSettlement(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		capital_closed: DF.Currency
		closed_snapshot: DF.Check
		company_share: DF.Currency
		idempotency_key: DF.Data | None
		ledger_transaction: DF.Link | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		payment: DF.Currency
		your_share: DF.Currency
	# end: auto-generated types
