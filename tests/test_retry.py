"""Bounded replay of a unit of work when the database reports a real deadlock."""

from __future__ import annotations

import threading

import pytest

from ledger_app.engine.errors import RetryableDatabaseError
from tests.support import make_pool, open_accounts


def test_deadlocked_unit_is_replayed_and_both_finish(db_url, backend):
	if backend == "sqlite":
		pytest.skip("SQLite takes the one write lock at BEGIN IMMEDIATE: two writers cannot deadlock")
	pool = make_pool(db_url)
	with pool.connection() as db:
		open_accounts(db, ("A", "Asset"), ("B", "Asset"))
	barrier = threading.Barrier(2, timeout=20)
	attempts = {"AB": 0, "BA": 0}
	errors = []

	def worker(order):
		def unit(db):
			attempts[order] += 1
			first, second = order
			db.sql(f"SELECT `name` FROM `tabLedger Account` WHERE `name` = %(n)s{db.dialect.for_update}", {"n": first})
			if attempts[order] == 1:
				barrier.wait()  # both hold their first row: the second lock closes the cycle
			db.sql(f"SELECT `name` FROM `tabLedger Account` WHERE `name` = %(n)s{db.dialect.for_update}", {"n": second})
			db.execute("UPDATE `tabLedger Account` SET `frozen` = 0 WHERE `name` = %(n)s", {"n": second})

		try:
			with pool.connection() as db:
				db.run_in_transaction(unit)
		except Exception as exc:
			errors.append(exc)

	threads = [threading.Thread(target=worker, args=(o,)) for o in ("AB", "BA")]
	for t in threads:
		t.start()
	for t in threads:
		t.join(timeout=60)
	assert not errors, errors
	assert sorted(attempts.values()) == [1, 2]  # the victim was replayed once, the other ran once
	pool.dispose()


def test_retry_is_bounded(db_url):
	pool = make_pool(db_url)
	calls = []

	def always_deadlocks(db):
		calls.append(1)
		raise RetryableDatabaseError("deadlock")

	with pool.connection() as db:
		with pytest.raises(RetryableDatabaseError):
			db.run_in_transaction(always_deadlocks, attempts=3)
		assert not db.in_transaction
	assert len(calls) == 3
	pool.dispose()
