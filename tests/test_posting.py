"""The posting engine on every backend: balances, idempotency, invariants, reversal, as-of reads."""

from datetime import datetime
from decimal import Decimal

import pytest

from ledger_app.engine import posting, txn_types
from ledger_app.engine.errors import (
	Conflict,
	InvalidAmount,
	InvariantViolation,
	NotFound,
	UnbalancedTransaction,
	UniqueViolation,
	ValidationFailed,
)
from ledger_app.engine.txn_types import Leg
from tests.support import count, make_pool, open_accounts

D = Decimal


@pytest.fixture
def db(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"), ("Payable", "Liability"), ("Overdraft", "Asset", True))
		yield db
	pool.dispose()


def journal(db, key, *legs, **kw):
	return posting.post_journal(db, key, [Leg(a, D(x)) for a, x in legs], **kw)


def test_journal_moves_both_balances_on_their_normal_side(db):
	result = journal(db, "k1", ("Cash", "100.50"), ("Sales", "-100.50"))
	assert result.duplicate is False
	assert posting.balance(db, "Cash") == D("100.50")
	assert posting.balance(db, "Sales") == D("100.50")  # credit-normal, holding credits: positive


def test_postings_carry_running_balance_and_account_sequence(db):
	journal(db, "k1", ("Cash", "10.00"), ("Sales", "-10.00"))
	journal(db, "k2", ("Cash", "2.25"), ("Sales", "-2.25"))
	rows = db.sql(
		"SELECT CAST(`balance_after` AS CHAR) AS b, `account_seq` FROM `tabLedger Posting`"
		" WHERE `account` = 'Cash' ORDER BY `account_seq`"
		if db.dialect.name == "mariadb"
		else "SELECT CAST(`balance_after` AS TEXT) AS b, `account_seq` FROM `tabLedger Posting`"
		" WHERE `account` = 'Cash' ORDER BY `account_seq`"
	)
	assert [(D(r["b"]), int(r["account_seq"])) for r in rows] == [(D("10"), 1), (D("12.25"), 2)]


def test_duplicate_key_counts_once_and_returns_the_original(db):
	first = journal(db, "same", ("Cash", "5.00"), ("Sales", "-5.00"))
	second = journal(db, "same", ("Cash", "5.00"), ("Sales", "-5.00"))
	assert second.duplicate is True and second.name == first.name
	assert posting.balance(db, "Cash") == D("5.00")
	assert count(db, "Ledger Transaction") == 1


def test_key_reused_for_different_content_is_a_conflict(db):
	journal(db, "same", ("Cash", "5.00"), ("Sales", "-5.00"))
	with pytest.raises(Conflict, match="different content"):
		journal(db, "same", ("Cash", "6.00"), ("Sales", "-6.00"))
	assert posting.balance(db, "Cash") == D("5.00")


@pytest.mark.parametrize(
	"legs, error",
	[
		([("Cash", "10.00"), ("Sales", "-9.99")], UnbalancedTransaction),
		([("Cash", "10.00")], UnbalancedTransaction),
		([("Cash", "10.001"), ("Sales", "-10.001")], InvalidAmount),
		([("Cash", "0"), ("Sales", "0")], InvalidAmount),
		([("Cash", "10"), ("Cash", "-10")], ValidationFailed),
		([("Cash", "10"), ("Nowhere", "-10")], NotFound),
		([("Cash", "1e15"), ("Sales", "-1e15")], InvalidAmount),
		([("Cash", "NaN"), ("Sales", "NaN")], InvalidAmount),
	],
	ids=["unbalanced", "one-leg", "three-decimals", "zero", "same-account-twice", "unknown-account", "absurd", "nan"],
)
def test_bad_journal_is_refused_and_writes_nothing(db, legs, error):
	with pytest.raises(error):
		journal(db, "bad", *legs)
	assert count(db, "Ledger Transaction") == 0
	assert count(db, "Ledger Posting") == 0
	assert posting.balance(db, "Cash") == 0


def test_float_amount_is_refused():
	with pytest.raises(InvalidAmount, match="float"):
		posting.parse_legs([{"account": "Cash", "amount": 0.1}, {"account": "Sales", "amount": -0.1}])


def test_balance_may_not_go_below_zero_unless_the_account_allows_it(db):
	with pytest.raises(InvariantViolation, match="below zero"):
		journal(db, "k", ("Cash", "-1.00"), ("Sales", "1.00"))
	assert count(db, "Ledger Transaction") == 0
	journal(db, "k2", ("Overdraft", "-1.00"), ("Cash", "1.00"))
	assert posting.balance(db, "Overdraft") == D("-1.00")


def test_frozen_account_refuses_postings(db):
	db.execute("UPDATE `tabLedger Account` SET `frozen` = 1 WHERE `name` = 'Sales'")
	with pytest.raises(InvariantViolation, match="frozen"):
		journal(db, "k", ("Cash", "1.00"), ("Sales", "-1.00"))


def test_cache_drift_blocks_posting_until_reconciled(db):
	journal(db, "k1", ("Cash", "3.00"), ("Sales", "-3.00"))
	db.execute("UPDATE `tabLedger Account` SET `balance` = 99 WHERE `name` = 'Cash'")
	with pytest.raises(InvariantViolation, match="run reconcile"):
		journal(db, "k2", ("Cash", "1.00"), ("Sales", "-1.00"))
	assert count(db, "Ledger Transaction") == 1


def test_reversal_negates_every_posting_once(db):
	original = journal(db, "k1", ("Cash", "40.00"), ("Sales", "-40.00"))
	reversal = posting.reverse_transaction(db, original.name, "rev-1")
	assert posting.balance(db, "Cash") == 0 and posting.balance(db, "Sales") == 0
	again = posting.reverse_transaction(db, original.name, "rev-1")
	assert again.duplicate and again.name == reversal.name
	with pytest.raises(Conflict, match="already reversed"):
		posting.reverse_transaction(db, original.name, "rev-2")
	with pytest.raises(Conflict, match="cannot be reversed"):
		posting.reverse_transaction(db, reversal.name, "rev-3")
	assert posting.get_transaction(db, original.name)["docstatus"] == 2
	assert count(db, "Ledger Transaction") == 2


def test_reversal_of_unknown_transaction_is_not_found(db):
	with pytest.raises(NotFound):
		posting.reverse_transaction(db, "nope", "rev")


def test_balance_as_of_uses_a_strict_boundary(db):
	t = datetime(2026, 3, 1, 0, 0, 0)
	journal(db, "before", ("Cash", "1.00"), ("Sales", "-1.00"), posting_datetime=datetime(2026, 2, 28, 23, 59, 59))
	journal(db, "at", ("Cash", "2.00"), ("Sales", "-2.00"), posting_datetime=t)
	journal(db, "after", ("Cash", "4.00"), ("Sales", "-4.00"), posting_datetime=datetime(2026, 3, 1, 0, 0, 1))
	assert posting.balance(db, "Cash", t) == D("1.00")  # opening of a period starting at t
	assert posting.balance(db, "Cash", "2026-03-01 00:00:01") == D("3.00")
	assert posting.balance(db, "Cash", "2026-02-28") == D("1.00")  # a date means the end of that day
	assert posting.balance(db, "Sales", "2026-03-01") == D("7.00")
	with pytest.raises(ValidationFailed):
		posting.balance(db, "Cash", "yesterday")


def _raw_transaction(db, name, scope, key, transaction_type="Journal"):
	"""A Ledger Transaction header written straight to the table, past the engine."""
	db.sql(
		"INSERT INTO `tabLedger Transaction` (`name`, `docstatus`, `transaction_type`, `posting_datetime`, `key_scope`,"
		" `idempotency_key`) VALUES (%(name)s, 1, %(type)s, %(when)s, %(scope)s, %(key)s)",
		{"name": name, "type": transaction_type, "when": datetime(2026, 3, 1), "scope": scope, "key": key},
	)


def test_the_database_keeps_each_key_unique_within_its_scope_and_only_there(db):
	_raw_transaction(db, "t1", "Journal", "K-1")
	_raw_transaction(db, "t2", "C2B Receipt", "K-1", "C2B Payment")  # the same key in another scope
	with pytest.raises(UniqueViolation):
		_raw_transaction(db, "t3", "Journal", "K-1")
	with pytest.raises(UniqueViolation):  # a TransID counts once whichever receipt type it posts as
		_raw_transaction(db, "t4", "C2B Receipt", "K-1", "Unmatched Payment")
	assert count(db, "Ledger Transaction") == 2


def test_every_c2b_receipt_type_shares_one_key_scope_and_staff_keys_have_their_own():
	from ledger_app.engine import clients, payouts  # noqa: F401  (they register their types)

	receipts = {txn_types.C2B_PAYMENT.name, txn_types.DRIVER_REPAYMENT.name, txn_types.UNMATCHED_PAYMENT.name}
	scopes = {name: kind.scope for name, kind in txn_types.REGISTRY.items()}
	assert {scopes[name] for name in receipts} == {txn_types.C2B_RECEIPT_SCOPE}
	assert all(scope == name for name, scope in scopes.items() if name not in receipts)


def test_a_database_from_before_key_scopes_is_upgraded_in_place(db_url):
	"""``ensure_schema`` and ``upgrade_data`` on Ledger Transaction and Payout tables with the old UNIQUE ``idempotency_key``:
	rows kept and given their scope, the old unique key gone (SQLite: the table rebuilt), the new one on."""
	from ledger_app.db import schema
	from ledger_app.db.pool import ConnectionPool
	from ledger_app.engine.upgrade import upgrade_data

	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			for doctype in ("Ledger Transaction", "Payout"):  # as they were: key UNIQUE alone, no key_scope
				old = schema.load_doctypes()[doctype]
				old["fields"] = [field for field in old["fields"] if field["fieldname"] != "key_scope"]
				next(field for field in old["fields"] if field["fieldname"] == "idempotency_key")["unique"] = 1
				for statement in schema.create_table_sql(old, db.dialect.name):
					db.sql(statement)
			for name, purpose, key in (("p1", "Driver Share", "instant:QOLD2"), ("p2", "Profit Withdrawal", "pw:BR1"),
					("p3", "Driver Share", "pay-1")):
				db.sql("INSERT INTO `tabPayout` (`name`, `purpose`, `idempotency_key`, `amount`) VALUES (%(n)s, %(p)s, %(k)s, 10)",
					{"n": name, "p": purpose, "k": key})
			for name, transaction_type, key in (("o1", "Journal", "QOLD1"), ("o2", "Driver Repayment", "QOLD2")):
				db.sql("INSERT INTO `tabLedger Transaction` (`name`, `docstatus`, `transaction_type`, `posting_datetime`,"
					" `idempotency_key`, `payload_hash`) VALUES (%(n)s, 1, %(t)s, '2026-03-01 00:00:00', %(k)s, 'old')",
					{"n": name, "t": transaction_type, "k": key})
			for _ in range(2):  # and again: nothing left to do
				schema.ensure_schema(db)
				upgrade_data(db)
			rows = db.sql("SELECT `name`, `key_scope`, `idempotency_key`, `payload_hash` FROM `tabLedger Transaction` ORDER BY `name`")
			assert [(r["name"], r["key_scope"], r["idempotency_key"], r["payload_hash"]) for r in rows] == [
				("o1", "Journal", "QOLD1", "old"), ("o2", "C2B Receipt", "QOLD2", None)]  # a receipt's old hash: cleared
			scoped = db.sql("SELECT `name`, `key_scope` FROM `tabPayout` ORDER BY `name`")
			assert [(r["name"], r["key_scope"]) for r in scoped] == [("p1", "Instant Payout"), ("p2", "Profit Withdrawal"),
				("p3", "Staff Payout")]
			_raw_transaction(db, "n1", "C2B Receipt", "QOLD1", "C2B Payment")  # the old unique key is gone
			with pytest.raises(UniqueViolation):
				_raw_transaction(db, "n2", "Journal", "QOLD1")
			open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
			assert journal(db, "QOLD2", ("Cash", "1.00"), ("Sales", "-1.00")).duplicate is False
	finally:
		pool.dispose()


@pytest.mark.parametrize(("party_type", "party", "error"), [
	("Fleet Driver", None, "both its type and its name"),
	(None, "D1", "both its type and its name"),
	("fleet driver", "D1", "no party type"),
	("Driver", "D1", "no party type"),
])
def test_a_transaction_tagged_with_half_a_party_or_an_unknown_party_type_is_refused(db, party_type, party, error):
	with pytest.raises(ValueError, match=error):
		db.run_in_transaction(lambda db: posting.post(db, txn_types.JOURNAL.name, "tagged",
			[Leg("Cash", D("1.00")), Leg("Sales", D("-1.00"))], party_type=party_type, party=party))
	assert count(db, "Ledger Transaction") == 0


def test_a_transaction_tagged_with_a_party_keeps_it(db):
	name = db.run_in_transaction(lambda db: posting.post(db, txn_types.JOURNAL.name, "tagged",
		[Leg("Cash", D("1.00")), Leg("Sales", D("-1.00"))], party_type="Client Exchange", party="CE-1")).name
	row = db.sql("SELECT `party_type`, `party`, `owner` FROM `tabLedger Transaction` WHERE `name` = %(n)s", {"n": name})
	assert row == [{"party_type": "Client Exchange", "party": "CE-1", "owner": "Administrator"}]


@pytest.mark.parametrize("user", [None, ""])
def test_a_transaction_must_say_who_posted_it(db, user):
	with pytest.raises(ValueError, match="the user who made it"):
		journal(db, "anon", ("Cash", "1.00"), ("Sales", "-1.00"), user=user)
	assert count(db, "Ledger Transaction") == 0


@pytest.mark.parametrize("query", [
	"SELECT `name` FROM `tabledger account`",
	"SELECT `name` FROM `tabLEDGER ACCOUNT`",
	"SELECT `NAME` FROM `tabLedger Account`",
])
def test_a_table_or_column_named_in_the_wrong_case_is_an_error_on_every_backend(db, backend, query):
	"""SQLite would find them; MariaDB's table names and PostgreSQL's quoted names are exact, and the
	SQLite dialect refuses them too, so a wrong-case name never passes on the default backend only."""
	if backend == "mariadb" and "`NAME`" in query:
		pytest.skip("MariaDB's column names ignore case (a deployment on it runs the same SQL as the others)")
	with pytest.raises(Exception) as raised:
		db.sql(query)
	assert "ledger account" in str(raised.value).lower() or "name" in str(raised.value).lower()


def test_the_running_balance_on_each_accounts_last_posting_is_read_by_its_sequence(db):
	"""What PostgreSQL re-reads after waiting for an account's lock (the joined posting predates the
	wait): the running balance on the posting numbered by the locked row's count, per account; an
	account whose last posting is missing reads None (post() then refuses: run reconcile)."""
	journal(db, "k1", ("Cash", "10.00"), ("Sales", "-10.00"))
	journal(db, "k2", ("Cash", "2.50"), ("Payable", "-2.50"))
	locked = {"Cash": {"posting_count": 2}, "Sales": {"posting_count": 1}, "Payable": {"posting_count": 2}}
	read = posting._read_last_postings(db, locked, ["Cash", "Sales", "Payable"])
	assert {name: None if raw is None else D(str(raw)) for name, raw in read.items()} == {
		"Cash": D("12.50"), "Sales": D("10.00"), "Payable": None}
