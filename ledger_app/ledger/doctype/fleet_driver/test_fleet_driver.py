# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine.business import PAYBILL
from ledger_app.engine.drivers import driver_accounts, driver_balances
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	engine_db,
	ensure_users,
	new_driver,
	new_vehicle,
	pay,
	retire_driver,
	unique,
)

ENGINE_FIELDS = (
	"consecutive_misses",
	"flagged",
	"last_target_date",
	"target_account",
	"payable_account",
	"deposit_account",
)


class TestFleetDriver(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def test_manager_creates_a_driver_from_the_desk_with_its_three_accounts(self):
		name = unique("DRV")
		self.addCleanup(retire_driver, name)
		with self.set_user(LEDGER_MANAGER):
			doc = client.insert(
				{
					"doctype": "Fleet Driver",
					"driver_id": name,
					"driver_name": "Achieng",
					"phone": "0712 345 678",
					# engine fields sent by a form or a REST client are ignored
					"consecutive_misses": 4,
					"flagged": 1,
					"last_target_date": "2026-01-01",
					"target_account": PAYBILL,
				}
			)
		accounts = driver_accounts(name)
		self.assertEqual(doc["phone"], "254712345678")  # as the engine stores it
		self.assertEqual((doc["consecutive_misses"], doc["flagged"], doc["last_target_date"]), (0, 0, None))
		self.assertEqual(
			(doc["target_account"], doc["payable_account"], doc["deposit_account"]),
			(accounts["target"], accounts["payable"], accounts["deposit"]),
		)
		stored = frappe.db.get_value("Fleet Driver", name, ENGINE_FIELDS, as_dict=True)
		self.assertEqual(stored.target_account, accounts["target"])
		for account in accounts.values():
			row = frappe.db.get_value(
				"Ledger Account", account, ["party_type", "party", "owner", "balance"], as_dict=True
			)
			self.assertEqual((row.party_type, row.party, row.owner), ("Fleet Driver", name, LEDGER_MANAGER))

	def test_a_failed_request_takes_the_new_drivers_accounts_with_it(self):
		name = unique("DRV")
		frappe.get_doc(
			{"doctype": "Fleet Driver", "driver_id": name, "driver_name": "Otieno", "phone": "0712345678"}
		).insert()
		accounts = list(driver_accounts(name).values())
		self.assertEqual(frappe.db.count("Ledger Account", {"name": ("in", accounts)}), 3)
		frappe.db.rollback()  # after_insert neither committed nor ended the request's transaction
		self.assertFalse(frappe.db.exists("Fleet Driver", name))
		self.assertEqual(frappe.db.count("Ledger Account", {"name": ("in", accounts)}), 0)

	def test_balances_are_read_from_the_ledger_accounts_exactly(self):
		driver = new_driver(self)
		vehicle = new_vehicle(driver)
		pay(vehicle, "100.10")  # nothing outstanding: all of the fare is payable
		pay(driver, "150.55")  # the driver's own id: a repayment, beyond the target into deposit
		doc = frappe.get_doc("Fleet Driver", driver)
		values = (doc.target_outstanding, doc.payable, doc.deposit)
		self.assertEqual(values, (Decimal("0.00"), Decimal("100.10"), Decimal("150.55")))
		self.assertTrue(all(type(value) is Decimal for value in values))
		self.assertEqual(
			{"target_outstanding": values[0], "payable": values[1], "deposit": values[2]},
			driver_balances(engine_db(), driver),
		)
		with self.set_user(LEDGER_USER):  # what the form shows
			shown = client.get("Fleet Driver", driver)
		self.assertEqual(
			(shown["target_outstanding"], shown["payable"], shown["deposit"]), (0, 100.10, 150.55)
		)
		unsaved = frappe.new_doc("Fleet Driver")  # no accounts yet: zero, and no query
		self.assertEqual((unsaved.target_outstanding, unsaved.payable, unsaved.deposit), (Decimal(0),) * 3)

	def test_a_desk_save_keeps_what_the_engine_wrote(self):
		driver = new_driver(self)
		# what the daily target job writes with SQL (the form is loaded after it)
		moved = {
			"consecutive_misses": 3,
			"flagged": 1,
			"last_target_date": frappe.utils.getdate("2026-03-01"),
		}
		frappe.db.set_value("Fleet Driver", driver, dict(moved))  # (it adds `modified`)
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Fleet Driver", driver)
			form.update(
				driver_name="Renamed", payable=999, consecutive_misses=0, flagged=0, target_account=PAYBILL
			)
			saved = client.save(form)
		self.assertEqual(saved["driver_name"], "Renamed")
		stored = frappe.db.get_value("Fleet Driver", driver, ENGINE_FIELDS, as_dict=True)
		self.assertEqual({k: stored[k] for k in moved}, moved)
		self.assertEqual(stored.target_account, driver_accounts(driver)["target"])
		self.assertEqual(frappe.get_doc("Fleet Driver", driver).payable, Decimal("0.00"))  # not the 999 sent

	def test_a_form_opened_before_the_daily_target_job_wrote_the_driver_is_refused(self):
		driver = new_driver(self)
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Fleet Driver", driver)
		frappe.db.set_value("Fleet Driver", driver, {"consecutive_misses": 1})  # the job moves `modified` too
		form["driver_name"] = "Renamed"
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.TimestampMismatchError):
			client.save(form)
		self.assertEqual(frappe.db.get_value("Fleet Driver", driver, "consecutive_misses"), 1)

	def test_driver_terms_are_checked_when_saved(self):
		for bad, message in (
			({"phone": "12345"}, "Kenyan mobile number"),
			({"fare_pct": 100.5}, "between 0 and 100"),
			({"fare_pct": -1}, "between 0 and 100"),
			({"daily_target": -5}, "daily_target must be positive"),
			({"daily_target": 10.001}, "more than 2 decimal places"),
			({"target_sharing": "Sometimes"}, "target_sharing must be one of"),
		):
			name = unique("DRV")
			fields = {
				"doctype": "Fleet Driver",
				"driver_id": name,
				"driver_name": "X",
				"phone": "0712345678",
				**bad,
			}
			with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.ValidationError) as raised:
				client.insert(fields)
			self.assertIn(message, str(raised.exception))
			self.assertFalse(frappe.db.exists("Fleet Driver", name))

	def test_ledger_user_reads_drivers_but_cannot_create_change_or_delete_them(self):
		driver = new_driver(self)
		with self.set_user(LEDGER_USER):
			form = client.get("Fleet Driver", driver)
			with self.assertRaises(frappe.PermissionError):
				client.insert(
					{
						"doctype": "Fleet Driver",
						"driver_id": unique("DRV"),
						"driver_name": "X",
						"phone": "0712345678",
					}
				)
			form["driver_name"] = "Changed"
			with self.assertRaises(frappe.PermissionError):
				client.save(form)
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.PermissionError):
			client.delete("Fleet Driver", driver)  # a driver with a ledger is never deleted from the desk
		self.assertEqual(frappe.db.get_value("Fleet Driver", driver, "driver_name"), "Test Driver")

	def test_user_without_a_ledger_role_cannot_read_drivers(self):
		driver = new_driver(self)
		with self.set_user(NO_LEDGER_ROLE):
			with self.assertRaises(frappe.PermissionError):
				client.get("Fleet Driver", driver)
			with self.assertRaises(frappe.PermissionError):
				client.get_list("Fleet Driver")
