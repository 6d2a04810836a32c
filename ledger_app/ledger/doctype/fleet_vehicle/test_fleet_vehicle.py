# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine.drivers import normalize_account
from ledger_app.tests.fixtures import (
	LEDGER_MANAGER,
	LEDGER_USER,
	NO_LEDGER_ROLE,
	ensure_users,
	new_driver,
	new_vehicle,
	pay,
	unique,
)


class TestFleetVehicle(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def test_account_number_is_stored_as_c2b_matching_reads_it(self):
		driver = new_driver(self)
		name = unique("VEH")
		typed = f"  {name.lower()} "
		with self.set_user(LEDGER_MANAGER):
			doc = client.insert(
				{"doctype": "Fleet Vehicle", "vehicle_id": name, "account_number": typed, "driver": driver}
			)
		frappe.db.commit()
		self.assertEqual(doc["account_number"], name.upper())
		self.assertEqual(doc["account_number"], normalize_account(typed))
		outcome = pay(f" {name.lower()}", "80.00")  # as a passenger types it
		self.assertEqual((outcome.kind, outcome.driver), ("fare", driver))
		self.assertEqual(frappe.get_doc("Fleet Driver", driver).payable, Decimal("80.00"))

	def test_an_account_number_differing_only_in_case_is_refused(self):
		taken = new_vehicle(new_driver(self))
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.UniqueValidationError):
			client.insert(
				{"doctype": "Fleet Vehicle", "vehicle_id": unique("VEH"), "account_number": taken.lower()}
			)

	def test_an_account_number_with_a_control_character_is_refused_with_the_reason(self):
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.ValidationError) as refused:
			client.insert({"doctype": "Fleet Vehicle", "vehicle_id": unique("VEH"), "account_number": "K0\x0001"})
		self.assertIn("NUL", str(refused.exception))

	def test_the_payment_after_a_desk_change_of_driver_goes_to_the_new_driver(self):
		first, second = new_driver(self), new_driver(self)
		vehicle = new_vehicle(first)
		self.assertEqual(pay(vehicle, "10.00").driver, first)  # the match is now kept by this process
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Fleet Vehicle", vehicle)
			form["driver"] = second
			client.save(form)
		frappe.db.commit()
		self.assertEqual(pay(vehicle, "20.00").driver, second)
		payable = (
			frappe.get_doc("Fleet Driver", first).payable,
			frappe.get_doc("Fleet Driver", second).payable,
		)
		self.assertEqual(payable, (Decimal("10.00"), Decimal("20.00")))

	def test_ledger_user_reads_vehicles_but_cannot_create_or_change_them(self):
		vehicle = new_vehicle(new_driver(self))
		with self.set_user(LEDGER_USER):
			form = client.get("Fleet Vehicle", vehicle)
			with self.assertRaises(frappe.PermissionError):
				client.insert(
					{"doctype": "Fleet Vehicle", "vehicle_id": unique("VEH"), "account_number": unique("A")}
				)
			form["account_number"] = unique("A")
			with self.assertRaises(frappe.PermissionError):
				client.save(form)
		with self.set_user(LEDGER_MANAGER), self.assertRaises(frappe.PermissionError):
			client.delete("Fleet Vehicle", vehicle)
		self.assertEqual(frappe.db.get_value("Fleet Vehicle", vehicle, "account_number"), vehicle)

	def test_user_without_a_ledger_role_cannot_read_vehicles(self):
		vehicle = new_vehicle(new_driver(self))
		with self.set_user(NO_LEDGER_ROLE), self.assertRaises(frappe.PermissionError):
			client.get("Fleet Vehicle", vehicle)
