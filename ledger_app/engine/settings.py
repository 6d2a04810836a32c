"""Ledger Settings: a Frappe single, stored in ``tabSingles`` as (doctype, field, value) rows.

Defaults come from the doctype JSON, so the JSON stays the one source of the schema.  Values are
typed by the field's fieldtype (Currency → Decimal, Int/Check → int); Password fields are not read
here (Frappe keeps them encrypted in ``__Auth``; the standalone host takes secrets from its config).
"""

from __future__ import annotations

from functools import lru_cache

from ledger_app.db.rows import table
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
	params, only = {"dt": DOCTYPE}, ""
	if names is not None:
		unknown = [name for name in names if name not in fields()]
		if unknown:
			raise ValueError(f"unknown Ledger Settings field(s): {unknown}")
		params.update({f"f{i}": name for i, name in enumerate(names)})
		only = f" AND `field` IN ({', '.join(f'%(f{i})s' for i in range(len(names)))})"
	stored = {
		row["field"]: row["value"]
		for row in db.sql(f"SELECT `field`, `value` FROM {table('Singles')} WHERE `doctype` = %(dt)s{only}", params)
	}
	return typed_values(stored, fields() if names is None else names)


def typed_values(stored: dict, names) -> dict:
	"""The ``names`` fields typed from their stored text (the field's default where none is stored)."""
	known = fields()
	return {name: _typed(known[name], _stored_or_default(known[name], stored.get(name))) for name in names}


def _stored_or_default(field: dict, raw):
	return field.get("default") if raw is None else raw


def select_values(names, prefix: str = "setting_") -> str:
	"""Select-list items reading the ``names`` fields (one scalar subquery each, on tabSingles' index),
	for a statement that needs them together with other rows in one round trip; read them back with
	``typed_values({name: row[prefix + name]}, names)``."""
	known = fields()
	unknown = [name for name in names if name not in known]
	if unknown:
		raise ValueError(f"unknown Ledger Settings field(s): {unknown}")
	return ", ".join(
		f"(SELECT `value` FROM {table('Singles')} WHERE `doctype` = '{DOCTYPE}' AND `field` = '{name}' LIMIT 1)"
		f" AS `{prefix}{name}`"
		for name in names
	)


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
		db.execute(f"DELETE FROM {table('Singles')} WHERE `doctype` = %(dt)s AND `field` = %(f)s", {"dt": DOCTYPE, "f": name})
		db.execute(
			f"INSERT INTO {table('Singles')} (`doctype`, `field`, `value`) VALUES (%(dt)s, %(f)s, %(v)s)",
			{"dt": DOCTYPE, "f": name, "v": value},
		)
	return get_settings(db)
