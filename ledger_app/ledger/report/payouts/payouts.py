# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from frappe import _


def execute(filters=None):
	"""Payouts with their state, gateway and receipt, newest first (amounts are exact Decimals)."""
	from ledger_app.engine.payouts import list_payouts
	from ledger_app.host import get_db

	filters = filters or {}
	rows = list_payouts(get_db(), party=filters.get("party") or None, status=filters.get("status") or None)
	return get_columns(), rows


def get_columns():
	return [
		{"fieldname": "name", "label": _("Payout"), "fieldtype": "Link", "options": "Payout", "width": 130},
		{"fieldname": "party", "label": _("Party"), "fieldtype": "Data", "width": 130},
		{"fieldname": "purpose", "label": _("Purpose"), "fieldtype": "Data", "width": 120},
		{"fieldname": "amount", "label": _("Amount"), "fieldtype": "Currency", "width": 110},
		{"fieldname": "status", "label": _("Status"), "fieldtype": "Data", "width": 100},
		{"fieldname": "attempts", "label": _("Attempts"), "fieldtype": "Int", "width": 80},
		{"fieldname": "gateway", "label": _("Gateway"), "fieldtype": "Data", "width": 100},
		{"fieldname": "gateway_receipt", "label": _("Receipt"), "fieldtype": "Data", "width": 120},
		{"fieldname": "originator_conversation_id", "label": _("OriginatorConversationID"), "fieldtype": "Data", "width": 200},
		{"fieldname": "last_error", "label": _("Last Error"), "fieldtype": "Data", "width": 220},
	]
