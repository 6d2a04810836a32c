"""Drivers and their M-Pesa C2B collections.

Owns: drivers and vehicles (and each driver's three ledger accounts: target outstanding,
payable, deposit), the fare split, C2B validation and confirmation, driver repayments, unmatched
payments in suspense and their assignment, missed-callback recovery, and the daily target charge
with its consecutive-miss count.

Every money move goes through ``posting.post``.  A confirmation does its parsing, validation and
look-ups before it opens the write transaction; inside it, the split is computed from the target
outstanding read under the account locks (``post(build=...)``), so two payments for one driver at
the same instant are serialized on the account rows and each sees the other's effect.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from ledger_app.db.rows import insert, insert_or_lock, new_name, standard_columns, table
from ledger_app.engine import accounts, business, callbacks, clock, posting, text, txn_types
from ledger_app.engine import settings as ledger_settings
from ledger_app.engine.errors import Conflict, NotFound, StaleDecision, UniqueViolation, ValidationFailed
from ledger_app.engine.faults import crash_point
from ledger_app.engine.money import ZERO, from_db, parse_amount, round_half_up
from ledger_app.engine.settings import get_settings

log = logging.getLogger("ledger_app.drivers")
alerts = logging.getLogger("ledger_app.alerts")

PAYBILL_ACCOUNT = business.PAYBILL
TARGET_INCOME_ACCOUNT = business.TARGET_INCOME
SUSPENSE_ACCOUNT = business.SUSPENSE
ensure_business_accounts = business.ensure_business_accounts
#: the doctypes (and so the tables) of drivers and vehicles; a driver's ledger party_type
DRIVER_DOCTYPE = "Fleet Driver"
VEHICLE_DOCTYPE = "Fleet Vehicle"
STATUSES = ("Active", "Suspended", "Exited")
UNMATCHED_STATUSES = ("Open", "Assigned", "Refund Requested", "Refunded")
OVERRIDES = ("Follow Global", "Enable", "Disable")
#: C2B confirmations above this are refused as absurd (Daraja's paybill limit is far below it)
MAX_C2B_AMOUNT = Decimal("1000000.00")
C2B_TRANSACTION_TYPES = ("Pay Bill", "Buy Goods", "CustomerPayBillOnline", "CustomerBuyGoodsOnline")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,59}$")


def driver_accounts(driver: str) -> dict[str, str]:
	return {
		"target": f"Target Outstanding - {driver}",
		"payable": f"Driver Payable - {driver}",
		"deposit": f"Driver Deposit - {driver}",
	}


def ensure_driver_accounts(db, driver: str, user: str = "Administrator") -> dict[str, str]:
	"""Create the driver's three accounts (idempotent) and link them on the Driver row."""
	ensure_business_accounts(db)
	names = driver_accounts(driver)
	party = {"party_type": DRIVER_DOCTYPE, "party": driver, "user": user}
	accounts.create_account(db, names["target"], "Asset", account_type="Target Outstanding", **party)
	accounts.create_account(db, names["payable"], "Liability", account_type="Payable", **party)
	accounts.create_account(db, names["deposit"], "Liability", account_type="Deposit", **party)
	db.execute(
		f"UPDATE {table(DRIVER_DOCTYPE)} SET `target_account` = %(t)s, `payable_account` = %(p)s, `deposit_account` = %(d)s"
		f" WHERE `name` = %(name)s",
		{"t": names["target"], "p": names["payable"], "d": names["deposit"], "name": driver},
	)
	return names


# --- drivers and vehicles ---------------------------------------------------------------------


def _identifier(value, field: str) -> str:
	if not isinstance(value, str) or not _ID.match(value.strip()):
		raise ValidationFailed(f"{field} must be 1-60 letters, digits, spaces, '_', '.' or '-', got {value!r}")
	return value.strip()


def _choice(value, field: str, choices, default):
	if value in (None, ""):
		return default
	if value not in choices:
		raise ValidationFailed(f"{field} must be one of {', '.join(choices)}, got {value!r}")
	return value


def _percent(value, field: str) -> Decimal:
	if value in (None, ""):
		return ZERO
	pct = parse_amount(value, field, signed=True, allow_zero=True)
	if not ZERO <= pct <= 100:
		raise ValidationFailed(f"{field} must be between 0 and 100, got {pct}")
	return pct


def _name(value, field: str) -> str:
	if not isinstance(value, str) or not value.strip() or len(value) > 140:
		raise ValidationFailed(f"{field} must be 1-140 characters")
	return text.check(value.strip(), field)


def _money_or_zero(value, field: str) -> Decimal:
	return parse_amount(value if value not in (None, "") else "0", field, allow_zero=True)


#: the rule of each driver field; ``validate_driver`` applies them
_DRIVER_RULES = {
	"driver": lambda value: _identifier(value, "driver"),
	"driver_name": lambda value: _name(value, "driver_name"),
	"phone": lambda value: normalize_phone(value),
	"daily_target": lambda value: _money_or_zero(value, "daily_target"),
	"fare_pct": lambda value: _percent(value, "fare_pct"),
	"target_sharing": lambda value: _choice(value, "target_sharing", OVERRIDES, "Follow Global"),
	"instant_payout": lambda value: _choice(value, "instant_payout", OVERRIDES, "Follow Global"),
	"status": lambda value: _choice(value, "status", STATUSES, "Active"),
}


def validate_driver(values: dict) -> dict:
	"""The driver fields in ``values`` (``driver`` (its id), ``driver_name``, ``phone``,
	``daily_target`` (>= 0, 0 = the global one), ``fare_pct`` (0 to 100, 0 = the global one),
	``target_sharing``, ``instant_payout``, ``status``) checked and normalized.  The one owner of the
	driver rules: ``upsert_driver`` and the Fleet Driver controller (the desk) both call it."""
	unknown = sorted(set(values) - set(_DRIVER_RULES))
	if unknown:
		raise ValidationFailed(f"unknown driver field(s): {', '.join(unknown)}")
	return {name: _DRIVER_RULES[name](value) for name, value in values.items()}


def upsert_driver(db, driver, driver_name=None, phone=None, daily_target=None, fare_pct=None,
		target_sharing=None, instant_payout=None, status=None, user="Administrator") -> dict:
	"""Service: create or update a driver; a new driver gets its accounts in the same transaction.

	Locks: the Driver row (a new one is inserted or skipped on its id, ``rows.insert_or_lock``: a
	concurrent create of the same driver waits for the first, then updates it with its own values).
	"""
	driver = validate_driver({"driver": driver})["driver"]
	given = {"driver_name": driver_name, "phone": phone, "daily_target": daily_target, "fare_pct": fare_pct,
		"target_sharing": target_sharing, "instant_payout": instant_payout, "status": status}
	values = validate_driver({name: value for name, value in given.items() if value is not None})
	missing = [required for required in ("driver_name", "phone") if required not in values]

	def unit(db):
		now = clock.now()
		row = None if missing else {"name": driver, **standard_columns(now, user), "driver_id": driver, "daily_target": ZERO,
			"fare_pct": ZERO, "target_sharing": "Follow Global", "instant_payout": "Follow Global", "status": "Active",
			"consecutive_misses": 0, "flagged": 0, **values}
		found = insert_or_lock(db, DRIVER_DOCTYPE, driver, row)
		if found == "missing":
			raise ValidationFailed(f"{missing[0]} is required for a new driver")
		if found == "inserted":
			ensure_driver_accounts(db, driver, user)
		elif values:
			sets = ", ".join(f"`{k}` = %({k})s" for k in values)
			db.execute(f"UPDATE {table(DRIVER_DOCTYPE)} SET {sets}, `modified` = %(now)s, `modified_by` = %(user)s"
				f" WHERE `name` = %(name)s", {**values, "now": now, "user": user, "name": driver})
		return get_driver(db, driver)

	return db.run_in_transaction(unit)


def normalize_phone(value) -> str:
	"""A Kenyan mobile number as 2547XXXXXXXX / 2541XXXXXXXX (from 07…, 01…, +254…, 254…)."""
	if not isinstance(value, str):
		raise ValidationFailed(f"phone must be text, got {value!r}")
	digits = re.sub(r"[ \-()]", "", value).removeprefix("+")
	if re.fullmatch(r"0[17][0-9]{8}", digits):
		digits = "254" + digits[1:]
	if not re.fullmatch(r"254[17][0-9]{8}", digits):
		raise ValidationFailed(f"phone must be a Kenyan mobile number like 0712345678 or 254712345678, got {value!r}")
	return digits


_DRIVER_TERMS = ("phone", "status", "daily_target", "fare_pct", "target_sharing", "instant_payout")
#: the money among them: selected as exact text, typed by ``_typed_driver``
_MONEY_TERMS = ("daily_target", "fare_pct")


def _driver_terms(d, alias: str) -> list[tuple[str, str]]:
	"""(name, SQL expression) of the Driver columns a confirmation needs, money as exact text."""
	return [(k, d.money(f"{alias}`{k}`") if k in _MONEY_TERMS else f"{alias}`{k}`") for k in _DRIVER_TERMS]


def _select_list(columns: list[tuple[str, str]]) -> str:
	return ", ".join(f"{expr} AS `{name}`" for name, expr in columns)


def _typed_driver(row: dict) -> dict:
	for key in _MONEY_TERMS:
		row[key] = from_db(row[key])
	return row


def get_driver(db, driver) -> dict:
	if not isinstance(driver, str):
		raise ValidationFailed(f"driver must be text, got {driver!r}")
	rows = db.sql(
		f"SELECT `name`, `driver_name`, {_select_list(_driver_terms(db.dialect, ''))}, `consecutive_misses`,"
		f" `flagged`, `last_target_date` FROM {table(DRIVER_DOCTYPE)} WHERE `name` = %(n)s",
		{"n": driver},
	)
	if not rows:
		raise NotFound(f"Driver {driver!r} not found")
	return _typed_driver(rows[0])


def _optional_driver(value, field: str) -> str | None:
	if value is not None and not isinstance(value, str):
		raise ValidationFailed(f"{field} must be a driver id, got {value!r}")
	return value.strip() if value and value.strip() else None


def _account_number(value) -> str:
	number = normalize_account(value)
	if not number:
		raise ValidationFailed("account_number is required")
	return number


_VEHICLE_RULES = {
	"vehicle": lambda value: _identifier(value, "vehicle"),
	"account_number": _account_number,
	"driver": lambda value: _optional_driver(value, "driver"),
	"substitute_driver": lambda value: _optional_driver(value, "substitute_driver"),
}


def validate_vehicle(values: dict) -> dict:
	"""The vehicle fields in ``values`` (``vehicle`` (its id), ``account_number`` (stored as C2B
	matching reads it: ``normalize_account``), ``driver``, ``substitute_driver`` (``""`` clears))
	checked and normalized.  The one owner of the vehicle rules: ``upsert_vehicle`` and the Fleet
	Vehicle controller call it (that the drivers exist is checked against the database)."""
	unknown = sorted(set(values) - set(_VEHICLE_RULES))
	if unknown:
		raise ValidationFailed(f"unknown vehicle field(s): {', '.join(unknown)}")
	return {name: _VEHICLE_RULES[name](value) for name, value in values.items()}


def upsert_vehicle(db, vehicle, account_number=None, driver=None, substitute_driver=None, user="Administrator") -> dict:
	"""Service: create or update a vehicle.  ``""`` clears the driver or substitute.

	Locks: the Vehicle row (a new one is inserted or skipped on its unique values,
	``rows.insert_or_lock``: a concurrent create of the same vehicle waits for the first, then updates
	it with its own values); an account number another vehicle holds is a Conflict.
	"""
	vehicle = validate_vehicle({"vehicle": vehicle})["vehicle"]
	given = {"account_number": account_number, "driver": driver, "substitute_driver": substitute_driver}
	values = validate_vehicle({name: value for name, value in given.items() if value is not None})

	def unit(db):
		for field in ("driver", "substitute_driver"):
			if values.get(field):
				get_driver(db, values[field])
		now = clock.now()
		row = {"name": vehicle, **standard_columns(now, user), "vehicle_id": vehicle, "driver": None,
			"substitute_driver": None, **values} if "account_number" in values else None
		try:
			found = insert_or_lock(db, VEHICLE_DOCTYPE, vehicle, row)
			if found == "missing":
				raise ValidationFailed("account_number is required for a new vehicle")
			if found == "locked" and values:
				sets = ", ".join(f"`{k}` = %({k})s" for k in values)
				db.execute(f"UPDATE {table(VEHICLE_DOCTYPE)} SET {sets}, `modified` = %(now)s WHERE `name` = %(name)s",
					{**values, "now": now, "name": vehicle})
		except UniqueViolation:
			raise Conflict(f"account number {values.get('account_number')!r} belongs to another vehicle") from None
		row = db.sql(f"SELECT `name`, `account_number`, `driver`, `substitute_driver` FROM {table(VEHICLE_DOCTYPE)}"
			f" WHERE `name` = %(n)s{db.dialect.locking_read}", {"n": vehicle})[0]  # past the snapshot get_driver fixed
		return row

	return db.run_in_transaction(unit)


def normalize_account(value) -> str:
	"""An account number as matched: trimmed, upper-case, without control characters."""
	if not isinstance(value, str):
		raise ValidationFailed(f"account number must be text, got {value!r}")
	return text.check(value.strip().upper()[:140], "account_number")


# --- the split ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
	contribution: Decimal
	driver_share: Decimal


def split_fare(amount: Decimal, outstanding: Decimal, fare_pct: Decimal, target_sharing: bool) -> Split:
	"""A fare split between the daily target and the driver (README "Gateway callbacks").  ``fare_pct`` is the driver's percentage of a fare.

	With sharing off or nothing outstanding, the driver gets it all.  Otherwise the company's cut is
	``round(A * (100 - f) / 100, 2)`` (half up) and contributes at most what is outstanding (a payment
	crossing the target contributes only what was left: pro-rata at the threshold); the driver gets
	the rest, so the two always add up to ``A`` exactly.
	"""
	if not target_sharing or outstanding <= 0:
		return Split(ZERO, amount)
	company_cut = round_half_up(amount * (100 - fare_pct) / 100)
	contribution = min(company_cut, outstanding)
	return Split(contribution, amount - contribution)


@dataclass(frozen=True)
class Terms:
	daily_target: Decimal
	fare_pct: Decimal
	target_sharing: bool
	instant_payout: bool
	#: an instant payout is queued once the payable reaches this (never below M-Pesa's minimum)
	minimum_payout: Decimal = ZERO


def terms_for(driver: dict, settings: dict) -> Terms:
	"""A driver's effective terms: their own values where set, the global settings otherwise."""

	def override(value, global_on):
		return {"Enable": True, "Disable": False}.get(value, bool(global_on))

	return Terms(
		daily_target=driver["daily_target"] if driver["daily_target"] > 0 else settings["global_daily_target"],
		fare_pct=driver["fare_pct"] if driver["fare_pct"] > 0 else settings["global_fare_pct"],
		target_sharing=override(driver["target_sharing"], settings["target_sharing"]),
		instant_payout=override(driver["instant_payout"], settings["instant_payouts"]),
		minimum_payout=settings["minimum_payout"],
	)


# --- C2B ---------------------------------------------------------------------------------------


class C2BRejected(ValidationFailed):
	"""A C2B payload refused, with the Daraja validation result code that says why."""

	def __init__(self, message: str, result_code: str = "C2B00016"):
		super().__init__(message)
		self.result_code = result_code


@dataclass(frozen=True)
class C2BPayment:
	trans_id: str
	amount: Decimal
	bill_ref_number: str
	trans_time: datetime
	transaction_type: str = "Pay Bill"
	msisdn: str = ""
	payer_name: str = ""
	shortcode: str = ""

	def fingerprint(self) -> dict:
		"""What a repeat of the TransID is compared with: a resend that differs in any of these is a
		mismatch (logged and alerted, never posted).  The time is left out: a confirmation without
		TransTime is stamped when it arrives."""
		return {"amount": str(self.amount), "bill_ref": self.bill_ref_number, "msisdn": self.msisdn}


def parse_c2b(body, *, require_trans_id: bool = True, payment_made: bool = False) -> C2BPayment:
	"""Daraja's validation/confirmation body into a C2BPayment; a clear C2BRejected otherwise.

	``TransAmount`` is Daraja's string (``"10"``, ``"10.00"``) or a JSON number read exactly
	(``parse_float=Decimal``), in the one amount grammar (``money.to_decimal``).  Text that cannot be
	stored (NUL, lone surrogates, control characters) never reaches the database: the optional fields
	(names, MSISDN, shortcode) keep the rest with U+FFFD in place of each such character, and so does
	the BillRefNumber of a confirmation (``payment_made``: the money has moved, so it is recorded, in
	suspense since no account matches such a reference); a validation refuses it (C2B00012).
	"""
	if not isinstance(body, dict):
		raise C2BRejected("the body must be a JSON object")
	kind = body.get("TransactionType")
	if kind not in C2B_TRANSACTION_TYPES:
		raise C2BRejected(f"unknown TransactionType {kind!r}")
	trans_id = body.get("TransID")
	if require_trans_id or trans_id not in (None, ""):
		if not isinstance(trans_id, str) or not re.fullmatch(r"[A-Za-z0-9]{3,40}", trans_id.strip()):
			raise C2BRejected(f"TransID must be 3-40 letters and digits, got {trans_id!r}")
		trans_id = trans_id.strip().upper()
	try:
		amount = parse_amount(body.get("TransAmount"), "TransAmount")
	except ValidationFailed as exc:
		raise C2BRejected(exc.message, "C2B00013") from None
	if amount > MAX_C2B_AMOUNT:
		raise C2BRejected(f"TransAmount {amount} is above the maximum {MAX_C2B_AMOUNT}", "C2B00013")
	bill_ref = body.get("BillRefNumber")
	if not isinstance(bill_ref, str) or not bill_ref.strip() or len(bill_ref) > 40:
		raise C2BRejected(f"BillRefNumber must be 1-40 characters, got {bill_ref!r}", "C2B00012")
	if not text.is_clean(bill_ref):
		if not payment_made:
			raise C2BRejected(f"BillRefNumber must not contain control characters, got {bill_ref!r}", "C2B00012")
		log.warning("C2B %s: BillRefNumber %r holds characters that cannot be stored; recorded with U+FFFD in their place",
			trans_id, bill_ref)
		bill_ref = text.scrub(bill_ref)
	return C2BPayment(
		trans_id=trans_id or "",
		amount=amount,
		bill_ref_number=normalize_account(bill_ref),
		trans_time=parse_trans_time(body.get("TransTime")),
		transaction_type=kind,
		msisdn=_optional_text(body, ("MSISDN",), trans_id)[:140],
		payer_name=_optional_text(body, ("FirstName", "MiddleName", "LastName"), trans_id)[:140],
		shortcode=_optional_text(body, ("BusinessShortCode",), trans_id)[:20],
	)


def _optional_text(body: dict, keys: tuple[str, ...], trans_id) -> str:
	"""The optional fields ``keys`` joined by spaces, each character that cannot be stored replaced."""
	joined = " ".join(str(body.get(k) or "").strip() for k in keys).strip()
	if not text.is_clean(joined):
		log.warning("C2B %s: %s hold characters that cannot be stored; kept with U+FFFD in their place",
			trans_id, "/".join(keys))
		joined = text.scrub(joined)
	return joined


def parse_trans_time(value) -> datetime:
	"""``YYYYMMDDHHmmss`` in the business timezone (stored naive, as every datetime here)."""
	if value in (None, ""):
		return clock.now()
	text = str(value).strip()
	try:
		if len(text) != 14 or not text.isascii() or not text.isdigit():
			raise ValueError(text)
		return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:]))
	except ValueError:
		raise C2BRejected(f"TransTime must be YYYYMMDDHHmmss, got {value!r}") from None


@dataclass(frozen=True)
class Match:
	kind: str  # "fare", "repayment" or "unmatched"
	driver: str | None = None
	vehicle: str | None = None
	#: for a fare: the paying driver's row (``name``, ``phone``, ``status`` and own terms)
	driver_row: dict | None = None
	#: for a fare: the driver's effective terms
	terms: Terms | None = None
	#: for a fare: the parameters of its check (``match_unchanged``): the BillRefNumber and the
	#: values of ``_match_columns`` it was made from
	basis: dict | None = None


#: per database (``Database.scope``): BillRefNumber -> the fare Match last made for it
_kept_matches: dict[str, dict[str, Match]] = {}
#: the kept matches of one database are dropped all at once beyond this many BillRefNumbers
KEPT_MATCHES_MAX = 100_000
#: a payment whose match went stale under the locks is decided again this many times at most
MATCH_ATTEMPTS = 3


def match_account(db, bill_ref_number: str) -> Match:
	"""Who a BillRefNumber pays and on what terms: a vehicle's driver (its substitute first), a driver
	repaying, or nobody.

	The vehicle, its paying driver's row and the version of Ledger Settings are read in one statement
	(the global terms come from this process's copy of the settings at that version,
	``settings.as_of``); only a BillRefNumber that is no vehicle's is then looked up as a driver's
	name.  A fare's match is kept for the next payment to the same BillRefNumber (``kept_match``).
	"""
	vehicles = db.sql(_match_sql(db.dialect), {"a": bill_ref_number})
	if vehicles:
		row = vehicles[0]
		if not row["driver"]:
			return Match("unmatched", None, row["vehicle"])
		if row["driver_found"] is None:
			raise NotFound(f"Driver {row['driver']!r} of vehicle {row['vehicle']!r} not found")
		globals_ = ledger_settings.as_of(db, row["settings_version"])
		driver_row = _typed_driver({"name": row["driver_found"], **{k: row[k] for k in _DRIVER_TERMS}})
		basis = {"m_a": bill_ref_number, **{f"m_{key}": value for key, value in row.items()}}
		match = Match("fare", driver_row["name"], row["vehicle"], driver_row, terms_for(driver_row, globals_), basis)
		if db.scope is not None:
			kept = _kept_matches.setdefault(db.scope, {})
			if len(kept) >= KEPT_MATCHES_MAX:
				kept.clear()
			kept[bill_ref_number] = match
		return match
	drivers = db.sql(f"SELECT `name` FROM {table(DRIVER_DOCTYPE)} WHERE UPPER(`name`) = %(a)s", {"a": bill_ref_number})
	if drivers:
		return Match("repayment", drivers[0]["name"])
	return Match("unmatched")


def kept_match(db, bill_ref_number: str) -> Match | None:
	"""The fare Match this process last made for ``bill_ref_number`` on this database, if any.  It
	may be out of date: a payment made with it checks it under the locks (``match_unchanged``)."""
	return _kept_matches.get(db.scope, {}).get(bill_ref_number) if db.scope is not None else None


def match_unchanged(db, match: Match) -> posting.Precondition:
	"""The fare ``match`` as a precondition of its posting: the BillRefNumber's vehicle, paying
	driver, that driver's terms and the settings version are still exactly what the match was made
	from (every column of the match statement compared, NULL-safe)."""
	return posting.Precondition(_match_unchanged_sql(db.dialect), match.basis,
		f"vehicle {match.vehicle!r}, its driver or the settings changed while the payment was being recorded")


#: a vehicle's paying driver: its substitute when one is set, its driver otherwise
_PAYING = "COALESCE(NULLIF(v.`substitute_driver`, ''), NULLIF(v.`driver`, ''))"
_MATCH_FROM = f" FROM {table(VEHICLE_DOCTYPE)} v LEFT JOIN {table(DRIVER_DOCTYPE)} d ON d.`name` = {_PAYING} WHERE v.`account_number` = "


def _match_columns(d) -> list[tuple[str, str]]:
	"""(name, SQL expression) of what a fare's match is made of."""
	return [("vehicle", "v.`name`"), ("driver", _PAYING), ("driver_found", "d.`name`"), *_driver_terms(d, "d."),
		("settings_version", ledger_settings.version_sql())]


@lru_cache(maxsize=8)
def _match_sql(d) -> str:
	return f"SELECT {_select_list(_match_columns(d))}{_MATCH_FROM}%(a)s"


@lru_cache(maxsize=8)
def _match_unchanged_sql(d) -> str:
	same = " AND ".join(d.same(expr, f"%(m_{name})s") for name, expr in _match_columns(d))
	return f"EXISTS (SELECT 1{_MATCH_FROM}%(m_a)s AND {same})"


def validate_c2b(db, body) -> tuple[str, str]:
	"""The Daraja validation answer (ResultCode, ResultDesc) for a payment about to be made."""
	try:
		payment = parse_c2b(body, require_trans_id=False)
	except C2BRejected as exc:
		return exc.result_code, "Rejected"
	match = match_account(db, payment.bill_ref_number)
	if match.kind == "unmatched":
		return "C2B00012", "Rejected"
	return "0", "Accepted"


@dataclass(frozen=True)
class Confirmation:
	kind: str
	transaction: str
	duplicate: bool
	driver: str | None = None
	contribution: Decimal = ZERO
	driver_share: Decimal = ZERO
	to_deposit: Decimal = ZERO
	unmatched_payment: str | None = None
	payout: str | None = None
	#: a repeat of a recorded TransID whose amount, BillRefNumber or MSISDN differs: what differs
	mismatch: str | None = None


def confirm_c2b(db, payment: C2BPayment, user: str = "Guest", *, callback_log: str | None = None) -> Confirmation:
	"""Service: record a confirmed C2B payment exactly once (the key is its TransID).

	Before the write transaction, without locks: who the BillRefNumber pays and on what terms
	(``match_account``: one statement; none when this process kept a fare's match for it).  In it:
	the posting, whose insert-or-skip on the TransID settles repeats (also concurrent ones: the
	second waits for the first, then returns it); a fare's match checked unchanged and its split
	computed, both under the locks of the paybill, target and payable accounts (a stale match rolls
	the transaction back and the payment is matched again); an instant payout; and, when
	``callback_log`` names the Callback Log row of this request, its Processed outcome, so the log
	says Processed exactly when the payment is committed.  A repeat of a TransID changes nothing and
	returns the original; when its amount, BillRefNumber or MSISDN differs from the original's, it is
	a mismatch: still nothing is posted, but an alert is raised and the log row says Mismatch with
	what differs (``_repeat``).  Unknown accounts go to suspense as an Unmatched Payment.
	"""
	match = kept_match(db, payment.bill_ref_number)
	for _ in range(MATCH_ATTEMPTS):
		if match is None:
			match = match_account(db, payment.bill_ref_number)
		try:
			return db.run_in_transaction(lambda db, match=match: _confirm(db, payment, match, user, callback_log))
		except StaleDecision as exc:
			stale, match = exc, None
	raise stale


def _confirm(db, payment, match, user, callback_log) -> Confirmation:
	names = driver_accounts(match.driver) if match.driver else None
	if match.kind == "fare":
		confirmation = _post_fare(db, payment, match.driver, names, match.terms, user, match_unchanged(db, match))
		if match.terms.instant_payout and not confirmation.duplicate:
			confirmation = _instant_payout(db, confirmation, payment, match.driver_row, match.terms, user)
	elif match.kind == "repayment":
		confirmation = _post_repayment(db, payment, match.driver, names, user)
	else:
		confirmation = _post_unmatched(db, payment, user)
	if callback_log is not None:
		callbacks.mark(db, callback_log, callbacks.MISMATCH if confirmation.mismatch else "Processed", 200,
			confirmation.mismatch or ("duplicate" if confirmation.duplicate else None), reference=payment.trans_id)
	crash_point("before_confirmation_commit")
	return confirmation


class _FareSplit:
	"""Builds the legs of a fare (``C2B Payment`` from the paybill, ``Unmatched Assignment`` from
	suspense) from the target outstanding read under lock, and keeps the split it made."""

	def __init__(self, kind: txn_types.TransactionType, source_account: str, names: dict, amount: Decimal, terms: Terms):
		self.kind, self.source_account, self.names, self.amount, self.terms = kind, source_account, names, amount, terms
		self.split: Split | None = None
		self.lock = [source_account, names["target"], names["payable"]]

	def __call__(self, balances: dict) -> list:
		self.split = split_fare(self.amount, balances[self.names["target"]], self.terms.fare_pct, self.terms.target_sharing)
		source = "paybill_account" if self.kind is txn_types.C2B_PAYMENT else "suspense_account"
		return self.kind.legs({source: self.source_account, "target_account": self.names["target"],
			"payable_account": self.names["payable"], "amount": self.amount, "contribution": self.split.contribution,
			"driver_share": self.split.driver_share})


def _post_fare(db, payment, driver, names, terms, user, precondition) -> Confirmation:
	fare = _FareSplit(txn_types.C2B_PAYMENT, PAYBILL_ACCOUNT, names, payment.amount, terms)
	posted = posting.post(db, txn_types.C2B_PAYMENT.name, payment.trans_id, build=fare, lock=fare.lock,
		fingerprint=payment.fingerprint(), key_is_identity=True, posting_datetime=payment.trans_time,
		precondition=precondition,
		party_type=DRIVER_DOCTYPE, party=driver, user=user, remarks=f"C2B {payment.trans_id} account {payment.bill_ref_number}")
	if posted.duplicate:
		return _repeat(posted, payment)
	return Confirmation("fare", posted.name, False, driver, fare.split.contribution, fare.split.driver_share)


def _instant_payout(db, confirmation, payment, driver_row, terms, user) -> Confirmation:
	"""With instant payout on, queue the driver's payable in whole units once it
	reaches the minimum payout, in the confirmation's own transaction (the payable row is still
	locked by it).  Smaller amounts accumulate."""
	from ledger_app.engine import payouts

	payout = payouts.queue_payout(db, party_type=DRIVER_DOCTYPE, party=driver_row["name"], phone=driver_row["phone"],
		idempotency_key=f"instant:{payment.trans_id}", key_scope=payouts.INSTANT_PAYOUT, purpose="Driver Share",
		minimum=max(terms.minimum_payout, payouts.B2C_MINIMUM), user=user)
	if payout is None:
		return confirmation
	return dataclasses.replace(confirmation, payout=payout["name"])


def _post_repayment(db, payment, driver, names, user) -> Confirmation:
	parts = {}

	def build(balances):
		outstanding = max(balances[names["target"]], ZERO)
		parts["to_target"] = min(payment.amount, outstanding)
		parts["to_deposit"] = payment.amount - parts["to_target"]
		return txn_types.DRIVER_REPAYMENT.legs({"paybill_account": PAYBILL_ACCOUNT, "target_account": names["target"],
			"deposit_account": names["deposit"], "amount": payment.amount, **parts})

	posted = posting.post(db, txn_types.DRIVER_REPAYMENT.name, payment.trans_id, build=build,
		lock=[PAYBILL_ACCOUNT, names["target"], names["deposit"]], fingerprint=payment.fingerprint(), key_is_identity=True,
		posting_datetime=payment.trans_time, party_type=DRIVER_DOCTYPE, party=driver, user=user,
		remarks=f"Repayment {payment.trans_id} by {driver}")
	if posted.duplicate:
		return _repeat(posted, payment)
	return Confirmation("repayment", posted.name, False, driver, parts["to_target"], ZERO, parts["to_deposit"])


def _post_unmatched(db, payment, user) -> Confirmation:
	ensure_business_accounts(db)  # a payment can arrive before any driver exists
	legs = txn_types.UNMATCHED_PAYMENT.legs({"paybill_account": PAYBILL_ACCOUNT, "suspense_account": SUSPENSE_ACCOUNT,
		"amount": payment.amount})
	posted = posting.post(db, txn_types.UNMATCHED_PAYMENT.name, payment.trans_id, legs, fingerprint=payment.fingerprint(),
		key_is_identity=True, posting_datetime=payment.trans_time, user=user,
		remarks=f"Unmatched C2B {payment.trans_id} account {payment.bill_ref_number}")
	if posted.duplicate:
		return _repeat(posted, payment)
	name = new_name()
	insert(db, "Unmatched Payment", {"name": name, **standard_columns(clock.now(), user), "trans_id": payment.trans_id,
		"amount": payment.amount, "bill_ref_number": payment.bill_ref_number, "msisdn": payment.msisdn,
		"payer_name": payment.payer_name, "trans_time": payment.trans_time, "status": "Open",
		"ledger_transaction": posted.name})
	alerts.warning("unmatched payment %s of %s to account %r is in suspense", payment.trans_id, payment.amount,
		payment.bill_ref_number)
	return Confirmation("unmatched", posted.name, False, unmatched_payment=name)


_KIND_OF_TYPE = {txn_types.C2B_PAYMENT.name: "fare", txn_types.DRIVER_REPAYMENT.name: "repayment",
	txn_types.UNMATCHED_PAYMENT.name: "unmatched"}


def _repeat(posted: posting.Posted, payment: C2BPayment) -> Confirmation:
	"""A TransID already recorded: the original, whatever this repeat would have been.  A repeat
	whose content differs (``fingerprint``) is a mismatch: alerted, and said on the Confirmation."""
	mismatch = None
	if posted.content_differs:
		recorded = next((leg.amount for leg in posted.legs if leg.account == PAYBILL_ACCOUNT), None)
		mismatch = (f"mismatch: TransID {payment.trans_id} was recorded as {posted.transaction_type} {posted.name}"
			f" of {recorded}; this repeat says {payment.amount} to account {payment.bill_ref_number!r}"
			f" from {payment.msisdn or 'no MSISDN'}; nothing posted")
		alerts.warning("%s", mismatch)
	return Confirmation(_KIND_OF_TYPE.get(posted.transaction_type, posted.transaction_type), posted.name, True,
		mismatch=mismatch)


def record_missed_payment(db, trans_id, amount, bill_ref_number, trans_time=None, msisdn=None, user="Administrator"):
	"""Service: record a payment the gateway has and the ledger lacks, through the confirmation path."""
	body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransAmount": amount, "BillRefNumber": bill_ref_number,
		"TransTime": trans_time or "", "MSISDN": msisdn or ""}
	return confirm_c2b(db, parse_c2b(body), user=user)


# --- unmatched payments ------------------------------------------------------------------------


def assign_unmatched(db, unmatched_payment, driver, user="Administrator") -> dict:
	"""Service: move an Open unmatched payment to a driver, split as a fare now, exactly once."""
	if not isinstance(unmatched_payment, str) or not unmatched_payment.strip():
		raise ValidationFailed("unmatched_payment is required")
	driver = _identifier(driver, "driver")
	terms = terms_for(get_driver(db, driver), get_settings(db))
	names = driver_accounts(driver)

	def unit(db):
		rows = db.sql(
			f"SELECT `name`, `trans_id`, {db.dialect.money('`amount`')} AS `amount`, `status`, `assigned_driver`,"
			f" `assignment_transaction` FROM {table('Unmatched Payment')} WHERE `name` = %(n)s{db.dialect.for_update}",
			{"n": unmatched_payment.strip()},
		)
		if not rows:
			raise NotFound(f"Unmatched Payment {unmatched_payment!r} not found")
		row = rows[0]
		if row["status"] == "Assigned":
			if row["assigned_driver"] == driver:
				return {"unmatched_payment": row["name"], "driver": driver, "transaction": row["assignment_transaction"],
					"duplicate": True}
			raise Conflict(f"Unmatched Payment {row['name']} is already assigned to {row['assigned_driver']}")
		if row["status"] != "Open":
			raise Conflict(f"Unmatched Payment {row['name']} is {row['status']}, not Open")
		fare = _FareSplit(txn_types.UNMATCHED_ASSIGNMENT, SUSPENSE_ACCOUNT, names, from_db(row["amount"]), terms)
		posted = posting.post(db, txn_types.UNMATCHED_ASSIGNMENT.name, f"assign:{row['trans_id']}", build=fare,
			lock=fare.lock, fingerprint={"driver": driver}, party_type=DRIVER_DOCTYPE, party=driver, user=user,
			remarks=f"Assignment of unmatched {row['trans_id']} to {driver}")
		if posted.duplicate:
			raise Conflict(f"the assignment of {row['trans_id']} was already posted; reload the Unmatched Payment")
		now = clock.now()
		db.execute(
			f"UPDATE {table('Unmatched Payment')} SET `status` = 'Assigned', `assigned_driver` = %(d)s,"
			f" `assignment_transaction` = %(t)s, `assigned_by` = %(u)s, `assigned_at` = %(now)s, `modified` = %(now)s"
			f" WHERE `name` = %(n)s",
			{"d": driver, "t": posted.name, "u": user, "now": now, "n": row["name"]},
		)
		return {"unmatched_payment": row["name"], "driver": driver, "transaction": posted.name, "duplicate": False,
			"contribution": fare.split.contribution, "driver_share": fare.split.driver_share}

	return db.run_in_transaction(unit)


def request_unmatched_refund(db, unmatched_payment, user="Administrator") -> dict:
	"""Service: mark an Open unmatched payment for refund (the refund itself is a later flow)."""
	if not isinstance(unmatched_payment, str) or not unmatched_payment.strip():
		raise ValidationFailed("unmatched_payment is required")

	def unit(db):
		rows = db.sql(f"SELECT `name`, `status` FROM {table('Unmatched Payment')} WHERE `name` = %(n)s{db.dialect.for_update}",
			{"n": unmatched_payment})
		if not rows:
			raise NotFound(f"Unmatched Payment {unmatched_payment!r} not found")
		if rows[0]["status"] == "Refund Requested":
			return {"unmatched_payment": unmatched_payment, "status": "Refund Requested", "duplicate": True}
		if rows[0]["status"] != "Open":
			raise Conflict(f"Unmatched Payment {unmatched_payment} is {rows[0]['status']}, not Open")
		db.execute(f"UPDATE {table('Unmatched Payment')} SET `status` = 'Refund Requested', `modified` = %(now)s,"
			f" `modified_by` = %(u)s WHERE `name` = %(n)s", {"now": clock.now(), "u": user, "n": unmatched_payment})
		return {"unmatched_payment": unmatched_payment, "status": "Refund Requested", "duplicate": False}

	return db.run_in_transaction(unit)


def list_unmatched(db, status="Open") -> list[dict]:
	status = _choice(status, "status", UNMATCHED_STATUSES, "Open")
	rows = db.sql(
		f"SELECT `name`, `trans_id`, {db.dialect.money('`amount`')} AS `amount`, `bill_ref_number`, `trans_time`, `status`,"
		f" `assigned_driver` FROM {table('Unmatched Payment')} WHERE `status` = %(s)s ORDER BY `trans_time`",
		{"s": status},
	)
	for row in rows:
		row["amount"] = from_db(row["amount"])
	return rows


# --- daily targets -----------------------------------------------------------------------------


def run_daily_targets(db, day: date, user: str = "Scheduler") -> dict:
	"""Service: charge every active driver's daily target for ``day``, once per driver and day.

	Each driver is one transaction: the Driver row is locked, a day already handled is skipped, the
	miss count goes up when the previous day closed with target outstanding > 0 (else back to 0),
	the driver is flagged (and an alert logged) at the settings' threshold, and the ``Daily Target``
	transaction (key ``target:<driver>:<day>``) raises target outstanding.
	"""
	settings = get_settings(db)
	threshold = int(settings["miss_threshold"] or 0)
	drivers = [r["name"] for r in db.sql(f"SELECT `name` FROM {table(DRIVER_DOCTYPE)} WHERE `status` = 'Active' ORDER BY `name`")]
	charged = skipped = flagged = 0
	for driver in drivers:
		outcome = db.run_in_transaction(lambda db, d=driver: _charge_day(db, d, day, settings, threshold, user))
		charged += outcome == "charged"
		skipped += outcome == "skipped"
		flagged += outcome == "flagged"
	return {"date": day.isoformat(), "drivers": len(drivers), "charged": charged + flagged, "skipped": skipped,
		"newly_flagged": flagged}


def _charge_day(db, driver, day, settings, threshold, user) -> str:
	rows = db.sql(
		f"SELECT `name`, `status`, {db.dialect.money('`daily_target`')} AS `daily_target`, {db.dialect.money('`fare_pct`')}"
		f" AS `fare_pct`, `target_sharing`, `instant_payout`, `consecutive_misses`, `flagged`, `last_target_date`"
		f" FROM {table(DRIVER_DOCTYPE)} WHERE `name` = %(n)s{db.dialect.for_update}",
		{"n": driver},
	)
	row = rows[0]
	last = row["last_target_date"]
	if last is not None and str(last)[:10] >= day.isoformat():
		return "skipped"
	row["daily_target"], row["fare_pct"] = from_db(row["daily_target"]), from_db(row["fare_pct"])
	terms = terms_for(row, settings)
	names = driver_accounts(driver)
	before = {}

	def build(balances):
		before["outstanding"] = balances[names["target"]]
		return txn_types.DAILY_TARGET.legs({"target_account": names["target"], "income_account": TARGET_INCOME_ACCOUNT,
			"amount": terms.daily_target})

	if terms.daily_target > 0:
		posted = posting.post(db, txn_types.DAILY_TARGET.name, f"target:{driver}:{day.isoformat()}", build=build,
			lock=[names["target"], TARGET_INCOME_ACCOUNT], fingerprint={"amount": str(terms.daily_target)},
			posting_datetime=datetime.combine(day, datetime.min.time()), party_type=DRIVER_DOCTYPE, party=driver, user=user,
			remarks=f"Daily target {day.isoformat()} for {driver}")
		if posted.duplicate:
			return "skipped"
	else:
		before["outstanding"] = accounts.get_account(db, names["target"])["balance"]
	missed = before["outstanding"] > 0 and last is not None
	misses = int(row["consecutive_misses"] or 0) + 1 if missed else 0
	newly_flagged = bool(threshold) and misses >= threshold and not row["flagged"]
	db.execute(
		f"UPDATE {table(DRIVER_DOCTYPE)} SET `consecutive_misses` = %(m)s, `flagged` = %(f)s, `last_target_date` = %(d)s,"
		f" `modified` = %(now)s WHERE `name` = %(n)s",
		{"m": misses, "f": 1 if (row["flagged"] or newly_flagged) else 0, "d": day, "now": clock.now(), "n": driver},
	)
	if newly_flagged:
		alerts.warning("driver %s missed the daily target %d days in a row (outstanding %s)", driver, misses,
			before["outstanding"])
		return "flagged"
	return "charged"


# --- reads -------------------------------------------------------------------------------------


def driver_balances(db, driver: str) -> dict[str, Decimal]:
	names = driver_accounts(driver)
	rows = db.sql(
		f"SELECT `name`, {db.dialect.money('`balance`')} AS `balance` FROM {table('Ledger Account')}"
		f" WHERE `name` IN (%(t)s, %(p)s, %(d)s)",
		{"t": names["target"], "p": names["payable"], "d": names["deposit"]},
	)
	if len(rows) != 3:
		get_driver(db, driver)  # NotFound for an unknown driver
		raise NotFound(f"ledger accounts of driver {driver!r} are missing")
	by_name = {r["name"]: from_db(r["balance"]) for r in rows}
	return {"target_outstanding": by_name[names["target"]], "payable": by_name[names["payable"]],
		"deposit": by_name[names["deposit"]]}


def balances_report(db, status: str | None = None) -> list[dict]:
	"""One row per driver with the three balances (one query; the Driver Balances report)."""
	money = db.dialect.money
	where, params = "", {}
	if status:
		where, params = " WHERE d.`status` = %(s)s", {"s": status}
	rows = db.sql(
		f"SELECT d.`name` AS `driver`, d.`driver_name`, d.`status`, d.`consecutive_misses`, d.`flagged`,"
		f" {money('t.`balance`')} AS `target_outstanding`, {money('p.`balance`')} AS `payable`,"
		f" {money('dp.`balance`')} AS `deposit` FROM {table(DRIVER_DOCTYPE)} d"
		f" LEFT JOIN {table('Ledger Account')} t ON t.`name` = d.`target_account`"
		f" LEFT JOIN {table('Ledger Account')} p ON p.`name` = d.`payable_account`"
		f" LEFT JOIN {table('Ledger Account')} dp ON dp.`name` = d.`deposit_account`{where} ORDER BY d.`name`",
		params,
	)
	for row in rows:
		for key in ("target_outstanding", "payable", "deposit"):
			row[key] = from_db(row[key])
	return rows
