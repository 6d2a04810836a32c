# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

import ipaddress

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt


class LedgerSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		allowed_callback_ips: DF.SmallText | None
		callback_token: DF.Password | None
		currency: DF.Data | None
		deadlock_retries: DF.Int
		reconcile_auto_fix: DF.Check
		reconcile_tolerance: DF.Currency
	# end: auto-generated types

	def validate(self):
		if cint(self.deadlock_retries) < 1:
			frappe.throw(_("Deadlock Retries must be at least 1."))
		if flt(self.reconcile_tolerance) < 0:
			frappe.throw(_("Reconciliation Tolerance cannot be negative."))
		for line in (self.allowed_callback_ips or "").splitlines():
			if line.strip():
				try:
					ipaddress.ip_network(line.strip(), strict=False)
				except ValueError:
					frappe.throw(_("{0} is not an IP address or network.").format(frappe.bold(line.strip())))
