# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class ReconciliationDiscrepancy(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		account: DF.Link | None
		balance_after: DF.Currency
		balance_before: DF.Currency
		cached: DF.Currency
		derived: DF.Currency
		difference: DF.Currency
		fixed: DF.Check
		fixed_at: DF.Datetime | None
		fixed_by: DF.Data | None
		kind: DF.Literal["Cached Balance", "Running Balance"]
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
	# end: auto-generated types
