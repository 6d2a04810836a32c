"""Money values: parsing from the edge and quantizing to the currency's 2 decimal places.

Amounts are ``Decimal`` everywhere.  Every amount from outside goes through one strict grammar
(``to_decimal``): a decimal string ``-?digits[.d[d]]`` in ASCII digits or a JSON integer, with the
maximum checked on the text or the int before any Decimal arithmetic.  A float is refused outright (it
may already have lost a cent); more than 2 decimal places is an error, never a silent rounding.
``round_half_up`` is the one rounding rule for computed amounts (shares, percentages).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from ledger_app.engine.errors import InvalidAmount

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Larger than any sane single movement, well inside decimal(21,9)'s 12 integer digits.
MAX_AMOUNT = Decimal("999999999999.99")
MAX_INTEGER_DIGITS = 12
#: the one grammar of an amount sent as text: ASCII digits, an optional minus, at most 2 decimals,
#: no leading zero (``0.50`` yes, ``05`` no), no exponent, no "+", spaces, "_" or other digits
AMOUNT_GRAMMAR = re.compile(r"-?(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")
#: the same shape with any number of digits, to say what is wrong with text that is not in the grammar
_SHAPE = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
#: how much of a refused value an error message repeats
_SHOWN = 40


def to_decimal(value, field: str = "amount") -> Decimal:
	"""An exact Decimal from the one amount grammar, checked before any arithmetic.

	Accepted: text matching ``AMOUNT_GRAMMAR`` (``"100"``, ``"-12.50"``, ``"0.5"``), a JSON integer
	(Python ``int``) and a ``Decimal`` whose text (``str``) matches the grammar (a JSON number read
	with ``parse_float=Decimal``, or an amount computed by the engine).  Refused: floats, bools,
	``None``, exponents (``"1e3"``), ``"_"``, non-ASCII digits, spaces, ``"+"``, ``"5."`` and ``".5"``,
	leading zeros, more than 2 decimals and more than 12 integer digits.
	"""
	if isinstance(value, bool) or value is None:
		raise InvalidAmount(f"{field} is required and must be a number, got {value!r}")
	if isinstance(value, float):
		raise InvalidAmount(f"{field} must be sent as a decimal string, not a float ({value!r})")
	if isinstance(value, int):
		if abs(value) > MAX_AMOUNT:  # an int compares exactly, whatever its size
			raise InvalidAmount(f"{field} is larger than the maximum {MAX_AMOUNT}")
		return Decimal(value)
	if isinstance(value, Decimal):
		if not value.is_finite():
			raise InvalidAmount(f"{field} must be a finite number, got {value!r}")
		text = str(value)
	elif isinstance(value, str):
		text = value
	else:
		raise InvalidAmount(f"{field} must be a decimal number, got {type(value).__name__}")
	return _from_text(text, value, field)


def _from_text(text: str, value, field: str) -> Decimal:
	if AMOUNT_GRAMMAR.fullmatch(text):
		return Decimal(text)
	shown = repr(value) if len(text) <= _SHOWN else f"{text[:_SHOWN]!r}... ({len(text)} characters)"
	shape = _SHAPE.fullmatch(text)
	if shape is None:
		raise InvalidAmount(f"{field} must be a decimal number like 1250 or -12.50 (ASCII digits, at most 2 decimals),"
			f" got {shown}")
	integer, decimals = shape.groups()
	if decimals is not None and len(decimals) > 2:
		raise InvalidAmount(f"{field} has more than 2 decimal places: {shown}")
	if len(integer) > 1 and integer.startswith("0"):
		raise InvalidAmount(f"{field} must not start with a zero (write 5 or 0.50, not 05): {shown}")
	raise InvalidAmount(f"{field} is larger than the maximum {MAX_AMOUNT}")  # more than 12 integer digits


def parse_amount(value, field: str = "amount", *, signed: bool = False, allow_zero: bool = False) -> Decimal:
	"""An amount from outside (``to_decimal``'s grammar): within bounds, positive unless ``signed``,
	not zero unless ``allow_zero``; returned with exactly 2 places."""
	number = to_decimal(value, field)
	if abs(number) > MAX_AMOUNT:
		raise InvalidAmount(f"{field} {number} is larger than the maximum {MAX_AMOUNT}")
	number = number.quantize(CENT) if number != 0 else ZERO  # "-0" is 0.00
	if number == 0 and not allow_zero:
		raise InvalidAmount(f"{field} must not be zero")
	if number < 0 and not signed:
		raise InvalidAmount(f"{field} must be positive, got {number}")
	return number


def from_db(value) -> Decimal:
	"""A money value read from the database (text, Decimal or int; never float) as 2-place Decimal.

	Columns hold at most 2 places because every write is quantized, so this never rounds a real cent.
	"""
	if value is None:
		return ZERO
	if isinstance(value, float):
		raise TypeError("money read from the database as float; select it through dialect.money()")
	return Decimal(str(value)).quantize(CENT)


def round_half_up(value: Decimal) -> Decimal:
	"""Round a computed amount to the cent, half away from zero."""
	return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_json(value: Decimal) -> str:
	"""Money in JSON is a decimal string with exactly 2 places."""
	return str(value.quantize(CENT))
