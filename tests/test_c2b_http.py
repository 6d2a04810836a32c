"""M-Pesa C2B callbacks over real HTTP against the standalone server, on every backend: Daraja's
exact bodies, the callback token, hostile payloads, and 32 concurrent clients for one driver."""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
import requests

from ledger_app.engine import drivers, posting, reconcile, settings
from ledger_app.engine.money import round_half_up
from ledger_app.gateways.callback_urls import callback_urls
from ledger_app.gateways.simulator import FORBIDDEN_URL_WORDS
from tests.support import CALLBACK_TOKEN, OVERSIZED_BODY, call as staff_call, count, make_pool, server_process

D = Decimal
VALIDATION = "/api/method/ledger_app.api.mpesa.c2b_validation"
CONFIRMATION = "/api/method/ledger_app.api.mpesa.c2b_confirmation"


def body(trans_id="QK1", amount="100.00", account="K001", **extra):
	return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500", "TransAmount": amount,
		"BusinessShortCode": "600000", "BillRefNumber": account, "InvoiceNumber": "", "OrgAccountBalance": "",
		"ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "JOHN", "MiddleName": "", "LastName": "", **extra}


def setup_fleet(pool, daily_target="5000"):
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": daily_target,
			"global_fare_pct": "50", "target_sharing": 1}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
		drivers.run_daily_targets(db, date(2026, 3, 1))


@pytest.fixture
def server(served):
	base, pool = served(callback_token=CALLBACK_TOKEN)
	setup_fleet(pool)
	return base, pool


def post(base, path, payload=None, token=CALLBACK_TOKEN, data=None):
	params = {"token": token} if token is not None else None
	if data is not None:
		return requests.post(base + path, params=params, data=data, headers={"Content-Type": "application/json"}, timeout=30)
	return requests.post(base + path, params=params, json=payload, timeout=30)


def ledger_rows(pool):
	with pool.connection() as db:
		return count(db, "Ledger Transaction"), count(db, "Unmatched Payment")


def test_validation_answers_exactly_dararas_bodies(server):
	base, _ = server
	accepted = post(base, VALIDATION, body())
	assert accepted.status_code == 200 and accepted.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
	unknown = post(base, VALIDATION, body(account="NOPE"))
	assert unknown.json() == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
	for bad in ("0", "-5", "1.005", "abc"):
		assert post(base, VALIDATION, body(amount=bad)).json() == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
	assert post(base, VALIDATION, body(TransactionType="Reversal")).json()["ResultCode"] == "C2B00016"


def test_confirmation_answers_success_and_counts_once(server):
	base, pool = server
	for _ in range(3):
		response = post(base, CONFIRMATION, body("QK1", "100.00"))
		assert response.status_code == 200 and response.json() == {"ResultCode": 0, "ResultDesc": "Success"}
		assert "message" not in response.text
	with pool.connection() as db:
		assert drivers.driver_balances(db, "D1") == {"target_outstanding": D("4950.00"), "payable": D("50.00"), "deposit": 0}
		logs = db.sql("SELECT `status`, `http_status`, `reference` FROM `tabCallback Log` ORDER BY `creation`")
	assert [(r["status"], r["http_status"], r["reference"]) for r in logs] == [("Processed", 200, "QK1")] * 3


def test_changes_made_by_another_process_apply_to_the_servers_next_payment(db_url):
	pool = make_pool(db_url)
	setup_fleet(pool)
	with server_process(db_url, "--no-scheduler", "--no-worker") as base:
		assert post(base, CONFIRMATION, body("QV1", "100.00")).status_code == 200  # the server now holds the settings
		with pool.connection() as db:  # this process, not the server, changes them
			db.run_in_transaction(lambda db: settings.update_settings(db, {"global_fare_pct": "80"}))
		assert post(base, CONFIRMATION, body("QV2", "100.00")).status_code == 200
		with pool.connection() as db:  # ... and gives the vehicle to another driver
			drivers.upsert_driver(db, "D2", "Baraka", "0722000000")
			drivers.run_daily_targets(db, date(2026, 3, 1))
			drivers.upsert_vehicle(db, "KTA 001", driver="D2")
		assert post(base, CONFIRMATION, body("QV3", "100.00")).status_code == 200
		with pool.connection() as db:  # ... and changes that driver's own terms
			drivers.upsert_driver(db, "D2", fare_pct="70")
		assert post(base, CONFIRMATION, body("QV4", "100.00")).status_code == 200
	with pool.connection() as db:
		# D1: 50.00 + 20.00 of the first two fares went to the target, 50.00 + 80.00 to the driver
		assert drivers.driver_balances(db, "D1") == {"target_outstanding": D("4930.00"), "payable": D("130.00"), "deposit": 0}
		# D2: 20.00 at the global 80 %, then 30.00 at its own 70 %
		assert drivers.driver_balances(db, "D2") == {"target_outstanding": D("4950.00"), "payable": D("150.00"), "deposit": 0}
	pool.dispose()


def test_the_callback_paths_to_register_with_daraja_are_ones_it_accepts_and_answer_the_same(server):
	"""Live Daraja refuses callback URLs containing "mpesa" (and a few other words), the dotted method
	path included: the URLs to register and the ones payouts send name ledger_app.api.daraja, whose
	methods answer exactly as ledger_app.api.mpesa's."""
	base, pool = server
	urls = callback_urls("https://ledger.example.com", CALLBACK_TOKEN)
	c2b = [f"https://ledger.example.com/api/method/ledger_app.api.daraja.{m}" for m in ("c2b_validation", "c2b_confirmation")]
	for url in [urls.result, urls.timeout, urls.status_result, urls.status_timeout, *c2b]:
		assert not any(word in url.lower() for word in FORBIDDEN_URL_WORDS), url
	validated = post(base, "/api/method/ledger_app.api.daraja.c2b_validation", body("QDA1", "100.00"))
	assert (validated.status_code, validated.json()) == (200, {"ResultCode": "0", "ResultDesc": "Accepted"})
	confirmed = post(base, "/api/method/ledger_app.api.daraja.c2b_confirmation", body("QDA1", "100.00"))
	again = post(base, CONFIRMATION, body("QDA1", "100.00"))  # the same payment through the other path
	assert [r.json() for r in (confirmed, again)] == [{"ResultCode": 0, "ResultDesc": "Success"}] * 2
	assert post(base, "/api/method/ledger_app.api.daraja.c2b_confirmation", body("QDA2"), token="wrong").status_code == 403
	with pool.connection() as db:
		assert drivers.driver_balances(db, "D1") == {"target_outstanding": D("4950.00"), "payable": D("50.00"), "deposit": 0}
		logs = db.sql("SELECT `endpoint`, `status` FROM `tabCallback Log` WHERE `reference` = 'QDA1' ORDER BY `creation`")
	assert [(r["endpoint"], r["status"]) for r in logs] == [("c2b_confirmation", "Processed")] * 2


@pytest.mark.parametrize("token, status", [(None, 401), ("", 401), ("wrong", 403)], ids=["missing", "empty", "wrong"])
def test_missing_or_wrong_token_is_refused_and_only_logged(server, token, status):
	base, pool = server
	before = ledger_rows(pool)
	response = post(base, CONFIRMATION, body("QX1"), token=token)
	assert response.status_code == status and response.json()["ResultCode"] == 1
	assert ledger_rows(pool) == before
	with pool.connection() as db:
		logs = db.sql("SELECT `status`, `http_status`, `body` FROM `tabCallback Log`")
	assert [(r["status"], r["http_status"]) for r in logs] == [("Rejected", status)]
	assert "QX1" in logs[0]["body"] and CALLBACK_TOKEN not in json.dumps(logs)


def test_ip_allow_list_refuses_other_sources(server):
	"""A refused source changes nothing but its Callback Log row, which records the refusal and the
	address (every callback: tests/test_callback_auth.py)."""
	base, pool = server
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"allowed_callback_ips": "196.201.214.200, 10.0.0.0/8"}))
	before = ledger_rows(pool)
	assert post(base, CONFIRMATION, body("QIP1")).status_code == 403
	assert ledger_rows(pool) == before
	with pool.connection() as db:
		logs = db.sql("SELECT `status`, `http_status`, `error`, `remote_addr` FROM `tabCallback Log`")
	assert logs == [{"status": "Rejected", "http_status": 403, "error": "source address 127.0.0.1 is not in the allow-list",
		"remote_addr": "127.0.0.1"}]
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"allowed_callback_ips": "127.0.0.1"}))
	assert post(base, CONFIRMATION, body("QIP1")).status_code == 200
	assert ledger_rows(pool) == (before[0] + 1, before[1])


@pytest.mark.parametrize(
	"payload, fragment",
	[
		(body(amount="-100.00"), "positive"),
		(body(amount="0"), "zero"),
		(body(amount="10.005"), "2 decimal"),
		(body(amount="1e9"), "decimal number"),
		(body(amount="1000000000"), "maximum"),
		(body(amount="NaN"), "decimal number"),
		(body(TransactionType="Salary Payment"), "TransactionType"),
		({k: v for k, v in body().items() if k != "TransID"}, "TransID"),
		(body(trans_id="'; DROP TABLE x; --"), "TransID"),
		(body(TransTime="yesterday"), "TransTime"),
		(body(account=""), "BillRefNumber"),
	],
	ids=["negative", "zero", "3-decimals", "exponent", "absurd", "nan", "unknown-type", "no-transid", "sql-transid", "bad-time", "no-account"],
)
def test_hostile_confirmations_are_refused_clearly_and_lose_nothing(server, payload, fragment):
	base, pool = server
	before = ledger_rows(pool)
	response = post(base, CONFIRMATION, payload)
	assert response.status_code == 400
	assert response.json()["ResultCode"] == 1 and fragment in response.json()["ResultDesc"]
	assert ledger_rows(pool) == before
	with pool.connection() as db:
		logs = db.sql("SELECT `status`, `body` FROM `tabCallback Log`")
	assert len(logs) == 1 and logs[0]["status"] == "Rejected" and logs[0]["body"]  # kept for staff


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", "\u00e9\u4e2d".encode("utf-16")], ids=["bad-json", "list", "not-utf8"])
def test_malformed_bodies_are_refused_and_logged(server, data):
	base, pool = server
	before = ledger_rows(pool)
	response = post(base, CONFIRMATION, data=data)
	assert response.status_code == 400 and response.json()["ResultCode"] == 1
	assert ledger_rows(pool) == before
	with pool.connection() as db:
		assert count(db, "Callback Log") == 1


NOT_AN_OBJECT = {"ResultCode": 1, "ResultDesc": "Rejected: body is not a JSON object"}


@pytest.mark.parametrize("method, data, status, answer", [
	("mpesa.c2b_confirmation", b'{"TransID": "QX1", oops', 400, NOT_AN_OBJECT),
	("daraja.c2b_confirmation", b'{"TransID": "QX1", oops', 400, NOT_AN_OBJECT),
	("daraja.b2c_result", b"{oops", 400, NOT_AN_OBJECT),
	("daraja.transaction_status_result", b"{oops", 400, NOT_AN_OBJECT),
	("daraja.c2b_confirmation", b'"QX1"', 400, NOT_AN_OBJECT),
	("daraja.c2b_confirmation", b'["QX1"]', 400, NOT_AN_OBJECT),
	("daraja.c2b_validation", b"{oops", 400, {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}),
], ids=["mpesa-path", "daraja-path", "b2c-result", "status-result", "scalar", "list", "validation"])
def test_unparseable_callback_bodies_get_a_daraja_answer_and_a_log_row(server, method, data, status, answer):
	"""The reference for the Frappe host, which answers these the same (its in-app tests)."""
	base, pool = server
	response = post(base, f"/api/method/ledger_app.api.{method}", data=data)
	assert (response.status_code, response.json()) == (status, answer)
	with pool.connection() as db:
		logs = db.sql("SELECT `endpoint`, `status`, `http_status`, `error`, `body` FROM `tabCallback Log`")
	assert logs == [{"endpoint": method.rpartition(".")[2], "status": "Rejected", "http_status": status,
		"error": "body is not a JSON object", "body": data.decode()}]


def test_an_unparseable_body_with_a_wrong_token_is_refused_for_the_token(server):
	base, pool = server
	response = post(base, CONFIRMATION, data=b"{oops", token="wrong")
	assert (response.status_code, response.json()) == (403, {"ResultCode": 1, "ResultDesc": "Rejected: wrong callback token"})


def test_huge_body_is_refused(server):
	base, pool = server
	before = ledger_rows(pool)
	response = post(base, CONFIRMATION, data=OVERSIZED_BODY)
	assert response.status_code == 413
	assert ledger_rows(pool) == before


def test_a_callback_body_over_1_mib_is_refused_413_before_its_json_is_read(server):
	base, pool = server
	before = ledger_rows(pool)
	deep = b"[" * (1024 * 1024 + 1)  # a bench lets 25 MB through: never scanned for its nesting
	for data in (deep, b'{"TransID": "' + b"A" * (1024 * 1024) + b'"}'):
		assert post(base, CONFIRMATION, data=data).status_code == 413
	assert ledger_rows(pool) == before


def test_unknown_account_confirmation_lands_in_suspense(server):
	base, pool = server
	assert post(base, CONFIRMATION, body("QUN1", "75.00", account="ZZZ")).json() == {"ResultCode": 0, "ResultDesc": "Success"}
	with pool.connection() as db:
		assert posting.balance(db, drivers.SUSPENSE_ACCOUNT) == D("75.00")
		assert [r["trans_id"] for r in drivers.list_unmatched(db)] == ["QUN1"]


def test_32_clients_2000_confirmations_for_one_driver_exact_to_the_cent(served):
	base, pool = served(process=True)
	target = D("5000.00")
	setup_fleet(pool, daily_target=str(target))
	rng = random.Random(11)
	unique = [(f"QC{i:06d}", D(rng.randint(1000, 50000)) / 100) for i in range(1800)]
	work = unique + [unique[rng.randrange(len(unique))] for _ in range(200)]  # 10 % repeats
	rng.shuffle(work)
	session_per_thread = {}

	def send(item):
		import threading

		session = session_per_thread.setdefault(threading.get_ident(), requests.Session())
		trans_id, amount = item
		response = session.post(base + CONFIRMATION, params={"token": CALLBACK_TOKEN},
			json=body(trans_id, str(amount)), timeout=120)
		return response.status_code, response.json()

	with ThreadPoolExecutor(max_workers=32) as clients:
		answers = list(clients.map(send, work))
	assert all(answer == (200, {"ResultCode": 0, "ResultDesc": "Success"}) for answer in answers)
	paid = sum((amount for _, amount in unique), D(0))
	cuts = sum((round_half_up(amount * 50 / 100) for _, amount in unique), D(0))
	contribution = min(target, cuts)  # contributions stop exactly at the target, whatever the order
	with pool.connection() as db:
		assert drivers.driver_balances(db, "D1") == {"target_outstanding": target - contribution,
			"payable": paid - contribution, "deposit": D("0.00")}
		assert posting.balance(db, drivers.PAYBILL_ACCOUNT) == paid
		counted = db.sql("SELECT COUNT(*) AS n FROM `tabLedger Transaction` WHERE `transaction_type` = 'C2B Payment'")[0]["n"]
		assert int(counted) == len(unique)
		assert reconcile.reconcile(db)["discrepancies"] == 0


def test_control_characters_are_refused_or_stripped(server):
	base, pool = server
	# the money has moved: kept in suspense under the reference with U+FFFD (tests/test_edge_input.py)
	assert post(base, CONFIRMATION, body("QNUL1", account="K0\x0001")).status_code == 200
	assert post(base, VALIDATION, body("QNUL1", account="K0\x0001")).json()["ResultCode"] == "C2B00012"
	ok = post(base, CONFIRMATION, body("QNUL2", FirstName="JO\x00HN", MSISDN="2547\x00"))
	assert ok.status_code == 200


def test_a_staff_journal_key_never_shadows_a_later_transid(server):
	"""Issue 11 row 2: a staff key and a TransID live in different key scopes, so a journal keyed
	like a later payment leaves the payment to be recorded, once."""
	base, pool = server
	for account, root_type in (("Cash", "Asset"), ("Sales", "Income")):
		assert staff_call(base, "ledger_app.api.ledger.create_account", {"account": account, "root_type": root_type}).status_code == 200
	journal = {"idempotency_key": "QSHADOW1", "postings": [{"account": "Cash", "amount": "10.00"}, {"account": "Sales", "amount": "-10.00"}]}
	posted = staff_call(base, "ledger_app.api.ledger.post_journal", journal)
	assert posted.status_code == 200 and posted.json()["message"]["duplicate"] is False, posted.text
	assert post(base, CONFIRMATION, body("QSHADOW1", "100.00")).json() == {"ResultCode": 0, "ResultDesc": "Success"}
	with pool.connection() as db:
		assert drivers.driver_balances(db, "D1")["payable"] == D("50.00")  # the fare is in
		assert posting.balance(db, drivers.PAYBILL_ACCOUNT) == D("100.00")
		logs = db.sql("SELECT `status`, `error` FROM `tabCallback Log`")
	assert [(r["status"], r["error"]) for r in logs] == [("Processed", None)]
	missed = staff_call(base, "ledger_app.api.drivers.record_missed_payment",
		{"trans_id": "QSHADOW1", "amount": "100.00", "bill_ref_number": "K001", "msisdn": "2547 ***** 126"}).json()["message"]
	assert (missed["duplicate"], missed["kind"], missed["mismatch"]) == (True, "fare", None)
	# within one scope a repeated key answers as before: the same journal is a duplicate, another is 409
	again = staff_call(base, "ledger_app.api.ledger.post_journal", journal)
	assert again.json()["message"] == {"name": posted.json()["message"]["name"], "duplicate": True}
	other = {**journal, "postings": [{"account": "Cash", "amount": "11.00"}, {"account": "Sales", "amount": "-11.00"}]}
	assert staff_call(base, "ledger_app.api.ledger.post_journal", other).status_code == 409
	with pool.connection() as db:
		assert posting.balance(db, "Cash") == D("10.00") and posting.balance(db, drivers.PAYBILL_ACCOUNT) == D("100.00")
		assert reconcile.reconcile(db)["discrepancies"] == 0


@pytest.mark.parametrize("change", [{"TransAmount": "150.00"}, {"BillRefNumber": "K002"}, {"MSISDN": "2547 ***** 999"}],
	ids=["amount", "account", "msisdn"])
def test_a_transid_resent_with_other_content_is_a_logged_and_alerted_mismatch(server, host_kind, caplog, change):
	"""Issue 11 row 10: the resend answers Success as any repeat and moves no money, but its log row
	says Mismatch with what differs, and an alert is raised (a log line on the standalone host)."""
	base, pool = server
	caplog.set_level(logging.WARNING, logger="ledger_app.alerts")
	assert post(base, CONFIRMATION, body("QMM1", "100.00")).json() == {"ResultCode": 0, "ResultDesc": "Success"}
	assert post(base, CONFIRMATION, body("QMM1", "100.00")).json() == {"ResultCode": 0, "ResultDesc": "Success"}
	resent = post(base, CONFIRMATION, {**body("QMM1", "100.00"), **change})
	assert resent.status_code == 200 and resent.json() == {"ResultCode": 0, "ResultDesc": "Success"}
	with pool.connection() as db:
		assert count(db, "Ledger Transaction") == 2  # the daily target and the payment, once
		assert posting.balance(db, drivers.PAYBILL_ACCOUNT) == D("100.00")
		assert drivers.driver_balances(db, "D1")["payable"] == D("50.00")
		logs = db.sql("SELECT `status`, `error`, `reference` FROM `tabCallback Log` ORDER BY `creation`, `modified`")
	assert [(r["status"], r["reference"]) for r in logs] == [("Processed", "QMM1"), ("Processed", "QMM1"), ("Mismatch", "QMM1")]
	assert logs[1]["error"] == "duplicate"
	mismatch = logs[2]["error"]
	assert mismatch.startswith("mismatch: TransID QMM1 was recorded as C2B Payment") and "of 100.00" in mismatch, mismatch
	assert str(change.get("TransAmount", "100.00")) in mismatch and change.get("BillRefNumber", "K001") in mismatch
	if host_kind != "frappe":  # the alert is the engine's log line, in this process when the host is
		assert [r.getMessage() for r in caplog.records if r.name == "ledger_app.alerts"] == [mismatch]
