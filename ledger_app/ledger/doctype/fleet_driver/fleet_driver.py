# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe.model.document import Document

#: kept by the engine (the daily target job, ensure_driver_accounts) with SQL; a new driver starts
#: with these values and a desk or REST save never changes them
ENGINE_FIELDS = {
	"consecutive_misses": 0,
	"flagged": 0,
	"last_target_date": None,
	"target_account": None,
	"payable_account": None,
	"deposit_account": None,
}
#: the fields the engine's driver rules check (engine name -> fieldname)
DRIVER_FIELDS = {name: name for name in ("driver_name", "phone", "daily_target", "fare_pct", "target_sharing",
	"instant_payout", "status")}
#: virtual: no column; the properties below read them from the driver's ledger accounts
BALANCE_FIELDS = ("target_outstanding", "payable", "deposit")


class FleetDriver(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		consecutive_misses: DF.Int
		daily_target: DF.Currency
		deposit_account: DF.Link | None
		driver_id: DF.Data
		driver_name: DF.Data
		fare_pct: DF.Percent
		flagged: DF.Check
		instant_payout: DF.Literal["Follow Global", "Enable", "Disable"]
		last_target_date: DF.Date | None
		payable_account: DF.Link | None
		phone: DF.Data
		status: DF.Literal["Active", "Suspended", "Exited"]
		target_account: DF.Link | None
		target_sharing: DF.Literal["Follow Global", "Enable", "Disable"]
	# end: auto-generated types

	# --- virtual fields: the three balances, read from the driver's ledger accounts ----------------
	# Frappe v15 (BaseDocument.get_valid_dict) takes a virtual field's value from a property of the
	# same name; the exporter leaves such fields out of the type block above.  They are Decimals,
	# exact; Frappe turns them into numbers only when it serialises the document for the desk.

	@property
	def target_outstanding(self) -> Decimal:
		return self._balance("target_outstanding")

	@property
	def payable(self) -> Decimal:
		return self._balance("payable")

	@property
	def deposit(self) -> Decimal:
		return self._balance("deposit")

	def _balance(self, key: str) -> Decimal:
		from ledger_app.engine.drivers import driver_balances
		from ledger_app.engine.errors import NotFound
		from ledger_app.engine.money import ZERO
		from ledger_app.host import get_db

		if self.is_new() or not self.name:
			return ZERO  # the accounts are created when the driver is first saved
		try:
			return driver_balances(get_db(), self.name)[key]
		except NotFound:
			return ZERO  # no accounts yet: nothing was ever posted for this driver

	# --- events -----------------------------------------------------------------------------------

	def validate(self):
		self.check_terms()
		self.keep_engine_fields()
		self.drop_balances_sent_back()

	def drop_balances_sent_back(self):
		"""A form sends the balances it showed back with the save; they mean nothing (the properties
		answer from the ledger), so they are dropped and never show up as changes in the Version
		log."""
		for fieldname in BALANCE_FIELDS:
			self.set(fieldname, None)

	def check_terms(self):
		"""The engine's driver rules (``drivers.validate_driver``, which the staff API's
		``upsert_driver`` runs too): id, name, phone (stored normalized), daily target, fare
		percentage, overrides and status."""
		from ledger_app.engine.drivers import validate_driver
		from ledger_app.ledger.engine_owned import engine_checked

		if self.is_new():
			engine_checked(self, validate_driver, {"driver": "driver_id"})
		engine_checked(self, validate_driver, DRIVER_FIELDS)

	def keep_engine_fields(self):
		"""The miss count, the flag, the last target date and the account links belong to the
		engine (the daily target job moves them)."""
		from ledger_app.ledger.engine_owned import keep_engine_fields

		keep_engine_fields(self, ENGINE_FIELDS)

	def after_insert(self):
		"""The driver's three ledger accounts, created in the same database transaction as the
		driver itself: an error rolls both back."""
		from ledger_app.engine.drivers import ensure_driver_accounts
		from ledger_app.host import get_db
		from ledger_app.ledger.engine_owned import engine_errors

		db = get_db()
		with engine_errors(), db.joined():
			names = ensure_driver_accounts(db, self.name, user=frappe.session.user)
		# the engine linked them on the row; show the same on this document
		self.target_account = names["target"]
		self.payable_account = names["payable"]
		self.deposit_account = names["deposit"]
