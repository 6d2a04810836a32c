"""Daraja's C2B: URL registration, the sandbox's simulate call, and ``/simulator/c2b`` (a
customer paying): validation, the books, and confirmations to the registered URL."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.wire import (
	ACCEPT_DESC,
	C2B_COMMANDS,
	EAT,
	FORBIDDEN_URL_WORDS,
	PHONE,
	TRANS_ID,
	VALIDATION_TIMEOUT,
	BadRequest,
)


class C2BPayments:
	"""Daraja's C2B: URL registration, the sandbox's simulate call, and ``/simulator/c2b`` (a
	customer paying): validation, the books, and confirmations to the registered URL."""

	def _register_url(self, request: Request, version: str) -> Response:
		body, shortcode = wire.body_with_shortcode(request)
		if body.get("ResponseType") not in ("Completed", "Cancelled"):
			raise BadRequest("Bad Request - Invalid ResponseType")
		for field in ("ConfirmationURL", "ValidationURL"):
			url = body.get(field)
			if not wire.is_url(url):
				raise BadRequest(f"Bad Request - Invalid {field}")
			if self.production and any(word in url.lower() for word in FORBIDDEN_URL_WORDS):
				raise BadRequest(f"Bad Request - Invalid {field}")
		with self._lock:
			if self.production and shortcode in self._registrations:
				return wire.daraja_error(500, "500.003.1001", "Urls are already registered")
			self._registrations[shortcode] = {"ShortCode": shortcode, "ResponseType": body["ResponseType"],
				"ConfirmationURL": body["ConfirmationURL"].strip(), "ValidationURL": body["ValidationURL"].strip(),
				"version": version, "registered_at": wire.iso(wire.now())}
		return wire.json_response({"OriginatorCoversationID": wire.request_id(), "ResponseCode": "0",
			"ResponseDescription": "success"})

	def _c2b_simulate(self, request: Request, version: str) -> Response:
		body = wire.parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		if body.get("CommandID") not in C2B_COMMANDS:
			raise BadRequest("Bad Request - Invalid CommandID")
		item = {"Amount": body.get("Amount"), "BillRefNumber": body.get("BillRefNumber", ""),
			"MSISDN": wire.text(body.get("Msisdn")), "ShortCode": wire.text(body.get("ShortCode")), "copies": 1,
			"validate": self.c2b_external_validation,
			"TransactionType": "Pay Bill" if body["CommandID"] == "CustomerPayBillOnline" else "Buy Goods"}
		plan = self._plan_c2b(item, {})
		response = wire.json_response({"OriginatorCoversationID": wire.request_id(), "ResponseCode": "0",
			"ResponseDescription": ACCEPT_DESC})
		with self._idle:
			self._pending += 1

		def run():
			try:
				self._run_c2b([plan], 1)
			finally:
				with self._idle:
					self._pending -= 1
					self._idle.notify_all()

		response.call_on_close(lambda: threading.Thread(target=run, daemon=True, name="daraja-sim-c2b").start())
		return response

	def _plan_c2b(self, item, defaults: dict) -> dict:
		"""Check one payment of a ``/simulator/c2b`` body; raises BadRequest before anything is sent."""
		if not isinstance(item, dict):
			raise BadRequest("each payment must be a JSON object")

		def get(key, fallback=None):
			return item.get(key, defaults.get(key, fallback))

		amount = wire.decimal_amount(get("Amount", item.get("TransAmount")))
		if amount is None:
			raise BadRequest("Amount must be a positive amount with at most 2 decimal places")
		bill_ref = get("BillRefNumber")
		if not isinstance(bill_ref, str) or len(bill_ref) > 40:
			raise BadRequest("BillRefNumber is required (a string of at most 40 characters)")
		msisdn = wire.text(get("MSISDN")) or "254708374149"
		if not PHONE.fullmatch(msisdn):
			raise BadRequest("MSISDN must be 2547XXXXXXXX or 2541XXXXXXXX")
		copies, validate = get("copies", 1), get("validate", False)
		if isinstance(copies, bool) or not isinstance(copies, int) or not 0 <= copies <= 1000:
			raise BadRequest("copies must be a whole number from 0 to 1000")
		trans_id = wire.text(get("TransID")) if "TransID" in item else ""
		if trans_id and not TRANS_ID.fullmatch(trans_id):
			raise BadRequest("TransID must be 1 to 20 letters and digits")
		moment = None
		if wire.text(get("TransTime")):
			try:
				moment = datetime.strptime(wire.text(get("TransTime")), "%Y%m%d%H%M%S").replace(tzinfo=EAT)
			except ValueError:
				raise BadRequest("TransTime must be YYYYMMDDHHmmss") from None
		with self._lock:
			shortcode = wire.text(get("ShortCode"))
			if not shortcode:
				shortcode = next(iter(self._registrations)) if len(self._registrations) == 1 else self.shortcode
			existing = self._c2b.get(trans_id) if trans_id else None
			if existing and (Decimal(existing["TransAmount"]) != amount or existing["BillRefNumber"] != bill_ref):
				raise BadRequest(f"TransID {trans_id} is already in the books for {existing['TransAmount']} to "
					f"{existing['BillRefNumber']!r}")
			registration = self._registrations.get(shortcode)
		return {"TransID": trans_id, "amount": amount, "BillRefNumber": bill_ref, "MSISDN": msisdn, "ShortCode": shortcode,
			"time": moment, "copies": copies, "validate": bool(validate), "registration": registration,
			"TransactionType": get("TransactionType", "Pay Bill"), "FirstName": wire.text(get("FirstName", "JOHN")),
			"MiddleName": wire.text(get("MiddleName", "")), "LastName": wire.text(get("LastName", "DOE")),
			"InvoiceNumber": wire.text(get("InvoiceNumber", ""))}

	def _c2b_payload(self, plan: dict, row: dict | None, validation: bool) -> dict:
		registration = plan["registration"] or {}
		msisdn = wire.hashed(plan["MSISDN"]) if registration.get("version") == "v1" else wire.masked(plan["MSISDN"])
		moment = row["time"] if row else (plan["time"] or wire.now())
		return {"TransactionType": plan["TransactionType"], "TransID": row["TransID"] if row else plan["TransID"],
			"TransTime": wire.stamp(moment), "TransAmount": wire.money(plan["amount"]), "BusinessShortCode": plan["ShortCode"],
			"BillRefNumber": plan["BillRefNumber"], "InvoiceNumber": plan["InvoiceNumber"],
			"OrgAccountBalance": "" if validation else row["OrgAccountBalance"],
			"ThirdPartyTransID": (row or {}).get("ThirdPartyTransID", ""), "MSISDN": msisdn,
			"FirstName": plan["FirstName"], "MiddleName": plan["MiddleName"], "LastName": plan["LastName"]}

	def _run_c2b(self, plans: list[dict], concurrency: int) -> dict:
		"""Validate, record and confirm C2B payments; returns what the receiving side answered."""
		results = []
		for plan in plans:
			if not plan["TransID"]:
				plan["TransID"] = self._new_transaction_id()
			results.append({"TransID": plan["TransID"], "TransAmount": wire.money(plan["amount"]),
				"BillRefNumber": plan["BillRefNumber"], "BusinessShortCode": plan["ShortCode"], "validation": None,
				"completed": False, "resent": False, "confirmations": [], "note": None})

		def validate(index: int) -> None:
			plan, outcome = plans[index], results[index]
			with self._lock:
				known = plan["TransID"] in self._c2b
			registration = plan["registration"]
			if known or not plan["validate"] or not registration:
				return
			record = self._deliver("c2b_validation", registration["ValidationURL"],
				self._c2b_payload(plan, None, validation=True), plan["TransID"], timeout=VALIDATION_TIMEOUT,
				attempts=1)  # Daraja asks once, then ResponseType decides
			outcome["validation"] = {"status": record["status"], "body": record["answer"], "error": record["error"]}
			answer = record["answer"] if isinstance(record["answer"], dict) else {}
			if record["status"] is not None and record["status"] < 500 and "ResultCode" in answer:
				plan["accepted"] = str(answer["ResultCode"]) == "0"
				plan["ThirdPartyTransID"] = wire.text(answer.get("ThirdPartyTransID"))
			else:  # no usable answer: the registered ResponseType decides, as Daraja does
				plan["accepted"] = registration["ResponseType"] == "Completed"

		with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="daraja-sim-c2b") as pool:
			list(pool.map(validate, range(len(plans))))
		jobs = []
		for plan, outcome in zip(plans, results):
			if not plan.get("accepted", True):
				outcome["note"] = "validation rejected: the payment was cancelled, no confirmation sent"
				continue
			row = self._record_c2b(plan, outcome)
			outcome["completed"] = True
			if not plan["registration"]:
				outcome["note"] = f"no URLs registered for {plan['ShortCode']}: the payment completed, nothing was sent"
				continue
			payload = self._c2b_payload(plan, row, validation=False)
			jobs.extend((outcome, plan["registration"]["ConfirmationURL"], payload, plan["TransID"])
				for _ in range(plan["copies"]))

		def confirm(job) -> None:
			outcome, url, payload, ref = job
			record = self._deliver("c2b_confirmation", url, payload, ref)
			with self._lock:
				outcome["confirmations"].append({"status": record["status"], "body": record["answer"],
					"error": record["error"]})

		if jobs:
			with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="daraja-sim-c2b") as pool:
				list(pool.map(confirm, jobs))
		answers = Counter()
		for outcome in results:
			for confirmation in outcome["confirmations"]:
				if confirmation["error"]:
					answers["error"] += 1
				else:
					desc = confirmation["body"].get("ResultDesc") if isinstance(confirmation["body"], dict) else None
					answers[f"{confirmation['status']} {desc}"] += 1
		return {"payments": results, "answers": dict(answers)}

	def _record_c2b(self, plan: dict, outcome: dict) -> dict:
		with self._lock:
			row = self._c2b.get(plan["TransID"])
			if row is not None:
				outcome["resent"] = True
				return row
			self.org_balance += plan["amount"]
			self._ids.add(plan["TransID"])
			row = {"TransID": plan["TransID"], "TransAmount": wire.money(plan["amount"]), "BillRefNumber": plan["BillRefNumber"],
				"MSISDN": plan["MSISDN"], "BusinessShortCode": plan["ShortCode"], "time": plan["time"] or wire.now(),
				"FirstName": " ".join(filter(None, (plan["FirstName"], plan["MiddleName"], plan["LastName"]))),
				"TransactionType": plan["TransactionType"], "OrgAccountBalance": wire.money(self.org_balance),
				"ThirdPartyTransID": plan.get("ThirdPartyTransID", "")}
			self._c2b[plan["TransID"]] = row
			return row

	def _sim_c2b(self, request: Request) -> Response:
		if request.method == "GET":
			return wire.json_response(self.c2b_payments())
		body = wire.parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("the body must be a JSON object")
		items = body.get("payments", [body])
		if not isinstance(items, list) or not 1 <= len(items) <= 10000:
			raise BadRequest("payments must be a list of 1 to 10000 payments")
		concurrency = body.get("concurrency", 1)
		if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
			raise BadRequest("concurrency must be a whole number from 1 to 64")
		defaults = {key: body[key] for key in ("copies", "validate", "ShortCode", "MSISDN") if key in body}
		plans = [self._plan_c2b(item, defaults) for item in items]
		ids = [plan["TransID"] for plan in plans if plan["TransID"]]
		if len(ids) != len(set(ids)):
			raise BadRequest("a TransID appears twice in payments; use copies to resend one")
		return wire.json_response(self._run_c2b(plans, concurrency))

