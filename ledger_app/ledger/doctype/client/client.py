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
		self.normalize_phone()

	def normalize_phone(self):
		"""Stored as the engine stores it (``drivers.normalize_phone``: 2547XXXXXXXX), the number
		profit withdrawals are paid to."""
		from ledger_app.engine.drivers import normalize_phone
		from ledger_app.ledger.engine_owned import engine_errors

		if self.phone:  # a missing one is reported by Frappe's mandatory check right after
			with engine_errors():
				self.phone = normalize_phone(self.phone)
