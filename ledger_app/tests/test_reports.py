"""The three Script Reports, run as the desk runs them (``frappe.desk.query_report.run``) on data put
there by the engine; every amount is compared exactly, as the Decimal the report returns."""

from decimal import Decimal

import frappe
from frappe.desk.query_report import run
from frappe.tests.utils import FrappeTestCase, change_settings

from ledger_app.engine import clients, clock, drivers, payouts
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	engine_db,
	ensure_users,
	new_client_exchange,
	new_driver,
	new_vehicle,
	pay,
	unique,
)


def rows_of(result: dict, key: str, names) -> dict:
	"""The report's rows for ``names`` (other tests' data may be on the site too), by ``key``."""
	return {row[key]: row for row in result["result"] if row[key] in names}


class TestReports(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def run_as(self, user: str, report: str, **filters) -> dict:
		with self.set_user(user):
			return run(report, filters=filters)

	def test_driver_balances_shows_each_drivers_three_balances_exactly(self):
		busy = new_driver(self, daily_target=1500, fare_pct=60, target_sharing="Enable")
		suspended = new_driver(self)
		# what the 00:01 job does: 1,500 owed by the first; no global target, so nothing by the second
		with change_settings("Ledger Settings", global_daily_target=0, commit=True):
			drivers.run_daily_targets(engine_db(), clock.now().date())
		pay(new_vehicle(busy), "1000.10")  # 40 % (400.04) towards the target, 600.06 payable
		pay(busy, "1000.00")  # a repayment: all of it towards the target
		pay(suspended, "250.50")  # nothing owed: all of it to deposit
		frappe.get_doc("Fleet Driver", suspended).update({"status": "Suspended"}).save()
		frappe.db.commit()

		result = self.run_as(LEDGER_USER, "Driver Balances")
		self.assertEqual(
			[c["fieldname"] for c in result["columns"]],
			[
				"driver",
				"driver_name",
				"status",
				"target_outstanding",
				"payable",
				"deposit",
				"consecutive_misses",
				"flagged",
			],
		)
		rows = rows_of(result, "driver", {busy, suspended})
		self.assertEqual(
			rows[busy],
			{
				"driver": busy,
				"driver_name": "Test Driver",
				"status": "Active",
				"target_outstanding": Decimal("99.96"),
				"payable": Decimal("600.06"),
				"deposit": Decimal("0.00"),
				"consecutive_misses": 0,
				"flagged": 0,
			},
		)
		self.assertEqual(
			rows[suspended],
			{
				"driver": suspended,
				"driver_name": "Test Driver",
				"status": "Suspended",
				"target_outstanding": Decimal("0.00"),
				"payable": Decimal("0.00"),
				"deposit": Decimal("250.50"),
				"consecutive_misses": 0,
				"flagged": 0,
			},
		)
		only_suspended = self.run_as(LEDGER_MANAGER, "Driver Balances", status="Suspended")
		self.assertEqual(set(rows_of(only_suspended, "driver", {busy, suspended})), {suspended})
		self.assertEqual({row["status"] for row in only_suspended["result"]}, {"Suspended"})

	def test_payouts_lists_a_partys_payouts_newest_first_with_their_outcome(self):
		driver = new_driver(self)
		pay(new_vehicle(driver), "175.50")
		db = engine_db()
		first = payouts.request_payout(db, "Fleet Driver", driver, unique("payout"), amount="100")
		second = payouts.request_payout(db, "Fleet Driver", driver, unique("payout"), amount="50")
		receipt = unique("R")
		payouts.record_result(db, first["originator_conversation_id"], "0", "paid", receipt=receipt)
		with self.assertLogs("ledger_app.alerts", "WARNING"):  # a failed payout is an alert
			payouts.record_result(db, second["originator_conversation_id"], "2001", "wrong initiator")

		result = self.run_as(LEDGER_USER, "Payouts", party=driver)
		columns = [c["fieldname"] for c in result["columns"]]
		self.assertEqual(
			[{k: row[k] for k in columns} for row in result["result"]],
			[
				{
					"name": second["name"],
					"party": driver,
					"purpose": "Driver Share",
					"amount": Decimal("50.00"),
					"status": "Failed",
					"attempts": 0,
					"gateway": None,
					"gateway_receipt": None,
					"originator_conversation_id": second["originator_conversation_id"],
					"last_error": None,
				},
				{
					"name": first["name"],
					"party": driver,
					"purpose": "Driver Share",
					"amount": Decimal("100.00"),
					"status": "Paid",
					"attempts": 0,
					"gateway": None,
					"gateway_receipt": receipt,
					"originator_conversation_id": first["originator_conversation_id"],
					"last_error": None,
				},
			],
		)
		paid = self.run_as(LEDGER_MANAGER, "Payouts", party=driver, status="Paid")
		self.assertEqual([row["name"] for row in paid["result"]], [first["name"]])
		# the failed 50 went back: 175.50 - 100 paid
		self.assertEqual(frappe.get_doc("Fleet Driver", driver).payable, Decimal("75.50"))

	def test_client_exchange_position_shows_capital_loss_and_shares_exactly(self):
		active, idle = new_client_exchange(my_share_pct=30, company_share_pct=20), new_client_exchange()
		db = engine_db()
		clients.fund(db, active, "1000.00", unique("fund"))
		clients.record_balance(db, active, "2026-03-02", "599.50", unique("cb"))  # a loss of 400.50
		clients.settle(db, active, "60.10", unique("settle"))

		result = self.run_as(LEDGER_USER, "Client Exchange Position")
		rows = rows_of(result, "client_exchange", {active, idle})
		position = ("capital", "active_loss", "remaining_loss", "your_share_total", "company_share_total")
		self.assertEqual(
			{k: rows[active][k] for k in position},
			{
				"capital": Decimal("879.80"),
				"active_loss": Decimal("400.50"),
				"remaining_loss": Decimal("280.30"),
				"your_share_total": Decimal("36.06"),
				"company_share_total": Decimal("24.04"),
			},
		)
		self.assertEqual({k: rows[idle][k] for k in position}, dict.fromkeys(position, Decimal("0.00")))
		self.assertEqual(
			(rows[active]["client"], rows[active]["exchange"]),
			(frappe.db.get_value("Client Exchange", active, "client"), "Test Exchange"),
		)

	def test_a_user_without_a_ledger_role_runs_no_ledger_report(self):
		for report in ("Driver Balances", "Payouts", "Client Exchange Position"):
			with self.assertRaises(frappe.PermissionError):
				self.run_as(NO_LEDGER_ROLE, report)
