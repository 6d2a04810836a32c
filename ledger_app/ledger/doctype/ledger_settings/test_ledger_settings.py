# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

from decimal import Decimal

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine.settings import get_settings
from ledger_app.tests.fixtures import LEDGER_MANAGER, LEDGER_USER, NO_LEDGER_ROLE, engine_db, ensure_users


def defaults() -> dict:
	return {
		df.fieldname: df.default for df in frappe.get_meta("Ledger Settings").fields if df.default is not None
	}


class TestLedgerSettings(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.addCleanup(frappe.db.rollback)  # nothing here commits: every save is undone after the test

	def save_as_manager(self, **values) -> dict:
		with self.set_user(LEDGER_MANAGER):
			form = client.get("Ledger Settings", "Ledger Settings")
			form.update(values)
			return client.save(form)

	def test_the_defaults_are_valid_settings(self):
		saved = self.save_as_manager(**defaults())
		self.assertEqual((saved["global_fare_pct"], saved["minimum_payout"]), (50, 10))

	def test_invalid_settings_are_refused_with_the_reason(self):
		before = frappe.get_doc("Ledger Settings").as_dict()
		for bad, reason in (
			({"global_fare_pct": 100.01}, "Global Fare Percentage"),
			({"global_fare_pct": -1}, "Global Fare Percentage"),
			({"minimum_payout": 9.99}, "Minimum Payout"),
			({"business_timezone": "Mars/Olympus_Mons"}, "time zone"),
			({"paybill_shortcode": "60O000"}, "digits only"),
			({"reconcile_tolerance": -0.01}, "Tolerance"),
			({"deadlock_retries": 0}, "Deadlock Retries"),
			({"allowed_callback_ips": "10.0.0.0/8\nnot-an-ip"}, "not an IP address"),
			({"allowed_callback_ips": "10.0.0.1/33"}, "10.0.0.1/33"),
			({"miss_threshold": -1}, "Consecutive Misses"),
			({"currency": "shillings"}, "3-letter"),
			({"daraja_base_url": "ftp://api.safaricom.co.ke"}, "http(s) URL"),
			({"daraja_shortcode": "B2C-1"}, "digits only"),
		):
			with self.assertRaises(frappe.ValidationError) as raised:
				self.save_as_manager(**{**defaults(), **bad})
			self.assertIn(reason, str(raised.exception))
		after = frappe.get_doc("Ledger Settings").as_dict()
		self.assertEqual({k: after[k] for k in defaults()}, {k: before[k] for k in defaults()})

	def test_a_blank_time_zone_and_a_padded_shortcode_are_stored_clean(self):
		saved = self.save_as_manager(business_timezone=" ", paybill_shortcode=" 600000 ")
		self.assertEqual(
			(saved["business_timezone"], saved["paybill_shortcode"]), ("Africa/Nairobi", "600000")
		)

	def test_the_desk_refuses_what_the_staff_api_refuses_with_the_same_message(self):
		"""One owner of the rules: the controller runs the engine's ``settings.validate``, the same
		check as ``update_settings`` on either host."""
		from ledger_app.engine.errors import ValidationFailed
		from ledger_app.engine.settings import validate

		for bad in ({"global_fare_pct": "150"}, {"minimum_payout": "1"}, {"business_timezone": "Mars/Olympus"}):
			with self.assertRaises(ValidationFailed) as engine:
				validate(bad)
			with self.assertRaises(frappe.ValidationError) as desk:
				self.save_as_manager(**{**defaults(), **bad})
			self.assertIn(engine.exception.message, str(desk.exception))

	def test_the_allow_list_is_saved_one_network_per_line(self):
		saved = self.save_as_manager(allowed_callback_ips="196.201.214.200, 10.0.0.7/8\n 2001:db8::/32 ")
		self.assertEqual(saved["allowed_callback_ips"], "196.201.214.200\n10.0.0.0/8\n2001:db8::/32")

	def test_the_engine_runs_on_what_the_desk_saved(self):
		self.save_as_manager(
			global_fare_pct=40.5, minimum_payout=250, instant_payouts=1, global_daily_target=1500
		)
		settings = get_settings(engine_db())
		self.assertEqual(
			(settings["global_fare_pct"], settings["minimum_payout"], settings["global_daily_target"]),
			(Decimal("40.5"), Decimal("250"), Decimal("1500")),
		)
		self.assertTrue(settings["instant_payouts"])

	def test_only_a_ledger_manager_reads_or_changes_the_settings(self):
		before = frappe.db.get_single_value("Ledger Settings", "global_fare_pct")
		for user in (LEDGER_USER, NO_LEDGER_ROLE):
			with self.set_user(user):
				with self.assertRaises(frappe.PermissionError):
					client.get("Ledger Settings", "Ledger Settings")
				form = frappe.get_doc("Ledger Settings").as_dict()
				form["global_fare_pct"] = before + 1
				with self.assertRaises(frappe.PermissionError):
					client.save(form)
		self.assertEqual(frappe.db.get_single_value("Ledger Settings", "global_fare_pct"), before)
