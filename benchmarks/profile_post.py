"""Where one engine post spends its time: statements and round trips per post, time inside the
driver versus Python, and a cProfile of the engine path (1 connection, hot pair).

The port's ``PooledDatabase._execute`` is wrapped in this process only (the engine is not
changed) to count statements and to time each driver call.  The raw paths from
``posting_throughput`` are measured the same way for comparison: the floor (6 round trips), and
"engine-sql", the engine's own statement list run raw (insert-or-skip header; last posting joined
into the locking SELECT on MariaDB/SQLite, 6 round trips; a separate read after the lock on
PostgreSQL, 7).  floor -> engine-sql is the cost of the engine's statements; engine-sql -> engine is
the port, validation and Python work.  "floor+reads" is the engine's statement list before the
change (8 round trips: the floor plus the idempotency look-up and the separate last-posting read),
so engine-sql vs floor+reads is what the change saved in SQL.  The paths take turns in
``--blocks`` blocks (ABC, CBA, ...), so drift and bursts of other load on a shared machine hit
every path alike.

The hot pair starts with the same bulk-loaded, ANALYZEd history as in ``posting_throughput``.

Usage: ``python benchmarks/profile_post.py --backend mariadb --posts 2000 [--cprofile 25]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
import posting_throughput as pt

from ledger_app.db import pool as pool_module
from ledger_app.db.pool import ConnectionPool

_stats = {"calls": 0, "seconds": 0.0, "kinds": Counter(), "kind_seconds": Counter()}


def _kind(query: str) -> str:
	"""A short label for a statement: its verb and the table (or first column) it names."""
	words = query.split()
	verb = words[0].upper() if words else "?"
	if verb == "INSERT":
		q = " ".join(words)
		skip = " (or skip)" if " ON DUPLICATE KEY " in q or " ON CONFLICT " in q else ""
		return "INSERT " + " ".join(words[2:4]).split("(")[0].strip() + skip
	if verb == "UPDATE":
		return "UPDATE " + " ".join(words[1:3])
	if verb == "SELECT":
		q = " ".join(words)
		table = q.split(" FROM ", 1)[1].split(" WHERE ")[0] if " FROM " in q else "?"
		tables = re.findall(r"`tab[^`]+`", table)  # no aliases; the lock with the last posting
		if tables:  # joined in names both tables
			table = " LEFT JOIN ".join(tables) if " JOIN " in table else tables[0]
		lock = " FOR UPDATE" if "FOR UPDATE" in q else " LOCK IN SHARE MODE" if "SHARE MODE" in q else ""
		return f"SELECT {table}{lock}"
	return verb


def _install_counter():
	original = pool_module.PooledDatabase._execute

	def counting(self, query, params, fetch):
		t = time.perf_counter()
		try:
			return original(self, query, params, fetch)
		finally:
			_stats["seconds"] += time.perf_counter() - t
			_stats["calls"] += 1
			kind = _kind(query)
			_stats["kinds"][kind] += 1
			_stats["kind_seconds"][kind] += time.perf_counter() - t

	pool_module.PooledDatabase._execute = counting


class _TimedCursor:
	"""Times the floor's driver calls (cursor.execute / connection.execute)."""

	def __init__(self, inner):
		self.inner = inner

	def execute(self, *a, **k):
		t = time.perf_counter()
		try:
			return self.inner.execute(*a, **k)
		finally:
			_stats["seconds"] += time.perf_counter() - t
			_stats["calls"] += 1

	def __getattr__(self, name):
		return getattr(self.inner, name)


class _TimedConnection:
	def __init__(self, inner, sqlite):
		self.inner, self.sqlite = inner, sqlite

	def cursor(self):
		return _TimedCursor(self.inner.cursor())

	def execute(self, *a, **k):
		t = time.perf_counter()
		try:
			return self.inner.execute(*a, **k)
		finally:
			_stats["seconds"] += time.perf_counter() - t
			_stats["calls"] += 1


class _FloorDb:
	def __init__(self, db):
		self.dialect = db.dialect
		self.connection = _TimedConnection(db.connection, db.dialect.name == "sqlite")


def measure(backend: str, posts: int, cprofile_top: int, variants: tuple[str, ...], blocks: int = 8) -> dict:
	out = {"backend": backend}
	with bl.bench_database(backend, f"prof_{backend}") as (url, pool):
		bl.insert_accounts(pool, bl.pair_accounts("hot-", 1))
		# the same steady state as posting_throughput: prior history, planner statistics
		bl.bulk_history(pool, "hot-", 1, 1, pt.HOT_PRIOR, quiet=True)
		a, l = bl.pair_names("hot-", 0)
		pool.dispose()
		pool = ConnectionPool(url, size=2, overflow=0)
		run = uuid.uuid4().hex[:8]
		floors = {v: pt.make_floor(pool, mode=v) for v in variants if v != "engine"}
		with pool.connection() as db:
			for i in range(200):  # warm-up
				pt.engine_post(db, f"w{run}-{i}", a, l, Decimal("1.00"))
			# the paths take turns in blocks (ABC, CBA, ...) so that drift and bursts of other load
			# on a shared machine hit every path alike
			per_block = max(1, posts // blocks)
			acc = {
				v: {
					"wall": 0.0,
					"cpu": 0.0,
					"calls": 0,
					"seconds": 0.0,
					"kinds": Counter(),
					"kind_seconds": Counter(),
					"blocks": [],
				}
				for v in variants
			}
			n = 0
			for block in range(blocks):
				for variant in variants if block % 2 == 0 else variants[::-1]:
					_stats.update(calls=0, seconds=0.0, kinds=Counter(), kind_seconds=Counter())
					target = db if variant == "engine" else _FloorDb(db)
					t, cpu = time.perf_counter(), time.process_time()
					for _ in range(per_block):
						n += 1
						key = f"{variant}{run}-{n}"
						if variant != "engine":
							pt.floor_post_with_retry(
								floors[variant], target, key, a, l, Decimal("1.00"), {"retries": 0}
							)
						else:
							pt.engine_post(db, key, a, l, Decimal("1.00"))
					wall, cpu = time.perf_counter() - t, time.process_time() - cpu
					x = acc[variant]
					x["wall"] += wall
					x["cpu"] += cpu
					x["blocks"].append(wall / per_block * 1000)
					for k in ("calls", "seconds"):
						x[k] += _stats[k]
					x["kinds"].update(_stats["kinds"])
					x["kind_seconds"].update(_stats["kind_seconds"])
			done = per_block * blocks
			for variant, x in acc.items():
				out[variant] = {
					"per_post_ms": x["wall"] / done * 1000,
					"block_ms": x["blocks"],
					"statements": x["calls"] / done,
					"cpu_ms": x["cpu"] / done * 1000,
					"driver_ms": x["seconds"] / done * 1000,
					"outside_driver_ms": (x["wall"] - x["seconds"]) / done * 1000,
					"kinds": {k: v / done for k, v in x["kinds"].items()},
					"kind_ms": {k: v / done * 1000 for k, v in x["kind_seconds"].items()},
				}
			out["posts"] = done
			if cprofile_top:
				prof = cProfile.Profile()
				prof.enable()
				for i in range(posts):
					pt.engine_post(db, f"p{run}-{i}", a, l, Decimal("1.00"))
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
	parser.add_argument(
		"--variants",
		default="floor,floor+reads,engine-sql,engine",
		help="paths to measure (see posting_throughput)",
	)
	parser.add_argument(
		"--blocks", type=int, default=8, help="the paths take turns in this many blocks of posts/blocks posts"
	)
	parser.add_argument("--quick", action="store_true")
	args = parser.parse_args(argv)
	if args.quick:
		args.posts, args.blocks = min(args.posts, 200), min(args.blocks, 2)
	_install_counter()
	rows, profiles = [], []
	for backend in bl.backends_from_arg(args.backend):
		variants = tuple(args.variants.split(","))
		r = measure(backend, args.posts, args.cprofile, variants, args.blocks)
		for variant in variants:
			v = r[variant]
			rows.append(
				[
					backend,
					variant,
					f"{v['statements']:.2f}",
					f"{v['per_post_ms']:.3f}",
					f"{min(v['block_ms']):.3f}-{max(v['block_ms']):.3f}",
					f"{v['cpu_ms']:.3f}",
					f"{v['per_post_ms'] - v['cpu_ms']:.3f}",
					f"{v['driver_ms']:.3f}",
					f"{v['outside_driver_ms']:.3f}",
				]
			)
		kinds = (
			", ".join(
				f"{k} x{v:.0f} ({r['engine']['kind_ms'][k]:.3f} ms)" for k, v in r["engine"]["kinds"].items()
			)
			if "engine" in r
			else "-"
		)
		profiles.append(f"- {backend} engine statements per post (driver time each): {kinds}")
		if r.get("cprofile"):
			profiles.append(
				f"\n```\n{backend} cProfile, {args.posts} engine posts, sorted by own time\n{r['cprofile']}```"
			)
	print(
		f"\n### One post, 1 connection, hot pair ({args.posts} posts per path, taking turns in"
		f" {args.blocks} blocks; ms per post)\n"
	)
	print(
		bl.table(
			[
				"backend",
				"path",
				"statements/post",
				"wall ms",
				"wall ms per block (min-max)",
				"client CPU ms",
				"wall - CPU (waiting) ms",
				"in driver calls ms",
				"outside driver calls ms",
			],
			rows,
		)
	)
	print()
	print("\n".join(profiles))
	return 0


if __name__ == "__main__":
	sys.exit(main())
