"""Defects of the Frappe host, each shown on the real site it runs on:

1. the callback allow-list judges the caller's address as Frappe takes it (X-Forwarded-For), not the
   proxy's;
2. the payout jobs are a quiet no-op on a site without a gateway, run as the scheduler runs them;
3. the circuit breaker's state outlives a request or job and is shared between processes;
4. a callback whose body Frappe cannot parse is logged and answered like any malformed callback;
5. Log Settings lists Callback Log and clears its old rows;
6. nothing the bench reaches needs a package only the standalone host installs.

The HTTP tests run against the site served by gunicorn in a process of its own (as bench serves it);
what they need in Ledger Settings is committed for that process to see, and put back afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import frappe
import requests
from frappe.tests.utils import FrappeTestCase
from frappe.utils.password import get_decrypted_password

from ledger_app import host
from ledger_app.engine import callbacks, clock, drivers, payouts

TOKEN = "h1-callback-token-5e1f"
PASSWORD_FIELDS = ("callback_token", "daraja_consumer_secret", "daraja_security_credential")
BREAKER_KEY = "ledger_app:breaker:daraja"


def marker() -> str:
	return uuid.uuid4().hex[:12].upper()


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


@contextmanager
def ledger_settings(**values):
	"""Ledger Settings with ``values``, committed (other processes see them), put back afterwards."""
	doc = frappe.get_single("Ledger Settings")
	before = {}
	for field in values:
		before[field] = (get_decrypted_password("Ledger Settings", "Ledger Settings", field, raise_exception=False)
			if field in PASSWORD_FIELDS else doc.get(field)) or ""
	doc.update(values)
	doc.save(ignore_permissions=True)
	frappe.db.commit()
	try:
		yield
	finally:
		doc = frappe.get_single("Ledger Settings")
		doc.update(before)
		doc.save(ignore_permissions=True)
		frappe.db.commit()


def forget_gateway() -> None:
	"""What Frappe does to ``frappe.local`` at the end of every request and job."""
	if hasattr(frappe.local, "ledger_app_gateway"):
		del frappe.local.ledger_app_gateway


def fresh_snapshot() -> None:
	"""See what other processes committed (the test's transaction is REPEATABLE READ)."""
	frappe.db.commit()


def log_rows(fragment: str) -> list[dict]:
	fresh_snapshot()
	return frappe.db.sql(
		"SELECT `name`, `endpoint`, `status`, `http_status`, `error`, `body`, `remote_addr` FROM `tabCallback Log`"
		" WHERE `body` LIKE %(f)s ORDER BY `creation`", {"f": f"%{fragment}%"}, as_dict=True)


def delete_logs(fragment: str) -> None:
	frappe.db.sql("DELETE FROM `tabCallback Log` WHERE `body` LIKE %(f)s", {"f": f"%{fragment}%"})
	frappe.db.commit()


class ServedSite:
	"""This site served by gunicorn (two workers) in a process of its own, on a free loopback port."""

	def __init__(self):
		self.site = frappe.local.site
		self.port = free_port()
		self.base = f"http://127.0.0.1:{self.port}"
		self.output = tempfile.TemporaryFile("w+")
		self.process = subprocess.Popen(
			[sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", "2", "-t", "120",
				"frappe.app:application"],
			cwd=os.path.abspath(frappe.local.sites_path), stdout=self.output, stderr=subprocess.STDOUT)
		deadline = time.monotonic() + 60
		while True:
			try:
				if requests.get(f"{self.base}/api/method/ping", headers=self.headers(), timeout=5).ok:
					break
			except requests.ConnectionError:
				pass
			if self.process.poll() is not None or time.monotonic() > deadline:
				self.output.seek(0)
				said = self.output.read()
				self.stop()
				raise RuntimeError(f"gunicorn did not serve the site:\n{said}")
			time.sleep(0.2)

	def headers(self, **extra) -> dict:
		return {"X-Frappe-Site-Name": self.site, **extra}

	def post(self, method: str, data: bytes, token: str | None = TOKEN, **headers) -> requests.Response:
		return requests.post(f"{self.base}/api/method/{method}", params={"token": token} if token else None, data=data,
			headers=self.headers(**{"Content-Type": "application/json", **headers}), timeout=60)

	def stop(self) -> None:
		self.process.terminate()
		try:
			self.process.wait(timeout=30)
		except subprocess.TimeoutExpired:
			self.process.kill()
			self.process.wait()
		self.output.close()


class ServedSiteTestCase(FrappeTestCase):
	served: ServedSite

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.served = ServedSite()
		cls.addClassCleanup(cls.served.stop)


# --- 1. the allow-list sees the caller, not the proxy --------------------------------------------


class TestCallerAddress(ServedSiteTestCase):
	def test_allow_list_judges_the_forwarded_address(self):
		mark = marker()
		self.addCleanup(delete_logs, mark)
		body = json.dumps({"TransactionType": "Pay Bill", "TransAmount": "100.00", "BillRefNumber": f"NOPE{mark}",
			"BusinessShortCode": "600000"}).encode()
		with ledger_settings(callback_token=TOKEN, allowed_callback_ips="203.0.113.7"):
			allowed = self.served.post("ledger_app.api.daraja.c2b_validation", body, **{"X-Forwarded-For": "203.0.113.7"})
			refused = self.served.post("ledger_app.api.daraja.c2b_validation", body, **{"X-Forwarded-For": "198.51.100.9"})
		# the validation ran: the account is unknown, which is Daraja's C2B00012, not a refusal
		self.assertEqual((allowed.status_code, allowed.json()), (200, {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}))
		self.assertEqual((refused.status_code, refused.json()), (403,
			{"ResultCode": 1, "ResultDesc": "Rejected: source address 198.51.100.9 is not in the allow-list"}))
		rows = log_rows(mark)
		self.assertEqual([row.remote_addr for row in rows], ["203.0.113.7", "198.51.100.9"])


# --- 2. payout jobs without a gateway -------------------------------------------------------------


class TestPayoutJobsWithoutGateway(FrappeTestCase):
	def test_scheduled_payout_jobs_are_a_quiet_no_op_until_a_gateway_is_configured(self):
		from frappe.core.doctype.scheduled_job_type.scheduled_job_type import run_scheduled_job

		mark = marker()
		with ledger_settings(daraja_base_url="", instant_payouts=0):
			forget_gateway()
			db = host.get_db()
			driver = f"HD-{mark}"
			drivers.upsert_driver(db, driver, f"Driver {mark}", "0712345678", target_sharing="Disable")
			drivers.upsert_vehicle(db, f"HV-{mark}", f"HA{mark}", driver=driver)
			drivers.confirm_c2b(db, drivers.parse_c2b({"TransactionType": "Pay Bill", "TransID": f"QH{mark}",
				"TransAmount": "500.00", "BillRefNumber": f"HA{mark}", "TransTime": "20260301100000"}))
			payout = payouts.request_payout(db, "Fleet Driver", driver, f"h1-no-gateway-{mark}")
			self.addCleanup(payouts.record_result, db, payout["originator_conversation_id"], "2001", "test over")
			self.assertEqual(payout["status"], "Queued")

			errors_before = frappe.db.count("Error Log")
			for method in ("ledger_app.jobs.dispatch_payouts", "ledger_app.jobs.sweep_payouts"):
				job = frappe.get_doc("Scheduled Job Type", {"method": method})
				self.assertEqual(job.frequency, "All")  # every tick of the scheduler
				create_log = job.create_log
				job.db_set("create_log", 1)  # what an "All" job does is logged only when asked
				frappe.db.commit()
				try:
					run_scheduled_job(method)  # how the worker runs a scheduled job
				finally:
					frappe.db.set_value("Scheduled Job Type", job.name, "create_log", create_log)
					frappe.db.commit()
				last = frappe.get_all("Scheduled Job Log", filters={"scheduled_job_type": job.name},
					fields=["status", "details"], order_by="creation desc", limit=1)[0]
				self.assertEqual(last.status, "Complete", last.details)
			self.assertEqual(frappe.db.count("Error Log"), errors_before)
			self.assertEqual(payouts.get_payout(db, payout["name"])["status"], "Queued")


class TestGatewaySettingsChangedThroughTheStaffApi(FrappeTestCase):
	def test_the_next_dispatch_uses_a_gateway_set_by_update_settings(self):
		"""update_settings writes Ledger Settings through the engine; Frappe's document cache of the
		settings does not see that, so the gateway must not be built from it."""
		from ledger_app.api.settings import update_settings

		credentials = {"daraja_consumer_key": "k", "daraja_consumer_secret": "s", "daraja_shortcode": "600000",
			"daraja_initiator": "api", "daraja_security_credential": "c"}
		with ledger_settings(daraja_base_url="", **credentials):
			frappe.get_cached_doc("Ledger Settings")  # what a desk view or an earlier job cached
			forget_gateway()
			self.assertIsNone(host.payout_gateway())
			update_settings(daraja_base_url="http://127.0.0.1:9")
			frappe.db.commit()
			forget_gateway()  # a new request or job
			gateway = host.payout_gateway()
			self.assertIsNotNone(gateway)
			forget_gateway()
			update_settings(daraja_base_url="")
			frappe.db.commit()
			self.assertIsNone(host.payout_gateway())


# --- 3. the breaker outlives requests and is shared by processes ---------------------------------


def run_in_another_process(code: str) -> str:
	"""``code`` in a new Python process, inside this site as a job sees it (init, connect, destroy)."""
	script = "\n".join([
		"import frappe",
		f"frappe.init(site={frappe.local.site!r}, sites_path={os.path.abspath(frappe.local.sites_path)!r})",
		"frappe.connect()",
		"try:",
		textwrap.indent(textwrap.dedent(code).strip("\n"), "\t"),
		"\tfrappe.db.commit()",
		"finally:",
		"\tfrappe.destroy()",
	])
	done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
		cwd=os.path.abspath(frappe.local.sites_path))
	if done.returncode != 0:
		raise AssertionError(f"the other process failed:\n{done.stdout}\n{done.stderr}")
	return done.stdout


FAIL_ONCE = """
	from decimal import Decimal
	from ledger_app import host
	from ledger_app.engine.payout_gateway import PayoutRequest
	gateway = host.payout_gateway()
	for i in range({n}):
		request = PayoutRequest("LAH1BREAKER{{}}".format(i), Decimal(100), "254712345678", "test", "http://x/r", "http://x/t")
		print(gateway.submit_b2c(request).status)
	print(gateway.states()["daraja"])
"""


class TestSharedBreaker(FrappeTestCase):
	def setUp(self):
		frappe.cache.delete(frappe.cache.make_key(BREAKER_KEY))
		self.addCleanup(frappe.cache.delete, frappe.cache.make_key(BREAKER_KEY))
		forget_gateway()
		self.addCleanup(forget_gateway)

	def test_failures_in_one_process_and_job_open_the_breaker_for_the_next(self):
		from ledger_app.engine.payout_gateway import PayoutRequest

		dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every call is an unknown outcome
		with ledger_settings(daraja_base_url=dead, daraja_consumer_key="k", daraja_consumer_secret="s",
				daraja_shortcode="600000", daraja_initiator="api", daraja_security_credential="c"):
			# 3 of the 5 failures that open it, in a process that then ends
			self.assertEqual(run_in_another_process(FAIL_ONCE.format(n=3)).split(), ["unknown"] * 3 + ["closed"])
			# this process (a new request: nothing in frappe.local) carries on counting, and opens it
			gateway = host.payout_gateway()
			self.assertEqual(gateway.get("daraja").failures, 3)
			for i in range(2):
				request = PayoutRequest(f"LAH1HERE{i}", Decimal(100), "254712345678", "test", "http://x/r", "http://x/t")
				self.assertEqual(gateway.submit_b2c(request).status, "unknown")
			self.assertEqual(gateway.states(), {"daraja": "open"})
			forget_gateway()
			# the next job, in yet another process, finds it open and calls nothing
			self.assertEqual(run_in_another_process(FAIL_ONCE.format(n=1)).split(), ["unavailable", "open"])
			forget_gateway()
			self.assertEqual(host.payout_gateway().states(), {"daraja": "open"})


# --- 4. a body Frappe cannot parse ------------------------------------------------------------------


NOT_AN_OBJECT = {"ResultCode": 1, "ResultDesc": "Rejected: body is not a JSON object"}


class TestUnparseableCallbackBodies(ServedSiteTestCase):
	def check(self, method: str, data: bytes, expected_status: int, expected_answer: dict, mark: str,
			token: str | None = TOKEN, log_status: str = "Rejected", error: str = "body is not a JSON object"):
		response = self.served.post(method, data, token=token)
		self.assertEqual((response.status_code, response.json()), (expected_status, expected_answer), response.text)
		rows = log_rows(mark)
		self.assertEqual(len(rows), 1, rows)
		self.assertEqual((rows[0].endpoint, rows[0].status, rows[0].http_status, rows[0].error, rows[0].body),
			(method.rpartition(".")[2], log_status, expected_status, error, data.decode()))

	def test_unparseable_bodies_are_logged_and_answered_like_the_standalone_host(self):
		with ledger_settings(callback_token=TOKEN, allowed_callback_ips=""):
			for method in ("ledger_app.api.mpesa.c2b_confirmation", "ledger_app.api.daraja.c2b_confirmation",
					"ledger_app.api.daraja.b2c_result", "ledger_app.api.daraja.transaction_status_result"):
				with self.subTest(method=method, body="not JSON"):
					mark = marker()
					self.addCleanup(delete_logs, mark)
					self.check(method, f'{{"TransID": "{mark}", oops'.encode(), 400, NOT_AN_OBJECT, mark)
			for data in ('"{mark}"', '["{mark}"]'):  # a JSON scalar (Frappe refuses it too) and a list
				with self.subTest(body=data):
					mark = marker()
					self.addCleanup(delete_logs, mark)
					self.check("ledger_app.api.daraja.c2b_confirmation", data.format(mark=mark).encode(), 400,
						NOT_AN_OBJECT, mark)
			with self.subTest(method="c2b_validation"):
				mark = marker()
				self.addCleanup(delete_logs, mark)
				self.check("ledger_app.api.daraja.c2b_validation", f"{{{mark}".encode(), 400,
					{"ResultCode": "C2B00016", "ResultDesc": "Rejected"}, mark)
			with self.subTest(token="wrong"):  # the token is still checked first
				mark = marker()
				self.addCleanup(delete_logs, mark)
				self.check("ledger_app.api.daraja.c2b_confirmation", f"{{{mark}".encode(), 403,
					{"ResultCode": 1, "ResultDesc": "Rejected: wrong callback token"}, mark, token="wrong",
					error="wrong callback token")

	def test_other_methods_keep_frappes_answer(self):
		response = requests.post(f"{self.served.base}/api/method/frappe.auth.get_logged_user", data=b"{oops",
			headers=self.served.headers(**{"Content-Type": "application/json"}), timeout=60)
		self.assertEqual(response.status_code, 500)
		self.assertEqual(response.json()["exc_type"], "JSONDecodeError")


# --- 5. Log Settings clears Callback Log ------------------------------------------------------------


class TestCallbackLogClearing(FrappeTestCase):
	def test_log_settings_lists_callback_log(self):
		entries = {row.ref_doctype: row.days for row in frappe.get_doc("Log Settings").logs_to_clear}
		self.assertEqual(entries.get("Callback Log"), 90)

	def test_clearing_removes_rows_older_than_the_retention_and_keeps_the_rest(self):
		from frappe.model.base_document import get_controller

		mark = marker()
		self.addCleanup(delete_logs, mark)
		db = host.get_db()
		ages = {"old": (100, "Processed"), "recent": (10, "Processed"), "old-failed": (100, "Failed"),
			"old-received": (100, "Received")}
		names = {}
		for label, (days, status) in ages.items():
			name = callbacks.record(db, "c2b_confirmation", f"{label} {mark}".encode(), {}, "127.0.0.1")
			if status != "Received":
				callbacks.finish(db, name, status, 200)
			frappe.db.sql("UPDATE `tabCallback Log` SET `creation` = %(c)s, `modified` = %(c)s WHERE `name` = %(n)s",
				{"c": clock.now() - timedelta(days=days), "n": name})
			names[label] = name
		frappe.db.commit()

		entry = next(row for row in frappe.get_doc("Log Settings").logs_to_clear if row.ref_doctype == "Callback Log")
		get_controller("Callback Log").clear_old_logs(days=entry.days)  # as LogSettings.clear_logs calls it
		fresh_snapshot()
		left = {row.body.split()[0] for row in log_rows(mark)}
		self.assertEqual(left, {"recent", "old-failed", "old-received"})


# --- 6. no standalone-only package inside a bench ---------------------------------------------------


STANDALONE_ONLY = ("waitress", "sqlalchemy", "psycopg", "apscheduler", "click", "pymysql")

IMPORT_EVERYTHING = """
import builtins, importlib, pkgutil, sys
import frappe, frappe.app  # Frappe's own imports come first, whatever they are

blocked = set({blocked!r})
real_import = builtins.__import__

def guarded(name, globals=None, locals=None, fromlist=(), level=0):
	importer = (globals or {{}}).get("__name__", "")
	if level == 0 and name.split(".")[0] in blocked and importer.startswith("ledger_app"):
		raise ImportError(importer + " imports " + name + ", which only the standalone host installs")
	return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = guarded
for name in list(sys.modules):  # import ours afresh, under the guard
	if name == "ledger_app" or name.startswith("ledger_app."):
		del sys.modules[name]
import ledger_app
skipped = ("ledger_app.standalone", "ledger_app.db.pool", "ledger_app.tests")  # the standalone host's own
imported = []
def walk(package):
	for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
		if module.name.startswith(skipped):
			continue
		imported.append(importlib.import_module(module.name))
		if module.ispkg:
			walk(imported[-1])
walk(ledger_app)
from ledger_app import hooks
def paths(value):
	if isinstance(value, str):
		yield value
	elif isinstance(value, (list, tuple)):
		for item in value:
			yield from paths(item)
	elif isinstance(value, dict):
		for item in value.values():
			yield from paths(item)
for hook in ("after_install", "after_migrate", "after_request", "scheduler_events"):
	for path in paths(getattr(hooks, hook)):
		module, _, name = path.rpartition(".")
		getattr(importlib.import_module(module), name)
print(len(imported))
"""


class TestNoStandaloneOnlyPackages(FrappeTestCase):
	def test_every_module_a_bench_reaches_imports_without_them(self):
		done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING.format(blocked=STANDALONE_ONLY)],
			capture_output=True, text=True, timeout=120, cwd=os.path.abspath(frappe.local.sites_path))
		self.assertEqual(done.returncode, 0, done.stderr)
		self.assertGreater(int(done.stdout.split()[-1]), 50)  # the doctypes, reports, engine, api, gateways
