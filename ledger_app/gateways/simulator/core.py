"""The simulator's plumbing: its state, routing, OAuth tokens, scenarios and callback deliveries.
The product classes (``b2c``, ``status``, ``c2b``, ``pull``, ``stk``, ``books``) build on it."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import string
import threading
import time
from collections import deque
from decimal import Decimal

import requests
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.outcomes import SUCCESS, Outcome, parse_outcome
from ledger_app.gateways.simulator.wire import ALNUM, TOKEN_SECONDS, BadRequest

log = logging.getLogger("ledger_app.simulator")


class SimulatorCore:
	"""The simulator's plumbing: its state, routing, OAuth tokens, scenarios and callback deliveries.
	The product classes (``b2c``, ``status``, ``c2b``, ``pull``, ``stk``, ``books``) build on it."""

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

	def __call__(self, environ, start_response):
		request = Request(environ)
		try:
			response = self._dispatch(request)
		except Exception:  # a simulator bug must still answer like Daraja would
			log.exception("simulator failed on %s %s", request.method, request.path)
			response = wire.daraja_error(500, "500.003.1001", "Internal Server Error")
		return response(environ, start_response)

	def _dispatch(self, request: Request) -> Response:
		daraja = not request.path.startswith("/simulator/")
		try:
			endpoint, args = self._map.bind_to_environ(request.environ).match()
		except MethodNotAllowed:
			if daraja:
				return wire.daraja_error(404, "404.001.04", "Invalid Request Method")
			return wire.json_response({"error": f"{request.method} is not allowed on {request.path}"}, 405)
		except HTTPException:
			if daraja:
				return wire.daraja_error(404, "404.001.01", "Resource not found")
			return wire.json_response({"error": f"no such path {request.path}"}, 404)
		if endpoint == "oauth":
			return self._oauth(request)
		if daraja and not self._token_ok(request):
			return wire.daraja_error(401, "401.002.01", "Error Occurred - Invalid Access Token")
		try:
			return getattr(self, f"_{endpoint}")(request, **args)
		except BadRequest as exc:
			if daraja:
				return wire.daraja_error(400, "400.002.02", str(exc))
			return wire.json_response({"error": str(exc)}, 400)



	def _oauth(self, request: Request) -> Response:
		if request.args.get("grant_type") != "client_credentials":
			return wire.daraja_error(400, "400.008.02", "Invalid grant type passed")
		header = request.headers.get("Authorization", "")
		scheme, _, encoded = header.partition(" ")
		try:
			key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
		except (ValueError, UnicodeDecodeError):
			key, sep, secret = "", "", ""
		if scheme.lower() != "basic" or not sep or not key or not secret:
			return wire.daraja_error(400, "400.008.01", "Invalid Authentication passed")
		if self.consumer_key is not None and (not secrets.compare_digest(key.encode(), self.consumer_key.encode())
				or not secrets.compare_digest(secret.encode(), (self.consumer_secret or "").encode())):
			return wire.daraja_error(400, "400.008.01", "Invalid Authentication passed")
		token = wire.random_text(string.ascii_letters + string.digits, 28)
		with self._lock:
			if self.single_token:
				self._tokens.clear()
			self._tokens[token] = time.monotonic() + TOKEN_SECONDS
		return wire.json_response({"access_token": token, "expires_in": str(TOKEN_SECONDS - 1)})

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

	def _take_request(self, api: str, books: list, body, **extra):
		"""The next outcome for an ``api`` request, the request logged in ``books`` (sleeping first
		when the outcome is ``slow``); returns ``(outcome, entry, answer)``, where ``answer(response)``
		records the HTTP answer in the entry and returns it."""
		outcome = self._next_outcome(api)
		entry = {"received_at": wire.iso(wire.now()), "outcome": outcome.text, "body": body, **extra}
		with self._lock:
			books.append(entry)

		def answer(response: Response) -> Response:
			entry["http_status"] = response.status_code
			entry["response"] = json.loads(response.get_data())
			return response

		if outcome.name == "slow":
			time.sleep(outcome.arg)
		return outcome, entry, answer

	def _sim_scenario(self, request: Request) -> Response:
		if request.method == "GET":
			return wire.json_response(self.scenario_state())
		return wire.json_response(self.configure(wire.parse_json(request)))



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
			record["sent_at"] = wire.iso(wire.now())
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
			record.update(status=answer.status_code, answer=wire.answer_body(answer), error=None)
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

	def _new_transaction_id(self) -> str:
		with self._lock:
			while True:
				candidate = "S" + wire.random_text(ALNUM, 9)
				if candidate not in self._ids:
					self._ids.add(candidate)
					return candidate
