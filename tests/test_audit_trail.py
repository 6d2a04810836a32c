"""Every money action records who asked for it and why: each flow's Ledger Transaction carries the
user the door passed (its ``owner``) and a remark naming what it is, and the rows a flow writes beside
it (a payout, an assignment, a reconcile fix) say who and when.  Engine level, on every backend."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger_app.engine import clients, drivers, payouts, posting, reconcile, settings
from ledger_app.engine.drivers import parse_c2b
from ledger_app.engine.txn_types import Leg
from tests.support import drift_cash, make_pool, open_accounts

D = Decimal
STAFF = "manager@example.com"


@pytest.fixture
def db(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "100",
			"global_fare_pct": "50", "target_sharing": 1}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
		clients.upsert_client(db, "CL1", "Wanjiku", "0722000001")
		clients.upsert_client_exchange(db, "CL1-BIN", "CL1", "Binance", "1", "9")
		yield db
	pool.dispose()


def recorded(db, transaction: str) -> tuple[str, str]:
	[row] = db.sql("SELECT `owner`, `modified_by`, `remarks` FROM `tabLedger Transaction` WHERE `name` = %(n)s",
		{"n": transaction})
	assert row["owner"] == row["modified_by"]
	return row["owner"], row["remarks"]


def pay(db, trans_id, amount, account, user):
	body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500", "TransAmount": amount,
		"BusinessShortCode": "600000", "BillRefNumber": account, "MSISDN": "254712000126"}
	return drivers.confirm_c2b(db, parse_c2b(body), user=user)


def test_a_journal_and_its_reversal_record_their_user_and_remarks(db):
	open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
	journal = posting.post_journal(db, "j1", [Leg("Cash", D("5.00")), Leg("Sales", D("-5.00"))], remarks="till 3",
		user=STAFF)
	assert recorded(db, journal.name) == (STAFF, "till 3")
	reversal = posting.reverse_transaction(db, journal.name, "r1", remarks="typed twice", user="clerk@example.com")
	assert recorded(db, reversal.name) == ("clerk@example.com", "typed twice")


def test_a_reversal_without_remarks_says_what_it_reverses(db):
	open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
	journal = posting.post_journal(db, "j1", [Leg("Cash", D("5.00")), Leg("Sales", D("-5.00"))], user=STAFF)
	reversal = posting.reverse_transaction(db, journal.name, "r1", user=STAFF)
	assert recorded(db, reversal.name) == (STAFF, f"Reversal of {journal.name}")


def test_c2b_payments_record_the_gateway_user_and_what_they_were(db):
	drivers.run_daily_targets(db, date(2026, 3, 1), user="Scheduler")
	repayment = pay(db, "QR1", "50.00", "D1", "Guest")
	unmatched = pay(db, "QU1", "30.00", "NOSUCH", "Guest")
	assert recorded(db, repayment.transaction) == ("Guest", "Repayment QR1 by D1")
	assert recorded(db, unmatched.transaction) == ("Guest", "Unmatched C2B QU1 account NOSUCH")


def test_a_daily_target_charge_records_who_ran_it_and_the_day(db):
	drivers.run_daily_targets(db, date(2026, 3, 1), user="Scheduler")
	[row] = db.sql("SELECT `name` FROM `tabLedger Transaction` WHERE `transaction_type` = 'Daily Target'")
	assert recorded(db, row["name"]) == ("Scheduler", "Daily target 2026-03-01 for D1")


def test_a_missed_payment_and_an_assignment_record_the_staff_who_did_them(db):
	missed = drivers.record_missed_payment(db, "QM1", "40.00", "NOSUCH", "20260301101500", "254712000126", user=STAFF)
	assert recorded(db, missed.transaction)[0] == STAFF
	[unmatched] = drivers.list_unmatched(db)
	assigned = drivers.assign_unmatched(db, unmatched["name"], "D1", user="clerk@example.com")
	assert recorded(db, assigned["transaction"]) == ("clerk@example.com", "Assignment of unmatched QM1 to D1")
	[row] = db.sql("SELECT `assigned_by`, `assigned_at` FROM `tabUnmatched Payment` WHERE `name` = %(n)s",
		{"n": unmatched["name"]})
	assert row["assigned_by"] == "clerk@example.com" and row["assigned_at"] is not None


def test_a_refund_request_records_the_staff_who_asked(db):
	pay(db, "QU2", "30.00", "NOSUCH", "Guest")
	[unmatched] = drivers.list_unmatched(db)
	drivers.request_unmatched_refund(db, unmatched["name"], user=STAFF)
	[row] = db.sql("SELECT `modified_by`, `status` FROM `tabUnmatched Payment` WHERE `name` = %(n)s", {"n": unmatched["name"]})
	assert (row["modified_by"], row["status"]) == (STAFF, "Refund Requested")


def test_a_settlement_and_a_profit_withdrawal_record_the_staff_and_what_they_were(db):
	clients.fund(db, "CL1-BIN", "1000.00", "fund-1", user=STAFF)
	clients.record_balance(db, "CL1-BIN", "2026-03-01", "800.00", "bal-1", user=STAFF)
	settled = clients.settle(db, "CL1-BIN", "20.00", "settle-1", user="clerk@example.com")  # the whole 10 % of 200
	assert recorded(db, settled["ledger_transaction"]) == ("clerk@example.com",
		f"Settlement of CL1-BIN's loss {settled['loss_snapshot']}")
	[row] = db.sql("SELECT `owner`, `parent`, `parenttype`, `parentfield`, `idx` FROM `tabLoss Settlement`")
	assert row == {"owner": "clerk@example.com", "parent": settled["loss_snapshot"], "parenttype": "Loss Snapshot",
		"parentfield": "settlements", "idx": 1}
	profit = clients.record_balance(db, "CL1-BIN", "2026-03-02", "1300.00", "bal-2", user=STAFF)
	[row] = db.sql("SELECT `withdrawal_transaction` FROM `tabBalance Record` WHERE `name` = %(n)s", {"n": profit["name"]})
	assert recorded(db, row["withdrawal_transaction"]) == (STAFF, f"Profit withdrawal of CL1-BIN ({profit['name']})")
	[payout] = db.sql("SELECT `owner` FROM `tabPayout` WHERE `name` = %(n)s", {"n": profit["payout"]})
	assert payout["owner"] == STAFF


def test_payouts_requested_retried_or_instant_record_who_asked(db):
	db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 1, "minimum_payout": "10"}))
	drivers.run_daily_targets(db, date(2026, 3, 1), user="Scheduler")
	fare = pay(db, "QF1", "300.00", "K001", "Guest")
	assert fare.payout is not None
	instant = payouts.get_payout(db, fare.payout)
	[row] = db.sql("SELECT `owner` FROM `tabPayout` WHERE `name` = %(n)s", {"n": instant["name"]})
	assert row["owner"] == "Guest"
	payouts.record_result(db, instant["originator_conversation_id"], "2001", "wrong initiator")
	retried = payouts.retry_payout(db, instant["name"], "retry-1", user=STAFF)
	[row] = db.sql("SELECT `owner`, `retry_of` FROM `tabPayout` WHERE `name` = %(n)s", {"n": retried["name"]})
	assert (row["owner"], row["retry_of"]) == (STAFF, instant["name"])


def test_a_reconcile_fix_records_who_fixed_it_and_when(db):
	drift_cash(db)
	reconcile.reconcile(db, fix=True, user=STAFF)
	[row] = db.sql("SELECT `fixed`, `fixed_by`, `fixed_at` FROM `tabReconciliation Discrepancy`"
		" WHERE `account` = 'Cash' AND `kind` = 'Cached Balance'")
	assert (row["fixed"], row["fixed_by"]) == (1, STAFF) and row["fixed_at"] is not None
