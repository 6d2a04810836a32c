"""Concurrent posting with real threads and processes on every backend: exact balances, each
repeated key counted once, the ledger sums to zero and reconcile finds nothing."""

from __future__ import annotations

import multiprocessing
import random
import threading
from decimal import Decimal

import pytest

from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import posting, reconcile
from ledger_app.engine.errors import InvariantViolation
from ledger_app.engine.txn_types import Leg
from tests.support import count, make_pool, open_accounts

D = Decimal
JOURNALS = 5000
THREADS = 16
PROCESSES = 4


def _plan(seed=7):
	"""5,000 journals: 4,500 distinct keys and 500 repeats of earlier ones (same content)."""
	rng = random.Random(seed)
	unique = [(f"j{i}", D(rng.randint(1, 100_000)) / 100) for i in range(JOURNALS * 9 // 10)]
	repeats = [unique[rng.randrange(len(unique))] for _ in range(JOURNALS - len(unique))]
	work = unique + repeats
	rng.shuffle(work)
	return unique, work


def _post_all(db, items) -> tuple[int, int]:
	fresh = dup = 0
	for key, amount in items:
		result = posting.post_journal(db, key, [Leg("Paybill", amount), Leg("Driver Payable", -amount)])
		if result.duplicate:
			dup += 1
		else:
			fresh += 1
	return fresh, dup


def _process_worker(url, items, queue):
	pool = ConnectionPool(url, size=4)
	results, threads = [], []
	chunks = [items[i::4] for i in range(4)]

	def run(chunk):
		with pool.connection() as db:
			results.append(_post_all(db, chunk))

	for chunk in chunks:
		threads.append(threading.Thread(target=run, args=(chunk,)))
		threads[-1].start()
	for t in threads:
		t.join()
	queue.put(tuple(map(sum, zip(*results))) if len(results) == 4 else None)


def test_threads_and_processes_post_exactly_once_each(db_url):
	pool = make_pool(db_url, size=THREADS + 2)
	with pool.connection() as db:
		open_accounts(db, ("Paybill", "Asset"), ("Driver Payable", "Liability"))
	unique, work = _plan()
	# half the work to 16 threads here, half to 4 processes with 4 threads each, all at once
	in_threads, in_processes = work[: len(work) // 2], work[len(work) // 2 :]
	ctx = multiprocessing.get_context("spawn")
	queue = ctx.Queue()
	procs = [ctx.Process(target=_process_worker, args=(db_url, in_processes[i::PROCESSES], queue)) for i in range(PROCESSES)]
	for p in procs:
		p.start()
	results, errors = [], []

	def run(chunk):
		try:
			with pool.connection() as db:
				results.append(_post_all(db, chunk))
		except Exception as exc:  # surfaced below
			errors.append(exc)

	threads = [threading.Thread(target=run, args=(in_threads[i::THREADS],)) for i in range(THREADS)]
	for t in threads:
		t.start()
	for t in threads:
		t.join()
	proc_results = [queue.get(timeout=600) for _ in procs]
	for p in procs:
		p.join(timeout=60)
	assert not errors, errors
	assert None not in proc_results and all(p.exitcode == 0 for p in procs)

	fresh = sum(r[0] for r in results + proc_results)
	dup = sum(r[1] for r in results + proc_results)
	assert (fresh, dup) == (len(unique), JOURNALS - len(unique))
	expected = sum((amount for _, amount in unique), D(0))
	with pool.connection() as db:
		assert posting.balance(db, "Paybill") == expected
		assert posting.balance(db, "Driver Payable") == expected
		assert count(db, "Ledger Transaction") == len(unique)
		total = db.sql(f"SELECT {db.dialect.money_sum('`amount`')} AS s FROM `tabLedger Posting`")[0]["s"]
		assert D(total) == 0
		assert reconcile.reconcile(db)["discrepancies"] == 0
	pool.dispose()


def _post_while_locked(pool, hold, post) -> tuple[list, list]:
	"""``post(db)`` on a connection of its own while another holds, uncommitted, what ``hold(holder)``
	wrote; the holder commits once the post is seen waiting.  (outcomes, errors) of the post."""
	outcome, errors = [], []

	def second():
		try:
			with pool.connection() as db:
				outcome.append(post(db))
		except Exception as exc:  # surfaced by the caller
			errors.append(exc)

	with pool.connection() as holder:
		holder.begin()
		hold(holder)
		waiter = threading.Thread(target=second)
		waiter.start()
		waiter.join(timeout=1.0)
		assert waiter.is_alive(), "the second post should be waiting for the account locks"
		holder.commit()
	waiter.join(timeout=30)
	return outcome, errors


def test_post_that_waited_for_a_lock_builds_on_the_posting_committed_meanwhile(db_url):
	"""A post whose account lock waits for another writer's commit builds on that writer's posting (on
	PostgreSQL the joined posting comes back from before the wait; the insert of the new postings
	returns the one committed meanwhile, and the cache is checked against it)."""
	pool = make_pool(db_url, size=4)
	with pool.connection() as db:
		open_accounts(db, ("Paybill", "Asset"), ("Driver Payable", "Liability"))
		posting.post_journal(db, "first", [Leg("Paybill", D("1.00")), Leg("Driver Payable", D("-1.00"))])
	outcome, errors = _post_while_locked(
		pool,
		lambda holder: posting.post(holder, "Journal", "holder", [Leg("Paybill", D("10.00")), Leg("Driver Payable", D("-10.00"))]),
		lambda db: posting.post_journal(db, "waiter", [Leg("Paybill", D("5.00")), Leg("Driver Payable", D("-5.00"))]),
	)
	assert not errors, errors
	assert outcome[0].balances == {"Driver Payable": D("16.00"), "Paybill": D("16.00")}
	with pool.connection() as db:
		rows = db.sql(
			f"SELECT {db.dialect.money('`balance_after`')} AS `after`, `account_seq` FROM `tabLedger Posting`"
			" WHERE `account` = 'Paybill' ORDER BY `account_seq`"
		)
		assert [(D(r["after"]), int(r["account_seq"])) for r in rows] == [(D("1.00"), 1), (D("11.00"), 2), (D("16.00"), 3)]
		assert reconcile.reconcile(db)["discrepancies"] == 0
	pool.dispose()


@pytest.mark.parametrize("posted", [True, False], ids=["posted-to", "locked-only"])
def test_a_cache_that_drifted_while_a_post_waited_for_its_lock_is_refused(db_url, posted):
	"""The cache check holds after a lock wait too: on an account the waiting post writes to (on
	PostgreSQL checked with the insert of its postings) and on one it only locked and read (on
	PostgreSQL read again by key)."""
	pool = make_pool(db_url, size=4)
	with pool.connection() as db:
		open_accounts(db, ("Paybill", "Asset"), ("Driver Payable", "Liability"), ("Target", "Asset"))
		posting.post_journal(db, "first", [Leg("Paybill", D("1.00")), Leg("Driver Payable", D("-1.00"))])
		posting.post_journal(db, "first-target", [Leg("Target", D("1.00")), Leg("Driver Payable", D("-1.00"))])
	drifted = "Paybill" if posted else "Target"

	def hold(holder):
		posting.post(holder, "Journal", "holder", [Leg(drifted, D("10.00")), Leg("Driver Payable", D("-10.00"))])
		holder.execute(f"UPDATE `tabLedger Account` SET `balance` = {holder.dialect.money_add('`balance`', '%(d)s')}"
			" WHERE `name` = %(n)s", {"d": D("0.01") if holder.dialect.name != "sqlite" else "0.01", "n": drifted})

	outcome, errors = _post_while_locked(pool, hold, lambda db: db.run_in_transaction(lambda db: posting.post(db, "Journal",
		"waiter", lock=["Paybill", "Driver Payable", "Target"], build=lambda balances: [Leg("Paybill", D("5.00")),
		Leg("Driver Payable", D("-5.00"))])))
	assert not outcome
	assert len(errors) == 1 and isinstance(errors[0], InvariantViolation), errors
	assert f"cached balance of {drifted} is 11.01 but its ledger running balance is 11.00" in str(errors[0])
	with pool.connection() as db:
		assert posting.find_by_key(db, "Journal", "waiter") is None
	pool.dispose()
