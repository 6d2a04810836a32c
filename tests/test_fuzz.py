"""Fuzzing over real HTTP, on the standalone host and the Frappe site: generated bodies thrown
at every whitelisted method, the gateway callbacks and the staff API alike, enumerated from the
registry the standalone host dispatches from (not a hand-kept list).

Each example sends one generated request to every method: a JSON object made of the methods' own
field names (and Daraja's) with generated values (odd strings with NUL, control characters and lone
surrogates, numbers far past any money limit, loose number forms, wrong types, deep nesting), or raw
bytes; with the right credentials (``Authorization`` for staff, ``?token=`` for callbacks), wrong
ones, or none. Properties: no answer is a 5xx; a request without the right credentials is refused; a
refused request (4xx) changes no account's balance and writes no ledger row; reconciliation is clean
at the end. On every host: the standalone host on each database and the Frappe site. Examples are
bounded (``FUZZ_EXAMPLES`` per host, each one request per method) and derandomized when ``CI`` is
true, so CI runs the same requests every time.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import pkgutil
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import ledger_app.api
from ledger_app.host import standalone_host
from tests.conftest import in_ci
from tests.support import AUTH, CALLBACK_TOKEN, call

# examples per host (each one request to every method): about 60 s for the module on a 2-core machine
FUZZ_EXAMPLES = {"sqlite": 25, "mariadb": 12, "postgres": 12, "frappe": 20}
SETTINGS_JSON = Path(ledger_app.api.__file__).parent.parent / "ledger/doctype/ledger_settings/ledger_settings.json"
# Daraja's callback fields (C2B, B2C result and timeout, Transaction Status): docs in README, "Gateway callbacks"
DARAJA_FIELDS = ("TransactionType", "TransID", "TransTime", "TransAmount", "BusinessShortCode", "BillRefNumber",
	"InvoiceNumber", "OrgAccountBalance", "ThirdPartyTransID", "MSISDN", "FirstName", "MiddleName", "LastName",
	"Result", "ResultType", "ResultCode", "ResultDesc", "OriginatorConversationID", "ConversationID", "TransactionID",
	"ResultParameters", "ResultParameter", "Key", "Value", "TransactionAmount", "TransactionReceipt")
# settings a fuzzed staff call may not change: the callback token (later callbacks would all be
# refused, proving nothing) and the gateway (payouts would go out to a made-up URL)
KEPT_SETTINGS = {"callback_token", "daraja_base_url", "daraja_consumer_key", "daraja_consumer_secret",
	"daraja_shortcode", "daraja_initiator", "daraja_security_credential"}
# names that exist after set-up, so that some generated requests are nearly right
KNOWN_VALUES = ("Fuzz Cash", "Fuzz Sales", "FD1", "FV1", "FK001", "Fleet Driver", "QFUZZ1", "2026-03-01",
	"20260301101500", "600000", "100.00", "-100.00", "0.01", "1")


def registry() -> dict[str, standalone_host.Whitelisted]:
	"""Every whitelisted method of ``ledger_app.api``, by its dotted path."""
	for module in pkgutil.iter_modules(ledger_app.api.__path__):
		importlib.import_module(f"ledger_app.api.{module.name}")
	return {path: entry for path, entry in sorted(standalone_host.REGISTRY.items()) if path.startswith("ledger_app.api.")}


METHODS = registry()


def field_names() -> list[str]:
	"""The arguments of every method, Ledger Settings' fields and Daraja's callback fields."""
	names = {name for entry in METHODS.values() for name, parameter in inspect.signature(entry.function).parameters.items()
		if parameter.kind is not inspect.Parameter.VAR_KEYWORD}
	settings_fields = {field["fieldname"] for field in json.loads(SETTINGS_JSON.read_text())["fields"]
		if "fieldname" in field and "Break" not in field.get("fieldtype", "")}
	return sorted(names | (settings_fields - KEPT_SETTINGS) | set(DARAJA_FIELDS))


FIELDS = field_names()


# --- generated values, as JSON text (so nesting can be deeper than json.dumps would go) ----------

def _text(value) -> str:
	return json.dumps(value)  # ensure_ascii: a lone surrogate goes out as its \\ud800 escape


# strings each known to have broken some parser: NUL, lone surrogates, control characters, loose
# number forms (exponents, underscores, other scripts' digits, spaces, a bare point), huge amounts
NASTY_STRINGS = ["\x00", "K\x00001", "\ud800", "a\udfffb", "\udc00\ud800", " ", "", "\t\n", "\x1b[0m", "1e3", "1_000",
	"\u0661\u0660\u0660", "\uff11\uff10\uff10", " +5 ", "5.", ".5", "1e30", "1E+26", "-1e-30", "-0", "0.001", "NaN", "Infinity",
	"1" * 40, "9" * 27 + ".99", "x" * 5000, "a." * 300]
odd_strings = st.one_of(
	st.text(max_size=40),
	st.text(st.characters(codec=None, categories=("Cc", "Cs", "Zs", "Nd", "Mn", "Co")), max_size=20),
	st.sampled_from(NASTY_STRINGS),
	st.sampled_from(KNOWN_VALUES),
)
numbers = st.one_of(
	st.integers(min_value=-(10**40), max_value=10**40),
	st.floats(allow_nan=False, allow_infinity=False),
	st.sampled_from([10**26, -(10**26), 10**100, 0, -1, 1]),
)
scalars = st.one_of(odd_strings.map(_text), numbers.map(_text), st.sampled_from(["true", "false", "null"]),
	st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]))  # what Python's json (and Frappe's) still reads
nasty = st.one_of(st.sampled_from(NASTY_STRINGS).map(_text),
	st.sampled_from([10**26, -(10**26), 10**40, 2**63, 1e300, 0.1, True, [], {}, None]).map(_text))


def _nested(depth_and_leaf) -> str:
	depth, leaf = depth_and_leaf
	return "[" * depth + leaf + "]" * depth


values = st.recursive(
	scalars,
	lambda children: st.one_of(
		st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
		st.dictionaries(st.sampled_from(FIELDS).map(_text), children, max_size=3).map(
			lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs.items()) + "}"),
	),
	max_leaves=6,
) | st.tuples(st.integers(min_value=50, max_value=20_000), scalars).map(_nested)

json_objects = st.dictionaries(st.sampled_from(FIELDS).map(_text), values, max_size=8).map(
	lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs.items()) + "}")


# --- nearly right requests: a valid body per method with one or two of its fields replaced ---------

_unique = itertools.count()
_RESULT = {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": "fuzz-ocid",
	"ConversationID": "fuzz-conv", "TransactionID": "QFZ1", "ResultParameters": {"ResultParameter": [
		{"Key": "TransactionAmount", "Value": 10}, {"Key": "TransactionReceipt", "Value": "QFZ1"}]}}
# by the method's own name (both callback paths share one); a method not here is fuzzed with generic bodies
TEMPLATES = {
	"create_account": lambda n: {"account": f"Fuzz Account {n}", "root_type": "Asset"},
	"post_journal": lambda n: {"idempotency_key": f"fuzz-j{n}", "postings": [{"account": "Fuzz Cash", "amount": "1.00"},
		{"account": "Fuzz Sales", "amount": "-1.00"}]},
	"reverse_transaction": lambda n: {"transaction": "fuzz-missing", "idempotency_key": f"fuzz-r{n}"},
	"get_balance": lambda n: {"account": "Fuzz Cash", "as_of": "2026-03-01"},
	"reconcile": lambda n: {"fix": False, "account": "Fuzz Cash"},
	"upsert_driver": lambda n: {"driver": f"FD{n}", "driver_name": "Fuzz Driver", "phone": "0712345678", "daily_target": "1000",
		"fare_pct": "50", "target_sharing": "Follow Global", "instant_payout": "Disable", "status": "Active"},
	"upsert_vehicle": lambda n: {"vehicle": f"FV{n}", "account_number": f"FK{n}", "driver": "FD1"},
	"get_driver_balances": lambda n: {"driver": "FD1"},
	"run_daily_targets": lambda n: {"date": "2026-03-01"},
	"assign_unmatched": lambda n: {"unmatched_payment": "fuzz-missing", "driver": "FD1"},
	"request_unmatched_refund": lambda n: {"unmatched_payment": "fuzz-missing"},
	"list_unmatched": lambda n: {"status": "Open"},
	"record_missed_payment": lambda n: {"trans_id": f"QMFZ{n}", "amount": "10.00", "bill_ref_number": "FK001",
		"trans_time": "20260301101500", "msisdn": "254700000000"},
	"update_settings": lambda n: {"global_fare_pct": "50", "minimum_payout": "1000"},
	"request_payout": lambda n: {"party_type": "Fleet Driver", "party": "FD1", "amount": "1", "idempotency_key": f"fuzz-p{n}"},
	"get_payout": lambda n: {"payout": "fuzz-missing"},
	"list_payouts": lambda n: {"party": "FD1", "status": "Queued"},
	"retry_payout": lambda n: {"payout": "fuzz-missing", "idempotency_key": f"fuzz-rp{n}"},
	"upsert_client": lambda n: {"client": f"FC{n}", "client_name": "Fuzz Client", "phone": "0712345678"},
	"upsert_client_exchange": lambda n: {"client_exchange": f"FX{n}", "client": "FC1", "exchange": "Fuzz Exchange",
		"my_share_pct": "10", "company_share_pct": "20"},
	"fund": lambda n: {"client_exchange": "FX1", "amount": "10.00", "idempotency_key": f"fuzz-f{n}"},
	"record_balance": lambda n: {"client_exchange": "FX1", "date": "2026-03-01", "remaining_balance": "1000.00",
		"idempotency_key": f"fuzz-b{n}"},
	"settle": lambda n: {"client_exchange": "FX1", "amount": "1.00", "idempotency_key": f"fuzz-s{n}"},
	"get_position": lambda n: {"client_exchange": "FX1"},
	"c2b_validation": lambda n: _c2b(n),
	"c2b_confirmation": lambda n: _c2b(n),
	"b2c_result": lambda n: {"Result": dict(_RESULT)},
	"b2c_timeout": lambda n: {"Result": dict(_RESULT)},
	"transaction_status_result": lambda n: {"Result": dict(_RESULT)},
	"transaction_status_timeout": lambda n: {"Result": dict(_RESULT)},
}


def _c2b(n) -> dict:
	return {"TransactionType": "Pay Bill", "TransID": f"QFZ{n}", "TransTime": "20260301101500", "TransAmount": "100.00",
		"BusinessShortCode": "600000", "BillRefNumber": "FK001", "InvoiceNumber": "", "OrgAccountBalance": "",
		"ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "JOHN", "MiddleName": "", "LastName": ""}


class Raw(str):
	"""JSON text to put in a body as it is."""


def _encode(value) -> str:
	if isinstance(value, Raw):
		return value
	if isinstance(value, dict):
		return "{" + ",".join(f"{_text(k)}:{_encode(v)}" for k, v in value.items()) + "}"
	if isinstance(value, list):
		return "[" + ",".join(_encode(v) for v in value) + "]"
	return _text(value)


@st.composite
def nearly_right(draw, path: str) -> bytes:
	"""The method's valid body with one to three fields (or a callback Result's fields) replaced or
	dropped, or one unknown field added."""
	body = TEMPLATES[path.rsplit(".", 1)[1]](next(_unique))
	for _ in range(draw(st.integers(min_value=1, max_value=3))):
		target = body["Result"] if isinstance(body.get("Result"), dict) and draw(st.booleans()) else body
		key = draw(st.sampled_from(sorted(target)) if target and draw(st.integers(0, 4)) else st.sampled_from(FIELDS))
		if draw(st.integers(0, 5)):
			target[key] = Raw(draw(st.one_of(nasty, nasty, values)))
		else:
			target.pop(key, None)
	return _encode(body).encode()


def bodies(path: str):
	"""What is sent to ``path``: mostly nearly right bodies, also any object of known fields, any JSON
	value, any bytes."""
	generic = st.one_of(json_objects.map(str.encode), values.map(str.encode), st.binary(max_size=300))
	if path.rsplit(".", 1)[1] in TEMPLATES:
		return st.one_of(nearly_right(path), nearly_right(path), generic)
	return generic


credentials = st.sampled_from(["right", "wrong", "none"])


# --- the hosts, and what a request may change ------------------------------------------------------

def _set_up(base: str) -> None:
	"""Two accounts with a journal between them, a driver with a vehicle, a funded client exchange:
	something a request could move."""
	for account, root in (("Fuzz Cash", "Asset"), ("Fuzz Sales", "Income")):
		assert call(base, "ledger_app.api.ledger.create_account", {"account": account, "root_type": root}).status_code == 200
	assert call(base, "ledger_app.api.ledger.post_journal", {"idempotency_key": "fuzz-1",
		"postings": [{"account": "Fuzz Cash", "amount": "100.00"}, {"account": "Fuzz Sales", "amount": "-100.00"}]}).status_code == 200
	assert call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "FD1", "driver_name": "Fuzz Driver",
		"phone": "0712345678"}).status_code == 200
	assert call(base, "ledger_app.api.drivers.upsert_vehicle", {"vehicle": "FV1", "account_number": "FK001",
		"driver": "FD1"}).status_code == 200
	assert call(base, "ledger_app.api.clients.upsert_client", {"client": "FC1", "client_name": "Fuzz Client",
		"phone": "0712345678"}).status_code == 200
	assert call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "FX1", "client": "FC1",
		"exchange": "Fuzz Exchange", "my_share_pct": "10", "company_share_pct": "20"}).status_code == 200
	assert call(base, "ledger_app.api.clients.fund", {"client_exchange": "FX1", "amount": "1000.00",
		"idempotency_key": "fuzz-fund"}).status_code == 200


def money(pool) -> tuple:
	"""Every account's balance and the number of ledger rows."""
	with pool.connection() as db:
		balances = {row["name"]: str(row["balance"]) for row in db.sql("SELECT `name`, `balance` FROM `tabLedger Account`")}
		rows = db.sql("SELECT COUNT(*) AS n FROM `tabLedger Posting`")[0]["n"]
	return balances, int(rows)


def send(base: str, path: str, entry, body: bytes, credential: str) -> requests.Response:
	"""POST ``body`` to ``path`` with the credential a caller of that kind uses: right, wrong or none."""
	headers, params = {"Content-Type": "application/json"}, {}
	if entry.allow_guest:
		if credential != "none":
			params["token"] = CALLBACK_TOKEN if credential == "right" else CALLBACK_TOKEN + "-wrong"
	elif credential == "right":
		headers.update(AUTH)
	elif credential == "wrong":
		headers["Authorization"] = AUTH["Authorization"] + "-wrong"
	return requests.post(f"{base}/api/method/{path}", data=body, params=params, headers=headers, timeout=60)


def reproduce(path: str, credential: str, body: bytes, response: requests.Response) -> str:
	return (f"POST /api/method/{path} ({credential} credentials) body {body[:300]!r}{'...' if len(body) > 300 else ''}"
		f" -> {response.status_code} {response.text[:300]!r}")


def test_the_fuzzing_covers_every_whitelisted_method_with_nearly_right_bodies():
	"""The registry holds the gateway callbacks and the staff API, and each of its methods has a
	valid body to start from (a method added without one fails here)."""
	guests = {path.rsplit(".", 1)[1] for path, entry in METHODS.items() if entry.allow_guest}
	assert {"c2b_validation", "c2b_confirmation", "b2c_result", "b2c_timeout", "transaction_status_result",
		"transaction_status_timeout"} <= guests
	assert {"ledger_app.api.ledger.post_journal", "ledger_app.api.settings.update_settings",
		"ledger_app.api.clients.settle"} <= set(METHODS)
	assert {path.rsplit(".", 1)[1] for path in METHODS} == set(TEMPLATES)


def test_fuzzed_requests_never_answer_5xx_and_refused_ones_move_no_money(served, host_kind):
	base, pool = served(callback_token=CALLBACK_TOKEN)  # the Frappe site has it already (tests/frappe_site.py)
	_set_up(base)

	# no shrinking: the failing request is in the message as it was sent, and shrinking over HTTP would
	# cost minutes; in CI the same examples every run and nothing remembered between runs
	@settings(max_examples=FUZZ_EXAMPLES[host_kind], deadline=None, derandomize=in_ci(), database=None if in_ci() else settings().database,
		phases=(Phase.explicit, Phase.reuse, Phase.generate), suppress_health_check=list(HealthCheck))
	@given(data=st.data())
	def fuzz(data):
		for path, entry in METHODS.items():
			body, credential = data.draw(bodies(path), label=path), data.draw(credentials, label=f"{path} credentials")
			before = money(pool)
			response = send(base, path, entry, body, credential)
			seen = reproduce(path, credential, body, response)
			assert response.status_code < 500, seen
			if credential != "right":
				assert 400 <= response.status_code < 500, f"accepted without the right credentials: {seen}"
			if 400 <= response.status_code < 500:
				assert money(pool) == before, f"a refused request moved money: {seen}"

	fuzz()
	check = call(base, "ledger_app.api.ledger.reconcile", {})
	assert check.status_code == 200, check.text
	assert check.json()["message"]["discrepancies"] == 0, check.text


# what the fuzzing found beyond the known list: a name or filter of another JSON type reached the SQL
# driver (500 on every host) or, for a vehicle's driver, silently cleared it
WRONG_TYPES = (
	("ledger_app.api.drivers.list_unmatched", {"status": ["Open"]}),
	("ledger_app.api.drivers.list_unmatched", {"status": 10**26}),
	("ledger_app.api.payouts.list_payouts", {"status": [""]}),
	("ledger_app.api.payouts.list_payouts", {"party": ["FD1"]}),
	("ledger_app.api.drivers.request_unmatched_refund", {"unmatched_payment": [1]}),
	("ledger_app.api.drivers.request_unmatched_refund", {"unmatched_payment": {"name": "x"}}),
	("ledger_app.api.payouts.request_payout", {"party_type": "Fleet Driver", "party": {}, "amount": "1",
		"idempotency_key": "fuzz-wrong-type"}),
	("ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "FX2", "client": ["FC1"],
		"exchange": "Fuzz Exchange", "my_share_pct": "10", "company_share_pct": "20"}),
	("ledger_app.api.drivers.upsert_vehicle", {"vehicle": "FV1", "account_number": "FK001", "driver": ["FD1"]}),
)


def test_a_name_or_filter_of_another_json_type_is_refused_with_417_and_changes_nothing(served):
	base, pool = served(callback_token=CALLBACK_TOKEN)
	_set_up(base)
	before = money(pool)
	for path, body in WRONG_TYPES:
		answer = call(base, path, body)
		assert answer.status_code == 417, f"{path} {body!r} -> {answer.status_code} {answer.text[:300]}"
	assert money(pool) == before
	with pool.connection() as db:
		assert db.sql("SELECT `driver` FROM `tabFleet Vehicle` WHERE `name` = 'FV1'")[0]["driver"] == "FD1"
		assert not db.sql("SELECT `name` FROM `tabClient Exchange` WHERE `name` = 'FX2'")
