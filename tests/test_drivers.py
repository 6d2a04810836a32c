"""Drivers and C2B collections in the engine, on every backend: the split table, daily targets with
rollover and misses, repayments, unmatched payments and missed-callback recovery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger_app.engine import drivers, posting, reconcile, settings
from ledger_app.engine.drivers import C2BPayment, parse_c2b, split_fare
from ledger_app.engine.errors import Conflict, NotFound, StaleDecision, ValidationFailed
from tests.support import count, make_pool

D = Decimal


@pytest.mark.parametrize(
	"amount, outstanding, fare_pct, sharing, contribution, share",
	[
		("100.00", "1000.00", "50", True, "50.00", "50.00"),  # below target
		("100.00", "50.00", "50", True, "50.00", "50.00"),  # exactly at target
		("100.00", "30.00", "50", True, "30.00", "70.00"),  # crossing target: only what was outstanding
		("100.00", "0.00", "50", True, "0.00", "100.00"),  # above target
		("100.00", "-5.00", "50", True, "0.00", "100.00"),  # ahead of target
		("100.00", "1000.00", "50", False, "0.00", "100.00"),  # target sharing off
		("100.00", "1000.00", "70", True, "30.00", "70.00"),  # fare override 70 % to the driver
		("33.33", "1000.00", "33.33", True, "22.22", "11.11"),  # cents: half-up company cut, driver gets the rest
		("0.01", "1000.00", "50", True, "0.01", "0.00"),  # half a cent rounds up to the company
	],
	ids=["below", "at", "crossing", "above", "ahead", "sharing-off", "fare-override", "cents", "one-cent"],
)
def test_split_table(amount, outstanding, fare_pct, sharing, contribution, share):
	split = split_fare(D(amount), D(outstanding), D(fare_pct), sharing)
	assert (split.contribution, split.driver_share) == (D(contribution), D(share))
	assert split.contribution + split.driver_share == D(amount)


@pytest.fixture
def db(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "1000", "global_fare_pct": "50",
			"target_sharing": 1, "miss_threshold": 3}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_driver(db, "D2", "Baraka", "254722000000", fare_pct="70")
		drivers.upsert_driver(db, "D3", "Chebet", "0733000000", target_sharing="Disable")
		drivers.upsert_vehicle(db, "KTA 001", "k001", driver="D1")
		drivers.upsert_vehicle(db, "KTA 002", "K002", driver="D2")
		drivers.upsert_vehicle(db, "KTA 003", "K003", driver="D3")
		yield db
	pool.dispose()


def pay(db, trans_id, amount, account, when="20260301101500"):
	body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": when, "TransAmount": amount,
		"BusinessShortCode": "600000", "BillRefNumber": account, "MSISDN": "2547 ***** 126", "FirstName": "A"}
	return drivers.confirm_c2b(db, parse_c2b(body))


def balances(db, driver):
	return drivers.driver_balances(db, driver)


def test_new_driver_gets_its_three_accounts(db):
	assert balances(db, "D1") == {"target_outstanding": 0, "payable": 0, "deposit": 0}
	row = db.sql("SELECT `target_account`, `payable_account`, `deposit_account` FROM `tabFleet Driver` WHERE `name` = 'D1'")[0]
	assert row == {"target_account": "Target Outstanding - D1", "payable_account": "Driver Payable - D1",
		"deposit_account": "Driver Deposit - D1"}
	rows = db.sql("SELECT `name`, `root_type`, `account_type`, `party_type`, `party` FROM `tabLedger Account`"
		" WHERE `party` = 'D1' ORDER BY `name`")
	assert [tuple(r.values()) for r in rows] == [
		("Driver Deposit - D1", "Liability", "Deposit", "Fleet Driver", "D1"),
		("Driver Payable - D1", "Liability", "Payable", "Fleet Driver", "D1"),
		("Target Outstanding - D1", "Asset", "Target Outstanding", "Fleet Driver", "D1"),
	]


def test_fares_split_between_target_and_share_on_the_locked_balance(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	assert balances(db, "D1")["target_outstanding"] == D("1000.00")
	first = pay(db, "QA1", "300.00", " k001 ")  # trimmed, case-insensitive
	assert (first.kind, first.driver, first.contribution, first.driver_share) == ("fare", "D1", D("150.00"), D("150.00"))
	for i in range(6):
		pay(db, f"QB{i}", "300.00", "K001")
	# 150 + 6 x 150 = 1,050 of cut against 1,000 outstanding: the last fare contributes only 100
	assert balances(db, "D1") == {"target_outstanding": D("0.00"), "payable": D("1100.00"), "deposit": D("0.00")}
	assert posting.balance(db, drivers.PAYBILL_ACCOUNT) == D("2100.00")
	assert reconcile.reconcile(db)["discrepancies"] == 0


def test_fare_override_and_sharing_off_are_honoured(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	assert pay(db, "QC1", "100.00", "K002").contribution == D("30.00")  # D2 keeps 70 %
	assert pay(db, "QC2", "100.00", "K003").contribution == D("0.00")  # D3 has sharing disabled


def test_substitute_driver_wins(db):
	drivers.upsert_vehicle(db, "KTA 001", substitute_driver="D2")
	outcome = pay(db, "QS1", "50.00", "K001")
	assert outcome.driver == "D2"
	assert balances(db, "D1")["payable"] == 0 and balances(db, "D2")["payable"] == D("50.00")
	drivers.upsert_vehicle(db, "KTA 001", substitute_driver="")
	assert pay(db, "QS2", "50.00", "K001").driver == "D1"


def test_a_settings_change_applies_to_the_next_payment(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	assert pay(db, "QG1", "100.00", "K001").contribution == D("50.00")  # global 50 % to the driver
	db.run_in_transaction(lambda db: settings.update_settings(db, {"global_fare_pct": "80"}))
	assert pay(db, "QG2", "100.00", "K001").contribution == D("20.00")  # now 80 %: the company keeps 20
	db.run_in_transaction(lambda db: settings.update_settings(db, {"target_sharing": 0}))
	assert pay(db, "QG3", "100.00", "K001").contribution == D("0.00")


def test_a_change_made_behind_the_engines_back_applies_to_the_next_payment(db):
	"""The process keeps the match of each account it was paid to; a payment checks it under the locks,
	column by column, so even SQL that leaves ``modified`` alone cannot make it pay on stale terms."""
	drivers.run_daily_targets(db, date(2026, 3, 1))
	assert pay(db, "QM1", "100.00", "K002").contribution == D("30.00")  # D2 keeps 70 %
	db.run_in_transaction(lambda db: db.execute("UPDATE `tabFleet Driver` SET `fare_pct` = 60 WHERE `name` = 'D2'"))
	assert pay(db, "QM2", "100.00", "K002").contribution == D("40.00")
	db.run_in_transaction(lambda db: db.execute("UPDATE `tabFleet Vehicle` SET `driver` = 'D3' WHERE `name` = 'KTA 002'"))
	moved = pay(db, "QM3", "100.00", "K002")
	assert (moved.driver, moved.contribution) == ("D3", D("0.00"))  # D3 has target sharing off
	db.run_in_transaction(lambda db: db.execute("UPDATE `tabFleet Driver` SET `phone` = '254733999999' WHERE `name` = 'D3'"))
	assert pay(db, "QM4", "100.00", "K002").driver == "D3"
	assert balances(db, "D2")["payable"] == D("130.00") and balances(db, "D3")["payable"] == D("200.00")
	assert reconcile.reconcile(db)["discrepancies"] == 0


def test_a_payment_in_flight_does_not_lock_its_vehicle_driver_or_settings(db, db_url):
	"""Checking the match under the account locks reads the vehicle, driver and settings rows without
	locking them: staff can edit them while payments are being recorded."""
	import threading

	if db_url.startswith("sqlite"):
		pytest.skip("SQLite has one writer at a time: any open write transaction holds the whole database")
	match = drivers.match_account(db, "K001")
	edits, errors = [], []

	def edit():
		try:
			with make_pool(db_url).connection() as staff:
				staff.run_in_transaction(lambda s: s.execute("UPDATE `tabFleet Vehicle` SET `substitute_driver` = 'D2' WHERE `name` = 'KTA 001'"))
				staff.run_in_transaction(lambda s: s.execute("UPDATE `tabFleet Driver` SET `fare_pct` = 55 WHERE `name` = 'D1'"))
				staff.run_in_transaction(lambda s: settings.update_settings(s, {"global_fare_pct": "60"}))
				edits.append("done")
		except Exception as exc:  # surfaced below
			errors.append(exc)

	db.begin()
	posting.post(db, "Journal", "in-flight", [posting.Leg(drivers.PAYBILL_ACCOUNT, D("1.00")),
		posting.Leg("Driver Payable - D1", D("-1.00"))], precondition=drivers.match_unchanged(db, match))
	staff = threading.Thread(target=edit)
	staff.start()
	staff.join(timeout=10)
	finished_while_open = not staff.is_alive()
	db.commit()
	staff.join(timeout=60)
	assert not errors, errors
	assert finished_while_open and edits == ["done"]
	with pytest.raises(StaleDecision):  # and the match made before the edits no longer holds
		db.run_in_transaction(lambda db: posting.post(db, "Journal", "stale", [posting.Leg(drivers.PAYBILL_ACCOUNT,
			D("1.00")), posting.Leg("Driver Payable - D1", D("-1.00"))], precondition=drivers.match_unchanged(db, match)))
	assert posting.find_by_key(db, "Journal", "stale") is None


def test_duplicate_transid_counts_once(db):
	first = pay(db, "QD1", "80.00", "K001")
	again = pay(db, "QD1", "80.00", "K001")
	assert again.duplicate and again.transaction == first.transaction
	assert balances(db, "D1")["payable"] == D("80.00")
	assert count(db, "Ledger Transaction") == 1


def test_repeated_transid_is_the_original_payment_even_after_its_account_changed(db):
	first = pay(db, "QD2", "80.00", "K001")
	drivers.upsert_vehicle(db, "KTA 001", driver="D2")  # the vehicle changed drivers since
	moved = pay(db, "QD2", "80.00", "K001")
	unknown = pay(db, "QD2", "80.00", "NO-SUCH-ACCOUNT")  # or the repeat names no vehicle at all
	assert (moved.kind, moved.duplicate, moved.transaction) == ("fare", True, first.transaction)
	assert (unknown.kind, unknown.duplicate, unknown.transaction) == ("fare", True, first.transaction)
	assert balances(db, "D1")["payable"] == D("80.00") and balances(db, "D2")["payable"] == 0
	assert count(db, "Ledger Transaction") == 1 and count(db, "Unmatched Payment") == 0


def test_driver_repayment_reduces_target_and_excess_goes_to_deposit(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	outcome = pay(db, "QR1", "1200.00", "d1")  # the driver's own id as account
	assert (outcome.kind, outcome.contribution, outcome.to_deposit) == ("repayment", D("1000.00"), D("200.00"))
	assert balances(db, "D1") == {"target_outstanding": D("0.00"), "payable": D("0.00"), "deposit": D("200.00")}


def test_unknown_account_goes_to_suspense_and_is_assignable_once(db):
	drivers.run_daily_targets(db, date(2026, 3, 1))
	outcome = pay(db, "QU1", "200.00", "NOSUCH")
	assert outcome.kind == "unmatched"
	assert posting.balance(db, drivers.SUSPENSE_ACCOUNT) == D("200.00")
	open_rows = drivers.list_unmatched(db)
	assert [(r["trans_id"], r["amount"], r["bill_ref_number"]) for r in open_rows] == [("QU1", D("200.00"), "NOSUCH")]
	assigned = drivers.assign_unmatched(db, open_rows[0]["name"], "D1")
	assert (assigned["contribution"], assigned["driver_share"]) == (D("100.00"), D("100.00"))
	assert posting.balance(db, drivers.SUSPENSE_ACCOUNT) == 0
	assert balances(db, "D1") == {"target_outstanding": D("900.00"), "payable": D("100.00"), "deposit": D("0.00")}
	again = drivers.assign_unmatched(db, open_rows[0]["name"], "D1")
	assert again["duplicate"] and again["transaction"] == assigned["transaction"]
	with pytest.raises(Conflict, match="already assigned"):
		drivers.assign_unmatched(db, open_rows[0]["name"], "D2")
	with pytest.raises(Conflict):
		drivers.request_unmatched_refund(db, open_rows[0]["name"])
	assert balances(db, "D1")["payable"] == D("100.00")
	assert drivers.list_unmatched(db) == []
	with pytest.raises(NotFound):
		drivers.assign_unmatched(db, "nope", "D1")


def test_unmatched_payment_can_be_marked_for_refund(db):
	pay(db, "QU2", "20.00", "NOSUCH")
	name = drivers.list_unmatched(db)[0]["name"]
	assert drivers.request_unmatched_refund(db, name)["status"] == "Refund Requested"
	with pytest.raises(Conflict):
		drivers.assign_unmatched(db, name, "D1")


def test_missed_callback_recovery_records_once(db):
	first = drivers.record_missed_payment(db, "QM1", "60.00", "K001", "20260301120000")
	again = drivers.record_missed_payment(db, "QM1", "60.00", "K001", "20260301120000")
	assert not first.duplicate and again.duplicate
	assert balances(db, "D1")["payable"] == D("60.00")
	# a callback that arrives after the manual recovery changes nothing either
	assert pay(db, "QM1", "60.00", "K001").duplicate
	with pytest.raises(ValidationFailed):
		drivers.record_missed_payment(db, "QM2", "-5", "K001")


def test_daily_target_charges_once_per_day_and_rolls_over(db):
	first = drivers.run_daily_targets(db, date(2026, 3, 1))
	again = drivers.run_daily_targets(db, date(2026, 3, 1))
	assert (first["charged"], again["charged"], again["skipped"]) == (3, 0, 3)
	assert balances(db, "D1")["target_outstanding"] == D("1000.00")
	pay(db, "QT1", "400.00", "K001")  # contributes 200
	drivers.run_daily_targets(db, date(2026, 3, 2))
	assert balances(db, "D1")["target_outstanding"] == D("1800.00")  # 800 shortfall carried into the new day


def test_three_missed_days_raise_the_flag(db):
	for day in range(1, 5):
		drivers.run_daily_targets(db, date(2026, 3, day))
		row = drivers.get_driver(db, "D1")
		assert row["consecutive_misses"] == day - 1
	assert drivers.get_driver(db, "D1")["flagged"] == 1
	pay(db, "QF1", "8000.00", "d1")  # repaid in full
	drivers.run_daily_targets(db, date(2026, 3, 5))
	assert drivers.get_driver(db, "D1")["consecutive_misses"] == 0


def test_suspended_drivers_are_not_charged(db):
	drivers.upsert_driver(db, "D3", status="Suspended")
	assert drivers.run_daily_targets(db, date(2026, 3, 1))["drivers"] == 2
	assert balances(db, "D3")["target_outstanding"] == 0


@pytest.mark.parametrize(
	"kwargs, message",
	[
		({"driver": "", "driver_name": "X", "phone": "0712345678"}, "driver"),
		({"driver": "D9", "driver_name": "X", "phone": "12345"}, "phone"),
		({"driver": "D9", "driver_name": "X"}, "phone is required"),
		({"driver": "D9", "driver_name": "X", "phone": "0712345678", "fare_pct": "101"}, "between 0 and 100"),
		({"driver": "D9", "driver_name": "X", "phone": "0712345678", "status": "Retired"}, "status"),
		({"driver": "D9", "driver_name": "X", "phone": "0712345678", "daily_target": "-1"}, "positive"),
	],
)
def test_bad_driver_input_is_refused(db, kwargs, message):
	with pytest.raises(ValidationFailed, match=message):
		drivers.upsert_driver(db, **kwargs)
	assert count(db, "Fleet Driver") == 3


def test_account_number_belongs_to_one_vehicle(db):
	with pytest.raises(Conflict):
		drivers.upsert_vehicle(db, "KTA 009", "K001")


def test_payment_fingerprint_is_what_a_resent_transid_is_compared_on():
	payment = C2BPayment("X1", D("1.00"), "A", parse_c2b({"TransactionType": "Pay Bill", "TransID": "ABCDEF",
		"TransAmount": "1", "BillRefNumber": "a", "TransTime": "20260101000000"}).trans_time, msisdn="2547 ***** 126")
	assert payment.fingerprint() == {"amount": "1.00", "bill_ref": "A", "msisdn": "2547 ***** 126"}


def test_the_same_transid_arriving_twice_at_once_counts_once(db_url):
	import threading

	from ledger_app.engine.errors import LedgerError

	pool = make_pool(db_url, size=6)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "100000", "target_sharing": 1}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
		drivers.run_daily_targets(db, date(2026, 3, 1))
	for kind, account in (("fare", "K001"), ("repayment", "D1"), ("unmatched", "NOWHERE")):
		for round_ in range(8):
			barrier = threading.Barrier(3)
			outcomes, errors = [], []

			def confirm(trans_id=f"QR{kind[:2].upper()}{round_}", account=account):
				barrier.wait()
				try:
					with pool.connection() as db:
						outcomes.append(pay(db, trans_id, "10.00", account))
				except LedgerError as exc:
					errors.append(exc)

			threads = [threading.Thread(target=confirm) for _ in range(3)]
			for t in threads:
				t.start()
			for t in threads:
				t.join()
			assert not errors, errors
			assert sorted(o.duplicate for o in outcomes) == [False, True, True]
			assert len({o.transaction for o in outcomes}) == 1
	with pool.connection() as db:
		assert count(db, "Ledger Transaction") == 1 + 3 * 8  # the daily target + each TransID once
		assert count(db, "Unmatched Payment") == 8
		assert reconcile.reconcile(db)["discrepancies"] == 0
	pool.dispose()
