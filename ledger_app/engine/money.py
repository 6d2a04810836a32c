"""Money values: parsing from the edge and quantizing to the currency's 2 decimal places.

Amounts are ``Decimal`` everywhere.  A float is refused outright (it may already have lost a cent);
strings, ints and Decimals are accepted, and more than 2 decimal places is an error, never a silent
rounding.  ``round_half_up`` is the one rounding rule for computed amounts (shares, percentages).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ledger_app.engine.errors import InvalidAmount

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Larger than any sane single movement, well inside decimal(21,9)'s 12 integer digits.
MAX_AMOUNT = Decimal("999999999999.99")


def to_decimal(value, field: str = "amount") -> Decimal:
	"""Parse ``value`` into an exact Decimal; floats, bools, NaN and infinities are refused."""
	if isinstance(value, bool) or value is None:
		raise InvalidAmount(f"{field} is required and must be a number, got {value!r}")
	if isinstance(value, float):
		raise InvalidAmount(f"{field} must be sent as a decimal string, not a float ({value!r})")
	if isinstance(value, Decimal):
		number = value
	elif isinstance(value, int):
		number = Decimal(value)
	elif isinstance(value, str):
		text = value.strip()
		if not text or len(text) > 40:
			raise InvalidAmount(f"{field} must be a decimal number, got {value!r}")
		try:
			number = Decimal(text)
		except InvalidOperation:
			raise InvalidAmount(f"{field} must be a decimal number, got {value!r}") from None
	else:
		raise InvalidAmount(f"{field} must be a decimal number, got {type(value).__name__}")
	if not number.is_finite():
		raise InvalidAmount(f"{field} must be a finite number, got {value!r}")
	return number


def parse_amount(value, field: str = "amount", *, signed: bool = False, allow_zero: bool = False) -> Decimal:
	"""An amount from outside: at most 2 decimals, within bounds, positive unless ``signed``."""
	number = to_decimal(value, field)
	if number != number.quantize(CENT, rounding=ROUND_HALF_UP):
		raise InvalidAmount(f"{field} has more than 2 decimal places: {value!r}")
	number = number.quantize(CENT)
	if abs(number) > MAX_AMOUNT:
		raise InvalidAmount(f"{field} {number} is larger than the maximum {MAX_AMOUNT}")
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
