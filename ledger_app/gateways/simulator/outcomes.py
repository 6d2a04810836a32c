"""Scenario outcomes: what the simulator does with the next B2C request or Transaction Status query
(``/simulator/scenario``), parsed from texts such as ``fail:2001`` or ``delay_callback:3``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# outcome name -> what its ":argument" is (None: no argument)
OUTCOME_ARGS = {
	"success": None, "fail": "code", "timeout": "echo", "no_callback": None, "callback_before_ack": None,
	"http_500": None, "http_500_after_accept": None, "duplicate_callback": "concurrent", "slow": "seconds",
	"delay_callback": "seconds",
}
OUTCOMES = {
	"b2c": tuple(OUTCOME_ARGS),
	"status": ("success", "fail", "timeout", "no_callback", "callback_before_ack", "http_500", "duplicate_callback",
		"slow", "delay_callback"),
}
OUTCOME_SYNTAX = {"fail": "fail:<ResultCode>", "slow": "slow:<seconds>", "delay_callback": "delay_callback:<seconds>",
	"timeout": "timeout[:echo]", "duplicate_callback": "duplicate_callback[:concurrent]"}


@dataclass(frozen=True)
class Outcome:
	name: str
	arg: object = None
	text: str = "success"


SUCCESS = Outcome("success")


def parse_outcome(text, api: str = "b2c") -> Outcome:
	"""``"fail:2001"`` -> ``Outcome("fail", 2001, "fail:2001")``; ValueError with the valid names otherwise."""
	allowed = OUTCOMES[api]
	valid = ", ".join(OUTCOME_SYNTAX.get(name, name) for name in allowed)
	if not isinstance(text, str) or not text.strip():
		raise ValueError(f"{api} outcome must be a non-empty string, got {text!r}; valid outcomes: {valid}")
	name, sep, arg = text.strip().partition(":")
	if name not in allowed:
		raise ValueError(f"unknown {api} outcome {text!r}; valid outcomes: {valid}")
	kind = OUTCOME_ARGS[name]
	if kind is None:
		if sep:
			raise ValueError(f"{api} outcome {name!r} takes no argument, got {text!r}")
		return Outcome(name, None, name)
	if kind == "code":
		if re.fullmatch(r"\d{1,6}", arg):
			code = int(arg)
			if code == 0:
				raise ValueError("fail:0 is success; give a non-zero ResultCode")
			return Outcome(name, code, f"fail:{code}")
		if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", arg):
			return Outcome(name, arg, f"fail:{arg}")
		raise ValueError(f"{text!r}: the ResultCode must be a number or a code such as SFC_IC0003")
	if kind == "seconds":
		try:
			seconds = float(arg)
		except ValueError:
			seconds = -1.0
		if not 0 <= seconds <= 300:
			raise ValueError(f"{text!r}: give {name}:<seconds> with 0 to 300 seconds")
		return Outcome(name, seconds, f"{name}:{arg}")
	if sep and arg != kind or (api == "status" and arg):
		raise ValueError(f"{api} outcome {text!r}: valid forms are {OUTCOME_SYNTAX[name]}" + (
			" (no argument for status)" if api == "status" else ""))
	return Outcome(name, arg or None, text.strip())


