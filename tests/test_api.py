"""The staff API over real HTTP (standalone WSGI app under waitress) on every backend:
Frappe's calling conventions, decimal strings, and bad input refused with Frappe's status codes
while writing nothing."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support import AUTH, OVERSIZED_BODY, call, count, error_text


@pytest.fixture
def server(served):
	base, pool = served()
	for account, root in (("Cash", "Asset"), ("Sales", "Income")):
		response = call(base, "ledger_app.api.ledger.create_account", {"account": account, "root_type": root})
		assert response.status_code == 200, response.text
	return base, pool


def _written(pool):
	with pool.connection() as db:
		return count(db, "Ledger Transaction"), count(db, "Ledger Posting")


def test_create_account_follows_the_root_types_normal_side(server):
	base, _ = server
	body = call(base, "ledger_app.api.ledger.create_account", {"account": "Fees", "root_type": "Expense"}).json()
	assert body == {"message": {"account": "Fees", "root_type": "Expense", "normal_side": "Debit", "balance": "0.00", "created": True}}
	again = call(base, "ledger_app.api.ledger.create_account", {"account": "Fees", "root_type": "Expense"}).json()
	assert again["message"]["created"] is False
	clash = call(base, "ledger_app.api.ledger.create_account", {"account": "Fees", "root_type": "Income"})
	assert clash.status_code == 409
	bad = call(base, "ledger_app.api.ledger.create_account", {"account": "X", "root_type": "Revenue"})
	assert bad.status_code == 417 and "root_type" in error_text(bad)


def test_post_journal_then_balances_as_decimal_strings(server):
	base, _ = server
	postings = [{"account": "Cash", "amount": "12.30"}, {"account": "Sales", "amount": "-12.30"}]
	first = call(base, "ledger_app.api.ledger.post_journal", {"idempotency_key": "a1", "postings": postings}).json()["message"]
	assert first["duplicate"] is False and first["name"]
	again = call(base, "ledger_app.api.ledger.post_journal", {"idempotency_key": "a1", "postings": postings}).json()["message"]
	assert again == {"name": first["name"], "duplicate": True}
	cash = call(base, "ledger_app.api.ledger.get_balance", {"account": "Cash"}, http="GET").json()
	sales = call(base, "ledger_app.api.ledger.get_balance", {"account": "Sales"}).json()
	assert cash == {"message": {"account": "Cash", "balance": "12.30"}}
	assert sales == {"message": {"account": "Sales", "balance": "12.30"}}


def test_form_encoded_arguments_work_like_frappe(server):
	base, _ = server
	postings = json.dumps([{"account": "Cash", "amount": "1.00"}, {"account": "Sales", "amount": "-1.00"}])
	response = requests.post(f"{base}/api/method/ledger_app.api.ledger.post_journal",
		data={"idempotency_key": "form-1", "postings": postings, "ignored_extra": "x"}, headers=AUTH, timeout=30)
	assert response.status_code == 200, response.text


def test_reverse_and_reconcile_through_the_api(server):
	base, pool = server
	postings = [{"account": "Cash", "amount": "5.00"}, {"account": "Sales", "amount": "-5.00"}]
	name = call(base, "ledger_app.api.ledger.post_journal", {"idempotency_key": "r1", "postings": postings}).json()["message"]["name"]
	rev = call(base, "ledger_app.api.ledger.reverse_transaction", {"transaction": name, "idempotency_key": "rev-r1"})
	assert rev.status_code == 200 and rev.json()["message"]["duplicate"] is False
	twice = call(base, "ledger_app.api.ledger.reverse_transaction", {"transaction": name, "idempotency_key": "rev-r1b"})
	assert twice.status_code == 409
	with pool.connection() as db:
		db.execute("UPDATE `tabLedger Account` SET `balance` = 3 WHERE `name` = 'Cash'")
	found = call(base, "ledger_app.api.ledger.reconcile", {}).json()["message"]
	assert (found["accounts_checked"], found["discrepancies"], found["fixed"]) == (2, 1, 0)
	fixed = call(base, "ledger_app.api.ledger.reconcile", {"fix": True}).json()["message"]
	assert (fixed["discrepancies"], fixed["fixed"]) == (1, 1)
	clean = call(base, "ledger_app.api.ledger.reconcile", {"fix": "false"}).json()["message"]
	assert clean["discrepancies"] == 0 and clean["run"] not in (found["run"], fixed["run"])


def _journal(amount_cash, amount_sales="-10.00", account="Sales"):
	return {"idempotency_key": "bad", "postings": [{"account": "Cash", "amount": amount_cash}, {"account": account, "amount": amount_sales}]}


@pytest.mark.parametrize(
	"payload, status, fragment",
	[
		({"idempotency_key": "bad"}, 417, "postings"),
		({"postings": _journal("10.00")["postings"]}, 417, "idempotency_key"),
		(_journal(None), 417, "amount"),
		(_journal("-10.00", "10.00"), 417, "below zero"),
		(_journal("10.001", "-10.001"), 417, "2 decimal"),
		(_journal("ten", "-ten"), 417, "decimal number"),
		(_journal(10.5, -10.5), 417, "float"),
		(_journal("10.00", "-10.00", "Nowhere"), 404, "not found"),
		(_journal("10.00", "-9.00"), 417, "sum to zero"),
		({"idempotency_key": "bad", "postings": "not json"}, 417, "JSON"),
		({"idempotency_key": "bad", "postings": [1, 2]}, 417, "object"),
		({"idempotency_key": "x" * 200, "postings": _journal("1.00", "-1.00")["postings"]}, 417, "140"),
		({**_journal("10.00"), "remarks": "'; DROP TABLE `tabLedger Account`; --"}, 200, ""),
	],
	ids=["no-postings", "no-key", "missing-amount", "negative-balance", "3-decimals", "non-numeric", "float",
		"unknown-account", "unbalanced", "postings-not-json", "posting-not-object", "key-too-long", "sql-in-remarks"],
)
def test_bad_journal_input_gets_frappes_status_and_writes_nothing(server, payload, status, fragment):
	base, pool = server
	before = _written(pool)
	response = call(base, "ledger_app.api.ledger.post_journal", payload)
	assert response.status_code == status, response.text
	if status != 200:
		body = response.json()
		assert fragment in error_text(response) and body["exc_type"]
		assert _written(pool) == before
	else:
		assert _written(pool) == (before[0] + 1, before[1] + 2)  # meta-characters are just text


def test_malformed_json_body_is_refused(server):
	base, pool = server
	before = _written(pool)
	response = requests.post(f"{base}/api/method/ledger_app.api.ledger.post_journal", data=b"{not json",
		headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
	assert response.status_code == 417 and "not valid JSON" in error_text(response)
	listed = requests.post(f"{base}/api/method/ledger_app.api.ledger.post_journal", data=b"[1, 2]",
		headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
	assert listed.status_code == 417
	assert _written(pool) == before


@pytest.mark.parametrize(
	"headers, status",
	[({}, 403), ({"Authorization": "token test-key:wrong"}, 401), ({"Authorization": "token nobody:test-secret"}, 401),
		({"Authorization": "Basic dGVzdDp0ZXN0"}, 401)],
	ids=["no-token", "wrong-secret", "wrong-key", "wrong-scheme"],
)
def test_staff_methods_need_the_api_token(server, headers, status):
	base, pool = server
	before = _written(pool)
	postings = [{"account": "Cash", "amount": "1.00"}, {"account": "Sales", "amount": "-1.00"}]
	response = call(base, "ledger_app.api.ledger.post_journal", {"idempotency_key": "t", "postings": postings}, headers=headers)
	assert response.status_code == status
	assert _written(pool) == before


def test_unknown_or_unwhitelisted_methods_and_wrong_verbs(server):
	base, _ = server
	assert call(base, "ledger_app.api.ledger.nope", {}).status_code == 417  # Frappe: "Failed to get method"
	assert call(base, "os.system", {}).status_code == 417
	assert call(base, "ledger_app.jobs.reconcile_all", {}).status_code == 403
	assert call(base, "ledger_app.api.ledger.get_db", {}).status_code == 417
	assert call(base, "ledger_app.api.ledger.post_journal", {}, http="GET").status_code == 403


def test_oversized_body_is_refused(server):
	base, pool = server
	before = _written(pool)
	response = requests.post(f"{base}/api/method/ledger_app.api.ledger.post_journal", data=OVERSIZED_BODY,
		headers={**AUTH, "Content-Type": "application/json"}, timeout=60)
	assert response.status_code == 413
	assert _written(pool) == before


def test_balance_as_of_and_unknown_account(server):
	base, _ = server
	assert call(base, "ledger_app.api.ledger.get_balance", {"account": "Nope"}).status_code == 404
	bad = call(base, "ledger_app.api.ledger.get_balance", {"account": "Cash", "as_of": "soon"})
	assert bad.status_code == 417
	ok = call(base, "ledger_app.api.ledger.get_balance", {"account": "Cash", "as_of": "2000-01-01"}).json()
	assert ok == {"message": {"account": "Cash", "balance": "0.00"}}


@pytest.mark.parametrize(
	"method, payload, status",
	[
		("ledger_app.api.ledger.reverse_transaction", {"idempotency_key": "k"}, 417),
		("ledger_app.api.ledger.reverse_transaction", {"transaction": "nope", "idempotency_key": "k"}, 404),
		("ledger_app.api.ledger.reverse_transaction", {"transaction": "nope"}, 404),
		("ledger_app.api.ledger.reconcile", {"fix": "maybe"}, 417),
		("ledger_app.api.ledger.get_balance", {}, 417),
		("ledger_app.api.ledger.create_account", {"root_type": "Asset"}, 417),
		("ledger_app.api.ledger.create_account", {"account": "A\x00B", "root_type": "Asset"}, 417),
		("ledger_app.api.ledger.create_account", {"account": "Y", "root_type": "Asset", "party_type": "Fleet Driver"}, 417),
	],
	ids=["reverse-no-transaction", "reverse-unknown", "reverse-no-key-unknown", "reconcile-bad-fix", "balance-no-account",
		"account-no-name", "account-control-chars", "account-half-party"],
)
def test_bad_input_to_other_methods_is_refused_and_writes_nothing(server, method, payload, status):
	base, pool = server
	with pool.connection() as db:
		before = (count(db, "Ledger Account"), count(db, "Ledger Transaction"), count(db, "Reconciliation Run"))
	response = call(base, method, payload)
	assert response.status_code == status, response.text
	assert response.json()["exc_type"]
	with pool.connection() as db:
		assert (count(db, "Ledger Account"), count(db, "Ledger Transaction"), count(db, "Reconciliation Run")) == before
