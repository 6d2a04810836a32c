# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


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
		"""Every rule is the engine's (``engine/settings.validate``, the same check the staff API's
		``update_settings`` runs): the form's values are checked there and the normalized text (a
		blank time zone as the default, a trimmed shortcode, the allow-list one network per line) is
		what gets saved."""
		from ledger_app.engine import settings
		from ledger_app.ledger.engine_owned import engine_checked

		engine_checked(self, settings.validate, {name: name for name in settings.fields()}, blanks=True)
