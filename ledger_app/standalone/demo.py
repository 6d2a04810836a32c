"""``ledger-app demo``: a day of a small fleet, end to end over real HTTP, for a newcomer.

It starts the standalone host on a fresh SQLite file, sets up three drivers and their vehicles with
the staff API, charges the day's targets, sends a day of fares as Daraja C2B confirmations from
concurrent clients (with resent duplicates, a payment to an unknown account and a driver repaying
with their own id), lets instant payouts go out by B2C through the Daraja simulator, reconciles, and
prints what each driver ends the day with.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

DRIVERS = [
	# driver, name, phone, vehicle, account number, fare_pct override
	("DRV-001", "Amina Wanjiru", "0712345001", "KTA 101A", "101", ""),
	("DRV-002", "Baraka Otieno", "0712345002", "KTA 102B", "102", "60"),
	("DRV-003", "Chebet Kiprop", "0712345003", "KTA 103C", "103", ""),
]


def run(base: str, staff_token: str, callback_token: str, echo=print, seed: int = 2026) -> dict:
	"""Drive the demo against a running host at ``base``; returns the per-driver summary."""
	staff = requests.Session()
	staff.headers["Authorization"] = f"token {staff_token}"

	def call(method, **payload):
		response = staff.post(f"{base}/api/method/ledger_app.api.{method}", json=payload, timeout=60)
		if response.status_code != 200:
			raise RuntimeError(f"{method} failed: {response.status_code} {response.text}")
		return response.json()["message"]

	call("settings.update_settings", global_daily_target="1500", global_fare_pct="50", target_sharing=1, miss_threshold=3,
		instant_payouts=1, minimum_payout="1000")
	for driver, name, phone, vehicle, account, fare_pct in DRIVERS:
		call("drivers.upsert_driver", driver=driver, driver_name=name, phone=phone, fare_pct=fare_pct or None)
		call("drivers.upsert_vehicle", vehicle=vehicle, account_number=account, driver=driver)
	day = call("drivers.run_daily_targets")
	echo(f"daily targets for {day['date']}: {day['charged']} drivers charged")

	rng = random.Random(seed)
	fares = []
	for i in range(90):
		_, _, _, _, account, _ = DRIVERS[i % 3]
		amount = Decimal(rng.choice([50, 80, 100, 120, 150, 200, 250, 300]))
		fares.append({"TransID": f"SKD{i:07d}", "TransAmount": f"{amount}.00", "BillRefNumber": account})
	fares.append({"TransID": "SKU0000001", "TransAmount": "150.00", "BillRefNumber": "999"})  # unknown account
	fares.append({"TransID": "SKR0000001", "TransAmount": "2000.00", "BillRefNumber": "drv-003"})  # a repayment
	resent = [dict(f) for f in rng.sample(fares[:90], 12)]  # Daraja delivering some twice
	deliveries = fares + resent
	rng.shuffle(deliveries)

	def confirm(fare):
		body = {"TransactionType": "Pay Bill", "TransTime": "20260301083000", "BusinessShortCode": "600100",
			"MSISDN": "2547 ***** 126", "FirstName": "PASSENGER", **fare}
		response = requests.post(f"{base}/api/method/ledger_app.api.mpesa.c2b_confirmation",
			params={"token": callback_token}, json=body, timeout=60)
		return response.status_code, response.json()

	with ThreadPoolExecutor(max_workers=8) as clients:
		answers = Counter(f"{status} {body.get('ResultDesc')}" for status, body in clients.map(confirm, deliveries))
	echo(f"sent {len(deliveries)} C2B confirmations from 8 concurrent clients, {len(resent)} of them resent;"
		f" answers: {', '.join(f'{n} x {a}' for a, n in answers.items())}")

	deadline = time.monotonic() + 60
	while time.monotonic() < deadline:  # instant payouts go out by B2C through the gateway simulator
		pending = [p for p in call("payouts.list_payouts") if p["status"] not in ("Paid", "Failed")]
		if not pending:
			break
		time.sleep(0.2)
	paid_out = defaultdict(Decimal)
	for payout in call("payouts.list_payouts"):
		if payout["status"] == "Paid":
			paid_out[payout["party"]] += Decimal(payout["amount"])
	echo(f"B2C payouts: {sum(1 for p in call('payouts.list_payouts') if p['status'] == 'Paid')} paid, {len(pending)} still pending")

	paid = defaultdict(Decimal)
	count = Counter()
	for fare in fares[:90]:
		driver = next(d for d, *_, acc, _ in DRIVERS if acc == fare["BillRefNumber"])
		paid[driver] += Decimal(fare["TransAmount"])
		count[driver] += 1
	summary = {}
	for driver, name, *_ in DRIVERS:
		balances = call("drivers.get_driver_balances", driver=driver)
		summary[driver] = {"name": name, "fares": count[driver], "paid": str(paid[driver]), **balances,
			"paid_out": str(paid_out[driver])}
	unmatched = call("drivers.list_unmatched")
	check = call("ledger.reconcile")
	summary["_unmatched"] = unmatched
	summary["_reconcile"] = check

	echo("")
	echo(f"{'driver':<9} {'name':<15} {'fares':>5} {'paid':>9} {'target left':>12} {'paid out':>9} {'payable':>9} {'deposit':>9}")
	for driver, row in summary.items():
		if driver.startswith("_"):
			continue
		echo(f"{driver:<9} {row['name']:<15} {row['fares']:>5} {row['paid']:>9} {row['target_outstanding']:>12}"
			f" {row['paid_out']:>9} {row['payable']:>9} {row['deposit']:>9}")
	for row in unmatched:
		echo(f"unmatched: {row['trans_id']} {row['amount']} to account {row['bill_ref_number']!r} is in suspense ({row['name']})")
	echo(f"reconcile: {check['accounts_checked']} accounts checked, {check['discrepancies']} discrepancies (run {check['run']})")
	return summary


def start_in_thread(app, host: str, port: int):
	"""Serve ``app`` with waitress (tuned for slow clients, ``http_server``) in a daemon thread;
	returns (server, thread)."""
	from ledger_app.standalone.http_server import create_server

	server = create_server(app, host=host, port=port, threads=8)
	thread = threading.Thread(target=server.run, daemon=True, name="ledger-demo-http")
	thread.start()
	return server, thread
