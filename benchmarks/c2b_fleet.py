"""The C2B benchmarks' fleet: Ledger Settings, the hot driver and ``spread`` drivers with their vehicles,
the day's target charged (``c2b_throughput.py`` describes it).  It needs only the engine: ``pool`` is
anything whose ``connection()`` yields a port ``Database``.

Run as a script with a bench's own Python in ``sites/`` (the Frappe side of
``frappe_host_throughput.py``; a bench has none of the standalone host's packages), it empties the
site's ledger tables (refused without ``--wipe`` when they hold rows), sets the fleet up through
``frappe.db`` and Ledger Settings' ``callback_token`` through ``frappe.get_single(...).save()``, and
prints one JSON line: the set-up seconds, the targets charged and the tables it emptied::

	cd BENCH/sites && PYTHONPATH=CHECKOUT ../env/bin/python CHECKOUT/benchmarks/c2b_fleet.py \\
		--site SITE --drivers 1000 --token TOKEN [--wipe]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from ledger_app.engine import drivers, settings

DAILY_TARGET = "100000000.00"
FARE_PCT = Decimal(50)
HOT = "HOT"
TARGET_DAY = date(2026, 3, 1)


class Driver:
	"""What a client knows about a driver: its vehicle's account number, and (floor only) its
	accounts in name order."""

	def __init__(self, name: str, account_number: str):
		self.name = name
		self.account_number = account_number
		names = drivers.driver_accounts(name)
		self.target, self.payable = names["target"], names["payable"]
		self.locked = sorted([drivers.PAYBILL_ACCOUNT, self.target, self.payable])


def spread_names(count: int) -> list[tuple[str, str]]:
	return [(f"D{i:04d}", f"K{i:04d}") for i in range(count)]


def setup_fleet(pool, spread: int, workers: int = 4) -> dict:
	"""Settings, the hot driver and ``spread`` drivers with their vehicles, the day's target charged."""
	started = time.perf_counter()
	with pool.connection() as db:
		db.run_in_transaction(
			lambda db: settings.update_settings(
				db,
				{
					"global_daily_target": DAILY_TARGET,
					"global_fare_pct": str(FARE_PCT),
					"target_sharing": 1,
					"instant_payouts": 0,
				},
			)
		)
		db.run_in_transaction(drivers.ensure_business_accounts)
	fleet = [(HOT, "KHOT")] + spread_names(spread)

	def make(chunk):
		with pool.connection() as db:
			for i, (name, account) in chunk:
				drivers.upsert_driver(db, name, f"Driver {name}", f"07{i:08d}")
				drivers.upsert_vehicle(db, f"V{name}", account, driver=name)

	chunks = [[(i, f) for i, f in enumerate(fleet) if i % workers == w] for w in range(workers)]
	if workers == 1:  # in this thread: a Frappe site's connection (frappe.local) belongs to it
		make(chunks[0])
	else:
		with ThreadPoolExecutor(workers) as ex:
			list(ex.map(make, chunks))
	with pool.connection() as db:
		charged = drivers.run_daily_targets(db, TARGET_DAY)
	return {
		"hot": Driver(HOT, "KHOT"),
		"spread": [Driver(n, a) for n, a in spread_names(spread)],
		"seconds": time.perf_counter() - started,
		"charged": charged["charged"],
	}


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description="the C2B fleet on a Frappe site")
	parser.add_argument("--site", required=True)
	parser.add_argument("--drivers", type=int, required=True)
	parser.add_argument("--token", required=True)
	parser.add_argument("--wipe", action="store_true")
	args = parser.parse_args(argv)

	import frappe

	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	try:
		import ledger_app.host  # noqa: F401 - what a request imports first: the clock follows the site
		from ledger_app.db.frappe_adapter import FrappeDatabase

		ledger = {"module": "Ledger", "issingle": 0, "is_virtual": 0}
		tables = [f"tab{name}" for name in frappe.get_all("DocType", filters=ledger, pluck="name")]
		holding = [t for t in tables if frappe.db.sql(f"SELECT 1 FROM `{t}` LIMIT 1")]
		if holding and not args.wipe:
			print(f"the site's ledger tables hold rows ({', '.join(holding)}); --wipe empties them", file=sys.stderr)
			return 2
		frappe.db.commit()
		for t in holding:
			frappe.db.sql_ddl(f"TRUNCATE TABLE `{t}`")
		db = FrappeDatabase()

		class SitePool:  # what setup_fleet needs of a pool: the site's one connection, in this thread
			@contextmanager
			def connection(self):
				yield db

		fleet = setup_fleet(SitePool(), args.drivers, workers=1)
		settings = frappe.get_single("Ledger Settings")
		settings.callback_token = args.token
		settings.save(ignore_permissions=True)
		frappe.db.commit()
		print(json.dumps({"seconds": fleet["seconds"], "charged": fleet["charged"], "emptied": holding}))
	finally:
		frappe.destroy()
	return 0


if __name__ == "__main__":
	sys.exit(main())
