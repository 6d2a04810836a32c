"""Issue 11's rows 4, 5, 7, 8, 9, 11 and 12 over real HTTP on both hosts (the standalone host on each
backend and the Frappe site): one strict amount grammar, text a database cannot store refused (or, in
a payment that has already moved, kept with U+FFFD), nesting and method paths bounded before parsing,
the callback token never stored.  Every refusal is a clear 4xx that writes nothing but its log row."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from ledger_app.engine import drivers, posting
from tests.support import (
	AUTH, BAD_AMOUNTS, CALLBACK_TOKEN, LONE_SURROGATE, NUL, call, callback_logs, count, deeply_nested, error_text,
	long_method_path,
)
from tests.test_c2b_http import CONFIRMATION, VALIDATION, body, post, setup_fleet

D = Decimal


@pytest.fixture
def server(served):
	base, pool = served(callback_token=CALLBACK_TOKEN)
	setup_fleet(pool)
	for client, exchange in (("C1", "C1-BIN"),):
		assert call(base, "ledger_app.api.clients.upsert_client", {"client": client, "client_name": "Wanjiku",
			"phone": "0722000001"}).status_code == 200
		assert call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": exchange, "client": client,
			"exchange": "Binance", "my_share_pct": "10", "company_share_pct": "10"}).status_code == 200
	assert call(base, "ledger_app.api.ledger.create_account", {"account": "Cash", "root_type": "Asset"}).status_code == 200
	assert call(base, "ledger_app.api.ledger.create_account", {"account": "Sales", "root_type": "Income"}).status_code == 200
	return base, pool


def _written(pool) -> tuple:
	with pool.connection() as db:
		return tuple(count(db, doctype) for doctype in ("Ledger Transaction", "Payout", "Unmatched Payment", "Fleet Driver",
			"Fleet Vehicle", "Ledger Account"))


def _settings(pool) -> list:
	with pool.connection() as db:
		return db.sql("SELECT `field`, `value` FROM `tabSingles` WHERE `doctype` = 'Ledger Settings' AND `field` <> 'modified'"
			" ORDER BY `field`")


def _money_calls(amount) -> list[tuple[str, dict]]:
	return [
		("ledger_app.api.ledger.post_journal", {"idempotency_key": "j1", "postings": [
			{"account": "Cash", "amount": amount}, {"account": "Sales", "amount": "-5.00"}]}),
		("ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": amount, "idempotency_key": "f1"}),
		("ledger_app.api.clients.settle", {"client_exchange": "C1-BIN", "amount": amount, "idempotency_key": "s1"}),
		("ledger_app.api.payouts.request_payout", {"party_type": "Fleet Driver", "party": "D1", "amount": amount,
			"idempotency_key": "p1"}),
		("ledger_app.api.drivers.record_missed_payment", {"trans_id": "QMISS1", "amount": amount, "bill_ref_number": "K001"}),
		("ledger_app.api.drivers.upsert_driver", {"driver": "D9", "driver_name": "Neema", "phone": "0712000009",
			"daily_target": amount}),
		("ledger_app.api.settings.update_settings", {"global_daily_target": amount}),
		("ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-X", "client": "C1", "exchange": "X",
			"my_share_pct": amount, "company_share_pct": "1"}),
	]


def test_amounts_outside_the_grammar_get_417_from_every_money_method_and_write_nothing(server):
	"""Rows 5 and 12: "1e3", "1_000", Arabic-Indic and full-width digits, " +5 ", "5.", ".5" were
	taken as numbers, and 10^26 or more ("1e30", the JSON integer 10**40) was a 500."""
	base, pool = server
	before, settings_before = _written(pool), _settings(pool)
	for amount, fragment in BAD_AMOUNTS:
		for method, payload in _money_calls(amount):
			response = call(base, method, payload)
			assert response.status_code == 417, (method, amount, response.status_code, response.text[:300])
			assert fragment in error_text(response), (method, amount, error_text(response)[:300])
	assert _written(pool) == before and _settings(pool) == settings_before


@pytest.mark.parametrize("amount, fragment", BAD_AMOUNTS, ids=lambda v: repr(v)[:20])
def test_a_c2b_amount_outside_dararas_shapes_is_refused_400_in_dararas_json(server, amount, fragment):
	base, pool = server
	before = _written(pool)
	response = post(base, CONFIRMATION, body("QAMT1", amount))
	assert response.status_code == 400, response.text
	assert response.json()["ResultCode"] == 1 and fragment in response.json()["ResultDesc"]
	validation = post(base, VALIDATION, body("QAMT1", amount))
	assert validation.json() == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
	assert _written(pool) == before
	assert [row["status"] for row in callback_logs(pool)] == ["Rejected", "Rejected"]


def test_dararas_own_amount_shapes_are_recorded_exactly(server):
	"""TransAmount as Daraja sends it ("10", "10.00") and as a JSON number (10, 10.0, read exactly)."""
	base, pool = server
	raw = [b'"10"', b'"10.00"', b"10", b"10.0", b"10.5"]
	for i, literal in enumerate(raw):
		text = json.dumps(body(f"QSHAPE{i}", "AMOUNT")).replace('"AMOUNT"', literal.decode())
		response = post(base, CONFIRMATION, data=text.encode())
		assert response.json() == {"ResultCode": 0, "ResultDesc": "Success"}, (literal, response.text)
	with pool.connection() as db:
		assert posting.balance(db, drivers.PAYBILL_ACCOUNT) == D("50.50")


@pytest.mark.parametrize("method, payload", [
	("ledger_app.api.ledger.create_account", {"account": f"Cash{LONE_SURROGATE}", "root_type": "Asset"}),
	("ledger_app.api.ledger.create_account", {"account": f"Cash{NUL}2", "root_type": "Asset"}),
	("ledger_app.api.ledger.create_account", {"account": "Cash\u00852", "root_type": "Asset"}),
	("ledger_app.api.drivers.upsert_driver", {"driver": "D8", "driver_name": f"Amina{LONE_SURROGATE}", "phone": "0712000008"}),
	("ledger_app.api.drivers.upsert_driver", {"driver": "D8", "driver_name": "Amina\x1b[31m", "phone": "0712000008"}),
	("ledger_app.api.drivers.upsert_driver", {"driver": "D8", "driver_name": "Amina", "phone": "0712\u0660\u06600008"}),
	("ledger_app.api.drivers.upsert_vehicle", {"vehicle": "KTA 009", "account_number": f"K0{NUL}09"}),
	("ledger_app.api.drivers.upsert_vehicle", {"vehicle": "KTA 009", "account_number": f"K0{LONE_SURROGATE}09"}),
	("ledger_app.api.drivers.upsert_vehicle", {"vehicle": "KTA 001", "account_number": "K0\n01"}),
	("ledger_app.api.drivers.get_driver_balances", {"driver": f"D1{LONE_SURROGATE}"}),
	("ledger_app.api.payouts.get_payout", {"payout": f"P{NUL}"}),
	("ledger_app.api.clients.upsert_client", {"client": "C5", "client_name": f"W{LONE_SURROGATE}", "phone": "0722000005"}),
	("ledger_app.api.ledger.post_journal", {"idempotency_key": f"k{LONE_SURROGATE}", "postings": [
		{"account": "Cash", "amount": "1.00"}, {"account": "Sales", "amount": "-1.00"}]}),
	("ledger_app.api.ledger.post_journal", {"idempotency_key": "k2", "remarks": f"a{NUL}b", "postings": [
		{"account": "Cash", "amount": "1.00"}, {"account": "Sales", "amount": "-1.00"}]}),
	("ledger_app.api.ledger.post_journal", {"idempotency_key": "k3", "postings": [
		{"account": f"Cash{LONE_SURROGATE}", "amount": "1.00"}, {"account": "Sales", "amount": "-1.00"}]}),
	("ledger_app.api.drivers.record_missed_payment", {"trans_id": "QMISS2", "amount": "10", "bill_ref_number": f"K0{NUL}01"}),
	("ledger_app.api.settings.update_settings", {"paybill_shortcode": f"60{LONE_SURROGATE}"}),
], ids=["account-surrogate", "account-nul", "account-c1", "driver-name-surrogate", "driver-name-escape",
	"phone-arabic-digit", "account-number-nul", "account-number-surrogate", "account-number-newline", "lookup-surrogate",
	"lookup-nul", "client-name-surrogate", "key-surrogate", "remarks-nul", "posting-account-surrogate",
	"missed-payment-nul", "settings-surrogate"])
def test_names_and_references_with_nul_surrogates_or_controls_get_417_and_store_nothing(server, method, payload):
	"""Rows 8 and 9: a lone surrogate in a name was a 500; NUL in account_number was stored."""
	base, pool = server
	before, settings_before = _written(pool), _settings(pool)
	response = call(base, method, payload)
	assert response.status_code == 417, response.text[:500]
	assert any(word in error_text(response) for word in ("NUL", "surrogate", "control character", "phone")), error_text(response)
	assert _written(pool) == before and _settings(pool) == settings_before
	with pool.connection() as db:
		assert db.sql("SELECT `account_number` FROM `tabFleet Vehicle`") == [{"account_number": "K001"}]


def test_a_paid_confirmation_with_unstorable_names_is_recorded_and_the_names_kept_with_u_fffd(server):
	"""Row 8: a lone surrogate in BillRefNumber or FirstName made the confirmation answer "Temporary
	error, retry" (500).  The money has moved: it is recorded (a BillRefNumber no account can match
	goes to suspense), the bad characters replaced; the validation refuses such a reference."""
	base, pool = server
	named = post(base, CONFIRMATION, body("QNAME1", "100.00", FirstName=f"JO{LONE_SURROGATE}HN", MiddleName=f"A{NUL}",
		MSISDN=f"2547{LONE_SURROGATE}"))
	assert (named.status_code, named.json()) == (200, {"ResultCode": 0, "ResultDesc": "Success"})
	ref = post(base, CONFIRMATION, body("QNAME2", "40.00", account=f"K0{LONE_SURROGATE}1"))
	assert (ref.status_code, ref.json()) == (200, {"ResultCode": 0, "ResultDesc": "Success"})
	nul = post(base, CONFIRMATION, body("QNAME3", "2.00", account=f"K0{NUL}01"))
	assert (nul.status_code, nul.json()) == (200, {"ResultCode": 0, "ResultDesc": "Success"})
	assert post(base, VALIDATION, body(account=f"K0{LONE_SURROGATE}1")).json() == {"ResultCode": "C2B00012",
		"ResultDesc": "Rejected"}
	with pool.connection() as db:
		assert drivers.driver_balances(db, "D1")["payable"] == D("50.00")  # QNAME1 is a fare of D1's vehicle
		assert posting.balance(db, drivers.SUSPENSE_ACCOUNT) == D("42.00")
		refs = sorted(r["bill_ref_number"] for r in db.sql("SELECT `bill_ref_number` FROM `tabUnmatched Payment`"))
	assert refs == ["K0\ufffd01", "K0\ufffd1"]
	assert [row["status"] for row in callback_logs(pool)] == ["Processed", "Processed", "Processed", "Rejected"]


@pytest.mark.parametrize("method", ["mpesa.c2b_confirmation", "daraja.c2b_confirmation", "daraja.b2c_result",
	"daraja.c2b_validation"])
@pytest.mark.parametrize("token", [CALLBACK_TOKEN, None], ids=["token", "no-token"])
def test_a_body_nested_10000_deep_to_a_callback_gets_a_daraja_4xx_and_a_log_row(server, method, token):
	"""Row 4: 500 and no log row, with or without the token."""
	base, pool = server
	before = _written(pool)
	response = post(base, f"/api/method/ledger_app.api.{method}", data=deeply_nested(), token=token)
	assert response.status_code == (400 if token else 401), response.text[:300]
	answer = response.json()
	assert set(answer) == {"ResultCode", "ResultDesc"}
	if token and method.endswith("validation"):
		assert answer == {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
	elif token:
		assert answer == {"ResultCode": 1, "ResultDesc": "Rejected: body is nested deeper than 32 levels"}
	logs = callback_logs(pool)
	assert [(row["endpoint"], row["status"], row["http_status"]) for row in logs] == [
		(method.rpartition(".")[2], "Rejected", response.status_code)]
	assert logs[0]["body"].startswith('{"a": [[[')
	assert _written(pool) == before


@pytest.mark.parametrize("depth", [10_000, 40])
def test_a_deeply_nested_body_to_a_staff_method_gets_417(server, depth):
	"""Row 4: 500 for a staff method."""
	base, pool = server
	before = _written(pool)
	response = requests.post(f"{base}/api/method/ledger_app.api.ledger.post_journal", data=deeply_nested(depth),
		headers={**AUTH, "Content-Type": "application/json"}, timeout=60)
	assert response.status_code == 417, response.text[:300]
	assert "nested deeper than 32 levels" in error_text(response)
	assert _written(pool) == before


@pytest.mark.parametrize("headers", [AUTH, {}], ids=["staff", "guest"])
@pytest.mark.parametrize("path", [long_method_path(2_000), long_method_path(200), "ledger_app.api." + "x" * 3000],
	ids=["2000-parts", "200-parts", "3000-characters"])
def test_a_method_path_of_thousands_of_parts_or_characters_gets_4xx_before_import_or_authentication(server, path,
		headers):
	"""Row 7: 500 before authentication (the standalone host); Frappe answered 417 after trying to
	import it ("maximum recursion depth exceeded").  Now both refuse it by its length, unread."""
	base, pool = server
	response = requests.post(f"{base}/api/method/{path}", json={}, headers=headers, timeout=60)
	assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
	if len(path) < 4050:  # a longer request line (4,094 bytes) is refused by Frappe's gunicorn itself (400)
		assert response.status_code == 417, response.text[:300]
		assert "a method path has at most 140 characters and 8 parts" in error_text(response)


@pytest.mark.parametrize("where", ["header", "body", "referer", "form-body", "authorization"])
def test_a_callback_token_sent_outside_the_query_is_refused_and_never_stored(server, host_kind, where):
	"""Row 11: refused, but stored verbatim in the Callback Log."""
	base, pool = server
	before = _written(pool)
	headers = {"Content-Type": "application/json"}
	data = json.dumps(body("QTOK1")).encode()
	if where == "header":
		headers["X-Callback-Token"] = CALLBACK_TOKEN
	elif where == "body":
		data = json.dumps({**body("QTOK1"), "token": CALLBACK_TOKEN, "note": f"token={CALLBACK_TOKEN}"}).encode()
	elif where == "referer":
		headers["Referer"] = f"https://example.com/cb?token={requests.utils.quote(CALLBACK_TOKEN)}"
	elif where == "form-body":
		headers["Content-Type"] = "application/x-www-form-urlencoded"
		data = f"TransID=QTOK1&token={requests.utils.quote(CALLBACK_TOKEN)}".encode()
	else:
		headers["Authorization"] = f"Bearer {CALLBACK_TOKEN}"
	response = requests.post(base + CONFIRMATION, data=data, headers=headers, timeout=30)
	assert response.status_code == 401
	logs = callback_logs(pool)
	if host_kind == "frappe" and where == "authorization":
		assert logs == []  # Frappe itself refuses a bearer token it does not know, before any app code
	else:
		assert response.json() == {"ResultCode": 1, "ResultDesc": "Rejected: missing callback token"}
		assert len(logs) == 1 and logs[0]["status"] == "Rejected"
	stored = json.dumps(logs)
	assert CALLBACK_TOKEN not in stored and requests.utils.quote(CALLBACK_TOKEN) not in stored
	if where in ("header", "body", "referer", "form-body"):
		assert "[redacted]" in stored
	assert _written(pool) == before
