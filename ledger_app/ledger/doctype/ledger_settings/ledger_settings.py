# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

import ipaddress
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint

#: M-Pesa B2C refuses payments below KES 10 (SPEC §4 step 7)
B2C_MINIMUM = Decimal(10)


class LedgerSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		allowed_callback_ips: DF.SmallText | None
		business_timezone: DF.Data | None
		callback_token: DF.Password | None
		currency: DF.Data | None
		daraja_base_url: DF.Data | None
		daraja_consumer_key: DF.Data | None
		daraja_consumer_secret: DF.Password | None
		daraja_initiator: DF.Data | None
		daraja_security_credential: DF.Password | None
		daraja_shortcode: DF.Data | None
		deadlock_retries: DF.Int
		global_daily_target: DF.Currency
		global_fare_pct: DF.Percent
		instant_payouts: DF.Check
		minimum_payout: DF.Currency
		miss_threshold: DF.Int
		paybill_shortcode: DF.Data | None
		reconcile_auto_fix: DF.Check
		reconcile_tolerance: DF.Currency
		target_sharing: DF.Check
	# end: auto-generated types

	def validate(self):
		if cint(self.deadlock_retries) < 1:
			frappe.throw(_("Deadlock Retries must be at least 1."))
		if _decimal(self.reconcile_tolerance) < 0:
			frappe.throw(_("Reconciliation Tolerance cannot be negative."))
		for line in (self.allowed_callback_ips or "").splitlines():
			if line.strip():
				try:
					ipaddress.ip_network(line.strip(), strict=False)
				except ValueError:
					frappe.throw(_("{0} is not an IP address or network.").format(frappe.bold(line.strip())))
		self.validate_driver_terms()

	def validate_driver_terms(self):
		if not Decimal(0) <= _decimal(self.global_fare_pct) <= Decimal(100):
			frappe.throw(_("Global Fare Percentage must be between 0 and 100."))
		if _decimal(self.minimum_payout) < B2C_MINIMUM:
			frappe.throw(_("Minimum Payout cannot be below {0}: M-Pesa pays no less.").format(B2C_MINIMUM))
		self.business_timezone = (self.business_timezone or "").strip() or "Africa/Nairobi"
		try:
			ZoneInfo(self.business_timezone)
		except (ZoneInfoNotFoundError, ValueError):
			frappe.throw(
				_("{0} is not a time zone name like Africa/Nairobi.").format(
					frappe.bold(self.business_timezone)
				)
			)
		self.paybill_shortcode = (self.paybill_shortcode or "").strip() or None
		if self.paybill_shortcode and not self.paybill_shortcode.isdigit():
			frappe.throw(_("Paybill Shortcode must be digits only."))


def _decimal(value) -> Decimal:
	"""A form value as an exact Decimal (Frappe hands Currency and Percent fields over as floats)."""
	try:
		return Decimal(str(value or 0))
	except InvalidOperation:
		return Decimal(0)
