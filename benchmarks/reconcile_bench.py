"""Reconcile-all versus a raw GROUP BY and a per-account loop; reconcile's memory in the number
of postings.

Data, per backend (fresh database): 10,000 accounts (5,000 pairs of an Asset and a Liability) and
1,000,000 postings, bulk-loaded with INSERT ... SELECT from a generated series in two steps:
100,000 postings first (10 per account), then 900,000 more (100 per account).  Every account's
``account_seq`` runs 1..N, every ``balance_after`` is the running balance and the cached
``balance``/``posting_count`` match, so reconcile finds nothing to report.  No Ledger
Transaction header rows are loaded (reconcile never reads them).

Timed at 1M postings (warm caches: one untimed run of each first; then ``--reps`` alternating
runs, median reported):

- ``reconcile.reconcile(db)``: reconcile-all (two set-based statements in one read snapshot, the
  grouped SUM/COUNT over the postings and the accounts with each one's last posting read by its
  exact key, merged in Python; then the comparison of 10,000 rows and the INSERT of its
  Reconciliation Run record);
- raw GROUP BY: ``SELECT account, SUM(amount), COUNT(*) FROM `tabLedger Posting` GROUP BY
  account`` on the raw DB-API connection, all rows fetched;
- per-account loop, through the port: for each account
  ``SELECT <exact SUM(amount)>, COUNT(*) FROM `tabLedger Posting` WHERE account = %(a)s`` and
  ``SELECT balance, posting_count FROM `tabLedger Account` WHERE name = %(a)s``.  Timed over a
  random sample of ``--loop-sample`` accounts and extrapolated linearly to all accounts.

Memory: in a fresh subprocess per measurement, reconcile-all runs once untraced (growth of the
process's peak RSS, VmHWM) and once under ``tracemalloc`` (peak traced Python allocations), at
100k and at 1M postings with the same 10,000 accounts.

Usage: ``python benchmarks/reconcile_bench.py --backend all``
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl

from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import reconcile
from ledger_app.engine.money import from_db

PREFIX = "rec-"


def raw_group_by(db) -> int:
	query = f"SELECT `account`, SUM(`amount`) AS s, COUNT(*) AS n FROM {bl.POSTING} GROUP BY `account`"
	return len(bl.raw_exec(db, query, fetch=True))


def per_account(db, accounts: list[str]) -> int:
	d, bad = db.dialect, 0
	for name in accounts:
		stats = db.sql(f"SELECT {d.money_sum('`amount`')} AS `total`, COUNT(*) AS `n` FROM {bl.POSTING}"
			" WHERE `account` = %(a)s", {"a": name})[0]
		cached = db.sql(f"SELECT {d.money('`balance`')} AS `balance`, `posting_count` FROM {bl.ACCOUNT}"
			" WHERE `name` = %(a)s", {"a": name})[0]
		sign = -1 if name.endswith("-L") else 1
		same = from_db(stats["total"]) * sign == from_db(cached["balance"])
		bad += not (same and int(stats["n"]) == int(cached["posting_count"]))
	return bad


def timed(fn, *args) -> tuple[float, object]:
	t = time.perf_counter()
	value = fn(*args)
	return time.perf_counter() - t, value


def probe_memory(url: str) -> dict:
	"""Run in a fresh process: peak-RSS growth of one untraced reconcile-all, then the
	tracemalloc peak of a second one."""
	import tracemalloc

	def hwm_kib() -> int:
		with open("/proc/self/status") as f:
			for line in f:
				if line.startswith("VmHWM:"):
					return int(line.split()[1])
		return 0

	pool = ConnectionPool(url, size=1, overflow=0)
	with pool.connection() as db:
		db.sql("SELECT 1 AS x")
		before = hwm_kib()
		summary = reconcile.reconcile(db)
		after = hwm_kib()
		tracemalloc.start()
		reconcile.reconcile(db)
		_, peak = tracemalloc.get_traced_memory()
		tracemalloc.stop()
	pool.dispose()
	return {"rss_peak_growth_kib": after - before, "tracemalloc_peak_bytes": peak,
		"accounts": summary["accounts_checked"], "postings": summary["postings_checked"],
		"discrepancies": summary["discrepancies"]}


def memory_in_subprocess(url: str) -> dict:
	out = subprocess.run([sys.executable, __file__, "--probe-memory", url], capture_output=True, text=True, check=True)
	return json.loads(out.stdout.strip().splitlines()[-1])


def run_backend(backend: str, pairs: int, steps: tuple[int, int], reps: int, loop_sample: int, keep: bool) -> dict:
	out = {"backend": backend, "accounts": 2 * pairs, "memory": []}
	with bl.bench_database(backend, f"rec_{backend}", keep=keep) as (url, pool):
		bl.insert_accounts(pool, bl.pair_accounts(PREFIX, pairs))
		loaded = 0
		for step, seq_to in enumerate(steps):
			seq_from = 1 if step == 0 else steps[step - 1] + 1
			n = 2 * pairs * (seq_to - seq_from + 1)
			bl.log(f"{backend}: loading {n:,} postings (seq {seq_from}..{seq_to} on {2 * pairs:,} accounts)")
			secs = bl.bulk_history(pool, PREFIX, pairs, seq_from, seq_to, headers=False, tag=f"rec{step}-")
			loaded += n
			out[f"load_seconds_{loaded}"] = secs
			mem = memory_in_subprocess(url)
			mem["loaded"] = loaded
			out["memory"].append(mem)
			bl.log(
				f"{backend}: {loaded:,} postings: tracemalloc peak {mem['tracemalloc_peak_bytes'] / 1e6:.2f} MB,"
				f" RSS peak growth {mem['rss_peak_growth_kib'] / 1024:.1f} MiB, {mem['discrepancies']} discrepancies"
			)
			# time at every step (the headline numbers are at the last one)
			with pool.connection() as db:
				raw_group_by(db)  # warm-up, untimed
				reconcile.reconcile(db)
				rec_t, raw_t = [], []
				for _ in range(reps):
					t, summary = timed(reconcile.reconcile, db)
					rec_t.append(t)
					t, groups = timed(raw_group_by, db)
					raw_t.append(t)
				names = [n for p in range(pairs) for n in bl.pair_names(PREFIX, p)]
				sample = random.Random(7).sample(names, min(loop_sample, len(names)))
				loop_t, bad = timed(per_account, db, sample)
			out[f"at_{loaded}"] = r = {"postings": loaded, "reconcile": bl.median(rec_t), "reconcile_all": rec_t,
				"raw_group_by": bl.median(raw_t), "raw_all": raw_t, "groups": groups, "loop_sample": len(sample),
				"loop_sample_seconds": loop_t, "loop_extrapolated": loop_t / len(sample) * len(names), "loop_bad": bad,
				"discrepancies": summary["discrepancies"]}
			bl.log(f"{backend} @ {loaded:,}: reconcile {r['reconcile']:.3f} s, raw GROUP BY {r['raw_group_by']:.3f} s,"
				f" loop {r['loop_extrapolated']:.1f} s (extrapolated)")
		out["final"] = loaded
	return out


def timing_table(results: list[dict]) -> str:
	rows = [[r["backend"], f"{r['accounts']:,}", f"{a['postings']:,}", f"{a['raw_group_by']:.3f}", f"{a['reconcile']:.3f}",
		f"{a['reconcile'] / a['raw_group_by']:.2f}x",
		f"{a['loop_extrapolated']:.2f} ({a['loop_sample']:,} sampled in {a['loop_sample_seconds']:.2f} s)",
		f"{a['loop_extrapolated'] / a['reconcile']:.1f}x", a["discrepancies"]]
		for r in results for a in (r[k] for k in sorted(k for k in r if k.startswith("at_")))]
	return bl.table(["backend", "accounts", "postings", "raw GROUP BY s", "reconcile-all s", "reconcile / raw",
		"per-account loop s (extrapolated)", "loop / reconcile", "discrepancies"], rows)


def memory_table(results: list[dict]) -> str:
	rows = [[r["backend"], f"{m['accounts']:,}", f"{m['postings']:,}", f"{m['tracemalloc_peak_bytes'] / 1e6:.2f}",
		f"{m['rss_peak_growth_kib'] / 1024:.1f}"] for r in results for m in r["memory"]]
	return bl.table(["backend", "accounts", "postings", "tracemalloc peak MB", "peak RSS growth MiB"], rows)


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("--backend", default="all")
	parser.add_argument("--accounts", type=int, default=10_000)
	parser.add_argument("--postings", type=int, default=1_000_000, help="postings at the final step")
	parser.add_argument("--small", type=int, default=100_000, help="postings at the first step")
	parser.add_argument("--reps", type=int, default=3)
	parser.add_argument("--loop-sample", type=int, default=2000)
	parser.add_argument("--quick", action="store_true", help="1,000 accounts, 10k then 100k postings, small sample")
	parser.add_argument("--json")
	parser.add_argument("--keep", action="store_true")
	parser.add_argument("--probe-memory", metavar="URL", help=argparse.SUPPRESS)
	args = parser.parse_args(argv)
	if args.probe_memory:
		print(json.dumps(probe_memory(args.probe_memory)))
		return 0
	if args.quick:
		args.accounts, args.postings, args.small = 1000, 100_000, 10_000
		args.reps, args.loop_sample = 1, 200
	pairs = args.accounts // 2
	steps = (args.small // (2 * pairs), args.postings // (2 * pairs))
	backends = bl.backends_from_arg(args.backend)
	results = [run_backend(b, pairs, steps, args.reps, args.loop_sample, args.keep) for b in backends]
	print(f"\n### Reconcile-all vs raw GROUP BY vs per-account loop (seconds, median of {args.reps})\n")
	print(timing_table(results))
	print("\n### Reconcile-all memory vs number of postings (same accounts)\n")
	print(memory_table(results))
	sys.stdout.flush()
	if args.json:
		Path(args.json).write_text(json.dumps(results, indent=1, default=str))
	return 0


if __name__ == "__main__":
	sys.exit(main())
