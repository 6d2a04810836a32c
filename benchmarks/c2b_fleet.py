"""The C2B benchmarks' fleet: Ledger Settings, the hot driver and ``spread`` drivers with their vehicles,
the day's target charged (``c2b_throughput.py`` describes it).  It needs only the engine, so a bench's
Python can run it against a Frappe site too (``frappe_site_setup.py``): ``pool`` is anything whose
``connection()`` yields a port ``Database``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
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
