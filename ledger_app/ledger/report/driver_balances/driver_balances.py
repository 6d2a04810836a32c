# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from frappe import _


def execute(filters=None):
	"""One row per driver with the three balances of their ledger accounts (Decimals, exact)."""
	from ledger_app.engine.drivers import balances_report
	from ledger_app.host import get_db

	filters = filters or {}
	rows = balances_report(get_db(), status=filters.get("status") or None)
	return get_columns(), rows


def get_columns():
	return [
		{"fieldname": "driver", "label": _("Driver"), "fieldtype": "Link", "options": "Fleet Driver", "width": 140},
		{"fieldname": "driver_name", "label": _("Driver Name"), "fieldtype": "Data", "width": 180},
		{"fieldname": "status", "label": _("Status"), "fieldtype": "Data", "width": 100},
		{
			"fieldname": "target_outstanding",
			"label": _("Target Outstanding"),
			"fieldtype": "Currency",
			"width": 150,
		},
		{"fieldname": "payable", "label": _("Payable"), "fieldtype": "Currency", "width": 130},
		{"fieldname": "deposit", "label": _("Deposit"), "fieldtype": "Currency", "width": 130},
		{
			"fieldname": "consecutive_misses",
			"label": _("Consecutive Misses"),
			"fieldtype": "Int",
			"width": 110,
		},
		{"fieldname": "flagged", "label": _("Flagged"), "fieldtype": "Check", "width": 80},
	]
