# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class CallbackLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		body: DF.LongText | None
		endpoint: DF.Data | None
		error: DF.LongText | None
		headers: DF.LongText | None
		http_method: DF.Data | None
		http_status: DF.Int
		reference: DF.Data | None
		remote_addr: DF.Data | None
		status: DF.Literal["Received", "Processed", "Mismatch", "Rejected", "Failed"]
	# end: auto-generated types

	@staticmethod
	def clear_old_logs(days=90):
		"""Frappe's Log Settings clears Callback Log through this (hooks.py
		``default_log_clearing_doctypes``); which rows go is the engine's rule."""
		from ledger_app import host
		from ledger_app.engine import callbacks

		callbacks.clear_older_than(host.get_db(), days)
