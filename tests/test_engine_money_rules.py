"""Money rules of the engine checked one by one, where the rest of the suite reaches them only over
HTTP or not at exactly their boundary: how staff postings are read and checked, the ``as_of`` bound of
a balance, whole units of a payout, the payable share of a loss, a driver's effective terms and what a
B2C result's amount is compared with.  Written to kill the mutants ``benchmarks/mutation`` found
surviving (docs/mutation.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from ledger_app.engine import clients, clock, drivers, payouts, posting, reconcile, settings, txn_types
from ledger_app.engine.drivers import parse_c2b
from ledger_app.engine.errors import Conflict, InvalidAmount, UnbalancedTransaction, ValidationFailed
from ledger_app.engine.money import parse_amount
from ledger_app.engine.payout_gateway import ACCEPTED, DUPLICATE, SubmitOutcome
from ledger_app.engine.txn_types import Leg
from tests.support import make_pool, open_accounts

D = Decimal


def test_minus_zero_is_plain_zero_with_two_places():
	for value in ("-0", "-0.0", "-0.00", 0, "0"):
		assert str(parse_amount(value, signed=True, allow_zero=True)) == "0.00"


# --- staff postings (posting.parse_legs / validate_legs) --------------------------------------------


def test_postings_are_read_as_signed_exact_legs_in_order():
	legs = posting.parse_legs([{"account": "Cash", "amount": "10.5"}, {"account": "Sales", "amount": -10},
		{"account": "Fees", "amount": "-0.50"}])
	assert legs == [Leg("Cash", D("10.50")), Leg("Sales", D("-10.00")), Leg("Fees", D("-0.50"))]
	assert [str(leg.amount) for leg in legs] == ["10.50", "-10.00", "-0.50"]


@pytest.mark.parametrize("postings, message", [
	([], "postings must be a non-empty list of {account, amount}"),
	(None, "postings must be a non-empty list of {account, amount}"),
	({"account": "Cash", "amount": "1"}, "postings must be a non-empty list of {account, amount}"),
	([{"account": "Cash", "amount": "1"}, "Sales"], "postings[1] must be an object with account and amount"),
	([{"account": "Cash", "amount": "1"}, {"amount": "-1"}], "postings[1].account"),
	([{"account": "Cash", "amount": "1"}, {"account": "Sales", "amount": "-1.001"}], "postings[1].amount"),
	([{"account": "Cash", "amount": "1"}, {"account": "Sales"}], "postings[1].amount"),
	([{"account": "Cash", "amount": "1"}, {"account": "Sales", "amount": "0"}], "postings[1].amount must not be zero"),
], ids=["empty", "none", "object", "not-an-object", "no-account", "three-decimals", "no-amount", "zero"])
def test_malformed_postings_are_refused_naming_the_posting(postings, message):
	with pytest.raises(ValidationFailed) as refused:
		posting.parse_legs(postings)
	assert message in refused.value.message


@pytest.mark.parametrize("legs, error, message", [
	([Leg("Cash", D("1.00"))], UnbalancedTransaction, "a transaction needs at least two postings"),
	([Leg("Cash", D("1.00")), Leg("Sales", D("-0.99"))], UnbalancedTransaction,
		"postings must sum to zero; they sum to 0.01"),
	([Leg("Cash", D("1.00")), Leg("Cash", D("-1.00"))], ValidationFailed,
		"account 'Cash' appears twice; combine its postings"),
	([Leg("Cash", D("1.001")), Leg("Sales", D("-1.001"))], InvalidAmount, "amount on Cash"),
], ids=["one-leg", "a-cent-off", "same-account", "sub-cent"])
def test_legs_that_do_not_balance_to_the_cent_are_refused(legs, error, message):
	with pytest.raises(error) as refused:
		posting.validate_legs(legs)
	assert message in refused.value.message


def test_the_most_legs_a_transaction_may_have_are_accepted_and_one_more_is_refused():
	def legs(n):
		return [Leg(f"A{i}", D("1.00")) for i in range(n - 1)] + [Leg("Z", D(-(n - 1)))]

	assert len(posting.validate_legs(legs(posting.MAX_LEGS))) == posting.MAX_LEGS
	with pytest.raises(ValidationFailed, match=f"at most {posting.MAX_LEGS} postings"):
		posting.validate_legs(legs(posting.MAX_LEGS + 1))


# --- the as_of bound of a balance (posting.parse_as_of) ----------------------------------------------


@pytest.mark.parametrize("value, bound", [
	(datetime(2026, 3, 1, 12, 30), datetime(2026, 3, 1, 12, 30)),
	(date(2026, 3, 1), datetime(2026, 3, 2)),
	("2026-03-01", datetime(2026, 3, 2)),
	(" 2026-12-31 ", datetime(2027, 1, 1)),
	("2026-03-01 12:30:05", datetime(2026, 3, 1, 12, 30, 5)),
	("2026-03-01T12:30:05Z", datetime(2026, 3, 1, 12, 30, 5)),
], ids=["datetime", "date", "date-text", "year-end", "datetime-text", "iso-z"])
def test_as_of_a_date_means_the_end_of_that_day_and_a_datetime_itself(value, bound):
	assert posting.parse_as_of(value) == bound


@pytest.mark.parametrize("value", ["", "  ", "yesterday", "2026-13-01", "2026-02-30", 20260301, None])
def test_an_as_of_that_is_not_a_date_is_refused(value):
	with pytest.raises(ValidationFailed, match=r"as_of must be a date \(YYYY-MM-DD\) or datetime"):
		posting.parse_as_of(value)


# --- payouts: whole units, the payable account, a result's amount ------------------------------------


@pytest.mark.parametrize("amount, units", [
	("1999.99", "1999"), ("1000.00", "1000"), ("0.99", "0"), ("10.50", "10"), ("1000.01", "1000"),
])
def test_payouts_pay_whole_units_rounded_down(amount, units):
	assert payouts.whole_units(D(amount)) == D(units)


def test_a_b2c_result_for_the_payouts_own_amount_or_no_amount_is_no_mismatch():
	payout = {"name": "PO-1", "originator_conversation_id": "LA1", "amount": D("1000.00")}
	assert payouts._amount_mismatch(payout, None) is None
	assert payouts._amount_mismatch(payout, D("1000.00")) is None
	assert payouts._amount_mismatch(payout, D("1000")) is None
	assert payouts._amount_mismatch(payout, D("999.99")) == (
		"mismatch: payout PO-1 (LA1) is 1000.00 but the gateway's result says 999.99; the ledger moved 1000.00")


def test_payouts_are_paid_from_the_partys_payable_account():
	assert payouts.payable_account("Fleet Driver", "D1") == drivers.driver_accounts("D1")["payable"]
	assert payouts.payable_account("Client Exchange", "CE1") == clients.exchange_accounts("CE1")["payable"]
	with pytest.raises(ValidationFailed, match="payouts to a 'Customer' are not supported"):
		payouts.payable_account("Customer", "C1")


# --- client exchanges: the payable share of a loss ---------------------------------------------------


@pytest.mark.parametrize("loss, pct, share", [
	("1000.00", "10", "100.00"), ("0.05", "10", "0.01"), ("0.04", "10", "0.00"), ("0.00", "10", "0.00"),
	("-5.00", "10", "0.00"), ("0.01", "50", "0.01"), ("0.01", "49.99", "0.00"),
], ids=["tenth", "half-cent-up", "below-half", "no-loss", "negative", "half", "under-half"])
def test_the_payable_share_of_a_loss_is_rounded_half_up_and_nothing_on_no_loss(loss, pct, share):
	assert clients.payable_share(D(loss), D(pct)) == D(share)


# --- drivers: the effective terms ---------------------------------------------------------------------


SETTINGS = {"global_daily_target": D("1500.00"), "global_fare_pct": D("50"), "target_sharing": 1,
	"instant_payouts": 0, "minimum_payout": D("1000.00")}


def _driver(**values):
	return {"daily_target": D("0"), "fare_pct": D("0"), "target_sharing": "Follow Global",
		"instant_payout": "Follow Global", **values}


@pytest.mark.parametrize("driver, expected", [
	(_driver(), (D("1500.00"), D("50"), True, False)),
	(_driver(daily_target=D("0.01"), fare_pct=D("0.01")), (D("0.01"), D("0.01"), True, False)),
	(_driver(daily_target=D("800"), fare_pct=D("60"), target_sharing="Disable", instant_payout="Enable"),
		(D("800"), D("60"), False, True)),
	(_driver(target_sharing="Enable", instant_payout="Disable"), (D("1500.00"), D("50"), True, False)),
], ids=["global", "smallest-own", "own", "switches"])
def test_a_drivers_own_terms_win_over_the_global_ones_where_set(driver, expected):
	terms = drivers.terms_for(driver, SETTINGS)
	assert (terms.daily_target, terms.fare_pct, terms.target_sharing, terms.instant_payout) == expected
	assert terms.minimum_payout == D("1000.00")


def test_global_switches_apply_to_drivers_following_them():
	terms = drivers.terms_for(_driver(), {**SETTINGS, "target_sharing": 0, "instant_payouts": 1})
	assert (terms.target_sharing, terms.instant_payout) == (False, True)


def test_a_drivers_daily_target_left_blank_is_zero_and_a_bad_one_is_refused_by_name():
	for blank in (None, ""):
		assert drivers.validate_driver({"daily_target": blank}) == {"daily_target": D("0.00")}
	assert drivers.validate_driver({"daily_target": "0"}) == {"daily_target": D("0.00")}
	assert drivers.validate_driver({"daily_target": "1500.5"}) == {"daily_target": D("1500.50")}
	with pytest.raises(InvalidAmount, match="daily_target must be positive"):
		drivers.validate_driver({"daily_target": "-1"})


# --- C2B confirmations recorded on the database (every backend) --------------------------------------


@pytest.fixture
def db(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "1000",
			"global_fare_pct": "50", "target_sharing": 1}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
		yield db
	pool.dispose()


def pay(db, trans_id, amount, account, when="20260301101500", msisdn="254712000126"):
	body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": when, "TransAmount": amount,
		"BusinessShortCode": "600000", "BillRefNumber": account, "MSISDN": msisdn}
	return drivers.confirm_c2b(db, parse_c2b(body))


@pytest.mark.parametrize("account, kind", [("K001", "fare"), ("D1", "repayment"), ("NOSUCH", "unmatched")])
def test_a_resent_transid_with_another_amount_is_a_mismatch_naming_the_recorded_amount(db, account, kind):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	first = pay(db, "QX1", "80.00", account)
	before = drivers.driver_balances(db, "D1"), posting.balance(db, drivers.SUSPENSE_ACCOUNT)
	same = pay(db, "QX1", "80.00", account)
	other = pay(db, "QX1", "90.00", account, msisdn="")
	assert (first.kind, first.duplicate, same.duplicate, other.duplicate) == (kind, False, True, True)
	assert (same.kind, other.kind) == (kind, kind)
	assert same.mismatch is None and same.transaction == other.transaction == first.transaction
	assert other.mismatch == (f"mismatch: TransID QX1 was recorded as {first_type(kind)} {first.transaction} of 80.00;"
		f" this repeat says 90.00 to account {account!r} from no MSISDN; nothing posted")
	assert (drivers.driver_balances(db, "D1"), posting.balance(db, drivers.SUSPENSE_ACCOUNT)) == before


def first_type(kind):
	return {"fare": txn_types.C2B_PAYMENT.name, "repayment": txn_types.DRIVER_REPAYMENT.name,
		"unmatched": txn_types.UNMATCHED_PAYMENT.name}[kind]


@pytest.mark.parametrize("account", ["K001", "D1", "NOSUCH"])
def test_a_payment_is_posted_at_its_trans_time_for_its_party(db, account):
	drivers.run_daily_targets(db, date(2026, 2, 28))
	outcome = pay(db, "QT1", "80.00", account, when="20260301101500")
	txn = posting.get_transaction(db, outcome.transaction)
	assert str(txn["posting_datetime"])[:19] == "2026-03-01 10:15:00"
	assert (txn["party_type"], txn["party"]) == ((None, None) if account == "NOSUCH" else ("Fleet Driver", "D1"))
	assert posting.balance(db, drivers.PAYBILL_ACCOUNT, as_of=datetime(2026, 3, 1, 10, 15)) == 0
	assert posting.balance(db, drivers.PAYBILL_ACCOUNT, as_of=date(2026, 3, 1)) == D("80.00")


# --- payouts requested by staff (every backend) ---------------------------------------------------------


def _credit_payable(db, amount: str) -> None:
	open_accounts(db, ("Test Cash", "Asset"))
	payable = drivers.driver_accounts("D1")["payable"]
	posting.post_journal(db, "fund-payable", [Leg("Test Cash", D(amount)), Leg(payable, -D(amount))])


def test_a_staff_payout_pays_whole_units_capped_at_the_b2c_maximum_until_less_than_the_minimum_is_left(db):
	_credit_payable(db, "300009.75")
	first = payouts.request_payout(db, "Fleet Driver", "D1", "p1")
	assert (first["amount"], first["status"], first["duplicate"]) == (D("250000.00"), "Queued", False)
	again = payouts.request_payout(db, "Fleet Driver", "D1", "p1")
	assert (again["name"], again["amount"], again["duplicate"]) == (first["name"], D("250000.00"), True)
	assert drivers.driver_balances(db, "D1")["payable"] == D("50009.75")
	second = payouts.request_payout(db, "Fleet Driver", "D1", "p2")
	assert second["amount"] == D("50009.00")
	assert drivers.driver_balances(db, "D1")["payable"] == D("0.75")
	with pytest.raises(ValidationFailed, match="D1 has less than 10 payable: nothing to pay out"):
		payouts.request_payout(db, "Fleet Driver", "D1", "p3")
	assert sorted(p["amount"] for p in payouts.list_payouts(db, "D1")) == [D("50009.00"), D("250000.00")]


@pytest.mark.parametrize("amount, message", [
	("9", "a payout must be between 10 and 250000, got 9.00"),
	("250001", "a payout must be between 10 and 250000, got 250001.00"),
	("10.50", "a payout is paid in whole currency units, got 10.50"),
])
def test_a_staff_payout_of_a_given_amount_is_whole_units_within_the_b2c_bounds(db, amount, message):
	_credit_payable(db, "300000.00")
	with pytest.raises(ValidationFailed) as refused:
		payouts.request_payout(db, "Fleet Driver", "D1", "p1", amount=amount)
	assert refused.value.message == message
	assert payouts.list_payouts(db, "D1") == []


@pytest.mark.parametrize("amount", ["10", "250000"])
def test_a_staff_payout_exactly_at_a_b2c_bound_is_queued(db, amount):
	_credit_payable(db, "300000.00")
	payout = payouts.request_payout(db, "Fleet Driver", "D1", "p1", amount=amount)
	assert (payout["amount"], payout["purpose"], payout["party"]) == (D(amount), "Driver Share", "D1")
	assert drivers.driver_balances(db, "D1")["payable"] == D("300000.00") - D(amount)


# --- a payout's state after a gateway timeout or a "not found" status (every backend) ------------------


@pytest.fixture
def fixed_now():
	at = datetime(2026, 3, 2, 9, 0, 0)
	clock.set_provider(lambda: at)
	yield at
	clock.set_provider(None)


def _payout_row(db, ocid):
	row = payouts.get_payout(db, ocid)
	return row["status"], row["conversation_id"], row["last_error"], str(row["next_attempt_at"])[:19]


def test_a_payout_the_gateway_timed_out_on_is_unknown_and_queried_later_and_said_once(db, fixed_now):
	_credit_payable(db, "100.00")
	ocid = payouts.request_payout(db, "Fleet Driver", "D1", "p1")["originator_conversation_id"]
	name = payouts.get_payout(db, ocid)["name"]
	reason = "read timed out " + "x" * 600
	assert payouts.mark_unknown(db, ocid, reason) == {"payout": name, "status": "Unknown", "duplicate": False}
	query_at = str(fixed_now + payouts.STATUS_QUERY_INTERVAL)[:19]
	assert _payout_row(db, ocid) == ("Unknown", "timeout", reason[:500], query_at)
	assert payouts.mark_unknown(db, ocid, "again") == {"payout": name, "status": "Unknown", "duplicate": True}
	assert _payout_row(db, ocid) == ("Unknown", "timeout", reason[:500], query_at)
	assert drivers.driver_balances(db, "D1")["payable"] == D("0.00")


def test_a_timeout_after_the_gateway_accepted_keeps_its_conversation_id(db, fixed_now):
	_credit_payable(db, "100.00")
	ocid = payouts.request_payout(db, "Fleet Driver", "D1", "p1")["originator_conversation_id"]
	payouts.record_submission(db, ocid, SubmitOutcome(status=ACCEPTED, conversation_id="AG_1"), "primary")
	payouts.mark_unknown(db, ocid, "no result")
	assert _payout_row(db, ocid)[:2] == ("Unknown", "AG_1")


def test_a_payout_the_gateway_never_had_is_queued_again_now_without_its_conversation_id(db, fixed_now):
	_credit_payable(db, "100.00")
	ocid = payouts.request_payout(db, "Fleet Driver", "D1", "p1")["originator_conversation_id"]
	name = payouts.get_payout(db, ocid)["name"]
	payouts.mark_unknown(db, ocid, "read timed out")
	reason = "no such transaction " + "y" * 600
	assert payouts.record_not_found(db, ocid, reason) == {"payout": name, "status": "Queued", "duplicate": False}
	assert _payout_row(db, ocid) == ("Queued", None, reason[:500], str(fixed_now)[:19])
	assert drivers.driver_balances(db, "D1")["payable"] == D("0.00")


@pytest.mark.parametrize("code, status", [("0", "Paid"), ("2001", "Failed")])
def test_a_settled_payout_is_left_as_it_is_by_a_late_timeout_or_not_found(db, fixed_now, code, status):
	_credit_payable(db, "100.00")
	ocid = payouts.request_payout(db, "Fleet Driver", "D1", "p1")["originator_conversation_id"]
	name = payouts.get_payout(db, ocid)["name"]
	payouts.record_result(db, ocid, code, "done", receipt="R1" if code == "0" else None)
	settled = _payout_row(db, ocid)
	assert payouts.mark_unknown(db, ocid, "late") == {"payout": name, "status": status, "duplicate": True}
	assert payouts.record_not_found(db, ocid, "late") == {"payout": name, "status": status, "duplicate": True}
	assert _payout_row(db, ocid) == settled
	assert drivers.driver_balances(db, "D1")["payable"] == (D("0.00") if code == "0" else D("100.00"))


@pytest.mark.parametrize("had_id", [False, True])
def test_a_gateways_late_acceptance_of_a_settled_payout_only_fills_in_a_missing_conversation_id(db, fixed_now, had_id):
	_credit_payable(db, "100.00")
	ocid = payouts.request_payout(db, "Fleet Driver", "D1", "p1")["originator_conversation_id"]
	payouts.record_result(db, ocid, "0", "paid", receipt="R1", conversation_id="AG_0" if had_id else None)
	before = payouts.get_payout(db, ocid)["conversation_id"]
	assert payouts.record_submission(db, ocid, SubmitOutcome(status=DUPLICATE, conversation_id="AG_X"), "primary") == "Paid"
	assert payouts.get_payout(db, ocid)["conversation_id"] == before
	assert payouts.record_submission(db, ocid, SubmitOutcome(status=ACCEPTED, conversation_id="AG_1"), "primary") == "Paid"
	assert payouts.get_payout(db, ocid)["conversation_id"] == ("AG_0" if had_id else "AG_1")
	assert payouts.get_payout(db, ocid)["status"] == "Paid"


# --- reconcile's fix (every backend) -------------------------------------------------------------------


def test_fixing_the_cache_of_an_account_without_postings_lets_it_post_again(db_url):
	pool = make_pool(db_url)
	try:
		with pool.connection() as db:
			open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
			db.execute("UPDATE `tabLedger Account` SET `balance` = 5 WHERE `name` = 'Cash'")
			fixed = reconcile.reconcile(db, fix=True)
			assert (fixed["discrepancies"], fixed["fixed"]) == (1, 1)
			item = fixed["items"][0]
			assert (item["balance_before"], item["balance_after"], item["fixed"]) == (D("5.00"), D("0.00"), 1)
			row = db.sql("SELECT `posting_count` FROM `tabLedger Account` WHERE `name` = 'Cash'")[0]
			assert int(row["posting_count"]) == 0
			posting.post_journal(db, "after-fix", [Leg("Cash", D("10.00")), Leg("Sales", D("-10.00"))])
			assert (posting.balance(db, "Cash"), posting.balance(db, "Sales")) == (D("10.00"), D("10.00"))
			assert reconcile.reconcile(db)["discrepancies"] == 0
	finally:
		pool.dispose()


def test_a_credit_side_cache_is_fixed_to_the_ledger_sum_on_its_own_side(db_url):
	pool = make_pool(db_url)
	try:
		with pool.connection() as db:
			open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
			posting.post_journal(db, "sale", [Leg("Cash", D("12.34")), Leg("Sales", D("-12.34"))])
			db.execute("UPDATE `tabLedger Account` SET `balance` = -12.34 WHERE `name` = 'Sales'")
			found = reconcile.reconcile(db)["items"]
			assert [(i["account"], i["fixed"], i["fixed_by"], i["balance_after"]) for i in found] == [
				("Sales", 0, None, D("0.00"))]
			fixed = reconcile.reconcile(db, fix=True)
			item = fixed["items"][0]
			assert (item["account"], item["cached"], item["derived"], item["difference"]) == (
				"Sales", D("-12.34"), D("12.34"), D("-24.68"))
			assert (item["balance_before"], item["balance_after"]) == (D("-12.34"), D("12.34"))
			assert posting.balance(db, "Sales") == D("12.34")
	finally:
		pool.dispose()


def test_an_assigned_unmatched_payment_is_the_drivers_and_a_refund_request_is_said_once(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	pay(db, "QA1", "200.00", "NOSUCH")
	pay(db, "QA2", "30.00", "NOSUCH")
	first, second = sorted(drivers.list_unmatched(db), key=lambda row: row["trans_id"])
	for blank in ("", "  "):
		with pytest.raises(ValidationFailed, match="unmatched_payment is required"):
			drivers.assign_unmatched(db, blank, "D1")
		with pytest.raises(ValidationFailed, match="unmatched_payment is required"):
			drivers.request_unmatched_refund(db, blank)
	assigned = drivers.assign_unmatched(db, f" {first['name']} ", "D1")
	assert {k: assigned[k] for k in ("unmatched_payment", "driver", "duplicate", "contribution", "driver_share")} == {
		"unmatched_payment": first["name"], "driver": "D1", "duplicate": False,
		"contribution": D("100.00"), "driver_share": D("100.00")}
	txn = posting.get_transaction(db, assigned["transaction"])
	assert (txn["transaction_type"], txn["party_type"], txn["party"]) == (
		txn_types.UNMATCHED_ASSIGNMENT.name, "Fleet Driver", "D1")
	again = drivers.assign_unmatched(db, first["name"], "D1")
	assert (again["duplicate"], again["transaction"], again["driver"]) == (True, assigned["transaction"], "D1")
	refund = drivers.request_unmatched_refund(db, second["name"])
	assert refund == {"unmatched_payment": second["name"], "status": "Refund Requested", "duplicate": False}
	assert drivers.request_unmatched_refund(db, second["name"]) == {**refund, "duplicate": True}
	with pytest.raises(Conflict, match="is Refund Requested, not Open"):
		drivers.assign_unmatched(db, second["name"], "D1")
	assert posting.balance(db, drivers.SUSPENSE_ACCOUNT) == D("30.00")
	assert drivers.driver_balances(db, "D1")["payable"] == D("100.00")


# --- transaction types and reversals -------------------------------------------------------------------


def test_a_journal_is_the_legs_it_is_given_and_a_reversal_their_negation():
	legs = [Leg("Cash", D("12.34")), Leg("Sales", D("-12.34"))]
	assert txn_types.JOURNAL.legs({"legs": legs}) == legs
	assert txn_types.REVERSAL.legs({"original_legs": legs}) == [Leg("Cash", D("-12.34")), Leg("Sales", D("12.34"))]
	with pytest.raises(ValidationFailed, match="Journal needs legs"):
		txn_types.JOURNAL.legs({"legs": []})


def test_a_transaction_type_is_registered_once_under_its_name():
	kind = txn_types.TransactionType(name="Test Only Type", reversible=False, required=(), template=lambda p: [],
		description="a type registered by a test")
	try:
		assert txn_types.register(kind) is kind
		assert txn_types.get("Test Only Type") is kind
		with pytest.raises(ValueError, match="transaction type 'Test Only Type' registered twice"):
			txn_types.register(kind)
	finally:
		txn_types.REGISTRY.pop("Test Only Type", None)
	with pytest.raises(ValueError, match="registered twice"):
		txn_types.register(txn_types.JOURNAL)
	assert txn_types.get("Journal") is txn_types.JOURNAL


def test_a_reversal_belongs_to_the_originals_party_and_cancels_the_original_once(db):
	outcome = pay(db, "QV1", "80.00", "K001")
	reversal = posting.reverse_transaction(db, outcome.transaction, "rev-1")
	assert int(posting.get_transaction(db, outcome.transaction)["docstatus"]) == 2
	again = posting.reverse_transaction(db, outcome.transaction, "rev-1")
	assert (reversal.duplicate, again.duplicate, again.name) == (False, True, reversal.name)
	original, txn = posting.get_transaction(db, outcome.transaction), posting.get_transaction(db, reversal.name)
	assert (int(original["docstatus"]), txn["reversal_of"]) == (2, outcome.transaction)
	assert (txn["party_type"], txn["party"], txn["remarks"]) == ("Fleet Driver", "D1", f"Reversal of {outcome.transaction}")
	assert drivers.driver_balances(db, "D1") == {"target_outstanding": D("0.00"), "payable": D("0.00"),
		"deposit": D("0.00")}
	with pytest.raises(ValidationFailed, match="transaction is required"):
		posting.get_transaction(db, " ")


def test_a_missed_payment_is_recorded_at_its_trans_time_from_its_msisdn(db):
	drivers.record_missed_payment(db, "QM9", "60.00", "NOSUCH", "20260301120000", "254712000999")
	row = db.sql("SELECT `trans_id`, `msisdn`, `trans_time` FROM `tabUnmatched Payment`")[0]
	assert (row["trans_id"], row["msisdn"]) == ("QM9", "254712000999")
	assert str(row["trans_time"])[:19] == "2026-03-01 12:00:00"
	resent = drivers.record_missed_payment(db, "QM9", "60.00", "NOSUCH", "20260301120000")
	assert resent.duplicate and resent.mismatch is not None and "from no MSISDN" in resent.mismatch


def test_each_kind_of_confirmation_answers_what_it_posted(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	fare = pay(db, "QC1", "300.00", "K001")
	repayment = pay(db, "QC2", "1000.00", "D1")
	unmatched = pay(db, "QC3", "20.00", "NOSUCH")
	C = drivers.Confirmation
	assert fare == C("fare", fare.transaction, False, "D1", D("150.00"), D("150.00"))
	assert repayment == C("repayment", repayment.transaction, False, "D1", D("850.00"), D("0.00"), D("150.00"))
	assert unmatched == C("unmatched", unmatched.transaction, False,
		unmatched_payment=drivers.list_unmatched(db)[0]["name"])
	assert pay(db, "QC2", "1000.00", "D1") == C("repayment", repayment.transaction, True)
	assert pay(db, "QC3", "20.00", "NOSUCH") == C("unmatched", unmatched.transaction, True)


def test_a_fare_that_brings_the_payable_to_the_minimum_answers_with_its_instant_payout(db):
	db.run_in_transaction(lambda db: settings.update_settings(db, {"instant_payouts": 1, "minimum_payout": "50",
		"target_sharing": 0}))
	small = pay(db, "QP1", "49.50", "K001")
	assert small.payout is None and payouts.list_payouts(db, "D1") == []
	crossing = pay(db, "QP2", "1.00", "K001")
	queued = payouts.list_payouts(db, "D1")
	assert [(p["amount"], p["purpose"]) for p in queued] == [(D("50.00"), "Driver Share")]
	assert crossing.payout == queued[0]["name"]
	assert drivers.driver_balances(db, "D1")["payable"] == D("0.50")


# --- daily targets (every backend) ----------------------------------------------------------------------


def test_a_drivers_own_daily_target_is_charged_at_the_start_of_the_day_for_that_driver(db):
	drivers.upsert_driver(db, "D2", "Baraka", "0722000000", daily_target="800.50", fare_pct="60")
	drivers.upsert_driver(db, "D3", "Chebet", "0733000000", daily_target="0.50")
	result = drivers.run_daily_targets(db, date(2026, 3, 1))
	assert result == {"date": "2026-03-01", "drivers": 3, "charged": 3, "skipped": 0, "newly_flagged": 0}
	assert drivers.driver_balances(db, "D2")["target_outstanding"] == D("800.50")
	assert drivers.driver_balances(db, "D3")["target_outstanding"] == D("0.50")
	assert drivers.driver_balances(db, "D1")["target_outstanding"] == D("1000.00")
	key = "target:D2:2026-03-01"
	txn = posting.get_transaction(db, posting.find_by_key(db, txn_types.DAILY_TARGET.scope, key)["name"])
	assert str(txn["posting_datetime"])[:19] == "2026-03-01 00:00:00"
	assert (txn["party_type"], txn["party"], txn["remarks"]) == ("Fleet Driver", "D2", "Daily target 2026-03-01 for D2")


@pytest.mark.parametrize("threshold, flagged", [(1, 2), (0, 0)])
def test_every_driver_missing_the_target_is_counted_as_flagged_unless_flagging_is_off(db, threshold, flagged):
	db.run_in_transaction(lambda db: settings.update_settings(db, {"miss_threshold": threshold}))
	drivers.upsert_driver(db, "D2", "Baraka", "0722000000")
	drivers.run_daily_targets(db, date(2026, 3, 1))
	second = drivers.run_daily_targets(db, date(2026, 3, 2))
	assert (second["charged"], second["newly_flagged"]) == (2, flagged)
	assert [drivers.get_driver(db, d)["flagged"] for d in ("D1", "D2")] == [1 if flagged else 0] * 2
	assert drivers.driver_balances(db, "D1")["target_outstanding"] == D("2000.00")


def test_a_failed_payout_is_retried_for_its_own_amount_and_purpose_not_the_whole_payable(db):
	_credit_payable(db, "150.00")
	failed = payouts.request_payout(db, "Fleet Driver", "D1", "p1", amount="100")
	payouts.record_result(db, failed["originator_conversation_id"], "2001", "The initiator information is invalid.")
	assert payouts.get_payout(db, failed["name"])["status"] == "Failed"
	assert drivers.driver_balances(db, "D1")["payable"] == D("150.00")
	retry = payouts.retry_payout(db, failed["name"], "r1")
	assert (retry["amount"], retry["purpose"], retry["retry_of"], retry["status"]) == (
		D("100.00"), "Driver Share", failed["name"], "Queued")
	assert drivers.driver_balances(db, "D1")["payable"] == D("50.00")
