"""The Frappe side of ``frappe_host_throughput.py``, run with the bench's own Python in ``sites/``:
empty the site's ledger tables (refused without ``--wipe`` when they hold rows), set up the C2B fleet
(``c2b_fleet.setup_fleet``) through ``frappe.db``, and set Ledger Settings' ``callback_token``
through ``frappe.get_single(...).save()``.  Prints one JSON line: the fleet's set-up seconds, the
targets charged and the tables it emptied.

It imports only Frappe, the engine and ``c2b_fleet``: a bench has none of the standalone host's
packages (``.[standalone]``).

Usage: ``cd BENCH/sites && PYTHONPATH=CHECKOUT ../env/bin/python CHECKOUT/benchmarks/frappe_site_setup.py
--site SITE --drivers 1000 --token TOKEN [--wipe]``
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from c2b_fleet import setup_fleet  # noqa: E402


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
