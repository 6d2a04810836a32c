# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class Client(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		client_id: DF.Data
		client_name: DF.Data
		phone: DF.Data
	# end: auto-generated types

	def validate(self):
		self.check_with_engine()

	def check_with_engine(self):
		"""The engine's client rules (``clients.validate_client``, which the staff API's
		``upsert_client`` runs too); the phone is stored as the engine stores it (2547XXXXXXXX), the
		number profit withdrawals are paid to."""
		from ledger_app.engine.clients import validate_client
		from ledger_app.ledger.engine_owned import engine_checked

		if self.is_new():
			engine_checked(self, validate_client, {"client": "client_id"})
		engine_checked(self, validate_client, {"client_name": "client_name", "phone": "phone"})
