"""Payouts exactly once, on every backend and on the Frappe site, against the Daraja simulator over
real HTTP: each simulator scenario ends in the right state with the right balances; failed payouts
return the money and a staff retry pays once; a gateway that is down keeps payouts Queued, opens the
circuit, raises an alert, and they are paid once it returns.

On the Frappe site the payout is dispatched by the job the request enqueues, run by a real
``frappe worker`` process, and settled by the simulator's result callback to the site. Scenarios
settled only by a later dispatch or a Transaction Status sweep need the scheduler's ticks (minutes
apart in production) and run on the standalone host, whose worker the tests can speed up."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import waitress

from ledger_app.engine import business, drivers, payouts, posting, reconcile, settings
from ledger_app.gateways import simulator as sim
from ledger_app.gateways.callback_urls import callback_urls
from ledger_app.gateways.setup import router_from_settings
from ledger_app.host.standalone_host import Services
from ledger_app.standalone import scheduler
from ledger_app.standalone.config import Config
from ledger_app.standalone.wsgi import LedgerApp
from ledger_app.standalone.worker import PayoutWorker
from tests.support import API_KEY, API_SECRET, AUTH, CALLBACK_TOKEN, free_port, make_pool, stop_server

D = Decimal


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch):
	"""Production waits minutes between retries and status queries; tests wait fractions of a second."""
	monkeypatch.setattr(payouts, "RETRY_BACKOFF", (timedelta(seconds=0.2),) * 4)
	monkeypatch.setattr(payouts, "RESULT_WAIT", timedelta(seconds=1))
	monkeypatch.setattr(payouts, "STATUS_QUERY_INTERVAL", timedelta(seconds=0.5))


@contextmanager
def payout_host(db_url, *, fail_max=5, reset_timeout=30.0):
	"""The simulator, the standalone app (waitress) wired to it, and an in-process payout worker."""
	pool = make_pool(db_url)
	simulator, sim_thread = sim.serve("127.0.0.1", 0)
	gateway_url = f"http://127.0.0.1:{simulator.effective_port}"
	port = free_port()
	config = Config(db_url=db_url, api_key=API_KEY, api_secret=API_SECRET, callback_token=CALLBACK_TOKEN, port=port,
		gateway_url=gateway_url)
	router = router_from_settings(base_url=gateway_url, consumer_key="k", consumer_secret="s", shortcode="600000",
		initiator="api", security_credential="cred", fail_max=fail_max, reset_timeout=reset_timeout)
	urls = callback_urls(config.base_url(), CALLBACK_TOKEN)
	executor = ThreadPoolExecutor(max_workers=2)
	worker = PayoutWorker(pool, router, urls, interval=0.1, sweep_every=0.3)
	services = Services(pool=pool, config=config, executor=executor, gateway=router, urls=urls, worker=worker)
	server = waitress.create_server(LedgerApp(config, pool, executor, services), host="127.0.0.1", port=port, threads=8)
	thread = threading.Thread(target=server.run, daemon=True)
	thread.start()
	worker.start()
	host = type("Host", (), {"base": f"http://127.0.0.1:{port}", "pool": pool, "gateway_url": gateway_url,
		"router": router, "worker": worker})()
	try:
		yield host
	finally:
		worker.stop()
		stop_server(server, thread)
		executor.shutdown(wait=True)
		sim.stop(simulator, sim_thread)
		pool.dispose()


@contextmanager
def frappe_payout_host(site):
	"""The Frappe site as installed, with Ledger Settings pointing at a fresh simulator (saved through
	Frappe, as staff would in the desk, so its Password fields are stored encrypted)."""
	from ledger_app.db.pool import ConnectionPool

	site.reset()
	simulator, sim_thread = sim.serve("127.0.0.1", 0)
	gateway_url = f"http://127.0.0.1:{simulator.effective_port}"
	pool = ConnectionPool(site.db_url)
	try:
		configured = requests.post(f"{site.base}/api/method/frappe.client.set_value", headers=AUTH, timeout=30, json={
			"doctype": "Ledger Settings", "name": "Ledger Settings", "fieldname": {"daraja_base_url": gateway_url,
				"daraja_consumer_key": "k", "daraja_consumer_secret": "s", "daraja_shortcode": "600000",
				"daraja_initiator": "api", "daraja_security_credential": "cred"}})
		assert configured.status_code == 200, configured.text
		yield type("Host", (), {"base": site.base, "pool": pool, "gateway_url": gateway_url})()
	finally:
		sim.stop(simulator, sim_thread)
		pool.dispose()


@pytest.fixture
def open_host(host_kind, make_db_url, request):
	"""``open_host()``: the payout host of the test's kind (standalone on a backend, or the site)."""

	def opened(**options):
		if host_kind == "frappe":
			return frappe_payout_host(request.getfixturevalue("frappe_site"))
		return payout_host(make_db_url(host_kind), **options)

	return opened


NEEDS_THE_SCHEDULER = ("http_500", "timeout", "no_callback")


def scenario(host, *outcomes, default=None):
	body = {"b2c": list(outcomes)} if outcomes else {}
	if default is not None:
		body["b2c_default"] = default
	response = requests.post(f"{host.gateway_url}/simulator/scenario", json=body, timeout=10)
	assert response.status_code == 200, response.text


def paid_by_gateway(host) -> list[dict]:
	return requests.get(f"{host.gateway_url}/simulator/payments", timeout=10).json()


def staff(host, method, **payload):
	response = requests.post(f"{host.base}/api/method/ledger_app.api.payouts.{method}", json=payload, headers=AUTH, timeout=30)
	assert response.status_code == 200, response.text
	return response.json()["message"]


def fund_driver(host, driver="D1", amount="500.00"):
	"""A driver with ``amount`` payable (target sharing off, so the whole fare is the driver's)."""
	with host.pool.connection() as db:
		drivers.upsert_driver(db, driver, f"Driver {driver}", "0712345678", target_sharing="Disable")
		drivers.upsert_vehicle(db, f"V-{driver}", f"ACC{driver}", driver=driver)
		drivers.confirm_c2b(db, drivers.parse_c2b({"TransactionType": "Pay Bill", "TransID": f"QF{driver}{amount.replace('.', '')}",
			"TransAmount": amount, "BillRefNumber": f"ACC{driver}", "TransTime": "20260301100000"}))


#: waits are scaled by $LEDGER_TEST_WAIT_SCALE: benchmarks/mutation shortens them, so that a mutant which
#: stops payouts fails in seconds instead of waiting out a deadline made for a loaded CI machine
WAIT_SCALE = float(os.environ.get("LEDGER_TEST_WAIT_SCALE") or 1)


def wait_for(predicate, timeout=30.0, what="condition"):
	timeout *= WAIT_SCALE
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		value = predicate()
		if value:
			return value
		time.sleep(0.1)
	raise AssertionError(f"timed out waiting for {what}")


def payout_status(host, name):
	with host.pool.connection() as db:
		return payouts.get_payout(db, name)["status"]


def balances(host, driver="D1"):
	with host.pool.connection() as db:
		return (drivers.driver_balances(db, driver)["payable"], posting.balance(db, business.PAYOUTS_IN_FLIGHT),
			posting.balance(db, business.B2C_UTILITY))


def assert_books_clean(host):
	with host.pool.connection() as db:
		assert reconcile.reconcile(db)["discrepancies"] == 0


def test_requested_payout_is_paid_once_and_moves_the_money(open_host):
	with open_host() as host:
		fund_driver(host, amount="500.40")
		payout = staff(host, "request_payout", party_type="Fleet Driver", party="D1", idempotency_key="pay-1")
		assert (payout["amount"], payout["status"]) == ("500.00", "Queued")  # whole units; 0.40 stays payable
		again = staff(host, "request_payout", party_type="Fleet Driver", party="D1", idempotency_key="pay-1")
		assert again["name"] == payout["name"] and again["duplicate"] is True
		wait_for(lambda: payout_status(host, payout["name"]) == "Paid", what="Paid")
		paid = paid_by_gateway(host)
		assert [(p["OriginatorConversationID"], int(D(str(p["Amount"])))) for p in paid] == [(payout["originator_conversation_id"], 500)]
		assert balances(host) == (D("0.40"), D("0.00"), D("-500.00"))
		listed = staff(host, "list_payouts", party="D1")
		assert [(p["name"], p["status"], p["amount"]) for p in listed] == [(payout["name"], "Paid", "500.00")]
		assert staff(host, "get_payout", payout=payout["name"])["gateway_receipt"]
		assert_books_clean(host)


@pytest.mark.parametrize("outcome", ["success", "callback_before_ack", "duplicate_callback", "slow:1", "http_500", "timeout",
	"no_callback"])
def test_scenarios_that_end_paid_pay_exactly_once(open_host, host_kind, outcome):
	if host_kind == "frappe" and outcome in NEEDS_THE_SCHEDULER:
		pytest.skip("settled by a later dispatch or status sweep: the scheduler's job (standalone host only)")
	with open_host() as host:
		fund_driver(host, amount="300.00")
		scenario(host, outcome)
		payout = staff(host, "request_payout", party_type="Fleet Driver", party="D1", idempotency_key=f"p-{outcome}")
		wait_for(lambda: payout_status(host, payout["name"]) == "Paid", timeout=45, what=f"Paid after {outcome}")
		time.sleep(0.5)  # let any late duplicate callback arrive
		assert [p["OriginatorConversationID"] for p in paid_by_gateway(host)] == [payout["originator_conversation_id"]]
		assert balances(host) == (D("0.00"), D("0.00"), D("-300.00"))
		with host.pool.connection() as db:
			settled = db.sql("SELECT COUNT(*) AS n FROM `tabLedger Transaction` WHERE `transaction_type` = 'Payout Paid'")
			final = payouts.get_payout(db, payout["name"])
		assert int(settled[0]["n"]) == 1
		queried = [q["body"].get("OriginalConversationID") for q in
			requests.get(f"{host.gateway_url}/simulator/queries", timeout=10).json()]
		if outcome in ("timeout", "no_callback"):  # no result callback ever came: only the status query settles it
			assert payout["originator_conversation_id"] in queried
			assert final["result_desc"] == "Completed (Transaction Status)"
		assert_books_clean(host)


def test_a_failed_status_result_is_matched_to_its_payout_by_the_querys_conversation_id(db_url):
	"""A failed Transaction Status result names only the status query (its own OriginatorConversationID
	and ConversationID, no parameters); the payout it is about is found by the query's ConversationID
	kept on the payout, and treated as not found there: sent again with the same id, which the gateway
	refuses as a duplicate, so the next status query settles it. Paid once."""
	with payout_host(db_url) as host:
		fund_driver(host, amount="300.00")
		scenario(host, "timeout")  # accepted and paid, but only a queue timeout comes back: Unknown
		response = requests.post(f"{host.gateway_url}/simulator/scenario", json={"status": ["fail:2001"]}, timeout=10)
		assert response.status_code == 200, response.text
		payout = staff(host, "request_payout", party_type="Fleet Driver", party="D1", idempotency_key="p-status-fail")
		wait_for(lambda: payout_status(host, payout["name"]) == "Paid", timeout=45, what="Paid")
		ocid = payout["originator_conversation_id"]
		sent = [r["body"].get("OriginatorConversationID") for r in
			requests.get(f"{host.gateway_url}/simulator/requests", timeout=10).json()]
		assert sent == [ocid, ocid]  # sent again after the failed status result, refused as a duplicate
		assert [p["OriginatorConversationID"] for p in paid_by_gateway(host)] == [ocid]
		with host.pool.connection() as db:
			logs = db.sql("SELECT `status`, `reference`, `error` FROM `tabCallback Log`"
				" WHERE `endpoint` = 'transaction_status_result' ORDER BY `creation`")
			final = payouts.get_payout(db, payout["name"])
		assert logs[0]["status"] == "Processed" and logs[0]["reference"] == ocid, logs
		assert final["status_query_id"] and final["result_desc"] == "Completed (Transaction Status)"
		assert balances(host) == (D("0.00"), D("0.00"), D("-300.00"))
		assert_books_clean(host)


@pytest.mark.parametrize("code", ["2001", "1", "SFC_IC0003"])
def test_failed_payout_returns_the_money_and_a_staff_retry_pays_once(open_host, code):
	with open_host() as host:
		fund_driver(host, amount="200.00")
		scenario(host, f"fail:{code}")
		payout = staff(host, "request_payout", party_type="Fleet Driver", party="D1", idempotency_key="p-fail")
		wait_for(lambda: payout_status(host, payout["name"]) == "Failed", what="Failed")
		assert balances(host) == (D("200.00"), D("0.00"), D("0.00"))
		assert staff(host, "get_payout", payout=payout["name"])["result_code"] == code
		retried = staff(host, "retry_payout", payout=payout["name"], idempotency_key="retry-1")
		assert retried["retry_of"] == payout["name"] and retried["originator_conversation_id"] != payout["originator_conversation_id"]
		again = staff(host, "retry_payout", payout=payout["name"], idempotency_key="retry-1")
		assert again["name"] == retried["name"]
		wait_for(lambda: payout_status(host, retried["name"]) == "Paid", what="retry Paid")
		assert [p["OriginatorConversationID"] for p in paid_by_gateway(host)] == [retried["originator_conversation_id"]]
		assert balances(host) == (D("0.00"), D("0.00"), D("-200.00"))
		assert_books_clean(host)


def test_gateway_down_keeps_payouts_queued_opens_the_circuit_alerts_then_pays_once(db_url, caplog):
	caplog.set_level(logging.ERROR, logger="ledger_app.alerts")
	with payout_host(db_url, fail_max=3, reset_timeout=1.0) as host:
		for driver in ("D1", "D2", "D3"):
			fund_driver(host, driver, "150.00")
		scenario(host, default="http_500")
		names = [staff(host, "request_payout", party_type="Fleet Driver", party=d, idempotency_key=f"down-{d}")["name"]
			for d in ("D1", "D2", "D3")]
		wait_for(lambda: host.router.states()["daraja"] == "open", what="circuit open")
		assert any("circuit open" in r.getMessage() for r in caplog.records)
		time.sleep(0.5)
		assert {payout_status(host, n) for n in names} == {"Queued"}
		assert paid_by_gateway(host) == []
		scenario(host, default="success")
		wait_for(lambda: {payout_status(host, n) for n in names} == {"Paid"}, timeout=60, what="all Paid")
		paid = [p["OriginatorConversationID"] for p in paid_by_gateway(host)]
		assert len(paid) == 3 and len(set(paid)) == 3
		assert_books_clean(host)


def test_payout_jobs_without_a_gateway_are_a_quiet_no_op(db_url, caplog):
	"""The scheduler runs hooks.py's payout jobs on every tick, also on a host with no gateway
	configured (LEDGER_APP_GATEWAY_URL unset): they send nothing, raise nothing, log no error."""
	pool = make_pool(db_url)
	host = type("Host", (), {"pool": pool})()
	fund_driver(host, "D1", "150.00")
	with pool.connection() as db:
		queued = payouts.request_payout(db, "Fleet Driver", "D1", "no-gateway-1")
	caplog.set_level(logging.DEBUG)
	for path in ("ledger_app.jobs.dispatch_payouts", "ledger_app.jobs.sweep_payouts"):
		assert scheduler.run_job(Services(pool=pool), path) == 0
	assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
	assert payout_status(host, queued["name"]) == "Queued"
	pool.dispose()


def test_small_shares_accumulate_until_the_instant_payout_minimum(open_host):
	with open_host() as host:
		with host.pool.connection() as db:
			db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 1, "minimum_payout": "50",
				"target_sharing": 0}))
			drivers.upsert_driver(db, "D1", "Amina", "0712345678")
			drivers.upsert_vehicle(db, "V1", "A1", driver="D1")
		url = f"{host.base}/api/method/ledger_app.api.mpesa.c2b_confirmation"
		for i, amount in enumerate(["20.00", "25.50", "30.00"]):
			body = {"TransactionType": "Pay Bill", "TransID": f"QI{i}", "TransAmount": amount, "BillRefNumber": "A1",
				"TransTime": "20260301100000"}
			assert requests.post(url, params={"token": CALLBACK_TOKEN}, json=body, timeout=30).status_code == 200
		with host.pool.connection() as db:
			queued = payouts.list_payouts(db, "D1")
		assert [p["amount"] for p in queued] == [D("75.00")]  # queued at the third fare: 75.50 payable, whole units
		wait_for(lambda: payout_status(host, queued[0]["name"]) == "Paid", what="instant payout Paid")
		assert balances(host)[0] == D("0.50")
		assert_books_clean(host)


@pytest.mark.parametrize("payload, status", [
	({"party_type": "Fleet Driver", "party": "D1", "idempotency_key": "x", "amount": "5"}, 417),
	({"party_type": "Fleet Driver", "party": "D1", "idempotency_key": "x", "amount": "10.50"}, 417),
	({"party_type": "Fleet Driver", "party": "D1", "idempotency_key": "x", "amount": "900"}, 417),
	({"party_type": "Client", "party": "D1", "idempotency_key": "x"}, 417),
	({"party_type": "Fleet Driver", "party": "ghost", "idempotency_key": "x"}, 404),
	({"party_type": "Fleet Driver", "party": "D1"}, 417),
], ids=["below-minimum", "cents", "more-than-payable", "unsupported-party", "unknown-driver", "no-key"])
def test_bad_payout_requests_are_refused_and_write_nothing(open_host, payload, status):
	with open_host() as host:
		fund_driver(host, amount="100.00")
		response = requests.post(f"{host.base}/api/method/ledger_app.api.payouts.request_payout", json=payload, headers=AUTH,
			timeout=30)
		assert response.status_code == status, response.text
		with host.pool.connection() as db:
			assert payouts.list_payouts(db) == []
		assert balances(host)[0] == D("100.00")


def b2c_result_body(ocid, amount, code=0):
	"""A B2C result callback as Daraja sends it (its TransactionAmount a JSON number)."""
	result = {"ResultType": 0, "ResultCode": code, "ResultDesc": "The service request is processed successfully.",
		"OriginatorConversationID": ocid, "ConversationID": f"AG_{ocid[-8:]}", "TransactionID": "SG632NMUAB"}
	if code == 0:
		result["ResultParameters"] = {"ResultParameter": [{"Key": "TransactionAmount", "Value": amount},
			{"Key": "TransactionReceipt", "Value": "SG632NMUAB"}]}
	return {"Result": result}


def test_a_b2c_result_for_another_amount_is_recorded_and_logged_as_an_alerted_mismatch(served, host_kind, caplog):
	"""Issue 11 row 10: the result settles the payout as it says (for the payout's own amount: no
	other money moves), and its log row says Mismatch with both amounts, and an alert is raised."""
	base, pool = served(callback_token=CALLBACK_TOKEN)
	caplog.set_level(logging.WARNING, logger="ledger_app.alerts")
	host = type("Host", (), {"base": base, "pool": pool})()
	fund_driver(host, amount="500.00")
	with pool.connection() as db:  # queued by the engine: no gateway is configured, so it waits Queued
		payout = payouts.request_payout(db, "Fleet Driver", "D1", "pay-mismatch")
	ocid = payout["originator_conversation_id"]
	url = f"{base}/api/method/ledger_app.api.daraja.b2c_result"
	for amount in (450, 450, 500):
		answer = requests.post(url, params={"token": CALLBACK_TOKEN}, json=b2c_result_body(ocid, amount), timeout=30)
		assert answer.status_code == 200 and answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}, answer.text
	assert payout_status(host, payout["name"]) == "Paid"
	assert balances(host) == (D("0.00"), D("0.00"), D("-500.00"))  # the payout's 500, once
	with pool.connection() as db:
		logs = db.sql("SELECT `status`, `error`, `reference` FROM `tabCallback Log` WHERE `endpoint` = 'b2c_result'"
			" ORDER BY `creation`, `modified`")
	assert [(r["status"], r["reference"]) for r in logs] == [("Mismatch", ocid), ("Mismatch", ocid), ("Processed", ocid)]
	mismatch = logs[0]["error"]
	assert mismatch == (f"mismatch: payout {payout['name']} ({ocid}) is 500.00 but the gateway's result says 450;"
		" the ledger moved 500.00")
	assert logs[2]["error"] == "duplicate"
	assert_books_clean(host)
	if host_kind != "frappe":  # the alert is the engine's log line, in this process when the host is
		assert [r.getMessage() for r in caplog.records if r.name == "ledger_app.alerts"] == [mismatch] * 2


def test_a_staff_payout_key_never_shadows_an_instant_payout(served):
	"""Issue 11 row 2, for payouts: a staff request keyed like the instant payout of a later TransID
	(``instant:`` and the TransID) leaves that instant payout to be queued."""
	base, pool = served(callback_token=CALLBACK_TOKEN)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 1, "minimum_payout": "50",
			"target_sharing": 0}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "V1", "A1", driver="D1")
	url = f"{base}/api/method/ledger_app.api.mpesa.c2b_confirmation"
	fare = {"TransactionType": "Pay Bill", "TransAmount": "60.00", "BillRefNumber": "A1", "TransTime": "20260301100000"}
	with pool.connection() as db:  # a share below the minimum, then a staff request of it under the later key
		drivers.confirm_c2b(db, drivers.parse_c2b({**fare, "TransAmount": "40.00", "TransID": "QIP0"}))
		db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 0}))
	staff_payout = requests.post(f"{base}/api/method/ledger_app.api.payouts.request_payout", headers=AUTH, timeout=30,
		json={"party_type": "Fleet Driver", "party": "D1", "idempotency_key": "instant:QIP1"})
	assert staff_payout.status_code == 200 and staff_payout.json()["message"]["amount"] == "40.00", staff_payout.text
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 1}))
	assert requests.post(url, params={"token": CALLBACK_TOKEN}, json={**fare, "TransID": "QIP1"}, timeout=30).json() == {
		"ResultCode": 0, "ResultDesc": "Success"}
	with pool.connection() as db:
		queued = sorted((p["idempotency_key"], p["key_scope"], p["amount"]) for p in payouts.list_payouts(db, "D1"))
		assert queued == [("instant:QIP1", payouts.INSTANT_PAYOUT, D("60.00")), ("instant:QIP1", payouts.STAFF_PAYOUT, D("40.00"))]
		assert drivers.driver_balances(db, "D1")["payable"] == D("0.00")
		assert reconcile.reconcile(db)["discrepancies"] == 0
