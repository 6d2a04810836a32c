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
		self.check_with_engine()

	def check_with_engine(self):
		"""The engine's vehicle rules (``drivers.validate_vehicle``, which the staff API's
		``upsert_vehicle`` runs too); the account number is stored as C2B matching reads it
		(``drivers.normalize_account``: trimmed, upper-case), so the unique key also refuses ``ab12``
		next to ``AB12``."""
		from ledger_app.engine.drivers import validate_vehicle
		from ledger_app.ledger.engine_owned import engine_checked

		if self.is_new():
			engine_checked(self, validate_vehicle, {"vehicle": "vehicle_id"})
		engine_checked(self, validate_vehicle, {"account_number": "account_number"})
