"""What the check of a kept C2B match costs inside the locking select, statement by statement.

One connection runs each statement ``--repeat`` times inside one transaction (rolled back), in
``--rounds`` alternating rounds, on a fresh database with one driver and one vehicle:

- ``SELECT 1``: a round trip and nothing else;
- ``match``: the match statement a process runs for its first payment to a vehicle
  (``drivers._match_sql``: vehicle, paying driver's terms, settings version);
- ``check alone``: the kept match's check (``drivers.match_unchanged``) as ``SELECT <check>``;
- ``lock``: the locking select of a fare's three accounts with their last postings joined
  (``posting._lock_sql``), as a post without a precondition runs it;
- ``lock + check``: the same with the check in its select list, as a fare confirmation runs it.

Mean wall milliseconds per statement (client and server together; TCP over 127.0.0.1).

	python3 benchmarks/c2b_lock_statement.py --backend mariadb,postgres
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl

from ledger_app.engine import drivers, posting, settings


def statements(db) -> dict[str, tuple[str, dict]]:
	db.run_in_transaction(lambda db: settings.update_settings(db, {"global_daily_target": "1000"}))
	drivers.upsert_driver(db, "D1", "Amina", "0712345678")
	drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
	match = drivers.match_account(db, "K001")
	check = drivers.match_unchanged(db, match)
	names = sorted([drivers.PAYBILL_ACCOUNT, *(drivers.driver_accounts("D1")[k] for k in ("target", "payable"))])
	accounts = {f"a{i}": name for i, name in enumerate(names)}
	return {
		"SELECT 1": ("SELECT 1 AS `one`", {}),
		"match": (drivers._match_sql(db.dialect), {"a": "K001"}),
		"check alone": (f"SELECT {check.sql} AS `holds`", check.params),
		"lock": (posting._lock_sql(db.dialect, 3), accounts),
		"lock + check": (posting._lock_sql(db.dialect, 3, check.sql), {**accounts, **check.params}),
	}


def measure(backend: str, repeat: int, rounds: int) -> dict[str, list[float]]:
	with bl.bench_database(backend, "c2b_lock") as (_url, pool), pool.connection() as db:
		todo = statements(db)
		times: dict[str, list[float]] = {name: [] for name in todo}
		for rnd in range(rounds):
			for name in todo if rnd % 2 == 0 else list(todo)[::-1]:
				query, params = todo[name]
				db.begin()
				try:
					started = time.perf_counter()
					for _ in range(repeat):
						db.sql(query, params)
					times[name].append((time.perf_counter() - started) / repeat * 1000)
				finally:
					db.rollback()
		return times


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	parser.add_argument("--backend", default="mariadb,postgres", help="sqlite, mariadb, postgres or all")
	parser.add_argument("--repeat", type=int, default=2000, help="executions of each statement per round")
	parser.add_argument("--rounds", type=int, default=4)
	args = parser.parse_args()
	backends = bl.backends_from_arg(args.backend)
	results = {backend: measure(backend, args.repeat, args.rounds) for backend in backends}
	names = list(next(iter(results.values())))
	print("### The locking select of a fare and the check of a kept match (mean ms per statement, range over rounds)\n")
	rows = [[name] + [f"{bl.median(results[b][name]):.3f} ({min(results[b][name]):.3f}-{max(results[b][name]):.3f})"
		for b in backends] for name in names]
	print(bl.table(["statement", *backends], rows))


if __name__ == "__main__":
	main()
