"""Text from outside: names, references, keys and remarks, checked before they reach a database.

Three kinds of character never belong in such a value: NUL (PostgreSQL's ``text`` refuses it),
lone surrogates (``"\\ud800"`` is valid JSON but not UTF-8: MariaDB's utf8mb4 and the drivers refuse
it) and the other control characters (C0, DEL and C1; a line break or tab only in ``multiline`` text
such as remarks).  ``check`` refuses a value holding one with a clear ``ValidationFailed`` (417);
``scrub`` replaces each with U+FFFD for text that must be kept whatever it holds (a payment's optional
fields, a Callback Log row); ``refuse_unstorable`` walks every string (keys too) of a request's
arguments for NUL and lone surrogates, so no door lets them reach a lookup or an insert.

Ids, names of accounts and idempotency keys are compared byte for byte on every database (README
"Keys and names are exact"), so two that look the same must be the same bytes.  ``identifier``
takes them in Unicode's composed form (NFC) and refuses what would let two different values look
alike: invisible characters (format characters such as the zero-width space, spaces other than
U+0020, private-use and unassigned code points), compatibility forms (fullwidth letters,
ligatures: whatever NFKC would change) and letters of more than one script.
"""

from __future__ import annotations

import re
import unicodedata

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


#: scripts that are written together, counted as one (Japanese mixes Han, Hiragana and Katakana)
_SCRIPT_FAMILIES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK", "HANGUL": "CJK"}


def _script(letter: str) -> str:
	"""The script of a letter, from the first word of its Unicode name (LATIN, CYRILLIC, GREEK...)."""
	word = unicodedata.name(letter, "UNKNOWN").split(" ")[0]
	return _SCRIPT_FAMILIES.get(word, word)


#: default-ignorable characters outside the format category: the combining grapheme joiner, Hangul
#: fillers, and the variation selectors (Mongolian, U+FE00..FE0F, U+E0100..E01EF)
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")


def _invisible(character: str) -> bool:
	category = unicodedata.category(character)
	return (
		category in ("Cf", "Co", "Cn", "Zl", "Zp")
		or (category == "Zs" and character != " ")
		or _IGNORABLE.match(character) is not None
	)


def identifier(value, field: str, max_length: int = 140) -> str:
	"""An id, account name or key: trimmed, in NFC, 1..``max_length`` characters, without control,
	invisible or compatibility characters and without letters of two scripts; else ``ValidationFailed``."""
	if not isinstance(value, str) or not value.strip():
		raise ValidationFailed(f"{field} is required")
	name = unicodedata.normalize("NFC", check(value, field).strip())
	if len(name) > max_length:
		raise ValidationFailed(f"{field} is longer than {max_length} characters")
	for position, character in enumerate(name):
		if _invisible(character):
			raise ValidationFailed(
				f"{field} contains an invisible character (U+{ord(character):04X}) at position {position}")
	if unicodedata.normalize("NFKC", name) != name:
		raise ValidationFailed(
			f"{field} contains a compatibility character (fullwidth, ligature or similar); type it plainly")
	scripts = sorted({_script(c) for c in name if unicodedata.category(c).startswith("L")})
	if len(scripts) > 1:
		raise ValidationFailed(f"{field} mixes letters of several scripts ({', '.join(scripts)})")
	return name
