"""The rules the engine owns, over real HTTP on both hosts (the standalone host on each backend and
the Frappe site): Ledger Settings checked when saved through ``update_settings`` (issue 11 row 1),
the callback allow-list parsed when saved and never trusted at callback time (row 3), and a client
exchange whose remaining loss can no longer be paid closed instead of blocked (row 13)."""

from __future__ import annotations

import pytest
import requests

from tests.support import CALLBACK_TOKEN, call, count, error_text, ok

SETTINGS = "ledger_app.api.settings.update_settings"
CONFIRMATION = "/api/method/ledger_app.api.mpesa.c2b_confirmation"


def stored_settings(pool) -> dict:
	with pool.connection() as db:
		rows = db.sql("SELECT `field`, `value` FROM `tabSingles` WHERE `doctype` = 'Ledger Settings'")
	return {row["field"]: row["value"] for row in rows}


def confirmation(trans_id: str, amount: str = "100.00", account: str = "K001") -> dict:
	return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500", "TransAmount": amount,
		"BusinessShortCode": "600000", "BillRefNumber": account, "InvoiceNumber": "", "OrgAccountBalance": "",
		"ThirdPartyTransID": "", "MSISDN": "254712345678", "FirstName": "JOHN", "MiddleName": "", "LastName": ""}


def confirm(base: str, trans_id: str) -> requests.Response:
	return requests.post(base + CONFIRMATION, params={"token": CALLBACK_TOKEN}, json=confirmation(trans_id), timeout=30)


@pytest.fixture
def fleet(served):
	"""A host with one driver owing a daily target of 1,000 (fare share 50 %), vehicle account K001."""
	base, pool = served(callback_token=CALLBACK_TOKEN)
	ok(call(base, SETTINGS, {"global_daily_target": "1000", "global_fare_pct": "50", "target_sharing": 1}))
	ok(call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "D1", "driver_name": "Amina", "phone": "0712345678"}))
	ok(call(base, "ledger_app.api.drivers.upsert_vehicle", {"vehicle": "KTA 001", "account_number": "K001", "driver": "D1"}))
	assert ok(call(base, "ledger_app.api.drivers.run_daily_targets", {"date": "2026-03-01"}))["charged"] == 1
	return base, pool


# --- row 1: Ledger Settings rules, the same on both hosts -----------------------------------------


@pytest.mark.parametrize("values, fragment", [
	({"global_fare_pct": "150"}, "global_fare_pct"),
	({"global_fare_pct": "-1"}, "global_fare_pct"),
	({"minimum_payout": "1"}, "minimum_payout"),
	({"business_timezone": "Mars/Olympus"}, "time zone"),
	({"reconcile_tolerance": "-0.01"}, "reconcile_tolerance"),
	({"deadlock_retries": 0}, "deadlock_retries"),
	({"miss_threshold": -1}, "miss_threshold"),
	({"paybill_shortcode": "60O000"}, "digits only"),
	({"allowed_callback_ips": "10.0.0.1/33"}, "allowed_callback_ips"),
	({"allowed_callback_ips": "10.0.0.0/8\nnot-an-ip"}, "not an IP address"),
	({"daraja_base_url": "ftp://api.safaricom.co.ke"}, "http(s) URL"),
	({"currency": "shillings"}, "currency"),
	({"target_sharing": 7}, "0 or 1"),
	({"global_daily_target": "-5"}, "global_daily_target"),
	({"global_fare_pct": "40", "minimum_payout": "9.99"}, "minimum_payout"),
], ids=["fare-150", "fare-negative", "minimum-payout-1", "mars-time-zone", "negative-tolerance", "no-retries",
	"negative-misses", "letter-in-shortcode", "prefix-33", "garbage-network", "ftp-gateway", "currency-word",
	"check-7", "negative-target", "one-bad-of-two"])
def test_invalid_settings_are_refused_with_the_rule_and_store_nothing(served, values, fragment):
	base, pool = served()
	before = stored_settings(pool)
	response = call(base, SETTINGS, values)
	assert response.status_code == 417, response.text
	assert fragment in error_text(response)
	assert stored_settings(pool) == before


def test_a_fare_percentage_of_150_is_refused_and_fares_split_on_the_stored_terms(fleet):
	base, pool = fleet
	refused = call(base, SETTINGS, {"global_fare_pct": "150"})
	assert refused.status_code == 417 and "between 0 and 100" in error_text(refused)
	assert confirm(base, "QRULE1").json() == {"ResultCode": 0, "ResultDesc": "Success"}
	assert ok(call(base, "ledger_app.api.drivers.get_driver_balances", {"driver": "D1"})) == {
		"target_outstanding": "950.00", "payable": "50.00", "deposit": "0.00"}


def test_settings_are_stored_normalized(served):
	base, _ = served()
	saved = ok(call(base, SETTINGS, {"allowed_callback_ips": "196.201.214.200, 10.0.0.7/8\n 2001:db8::/32 ",
		"business_timezone": " ", "paybill_shortcode": " 600000 ", "currency": "kes",
		"daraja_base_url": "https://sandbox.safaricom.co.ke/"}))
	assert {k: saved[k] for k in ("allowed_callback_ips", "business_timezone", "paybill_shortcode", "currency",
		"daraja_base_url")} == {"allowed_callback_ips": "196.201.214.200\n10.0.0.0/8\n2001:db8::/32",
		"business_timezone": "Africa/Nairobi", "paybill_shortcode": "600000", "currency": "KES",
		"daraja_base_url": "https://sandbox.safaricom.co.ke"}


# --- row 3: the allow-list is parsed when saved, never trusted at callback time ---------------------


def test_an_invalid_allow_list_is_refused_when_saved_and_callbacks_keep_working(fleet):
	base, pool = fleet
	refused = call(base, SETTINGS, {"allowed_callback_ips": "10.0.0.1/33"})
	assert refused.status_code == 417 and "10.0.0.1/33" in error_text(refused)
	answer = confirm(base, "QRULE3")
	assert (answer.status_code, answer.json()) == (200, {"ResultCode": 0, "ResultDesc": "Success"})
	with pool.connection() as db:
		logs = db.sql("SELECT `status`, `http_status` FROM `tabCallback Log`")
	assert [(r["status"], r["http_status"]) for r in logs] == [("Processed", 200)]


def test_a_broken_stored_allow_list_refuses_callbacks_with_403_and_finishes_their_log_row(fleet):
	"""A value written before the rule existed, or by plain SQL: every callback is refused with the
	reason (never a 500, never a log row left Received) and nothing is recorded."""
	base, pool = fleet
	with pool.connection() as db:
		def store(db):
			db.execute("DELETE FROM `tabSingles` WHERE `doctype` = 'Ledger Settings' AND `field` = 'allowed_callback_ips'")
			db.execute("INSERT INTO `tabSingles` (`doctype`, `field`, `value`) VALUES ('Ledger Settings',"
				" 'allowed_callback_ips', %(v)s)", {"v": "127.0.0.1\n10.0.0.1/33"})
		db.run_in_transaction(store)
		before = count(db, "Ledger Transaction")
	answer = confirm(base, "QRULE4")
	assert answer.status_code == 403
	assert answer.json()["ResultCode"] == 1 and "allowed_callback_ips" in answer.json()["ResultDesc"]
	with pool.connection() as db:
		logs = db.sql("SELECT `status`, `http_status`, `error` FROM `tabCallback Log`")
		assert count(db, "Ledger Transaction") == before
	assert [(r["status"], r["http_status"]) for r in logs] == [("Rejected", 403)]
	assert "10.0.0.1/33" in logs[0]["error"]


# --- row 13: every loss can be closed ----------------------------------------------------------------


def _exchange_funded_1000_at_12_5_and_20(base) -> None:
	"""Client exchange C1-BIN: your share 12.5 %, the company's 20 %, funded with 1,000.00."""
	ok(call(base, "ledger_app.api.clients.upsert_client", {"client": "C1", "client_name": "Wanjiku", "phone": "0722000001"}))
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-BIN", "client": "C1",
		"exchange": "Binance", "my_share_pct": "12.5", "company_share_pct": "20"}))
	ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "1000.00", "idempotency_key": "f1"}))


def test_a_remaining_loss_whose_payable_share_rounds_to_zero_closes_the_snapshot(served):
	"""12.5 % + 20 %, capital 1,000, balance 666.67: after 10.00 and 0.01, the maximum payable 98.32
	leaves 0.01 of loss whose payable share is 0.00; that settlement closes the snapshot, so the
	exchange takes new balances and funding again."""
	base, _ = served()
	_exchange_funded_1000_at_12_5_and_20(base)
	record = ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-01",
		"remaining_balance": "666.67", "idempotency_key": "b1"}))
	assert record["loss_at_time"] == "333.33"
	settled = [ok(call(base, "ledger_app.api.clients.settle", {"client_exchange": "C1-BIN", "amount": amount,
		"idempotency_key": f"s{i}"})) for i, amount in enumerate(("10.00", "0.01", "98.32"))]
	assert [(s["capital_closed"], s["closed_snapshot"]) for s in settled] == [
		("30.77", 0), ("0.03", 0), ("302.53", 1)]
	assert ok(call(base, "ledger_app.api.clients.get_position", {"client_exchange": "C1-BIN"}, http="GET")) == {
		"capital": "666.67", "active_loss": "0.00", "remaining_loss": "0.00", "your_share_total": "41.67",
		"company_share_total": "66.66"}
	ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-02",
		"remaining_balance": "666.67", "idempotency_key": "b2"}))
	assert ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "100.00",
		"idempotency_key": "f2"}))["capital"] == "766.67"


def test_a_loss_recorded_with_no_payable_share_is_closed_at_once(served):
	"""A loss of 0.01 at 12.5 % + 20 % has a payable share of 0.00: no payment could settle it, so
	recording it closes it with a settlement of 0.00 and the exchange is not blocked."""
	base, _ = served()
	_exchange_funded_1000_at_12_5_and_20(base)
	record = ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-01",
		"remaining_balance": "999.99", "idempotency_key": "b1"}))
	assert record["loss_at_time"] == "0.01" and record["loss_snapshot"]
	assert ok(call(base, "ledger_app.api.clients.get_position", {"client_exchange": "C1-BIN"}, http="GET")) == {
		"capital": "999.99", "active_loss": "0.00", "remaining_loss": "0.00", "your_share_total": "0.00",
		"company_share_total": "0.00"}
	assert ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "0.01",
		"idempotency_key": "f2"}))["capital"] == "1000.00"
