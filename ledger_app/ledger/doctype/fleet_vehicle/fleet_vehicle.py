# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class FleetVehicle(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		account_number: DF.Data
		driver: DF.Link | None
		substitute_driver: DF.Link | None
		vehicle_id: DF.Data
	# end: auto-generated types

	def validate(self):
		self.normalize_account_number()

	def normalize_account_number(self):
		"""Stored as C2B matching reads it (``drivers.normalize_account``: trimmed, upper-case), so
		the unique key also refuses ``ab12`` next to ``AB12``."""
		from ledger_app.engine.drivers import normalize_account
		from ledger_app.ledger.engine_owned import engine_errors

		if self.account_number:  # a missing one is reported by Frappe's mandatory check right after
			with engine_errors():  # control characters are refused with the engine's message
				self.account_number = normalize_account(self.account_number)
