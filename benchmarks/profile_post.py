"""Where one engine post spends its time: statements and round trips per post, time inside the
driver versus Python, and a cProfile of the engine path (1 connection, hot pair).

Every statement is timed at the DB-API connection (``benchlib.timed_statements``; the engine is not
changed), for the engine and for the floor (``benchlib.Floor``, 6 round trips): floor -> engine is
the price of the engine's heavier statements, the port, validation and Python.  The paths take
turns in ``--blocks`` blocks (floor, engine; engine, floor; ...), so drift and bursts of other load
on a shared machine hit both alike.

The hot pair starts with the same bulk-loaded, ANALYZEd history as in ``posting_throughput``.

Usage: ``python benchmarks/profile_post.py --backend mariadb --posts 2000 [--cprofile 25]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
import posting_throughput as pt

from ledger_app.db.pool import ConnectionPool

VARIANTS = ("floor", "engine")


def measure(backend: str, posts: int, cprofile_top: int, blocks: int = 8) -> dict:
	out = {"backend": backend}
	with bl.bench_database(backend, f"prof_{backend}") as (url, pool):
		bl.insert_accounts(pool, bl.pair_accounts("hot-", 1))
		# the same steady state as posting_throughput: prior history, planner statistics
		bl.bulk_history(pool, "hot-", 1, 1, pt.HOT_PRIOR, quiet=True)
		pair = bl.pair_names("hot-", 0)
		pool.dispose()
		pool = ConnectionPool(url, size=2, overflow=0)
		run, floor = uuid.uuid4().hex[:8], bl.Floor(pool)
		with pool.connection() as db:
			for i in range(200):  # warm-up
				pt.engine_post(db, f"w{run}-{i}", *pair, Decimal("1.00"))
			per_block = max(1, posts // blocks)
			acc = {v: {"wall": 0.0, "cpu": 0.0, "blocks": [], "kinds": Counter(), "kind_seconds": Counter()} for v in VARIANTS}
			n = 0
			for _, variant, _ in bl.alternating(VARIANTS, blocks):
				x = acc[variant]

				def record(query, w0, w1, c0, c1, x=x):
					x["kinds"][bl.statement_kind(query)] += 1
					x["kind_seconds"][bl.statement_kind(query)] += w1 - w0

				with bl.timed_statements(db, record):
					t, cpu = time.perf_counter(), time.process_time()
					for _ in range(per_block):
						n += 1
						if variant == "engine":
							pt.engine_post(db, f"e{run}-{n}", *pair, Decimal("1.00"))
						else:
							floor.post_retrying(db, f"f{run}-{n}", pt.legs(pair))
					wall, cpu = time.perf_counter() - t, time.process_time() - cpu
				x["wall"] += wall
				x["cpu"] += cpu
				x["blocks"].append(wall / per_block * 1000)
			done = per_block * blocks
			for variant, x in acc.items():
				driver = sum(x["kind_seconds"].values())
				out[variant] = {
					"per_post_ms": x["wall"] / done * 1000,
					"block_ms": x["blocks"],
					"statements": sum(x["kinds"].values()) / done,
					"cpu_ms": x["cpu"] / done * 1000,
					"driver_ms": driver / done * 1000,
					"outside_driver_ms": (x["wall"] - driver) / done * 1000,
					"kinds": {k: v / done for k, v in x["kinds"].items()},
					"kind_ms": {k: v / done * 1000 for k, v in x["kind_seconds"].items()},
				}
			if cprofile_top:
				prof = cProfile.Profile()
				prof.enable()
				for i in range(posts):
					pt.engine_post(db, f"p{run}-{i}", *pair, Decimal("1.00"))
				prof.disable()
				buf = io.StringIO()
				stats = pstats.Stats(prof, stream=buf)
				stats.sort_stats("tottime").print_stats(cprofile_top)
				buf.write("\nThe engine's own code and its helpers (by cumulative time):\n")
				stats.sort_stats("cumulative").print_stats("ledger_app|tenacity|json|hashlib", cprofile_top)
				out["cprofile"] = buf.getvalue()
		pool.dispose()
	return out


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("--backend", default="all")
	parser.add_argument("--posts", type=int, default=2000)
	parser.add_argument("--cprofile", type=int, default=0, help="print the top N functions by own time")
	parser.add_argument("--blocks", type=int, default=8, help="the paths take turns in this many blocks")
	parser.add_argument("--quick", action="store_true")
	args = parser.parse_args(argv)
	if args.quick:
		args.posts, args.blocks = min(args.posts, 200), min(args.blocks, 2)
	rows, notes = [], []
	for backend in bl.backends_from_arg(args.backend):
		r = measure(backend, args.posts, args.cprofile, args.blocks)
		for variant in VARIANTS:
			v = r[variant]
			rows.append([backend, variant, f"{v['statements']:.2f}", f"{v['per_post_ms']:.3f}",
				f"{min(v['block_ms']):.3f}-{max(v['block_ms']):.3f}", f"{v['cpu_ms']:.3f}",
				f"{v['per_post_ms'] - v['cpu_ms']:.3f}", f"{v['driver_ms']:.3f}", f"{v['outside_driver_ms']:.3f}"])
		kinds = ", ".join(f"{k} x{n:.0f} ({r['engine']['kind_ms'][k]:.3f} ms)" for k, n in r["engine"]["kinds"].items())
		notes.append(f"- {backend} engine statements per post (driver time each): {kinds}")
		if r.get("cprofile"):
			notes.append(f"\n```\n{backend} cProfile, {args.posts} engine posts, sorted by own time\n{r['cprofile']}```")
	print(f"\n### One post, 1 connection, hot pair ({args.posts} posts per path, taking turns in {args.blocks} blocks;"
		" ms per post)\n")
	print(bl.table(["backend", "path", "statements/post", "wall ms", "wall ms per block (min-max)", "client CPU ms",
		"wall - CPU (waiting) ms", "in driver calls ms", "outside driver calls ms"], rows))
	print()
	print("\n".join(notes))
	return 0


if __name__ == "__main__":
	sys.exit(main())
