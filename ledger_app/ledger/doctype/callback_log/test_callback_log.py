# Copyright (c) 2025, ledger_app developers and contributors
# For license information, please see license.txt

import json

import frappe
from frappe import client
from frappe.tests.utils import FrappeTestCase

from ledger_app.engine import callbacks
from ledger_app.tests.fixtures import LEDGER_MANAGER, LEDGER_USER, NO_LEDGER_ROLE, engine_db, ensure_users


class TestCallbackLog(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()

	def setUp(self):
		self.log = callbacks.record(
			engine_db(),
			"ledger_app.api.daraja.c2b_confirmation",
			b'{"TransID": "QX1"}',
			{"Authorization": "token staff:secret", "Content-Type": "application/json"},
			"196.201.214.200",
		)
		callbacks.finish(engine_db(), self.log, "Processed", 200, reference="QX1")

	def test_the_manager_reads_a_callback_as_received_without_its_secrets(self):
		with self.set_user(LEDGER_MANAGER):
			doc = client.get("Callback Log", self.log)
		self.assertEqual(
			(doc["status"], doc["http_status"], doc["reference"], doc["owner"]),
			("Processed", 200, "QX1", "Guest"),
		)
		self.assertEqual((doc["body"], doc["remote_addr"]), ('{"TransID": "QX1"}', "196.201.214.200"))
		self.assertEqual(json.loads(doc["headers"]), {"Content-Type": "application/json"})

	def test_nobody_writes_the_callback_log_from_the_desk(self):
		with self.set_user(LEDGER_MANAGER):
			with self.assertRaises(frappe.PermissionError):
				client.insert({"doctype": "Callback Log", "endpoint": "forged", "status": "Processed"})
			form = client.get("Callback Log", self.log)
			form["status"] = "Rejected"
			with self.assertRaises(frappe.PermissionError):
				client.save(form)
			with self.assertRaises(frappe.PermissionError):
				client.delete("Callback Log", self.log)
		self.assertEqual(frappe.db.get_value("Callback Log", self.log, "status"), "Processed")

	def test_only_a_ledger_manager_reads_the_callback_log(self):
		for user in (LEDGER_USER, NO_LEDGER_ROLE):
			with self.set_user(user), self.assertRaises(frappe.PermissionError):
				client.get("Callback Log", self.log)
