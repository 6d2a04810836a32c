"""Crash tests with real processes, on every backend: the payout worker SIGKILLed after the claim
commit and after the gateway accepted but before its answer was stored, the server SIGKILLed after a
result callback was applied but before it committed, and in the middle of a confirmation that queues
a payout.  After restarts, for 500 payouts: the simulator paid each exactly once, none is stuck,
nothing is left in flight, and every driver's payable + paid equals the shares posted."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import requests

from ledger_app.engine import business, drivers, payouts, posting, reconcile, settings
from ledger_app.gateways import simulator as sim
from tests.support import CALLBACK_TOKEN, free_port, ledger_app_command, make_pool, server_process

D = Decimal
DRIVERS = 50
PAYOUTS_PER_DRIVER = 10
PAYOUT_AMOUNT = D("20")
FAST = {"LEDGER_APP_PAYOUT_RETRY_BACKOFF": "0.5", "LEDGER_APP_PAYOUT_RESULT_WAIT": "3",
	"LEDGER_APP_PAYOUT_STATUS_QUERY_INTERVAL": "1"}


@contextmanager
def worker_process(db_url, gateway_url, public_url, **env):
	process = subprocess.Popen([*ledger_app_command(), "worker", "--db", db_url, "--interval", "0.2"],
		stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
		env={**os.environ, **FAST, "LEDGER_APP_GATEWAY_URL": gateway_url, "LEDGER_APP_PUBLIC_URL": public_url,
			"LEDGER_APP_CALLBACK_TOKEN": CALLBACK_TOKEN, **env})
	try:
		yield process
	finally:
		if process.poll() is None:
			process.terminate()
			process.wait(timeout=30)


def statuses(pool) -> dict:
	with pool.connection() as db:
		return payouts.status_counts(db)


def is_down(base) -> bool:
	try:
		requests.get(base + "/api/method/ping", timeout=2)
	except requests.ConnectionError:
		return True
	return False


def wait_until(predicate, timeout, what):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if predicate():
			return
		time.sleep(0.3)
	raise AssertionError(f"timed out waiting for {what}")


def test_payouts_survive_sigkill_at_every_step_and_pay_exactly_once(db_url):
	pool = make_pool(db_url)
	names = [f"C{i:03d}" for i in range(DRIVERS)]
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"target_sharing": 0}))
		for driver in names:
			drivers.upsert_driver(db, driver, f"Driver {driver}", "0712345678")
			drivers.upsert_vehicle(db, f"V{driver}", f"A{driver}", driver=driver)
			drivers.confirm_c2b(db, drivers.parse_c2b({"TransactionType": "Pay Bill", "TransID": f"QC{driver}",
				"TransAmount": str(PAYOUT_AMOUNT * PAYOUTS_PER_DRIVER), "BillRefNumber": f"A{driver}",
				"TransTime": "20260301100000"}))
			for n in range(PAYOUTS_PER_DRIVER):
				db.run_in_transaction(lambda db, d=driver, n=n: payouts.queue_payout(db, party_type="Fleet Driver", party=d,
					phone="254712345678", idempotency_key=f"crash:{d}:{n}", amount=PAYOUT_AMOUNT))
	simulator, sim_thread = sim.serve("127.0.0.1", 0)
	gateway = f"http://127.0.0.1:{simulator.effective_port}"
	port = free_port()
	public = f"http://127.0.0.1:{port}"
	serve_env = {**FAST, "LEDGER_APP_PUBLIC_URL": public}
	try:
		with server_process(db_url, "--no-scheduler", "--no-worker", port=port, env=serve_env):
			# 1. killed right after a claim committed: those payouts were never sent
			with worker_process(db_url, gateway, public, LEDGER_APP_CRASH_AT="after_claim", LEDGER_APP_CRASH_AFTER="3") as w:
				assert w.wait(timeout=120) == -9
			# 2. killed after the gateway accepted a payout, before its answer was stored
			with worker_process(db_url, gateway, public, LEDGER_APP_CRASH_AT="after_gateway_accepted",
					LEDGER_APP_CRASH_AFTER="40") as w:
				assert w.wait(timeout=120) == -9
		# 3. the server killed after applying a result callback, before committing it
		with server_process(db_url, "--no-scheduler", "--no-worker", port=port,
				env={**serve_env, "LEDGER_APP_CRASH_AT": "before_result_commit", "LEDGER_APP_CRASH_AFTER": "25"}) as base:
			with worker_process(db_url, gateway, public):
				wait_until(lambda: is_down(base), 120, "the server's crash")
		# restart everything normally: every payout ends Paid, exactly once
		with server_process(db_url, "--no-scheduler", "--no-worker", port=port, env=serve_env):
			with worker_process(db_url, gateway, public):
				wait_until(lambda: statuses(pool) == {"Paid": DRIVERS * PAYOUTS_PER_DRIVER}, 300,
					f"all payouts Paid (now {statuses(pool)})")
		paid = requests.get(f"{gateway}/simulator/payments", timeout=10).json()
		ids = [p["OriginatorConversationID"] for p in paid]
		assert len(ids) == DRIVERS * PAYOUTS_PER_DRIVER and len(set(ids)) == len(ids)
		with pool.connection() as db:
			assert posting.balance(db, business.PAYOUTS_IN_FLIGHT) == 0
			for driver in names:
				payable = drivers.driver_balances(db, driver)["payable"]
				paid_out = sum((p["amount"] for p in payouts.list_payouts(db, driver, "Paid")), D(0))
				assert payable + paid_out == PAYOUT_AMOUNT * PAYOUTS_PER_DRIVER
			assert reconcile.reconcile(db)["discrepancies"] == 0
	finally:
		sim.stop(simulator, sim_thread)
		pool.dispose()


def test_server_killed_mid_confirmation_that_queues_a_payout_loses_and_doubles_nothing(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"target_sharing": 0, "instant_payouts": 1,
			"minimum_payout": "10"}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "V1", "A1", driver="D1")
		drivers.run_daily_targets(db, date(2026, 3, 1))
	body = {"TransactionType": "Pay Bill", "TransID": "QKILL1", "TransAmount": "120.00", "BillRefNumber": "A1",
		"TransTime": "20260301100000"}
	port = free_port()
	url = f"http://127.0.0.1:{port}/api/method/ledger_app.api.mpesa.c2b_confirmation"
	with server_process(db_url, "--no-scheduler", "--no-worker", port=port,
			env={"LEDGER_APP_CRASH_AT": "before_confirmation_commit"}):
		try:
			requests.post(url, params={"token": CALLBACK_TOKEN}, json=body, timeout=30)
			raise AssertionError("the server should have died mid-confirmation")
		except requests.ConnectionError:
			pass
	with pool.connection() as db:
		assert payouts.list_payouts(db) == [] and drivers.driver_balances(db, "D1")["payable"] == 0
		# the raw body was kept; its Processed outcome died with the payment's transaction
		assert [r["status"] for r in db.sql("SELECT `status` FROM `tabCallback Log`")] == ["Received"]
	with server_process(db_url, "--no-scheduler", "--no-worker", port=port):
		for _ in range(2):  # Daraja resends; the second is a duplicate
			answer = requests.post(url, params={"token": CALLBACK_TOKEN}, json=body, timeout=30)
			assert answer.json() == {"ResultCode": 0, "ResultDesc": "Success"}
	with pool.connection() as db:
		queued = payouts.list_payouts(db)
		assert [(p["amount"], p["status"]) for p in queued] == [(D("120.00"), "Queued")]
		assert drivers.driver_balances(db, "D1")["payable"] == 0
		assert posting.balance(db, business.PAYOUTS_IN_FLIGHT) == D("120.00")
		logs = db.sql("SELECT `status`, `error` FROM `tabCallback Log` ORDER BY `creation`")
		assert [(r["status"], r["error"]) for r in logs] == [("Received", None), ("Processed", None), ("Processed", "duplicate")]
		assert reconcile.reconcile(db)["discrepancies"] == 0
	pool.dispose()


def test_two_worker_processes_never_claim_the_same_payout(db_url, backend):
	if backend == "sqlite":
		import pytest

		pytest.skip("SQLite has one writer: claims are serialized by its lock; SKIP LOCKED is a MariaDB/PostgreSQL matter")
	pool = make_pool(db_url)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"target_sharing": 0}))
		for i in range(20):
			driver = f"W{i:02d}"
			drivers.upsert_driver(db, driver, f"Driver {driver}", "0712345678")
			drivers.upsert_vehicle(db, f"V{driver}", f"A{driver}", driver=driver)
			drivers.confirm_c2b(db, drivers.parse_c2b({"TransactionType": "Pay Bill", "TransID": f"QW{driver}",
				"TransAmount": "200.00", "BillRefNumber": f"A{driver}", "TransTime": "20260301100000"}))
			for n in range(10):
				db.run_in_transaction(lambda db, d=driver, n=n: payouts.queue_payout(db, party_type="Fleet Driver", party=d,
					phone="254712345678", idempotency_key=f"two:{d}:{n}", amount=D("20")))
	simulator, sim_thread = sim.serve("127.0.0.1", 0)
	gateway = f"http://127.0.0.1:{simulator.effective_port}"
	port = free_port()
	public = f"http://127.0.0.1:{port}"
	try:
		with server_process(db_url, "--no-scheduler", "--no-worker", port=port, env={**FAST, "LEDGER_APP_PUBLIC_URL": public}):
			with worker_process(db_url, gateway, public), worker_process(db_url, gateway, public):
				wait_until(lambda: statuses(pool) == {"Paid": 200}, 180, f"all payouts Paid (now {statuses(pool)})")
		sent = [r["OriginatorConversationID"] for r in requests.get(f"{gateway}/simulator/requests", timeout=10).json()]
		assert len(sent) == 200 and len(set(sent)) == 200  # each payout sent once: never claimed twice
		with pool.connection() as db:
			claimers = db.sql("SELECT COUNT(*) AS n FROM `tabPayout` WHERE `attempts` <> 1")
		assert int(claimers[0]["n"]) == 0
	finally:
		sim.stop(simulator, sim_thread)
		pool.dispose()


def test_profit_withdrawal_killed_between_commit_and_payout_is_paid_once(db_url):
	import signal

	from ledger_app.engine import clients
	from tests.support import AUTH

	pool = make_pool(db_url)
	with pool.connection() as db:
		clients.upsert_client(db, "CLK", "Kamau", "0722000004")
		clients.upsert_client_exchange(db, "CLK-X", "CLK", "Binance", "10", "10")
		clients.fund(db, "CLK-X", "1000.00", "fund")
	simulator, sim_thread = sim.serve("127.0.0.1", 0)
	gateway = f"http://127.0.0.1:{simulator.effective_port}"
	port = free_port()
	public = f"http://127.0.0.1:{port}"
	trigger = {"client_exchange": "CLK-X", "date": "2026-03-01", "remaining_balance": "1300.00", "idempotency_key": "pw-kill"}
	url = f"{public}/api/method/ledger_app.api.clients.record_balance"
	try:
		server = subprocess.Popen([*ledger_app_command(), "serve", "--db", db_url, "--port", str(port), "--no-scheduler",
			"--no-worker"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
			env={**os.environ, "LEDGER_APP_API_KEY": "test-key", "LEDGER_APP_API_SECRET": "test-secret"})
		assert "listening on" in server.stdout.readline()
		first = requests.post(url, json=trigger, headers=AUTH, timeout=30)
		assert first.status_code == 200, first.text
		server.send_signal(signal.SIGKILL)  # committed, the payout not sent yet
		server.wait(timeout=30)
		with server_process(db_url, "--no-scheduler", "--no-worker", port=port, env={**FAST, "LEDGER_APP_PUBLIC_URL": public}):
			again = requests.post(url, json=trigger, headers=AUTH, timeout=30).json()["message"]
			assert again["duplicate"] is True and again["payout"] == first.json()["message"]["payout"]
			with worker_process(db_url, gateway, public):
				wait_until(lambda: statuses(pool) == {"Paid": 1}, 60, f"the withdrawal paid (now {statuses(pool)})")
		paid = requests.get(f"{gateway}/simulator/payments", timeout=10).json()
		assert [(p["Amount"], p["PartyB"]) for p in paid] in ([("300", "254722000004")], [("300.00", "254722000004")],
			[(300, "254722000004")])
		with pool.connection() as db:
			assert posting.balance(db, business.PAYOUTS_IN_FLIGHT) == 0
			assert reconcile.reconcile(db)["discrepancies"] == 0
	finally:
		sim.stop(simulator, sim_thread)
		pool.dispose()
