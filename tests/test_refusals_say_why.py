"""A refused staff request says exactly what is wrong, naming the field or record, so a person can fix
it: the engine's refusals of unmatched-payment actions, payout retries, settlements, transaction
look-ups and journal postings, each checked word for word (nothing is written by any of them)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger_app.engine import clients, drivers, payouts, posting, settings
from ledger_app.engine.drivers import parse_c2b
from ledger_app.engine.errors import Conflict, NotFound, ValidationFailed
from ledger_app.engine.txn_types import Leg
from tests.support import make_pool, open_accounts


@pytest.fixture
def db(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "0",
			"global_fare_pct": "50", "minimum_payout": "10"}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_driver(db, "D2", "Baraka", "0712345679")
		yield db
	pool.dispose()


def refusal(error, call) -> str:
	with pytest.raises(error) as refused:
		call()
	return refused.value.message


def unmatched(db, trans_id="QU1") -> str:
	body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500", "TransAmount": "30.00",
		"BusinessShortCode": "600000", "BillRefNumber": "NOSUCH", "MSISDN": "254712000126"}
	drivers.confirm_c2b(db, parse_c2b(body))
	return drivers.list_unmatched(db)[0]["name"]


@pytest.mark.parametrize("action", ["assign", "refund"])
def test_an_unmatched_payment_action_names_what_is_missing_or_unknown(db, action):
	act = (lambda p: drivers.assign_unmatched(db, p, "D1")) if action == "assign" else (
		lambda p: drivers.request_unmatched_refund(db, p))
	assert refusal(ValidationFailed, lambda: act(" ")) == "unmatched_payment is required"
	assert refusal(NotFound, lambda: act("UP-NOPE")) == "Unmatched Payment 'UP-NOPE' not found"


def test_an_assignment_to_a_malformed_driver_id_names_the_driver_field(db):
	name = unmatched(db)
	assert refusal(ValidationFailed, lambda: drivers.assign_unmatched(db, name, None)) == (
		"driver must be 1-60 letters, digits, spaces, '_', '.' or '-', got None")


def test_an_unmatched_payment_no_longer_open_says_its_status(db):
	name = unmatched(db)
	drivers.assign_unmatched(db, name, "D1")
	assert refusal(Conflict, lambda: drivers.assign_unmatched(db, name, "D2")) == (
		f"Unmatched Payment {name} is already assigned to D1")
	assert refusal(Conflict, lambda: drivers.request_unmatched_refund(db, name)) == (
		f"Unmatched Payment {name} is Assigned, not Open")
	refund = unmatched(db, "QU2")
	drivers.request_unmatched_refund(db, refund)
	assert refusal(Conflict, lambda: drivers.assign_unmatched(db, refund, "D1")) == (
		f"Unmatched Payment {refund} is Refund Requested, not Open")


def test_only_a_failed_payout_can_be_retried_and_the_refusal_says_its_status(db):
	open_accounts(db, ("Test Cash", "Asset"))
	payable = drivers.driver_accounts("D1")["payable"]
	posting.post_journal(db, "fund-payable", [Leg("Test Cash", Decimal("100.00")), Leg(payable, Decimal("-100.00"))])
	payout = payouts.request_payout(db, "Fleet Driver", "D1", "p1")
	assert refusal(Conflict, lambda: payouts.retry_payout(db, payout["name"], "retry-1")) == (
		f"payout {payout['name']} is Queued; only a Failed payout can be retried")


def test_a_settlement_of_a_malformed_amount_names_the_amount_field(db):
	clients.upsert_client(db, "CL1", "Wanjiku", "0722000001")
	clients.upsert_client_exchange(db, "CL1-BIN", "CL1", "Binance", "1", "9")
	assert refusal(ValidationFailed, lambda: clients.settle(db, "CL1-BIN", "ten", "s1")) == (
		"amount must be a decimal number like 1250 or -12.50 (ASCII digits, at most 2 decimals), got 'ten'")


def test_a_transaction_look_up_names_what_is_missing_or_unknown(db):
	assert refusal(ValidationFailed, lambda: posting.get_transaction(db, "")) == "transaction is required"
	assert refusal(NotFound, lambda: posting.get_transaction(db, "LT-NOPE")) == "Ledger Transaction 'LT-NOPE' not found"


@pytest.mark.parametrize("postings", [[], None, "Cash 10"])
def test_postings_that_are_not_a_list_of_legs_are_refused_saying_what_is_expected(postings):
	assert refusal(ValidationFailed, lambda: posting.parse_legs(postings)) == (
		"postings must be a non-empty list of {account, amount}")


@pytest.mark.parametrize("exchange", [None, " "])
@pytest.mark.parametrize("action", ["fund", "record_balance", "settle"])
def test_a_client_exchange_action_without_the_exchange_says_it_is_required(db, action, exchange):
	act = {"fund": lambda: clients.fund(db, exchange, "10.00", "k1"),
		"record_balance": lambda: clients.record_balance(db, exchange, "2026-03-01", "10.00", "k1"),
		"settle": lambda: clients.settle(db, exchange, "10.00", "k1")}[action]
	assert refusal(ValidationFailed, act) == "client_exchange is required"


def test_the_balances_of_an_unknown_driver_or_one_whose_accounts_are_gone_are_not_found(db):
	assert refusal(NotFound, lambda: drivers.driver_balances(db, "D9")) == "Driver 'D9' not found"
	db.run_in_transaction(lambda db: db.execute("DELETE FROM `tabLedger Account` WHERE `name` = %(n)s",
		{"n": drivers.driver_accounts("D2")["deposit"]}))
	assert refusal(NotFound, lambda: drivers.driver_balances(db, "D2")) == "ledger accounts of driver 'D2' are missing"
