"""Parsing request arguments (form fields arrive as strings, JSON bodies as JSON values)."""

from __future__ import annotations

from datetime import datetime

from ledger_app.engine import json_input, text
from ledger_app.engine.errors import ValidationFailed

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def boolean(value, field: str, default: bool = False) -> bool:
	if value is None:
		return default
	if isinstance(value, bool):
		return value
	if isinstance(value, int) and value in (0, 1):
		return bool(value)
	if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
		return value.strip().lower() in _TRUE
	raise ValidationFailed(f"{field} must be true or false, got {value!r}")


def json_list(value, field: str) -> list:
	"""A list given as a JSON value or as a JSON-encoded string (a form field)."""
	if isinstance(value, str):
		value = json_input.loads(value, field)
		text.refuse_unstorable(value, field)
	if not isinstance(value, list):
		raise ValidationFailed(f"{field} must be a list")
	return value


def optional_text(value, field: str, max_length: int = 140, *, multiline: bool = False) -> str | None:
	"""Text or nothing; no control characters (line breaks and tabs only when ``multiline``)."""
	if value is None or value == "":
		return None
	if not isinstance(value, str):
		raise ValidationFailed(f"{field} must be text")
	if len(value) > max_length:
		raise ValidationFailed(f"{field} is longer than {max_length} characters")
	return text.check(value, field, multiline=multiline)


def optional_datetime(value, field: str) -> datetime | None:
	if value is None or value == "":
		return None
	if isinstance(value, str):
		try:
			return datetime.fromisoformat(value.strip().replace("T", " "))
		except ValueError:
			pass
	raise ValidationFailed(f"{field} must be a datetime like 2026-01-31 14:05:00, got {value!r}")
