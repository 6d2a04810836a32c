# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class ReconciliationRun(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from ledger_app.ledger.doctype.reconciliation_discrepancy.reconciliation_discrepancy import (
			ReconciliationDiscrepancy,
		)

		accounts_checked: DF.Int
		discrepancies: DF.Table[ReconciliationDiscrepancy]
		discrepancy_count: DF.Int
		duration_ms: DF.Int
		finished_at: DF.Datetime | None
		fix_requested: DF.Check
		fixed_count: DF.Int
		postings_checked: DF.Int
		run_by: DF.Data | None
		scope: DF.Data | None
		started_at: DF.Datetime | None
		status: DF.Literal["Clean", "Discrepancies", "Fixed"]
	# end: auto-generated types
