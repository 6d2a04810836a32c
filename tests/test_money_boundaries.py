"""Money exactly at its boundaries, over real HTTP on every backend and the Frappe site: half-cent
ties in the settlement and fare splits round half up (README "Client exchanges", SPEC §4 and §8),
an instant or staff payout exactly at its minimum is paid, a driver who paid exactly the daily
target has not missed it, and re-running a day never counts it twice (a zero target included).

Each test is named after the rule it holds; each fails when that rule's comparison or rounding is
changed by one token (half-even for half-up, ``<=`` for ``<``, ``>`` for ``>=``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from ledger_app.engine import drivers, payouts, reconcile, settings
from ledger_app.engine.clients import payable_share, settlement_split
from ledger_app.engine.drivers import split_fare
from tests.support import CALLBACK_TOKEN, call, ok

D = Decimal
CONFIRMATION = "/api/method/ledger_app.api.mpesa.c2b_confirmation"


# --- the arithmetic alone: every rounding of the splits at a half-cent tie ------------------------


@pytest.mark.parametrize("payment, loss, my, company, closed, mine, theirs", [
	# your_share = 0.05 * 1 / 2 = 0.025: half up gives the 0.005 to me (half-even would give 0.02)
	("0.05", "1000.00", "1", "1", "2.50", "0.03", "0.02"),
	# capital_closed = 0.01 * 100 / 8 = 0.125: half up closes 0.13 (half-even 0.12)
	("0.01", "1000.00", "2", "6", "0.13", "0.00", "0.01"),
	# your_share = 0.15 * 1 / 2 = 0.075 and capital_closed = 0.15 * 100 / 2 = 7.50: 0.08 / 0.07
	("0.15", "1000.00", "1", "1", "7.50", "0.08", "0.07"),
], ids=["your-share-tie", "capital-closed-tie", "your-share-odd-tie"])
def test_settlement_ties_round_half_up(payment, loss, my, company, closed, mine, theirs):
	split = settlement_split(D(payment), D(loss), D(my), D(company))
	assert (split.capital_closed, split.your_share, split.company_share) == (D(closed), D(mine), D(theirs))


def test_payable_share_tie_rounds_half_up():
	"""0.50 at 1 % is 0.005 payable: half up makes it 0.01, so the loss can still be paid."""
	assert payable_share(D("0.50"), D("1")) == D("0.01")
	assert payable_share(D("0.50"), D("3")) == D("0.02")  # 0.015


@pytest.mark.parametrize("amount, fare_pct, contribution, share", [
	("0.25", "50", "0.13", "0.12"),  # company cut 0.125
	("100.01", "50", "50.01", "50.00"),  # company cut 50.005
	("0.05", "90", "0.01", "0.04"),  # company cut 0.005
], ids=["0.125", "50.005", "0.005"])
def test_fare_split_ties_round_the_company_cut_half_up(amount, fare_pct, contribution, share):
	split = split_fare(D(amount), D("1000.00"), D(fare_pct), True)
	assert (split.contribution, split.driver_share) == (D(contribution), D(share))


# --- the same ties through each host and database ---------------------------------------------------


@pytest.fixture
def exchange(served):
	"""A client exchange at 1 % + 1 % with a frozen loss of 1000.00 (20.00 payable)."""
	base, pool = served()
	ok(call(base, "ledger_app.api.clients.upsert_client", {"client": "C1", "client_name": "Wanjiku", "phone": "0722000001"}))
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-BIN", "client": "C1",
		"exchange": "Binance", "my_share_pct": "1", "company_share_pct": "1"}))
	ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "2000.00", "idempotency_key": "f1"}))
	ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-01",
		"remaining_balance": "1000.00", "idempotency_key": "b1"}))
	return base, pool


def settle(base, amount, key, exchange="C1-BIN"):
	settled = ok(call(base, "ledger_app.api.clients.settle", {"client_exchange": exchange, "amount": amount,
		"idempotency_key": key}))
	return settled["capital_closed"], settled["your_share"], settled["company_share"]


def position(base, exchange="C1-BIN"):
	return ok(call(base, "ledger_app.api.clients.get_position", {"client_exchange": exchange}, http="GET"))


def test_a_settlement_tie_gives_the_half_cent_to_my_share(exchange):
	"""0.05 at 1 % + 1 %: my share 0.025 rounds up to 0.03, the company's is 0.02 (issue 12)."""
	base, pool = exchange
	assert settle(base, "0.05", "s1") == ("2.50", "0.03", "0.02")
	assert settle(base, "0.15", "s2") == ("7.50", "0.08", "0.07")
	assert position(base) == {"capital": "1990.00", "active_loss": "1000.00", "remaining_loss": "990.00",
		"your_share_total": "0.11", "company_share_total": "0.09"}
	with pool.connection() as db:
		assert reconcile.reconcile(db)["discrepancies"] == 0


def test_a_capital_closed_tie_closes_the_half_cent(exchange):
	"""At 2 % + 6 % a payment of 0.01 covers 0.125 of capital: 0.13 is closed, and 0.01 more (0.25
	of capital, no tie) closes 0.25."""
	base, pool = exchange
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-KRK", "client": "C1",
		"exchange": "Kraken", "my_share_pct": "2", "company_share_pct": "6"}))
	ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-KRK", "amount": "100.00", "idempotency_key": "f2"}))
	ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-KRK", "date": "2026-03-01",
		"remaining_balance": "0.00", "idempotency_key": "b2"}))
	assert settle(base, "0.01", "k1", "C1-KRK") == ("0.13", "0.00", "0.01")
	assert settle(base, "0.02", "k2", "C1-KRK") == ("0.25", "0.01", "0.01")
	assert position(base, "C1-KRK") == {"capital": "99.62", "active_loss": "100.00", "remaining_loss": "99.62",
		"your_share_total": "0.01", "company_share_total": "0.02"}
	with pool.connection() as db:
		assert reconcile.reconcile(db)["discrepancies"] == 0


def test_a_loss_whose_payable_share_is_a_half_cent_stays_open_and_is_paid_with_a_cent(exchange):
	"""A loss of 0.50 at 1 % has 0.005 payable, which rounds up to 0.01: the loss stays open until a
	payment of 0.01 settles (and closes) it."""
	base, _ = exchange
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-OKX", "client": "C1",
		"exchange": "OKX", "my_share_pct": "0.5", "company_share_pct": "0.5"}))
	ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-OKX", "amount": "1.00", "idempotency_key": "f3"}))
	ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-OKX", "date": "2026-03-01",
		"remaining_balance": "0.50", "idempotency_key": "b3"}))
	assert position(base, "C1-OKX")["remaining_loss"] == "0.50"
	assert settle(base, "0.01", "o1", "C1-OKX") == ("0.50", "0.01", "0.00")
	assert position(base, "C1-OKX") == {"capital": "0.50", "active_loss": "0.00", "remaining_loss": "0.00",
		"your_share_total": "0.01", "company_share_total": "0.00"}


def fare(base, trans_id, amount, account="K001"):
	response = requests.post(base + CONFIRMATION, params={"token": CALLBACK_TOKEN}, timeout=30, json={
		"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500", "TransAmount": amount,
		"BusinessShortCode": "600000", "BillRefNumber": account, "MSISDN": "2547 ***** 126", "FirstName": "A"})
	assert response.status_code == 200 and response.json() == {"ResultCode": 0, "ResultDesc": "Success"}, response.text


@pytest.fixture
def fleet(served):
	"""One driver D1 (vehicle account K001) at 50 % of each fare, target sharing on, no instant payouts."""
	base, pool = served(callback_token=CALLBACK_TOKEN)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "1000", "global_fare_pct": "50",
			"target_sharing": 1, "instant_payouts": 0, "miss_threshold": 2}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
	return base, pool


def driver_balances(base, driver="D1"):
	return ok(call(base, "ledger_app.api.drivers.get_driver_balances", {"driver": driver}, http="GET"))


def test_a_fare_split_tie_gives_the_half_cent_to_the_company(fleet):
	"""Fares of 0.25 and 100.01 at 50 %: company cuts of 0.125 and 50.005 round up to 0.13 and 50.01."""
	base, pool = fleet
	ok(call(base, "ledger_app.api.drivers.run_daily_targets", {"date": "2026-03-01"}))
	fare(base, "QT1", "0.25")
	assert driver_balances(base) == {"target_outstanding": "999.87", "payable": "0.12", "deposit": "0.00"}
	fare(base, "QT2", "100.01")
	assert driver_balances(base) == {"target_outstanding": "949.86", "payable": "50.12", "deposit": "0.00"}
	with pool.connection() as db:
		assert reconcile.reconcile(db)["discrepancies"] == 0


# --- payout minimums: exactly the minimum is paid ------------------------------------------------------


def test_an_instant_payout_is_queued_when_the_payable_reaches_exactly_the_minimum(fleet):
	"""Minimum 50: a payable of 49.99 waits; one more cent makes it exactly 50.00, which is paid."""
	base, pool = fleet
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 1, "minimum_payout": "50",
			"target_sharing": 0}))
	fare(base, "QM1", "49.99")
	with pool.connection() as db:
		assert payouts.list_payouts(db, "D1") == []
	fare(base, "QM2", "0.01")
	with pool.connection() as db:
		queued = payouts.list_payouts(db, "D1")
		assert [(p["amount"], p["idempotency_key"]) for p in queued] == [(D("50.00"), "instant:QM2")]
		assert drivers.driver_balances(db, "D1")["payable"] == D("0.00")


def test_a_staff_payout_of_exactly_the_b2c_minimum_is_paid(fleet):
	"""M-Pesa's B2C minimum is 10: a payable of exactly 10.00 is paid out whole, an amount of
	exactly 10 is accepted, and 9 is refused."""
	base, pool = fleet
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"target_sharing": 0}))
	fare(base, "QB1", str(payouts.B2C_MINIMUM))
	whole = ok(call(base, "ledger_app.api.payouts.request_payout", {"party_type": "Fleet Driver", "party": "D1",
		"idempotency_key": "p-whole"}))
	assert whole["amount"] == "10.00"
	fare(base, "QB2", "19.00")
	refused = call(base, "ledger_app.api.payouts.request_payout", {"party_type": "Fleet Driver", "party": "D1",
		"idempotency_key": "p-nine", "amount": "9"})
	assert refused.status_code == 417, refused.text
	exact = ok(call(base, "ledger_app.api.payouts.request_payout", {"party_type": "Fleet Driver", "party": "D1",
		"idempotency_key": "p-ten", "amount": "10"}))
	assert exact["amount"] == "10.00"
	assert driver_balances(base)["payable"] == "9.00"


# --- daily targets: exactly paid is not missed; a day is counted once ---------------------------


def driver_row(pool, driver="D1"):
	with pool.connection() as db:
		row = db.sql("SELECT `consecutive_misses`, `flagged` FROM `tabFleet Driver` WHERE `name` = %(n)s", {"n": driver})[0]
	return int(row["consecutive_misses"] or 0), int(row["flagged"] or 0)


def run_day(base, day):
	return ok(call(base, "ledger_app.api.drivers.run_daily_targets", {"date": day}))


def test_a_driver_who_paid_exactly_the_target_has_not_missed_it(fleet):
	"""Target 1000: a repayment of exactly 1000 leaves 0.00 outstanding, so the next day is not a miss."""
	base, pool = fleet
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"miss_threshold": 1}))
	run_day(base, "2026-03-01")
	fare(base, "QR1", "1000.00", account="D1")  # the driver's own id as the account: a repayment
	assert driver_balances(base) == {"target_outstanding": "0.00", "payable": "0.00", "deposit": "0.00"}
	assert run_day(base, "2026-03-02")["newly_flagged"] == 0
	assert driver_row(pool) == (0, 0)


def test_missing_the_target_exactly_threshold_days_in_a_row_flags_the_driver(fleet):
	base, pool = fleet
	run_day(base, "2026-03-01")
	assert run_day(base, "2026-03-02")["newly_flagged"] == 0
	assert driver_row(pool) == (1, 0)
	assert run_day(base, "2026-03-03")["newly_flagged"] == 1  # 2 misses, the threshold
	assert driver_row(pool) == (2, 1)


@pytest.mark.parametrize("target", ["1000", "0"], ids=["target", "zero-target"])
def test_re_running_a_day_neither_counts_it_again_nor_flags_the_driver(fleet, target):
	"""Outstanding from day 1, then the day 2 run twice: one miss, not two, and no flag at the
	threshold of 2, whether day 2's target is 1000 or zero (nothing posted to recognise the repeat by)."""
	base, pool = fleet
	run_day(base, "2026-03-01")
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": target}))
	first = run_day(base, "2026-03-02")
	again = run_day(base, "2026-03-02")
	assert (first["charged"], first["skipped"], first["newly_flagged"]) == (1, 0, 0)
	assert (again["charged"], again["skipped"], again["newly_flagged"]) == (0, 1, 0)
	assert driver_row(pool) == (1, 0)
	outstanding = D("1000.00") + D(target)
	assert driver_balances(base)["target_outstanding"] == str(outstanding.quantize(D("0.01")))
