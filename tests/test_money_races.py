"""Money under real concurrency (threads, each on its own connection), on every backend and, where the
host serves the method, the Frappe site: a reconcile fix never undoes a credit posted while it ran,
posts lock their accounts in one order so they never deadlock each other, one transaction is
reversed once however many reversals race, and racing settlements of one frozen loss never close
more than the loss.  (16 identical requests per write method: tests/test_races.py.)"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from ledger_app.engine import posting, reconcile
from ledger_app.engine.txn_types import Leg
from tests.support import call, count, drift_cash, make_pool, open_accounts

D = Decimal


def wait_blocked(thread: threading.Thread, what: str) -> None:
	thread.join(timeout=1.0)
	assert thread.is_alive(), f"{what} should be waiting for the row lock"


# --- reconcile's fix racing a credit ----------------------------------------------------------------



def test_a_reconcile_fix_keeps_a_credit_posted_between_its_read_and_its_fix(db_url):
	"""Cash's cache and last running balance drifted together to 1.00 (its postings sum to 50.50), so
	posting to it still works.  Reconcile reads 50.50; before its fix takes Cash's row lock a credit
	of 5.00 is posted (held uncommitted, then committed while the fix waits).  The fix re-derives under
	the lock: 55.50, not the 50.50 it read, which would undo the credit."""
	pool = make_pool(db_url, size=4)
	with pool.connection() as db:
		drift_cash(db)
	outcome, errors = [], []

	def fix():
		try:
			with pool.connection() as db:
				outcome.append(reconcile.reconcile(db, fix=True, account="Cash", user="auditor@example.com"))
		except Exception as exc:  # noqa: BLE001  (surfaced below)
			errors.append(exc)

	with pool.connection() as holder:
		holder.begin()
		posting.post(holder, "Journal", "credit", [Leg("Cash", D("5.00")), Leg("Sales", D("-5.00"))])
		fixer = threading.Thread(target=fix)
		fixer.start()
		wait_blocked(fixer, "the fix")
		holder.commit()
	fixer.join(timeout=60)
	assert not errors, errors
	items = {item["kind"]: item for item in outcome[0]["items"]}
	cached = items["Cached Balance"]
	assert (cached["cached"], cached["derived"]) == (D("1.00"), D("50.50"))  # what it read, before the credit
	assert (cached["fixed"], cached["balance_before"], cached["balance_after"]) == (1, D("6.00"), D("55.50"))
	with pool.connection() as db:
		assert posting.balance(db, "Cash") == D("55.50")
		total = db.sql(f"SELECT {db.dialect.money_sum('`amount`')} AS s FROM `tabLedger Posting` WHERE `account` = 'Cash'")
		assert D(total[0]["s"]) == D("55.50")
		assert posting.balance(db, "Sales") == D("55.50")
	pool.dispose()


# --- lock order -------------------------------------------------------------------------------------

ACCOUNTS = [f"Acct {c}" for c in "HGFEDCBA"]  # created in reverse name order
WORKERS = 12
JOURNALS_EACH = 40


def test_posts_over_the_same_accounts_in_opposite_orders_never_deadlock(db_url):
	"""12 threads each post 40 journals over overlapping sets of the same 8 accounts (2 to 6 of them
	each), their legs in opposite and shuffled orders, each journal in a transaction of its own with
	no replay: a deadlock or lock timeout would surface as an error.  Every journal posts once and
	every balance is exact.  (The locks are taken in name order; without it PostgreSQL locks in the
	order it finds the rows, which each update changes.)  The accounts start with two postings each:
	on MariaDB the first posts to accounts with no postings yet can still deadlock on the gap locks
	of the posting index (replayed by the services' retry; not this test's subject)."""
	pool = make_pool(db_url, size=WORKERS + 2)
	with pool.connection() as db:
		open_accounts(db, *[(name, "Asset", True) for name in ACCOUNTS])
		for round_ in range(2):  # each account's first postings (see below)
			for i, name in enumerate(ACCOUNTS):
				posting.post_journal(db, f"seed-{round_}-{i}", [Leg(name, D("1.00")), Leg(ACCOUNTS[i - 1], D("-1.00"))])
	plans = []
	for worker in range(WORKERS):
		rng = random.Random(worker)
		journals = []
		for j in range(JOURNALS_EACH):
			names = rng.sample(ACCOUNTS, rng.randint(2, 6))
			amounts = [D(rng.randint(1, 9999)) / 100 for _ in names[:-1]]
			legs = [Leg(name, amount) for name, amount in zip(names, amounts)] + [Leg(names[-1], -sum(amounts))]
			if worker % 2:
				legs.sort(key=lambda leg: leg.account, reverse=True)
			journals.append((f"w{worker}-j{j}", legs))
		plans.append(journals)
	errors, posted = [], []
	start = threading.Barrier(WORKERS)

	def work(journals):
		start.wait()
		with pool.connection() as db:
			for key, legs in journals:
				try:
					db.begin()
					posting.post(db, "Journal", key, legs)
					db.commit()
					posted.append(key)
				except Exception as exc:  # noqa: BLE001  (a deadlock here is the failure this test is about)
					db.rollback()
					errors.append(f"{key}: {type(exc).__name__}: {exc}")

	threads = [threading.Thread(target=work, args=(journals,)) for journals in plans]
	for t in threads:
		t.start()
	for t in threads:
		t.join(timeout=300)
	assert errors == [], errors[:5]
	assert len(posted) == WORKERS * JOURNALS_EACH
	expected = {name: D(0) for name in ACCOUNTS}
	for journals in plans:
		for _, legs in journals:
			for leg in legs:
				expected[leg.account] += leg.amount
	with pool.connection() as db:
		assert {name: posting.balance(db, name) for name in ACCOUNTS} == expected
		assert count(db, "Ledger Transaction") == WORKERS * JOURNALS_EACH + 2 * len(ACCOUNTS)
		assert reconcile.reconcile(db)["discrepancies"] == 0
	pool.dispose()


# --- concurrent reversals and settlements over HTTP -------------------------------------------------

RACERS = 16


def race(requests_to_send):
	"""Send the calls all at once (one thread each, released together); their responses in order."""
	start = threading.Barrier(len(requests_to_send))

	def send(request):
		start.wait()
		return request()

	with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
		return list(pool.map(send, requests_to_send))


def test_racing_reversals_of_one_transaction_reverse_it_exactly_once(served):
	"""16 reversals of one journal at once, each under its own key: one reverses it, the other 15
	are refused with 409; the money moved back once."""
	base, pool = served()
	for account, root in (("Cash", "Asset"), ("Sales", "Income")):
		assert call(base, "ledger_app.api.ledger.create_account", {"account": account, "root_type": root}).status_code == 200
	journal = call(base, "ledger_app.api.ledger.post_journal", {"idempotency_key": "sale-1", "postings": [
		{"account": "Cash", "amount": "250.25"}, {"account": "Sales", "amount": "-250.25"}]})
	assert journal.status_code == 200, journal.text
	original = journal.json()["message"]["name"]
	answers = race([lambda i=i: call(base, "ledger_app.api.ledger.reverse_transaction", {"transaction": original,
		"idempotency_key": f"undo-{i}"}) for i in range(RACERS)])
	statuses = sorted(a.status_code for a in answers)
	assert statuses == [200] + [409] * (RACERS - 1), [(a.status_code, a.text[:200]) for a in answers]
	assert all("reversed" in a.text for a in answers if a.status_code == 409)
	with pool.connection() as db:
		assert (posting.balance(db, "Cash"), posting.balance(db, "Sales")) == (D("0.00"), D("0.00"))
		reversals = db.sql("SELECT `name` FROM `tabLedger Transaction` WHERE `reversal_of` = %(o)s", {"o": original})
		assert len(reversals) == 1 and count(db, "Ledger Transaction") == 2
		assert reconcile.reconcile(db)["discrepancies"] == 0


def test_racing_settlements_of_one_loss_never_close_more_than_the_loss(served):
	"""A frozen loss of 1000.00 at 1 % + 9 % (100.00 payable) and 16 payments of 7.00 at once, each
	under its own key: each closes 70.00 of capital and splits 0.70 / 6.30; after 14 only 20.00 is
	left (2.00 payable), so the last 2 are refused (417).  Never more than the loss is closed."""
	base, pool = served()

	def ok(response):
		assert response.status_code == 200, response.text
		return response.json()["message"]

	ok(call(base, "ledger_app.api.clients.upsert_client", {"client": "C1", "client_name": "Wanjiku", "phone": "0722000001"}))
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-BIN", "client": "C1",
		"exchange": "Binance", "my_share_pct": "1", "company_share_pct": "9"}))
	ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "1000.00", "idempotency_key": "f1"}))
	ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-01",
		"remaining_balance": "0.00", "idempotency_key": "b1"}))
	answers = race([lambda i=i: call(base, "ledger_app.api.clients.settle", {"client_exchange": "C1-BIN",
		"amount": "7.00", "idempotency_key": f"pay-{i}"}) for i in range(RACERS)])
	statuses = sorted(a.status_code for a in answers)
	assert statuses == [200] * 14 + [417] * 2, [(a.status_code, a.text[:200]) for a in answers]
	settled = [a.json()["message"] for a in answers if a.status_code == 200]
	assert {(s["capital_closed"], s["your_share"], s["company_share"]) for s in settled} == {("70.00", "0.70", "6.30")}
	assert all("more than the 2.00 payable" in a.text for a in answers if a.status_code == 417)
	assert ok(call(base, "ledger_app.api.clients.get_position", {"client_exchange": "C1-BIN"}, http="GET")) == {
		"capital": "20.00", "active_loss": "1000.00", "remaining_loss": "20.00", "your_share_total": "9.80",
		"company_share_total": "88.20"}
	with pool.connection() as db:
		assert reconcile.reconcile(db)["discrepancies"] == 0


def test_a_reconcile_fix_over_http_keeps_a_credit_posted_while_it_waited(served):
	"""The same race through each host's reconcile method (on the Frappe site inside Frappe's request
	transaction): the fix waits for the credit's lock and writes the balance derived after it."""
	base, pool = served()
	with pool.connection() as db:
		drift_cash(db)
	answers = []
	fixer = threading.Thread(target=lambda: answers.append(call(base, "ledger_app.api.ledger.reconcile",
		{"fix": 1, "account": "Cash"})))
	with pool.connection() as holder:
		holder.begin()
		posting.post(holder, "Journal", "credit", [Leg("Cash", D("5.00")), Leg("Sales", D("-5.00"))])
		fixer.start()
		wait_blocked(fixer, "the fix")
		holder.commit()
	fixer.join(timeout=60)
	assert answers and answers[0].status_code == 200, answers and answers[0].text
	with pool.connection() as db:
		assert posting.balance(db, "Cash") == D("55.50")
		money = db.dialect.money
		fixed = db.sql(f"SELECT `fixed`, {money('`balance_before`')} AS `before`, {money('`balance_after`')} AS `after`"
			" FROM `tabReconciliation Discrepancy` WHERE `kind` = 'Cached Balance'")
		assert [(int(r["fixed"]), D(r["before"]), D(r["after"])) for r in fixed] == [(1, D("6.00"), D("55.50"))]
