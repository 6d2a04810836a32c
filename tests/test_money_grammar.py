"""The one amount grammar (engine/money.py): a table of what is accepted and what is refused, and
that the maximum is checked before any Decimal arithmetic (no input overflows the context)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger_app.engine.errors import InvalidAmount
from ledger_app.engine.money import parse_amount, to_decimal
from tests.support import BAD_AMOUNTS

D = Decimal


def case_id(value) -> str:
	"""A test id in plain ASCII (non-ASCII characters as U+XXXX, so the id can be named on a command line
	and selected again, as benchmarks/mutation does)."""
	return ascii(value)[:30].replace("\\u", "U+").replace("\\", "")


@pytest.mark.parametrize("value, expected", [
	("100", D("100.00")), ("100.5", D("100.50")), ("100.50", D("100.50")), ("-12.30", D("-12.30")),
	("0.01", D("0.01")), ("0", D("0.00")), ("-0", D("0.00")), ("999999999999.99", D("999999999999.99")),
	(100, D("100.00")), (-5, D("-5.00")), (D("10.0"), D("10.00")), (D("7"), D("7.00")),
], ids=case_id)
def test_the_grammar_accepts_decimal_strings_json_integers_and_exact_decimals(value, expected):
	assert parse_amount(value, signed=True, allow_zero=True) == expected


@pytest.mark.parametrize("value, fragment", [
	*BAD_AMOUNTS,
	("", "decimal number"), (" 5", "decimal number"), ("5 ", "decimal number"), ("+5", "decimal number"),
	("0x10", "decimal number"), ("Infinity", "decimal number"), ("1,000", "decimal number"), ("٥", "decimal number"),
	("1000000000000", "maximum"), ("-1000000000000", "maximum"), (10**12, "maximum"), ("1" * 5000, "maximum"),
	("1." + "0" * 5000, "2 decimal"), ("00.5", "zero"), (1.5, "float"), (True, "number"), (None, "required"),
	(D("1E+3"), "decimal number"), (D("NaN"), "finite"), (D("Infinity"), "finite"), (D("1E+30"), "decimal number"),
	(D("5.000"), "2 decimal"), ([1], "decimal number"), ({"a": 1}, "decimal number"),
], ids=case_id)
def test_the_grammar_refuses_everything_else_with_a_clear_message(value, fragment):
	with pytest.raises(InvalidAmount) as refused:
		parse_amount(value, signed=True, allow_zero=True)
	assert fragment in refused.value.message
	assert len(refused.value.message) < 300  # a huge value is not echoed back whole


def test_the_maximum_is_checked_before_any_arithmetic():
	# 10**40 as an int and 10**26 as text used to overflow the decimal context while quantizing
	for value in (10**40, 10**4000, "1" + "0" * 26, "9" * 40 + ".99"):
		with pytest.raises(InvalidAmount, match="maximum"):
			to_decimal(value)


def test_sign_and_zero_rules_apply_after_the_grammar():
	with pytest.raises(InvalidAmount, match="positive"):
		parse_amount("-1")
	with pytest.raises(InvalidAmount, match="zero"):
		parse_amount("0.00")
	assert parse_amount("0.00", allow_zero=True) == D("0.00")
