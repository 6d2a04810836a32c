"""The scheduled jobs of hooks.py, run the way Frappe's scheduler runs them: the Scheduled Job Type that
``bench migrate`` made from ``scheduler_events`` executes its method and commits (logging the outcome in
a Scheduled Job Log for cron jobs)."""

from decimal import Decimal

import frappe
from frappe.tests.utils import FrappeTestCase, change_settings

from ledger_app.engine import clock, payouts
from ledger_app.gateways import simulator
from ledger_app.tests.fixtures import drifted_account, engine_db, new_driver, new_vehicle, pay, unique

RECONCILE = ("ledger_app.jobs.reconcile_all", "*/15 * * * *")
DAILY_TARGETS = ("ledger_app.jobs.daily_targets", "1 0 * * *")
DISPATCH = ("ledger_app.jobs.dispatch_payouts", "all")
REPLAY_SPOOL = ("ledger_app.jobs.replay_callback_spool", "* * * * *")


class TestScheduledJobs(FrappeTestCase):
	def run_scheduled(self, method: str, event: str) -> None:
		"""Execute ``method``'s Scheduled Job Type (checked against the hook) as the scheduler's worker
		does.  A cron job's Scheduled Job Log must say Complete; an "all" job keeps no log."""
		hooks = frappe.get_hooks("scheduler_events")
		self.assertIn(method, hooks["all"] if event == "all" else hooks["cron"][event])
		job = frappe.get_doc("Scheduled Job Type", {"method": method})
		expected = ("All", None, 0) if event == "all" else ("Cron", event, 1)
		self.assertEqual((job.frequency, job.cron_format, job.create_log), expected)
		job.execute()
		if job.create_log:
			log = frappe.db.get_value("Scheduled Job Log", job.scheduler_log.name, ["status", "details"])
			self.assertEqual(log[0], "Complete", log[1])

	def test_reconcile_all_records_a_run_over_every_account(self):
		account = drifted_account(self, cached="45.00")
		since = frappe.utils.now_datetime()
		with change_settings("Ledger Settings", reconcile_auto_fix=0, commit=True):
			self.run_scheduled(*RECONCILE)
		run = frappe.get_last_doc(
			"Reconciliation Run", filters={"run_by": "Scheduler", "creation": (">=", since)}
		)
		self.assertEqual(run.scope, "all")
		self.assertGreaterEqual(
			run.accounts_checked, frappe.db.count("Ledger Account", {"creation": ("<", since)})
		)
		(row,) = [row for row in run.discrepancies if row.account == account]
		self.assertEqual(
			(row.kind, Decimal(str(row.cached)), Decimal(str(row.derived)), row.fixed),
			("Cached Balance", Decimal("45"), Decimal("40.25"), 0),
		)  # reported only
		self.assertEqual(frappe.db.get_value("Ledger Account", account, "balance"), 45)

	def test_reconcile_all_fixes_drift_when_the_settings_say_so(self):
		account = drifted_account(self, cached="45.00")
		with change_settings("Ledger Settings", reconcile_auto_fix=1, commit=True):
			self.run_scheduled(*RECONCILE)
		self.assertEqual(frappe.db.get_value("Ledger Account", account, "balance"), 40.25)
		fixed_by = frappe.db.get_value(
			"Reconciliation Discrepancy", {"account": account, "fixed": 1}, "fixed_by"
		)
		self.assertEqual(fixed_by, "Scheduler")

	def test_replay_callback_spool_records_a_confirmation_spooled_during_an_outage_once(self):
		"""What ``c2b_confirmation`` appends to the site's spool while MariaDB is unreachable (the outage
		itself is proven over HTTP in tests/test_outage.py) is recorded by the job, once, with its log row."""
		import json

		from ledger_app import host

		driver = new_driver(self)
		vehicle = new_vehicle(driver)
		trans_id = frappe.generate_hash(length=10).upper()
		body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500",
			"TransAmount": "100.00", "BusinessShortCode": "600000", "BillRefNumber": vehicle, "MSISDN": "2547 *** 126"}
		spool = host.callback_spool()
		self.assertTrue(spool.directory.endswith("/private/spool"))
		entry = spool.append("c2b_confirmation", json.dumps(body).encode(), {}, "127.0.0.1",
			"2026-03-01 10:15:00", token_checked=True)
		for _run in range(2):  # a second run finds nothing to replay
			self.run_scheduled(*REPLAY_SPOOL)
			self.assertFalse(spool.pending())
		self.assertEqual(frappe.db.get_value("Callback Log", entry.id, ["status", "reference"]), ("Processed", trans_id))
		self.assertEqual(frappe.db.count("Ledger Transaction", {"transaction_type": "C2B Payment", "party": driver}), 1)

	def test_daily_targets_charges_each_active_driver_once_a_day(self):
		driver = new_driver(self, daily_target=700)
		resting = new_driver(self, daily_target=700, status="Suspended")
		today = clock.now().date()
		for _run in range(2):  # a second run the same day changes nothing
			self.run_scheduled(*DAILY_TARGETS)
			self.assertEqual(frappe.get_doc("Fleet Driver", driver).target_outstanding, Decimal("700.00"))
		charges = frappe.get_all(
			"Ledger Transaction",
			filters={"party": driver, "transaction_type": "Daily Target"},
			fields=["idempotency_key", "owner"],
		)
		self.assertEqual(
			[(c.idempotency_key, c.owner) for c in charges], [(f"target:{driver}:{today}", "Scheduler")]
		)
		self.assertEqual(frappe.db.get_value("Fleet Driver", driver, "last_target_date"), today)
		self.assertEqual(frappe.get_doc("Fleet Driver", resting).target_outstanding, Decimal("0.00"))
		self.assertIsNone(frappe.db.get_value("Fleet Driver", resting, "last_target_date"))

	def test_dispatch_payouts_sends_a_queued_payout_to_the_gateway_of_the_settings(self):
		server, thread = simulator.serve(
			simulator=simulator.Simulator(consumer_key="key", consumer_secret="secret")
		)
		self.addCleanup(simulator.stop, server, thread)
		server.simulator.configure({"b2c": ["no_callback"]})  # accepted; its result is settled below
		driver = new_driver(self)
		pay(new_vehicle(driver), "60.40")
		payout = payouts.request_payout(engine_db(), "Fleet Driver", driver, unique("payout"))
		ocid = payout["originator_conversation_id"]
		self.addCleanup(
			payouts.record_result, engine_db(), ocid, "0", "settled by the test", receipt=unique("R")
		)
		gateway = {
			"daraja_base_url": simulator.base_url(server),
			"daraja_consumer_key": "key",
			"daraja_consumer_secret": "secret",
			"daraja_shortcode": "600100",
			"daraja_initiator": "testapi",
			"daraja_security_credential": "credential",
		}
		frappe.local.ledger_app_gateway = None  # the process builds its gateway from the settings once
		self.addCleanup(setattr, frappe.local, "ledger_app_gateway", None)
		with change_settings("Ledger Settings", gateway, commit=True):
			self.run_scheduled(*DISPATCH)
		sent = [r for r in server.simulator.b2c_requests() if r.get("OriginatorConversationID") == ocid]
		self.assertEqual(len(sent), 1)
		stored = frappe.get_doc("Payout", payout["name"])
		self.assertEqual((stored.status, stored.attempts, stored.gateway), ("Submitted", 1, "daraja"))
		self.assertTrue(stored.conversation_id)
		self.assertEqual(Decimal(str(stored.amount)), Decimal("60"))
