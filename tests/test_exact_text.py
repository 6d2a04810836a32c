"""Keys and names compared byte for byte on every database and host (README "Keys and names are
exact"): MariaDB's collation ignores case, accents and zero-width characters, so without the
``Exact`` constraints (``ledger_app/db/constraints.py``) ``INV-A1`` and ``inv-a1`` were one key there.
Look-alikes are refused at the edge, and text no database can store is refused before it reaches one."""

from __future__ import annotations

import pytest
import requests

from tests.support import CALLBACK_TOKEN, call, callback_logs, error_text, ok

ACCOUNT = "ledger_app.api.ledger.create_account"
JOURNAL = "ledger_app.api.ledger.post_journal"
BALANCE = "ledger_app.api.ledger.get_balance"
CONFIRMATION = "/api/method/ledger_app.api.mpesa.c2b_confirmation"


def balance(base: str, account: str) -> str:
	return ok(call(base, BALANCE, {"account": account}, http="GET"))["balance"]


def journal(base: str, key: str, amount: str = "10.00", cash: str = "P Cash", **extra) -> requests.Response:
	postings = [{"account": cash, "amount": amount}, {"account": "P Sales", "amount": f"-{amount}"}]
	return call(base, JOURNAL, {"idempotency_key": key, "postings": postings, **extra})


@pytest.fixture
def books(served):
	base, pool = served(callback_token=CALLBACK_TOKEN)
	ok(call(base, ACCOUNT, {"account": "P Cash", "root_type": "Asset"}))
	ok(call(base, ACCOUNT, {"account": "P Sales", "root_type": "Income"}))
	return base, pool


def test_keys_differing_only_in_case_are_different_journals(books):
	base, _ = books
	answers = [ok(journal(base, key)) for key in ("inv-a1", "INV-A1", "Inv-A1")]
	assert [answer["duplicate"] for answer in answers] == [False, False, False]
	assert len({answer["name"] for answer in answers}) == 3
	assert balance(base, "P Cash") == "30.00"
	# a key differing only in case, with other postings, is a new journal too (not a 409)
	assert ok(journal(base, "INV-a1", amount="5.00"))["duplicate"] is False
	assert balance(base, "P Cash") == "35.00"
	# and the same key again is still the same journal
	assert ok(journal(base, "INV-A1"))["duplicate"] is True
	assert balance(base, "P Cash") == "35.00"


def test_keys_differing_only_by_an_accent_are_different_journals(books):
	base, _ = books
	assert not ok(journal(base, "cle-1"))["duplicate"]
	assert not ok(journal(base, "clé-1"))["duplicate"]
	assert balance(base, "P Cash") == "20.00"


def test_an_account_name_is_found_only_as_written(books):
	base, _ = books
	missing = call(base, BALANCE, {"account": "p cash"}, http="GET")
	assert missing.status_code == 404, missing.text
	assert journal(base, "k1", cash="p cash").status_code == 404
	# a name differing only in case is another account, created beside the first
	created = ok(call(base, ACCOUNT, {"account": "p cash", "root_type": "Asset"}))
	assert created["created"] is True
	ok(journal(base, "k2", cash="p cash"))
	assert (balance(base, "p cash"), balance(base, "P Cash")) == ("10.00", "0.00")


@pytest.mark.parametrize("name, fragment", [
	("RT Ca\u200bsh", "invisible character (U+200B)"),
	("RT\u00a0Cash", "invisible character (U+00A0)"),
	("RT Cash\ufe0f", "invisible character (U+FE0F)"),
	("ＲＴ Cash", "compatibility character"),
	("RT Сash", "several scripts"),  # a Cyrillic С
])
def test_a_look_alike_account_name_is_refused(books, name, fragment):
	base, pool = books
	response = call(base, ACCOUNT, {"account": name, "root_type": "Asset"})
	assert response.status_code == 417, response.text
	assert fragment in error_text(response)
	with pool.connection() as db:
		assert [row["name"] for row in db.sql("SELECT `name` FROM `tabLedger Account` ORDER BY `name`")] == [
			"P Cash", "P Sales"]


@pytest.mark.parametrize("key, fragment", [
	("inv\u200b-1", "invisible character"),
	("іnv-1", "several scripts"),  # a Cyrillic і before Latin letters
	("ｉｎｖ-1", "compatibility character"),
])
def test_a_look_alike_idempotency_key_is_refused(books, key, fragment):
	base, _ = books
	response = journal(base, key)
	assert response.status_code == 417, response.text
	assert fragment in error_text(response)
	assert balance(base, "P Cash") == "0.00"


def test_a_key_in_decomposed_form_is_the_same_key_composed(books):
	base, _ = books
	first = ok(journal(base, "caf\u00e9-1"))
	again = ok(journal(base, "cafe\u0301-1"))
	assert again == {"name": first["name"], "duplicate": True}
	assert balance(base, "P Cash") == "10.00"


def test_funding_keys_differing_only_in_case_both_count(served):
	base, _ = served()
	ok(call(base, "ledger_app.api.clients.upsert_client", {"client": "C1", "client_name": "Wanjiku", "phone": "0722000001"}))
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-BIN", "client": "C1",
		"exchange": "Binance", "my_share_pct": "1", "company_share_pct": "9"}))
	for key in ("fund-a", "FUND-A"):
		ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "100", "idempotency_key": key}))
	position = ok(call(base, "ledger_app.api.clients.get_position", {"client_exchange": "C1-BIN"}, http="GET"))
	assert position["capital"] == "200.00"


def test_a_driver_id_differing_only_in_case_is_another_driver(served):
	base, pool = served()
	ok(call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "PD1", "driver_name": "Amina", "phone": "0712345678"}))
	ok(call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "pd1", "driver_name": "Baraka", "phone": "0712000000"}))
	with pool.connection() as db:
		rows = db.sql("SELECT `name`, `driver_name`, `phone` FROM `tabFleet Driver` ORDER BY `driver_name`")
	assert [(row["name"], row["driver_name"]) for row in rows] == [("PD1", "Amina"), ("pd1", "Baraka")]
	for driver in ("PD1", "pd1"):
		balances = ok(call(base, "ledger_app.api.drivers.get_driver_balances", {"driver": driver}, http="GET"))
		assert balances and all(amount == "0.00" for amount in balances.values()), balances


def test_a_vehicle_account_number_matches_however_the_passenger_types_it(served):
	base, pool = served(callback_token=CALLBACK_TOKEN)
	ok(call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "D1", "driver_name": "Amina", "phone": "0712345678"}))
	vehicle = ok(call(base, "ledger_app.api.drivers.upsert_vehicle", {"vehicle": "KTA 001", "account_number": "kta1",
		"driver": "D1"}))
	assert vehicle["account_number"] == "KTA1"
	body = {"TransactionType": "Pay Bill", "TransID": "RKT0000001", "TransTime": "20260301101500", "TransAmount": "100.00",
		"BusinessShortCode": "600000", "BillRefNumber": " Kta1 ", "MSISDN": "254712345678", "FirstName": "JOHN"}
	response = requests.post(base + CONFIRMATION, params={"token": CALLBACK_TOKEN}, json=body, timeout=30)
	assert response.status_code == 200, response.text
	with pool.connection() as db:
		assert not db.sql("SELECT `name` FROM `tabUnmatched Payment`")
		party = db.sql("SELECT `party` FROM `tabLedger Transaction` WHERE `idempotency_key` = 'RKT0000001'")
	assert [row["party"] for row in party] == ["D1"]


# --- text no database can store ---------------------------------------------------------------


@pytest.mark.parametrize("field, value", [
	("idempotency_key", "k\x001"),
	("remarks", "paid\x00in cash"),
	("idempotency_key", "k\ud8001"),
])
def test_unstorable_text_in_a_staff_request_is_refused(books, field, value):
	base, _ = books
	postings = [{"account": "P Cash", "amount": "10.00"}, {"account": "P Sales", "amount": "-10.00"}]
	response = call(base, JOURNAL, {"idempotency_key": "k1", "postings": postings, field: value})
	assert response.status_code == 417, response.text
	assert "position" in error_text(response)
	assert balance(base, "P Cash") == "0.00"


def test_a_confirmation_with_nul_in_its_transid_is_refused_and_its_log_row_finished(books):
	base, pool = books
	body = {"TransactionType": "Pay Bill", "TransID": "RKT\u00000002", "TransTime": "20260301101500",
		"TransAmount": "100.00", "BusinessShortCode": "600000", "BillRefNumber": "K001", "MSISDN": "254712345678"}
	response = requests.post(base + CONFIRMATION, params={"token": CALLBACK_TOKEN}, json=body, timeout=30)
	assert response.status_code < 500, response.text
	logs = callback_logs(pool)
	assert logs and all(row["status"] != "Received" for row in logs), logs
	with pool.connection() as db:
		assert not db.sql("SELECT `name` FROM `tabLedger Transaction`")
