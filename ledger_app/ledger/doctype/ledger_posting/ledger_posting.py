# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class LedgerPosting(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		account: DF.Link
		account_seq: DF.Int
		amount: DF.Currency
		balance_after: DF.Currency
		name: DF.Int | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		posting_datetime: DF.Datetime | None
	# end: auto-generated types
