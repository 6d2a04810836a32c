"""A Daraja (M-Pesa) simulator: a real HTTP server with Daraja's paths and bodies and its own books.

Tests and the demo point the real Daraja client at it; only the base URL differs (the paths and
body shapes are Daraja's, as listed below).

Daraja paths (every one but OAuth needs ``Authorization: Bearer <token>``, else 401 ``401.002.01``;
a wrong HTTP method is 404 ``404.001.04``; errors are ``{"requestId", "errorCode", "errorMessage"}``):

- ``GET /oauth/v1/generate?grant_type=client_credentials`` with Basic auth:
  ``{"access_token", "expires_in": "3599"}``.
- ``POST /mpesa/c2b/v1/registerurl`` and ``/v2/registerurl``: stores the URLs, answers the misspelt
  ``OriginatorCoversationID`` body. The version decides the C2B ``MSISDN``: v1 SHA-256, v2 masked.
- ``POST /mpesa/c2b/v1/simulate`` and ``/v2/simulate``: Daraja's sandbox trigger for one C2B payment.
- ``POST /mpesa/b2c/v3/paymentrequest``: validated (400 ``400.002.02``), a repeated
  OriginatorConversationID is 500 ``500.002.1001``; otherwise acknowledged, settled in the books and
  its result (or queue timeout) POSTed to the request's URLs as the scenario says.
- ``POST /mpesa/transactionstatus/v1/query`` by ``TransactionID`` or ``OriginalConversationID``:
  a B2C-shaped acknowledgement, then the result POSTed to its ``ResultURL`` from the books.
- ``POST /mpesa/stkpush/v1/processrequest``: recorded and acknowledged (no callback yet).
- ``POST /pulltransactions/v1/register`` and ``/pulltransactions/v1/query``: the books' C2B payments
  of the last 48 hours in the nested ``Response`` shape (``1000``; ``1001`` when there are none).

Control and books (plain JSON, no token):

- ``POST /simulator/scenario``: ``{"b2c": [outcome, ...]}`` appends to a FIFO queue, and each B2C
  request that passes the token check consumes one outcome (an invalid or duplicate request
  consumes one too); with the queue empty the sticky ``b2c_default`` applies, else ``success``.
  ``{"status": [...]}`` / ``status_default`` do the same for Transaction Status queries.
  ``{"reset": true}`` clears queues and defaults (applied first), ``{"expire_tokens": true}`` makes
  every issued token invalid. ``GET`` shows the state. An unknown outcome is a 400 naming the valid ones.
- ``GET /simulator/payments``: one object per B2C paid (``?all=1``: the failed ones too);
  ``GET /simulator/requests``: every B2C request received; ``GET /simulator/queries``: every
  Transaction Status query; ``GET /simulator/callbacks?wait=S``: ``{"pending", "deliveries"}``, every callback
  delivery with its URL, body, attempts, answer and error, in flight ones too (``done`` false; ``wait``
  first waits up to S seconds for the pending ones); ``GET /simulator/c2b``, ``/simulator/registrations``,
  ``/simulator/stk``.
- ``POST /simulator/c2b``: a customer paying: ``{"TransID"?, "Amount", "BillRefNumber", "MSISDN"?,
  "ShortCode"?, "TransTime"?, "copies": n, "concurrency": k, "validate": bool}`` or
  ``{"payments": [...], "concurrency": k, "validate": bool}``. The payment is recorded in the books
  (for Pull Transactions) and ``copies`` confirmations go to the registered ConfirmationURL from
  ``concurrency`` threads; answers ``{"payments": [...], "answers": {"200 Success": n}}``.

B2C outcomes: ``success``; ``fail:<ResultCode>`` (a number, or a string such as ``SFC_IC0003``);
``timeout`` (QueueTimeOutURL only, the payment completed; ``timeout:echo`` sends the request echo
instead of the ``Result`` envelope); ``no_callback`` (paid, nothing sent); ``callback_before_ack``
(the result is delivered and acknowledged before the HTTP answer); ``http_500`` (500
``500.003.1001``, nothing recorded); ``http_500_after_accept`` (paid and the result sent, but the
HTTP answer is that 500); ``duplicate_callback`` (result sent twice; ``duplicate_callback:concurrent``
sends both at once); ``slow:<seconds>`` (sleep, then as success); ``delay_callback:<seconds>``.

Callbacks go from background threads after the HTTP answer has been written; each delivery retries
connection errors and timeouts a few times (a receiving server restarting) and never changes the
outcome in the books.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import re
import secrets
import string
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import requests
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

log = logging.getLogger("ledger_app.simulator")

EAT = timezone(timedelta(hours=3), "EAT")  # Kenya: UTC+3, no daylight saving
TOKEN_SECONDS = 3600
B2C_MIN, B2C_MAX = 10, 250_000
PULL_WINDOW = timedelta(hours=48)
VALIDATION_TIMEOUT = 8.0  # "usually < 8 seconds" (A.4)
COMMAND_IDS = ("SalaryPayment", "BusinessPayment", "PromotionPayment")
C2B_COMMANDS = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")
FORBIDDEN_URL_WORDS = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")
INTERNAL_TIMEOUT_URL = "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"
B2C_FEE = Decimal("22.40")

PHONE = re.compile(r"254[17]\d{8}")
SHORTCODE = re.compile(r"\d{5,7}")
TRANS_ID = re.compile(r"[A-Za-z0-9]{1,20}")
ALNUM = string.ascii_uppercase + string.digits

SUCCESS_DESC = "The service request is processed successfully."
ACCEPT_DESC = "Accept the service request successfully."
TIMEOUT_DESC = "The service request has timed out."
RESULT_DESCRIPTIONS = {
	1: "The balance is insufficient for the transaction.",
	2: "Declined due to limit rule: less than the minimum transaction amount.",
	3: "Declined due to limit rule: greater than the maximum transaction amount.",
	4: "Declined due to limit rule: would exceed daily transfer limit.",
	8: "Declined due to limit rule: would exceed the maximum balance.",
	11: "The DebitParty is in an invalid state.",
	15: "Duplicate Detected.",
	17: "Internal Failure.",
	18: "Initiator Credential Check Failure.",
	20: "Unresolved Initiator.",
	21: "The initiator is not allowed to initiate this request.",
	2001: "The initiator information is invalid.",
	2006: "Declined due to account rule: The account status does not allow this transaction.",
	2028: "The request is not permitted according to product assignment.",
	2032: "The transaction receipt number does not exist.",
	2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service.",
	8006: "The security credential is locked.",
	"SFC_IC0003": "The operator does not exist.",
}
STATUS_NOT_FOUND = 2032  # what Safaricom answers for a receipt it does not know

# outcome name -> what its ":argument" is (None: no argument)
OUTCOME_ARGS = {
	"success": None, "fail": "code", "timeout": "echo", "no_callback": None, "callback_before_ack": None,
	"http_500": None, "http_500_after_accept": None, "duplicate_callback": "concurrent", "slow": "seconds",
	"delay_callback": "seconds",
}
OUTCOMES = {
	"b2c": tuple(OUTCOME_ARGS),
	"status": ("success", "fail", "timeout", "no_callback", "callback_before_ack", "http_500", "duplicate_callback",
		"slow", "delay_callback"),
}
OUTCOME_SYNTAX = {"fail": "fail:<ResultCode>", "slow": "slow:<seconds>", "delay_callback": "delay_callback:<seconds>",
	"timeout": "timeout[:echo]", "duplicate_callback": "duplicate_callback[:concurrent]"}


@dataclass(frozen=True)
class Outcome:
	name: str
	arg: object = None
	text: str = "success"


SUCCESS = Outcome("success")


def parse_outcome(text, api: str = "b2c") -> Outcome:
	"""``"fail:2001"`` -> ``Outcome("fail", 2001, "fail:2001")``; ValueError with the valid names otherwise."""
	allowed = OUTCOMES[api]
	valid = ", ".join(OUTCOME_SYNTAX.get(name, name) for name in allowed)
	if not isinstance(text, str) or not text.strip():
		raise ValueError(f"{api} outcome must be a non-empty string, got {text!r}; valid outcomes: {valid}")
	name, sep, arg = text.strip().partition(":")
	if name not in allowed:
		raise ValueError(f"unknown {api} outcome {text!r}; valid outcomes: {valid}")
	kind = OUTCOME_ARGS[name]
	if kind is None:
		if sep:
			raise ValueError(f"{api} outcome {name!r} takes no argument, got {text!r}")
		return Outcome(name, None, name)
	if kind == "code":
		if re.fullmatch(r"\d{1,6}", arg):
			code = int(arg)
			if code == 0:
				raise ValueError("fail:0 is success; give a non-zero ResultCode")
			return Outcome(name, code, f"fail:{code}")
		if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", arg):
			return Outcome(name, arg, f"fail:{arg}")
		raise ValueError(f"{text!r}: the ResultCode must be a number or a code such as SFC_IC0003")
	if kind == "seconds":
		try:
			seconds = float(arg)
		except ValueError:
			seconds = -1.0
		if not 0 <= seconds <= 300:
			raise ValueError(f"{text!r}: give {name}:<seconds> with 0 to 300 seconds")
		return Outcome(name, seconds, f"{name}:{arg}")
	if sep and arg != kind or (api == "status" and arg):
		raise ValueError(f"{api} outcome {text!r}: valid forms are {OUTCOME_SYNTAX[name]}" + (
			" (no argument for status)" if api == "status" else ""))
	return Outcome(name, arg or None, text.strip())


class BadRequest(Exception):
	"""A Daraja request refused with 400 ``400.002.02`` (or a simulator control call refused)."""


def _now() -> datetime:
	return datetime.now(EAT)


def _stamp(moment: datetime) -> str:
	return moment.strftime("%Y%m%d%H%M%S")


def _iso(moment: datetime) -> str:
	return moment.isoformat(timespec="milliseconds")


def _random(alphabet: str, n: int) -> str:
	return "".join(secrets.choice(alphabet) for _ in range(n))


def _request_id() -> str:
	return f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(90000000) + 10000000}-1"


def _conversation_id() -> str:
	return f"AG_{_now():%Y%m%d}_{secrets.token_hex(10)}"


def _number(value: Decimal):
	"""A JSON number as Daraja prints them: an int when whole."""
	return int(value) if value == value.to_integral_value() else float(value)


def _money(value: Decimal) -> str:
	return f"{value.quantize(Decimal('0.01')):.2f}"


def _whole_amount(value) -> int | None:
	if isinstance(value, bool):
		return None
	if isinstance(value, int):
		return value
	if isinstance(value, float):
		return int(value) if value.is_integer() else None
	if isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}(\.0*)?\s*", value):
		return int(Decimal(value.strip()))
	return None


def _decimal_amount(value) -> Decimal | None:
	if isinstance(value, bool) or not isinstance(value, (int, float, str)):
		return None
	try:
		amount = Decimal(str(value).strip())
	except InvalidOperation:
		return None
	if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2 or amount > Decimal(999999999):
		return None
	return amount


def _text(value) -> str:
	return "" if value is None else str(value).strip()


def _is_url(value) -> bool:
	return isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", value.strip()) is not None


def _masked(msisdn: str) -> str:
	return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def _hashed(msisdn: str) -> str:
	return hashlib.sha256(msisdn.encode()).hexdigest()


def _parse_window_date(value, field: str) -> datetime | None:
	text = _text(value)
	if not text:
		return None
	for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y%m%d%H%M%S"):
		try:
			return datetime.strptime(text, fmt).replace(tzinfo=EAT)
		except ValueError:
			continue
	raise BadRequest(f"Bad Request - Invalid {field}")


def _json_response(data, status: int = 200) -> Response:
	return Response(json.dumps(data), status=status, mimetype="application/json")


def _daraja_error(status: int, code: str, message: str) -> Response:
	return _json_response({"requestId": _request_id(), "errorCode": code, "errorMessage": message}, status)


def _parse_json(request: Request):
	try:
		return json.loads(request.get_data(cache=True) or b"null")
	except (ValueError, UnicodeDecodeError):
		return None


def _answer_body(response: requests.Response):
	try:
		return response.json()
	except ValueError:
		return response.text[:2000]


class Simulator:
	"""The WSGI application. Thread-safe; all state lives in memory (one lock guards the books).

	``consumer_key`` / ``consumer_secret``: when given, OAuth requires exactly them, else any non-empty
	Basic pair is accepted. ``production``: registering URLs twice is ``500.003.1001`` and URLs with a
	forbidden word are refused (A.3), as live Daraja does. ``callback_attempts`` / ``callback_backoff``:
	delivery retries on connection errors and timeouts (backoff doubles each time).
	"""

	def __init__(self, *, consumer_key: str | None = None, consumer_secret: str | None = None,
			shortcode: str = "600100", organization_name: str = "Simulated Business", production: bool = False,
			single_token: bool = False, callback_attempts: int = 5, callback_backoff: float = 0.2,
			callback_timeout: float = 10.0, callback_delay: float = 0.05, pull_page_size: int = 1000,
			c2b_external_validation: bool = False, utility_balance: Decimal | str = "10000000.00"):
		self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
		self.shortcode, self.organization_name, self.production = shortcode, organization_name, production
		self.single_token = single_token
		self.callback_attempts, self.callback_backoff = max(1, callback_attempts), callback_backoff
		self.callback_timeout, self.callback_delay = callback_timeout, callback_delay
		self.pull_page_size, self.c2b_external_validation = pull_page_size, c2b_external_validation
		self._lock = threading.RLock()
		self._idle = threading.Condition()
		self._pending = 0
		self._closed = threading.Event()
		self._tokens: dict[str, float] = {}
		self._queues = {"b2c": deque(), "status": deque()}
		self._defaults: dict[str, Outcome | None] = {"b2c": None, "status": None}
		self._payouts: dict[str, dict] = {}  # OriginatorConversationID -> transaction (accepted requests only)
		self._ids: set[str] = set()  # every TransactionID / TransID in the books
		self._b2c_requests: list[dict] = []
		self._queries: list[dict] = []
		self._registrations: dict[str, dict] = {}
		self._c2b: dict[str, dict] = {}  # TransID -> payment
		self._stk_requests: list[dict] = []
		self._pull_registrations: list[dict] = []
		self._callbacks: list[dict] = []
		self.utility_balance = Decimal(str(utility_balance))
		self.working_balance = Decimal("1199371.00")
		self.charges_balance = Decimal("0.00")
		self.org_balance = Decimal("0.00")
		self._map = Map([
			Rule("/oauth/v1/generate", methods=["GET"], endpoint="oauth"),
			Rule("/mpesa/c2b/<any(v1, v2):version>/registerurl", methods=["POST"], endpoint="register_url"),
			Rule("/mpesa/c2b/<any(v1, v2):version>/simulate", methods=["POST"], endpoint="c2b_simulate"),
			Rule("/mpesa/b2c/v3/paymentrequest", methods=["POST"], endpoint="b2c"),
			Rule("/mpesa/transactionstatus/v1/query", methods=["POST"], endpoint="status"),
			Rule("/mpesa/stkpush/v1/processrequest", methods=["POST"], endpoint="stk"),
			Rule("/pulltransactions/v1/register", methods=["POST"], endpoint="pull_register"),
			Rule("/pulltransactions/v1/query", methods=["POST"], endpoint="pull_query"),
			Rule("/simulator/scenario", methods=["GET", "POST"], endpoint="sim_scenario"),
			Rule("/simulator/payments", methods=["GET"], endpoint="sim_payments"),
			Rule("/simulator/requests", methods=["GET"], endpoint="sim_requests"),
			Rule("/simulator/queries", methods=["GET"], endpoint="sim_queries"),
			Rule("/simulator/callbacks", methods=["GET"], endpoint="sim_callbacks"),
			Rule("/simulator/c2b", methods=["GET", "POST"], endpoint="sim_c2b"),
			Rule("/simulator/registrations", methods=["GET"], endpoint="sim_registrations"),
			Rule("/simulator/stk", methods=["GET"], endpoint="sim_stk"),
		])

	# ------------------------------------------------------------------ WSGI

	def __call__(self, environ, start_response):
		request = Request(environ)
		try:
			response = self._dispatch(request)
		except Exception:  # a simulator bug must still answer like Daraja would
			log.exception("simulator failed on %s %s", request.method, request.path)
			response = _daraja_error(500, "500.003.1001", "Internal Server Error")
		return response(environ, start_response)

	def _dispatch(self, request: Request) -> Response:
		daraja = not request.path.startswith("/simulator/")
		try:
			endpoint, args = self._map.bind_to_environ(request.environ).match()
		except MethodNotAllowed:
			if daraja:
				return _daraja_error(404, "404.001.04", "Invalid Request Method")
			return _json_response({"error": f"{request.method} is not allowed on {request.path}"}, 405)
		except HTTPException:
			if daraja:
				return _daraja_error(404, "404.001.01", "Resource not found")
			return _json_response({"error": f"no such path {request.path}"}, 404)
		if endpoint == "oauth":
			return self._oauth(request)
		if daraja and not self._token_ok(request):
			return _daraja_error(401, "401.002.01", "Error Occurred - Invalid Access Token")
		try:
			return getattr(self, f"_{endpoint}")(request, **args)
		except BadRequest as exc:
			if daraja:
				return _daraja_error(400, "400.002.02", str(exc))
			return _json_response({"error": str(exc)}, 400)

	# ------------------------------------------------------------------ OAuth

	def _oauth(self, request: Request) -> Response:
		if request.args.get("grant_type") != "client_credentials":
			return _daraja_error(400, "400.008.02", "Invalid grant type passed")
		header = request.headers.get("Authorization", "")
		scheme, _, encoded = header.partition(" ")
		try:
			key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
		except (ValueError, UnicodeDecodeError):
			key, sep, secret = "", "", ""
		if scheme.lower() != "basic" or not sep or not key or not secret:
			return _daraja_error(400, "400.008.01", "Invalid Authentication passed")
		if self.consumer_key is not None and (not secrets.compare_digest(key.encode(), self.consumer_key.encode())
				or not secrets.compare_digest(secret.encode(), (self.consumer_secret or "").encode())):
			return _daraja_error(400, "400.008.01", "Invalid Authentication passed")
		token = _random(string.ascii_letters + string.digits, 28)
		with self._lock:
			if self.single_token:
				self._tokens.clear()
			self._tokens[token] = time.monotonic() + TOKEN_SECONDS
		return _json_response({"access_token": token, "expires_in": str(TOKEN_SECONDS - 1)})

	def _token_ok(self, request: Request) -> bool:
		scheme, _, token = request.headers.get("Authorization", "").partition(" ")
		if scheme.lower() != "bearer" or not token.strip():
			return False
		with self._lock:
			deadline = self._tokens.get(token.strip())
			return deadline is not None and deadline > time.monotonic()

	def expire_tokens(self) -> None:
		with self._lock:
			self._tokens.clear()

	# ------------------------------------------------------------------ scenarios

	def configure(self, body: dict) -> dict:
		"""Apply a ``/simulator/scenario`` body (all or nothing); returns the new state."""
		if not isinstance(body, dict):
			raise BadRequest("the scenario body must be a JSON object")
		known = {"reset", "expire_tokens", "b2c", "status", "b2c_default", "status_default"}
		unknown = sorted(set(body) - known)
		if unknown:
			raise BadRequest(f"unknown scenario keys {unknown}; known: {sorted(known)}")
		queued, defaults = {}, {}
		try:
			for api in ("b2c", "status"):
				items = body.get(api, [])
				if isinstance(items, str):
					items = [items]
				if not isinstance(items, list):
					raise BadRequest(f"{api} must be a list of outcomes")
				queued[api] = [parse_outcome(item, api) for item in items]
				if f"{api}_default" in body:
					value = body[f"{api}_default"]
					defaults[api] = None if value in (None, "", "success") else parse_outcome(value, api)
		except ValueError as exc:
			raise BadRequest(str(exc)) from None
		with self._lock:
			if body.get("reset"):
				for api in ("b2c", "status"):
					self._queues[api].clear()
					self._defaults[api] = None
			for api, outcomes in queued.items():
				self._queues[api].extend(outcomes)
			self._defaults.update(defaults)
			if body.get("expire_tokens"):
				self._tokens.clear()
			return self.scenario_state()

	def scenario_state(self) -> dict:
		with self._lock:
			return {
				"b2c": [o.text for o in self._queues["b2c"]],
				"b2c_default": self._defaults["b2c"].text if self._defaults["b2c"] else "success",
				"status": [o.text for o in self._queues["status"]],
				"status_default": self._defaults["status"].text if self._defaults["status"] else "success",
			}

	def _next_outcome(self, api: str) -> Outcome:
		with self._lock:
			if self._queues[api]:
				return self._queues[api].popleft()
			return self._defaults[api] or SUCCESS

	def _sim_scenario(self, request: Request) -> Response:
		if request.method == "GET":
			return _json_response(self.scenario_state())
		return _json_response(self.configure(_parse_json(request)))

	# ------------------------------------------------------------------ callbacks

	def _deliver(self, kind: str, url: str, body: dict, ref: str, timeout: float | None = None,
			attempts: int | None = None) -> dict:
		"""POST ``body`` to ``url`` (retrying connection errors); the delivery is logged and returned."""
		record = {"kind": kind, "ref": ref, "url": url, "body": body, "attempts": 0, "status": None, "answer": None,
			"error": None, "sent_at": None, "done": False}
		with self._lock:
			self._callbacks.append(record)  # visible while in flight (attempts, last error)
		attempts = attempts or self.callback_attempts
		for attempt in range(1, attempts + 1):
			if self._closed.is_set():
				record["error"] = record["error"] or "simulator stopped before delivery"
				break
			record["attempts"] = attempt
			record["sent_at"] = _iso(_now())
			try:
				answer = requests.post(url, json=body, timeout=timeout or self.callback_timeout)
			except (requests.ConnectionError, requests.Timeout) as exc:
				record["error"] = f"{type(exc).__name__}: {exc}"[:500]
				if attempt == attempts or self._closed.wait(self.callback_backoff * 2 ** (attempt - 1)):
					break
				continue
			except requests.RequestException as exc:  # a malformed URL: nothing to retry
				record["error"] = f"{type(exc).__name__}: {exc}"[:500]
				break
			record.update(status=answer.status_code, answer=_answer_body(answer), error=None)
			break
		record["done"] = True
		if record["error"] and not self._closed.is_set():
			log.warning("simulator %s callback for %s to %s failed: %s", kind, ref, url, record["error"])
		return record

	def _schedule(self, response: Response, jobs: list[tuple], *, delay: float | None = None,
			concurrent: bool = False) -> Response:
		"""Deliver ``jobs`` from a background thread once ``response`` has been written.

		Counted as pending at once, so a caller that has the HTTP answer sees them in ``wait_idle``.
		"""
		if not jobs:
			return response
		with self._idle:
			self._pending += 1
		wait = self.callback_delay if delay is None else delay

		def run():
			try:
				if wait and self._closed.wait(wait):
					return
				if concurrent:
					threads = [threading.Thread(target=self._deliver, args=job, daemon=True) for job in jobs]
					for thread in threads:
						thread.start()
					for thread in threads:
						thread.join()
				else:
					for job in jobs:
						self._deliver(*job)
			finally:
				with self._idle:
					self._pending -= 1
					self._idle.notify_all()

		response.call_on_close(lambda: threading.Thread(target=run, daemon=True, name="daraja-sim-callback").start())
		return response

	def wait_idle(self, timeout: float = 10.0) -> bool:
		"""Wait until no callback is pending; False when ``timeout`` passed first."""
		deadline = time.monotonic() + timeout
		with self._idle:
			while self._pending:
				left = deadline - time.monotonic()
				if left <= 0:
					return False
				self._idle.wait(left)
			return True

	def close(self) -> None:
		"""Stop background deliveries: none starts or retries after this."""
		self._closed.set()

	# ------------------------------------------------------------------ B2C

	def _new_transaction_id(self) -> str:
		with self._lock:
			while True:
				candidate = "S" + _random(ALNUM, 9)
				if candidate not in self._ids:
					self._ids.add(candidate)
					return candidate

	def _b2c(self, request: Request) -> Response:
		body = _parse_json(request)
		outcome = self._next_outcome("b2c")
		entry = {"received_at": _iso(_now()), "outcome": outcome.text, "body": body,
			"OriginatorConversationID": body.get("OriginatorConversationID") if isinstance(body, dict) else None}
		with self._lock:
			self._b2c_requests.append(entry)

		def answer(response: Response) -> Response:
			entry["http_status"] = response.status_code
			entry["response"] = json.loads(response.get_data())
			return response

		if outcome.name == "slow":
			time.sleep(outcome.arg)
		if outcome.name == "http_500":
			return answer(_daraja_error(500, "500.003.1001", "Internal Server Error"))
		try:
			request_fields = self._validate_b2c(body)
		except BadRequest as exc:
			return answer(_daraja_error(400, "400.002.02", str(exc)))
		ocid = request_fields["OriginatorConversationID"]
		with self._lock:
			if ocid in self._payouts:
				entry["duplicate"] = True
				return answer(_daraja_error(500, "500.002.1001", "Duplicate OriginatorConversationID."))
			txn = self._settle_b2c(request_fields, outcome)
		ack = {"ConversationID": txn["ConversationID"], "OriginatorConversationID": ocid, "ResponseCode": "0",
			"ResponseDescription": ACCEPT_DESC}
		result = ("b2c_result", request_fields["ResultURL"], self._b2c_result(txn), ocid)
		if outcome.name == "timeout":
			payload = dict(body) if outcome.arg == "echo" else self._timeout_envelope(ocid, txn["ConversationID"])
			jobs = [("b2c_timeout", request_fields["QueueTimeOutURL"], payload, ocid)]
		elif outcome.name == "no_callback":
			jobs = []
		elif outcome.name == "duplicate_callback":
			jobs = [result, result]
		else:
			jobs = [result]
		if outcome.name == "callback_before_ack":
			for job in jobs:
				self._deliver(*job)
			return answer(_json_response(ack))
		if outcome.name == "http_500_after_accept":
			response = answer(_daraja_error(500, "500.003.1001", "Internal Server Error"))
		else:
			response = answer(_json_response(ack))
		delay = outcome.arg if outcome.name == "delay_callback" else None
		return self._schedule(response, jobs, delay=delay, concurrent=outcome.arg == "concurrent")

	def _validate_b2c(self, body) -> dict:
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		required = ("OriginatorConversationID", "InitiatorName", "SecurityCredential", "CommandID", "Amount", "PartyA",
			"PartyB", "Remarks", "QueueTimeOutURL", "ResultURL")
		for field in required:
			if _text(body.get(field)) == "" or isinstance(body.get(field), (dict, list, bool)):
				raise BadRequest(f"Bad Request - Invalid {field}")
		ocid = _text(body["OriginatorConversationID"])
		if len(ocid) > 128:
			raise BadRequest("Bad Request - Invalid OriginatorConversationID")
		if body["CommandID"] not in COMMAND_IDS:
			raise BadRequest("Bad Request - Invalid CommandID")
		amount = _whole_amount(body["Amount"])
		if amount is None or not B2C_MIN <= amount <= B2C_MAX:
			raise BadRequest("Bad Request - Invalid Amount")
		if not SHORTCODE.fullmatch(_text(body["PartyA"])):
			raise BadRequest("Bad Request - Invalid PartyA")
		if not PHONE.fullmatch(_text(body["PartyB"])):
			raise BadRequest("Bad Request - Invalid PartyB")
		remarks = body["Remarks"]
		if not isinstance(remarks, str) or not 2 <= len(remarks) <= 100:
			raise BadRequest("Bad Request - Invalid Remarks")
		for field in ("QueueTimeOutURL", "ResultURL"):
			if not _is_url(body[field]):
				raise BadRequest(f"Bad Request - Invalid {field}")
		occasion = body.get("Occassion", body.get("Occasion"))  # Safaricom spells it "Occassion"; accept both
		if occasion not in (None, "") and (not isinstance(occasion, str) or len(occasion) > 100):
			raise BadRequest("Bad Request - Invalid Occassion")
		return {"OriginatorConversationID": ocid, "CommandID": body["CommandID"], "Amount": Decimal(amount),
			"PartyA": _text(body["PartyA"]), "PartyB": _text(body["PartyB"]), "Remarks": remarks,
			"Occasion": occasion or "", "ResultURL": body["ResultURL"].strip(),
			"QueueTimeOutURL": body["QueueTimeOutURL"].strip()}

	def _settle_b2c(self, fields: dict, outcome: Outcome) -> dict:
		"""Record an accepted request and settle it in the books (caller holds the lock)."""
		now = _now()
		amount = fields["Amount"]
		if outcome.name == "fail":
			code = outcome.arg
		elif amount > self.utility_balance:
			code = 1
		else:
			code = 0
		txn = {**fields, "ConversationID": _conversation_id(), "TransactionID": self._new_transaction_id(),
			"ResultCode": code, "ResultDesc": SUCCESS_DESC if code == 0 else RESULT_DESCRIPTIONS.get(code, "Failed."),
			"Status": "Completed" if code == 0 else "Failed", "InitiatedTime": now, "FinalisedTime": now,
			"outcome": outcome.text}
		if code == 0:
			self.utility_balance -= amount
			self.charges_balance -= B2C_FEE
			txn["UtilityBalance"] = self.utility_balance
		self._payouts[fields["OriginatorConversationID"]] = txn
		return txn

	def _b2c_result(self, txn: dict) -> dict:
		result = {"ResultType": 0, "ResultCode": txn["ResultCode"], "ResultDesc": txn["ResultDesc"],
			"OriginatorConversationID": txn["OriginatorConversationID"], "ConversationID": txn["ConversationID"],
			"TransactionID": txn["TransactionID"]}
		if txn["ResultCode"] == 0:
			result["ResultParameters"] = {"ResultParameter": [
				{"Key": "TransactionAmount", "Value": _number(txn["Amount"])},
				{"Key": "TransactionReceipt", "Value": txn["TransactionID"]},
				{"Key": "ReceiverPartyPublicName", "Value": f"{txn['PartyB']} - SIMULATED CUSTOMER"},
				{"Key": "TransactionCompletedDateTime", "Value": txn["FinalisedTime"].strftime("%d.%m.%Y %H:%M:%S")},
				{"Key": "B2CUtilityAccountAvailableFunds", "Value": float(txn["UtilityBalance"])},
				{"Key": "B2CWorkingAccountAvailableFunds", "Value": float(self.working_balance)},
				{"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
				{"Key": "B2CChargesPaidAccountAvailableFunds", "Value": float(self.charges_balance)},
			]}
		result["ReferenceData"] = {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": INTERNAL_TIMEOUT_URL}}
		return {"Result": result}

	@staticmethod
	def _timeout_envelope(ocid: str, conversation_id: str) -> dict:
		# The shape is undocumented (A.12): this is the Result envelope mpesakit and others expect.
		return {"Result": {"ResultType": 1, "ResultCode": 1, "ResultDesc": TIMEOUT_DESC,
			"OriginatorConversationID": ocid, "ConversationID": conversation_id, "TransactionID": "",
			"ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": INTERNAL_TIMEOUT_URL}}}}

	# ------------------------------------------------------------------ Transaction Status

	def _status(self, request: Request) -> Response:
		body = _parse_json(request)
		outcome = self._next_outcome("status")
		entry = {"received_at": _iso(_now()), "outcome": outcome.text, "body": body}
		with self._lock:
			self._queries.append(entry)

		def answer(response: Response) -> Response:
			entry["http_status"] = response.status_code
			entry["response"] = json.loads(response.get_data())
			return response

		if outcome.name == "slow":
			time.sleep(outcome.arg)
		if outcome.name == "http_500":
			return answer(_daraja_error(500, "500.003.1001", "Internal Server Error"))
		try:
			fields = self._validate_status(body)
		except BadRequest as exc:
			return answer(_daraja_error(400, "400.002.02", str(exc)))
		query_ocid = f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(4)}-{secrets.randbelow(10**8)}"
		conversation_id = _conversation_id()
		ack = {"OriginatorConversationID": query_ocid, "ConversationID": conversation_id, "ResponseCode": "0",
			"ResponseDescription": ACCEPT_DESC}
		result = self._status_result(fields, query_ocid, conversation_id, outcome)
		entry["result"] = result
		ref = fields["TransactionID"] or fields["OriginalConversationID"]
		if outcome.name == "timeout":
			jobs = [("status_timeout", fields["QueueTimeOutURL"], self._timeout_envelope(query_ocid, conversation_id), ref)]
		elif outcome.name == "no_callback":
			jobs = []
		elif outcome.name == "duplicate_callback":
			jobs = [("status_result", fields["ResultURL"], result, ref)] * 2
		else:
			jobs = [("status_result", fields["ResultURL"], result, ref)]
		if outcome.name == "callback_before_ack":
			for job in jobs:
				self._deliver(*job)
			return answer(_json_response(ack))
		delay = outcome.arg if outcome.name == "delay_callback" else None
		return self._schedule(answer(_json_response(ack)), jobs, delay=delay)

	@staticmethod
	def _validate_status(body) -> dict:
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		for field in ("Initiator", "SecurityCredential", "CommandID", "PartyA", "IdentifierType", "ResultURL",
				"QueueTimeOutURL", "Remarks"):
			if _text(body.get(field)) == "" or isinstance(body.get(field), (dict, list, bool)):
				raise BadRequest(f"Bad Request - Invalid {field}")
		if body["CommandID"] != "TransactionStatusQuery":
			raise BadRequest("Bad Request - Invalid CommandID")
		if _text(body["IdentifierType"]) not in ("1", "2", "4"):
			raise BadRequest("Bad Request - Invalid IdentifierType")
		for field in ("ResultURL", "QueueTimeOutURL"):
			if not _is_url(body[field]):
				raise BadRequest(f"Bad Request - Invalid {field}")
		transaction_id, original = _text(body.get("TransactionID")), _text(body.get("OriginalConversationID"))
		if not transaction_id and not original:
			raise BadRequest("Bad Request - Invalid TransactionID")
		return {"TransactionID": transaction_id, "OriginalConversationID": original, "ResultURL": body["ResultURL"].strip(),
			"QueueTimeOutURL": body["QueueTimeOutURL"].strip(), "Occasion": _text(body.get("Occasion")),
			"PartyA": _text(body["PartyA"])}

	def _status_result(self, fields: dict, query_ocid: str, conversation_id: str, outcome: Outcome) -> dict:
		with self._lock:
			found = self._lookup(fields["TransactionID"], fields["OriginalConversationID"])
		result = {"ResultType": 0, "OriginatorConversationID": query_ocid, "ConversationID": conversation_id,
			"TransactionID": fields["TransactionID"]}
		reference = {"ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": fields["Occasion"]}}}
		if outcome.name == "fail":
			return {"Result": {**result, "ResultCode": outcome.arg,
				"ResultDesc": RESULT_DESCRIPTIONS.get(outcome.arg, "Failed."), **reference}}
		if found is None:
			return {"Result": {**result, "ResultCode": STATUS_NOT_FOUND,
				"ResultDesc": RESULT_DESCRIPTIONS[STATUS_NOT_FOUND], **reference}}
		kind, row = found
		business = f"{self.shortcode} - {self.organization_name}"
		if kind == "b2c":
			customer = f"{row['PartyB']} - SIMULATED CUSTOMER"
			params = [("DebitPartyName", business), ("DebitPartyName", customer),
				("OriginatorConversationID", row["OriginatorConversationID"]), ("InitiatedTime", _stamp(row["InitiatedTime"])),
				("DebitAccountType", "Utility Account"), ("DebitPartyCharges", f"Fee For B2C Payment|KES|{B2C_FEE}"),
				("TransactionReason", None), ("ReasonType", "Business Payment to Customer via API"),
				("TransactionStatus", row["Status"]), ("FinalisedTime", _stamp(row["FinalisedTime"])),
				("Amount", str(_number(row["Amount"]))), ("ConversationID", row["ConversationID"])]
			if row["Status"] == "Completed":
				params.append(("ReceiptNo", row["TransactionID"]))
		else:
			customer = f"{row['MSISDN']} - {row['FirstName']}".strip(" -")
			params = [("DebitPartyName", customer), ("CreditPartyName", f"{row['BusinessShortCode']} - {self.organization_name}"),
				("OriginatorConversationID", ""), ("InitiatedTime", _stamp(row["time"])),
				("DebitAccountType", "MMF Account For Customer"), ("DebitPartyCharges", None),
				("TransactionReason", None), ("ReasonType", "Pay Bill Online"), ("TransactionStatus", "Completed"),
				("FinalisedTime", _stamp(row["time"])), ("Amount", row["TransAmount"]), ("ConversationID", ""),
				("ReceiptNo", row["TransID"])]
		items = [{"Key": key} if value is None else {"Key": key, "Value": value} for key, value in params]
		return {"Result": {**result, "ResultCode": 0, "ResultDesc": SUCCESS_DESC,
			"TransactionID": fields["TransactionID"] or (row["TransactionID"] if kind == "b2c" else row["TransID"]),
			"ResultParameters": {"ResultParameter": items}, **reference}}

	def _lookup(self, transaction_id: str, original: str):
		if transaction_id:
			for txn in self._payouts.values():
				if txn["TransactionID"] == transaction_id:
					return "b2c", txn
			if transaction_id in self._c2b:
				return "c2b", self._c2b[transaction_id]
		txn = self._payouts.get(original) if original else None
		return ("b2c", txn) if txn else None

	# ------------------------------------------------------------------ C2B

	def _register_url(self, request: Request, version: str) -> Response:
		body = _parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		shortcode = _text(body.get("ShortCode"))
		if not SHORTCODE.fullmatch(shortcode):
			raise BadRequest("Bad Request - Invalid ShortCode")
		if body.get("ResponseType") not in ("Completed", "Cancelled"):
			raise BadRequest("Bad Request - Invalid ResponseType")
		for field in ("ConfirmationURL", "ValidationURL"):
			url = body.get(field)
			if not _is_url(url):
				raise BadRequest(f"Bad Request - Invalid {field}")
			if self.production and any(word in url.lower() for word in FORBIDDEN_URL_WORDS):
				raise BadRequest(f"Bad Request - Invalid {field}")
		with self._lock:
			if self.production and shortcode in self._registrations:
				return _daraja_error(500, "500.003.1001", "Urls are already registered")
			self._registrations[shortcode] = {"ShortCode": shortcode, "ResponseType": body["ResponseType"],
				"ConfirmationURL": body["ConfirmationURL"].strip(), "ValidationURL": body["ValidationURL"].strip(),
				"version": version, "registered_at": _iso(_now())}
		return _json_response({"OriginatorCoversationID": _request_id(), "ResponseCode": "0",
			"ResponseDescription": "success"})

	def _c2b_simulate(self, request: Request, version: str) -> Response:
		body = _parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		if body.get("CommandID") not in C2B_COMMANDS:
			raise BadRequest("Bad Request - Invalid CommandID")
		item = {"Amount": body.get("Amount"), "BillRefNumber": body.get("BillRefNumber", ""),
			"MSISDN": _text(body.get("Msisdn")), "ShortCode": _text(body.get("ShortCode")), "copies": 1,
			"validate": self.c2b_external_validation,
			"TransactionType": "Pay Bill" if body["CommandID"] == "CustomerPayBillOnline" else "Buy Goods"}
		plan = self._plan_c2b(item, {})
		response = _json_response({"OriginatorCoversationID": _request_id(), "ResponseCode": "0",
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

		amount = _decimal_amount(get("Amount", item.get("TransAmount")))
		if amount is None:
			raise BadRequest("Amount must be a positive amount with at most 2 decimal places")
		bill_ref = get("BillRefNumber")
		if not isinstance(bill_ref, str) or len(bill_ref) > 40:
			raise BadRequest("BillRefNumber is required (a string of at most 40 characters)")
		msisdn = _text(get("MSISDN")) or "254708374149"
		if not PHONE.fullmatch(msisdn):
			raise BadRequest("MSISDN must be 2547XXXXXXXX or 2541XXXXXXXX")
		copies, validate = get("copies", 1), get("validate", False)
		if isinstance(copies, bool) or not isinstance(copies, int) or not 0 <= copies <= 1000:
			raise BadRequest("copies must be a whole number from 0 to 1000")
		trans_id = _text(get("TransID")) if "TransID" in item else ""
		if trans_id and not TRANS_ID.fullmatch(trans_id):
			raise BadRequest("TransID must be 1 to 20 letters and digits")
		moment = None
		if _text(get("TransTime")):
			try:
				moment = datetime.strptime(_text(get("TransTime")), "%Y%m%d%H%M%S").replace(tzinfo=EAT)
			except ValueError:
				raise BadRequest("TransTime must be YYYYMMDDHHmmss") from None
		with self._lock:
			shortcode = _text(get("ShortCode"))
			if not shortcode:
				shortcode = next(iter(self._registrations)) if len(self._registrations) == 1 else self.shortcode
			existing = self._c2b.get(trans_id) if trans_id else None
			if existing and (Decimal(existing["TransAmount"]) != amount or existing["BillRefNumber"] != bill_ref):
				raise BadRequest(f"TransID {trans_id} is already in the books for {existing['TransAmount']} to "
					f"{existing['BillRefNumber']!r}")
			registration = self._registrations.get(shortcode)
		return {"TransID": trans_id, "amount": amount, "BillRefNumber": bill_ref, "MSISDN": msisdn, "ShortCode": shortcode,
			"time": moment, "copies": copies, "validate": bool(validate), "registration": registration,
			"TransactionType": get("TransactionType", "Pay Bill"), "FirstName": _text(get("FirstName", "JOHN")),
			"MiddleName": _text(get("MiddleName", "")), "LastName": _text(get("LastName", "DOE")),
			"InvoiceNumber": _text(get("InvoiceNumber", ""))}

	def _c2b_payload(self, plan: dict, row: dict | None, validation: bool) -> dict:
		registration = plan["registration"] or {}
		msisdn = _hashed(plan["MSISDN"]) if registration.get("version") == "v1" else _masked(plan["MSISDN"])
		moment = row["time"] if row else (plan["time"] or _now())
		return {"TransactionType": plan["TransactionType"], "TransID": row["TransID"] if row else plan["TransID"],
			"TransTime": _stamp(moment), "TransAmount": _money(plan["amount"]), "BusinessShortCode": plan["ShortCode"],
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
			results.append({"TransID": plan["TransID"], "TransAmount": _money(plan["amount"]),
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
				plan["ThirdPartyTransID"] = _text(answer.get("ThirdPartyTransID"))
			else:  # no usable answer: the registered ResponseType decides (A.4)
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
			row = {"TransID": plan["TransID"], "TransAmount": _money(plan["amount"]), "BillRefNumber": plan["BillRefNumber"],
				"MSISDN": plan["MSISDN"], "BusinessShortCode": plan["ShortCode"], "time": plan["time"] or _now(),
				"FirstName": " ".join(filter(None, (plan["FirstName"], plan["MiddleName"], plan["LastName"]))),
				"TransactionType": plan["TransactionType"], "OrgAccountBalance": _money(self.org_balance),
				"ThirdPartyTransID": plan.get("ThirdPartyTransID", "")}
			self._c2b[plan["TransID"]] = row
			return row

	def _sim_c2b(self, request: Request) -> Response:
		if request.method == "GET":
			return _json_response(self.c2b_payments())
		body = _parse_json(request)
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
		return _json_response(self._run_c2b(plans, concurrency))

	# ------------------------------------------------------------------ Pull Transactions

	def _pull_register(self, request: Request) -> Response:
		body = _parse_json(request)
		if not isinstance(body, dict) or not SHORTCODE.fullmatch(_text(body.get("ShortCode"))):
			raise BadRequest("Bad Request - Invalid ShortCode")
		with self._lock:
			self._pull_registrations.append({**body, "registered_at": _iso(_now())})
		return _json_response({"ResponseRefID": _request_id(), "ResponseStatus": "1000", "ShortCode": body["ShortCode"],
			"ResponseDescription": "Shortcode registered successfully"})

	def _pull_query(self, request: Request) -> Response:
		body = _parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		shortcode = _text(body.get("ShortCode"))
		if not SHORTCODE.fullmatch(shortcode):
			raise BadRequest("Bad Request - Invalid ShortCode")
		now = _now()
		start = _parse_window_date(body.get("StartDate"), "StartDate") or now - PULL_WINDOW
		end = _parse_window_date(body.get("EndDate"), "EndDate") or now
		offset = _text(body.get("OffSetValue")) or "0"
		if not offset.isdigit():
			raise BadRequest("Bad Request - Invalid OffSetValue")
		start = max(start, now - PULL_WINDOW)
		with self._lock:
			rows = sorted((row for row in self._c2b.values() if row["BusinessShortCode"] == shortcode
				and start <= row["time"] <= end), key=lambda row: (row["time"], row["TransID"]))
		page = rows[int(offset):int(offset) + self.pull_page_size]
		if not page:
			return _json_response({"ResponseRefID": _request_id(), "ResponseCode": "1001",
				"ResponseMessage": "No records found or Organization Name not available"})
		items = [{"transactionId": row["TransID"], "trxDate": _iso(row["time"]), "msisdn": int(row["MSISDN"]),
			"sender": row["FirstName"], "transactiontype": "c2b-pay-bill-debit" if row["TransactionType"] == "Pay Bill"
			else "c2b-buy-goods-debit", "billreference": row["BillRefNumber"], "amount": row["TransAmount"],
			"organizationname": self.organization_name} for row in page]
		return _json_response({"ResponseRefID": _request_id(), "ResponseCode": "1000", "ResponseMessage": "Success",
			"Response": [items]})

	# ------------------------------------------------------------------ STK push

	def _stk(self, request: Request) -> Response:
		body = _parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		for field in ("BusinessShortCode", "Password", "Timestamp", "TransactionType", "Amount", "PartyA", "PartyB",
				"PhoneNumber", "CallBackURL", "AccountReference", "TransactionDesc"):
			if _text(body.get(field)) == "":
				raise BadRequest(f"Bad Request - Invalid {field}")
		if body["TransactionType"] not in C2B_COMMANDS:
			raise BadRequest("Bad Request - Invalid TransactionType")
		if _whole_amount(body["Amount"]) is None or _whole_amount(body["Amount"]) < 1:
			raise BadRequest("Bad Request - Invalid Amount")
		if not PHONE.fullmatch(_text(body["PhoneNumber"])):
			raise BadRequest("Bad Request - Invalid PhoneNumber")
		if not _is_url(body["CallBackURL"]):
			raise BadRequest("Bad Request - Invalid CallBackURL")
		ack = {"MerchantRequestID": f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(9 * 10**7) + 10**7}-1",
			"CheckoutRequestID": f"ws_CO_{_now():%d%m%Y%H%M%S}{secrets.randbelow(1000):03d}", "ResponseCode": "0",
			"ResponseDescription": "Success. Request accepted for processing",
			"CustomerMessage": "Success. Request accepted for processing"}
		with self._lock:
			self._stk_requests.append({"received_at": _iso(_now()), "body": body, **ack})
		return _json_response(ack)

	# ------------------------------------------------------------------ books (Python and HTTP)

	def payments(self, include_failed: bool = False) -> list[dict]:
		"""One row per B2C paid (``include_failed``: every accepted request), in acceptance order."""
		with self._lock:
			return [{"OriginatorConversationID": txn["OriginatorConversationID"], "ConversationID": txn["ConversationID"],
				"TransactionID": txn["TransactionID"], "Amount": _money(txn["Amount"]), "PartyA": txn["PartyA"],
				"PartyB": txn["PartyB"], "Remarks": txn["Remarks"], "Occasion": txn["Occasion"], "CommandID": txn["CommandID"],
				"Status": txn["Status"], "ResultCode": txn["ResultCode"], "outcome": txn["outcome"],
				"FinalisedTime": _iso(txn["FinalisedTime"])}
				for txn in self._payouts.values() if include_failed or txn["Status"] == "Completed"]

	def b2c_requests(self) -> list[dict]:
		with self._lock:
			return [dict(entry) for entry in self._b2c_requests]

	def status_queries(self) -> list[dict]:
		with self._lock:
			return [dict(entry) for entry in self._queries]

	def callbacks(self, kind: str | None = None) -> list[dict]:
		with self._lock:
			return [dict(record) for record in self._callbacks if kind is None or record["kind"] == kind]

	def c2b_payments(self) -> list[dict]:
		with self._lock:
			return [{**row, "time": _iso(row["time"])} for row in self._c2b.values()]

	def _sim_payments(self, request: Request) -> Response:
		return _json_response(self.payments(include_failed=request.args.get("all") in ("1", "true", "yes")))

	def _sim_requests(self, request: Request) -> Response:
		return _json_response(self.b2c_requests())

	def _sim_queries(self, request: Request) -> Response:
		return _json_response(self.status_queries())

	def _sim_callbacks(self, request: Request) -> Response:
		try:
			wait = min(float(request.args.get("wait", 0)), 60.0)
		except ValueError:
			raise BadRequest("wait must be a number of seconds") from None
		if wait > 0:
			self.wait_idle(wait)
		with self._idle:
			pending = self._pending
		return _json_response({"pending": pending, "deliveries": self.callbacks(request.args.get("kind"))})

	def _sim_registrations(self, request: Request) -> Response:
		with self._lock:
			return _json_response({"c2b": list(self._registrations.values()), "pull": list(self._pull_registrations)})

	def _sim_stk(self, request: Request) -> Response:
		with self._lock:
			return _json_response(list(self._stk_requests))


# ---------------------------------------------------------------------- serving


def serve(host: str = "127.0.0.1", port: int = 0, simulator: Simulator | None = None, threads: int = 16):
	"""Serve a simulator with waitress in a daemon thread; returns ``(server, thread)``.

	``port=0`` picks a free port (``server.effective_port``, or :func:`base_url`);
	``server.simulator`` is the :class:`Simulator`. Stop it with :func:`stop`.
	"""
	import waitress

	app = simulator or Simulator()
	server = waitress.create_server(app, host=host, port=port, threads=threads, ident="daraja-simulator")
	server.simulator = app  # waitress wraps the application it is given
	thread = threading.Thread(target=server.run, daemon=True, name="daraja-simulator")
	thread.start()
	return server, thread


def stop(server, thread, timeout: float = 10.0) -> None:
	"""Close a server from :func:`serve`: its channels (inside waitress's loop), its workers, its deliveries."""
	app = getattr(server, "simulator", None)
	if isinstance(app, Simulator):
		app.close()
		app.wait_idle(timeout)  # a delivery already on the wire finishes; none starts after this

	def close_all():
		for channel in list(server._map.values()):
			channel.close()

	try:
		server.trigger.pull_trigger(close_all)
	except OSError:  # the trigger is gone already: nothing left to wake
		close_all()
	thread.join(timeout=timeout)
	server.task_dispatcher.shutdown()


def base_url(server) -> str:
	return f"http://{server.effective_host}:{server.effective_port}"


def run_forever(host: str = "127.0.0.1", port: int = 8100, **options) -> None:
	"""Serve a simulator in the foreground until interrupted (``ledger-app simulator``)."""
	import waitress

	simulator = Simulator(**options)
	server = waitress.create_server(simulator, host=host, port=port, threads=16, ident="daraja-simulator")
	print(f"simulator listening on http://{host}:{server.effective_port}", flush=True)
	try:
		server.run()
	except KeyboardInterrupt:
		pass
	finally:
		simulator.close()
		server.close()


def main(port: int = 8100, host: str = "127.0.0.1") -> None:
	run_forever(host, port)


if __name__ == "__main__":  # python -m ledger_app.gateways.simulator --port 8100
	parser = argparse.ArgumentParser(description="Daraja simulator")
	parser.add_argument("--host", default="127.0.0.1")
	parser.add_argument("--port", type=int, default=8100)
	arguments = parser.parse_args()
	logging.basicConfig(level=logging.INFO, stream=sys.stderr)
	main(arguments.port, arguments.host)
