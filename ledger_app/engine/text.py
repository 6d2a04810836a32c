"""Text from outside: names, references, keys and remarks, checked before they reach a database.

Three kinds of character never belong in such a value: NUL (PostgreSQL's ``text`` refuses it),
lone surrogates (``"\\ud800"`` is valid JSON but not UTF-8: MariaDB's utf8mb4 and the drivers refuse
it) and the other control characters (C0, DEL and C1; a line break or tab only in ``multiline`` text
such as remarks).  ``check`` refuses a value holding one with a clear ``ValidationFailed`` (417);
``scrub`` replaces each with U+FFFD for text that must be kept whatever it holds (a payment's optional
fields, a Callback Log row); ``refuse_unstorable`` walks every string (keys too) of a request's
arguments for NUL and lone surrogates, so no door lets them reach a lookup or an insert.
"""

from __future__ import annotations

import re

from ledger_app.engine.errors import ValidationFailed

REPLACEMENT = "\ufffd"
#: C0 controls, DEL, C1 controls and lone surrogates
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: the same, less line feed, carriage return and tab
_FORBIDDEN_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: what no stored string may hold, in any field: NUL and lone surrogates
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def describe(character: str) -> str:
	code = ord(character)
	if code == 0:
		return "NUL (U+0000)"
	if 0xD800 <= code <= 0xDFFF:
		return f"a lone surrogate (U+{code:04X})"
	return f"a control character (U+{code:04X})"


def check(value: str, field: str, *, multiline: bool = False) -> str:
	"""``value`` unchanged, or ``ValidationFailed`` naming the field and the first bad character."""
	found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(value)
	if found is not None:
		raise ValidationFailed(f"{field} contains {describe(found.group())} at position {found.start()}")
	return value


def scrub(value: str, *, multiline: bool = False) -> str:
	"""``value`` with every forbidden character replaced by U+FFFD."""
	return (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).sub(REPLACEMENT, value)


def is_clean(value: str) -> bool:
	return _FORBIDDEN.search(value) is None


def refuse_unstorable(arguments, field: str = "arguments") -> None:
	"""``ValidationFailed`` when any string in ``arguments`` (nested dicts and lists, keys included)
	holds NUL or a lone surrogate.  The nesting is bounded by the caller (``json_input``)."""
	pending = [(field, arguments)]
	while pending:
		path, value = pending.pop()
		if isinstance(value, str):
			found = _UNSTORABLE.search(value)
			if found is not None:
				raise ValidationFailed(f"{path} contains {describe(found.group())} at position {found.start()}")
		elif isinstance(value, dict):
			for key, item in value.items():
				name = key if path == field else f"{path}.{key}"
				if isinstance(key, str):
					pending.append((f"{path} (a key)", key))
				pending.append((str(name), item))
		elif isinstance(value, list | tuple):
			pending.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
