"""Reconciliation on every backend: clean ledgers stay clean, drift is found, fixed and recorded."""

from decimal import Decimal

import pytest

from ledger_app.engine import posting, reconcile
from ledger_app.engine.txn_types import Leg
from tests.support import make_pool, open_accounts

D = Decimal


@pytest.fixture
def db(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"), ("Empty", "Asset"))
		for i in range(5):
			posting.post_journal(db, f"k{i}", [Leg("Cash", D("10.10")), Leg("Sales", D("-10.10"))])
		yield db
	pool.dispose()


def test_clean_ledger_reconciles_clean_and_records_a_run(db):
	result = reconcile.reconcile(db)
	assert (result["accounts_checked"], result["postings_checked"], result["discrepancies"]) == (3, 10, 0)
	run = db.sql("SELECT `status`, `accounts_checked`, `discrepancy_count` FROM `tabReconciliation Run`")
	assert run == [{"status": "Clean", "accounts_checked": 3, "discrepancy_count": 0}]


def test_corrupted_cache_is_found_fixed_recorded_and_then_clean(db):
	db.execute("UPDATE `tabLedger Account` SET `balance` = 1 WHERE `name` = 'Cash'")
	found = reconcile.reconcile(db)
	assert found["discrepancies"] == 1 and found["fixed"] == 0
	item = found["items"][0]
	assert (item["account"], item["kind"], item["cached"], item["derived"]) == ("Cash", "Cached Balance", D("1.00"), D("50.50"))
	assert posting.balance(db, "Cash") == D("1.00")  # without fix nothing changes

	fixed = reconcile.reconcile(db, fix=True, user="auditor@example.com")
	assert fixed["fixed"] == 1
	assert posting.balance(db, "Cash") == D("50.50")
	rows = db.sql(
		f"SELECT `account`, `fixed`, `fixed_by`, {db.dialect.money('`balance_before`')} AS `before`,"
		f" {db.dialect.money('`balance_after`')} AS `after` FROM `tabReconciliation Discrepancy` WHERE `parent` = %(run)s",
		{"run": fixed["run"]},
	)
	assert [(r["account"], r["fixed"], r["fixed_by"], D(r["before"]), D(r["after"])) for r in rows] == [
		("Cash", 1, "auditor@example.com", D("1.00"), D("50.50"))
	]
	assert reconcile.reconcile(db)["discrepancies"] == 0
	posting.post_journal(db, "after-fix", [Leg("Cash", D("1.00")), Leg("Sales", D("-1.00"))])
	assert posting.balance(db, "Cash") == D("51.50")


def test_fix_never_changes_ledger_rows_and_cannot_undo_a_credit(db):
	before = db.sql(f"SELECT COUNT(*) AS n, {db.dialect.money_sum('`amount`')} AS s FROM `tabLedger Posting`")
	db.execute("UPDATE `tabLedger Account` SET `balance` = 0 WHERE `name` = 'Sales'")
	reconcile.reconcile(db, fix=True)
	after = db.sql(f"SELECT COUNT(*) AS n, {db.dialect.money_sum('`amount`')} AS s FROM `tabLedger Posting`")
	assert before == after
	assert posting.balance(db, "Sales") == D("50.50")


def test_edited_running_balance_is_reported_not_fixed(db):
	db.execute("UPDATE `tabLedger Posting` SET `balance_after` = 7 WHERE `account` = 'Cash' AND `account_seq` = 5")
	result = reconcile.reconcile(db, fix=True)
	assert [(i["account"], i["kind"]) for i in result["items"]] == [("Cash", "Running Balance")]
	assert result["fixed"] == 0


def test_reconcile_one_account(db):
	result = reconcile.reconcile(db, account="Cash")
	assert result["accounts_checked"] == 1 and result["postings_checked"] == 5
