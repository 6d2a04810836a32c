"""A JSON document from outside (a request body, a form field holding JSON), bounded before parsing.

Python's JSON parser recurses once per nesting level: a body of 10,000 ``[`` (20 KB) makes it raise
``RecursionError`` (a 500 on either host).  ``loads`` counts the nesting first, in one pass over the
brackets outside strings, and refuses a document nested deeper than ``MAX_DEPTH`` levels with a clear
``ValidationFailed`` (417; a gateway callback answers it 400 in Daraja's JSON) before parsing it.
No request of this app nests deeper than 6 levels (a B2C result:
``Result.ResultParameters.ResultParameter[].Value``).
"""

from __future__ import annotations

import json
import re

from ledger_app.engine.errors import ValidationFailed

MAX_DEPTH = 32
#: the largest body either host parses (a Daraja callback is a few KB; the standalone door answers 413
#: above it, and a callback on a bench is refused 413 with its log row before its JSON is scanned)
MAX_BYTES = 1024 * 1024
NOT_JSON = "request body is not valid JSON"
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
	"""Whether ``text`` opens more than ``limit`` arrays/objects inside each other (brackets inside
	strings do not count).  Linear in the length; no scan at all when there are few brackets."""
	if text.count("[") + text.count("{") <= limit:
		return False
	depth, in_string, escaped_at = 0, False, -1
	for match in _STRUCTURE.finditer(text):
		at = match.start()
		if at == escaped_at:
			continue
		char = text[at]
		if in_string:
			if char == "\\":
				escaped_at = at + 1
			elif char == '"':
				in_string = False
		elif char == '"':
			in_string = True
		elif char in "[{":
			depth += 1
			if depth > limit:
				return True
		elif char in "]}":
			depth -= 1
	return False


def loads(data, what: str = "request body", *, parse_float=None):
	"""The JSON value of ``data`` (bytes or text), or ``ValidationFailed`` when it is not valid UTF-8
	JSON or nests deeper than ``MAX_DEPTH``; ``parse_float=Decimal`` keeps a number's exact literal."""
	if isinstance(data, bytes | bytearray):
		try:
			data = bytes(data).decode("utf-8")
		except UnicodeDecodeError:
			raise ValidationFailed(f"{what} is not valid JSON (not UTF-8)") from None
	if too_deep(data):
		raise ValidationFailed(f"{what} is nested deeper than {MAX_DEPTH} levels")
	try:
		return json.loads(data, parse_float=parse_float)
	except (ValueError, RecursionError):  # ValueError: bad JSON, or an integer of more than 4,300 digits
		raise ValidationFailed(f"{what} is not valid JSON") from None


def check_nesting(value, what: str = "arguments", limit: int = MAX_DEPTH) -> None:
	"""``ValidationFailed`` when an already parsed value (a host parsed the body itself) nests lists
	and dicts deeper than ``limit``; walked without recursion."""
	pending = [(value, 0)]
	while pending:
		item, depth = pending.pop()
		if isinstance(item, dict | list | tuple):
			if depth >= limit:
				raise ValidationFailed(f"{what} are nested deeper than {limit} levels")
			pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
