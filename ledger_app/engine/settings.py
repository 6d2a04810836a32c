"""Ledger Settings: a Frappe single, stored in ``tabSingles`` as (doctype, field, value) rows.

Defaults come from the doctype JSON, so the JSON stays the one source of the schema.  Values are
typed by the field's fieldtype (Currency → Decimal, Int/Check → int); Password fields are not read
here (Frappe keeps them encrypted in ``__Auth``; the standalone host takes secrets from its config).

Every save of Ledger Settings writes its ``modified`` row (Frappe's ``Document.save`` of a single
does, and so does ``update_settings``), so that row is the settings' version: a hot path reads it in
one of its own statements (``version_sql``) and takes the settings from this process's copy at
that version (``as_of``), reading them again only after a change.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

from ledger_app.db.rows import table
from ledger_app.engine import clock
from ledger_app.engine.errors import ValidationFailed
from ledger_app.engine.money import from_db, parse_amount

DOCTYPE = "Ledger Settings"


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
	"""Set fields of Ledger Settings inside the caller's transaction; unknown fields are refused."""
	known = fields()
	unknown = sorted(set(values) - set(known))
	if unknown:
		raise ValidationFailed(f"unknown Ledger Settings field(s): {', '.join(unknown)}")
	for name, value in values.items():
		field = known[name]
		if field["fieldtype"] in ("Currency", "Float", "Percent"):
			value = str(parse_amount(value, name, allow_zero=True))
		elif field["fieldtype"] in ("Int", "Check"):
			try:
				value = str(int(value))
			except (TypeError, ValueError):
				raise ValidationFailed(f"{name} must be an integer, got {value!r}") from None
		elif value is not None and not isinstance(value, str):
			raise ValidationFailed(f"{name} must be text")
		_store(db, name, value)
	_store(db, "modified", clock.now().isoformat(" ", timespec="microseconds"))  # the new version (``as_of``)
	return get_settings(db)


def _store(db, name: str, value) -> None:
	db.execute(f"DELETE FROM {table('Singles')} WHERE `doctype` = %(dt)s AND `field` = %(f)s", {"dt": DOCTYPE, "f": name})
	db.execute(
		f"INSERT INTO {table('Singles')} (`doctype`, `field`, `value`) VALUES (%(dt)s, %(f)s, %(v)s)",
		{"dt": DOCTYPE, "f": name, "v": value},
	)
