# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

"""What the doctype controllers share about the engine: its errors shown as Frappe's own, and the
fields of a document that only the engine writes.  No side effects on import; ``frappe`` is looked
up when called, like the controllers' own engine imports."""

from contextlib import contextmanager

from ledger_app.engine.errors import LedgerError


@contextmanager
def engine_errors():
	"""A ``LedgerError`` raised inside becomes the Frappe exception of the same kind (so the same HTTP
	status and desk message)."""
	import frappe

	try:
		yield
	except LedgerError as exc:
		frappe.throw(exc.message, exc=getattr(frappe, exc.frappe_exc, frappe.ValidationError))


def keep_engine_fields(doc, engine_fields: dict) -> None:
	"""Fields the engine writes are never set from a form: a new document starts with their defaults,
	an existing one keeps the values of its row as locked by this save (``load_doc_before_save``
	reads it ``FOR UPDATE``), even when the form was loaded before the engine moved them."""
	import frappe

	if doc.is_new():
		saved = engine_fields
	else:
		saved = doc.get_doc_before_save() or frappe.db.get_value(
			doc.doctype, doc.name, list(engine_fields), as_dict=True, for_update=True
		)
	for fieldname, default in engine_fields.items():
		doc.set(fieldname, saved.get(fieldname) if saved is not None else default)


def form_value(value):
	"""A form value as the engine takes it: Frappe holds Currency and Percent fields as floats, which
	the engine refuses (a float may have lost a cent), so a float is read from its shortest decimal
	form (``40.5`` -> ``Decimal("40.5")``); anything else is passed as it is."""
	from decimal import Decimal

	if isinstance(value, float):
		return Decimal(repr(value)) if value - value == 0 else repr(value)  # nan / inf: refused as text
	return value


def engine_checked(doc, check, fields: dict[str, str], *, blanks: bool = False) -> dict:
	"""Run the engine's ``check`` (e.g. ``drivers.validate_driver``) on the document's ``fields``
	(engine name -> fieldname) and set the normalized text back on the document (numbers stay as
	Frappe holds them).  Blank fields are left out unless ``blanks`` (Frappe's mandatory check
	reports a missing required one right after); an engine error becomes Frappe's."""
	values = {name: form_value(doc.get(fieldname)) for name, fieldname in fields.items()}
	if not blanks:
		values = {name: value for name, value in values.items() if value not in (None, "")}
	with engine_errors():
		clean = check(values)
	for name, value in clean.items():
		if value is None or isinstance(value, str):
			doc.set(fields[name], value)
	return clean
