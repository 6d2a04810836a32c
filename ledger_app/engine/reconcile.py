"""Reconciliation: proving every cached balance against the ledger, and fixing drift on request.

One set-based pass (two statements in one read snapshot: the grouped sum over all postings, and the
accounts with each one's last posting read by its exact key) compares, per account:
- the cached ``balance`` with the sum of its postings (kind "Cached Balance"),
- the running balance on its last posting with that sum (kind "Running Balance"),
- ``posting_count`` with the number of its postings (reported as a "Running Balance" discrepancy).
The result is a Reconciliation Run with one row per discrepancy.

``fix=True`` resets a drifted cache to the ledger-derived value under the account's row lock and
records who, when, before and after on the run.  It never changes a ledger row, so it can never undo
a legitimate credit: every credit is a ledger transaction and is in the sum.  A running-balance
discrepancy means ledger rows were edited behind the engine; it is reported, never "fixed".
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from ledger_app.db.rows import insert, insert_many, new_name, standard_columns, table
from ledger_app.engine import clock
from ledger_app.engine.accounts import side_sign
from ledger_app.engine.money import ZERO, from_db

log = logging.getLogger(__name__)


def reconcile(
	db,
	*,
	fix: bool = False,
	account: str | None = None,
	party: str | None = None,
	tolerance: Decimal = ZERO,
	user: str = "Administrator",
) -> dict:
	"""Run one reconciliation (all accounts, one account or one party's accounts) and record it.

	The comparison reads one consistent snapshot on every backend; fixes and the run record are
	written in their own short transactions.  Returns the run's summary.
	"""
	started_wall, started = time.monotonic(), clock.now()
	rows = _derive(db, account=account, party=party)
	discrepancies = []
	postings_checked = 0
	for row in rows:
		count = row["posting_count_derived"]
		postings_checked += count
		derived = row["derived"] * side_sign(row["normal_side"])
		cached = from_db(row["cached"])
		last = from_db(row["last_running"]) if count else ZERO
		if cached != derived:
			discrepancies.append(_discrepancy(row["name"], "Cached Balance", cached, derived))
		if last != derived or int(row["posting_count"] or 0) != count:
			discrepancies.append(_discrepancy(row["name"], "Running Balance", last, derived))

	fixed = 0
	if fix:
		for item in discrepancies:
			if item["kind"] == "Cached Balance" and _fix_cache(db, item, user):
				fixed += 1

	above = [d for d in discrepancies if abs(d["difference"]) > tolerance]
	if above:
		log.warning("reconcile: %d discrepancies above tolerance %s: %s", len(above), tolerance,
			", ".join(f"{d['account']} {d['kind']} {d['cached']} vs {d['derived']}" for d in above[:20]))
	scope = f"account:{account}" if account else f"party:{party}" if party else "all"
	summary = {
		"accounts_checked": len(rows),
		"postings_checked": postings_checked,
		"discrepancies": len(discrepancies),
		"fixed": fixed,
		"above_tolerance": len(above),
		"items": discrepancies,
	}
	summary["run"] = _record_run(db, summary, scope, fix, started, time.monotonic() - started_wall, user)
	return summary


def _derive(db, *, account=None, party=None) -> list[dict]:
	"""Per account: cached balance, posting count, last running balance, and the sum and count of
	its postings.  Two set-based statements in one read snapshot: the grouped sum over the postings
	(the same query a raw GROUP BY is) and the accounts with their last posting read by its exact key
	``(account, account_seq = posting_count)``; merged here.  Memory grows with accounts, not postings.
	"""
	d = db.dialect
	where, params = "", {}
	if account:
		where, params = " WHERE `account` = %(account)s", {"account": account}
	elif party:
		where = f" WHERE `account` IN (SELECT `name` FROM {table('Ledger Account')} WHERE `party` = %(party)s)"
		params = {"party": party}
	account_where = " WHERE a.`name` = %(account)s" if account else " WHERE a.`party` = %(party)s" if party else ""
	with db.snapshot():
		sums = {
			row["account"]: (from_db(row["total"]), int(row["n"]))
			for row in db.sql(
				f"SELECT `account`, {_sum(d)} AS `total`, COUNT(*) AS `n` FROM {table('Ledger Posting')}{where}"
				f" GROUP BY `account`",
				params,
			)
		}
		rows = db.sql(
			f"SELECT a.`name`, a.`normal_side`, a.`posting_count`, {d.money('a.`balance`')} AS `cached`,"
			f" (SELECT {d.money('lp.`balance_after`')} FROM {table('Ledger Posting')} lp WHERE lp.`account` = a.`name`"
			f" AND lp.`account_seq` = a.`posting_count`) AS `last_running`"
			f" FROM {table('Ledger Account')} a{account_where} ORDER BY a.`name`",
			params,
		)
	for row in rows:
		total, n = sums.get(row["name"], (ZERO, 0))
		row["derived"], row["posting_count_derived"] = total, n
	return rows


def _sum(dialect) -> str:
	"""Exact SUM(amount) as text (summed in integer cents on SQLite)."""
	if dialect.name == "sqlite":
		return f"ledger_cents_text({dialect.money_sum_key('`amount`')})"
	return dialect.money("SUM(`amount`)")  # as text: Frappe's drivers would hand a float back


def _discrepancy(account, kind, cached, derived) -> dict:
	return {"account": account, "kind": kind, "cached": cached, "derived": derived, "difference": cached - derived,
		"fixed": 0, "fixed_by": None, "fixed_at": None, "balance_before": ZERO, "balance_after": ZERO}


def _fix_cache(db, item: dict, user: str) -> bool:
	"""Reset one account's cache to the ledger sum, computed again under the account's row lock."""

	def unit(db):
		d = db.dialect
		locked = db.sql(
			f"SELECT {d.money('`balance`')} AS `balance`, `normal_side` FROM {table('Ledger Account')}"
			f" WHERE `name` = %(name)s{d.for_update}",
			{"name": item["account"]},
		)
		if not locked:
			return False
		stats = db.sql(
			f"SELECT {_sum(d)} AS `total`, COUNT(*) AS `n` FROM {table('Ledger Posting')} WHERE `account` = %(name)s",
			{"name": item["account"]},
		)[0]
		before = from_db(locked[0]["balance"])
		after = from_db(stats["total"]) * side_sign(locked[0]["normal_side"])
		if before == after:
			return False
		now = clock.now()
		db.execute(
			f"UPDATE {table('Ledger Account')} SET `balance` = %(after)s, `posting_count` = %(n)s, `modified` = %(now)s"
			f" WHERE `name` = %(name)s",
			{"after": after, "n": int(stats["n"] or 0), "now": now, "name": item["account"]},
		)
		item.update(fixed=1, fixed_by=user, fixed_at=now, balance_before=before, balance_after=after)
		log.warning("reconcile fix: %s cache %s -> %s by %s", item["account"], before, after, user)
		return True

	return db.run_in_transaction(unit)


def _record_run(db, summary, scope, fix, started, seconds, user) -> str:
	name = new_name()
	now = clock.now()
	count = summary["discrepancies"]
	status = "Clean" if not count else ("Fixed" if summary["fixed"] == count else "Discrepancies")

	def unit(db):
		insert(db, "Reconciliation Run", {
			"name": name, **standard_columns(now, user),
			"started_at": started, "finished_at": now, "duration_ms": int(seconds * 1000), "scope": scope,
			"accounts_checked": summary["accounts_checked"], "postings_checked": summary["postings_checked"],
			"discrepancy_count": count, "fixed_count": summary["fixed"], "fix_requested": 1 if fix else 0,
			"run_by": user, "status": status,
		})
		insert_many(db, "Reconciliation Discrepancy", [
			{**standard_columns(now, user), "name": new_name(), "idx": i, "parent": name,
				"parentfield": "discrepancies", "parenttype": "Reconciliation Run",
				**{k: item[k] for k in ("account", "kind", "cached", "derived", "difference", "fixed",
					"fixed_by", "fixed_at", "balance_before", "balance_after")}}
			for i, item in enumerate(summary["items"], start=1)
		])

	db.run_in_transaction(unit)
	return name
