"""Property-based: random sequences of posts, reversals and duplicate sends keep conservation
(the whole ledger sums to zero) and cache == sum of postings, on every backend."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_app.engine import posting, reconcile
from ledger_app.engine.errors import Conflict, InvariantViolation
from ledger_app.engine.txn_types import Leg
from tests.support import make_pool, open_accounts

ACCOUNTS = [("P Cash", "Asset", True), ("P Bank", "Asset", True), ("P Sales", "Income", True),
	("P Payable", "Liability", False), ("P Fees", "Expense", False)]
NAMES = [a[0] for a in ACCOUNTS]
_counter = itertools.count()

amounts = st.integers(min_value=1, max_value=10_000_000).map(lambda cents: Decimal(cents) / 100)
post_op = st.tuples(st.just("post"), st.lists(st.sampled_from(NAMES), min_size=2, max_size=4, unique=True),
	st.lists(amounts, min_size=3, max_size=3))
reverse_op = st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=50))
repeat_op = st.tuples(st.just("repeat"), st.integers(min_value=0, max_value=50))
operations = st.lists(st.one_of(post_op, reverse_op, repeat_op), min_size=1, max_size=25)


def _legs(names, amts):
	"""Balanced legs: every account but the last gets an amount (alternating sign), the last balances."""
	legs = [Leg(n, a if i % 2 == 0 else -a) for i, (n, a) in enumerate(zip(names[:-1], amts))]
	total = sum((leg.amount for leg in legs), Decimal(0))
	if total == 0:
		legs[0] = Leg(legs[0].account, legs[0].amount + Decimal("0.01"))
		total = sum((leg.amount for leg in legs), Decimal(0))
	return legs + [Leg(names[-1], -total)]


def test_random_sequences_keep_conservation_and_cache_equals_sum(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		open_accounts(db, *ACCOUNTS)

		@settings(max_examples=25 if db.dialect.name == "sqlite" else 12, deadline=None,
			suppress_health_check=[HealthCheck.too_slow])
		@given(operations)
		def run(ops):
			run_id = next(_counter)
			posted = []  # (name, key, legs)
			for op in ops:
				if op[0] == "post":
					legs = _legs(op[1], op[2])
					key = f"r{run_id}-{len(posted)}"
					try:
						result = posting.post_journal(db, key, legs)
					except InvariantViolation:
						continue  # a floor would be broken: refused, nothing written
					assert not result.duplicate
					posted.append((result.name, key, legs))
				elif op[0] == "repeat" and posted:
					name, key, legs = posted[op[1] % len(posted)]
					again = posting.post_journal(db, key, legs)
					assert again.duplicate and again.name == name
				elif op[0] == "reverse" and posted:
					name, _, _ = posted[op[1] % len(posted)]
					try:
						posting.reverse_transaction(db, name, f"rev-{name}")
					except (Conflict, InvariantViolation):
						pass
			total = db.sql(f"SELECT {db.dialect.money_sum('`amount`')} AS s FROM `tabLedger Posting`")[0]["s"]
			assert Decimal(total) == 0
			check = reconcile.reconcile(db)
			assert check["discrepancies"] == 0, check["items"]

		run()
	pool.dispose()
