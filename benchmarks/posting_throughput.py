"""Posting throughput: the engine (``posting.post_journal``) versus a raw-SQL floor doing the same
writes, and the cost of posting to an account with a long history.

Part 1, throughput (journals/s), per backend and scenario (1 or 16 connections, each a thread;
one hot account pair, or random distinct pairs out of 1,000 accounts):

- **floor**: the least a correct raw write does (``benchlib.Floor``: 6 round trips on the pooled
  DB-API connection, no port, no validation, no idempotency look-up).

- **engine**: ``posting.post_journal(db, key, legs)`` on a connection from a ``ConnectionPool``
  (one connection held per thread for the whole run).

Each scenario gets a fresh database in a steady state: the accounts start with prior history
(10,000 journals on the hot pair; 100 on each of the 500 pairs the 1,000 accounts form) loaded in
bulk and ANALYZEd, so the planner has statistics as on a live ledger.  Each variant gets its own
fresh pool; the two take turns over ``--rounds`` rounds (floor, engine; engine, floor; ...) that split
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
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl

from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import posting, reconcile
from ledger_app.engine.txn_types import Leg

SPREAD_ACCOUNTS = 1000
#: prior journals loaded before a run: on the hot pair, and on each of the 500 spread pairs
HOT_PRIOR = 10_000
SPREAD_PRIOR = 100
AMOUNTS = [Decimal(c) / 100 for c in range(1, 10001, 37)]
VARIANTS = ("floor", "engine")


def engine_post(db, key, debit, credit, amount) -> None:
	posting.post_journal(db, key, [Leg(debit, amount), Leg(credit, -amount)])


# --- one timed run ----------------------------------------------------------------------------


def timed_run(pool: ConnectionPool, variant: str, threads: int, seconds: float, warmup: float, picker) -> dict:
	"""``threads`` workers posting journals for warmup + seconds; journals finishing inside the
	measured window count."""
	floor = bl.Floor(pool) if variant == "floor" else None

	@contextlib.contextmanager
	def client(i: int):
		with pool.connection() as db:

			def step(rng, n):
				debit, credit = picker(rng)
				amount, key = rng.choice(AMOUNTS), f"{variant}-{run_id}-{i}-{n}"
				if floor is None:
					engine_post(db, key, debit, credit, amount)
				else:
					floor.post_retrying(db, key, {debit: amount, credit: -amount})

			yield step

	run_id = uuid.uuid4().hex[:12]
	result = bl.timed_clients(threads, warmup, seconds, client, {"client_cpu": time.process_time})
	return {**result, "variant": variant, "retries": floor.retries if floor else 0}


def hot_picker(accounts):
	a, l = accounts
	return lambda rng: (a, l)


def spread_picker(accounts):
	def pick(rng):
		a, b = rng.sample(accounts, 2)
		return a, b

	return pick


def scenario(backend: str, layout: str, threads: int, args) -> dict:
	with bl.bench_database(backend, f"tp_{backend}_{layout}_{threads}", keep=args.keep, pool_size=max(8, threads),
			overflow=8) as (url, setup_pool):
		# steady state, not an empty database: every account starts with prior history and the
		# planner has statistics (ANALYZE after the load), as a live ledger would have
		if layout == "hot":
			bl.insert_accounts(setup_pool, bl.pair_accounts("hot-", 1))
			bl.bulk_history(setup_pool, "hot-", 1, 1, HOT_PRIOR, quiet=True)
			a, l = bl.pair_names("hot-", 0)

			def picker(rng):
				return a, l
		else:
			pairs = SPREAD_ACCOUNTS // 2
			bl.insert_accounts(setup_pool, bl.pair_accounts("acct-", pairs))
			bl.bulk_history(setup_pool, "acct-", pairs, 1, SPREAD_PRIOR, quiet=True)
			accounts = [n for p in range(pairs) for n in bl.pair_names("acct-", p)]

			def picker(rng):
				return tuple(rng.sample(accounts, 2))
		setup_pool.dispose()
		runs = {v: [] for v in VARIANTS}
		# a fresh pool per variant for this scenario, kept across rounds
		pools = {v: ConnectionPool(url, size=max(8, threads), overflow=8) for v in VARIANTS}
		load = [os.getloadavg()[0]]
		try:
			for rnd, variant, first in bl.alternating(VARIANTS, args.rounds):
				warmup = args.warmup if first else min(args.warmup, 0.2)
				result = timed_run(pools[variant], variant, threads, args.seconds / args.rounds, warmup, picker)
				runs[variant].append(result)
				bl.log(f"  {backend} {layout} x{threads} {variant} round {rnd + 1}: {result['count'] / result['seconds']:,.0f}/s"
					f" ({len(result['errors'])} errors, {result['retries']} floor retries)")
				for err in result["errors"][:3]:
					bl.log(f"    error: {err}")
		finally:
			for pool in pools.values():
				pool.dispose()
		load.append(os.getloadavg()[0])
		check = check_consistency(url)
	out = {"backend": backend, "layout": layout, "threads": threads, "consistent": check, "loadavg": load}
	out.update({variant: bl.summary(results) for variant, results in runs.items()})
	out["ratio"] = out["engine"]["rate"] / out["floor"]["rate"] if out["floor"]["rate"] else float("nan")
	return out


def check_consistency(url: str) -> str:
	"""After the runs: every cached balance equals its postings' sum (the floor must not have
	corrupted anything the engine then trusted)."""
	pool = ConnectionPool(url, size=1, overflow=0)
	try:
		with pool.connection() as db:
			summary = reconcile.reconcile(db)
		return "clean" if summary["discrepancies"] == 0 else f"{summary['discrepancies']} discrepancies"
	finally:
		pool.dispose()


# --- part 2: history cost ---------------------------------------------------------------------


def legs(pair: tuple[str, str], amount: Decimal = Decimal("1.00")) -> dict:
	return {pair[0]: amount, pair[1]: -amount}


def history(backend: str, prior: int, posts: int, blocks: int, keep: bool) -> dict:
	with bl.bench_database(backend, f"hist_{backend}", keep=keep) as (url, pool):
		bl.insert_accounts(pool, bl.pair_accounts("hist-", 1) + bl.pair_accounts("fresh-", 1))
		bl.log(f"{backend}: bulk-loading {prior:,} prior journals ({2 * prior:,} postings) on one pair")
		load_seconds = bl.bulk_history(pool, "hist-", 1, 1, prior)
		bl.log(f"{backend}: loaded in {load_seconds:.1f} s")
		pool.dispose()
		pool = ConnectionPool(url, size=2, overflow=0)
		loaded, fresh = bl.pair_names("hist-", 0), bl.pair_names("fresh-", 0)
		floor = bl.Floor(pool)
		run_id = uuid.uuid4().hex[:10]
		times = {(v, p): [] for v in ("engine", "floor") for p in ("loaded", "fresh")}
		per_block = max(1, posts // blocks)
		n = 0
		with pool.connection() as db:
			# warm-up on both pairs (caches, prepared statements), not measured
			for pair in (loaded, fresh):
				for _ in range(20):
					n += 1
					engine_post(db, f"w-{run_id}-{n}", pair[0], pair[1], Decimal("1.00"))
					floor.post_retrying(db, f"wf-{run_id}-{n}", legs(pair))
			for _, label, _ in bl.alternating(("loaded", "fresh"), blocks):
				pair = loaded if label == "loaded" else fresh
				for variant in ("engine", "floor"):
					bucket = times[(variant, label)]
					for _ in range(per_block):
						n, t = n + 1, time.perf_counter()
						if variant == "engine":
							engine_post(db, f"h-{run_id}-{n}", pair[0], pair[1], Decimal("1.00"))
						else:
							floor.post_retrying(db, f"h-{run_id}-{n}", legs(pair))
						bucket.append(time.perf_counter() - t)
			plan = explain_last_posting(db, loaded[0])
		pool.dispose()
		check = check_consistency(url)
	out = {"backend": backend, "prior": prior, "posts": per_block * blocks, "load_seconds": load_seconds,
		"consistent": check, "plan": plan}
	for (variant, label), values in times.items():
		out[f"{variant}_{label}"] = {"mean": sum(values) / len(values), "p50": bl.median(values),
			"p99": bl.percentile(values, 0.99)}
	for variant in ("engine", "floor"):
		out[f"{variant}_ratio_mean"] = out[f"{variant}_loaded"]["mean"] / out[f"{variant}_fresh"]["mean"]
		out[f"{variant}_ratio_p50"] = out[f"{variant}_loaded"]["p50"] / out[f"{variant}_fresh"]["p50"]
	return out


def explain_last_posting(db, account: str) -> str:
	"""The plan of the engine's last-posting read on the loaded account (for the report): the
	locking SELECT with the joined last posting (explained without FOR UPDATE)."""
	d = db.dialect.name
	q = (f"SELECT a.`name`, p.`balance_after` FROM {bl.ACCOUNT} a LEFT JOIN {bl.POSTING} p"
		" ON p.`account` = a.`name` AND p.`account_seq` = a.`posting_count` WHERE a.`name` IN (%s, %s) ORDER BY a.`name`")
	prefix = "EXPLAIN QUERY PLAN " if d == "sqlite" else "EXPLAIN "
	rows = bl.raw_exec(db, prefix + q, (account, account[:-1] + "L"), fetch=True)
	if d == "postgres":
		return " / ".join(r["QUERY PLAN"].strip() for r in rows)
	if d == "mariadb":
		return " / ".join(f"{r['table']}: type={r['type']} key={r['key']} rows={r['rows']}" for r in rows)
	return " / ".join(str(r["detail"]) for r in rows)


# --- output -----------------------------------------------------------------------------------


def throughput_table(results: list[dict]) -> str:
	rows = [[r["backend"], r["layout"], r["threads"], *(bl.fmt_rate(r[v]["rate"]) for v in VARIANTS),
		f"**{r['ratio'] * 100:.0f} %**", r["consistent"]] for r in results]
	detail = [[r["backend"], r["layout"], r["threads"], *(bl.latency(r[v]) for v in VARIANTS),
		" / ".join(f"{r[v]['client_cpu_ms']:.2f}" for v in VARIANTS),
		" / ".join(f"{r[v]['errors']}" + (f" ({r[v]['retries']} retried)" if r[v]["retries"] else "") for v in VARIANTS),
		" / ".join(bl.rate_range(r[v]) for v in VARIANTS), "-".join(f"{x:.1f}" for x in r["loadavg"])]
		for r in results]
	main = bl.table(["backend", "accounts", "conns", "floor j/s", "engine j/s", "engine / floor", "reconcile after"], rows)
	extra = bl.table(["backend", "accounts", "conns", "floor p50 / p99 ms", "engine p50 / p99 ms",
		"client CPU ms per journal (floor / engine)", "errors (floor / engine)", "j/s range over rounds (floor / engine)",
		"load avg before-after"], detail)
	return main + "\n\nLatency, client CPU and errors for the same runs:\n\n" + extra


def history_table(results: list[dict]) -> str:
	rows = [[r["backend"], v, f"{r['prior']:,}", r["posts"],
		f"{bl.fmt_ms(r[f'{v}_fresh']['mean'])} / {bl.fmt_ms(r[f'{v}_fresh']['p50'])}",
		f"{bl.fmt_ms(r[f'{v}_loaded']['mean'])} / {bl.fmt_ms(r[f'{v}_loaded']['p50'])}",
		f"{r[f'{v}_ratio_mean']:.2f}x / {r[f'{v}_ratio_p50']:.2f}x"] for r in results for v in ("engine", "floor")]
	return bl.table(["backend", "path", "prior postings per account", "posts per pair", "fresh pair mean / p50 ms",
		"loaded pair mean / p50 ms", "loaded/fresh (mean / p50)"], rows)


def main(argv=None) -> int:
	global HOT_PRIOR, SPREAD_PRIOR
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	bl.run_args(parser, seconds=8.0, rounds=4)
	parser.add_argument("--part", default="all", choices=("all", "throughput", "history"))
	parser.add_argument("--prior", type=int, default=1_000_000, help="prior journals on the loaded pair")
	parser.add_argument("--posts", type=int, default=2000, help="timed posts per pair and path (history)")
	args = parser.parse_args(argv)
	if args.quick:
		args.seconds, args.warmup, args.rounds = min(args.seconds, 0.6), min(args.warmup, 0.2), 2
		args.prior, args.posts = min(args.prior, 20_000), min(args.posts, 200)
		HOT_PRIOR, SPREAD_PRIOR = 1000, 10
	backends = bl.backends_from_arg(args.backend)
	results = {"settings": {b: bl.server_settings(b) for b in backends}, "throughput": [], "history": []}
	if args.part in ("all", "throughput"):
		for backend in backends:
			for layout in args.layouts.split(","):
				for threads in (int(t) for t in args.threads.split(",")):
					results["throughput"].append(scenario(backend, layout, threads, args))
		print("\n### Posting throughput: engine vs raw-SQL floor (journals/s)\n")
		print(throughput_table(results["throughput"]))
	if args.part in ("all", "history"):
		for backend in backends:
			results["history"].append(history(backend, args.prior, args.posts, 8 if not args.quick else 2, args.keep))
		print(f"\n### Posting cost with {args.prior:,} prior postings per account vs a fresh account (1 connection)\n")
		print(history_table(results["history"]))
		for r in results["history"]:
			print(f"\n- {r['backend']}: bulk load {r['load_seconds']:.0f} s; last-posting read plan: {r['plan']};"
				f" reconcile afterwards: {r['consistent']}")
	sys.stdout.flush()
	if args.json:
		for r in results["throughput"]:
			for v in VARIANTS:
				r[v].pop("latencies", None)
		Path(args.json).write_text(json.dumps(results, indent=1, default=str))
	return 0


if __name__ == "__main__":
	sys.exit(main())
