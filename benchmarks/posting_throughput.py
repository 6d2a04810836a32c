"""Posting throughput: the engine (``posting.post_journal``) versus a raw-SQL floor doing the same
writes, and the cost of posting to an account with a long history.

Part 1, throughput (journals/s), per backend and scenario (1 or 16 connections, each a thread;
one hot account pair, or random distinct pairs out of 1,000 accounts):

- **floor**: the least a correct raw write does, straight on the pooled DB-API connection (no port,
  no validation, no idempotency look-up), one transaction of 6 round trips::

	BEGIN                                  (SQLite: BEGIN IMMEDIATE)
	INSERT INTO `tabLedger Transaction` (... same 15 columns as the engine ...) VALUES (...)
	SELECT name, balance, posting_count, normal_side FROM `tabLedger Account`
		WHERE name IN (a, b) ORDER BY name FOR UPDATE         (SQLite: no FOR UPDATE)
	INSERT INTO `tabLedger Posting` (... same 14 columns ...) VALUES (...), (...)
		-- balance_after = locked balance + delta, account_seq = locked posting_count + 1
	UPDATE `tabLedger Account` SET balance = balance + CASE name WHEN a THEN da WHEN b THEN db END,
		posting_count = posting_count + 1 WHERE name IN (a, b)
	COMMIT

- **engine-sql**: the engine's own statement list, run raw (no port, no validation): the header
  is inserted "or skipped" on its unique ``idempotency_key`` (``INSERT ... ON DUPLICATE KEY UPDATE``
  on MariaDB, ``ON CONFLICT (idempotency_key) DO NOTHING`` on PostgreSQL/SQLite; the row count is
  checked), and the lock selects the same columns as ``posting._lock_accounts``, with the last
  posting read in that locking SELECT (``LEFT JOIN `tabLedger Posting` p ON p.account = a.name AND
  p.account_seq = a.posting_count``; PostgreSQL: ``FOR UPDATE OF a``): 6 round trips, like the
  floor.  On PostgreSQL, where a lock wait can return the joined posting from before the wait, the
  last postings are then read again by a separate statement (``SELECT account, balance_after FROM
  `tabLedger Posting` WHERE (account = a AND account_seq = n) OR (...)``), as the engine does.
  floor -> engine-sql is the price of the engine's statements; engine-sql -> engine is the price of
  the port, validation and Python work.

- **floor+reads** (not run by default; ``--variants floor,floor+reads,...``): the statement list
  of the engine *before* it dropped two reads, kept for comparison: the floor plus ``SELECT name
  FROM `tabLedger Transaction` WHERE idempotency_key = k`` before the header INSERT and the
  separate last-posting read above (``LOCK IN SHARE MODE`` on MariaDB) after the lock, 8 round
  trips on every backend.

- **engine**: ``posting.post_journal(db, key, legs)`` on a connection from a ``ConnectionPool``
  (one connection held per thread for the whole run).

Each scenario gets a fresh database in a steady state: the accounts start with prior history
(10,000 journals on the hot pair; 100 on each of the 500 pairs the 1,000 accounts form) loaded in
bulk and ANALYZEd, so the planner has statistics as on a live ledger.  Each variant gets its own
fresh pool; the variants take turns over ``--rounds`` rounds (order ABC, CBA, ABC, ...) that split
``--seconds`` between them, after a warm-up, so drift and bursts of other load on a shared machine
hit every variant alike.  Rates are total journals / total measured seconds; latencies (p50/p99)
are per journal, wall clock, as the caller sees them; client CPU is this process's CPU time per
journal (the load generator shares the machine's cores with the servers).

Part 2, history cost (``--part history``): one account pair with ``--prior`` bulk-loaded journals
(each account holds that many prior postings; consistent account_seq, balance_after and cached
balance/posting_count) and one fresh pair in the same database; then, on 1 connection, blocks of
posts alternate between the two pairs.  Reported: mean and median cost per post on each pair and
the ratio loaded / fresh, for the engine and the floor.

Usage: ``python benchmarks/posting_throughput.py --backend all --seconds 8``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl

from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import clock, posting
from ledger_app.engine.errors import RetryableDatabaseError
from ledger_app.engine.txn_types import Leg

CENT = Decimal("0.01")
SPREAD_ACCOUNTS = 1000
#: prior journals loaded before a run: on the hot pair, and on each of the 500 spread pairs
HOT_PRIOR = 10_000
SPREAD_PRIOR = 100
AMOUNTS = [Decimal(c) / 100 for c in range(1, 10001, 37)]


# --- the raw floor ----------------------------------------------------------------------------


class Floor:
	"""The raw-SQL floor: the same rows the engine writes, with the fewest statements a correct
	write needs (see the module docstring).  Prepared per dialect once."""

	#: the statement lists this class can run (see the module docstring)
	MODES = ("floor", "engine-sql", "floor+reads")

	def __init__(self, dialect, name_expr: str | None = None, mode: str = "floor"):
		if mode not in self.MODES:
			raise ValueError(f"unknown raw variant {mode!r}; one of {', '.join(self.MODES)}")
		self.dialect = dialect
		self.name_expr = name_expr
		self.mode = mode
		d = dialect.name
		#: floor+reads: the old engine's look-up before the header INSERT
		self.look_up_key = mode == "floor+reads"
		#: engine-sql: insert-or-skip on the key; last posting joined into the lock, read again by a
		#: separate statement only where PostgreSQL returned it from before a lock wait (as the
		#: engine does); floor+reads: always a separate read
		self.skip_insert = mode == "engine-sql"
		self.joined = mode == "engine-sql"
		self.separate_last = mode == "floor+reads"
		self.find_key = bl.raw_sql(d, f"SELECT `name` FROM {bl.TRANSACTION} WHERE `key_scope` = 'Journal' AND `idempotency_key` = %s")
		# the separate last-posting read: as the engine runs it on PostgreSQL (money as text), and
		# as it ran on every backend before (a locking read on MariaDB)
		money = dialect.money if mode == "engine-sql" else (lambda expr: expr)
		self.last = bl.raw_sql(
			d,
			f"SELECT `account`, {money('`balance_after`')} AS `balance_after` FROM {bl.POSTING}"
			" WHERE (`account` = %s AND `account_seq` = %s) OR (`account` = %s AND `account_seq` = %s)"
			f"{dialect.locking_read}",
		)
		self.begin = "BEGIN IMMEDIATE" if d == "sqlite" else "BEGIN"
		insert_txn = (
			f"INSERT INTO {bl.TRANSACTION} (`name`, `creation`, `modified`, `owner`, `modified_by`, `docstatus`, `idx`,"
			" `transaction_type`, `posting_datetime`, `idempotency_key`, `remarks`, `reversal_of`, `party_type`, `party`,"
			" `payload_hash`, `key_scope`) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'Journal')"
		)
		if self.skip_insert:
			insert_txn = dialect.insert_or_skip(insert_txn, ("key_scope", "idempotency_key"))
		self.insert_txn = bl.raw_sql(d, insert_txn)
		if mode == "engine-sql":
			# the columns posting._lock_accounts selects, money as text; the joined last posting
			# where the engine joins it
			lock = (
				f"SELECT a.`name`, {dialect.money('a.`balance`')} AS `balance`, a.`posting_count`, a.`normal_side`,"
				f" a.`frozen`, a.`allow_negative_balance`, {dialect.money('p.`balance_after`')} AS `last_running`,"
				f" p.`account_seq` AS `last_seq` FROM {bl.ACCOUNT} a LEFT JOIN {bl.POSTING} p"
				" ON p.`account` = a.`name` AND p.`account_seq` = a.`posting_count`"
				f" WHERE a.`name` IN (%s, %s) ORDER BY a.`name`{dialect.for_update_of('a')}"
			)
		else:
			lock = (
				f"SELECT `name`, `balance`, `posting_count`, `normal_side` FROM {bl.ACCOUNT}"
				f" WHERE `name` IN (%s, %s) ORDER BY `name`{dialect.for_update}"
			)
		self.lock = bl.raw_sql(d, lock)
		# ``name``: left to the database, or taken from the doctype's sequence (as the engine must)
		row = (
			"("
			+ (f"{name_expr}, " if name_expr else "")
			+ "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
		)
		name_col = "`name`, " if name_expr else ""
		self.insert_postings = bl.raw_sql(
			d,
			f"INSERT INTO {bl.POSTING} ({name_col}`creation`, `modified`, `owner`, `modified_by`, `docstatus`, `idx`, `parent`,"
			" `parentfield`, `parenttype`, `account`, `amount`, `balance_after`, `posting_datetime`, `account_seq`)"
			f" VALUES {row}, {row}",
		)
		increment = dialect.money_add("`balance`", "CASE `name` WHEN %s THEN %s WHEN %s THEN %s END")
		self.update = bl.raw_sql(
			d,
			f"UPDATE {bl.ACCOUNT} SET `balance` = {increment}, `posting_count` = `posting_count` + 1"
			" WHERE `name` IN (%s, %s)",
		)
		self.sqlite = d == "sqlite"
		self.money = (lambda v: str(v.quantize(CENT))) if self.sqlite else (lambda v: v)

	def post(self, db, key: str, debit: str, credit: str, amount: Decimal) -> None:
		conn = db.connection
		if self.sqlite:
			run = conn.execute
		else:
			cur = conn.cursor()
			run = cur.execute
		now = clock.now()
		name = bl.ledger_rows.new_name()
		try:
			run(self.begin)
			try:
				if self.look_up_key:
					found = run(self.find_key, (key,))
					(found if self.sqlite else cur).fetchall()
				inserted = run(
					self.insert_txn,
					(
						name,
						now,
						now,
						"Administrator",
						"Administrator",
						1,
						0,
						"Journal",
						now,
						key,
						None,
						None,
						None,
						None,
						bl.FIXED_HASH,
					),
				)
				if self.skip_insert and (inserted if self.sqlite else cur).rowcount != 1:
					raise RuntimeError(f"idempotency key {key!r} already taken (keys are unique per run)")
				locked = run(self.lock, (min(debit, credit), max(debit, credit)))
				rows = (locked if self.sqlite else cur).fetchall()
				stale = self.joined and any(
					r["last_seq"] is None or int(r["last_seq"]) != int(r["posting_count"]) for r in rows
				)
				if self.separate_last or stale:
					keyed = [x for r in rows for x in (r["name"], int(r["posting_count"]))]
					last = run(self.last, keyed)
					(last if self.sqlite else cur).fetchall()
				legs = {debit: amount, credit: -amount}
				params, deltas = [], []
				for idx, row in enumerate(rows, start=1):
					sign = 1 if row["normal_side"] == "Debit" else -1
					leg = legs[row["name"]]
					delta = leg * sign
					after = Decimal(str(row["balance"])) + delta
					params += [
						now,
						now,
						"Administrator",
						"Administrator",
						1,
						idx,
						name,
						"postings",
						"Ledger Transaction",
						row["name"],
						self.money(leg),
						self.money(after),
						now,
						int(row["posting_count"]) + 1,
					]
					deltas += [row["name"], self.money(delta)]
				run(self.insert_postings, params)
				run(self.update, deltas + [debit, credit])
				run("COMMIT")
			except BaseException:
				with contextlib.suppress(
					Exception
				):  # the connection may be gone; the error that matters is re-raised
					run("ROLLBACK")
				raise
		finally:
			if not self.sqlite:
				cur.close()


def make_floor(pool, mode: str = "floor") -> Floor:
	with pool.connection() as db:
		return Floor(pool.dialect, bl.posting_name_expr(db), mode=mode)


def floor_post_with_retry(floor, db, key, debit, credit, amount, stats) -> None:
	for attempt in range(10):
		try:
			floor.post(db, key, debit, credit, amount)
			return
		except Exception as exc:
			ours = db.dialect.classify(exc)
			if isinstance(ours, RetryableDatabaseError) and attempt < 9:
				stats["retries"] += 1
				time.sleep(random.uniform(0, 0.01 * (2**attempt)))
				continue
			raise


def engine_post(db, key, debit, credit, amount) -> None:
	posting.post_journal(db, key, [Leg(debit, amount), Leg(credit, -amount)])


# --- one timed run ----------------------------------------------------------------------------


def timed_run(
	pool: ConnectionPool, variant: str, threads: int, seconds: float, warmup: float, picker
) -> dict:
	"""Run ``threads`` workers posting journals for warmup + seconds; count the journals finishing
	inside the measured window."""
	floor = make_floor(pool, mode=variant) if variant != "engine" else None
	stop = threading.Event()
	barrier = threading.Barrier(threads + 1)
	run_id = uuid.uuid4().hex[:12]
	finished: list[list[tuple[float, float]]] = [[] for _ in range(threads)]
	errors: list[str] = []
	stats = {"retries": 0}

	def worker(i: int) -> None:
		rng = random.Random(f"{run_id}-{i}")
		seq = 0
		out = finished[i]
		try:
			with pool.connection() as db:
				barrier.wait()
				while not stop.is_set():
					debit, credit = picker(rng)
					amount = rng.choice(AMOUNTS)
					seq += 1
					key = f"{variant}-{run_id}-{i}-{seq}"
					t = time.perf_counter()
					try:
						if variant != "engine":
							floor_post_with_retry(floor, db, key, debit, credit, amount, stats)
						else:
							engine_post(db, key, debit, credit, amount)
					except Exception as exc:  # noqa: BLE001 - recorded and reported, the run goes on
						errors.append(f"{type(exc).__name__}: {exc}"[:300])
						if len(errors) > 50:
							stop.set()
						continue
					e = time.perf_counter()
					out.append((e, e - t))
		except threading.BrokenBarrierError:
			pass

	workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
	for w in workers:
		w.start()
	barrier.wait()
	t0 = time.perf_counter()
	time.sleep(warmup)
	cpu0 = time.process_time()
	time.sleep(seconds)
	cpu1 = time.process_time()
	stop.set()
	for w in workers:
		w.join(timeout=120)
	lo, hi = t0 + warmup, t0 + warmup + seconds
	lat = [d for per in finished for (e, d) in per if lo <= e < hi]
	return {
		"variant": variant,
		"count": len(lat),
		"seconds": seconds,
		"latencies": lat,
		"errors": errors,
		"retries": stats["retries"],
		"client_cpu": cpu1 - cpu0,
	}


def hot_picker(accounts):
	a, l = accounts
	return lambda rng: (a, l)


def spread_picker(accounts):
	def pick(rng):
		a, b = rng.sample(accounts, 2)
		return a, b

	return pick


def scenario(
	backend: str,
	layout: str,
	threads: int,
	seconds: float,
	warmup: float,
	keep: bool,
	rounds: int = 4,
	variants: tuple[str, ...] = ("floor", "engine-sql", "engine"),
	drop_indexes: list[str] | None = None,
) -> dict:
	purpose = f"tp_{backend}_{layout}_{threads}"
	with bl.bench_database(backend, purpose, keep=keep, pool_size=max(8, threads), overflow=8) as (
		url,
		setup_pool,
	):
		# steady state, not an empty database: every account starts with prior history and the
		# planner has statistics (ANALYZE after the load), as a live ledger would have
		if layout == "hot":
			bl.insert_accounts(setup_pool, bl.pair_accounts("hot-", 1))
			bl.bulk_history(setup_pool, "hot-", 1, 1, HOT_PRIOR, quiet=True)
			picker = hot_picker(bl.pair_names("hot-", 0))
		else:
			pairs = SPREAD_ACCOUNTS // 2
			bl.insert_accounts(setup_pool, bl.pair_accounts("acct-", pairs))
			bl.bulk_history(setup_pool, "acct-", pairs, 1, SPREAD_PRIOR, quiet=True)
			picker = spread_picker([n for p in range(pairs) for n in bl.pair_names("acct-", p)])
		if drop_indexes:
			bl.log(
				f"  experiment: dropped {', '.join(bl.drop_posting_indexes(setup_pool, drop_indexes)) or 'nothing'}"
			)
		setup_pool.dispose()
		runs = {v: [] for v in variants}
		# a fresh pool per variant for this scenario, kept across rounds; rounds alternate the
		# order (ABC, CBA, ABC, ...) so that drift and bursts of other load on a noisy machine hit
		# every variant alike
		pools = {v: ConnectionPool(url, size=max(8, threads), overflow=8) for v in variants}
		load = [os.getloadavg()[0]]
		try:
			for rnd in range(rounds):
				for variant in variants if rnd % 2 == 0 else variants[::-1]:
					first = not runs[variant]
					result = timed_run(
						pools[variant],
						variant,
						threads,
						seconds / rounds,
						warmup if first else min(warmup, 0.2),
						picker,
					)
					runs[variant].append(result)
					bl.log(
						f"  {backend} {layout} x{threads} {variant} round {rnd + 1}:"
						f" {result['count'] / result['seconds']:,.0f}/s ({len(result['errors'])} errors,"
						f" {result['retries']} floor retries)"
					)
					for err in result["errors"][:3]:
						bl.log(f"    error: {err}")
		finally:
			for pool in pools.values():
				pool.dispose()
		load.append(os.getloadavg()[0])
		check = check_consistency(url)
	out = {"backend": backend, "layout": layout, "threads": threads, "consistent": check, "loadavg": load}
	for variant, results in runs.items():
		count = sum(r["count"] for r in results)
		secs = sum(r["seconds"] for r in results)
		lat = [x for r in results for x in r["latencies"]]
		out[variant] = {
			"rate": count / secs if secs else 0.0,
			"rates": [r["count"] / r["seconds"] for r in results],
			"client_cpu_ms": sum(r["client_cpu"] for r in results) / max(1, count) * 1000,
			"p50": bl.percentile(lat, 0.5),
			"p99": bl.percentile(lat, 0.99),
			"errors": sum(len(r["errors"]) for r in results),
			"retries": sum(r["retries"] for r in results),
			"first_errors": [e for r in results for e in r["errors"]][:3],
		}
	out["variants"] = list(variants)
	# every variant's rate relative to the floor ("ratio" is the engine's: the headline number)
	for variant in variants:
		out[f"ratio_{variant}"] = (
			out[variant]["rate"] / out["floor"]["rate"] if out["floor"]["rate"] else float("nan")
		)
	out["ratio"] = out["ratio_engine"]
	return out


def check_consistency(url: str) -> str:
	"""After the runs: every cached balance equals its postings' sum (the floor must not have
	corrupted anything the engine then trusted)."""
	from ledger_app.engine import reconcile

	pool = ConnectionPool(url, size=1, overflow=0)
	try:
		with pool.connection() as db:
			summary = reconcile.reconcile(db)
		return "clean" if summary["discrepancies"] == 0 else f"{summary['discrepancies']} discrepancies"
	finally:
		pool.dispose()


# --- part 2: history cost ---------------------------------------------------------------------


def history(backend: str, prior: int, posts: int, blocks: int, keep: bool) -> dict:
	with bl.bench_database(backend, f"hist_{backend}", keep=keep) as (url, pool):
		bl.insert_accounts(pool, bl.pair_accounts("hist-", 1) + bl.pair_accounts("fresh-", 1))
		bl.log(f"{backend}: bulk-loading {prior:,} prior journals ({2 * prior:,} postings) on one pair")
		load_seconds = bl.bulk_history(pool, "hist-", 1, 1, prior)
		bl.log(f"{backend}: loaded in {load_seconds:.1f} s")
		pool.dispose()
		pool = ConnectionPool(url, size=2, overflow=0)
		loaded, fresh = bl.pair_names("hist-", 0), bl.pair_names("fresh-", 0)
		floor = make_floor(pool)
		run_id = uuid.uuid4().hex[:10]
		times = {(v, p): [] for v in ("engine", "floor") for p in ("loaded", "fresh")}
		stats = {"retries": 0}
		per_block = max(1, posts // blocks)
		n = 0
		with pool.connection() as db:
			# warm-up on both pairs (caches, prepared statements), not measured
			for pair in (loaded, fresh):
				for _ in range(20):
					n += 1
					engine_post(db, f"w-{run_id}-{n}", pair[0], pair[1], Decimal("1.00"))
					floor_post_with_retry(
						floor, db, f"wf-{run_id}-{n}", pair[0], pair[1], Decimal("1.00"), stats
					)
			for block in range(blocks):
				order = (
					[("loaded", loaded), ("fresh", fresh)]
					if block % 2 == 0
					else [("fresh", fresh), ("loaded", loaded)]
				)
				for label, pair in order:
					for variant in ("engine", "floor"):
						bucket = times[(variant, label)]
						for _ in range(per_block):
							n += 1
							key = f"h-{run_id}-{n}"
							t = time.perf_counter()
							if variant == "engine":
								engine_post(db, key, pair[0], pair[1], Decimal("1.00"))
							else:
								floor_post_with_retry(
									floor, db, key, pair[0], pair[1], Decimal("1.00"), stats
								)
							bucket.append(time.perf_counter() - t)
			plan = explain_last_posting(db, loaded[0])
		pool.dispose()
		check = check_consistency(url)
	out = {
		"backend": backend,
		"prior": prior,
		"posts": per_block * blocks,
		"load_seconds": load_seconds,
		"consistent": check,
		"plan": plan,
	}
	for (variant, label), values in times.items():
		out[f"{variant}_{label}"] = {
			"mean": sum(values) / len(values),
			"p50": bl.median(values),
			"p99": bl.percentile(values, 0.99),
		}
	for variant in ("engine", "floor"):
		out[f"{variant}_ratio_mean"] = out[f"{variant}_loaded"]["mean"] / out[f"{variant}_fresh"]["mean"]
		out[f"{variant}_ratio_p50"] = out[f"{variant}_loaded"]["p50"] / out[f"{variant}_fresh"]["p50"]
	return out


def explain_last_posting(db, account: str) -> str:
	"""The plan of the engine's last-posting read on the loaded account (for the report): the
	locking SELECT with the joined last posting (explained without FOR UPDATE)."""
	d = db.dialect.name
	other = account[:-1] + "L"
	q = (
		f"SELECT a.`name`, p.`balance_after` FROM {bl.ACCOUNT} a LEFT JOIN {bl.POSTING} p"
		" ON p.`account` = a.`name` AND p.`account_seq` = a.`posting_count`"
		" WHERE a.`name` IN (%s, %s) ORDER BY a.`name`"
	)
	params = (account, other)
	prefix = {"postgres": "EXPLAIN ", "mariadb": "EXPLAIN ", "sqlite": "EXPLAIN QUERY PLAN "}[d]
	rows = bl.raw_exec(db, prefix + q, params, fetch=True)
	if d == "postgres":
		return " / ".join(r["QUERY PLAN"].strip() for r in rows)
	if d == "mariadb":
		return " / ".join(f"{r['table']}: type={r['type']} key={r['key']} rows={r['rows']}" for r in rows)
	return " / ".join(str(r["detail"]) for r in rows)


# --- output -----------------------------------------------------------------------------------


def _order(results: list[dict]) -> list[str]:
	"""The variants present in any result: floor first, engine last, the raw ones in between."""
	seen = []
	for r in results:
		for v in r.get("variants", ("floor", "engine")):
			if v not in seen:
				seen.append(v)
	middle = [v for v in seen if v not in ("floor", "engine")]
	return ["floor", *middle, "engine"]


def throughput_table(results: list[dict]) -> str:
	order = _order(results)
	middle = order[1:-1]
	rows, detail = [], []
	for r in results:
		note = "single writer" if r["backend"] == "sqlite" else ""
		rows.append(
			[
				r["backend"],
				r["layout"],
				r["threads"],
				*(bl.fmt_rate(r[v]["rate"]) if v in r else "-" for v in order),
				f"**{r['ratio'] * 100:.0f} %**",
				*(f"{r[f'ratio_{v}'] * 100:.0f} %" if v in r else "-" for v in middle),
				r["consistent"],
				note,
			]
		)
		cells = [r["backend"], r["layout"], r["threads"]]
		for v in order:
			x = r.get(v)
			cells.append(f"{bl.fmt_ms(x['p50'])} / {bl.fmt_ms(x['p99'])}" if x else "-")
		cells.append(" / ".join(f"{r[v]['client_cpu_ms']:.2f}" if v in r else "-" for v in order))
		cells.append(
			" / ".join(
				(f"{r[v]['errors']}" + (f" ({r[v]['retries']} retried)" if r[v]["retries"] else ""))
				if v in r
				else "-"
				for v in order
			)
		)
		cells.append(
			" / ".join(
				f"{min(r[v]['rates']):,.0f}-{max(r[v]['rates']):,.0f}" if v in r else "-" for v in order
			)
		)
		cells.append("-".join(f"{x:.1f}" for x in r["loadavg"]))
		detail.append(cells)
	names = " / ".join(order)
	main = bl.table(
		[
			"backend",
			"accounts",
			"conns",
			*(f"{v} j/s" for v in order),
			"engine / floor",
			*(f"{v} / floor" for v in middle),
			"reconcile after",
			"note",
		],
		rows,
	)
	extra = bl.table(
		[
			"backend",
			"accounts",
			"conns",
			*(f"{v} p50 / p99 ms" for v in order),
			f"client CPU ms per journal ({names})",
			f"errors ({names})",
			f"j/s range over rounds ({names})",
			"load avg before-after",
		],
		detail,
	)
	return main + "\n\nLatency, client CPU and errors for the same runs:\n\n" + extra


def history_table(results: list[dict]) -> str:
	rows = []
	for r in results:
		for variant in ("engine", "floor"):
			lo, fr = r[f"{variant}_loaded"], r[f"{variant}_fresh"]
			rows.append(
				[
					r["backend"],
					variant,
					f"{r['prior']:,}",
					r["posts"],
					f"{bl.fmt_ms(fr['mean'])} / {bl.fmt_ms(fr['p50'])}",
					f"{bl.fmt_ms(lo['mean'])} / {bl.fmt_ms(lo['p50'])}",
					f"{r[f'{variant}_ratio_mean']:.2f}x / {r[f'{variant}_ratio_p50']:.2f}x",
				]
			)
	return bl.table(
		[
			"backend",
			"path",
			"prior postings per account",
			"posts per pair",
			"fresh pair mean / p50 ms",
			"loaded pair mean / p50 ms",
			"loaded/fresh (mean / p50)",
		],
		rows,
	)


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("--backend", default="all", help="sqlite|mariadb|postgres|all (or a comma list)")
	parser.add_argument(
		"--seconds", type=float, default=8.0, help="measured seconds per variant and scenario"
	)
	parser.add_argument(
		"--rounds", type=int, default=4, help="alternating rounds per scenario (seconds split over them)"
	)
	parser.add_argument(
		"--variants",
		default="floor,engine-sql,engine",
		help="which paths to time, in this order (floor and engine are required; floor+reads is the"
		" pre-change statement list, for comparison)",
	)
	parser.add_argument(
		"--drop-index",
		default="",
		help="experiment: drop these non-unique Ledger Posting indexes"
		" after setup, given by columns, e.g. account,account+name",
	)
	parser.add_argument(
		"--warmup", type=float, default=1.0, help="unmeasured seconds at the start of each run"
	)
	parser.add_argument("--part", default="all", choices=("all", "throughput", "history"))
	parser.add_argument("--prior", type=int, default=1_000_000, help="prior journals on the loaded pair")
	parser.add_argument("--posts", type=int, default=2000, help="timed posts per pair and path (history)")
	parser.add_argument("--threads", default="1,16")
	parser.add_argument("--layouts", default="hot,spread")
	parser.add_argument("--quick", action="store_true", help="smoke check: short runs, 20k prior journals")
	parser.add_argument("--json", help="write the results here as JSON")
	parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
	args = parser.parse_args(argv)
	if args.quick:
		global HOT_PRIOR, SPREAD_PRIOR
		args.seconds, args.warmup, args.rounds = min(args.seconds, 0.6), min(args.warmup, 0.2), 2
		args.prior, args.posts = min(args.prior, 20_000), min(args.posts, 200)
		HOT_PRIOR, SPREAD_PRIOR = 1000, 10
	variants = tuple(args.variants.split(","))
	if variants[0] != "floor" or variants[-1] != "engine" or any(v not in Floor.MODES for v in variants[:-1]):
		parser.error(f"--variants: floor first, engine last, in between any of {', '.join(Floor.MODES[1:])}")
	backends = bl.backends_from_arg(args.backend)
	results = {"settings": {b: bl.server_settings(b) for b in backends}, "throughput": [], "history": []}
	if args.part in ("all", "throughput"):
		for backend in backends:
			for layout in args.layouts.split(","):
				for threads in (int(t) for t in args.threads.split(",")):
					results["throughput"].append(
						scenario(
							backend,
							layout,
							threads,
							args.seconds,
							args.warmup,
							args.keep,
							args.rounds,
							variants,
							args.drop_index.split(",") if args.drop_index else None,
						)
					)
		print("\n### Posting throughput: engine vs raw-SQL floor (journals/s)\n")
		print(throughput_table(results["throughput"]))
	if args.part in ("all", "history"):
		for backend in backends:
			results["history"].append(
				history(backend, args.prior, args.posts, 8 if not args.quick else 2, args.keep)
			)
		print(
			f"\n### Posting cost with {args.prior:,} prior postings per account vs a fresh account (1 connection)\n"
		)
		print(history_table(results["history"]))
		for r in results["history"]:
			print(
				f"\n- {r['backend']}: bulk load {r['load_seconds']:.0f} s; last-posting read plan: {r['plan']};"
				f" reconcile afterwards: {r['consistent']}"
			)
	sys.stdout.flush()
	if args.json:
		for r in results["throughput"]:
			for v in r["variants"]:
				r[v].pop("latencies", None)
		Path(args.json).write_text(json.dumps(results, indent=1, default=str))
	return 0


if __name__ == "__main__":
	sys.exit(main())
