# Copyright (c) 2026, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe.model.document import Document

#: kept by the engine (ensure_exchange_accounts) with SQL; a new client exchange starts without
#: them and a desk or REST save never changes them
ENGINE_FIELDS = {
	"capital_account": None,
	"payable_account": None,
}
#: virtual: no column; the properties below read them from the engine (clients.position)
POSITION_FIELDS = ("capital", "active_loss", "remaining_loss", "your_share_total", "company_share_total")


class ClientExchange(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		capital_account: DF.Link | None
		client: DF.Link
		client_exchange_id: DF.Data
		company_share_pct: DF.Percent
		exchange: DF.Data
		my_share_pct: DF.Percent
		payable_account: DF.Link | None
	# end: auto-generated types

	# --- virtual fields: the position, read from the engine ----------------------------------------
	# Frappe v15 (BaseDocument.get_valid_dict) takes a virtual field's value from a property of the
	# same name; the exporter leaves such fields out of the type block above.  They are Decimals.

	@property
	def capital(self) -> Decimal:
		return self._position("capital")

	@property
	def active_loss(self) -> Decimal:
		return self._position("active_loss")

	@property
	def remaining_loss(self) -> Decimal:
		return self._position("remaining_loss")

	@property
	def your_share_total(self) -> Decimal:
		return self._position("your_share_total")

	@property
	def company_share_total(self) -> Decimal:
		return self._position("company_share_total")

	def _position(self, key: str) -> Decimal:
		from ledger_app.engine.clients import position
		from ledger_app.engine.errors import NotFound
		from ledger_app.engine.money import ZERO
		from ledger_app.host import get_db

		if self.is_new() or not self.name:
			return ZERO  # nothing was funded or recorded before the first save
		try:
			return position(get_db(), self.name)[key]
		except NotFound:
			return ZERO

	# --- events -----------------------------------------------------------------------------------

	def validate(self):
		self.check_shares()
		self.keep_engine_fields()
		self.drop_position_sent_back()

	def check_shares(self):
		"""The engine's client exchange rules (``clients.validate_exchange``, which the staff API's
		``upsert_client_exchange`` runs too): both shares > 0, their sum <= 100, the exchange's name."""
		from ledger_app.engine.clients import validate_exchange
		from ledger_app.ledger.engine_owned import engine_checked

		if self.is_new():
			engine_checked(self, validate_exchange, {"client_exchange": "client_exchange_id"})
		engine_checked(self, validate_exchange, {"exchange": "exchange"})
		engine_checked(self, validate_exchange, {"my_share_pct": "my_share_pct", "company_share_pct": "company_share_pct"},
			blanks=True)

	def drop_position_sent_back(self):
		"""A form sends the position it showed back with the save; the properties answer from the
		engine, so those values are dropped and never show up as changes in the Version log."""
		for fieldname in POSITION_FIELDS:
			self.set(fieldname, None)

	def keep_engine_fields(self):
		"""The account links belong to the engine."""
		from ledger_app.ledger.engine_owned import keep_engine_fields

		keep_engine_fields(self, ENGINE_FIELDS)

	def after_insert(self):
		"""The client exchange's ledger accounts, created in the same database transaction as the
		document itself: an error rolls both back."""
		from ledger_app.engine.clients import ensure_exchange_accounts
		from ledger_app.host import get_db
		from ledger_app.ledger.engine_owned import engine_errors

		db = get_db()
		with engine_errors(), db.joined():
			names = ensure_exchange_accounts(db, self.name, user=frappe.session.user)
		# the engine linked them on the row; show the same on this document
		self.capital_account = names["capital"]
		self.payable_account = names["payable"]
