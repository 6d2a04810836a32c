"""The scheduled jobs of hooks.py, run the way Frappe's scheduler runs them: the Scheduled Job Type that
``bench migrate`` made from ``scheduler_events`` executes its method, commits, and logs the outcome."""

from decimal import Decimal

import frappe
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import clock
from ledger_app.tests.fixtures import drifted_account, new_driver

RECONCILE = ("ledger_app.jobs.reconcile_all", "*/15 * * * *")
DAILY_TARGETS = ("ledger_app.jobs.daily_targets", "1 0 * * *")


class TestScheduledJobs(FrappeTestCase):
	def run_scheduled(self, method: str, cron: str) -> None:
		"""Execute ``method``'s Scheduled Job Type (checked against the hook) as the scheduler's worker
		does; its Scheduled Job Log must say Complete."""
		self.assertIn(method, frappe.get_hooks("scheduler_events")["cron"][cron])
		job = frappe.get_doc("Scheduled Job Type", {"method": method})
		self.assertEqual((job.frequency, job.cron_format, job.stopped), ("Cron", cron, 0))
		job.execute()
		status, details = frappe.db.get_value(
			"Scheduled Job Log", job.scheduler_log.name, ["status", "details"]
		)
		self.assertEqual(status, "Complete", details)

	def set_auto_fix(self, value: int) -> None:
		"""Ledger Settings' reconcile_auto_fix for this test; the job commits, so it is put back after."""
		self.addCleanup(
			self.save_auto_fix, frappe.db.get_single_value("Ledger Settings", "reconcile_auto_fix")
		)
		self.save_auto_fix(value)

	@staticmethod
	def save_auto_fix(value: int) -> None:
		settings = frappe.get_doc("Ledger Settings")
		settings.reconcile_auto_fix = value
		settings.save()
		frappe.db.commit()

	def test_reconcile_all_records_a_run_over_every_account(self):
		self.set_auto_fix(0)
		account = drifted_account(self, cached="45.00")
		since = frappe.utils.now_datetime()
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
		self.set_auto_fix(1)
		account = drifted_account(self, cached="45.00")
		self.run_scheduled(*RECONCILE)
		self.assertEqual(frappe.db.get_value("Ledger Account", account, "balance"), 40.25)
		fixed_by = frappe.db.get_value(
			"Reconciliation Discrepancy", {"account": account, "fixed": 1}, "fixed_by"
		)
		self.assertEqual(fixed_by, "Scheduler")

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
