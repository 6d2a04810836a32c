# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from frappe import _


def execute(filters=None):
	"""One row per client exchange with its capital, loss and settlement shares (Decimals, exact)."""
	from ledger_app.engine.clients import positions_report
	from ledger_app.host import get_db

	return get_columns(), positions_report(get_db())


def get_columns():
	return [
		{
			"fieldname": "client_exchange",
			"label": _("Client Exchange"),
			"fieldtype": "Link",
			"options": "Client Exchange",
			"width": 160,
		},
		{"fieldname": "client", "label": _("Client"), "fieldtype": "Link", "options": "Client", "width": 140},
		{"fieldname": "exchange", "label": _("Exchange"), "fieldtype": "Data", "width": 130},
		{"fieldname": "capital", "label": _("Capital"), "fieldtype": "Currency", "width": 130},
		{"fieldname": "active_loss", "label": _("Active Loss"), "fieldtype": "Currency", "width": 130},
		{"fieldname": "remaining_loss", "label": _("Remaining Loss"), "fieldtype": "Currency", "width": 130},
		{
			"fieldname": "your_share_total",
			"label": _("Your Share Total"),
			"fieldtype": "Currency",
			"width": 140,
		},
		{
			"fieldname": "company_share_total",
			"label": _("Company Share Total"),
			"fieldtype": "Currency",
			"width": 150,
		},
	]
