"""Ledger Settings: a Frappe single, stored in ``tabSingles`` as (doctype, field, value) rows.

Defaults come from the doctype JSON, so the JSON stays the one source of the schema.  Values are
typed by the field's fieldtype (Currency → Decimal, Int/Check → int); Password fields are not read
here (Frappe keeps them encrypted in ``__Auth``; the standalone host takes secrets from its config).

Every save of Ledger Settings writes its ``modified`` row (Frappe's ``Document.save`` of a single
does, and so does ``update_settings``), so that row is the settings' version: a hot path reads it in
one of its own statements (``version_sql``) and takes the settings from this process's copy at
that version (``as_of``), reading them again only after a change.

The rules of every field live here, once (``validate``): the staff API's ``update_settings`` (on both
hosts) and the desk's Ledger Settings controller both call it, so a value one of them refuses the
other refuses too, with the same message.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger_app.db.rows import table
from ledger_app.engine import callbacks, clock
from ledger_app.engine.payouts import B2C_MINIMUM
from ledger_app.engine.errors import ValidationFailed
from ledger_app.engine.money import ZERO, from_db, parse_amount

DOCTYPE = "Ledger Settings"
DEFAULT_TIMEZONE = "Africa/Nairobi"
DEFAULT_CURRENCY = "KES"
MAX_DEADLOCK_RETRIES = 20
MAX_MISS_THRESHOLD = 366
_TEXT_LIMITS = {"Data": 140, "Small Text": 10_000}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, LF and CR are allowed (Small Text lines)


@lru_cache(maxsize=1)
def fields() -> dict[str, dict]:
	from ledger_app.db.schema import NO_VALUE_FIELDTYPES, load_doctypes

	meta = load_doctypes()[DOCTYPE]
	skipped = NO_VALUE_FIELDTYPES | {"Password"}
	return {f["fieldname"]: f for f in meta["fields"] if f["fieldtype"] not in skipped}


def _typed(field: dict, raw):
	kind = field["fieldtype"]
	if kind in ("Currency", "Float", "Percent"):
		return from_db(raw if raw not in (None, "") else 0)
	if kind in ("Int", "Check"):
		return int(float(raw)) if raw not in (None, "") else 0
	return raw if raw is not None else ""


def get_settings(db, names=None) -> dict:
	"""Ledger Settings typed; only the ``names`` fields when given (a request that needs one field
	reads one row)."""
	if names is None:
		return typed_values(_stored(db), fields())
	unknown = [name for name in names if name not in fields()]
	if unknown:
		raise ValueError(f"unknown Ledger Settings field(s): {unknown}")
	return typed_values(_stored(db, names), names)


def _stored(db, names=None) -> dict:
	params, only = {"dt": DOCTYPE}, ""
	if names is not None:
		params.update({f"f{i}": name for i, name in enumerate(names)})
		only = f" AND `field` IN ({', '.join(f'%(f{i})s' for i in range(len(names)))})"
	rows = db.sql(f"SELECT `field`, `value` FROM {table('Singles')} WHERE `doctype` = %(dt)s{only}", params)
	return {row["field"]: row["value"] for row in rows}


def typed_values(stored: dict, names) -> dict:
	"""The ``names`` fields typed from their stored text (the field's default where none is stored)."""
	known = fields()
	return {name: _typed(known[name], _stored_or_default(known[name], stored.get(name))) for name in names}


def _stored_or_default(field: dict, raw):
	return field.get("default") if raw is None else raw


#: per database (``Database.scope``): (version, the settings typed at that version)
_kept: dict[str, tuple[str, MappingProxyType]] = {}


def version_sql() -> str:
	"""An SQL expression: the version of Ledger Settings (``as_of``)."""
	return f"(SELECT `value` FROM {table('Singles')} WHERE `doctype` = '{DOCTYPE}' AND `field` = 'modified' LIMIT 1)"


def as_of(db, version) -> MappingProxyType:
	"""Ledger Settings at ``version`` (read by the caller in one of its statements, so consistent
	with what else that statement read): this process's copy when it is at that version, otherwise
	read afresh (and kept for the next caller).  Read-only."""
	scope = db.scope
	if version is not None and scope is not None:
		kept = _kept.get(scope)
		if kept is not None and kept[0] == str(version):
			return kept[1]
	stored = _stored(db)
	settings = MappingProxyType(typed_values(stored, fields()))
	if scope is not None and stored.get("modified") is not None:
		_kept[scope] = (str(stored["modified"]), settings)
	return settings


def update_settings(db, values: dict) -> dict:
	"""Set fields of Ledger Settings inside the caller's transaction, each checked and normalized by
	``validate`` first (a refused value writes nothing)."""
	clean = validate(values)
	_lock(db)
	for name, value in clean.items():
		_store(db, name, None if value is None else str(value))
	_store(db, "modified", clock.now().isoformat(" ", timespec="microseconds"))  # the new version (``as_of``)
	return get_settings(db)


# --- the rules ---------------------------------------------------------------------------------


def validate(values: dict) -> dict:
	"""Ledger Settings ``values`` (any of its fields, as the staff API or a desk form holds them)
	checked against every rule and normalized: money as 2-place Decimals, Int and Check fields as
	ints, text stripped (``None`` when blank, or the field's default where one applies).  Raises
	``ValidationFailed`` naming the field and the rule; unknown fields are refused."""
	if not isinstance(values, dict):
		raise ValidationFailed("Ledger Settings must be given as an object of field: value")
	known = fields()
	unknown = sorted(set(values) - set(known))
	if unknown:
		raise ValidationFailed(f"unknown Ledger Settings field(s): {', '.join(map(str, unknown))}")
	clean = {}
	for name, value in values.items():
		field = known[name]
		typed = _TYPES[field["fieldtype"]](value, field)
		rule = _RULES.get(name)
		clean[name] = rule(typed, field) if rule is not None else typed
	return clean


def _label(field: dict) -> str:
	return f"{field.get('label') or field['fieldname']} ({field['fieldname']})"


def _shown(value) -> str:
	"""A refused value for a message: its repr, cut short (a huge int is not even turned to text)."""
	if isinstance(value, int) and abs(value) > 10**18:
		return "a number of more than 18 digits"
	text = repr(value)
	return text if len(text) <= 80 else text[:77] + "..."


def _money(value, field: dict) -> Decimal:
	if value is None or value == "":
		return ZERO
	return parse_amount(value, _label(field), allow_zero=True)


def _integer(value, field: dict) -> int:
	if value is None or value == "":
		return 0
	if isinstance(value, int) and not isinstance(value, bool):
		number = value
	elif isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,9}\s*", value):
		number = int(value)
	else:
		raise ValidationFailed(f"{_label(field)} must be a whole number, got {_shown(value)}")
	if abs(number) > 10**9:
		raise ValidationFailed(f"{_label(field)} must be a whole number below 1,000,000,000, got {_shown(value)}")
	return number


def _check(value, field: dict) -> int:
	if value is None or value == "":
		return 0
	if value in (0, 1) and not isinstance(value, float):  # also True / False
		return int(value)
	if isinstance(value, str) and value.strip() in ("0", "1"):
		return int(value.strip())
	raise ValidationFailed(f"{_label(field)} must be 0 or 1, got {_shown(value)}")


def _text(value, field: dict) -> str | None:
	"""Text without control characters (Small Text may have lines), stripped; ``None`` when blank."""
	if value is None:
		return None
	if not isinstance(value, str):
		raise ValidationFailed(f"{_label(field)} must be text, got {type(value).__name__}")
	limit = _TEXT_LIMITS.get(field["fieldtype"], 140)
	if len(value) > limit:
		raise ValidationFailed(f"{_label(field)} must be at most {limit} characters, got {len(value)}")
	if _CONTROL.search(value) or (field["fieldtype"] == "Data" and re.search(r"[\r\n\t]", value)):
		raise ValidationFailed(f"{_label(field)} must not contain control characters, got {_shown(value)}")
	try:
		value.encode("utf-8")
	except UnicodeEncodeError:
		raise ValidationFailed(f"{_label(field)} must be valid Unicode text (it has a lone surrogate)") from None
	return value.strip() or None


_TYPES = {"Currency": _money, "Float": _money, "Percent": _money, "Int": _integer, "Check": _check,
	"Data": _text, "Small Text": _text, "Text": _text, "Select": _text}


def _percent_0_100(value: Decimal, field: dict) -> Decimal:
	if not ZERO <= value <= 100:
		raise ValidationFailed(f"{_label(field)} must be between 0 and 100, got {value}")
	return value


def _minimum_payout(value: Decimal, field: dict) -> Decimal:
	if value < B2C_MINIMUM:
		raise ValidationFailed(f"{_label(field)} cannot be below {B2C_MINIMUM}: M-Pesa B2C pays no less, got {value}")
	return value


def _between(low: int, high: int, meaning: str = ""):
	def rule(value: int, field: dict) -> int:
		if not low <= value <= high:
			raise ValidationFailed(f"{_label(field)} must be {low} to {high}{meaning}, got {value}")
		return value

	return rule


def _timezone(value: str | None, field: dict) -> str:
	"""An IANA time zone name (``Africa/Nairobi``); blank is the default."""
	name = value or DEFAULT_TIMEZONE
	try:
		ok = re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", name) is not None and ZoneInfo(name) is not None
	except (ZoneInfoNotFoundError, ValueError, OSError):
		ok = False
	if not ok:
		raise ValidationFailed(f"{_label(field)}: {_shown(name)} is not a time zone name like {DEFAULT_TIMEZONE}")
	return name


def _currency(value: str | None, field: dict) -> str:
	code = (value or DEFAULT_CURRENCY).upper()
	if not re.fullmatch(r"[A-Z]{3}", code):
		raise ValidationFailed(f"{_label(field)} must be a 3-letter ISO 4217 code like {DEFAULT_CURRENCY}, got {_shown(value)}")
	return code


def _shortcode(value: str | None, field: dict) -> str | None:
	if value is not None and not re.fullmatch(r"[0-9]{1,10}", value):
		raise ValidationFailed(f"{_label(field)} must be digits only (an M-Pesa shortcode like 600000), got {_shown(value)}")
	return value


def _allow_list(value: str | None, field: dict) -> str | None:
	"""One network per line, as ``callbacks.parse_allow_list`` reads it at callback time."""
	networks, bad = callbacks.parse_allow_list(value)
	if bad:
		raise ValidationFailed(f"{_label(field)}: {', '.join(_shown(item) for item in bad[:5])} is not an IP address or"
			f" network (one per line, like 196.201.214.200 or 10.0.0.0/8)")
	if len(networks) > callbacks.MAX_ALLOWED_NETWORKS:
		raise ValidationFailed(f"{_label(field)} has {len(networks)} networks, at most {callbacks.MAX_ALLOWED_NETWORKS}")
	return "\n".join(_network_text(network) for network in networks) or None


def _network_text(network) -> str:
	"""A one-address network as the plain address, any other in CIDR form."""
	return str(network.network_address) if network.num_addresses == 1 else str(network)


def _http_url(value: str | None, field: dict) -> str | None:
	"""Blank (no gateway configured) or an http(s) URL with a host, kept without a trailing slash."""
	if value is None:
		return None
	try:
		parts = urlsplit(value)
		parts.port  # a port that is not a number from 0 to 65535 raises ValueError
		ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", value) \
			and not parts.query and not parts.fragment
	except ValueError:
		ok = False
	if not ok:
		raise ValidationFailed(f"{_label(field)} must be an http(s) URL like https://api.safaricom.co.ke, got {_shown(value)}")
	return value.rstrip("/")


_RULES = {
	"global_fare_pct": _percent_0_100,
	"minimum_payout": _minimum_payout,
	"deadlock_retries": _between(1, MAX_DEADLOCK_RETRIES),
	"miss_threshold": _between(0, MAX_MISS_THRESHOLD, " (0: never flag)"),
	"business_timezone": _timezone,
	"currency": _currency,
	"paybill_shortcode": _shortcode,
	"daraja_shortcode": _shortcode,
	"allowed_callback_ips": _allow_list,
	"daraja_base_url": _http_url,
}


def _lock(db) -> None:
	"""Writers of Ledger Settings queue here, one at a time: each field is a row deleted and inserted
	again (Frappe's layout has no unique key on it), so two writers at once could each insert one.
	The settings' rows are locked (on MariaDB with the gaps between them, so also where none is yet),
	and on PostgreSQL the doctype's name too (a row not yet there cannot be locked)."""
	if db.dialect.name_lock:
		db.sql(db.dialect.name_lock, {"lock": f"tabSingles:{DOCTYPE}"})
	db.sql(f"SELECT `field` FROM {table('Singles')} WHERE `doctype` = %(dt)s{db.dialect.for_update}", {"dt": DOCTYPE})


def _store(db, name: str, value) -> None:
	db.execute(f"DELETE FROM {table('Singles')} WHERE `doctype` = %(dt)s AND `field` = %(f)s", {"dt": DOCTYPE, "f": name})
	db.execute(
		f"INSERT INTO {table('Singles')} (`doctype`, `field`, `value`) VALUES (%(dt)s, %(f)s, %(v)s)",
		{"dt": DOCTYPE, "f": name, "v": value},
	)
