"""The production M-Pesa Daraja client (B2C v3, Transaction Status, M-Pesa Express) and the pure
parsers the callback endpoints use.

``DarajaGateway`` implements ``engine/payout_gateway.Gateway`` on ``requests``.  Only its base URL differs
between production (``https://api.safaricom.co.ke``), the sandbox and the loopback simulator.

How a synchronous B2C answer maps to ``SubmitOutcome.status``:

=====================================================  ==========================================
answer                                                 status
=====================================================  ==========================================
``ResponseCode "0"`` (string or number)                ``accepted`` with Daraja's ConversationID
``errorCode 500.002.1001`` (any HTTP status)           ``duplicate``: already accepted, never resend
4xx with an ``errorCode`` ``400.*`` (validation)       ``rejected``: refused for good
401, or ``401.*`` / ``404.001.03`` (invalid token)     token refreshed once and the call repeated;
                                                       a second refusal is ``unknown``
connection error, timeout, 5xx, 408, 429, spike        ``unknown``: it may have been accepted;
arrest / quota, any other code, unparseable answer     retry with the same OriginatorConversationID
=====================================================  ==========================================

A payout request that can never be valid (amount not a positive whole number) is ``rejected``
without any network call.

OAuth: one token per ``(base_url, consumer_key)`` per process, shared by every thread and every
``DarajaGateway`` with those credentials (Daraja's FAQ says each new token may invalidate the
previous one, so workers must not each fetch their own).  It is fetched under a lock by one thread
while the others wait, and refreshed ``TOKEN_REFRESH_MARGIN`` seconds before ``expires_in`` (which
Daraja sometimes sends as a string).  Secrets (consumer secret, security credential, tokens) are
never logged and never appear in ``repr``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import requests

from ledger_app.engine import json_input, money, text
from ledger_app.engine.errors import InvalidAmount, ValidationFailed
from ledger_app.engine.payout_gateway import (
	ACCEPTED,
	DUPLICATE,
	REJECTED,
	UNKNOWN,
	PayoutRequest,
	SubmitOutcome,
)

log = logging.getLogger("ledger_app.gateways.daraja")

OAUTH_PATH = "/oauth/v1/generate"
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
STATUS_PATH = "/mpesa/transactionstatus/v1/query"
STK_PATH = "/mpesa/stkpush/v1/processrequest"

DUPLICATE_CODE = "500.002.1001"
# Daraja answers an expired or unknown bearer token with 401.002.01 (documented) or, as integrators
# report, HTTP 404 with 404.001.03 "Invalid Access Token".
INVALID_TOKEN_CODES = ("404.001.03",)
# Rate limits: try again later, the request was not taken.
THROTTLE_CODES = ("500.003.02", "500.003.03")
TOKEN_REFRESH_MARGIN = 60  # seconds before expires_in
DEFAULT_TOKEN_LIFETIME = 3599
EAT = timezone(timedelta(hours=3))  # Kenya, no daylight saving: STK timestamps


class DarajaError(Exception):
	"""A call to Daraja gave no usable answer (network error, timeout, unusable token response)."""


# --- OAuth token cache, shared by the whole process ---------------------------------------------


@dataclass
class _TokenCell:
	lock: threading.Lock
	token: str | None = None
	refresh_at: float = 0.0  # time.monotonic() after which the token is refreshed
	fetches: int = 0


_tokens: dict[tuple[str, str], _TokenCell] = {}
_tokens_lock = threading.Lock()


def _token_cell(base_url: str, consumer_key: str) -> _TokenCell:
	key = (base_url, consumer_key)
	with _tokens_lock:
		cell = _tokens.get(key)
		if cell is None:
			cell = _tokens[key] = _TokenCell(lock=threading.Lock())
		return cell


def token_fetches(base_url: str, consumer_key: str) -> int:
	"""How many tokens this process has fetched for these credentials (for tests and health)."""
	return _token_cell(base_url.rstrip("/"), consumer_key).fetches


def clear_token_cache() -> None:
	"""Forget every cached token (tests; a process that rotated its credentials)."""
	with _tokens_lock:
		_tokens.clear()


# One requests.Session per thread (a Session is not documented as thread-safe); it keeps the
# connection pool alive between calls.
_local = threading.local()


def _session() -> requests.Session:
	session = getattr(_local, "session", None)
	if session is None:
		session = _local.session = requests.Session()
	return session


def _parse_json(response: requests.Response):
	"""The answer's JSON with exact decimals, or None when it is not JSON."""
	try:
		return json.loads(response.content, parse_float=Decimal)
	except (ValueError, UnicodeDecodeError):
		return None


def _code(value) -> str:
	"""A Daraja code (ResponseCode, ResultCode, errorCode) as text: 0, "0" and "00" are all "0"."""
	if value is None or isinstance(value, bool):
		raise ValueError(f"a result code must be a number or a string, got {value!r}")
	if isinstance(value, int):
		return str(value)
	if isinstance(value, (Decimal, float)):
		if not Decimal(value).is_finite() or value != int(value):
			raise ValueError(f"a result code must be a whole number, got {value!r}")
		return str(int(value))
	if isinstance(value, str):
		text = value.strip()
		if not text:
			raise ValueError("a result code must not be empty")
		if text.isdigit():
			return str(int(text))
		return text
	raise ValueError(f"a result code must be a number or a string, got {type(value).__name__}")


class DarajaGateway:
	"""Daraja's B2C v3, Transaction Status and M-Pesa Express over HTTPS (``engine/payout_gateway.Gateway``)."""

	def __init__(self, name: str, base_url: str, consumer_key: str, consumer_secret: str, shortcode: str,
			initiator_name: str, security_credential: str, timeout=(5, 30)):
		if not base_url or not base_url.startswith(("http://", "https://")):
			raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
		for field, value in (("name", name), ("consumer_key", consumer_key), ("consumer_secret", consumer_secret),
				("shortcode", shortcode)):
			if not value or not str(value).strip():
				raise ValueError(f"{field} is required")
		self.name = name
		self.base_url = base_url.rstrip("/")
		self.shortcode = str(shortcode).strip()
		self.initiator_name = initiator_name
		self.timeout = timeout
		self._consumer_key = consumer_key
		self._consumer_secret = consumer_secret
		self._security_credential = security_credential
		self._token_cell = _token_cell(self.base_url, consumer_key)

	def __repr__(self) -> str:
		return f"DarajaGateway(name={self.name!r}, base_url={self.base_url!r}, shortcode={self.shortcode!r})"

	# --- OAuth ---

	def access_token(self, stale: str | None = None) -> str:
		"""The shared token for these credentials, fetched when missing or close to expiry.

		``stale``: a token Daraja just refused; a new one is fetched unless another thread already
		replaced it.  Raises ``DarajaError`` when no token can be had.
		"""
		cell = self._token_cell
		with cell.lock:
			now = time.monotonic()
			if cell.token is not None and cell.token != stale and now < cell.refresh_at:
				return cell.token
			token, lifetime = self._fetch_token()
			margin = min(TOKEN_REFRESH_MARGIN, lifetime // 2)
			cell.token, cell.refresh_at = token, time.monotonic() + lifetime - margin
			cell.fetches += 1
			return token

	def _fetch_token(self) -> tuple[str, int]:
		url = f"{self.base_url}{OAUTH_PATH}"
		try:
			response = _session().get(url, params={"grant_type": "client_credentials"},
				auth=(self._consumer_key, self._consumer_secret), timeout=self.timeout)
		except requests.RequestException as exc:
			log.warning("%s: OAuth request failed: %s", self.name, type(exc).__name__)
			raise DarajaError(f"OAuth request failed: {type(exc).__name__}") from None
		body = _parse_json(response)
		if response.status_code != 200 or not isinstance(body, dict):
			code = body.get("errorCode") if isinstance(body, dict) else None
			log.warning("%s: OAuth refused: HTTP %s %s", self.name, response.status_code, code or "")
			raise DarajaError(f"OAuth refused: HTTP {response.status_code} {code or ''}".strip())
		token = body.get("access_token")
		if not isinstance(token, str) or not token.strip():
			raise DarajaError("OAuth answer has no access_token")
		try:
			lifetime = int(str(body.get("expires_in", DEFAULT_TOKEN_LIFETIME)).strip())
		except ValueError:
			lifetime = DEFAULT_TOKEN_LIFETIME
		if lifetime <= 0:
			lifetime = DEFAULT_TOKEN_LIFETIME
		log.info("%s: OAuth token fetched (expires in %s s)", self.name, lifetime)
		return token, lifetime

	# --- calls ---

	def _post(self, path: str, body: dict, what: str, ref: str) -> SubmitOutcome:
		"""POST ``body`` with the bearer token; on an invalid-token answer refresh once and repeat."""
		try:
			token = self.access_token()
		except DarajaError as exc:
			return SubmitOutcome(UNKNOWN, error_code="oauth", message=str(exc))
		for attempt in (1, 2):
			try:
				response = _session().post(f"{self.base_url}{path}", json=body,
					headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout)
			except requests.Timeout:
				log.warning("%s: %s %s timed out", self.name, what, ref)
				return SubmitOutcome(UNKNOWN, error_code="timeout", message=f"{what} timed out")
			except requests.RequestException as exc:
				log.warning("%s: %s %s failed: %s", self.name, what, ref, type(exc).__name__)
				return SubmitOutcome(UNKNOWN, error_code="network", message=f"{what} failed: {type(exc).__name__}")
			outcome, token_refused = _classify(response)
			if token_refused and attempt == 1:
				log.info("%s: %s %s: token refused (%s), refreshing", self.name, what, ref, outcome.error_code)
				try:
					token = self.access_token(stale=token)
				except DarajaError as exc:
					return SubmitOutcome(UNKNOWN, error_code="oauth", message=str(exc))
				continue
			level = logging.INFO if outcome.status in (ACCEPTED, DUPLICATE) else logging.WARNING
			log.log(level, "%s: %s %s -> %s (HTTP %s %s)", self.name, what, ref, outcome.status, response.status_code,
				outcome.error_code or "")
			return outcome
		raise AssertionError("unreachable")

	def submit_b2c(self, request: PayoutRequest) -> SubmitOutcome:
		"""Send one B2C v3 BusinessPayment with the request's own OriginatorConversationID."""
		amount = _whole_amount(request.amount)
		if amount is None:
			return SubmitOutcome(REJECTED, error_code="invalid_request",
				message=f"amount must be a positive whole number of shillings, got {request.amount!r}")
		if not request.originator_conversation_id:
			return SubmitOutcome(REJECTED, error_code="invalid_request", message="originator_conversation_id is required")
		body = {
			"OriginatorConversationID": request.originator_conversation_id,
			"InitiatorName": self.initiator_name,
			"SecurityCredential": self._security_credential,
			"CommandID": "BusinessPayment",
			"Amount": amount,
			"PartyA": self.shortcode,
			"PartyB": request.phone,
			"Remarks": request.remarks,
			"QueueTimeOutURL": request.timeout_url,
			"ResultURL": request.result_url,
		}
		if request.occasion:
			body["Occassion"] = request.occasion  # Safaricom's spelling
		outcome = self._post(B2C_PATH, body, "B2C", request.originator_conversation_id)
		return outcome

	def query_status(self, originator_conversation_id: str, result_url: str, timeout_url: str,
			transaction_id: str | None = None) -> SubmitOutcome:
		"""Ask Transaction Status about a payout; the answer arrives later at ``result_url``.

		``accepted`` means the query was taken; its ``conversation_id`` is the query's own, which a
		failed status result (no ResultParameters) carries as its ``ConversationID``.
		"""
		if not originator_conversation_id and not transaction_id:
			raise ValueError("originator_conversation_id or transaction_id is required")
		body = {
			"Initiator": self.initiator_name,
			"SecurityCredential": self._security_credential,
			"CommandID": "TransactionStatusQuery",
			"PartyA": self.shortcode,
			"IdentifierType": "4",
			"ResultURL": result_url,
			"QueueTimeOutURL": timeout_url,
			"Remarks": "Payout status",
			"Occasion": "Payout status",
		}
		if originator_conversation_id:
			body["OriginalConversationID"] = originator_conversation_id
		if transaction_id:
			body["TransactionID"] = transaction_id
		return self._post(STATUS_PATH, body, "TransactionStatus", originator_conversation_id or transaction_id)

	def stk_push(self, phone: str, amount, account_reference: str, description: str, callback_url: str,
			passkey: str, transaction_type: str = "CustomerPayBillOnline") -> SubmitOutcome:
		"""M-Pesa Express (STK push): ask ``phone`` to pay ``amount`` to our shortcode.

		``accepted`` carries the ``CheckoutRequestID`` as ``conversation_id``; the result arrives at
		``callback_url`` as ``{"Body": {"stkCallback": ...}}``.
		"""
		whole = _whole_amount(amount)
		if whole is None:
			raise ValueError(f"amount must be a positive whole number, got {amount!r}")
		timestamp = datetime.now(EAT).strftime("%Y%m%d%H%M%S")
		password = base64.b64encode(f"{self.shortcode}{passkey}{timestamp}".encode()).decode()
		body = {
			"BusinessShortCode": self.shortcode,
			"Password": password,
			"Timestamp": timestamp,
			"TransactionType": transaction_type,
			"Amount": whole,
			"PartyA": phone,
			"PartyB": self.shortcode,
			"PhoneNumber": phone,
			"CallBackURL": callback_url,
			"AccountReference": account_reference,
			"TransactionDesc": description,
		}
		outcome = self._post(STK_PATH, body, "STK", account_reference)
		return outcome


def _whole_amount(amount) -> str | None:
	"""``amount`` as Daraja's whole-number string, or None when it is not a positive whole number."""
	if isinstance(amount, (bool, float)) or amount is None:
		return None
	try:
		number = Decimal(str(amount).strip()) if not isinstance(amount, Decimal) else amount
	except InvalidOperation:
		return None
	if not number.is_finite() or number <= 0 or number != number.to_integral_value():
		return None
	return str(int(number))


def _classify(response: requests.Response) -> tuple[SubmitOutcome, bool]:
	"""Map Daraja's synchronous answer to an outcome; the flag says the bearer token was refused."""
	status = response.status_code
	body = _parse_json(response)
	if not isinstance(body, dict):
		return SubmitOutcome(UNKNOWN, error_code=f"http_{status}", message=f"HTTP {status}, answer is not a JSON object"), \
			status == 401
	error_code = body.get("errorCode")
	message = str(body.get("errorMessage") or body.get("ResponseDescription") or "")[:500]
	if error_code is not None:
		code = str(error_code).strip()
		if code == DUPLICATE_CODE:
			return SubmitOutcome(DUPLICATE, error_code=code, message=message), False
		if status == 401 or code.startswith("401.") or code in INVALID_TOKEN_CODES:
			return SubmitOutcome(UNKNOWN, error_code=code, message=message), True
		if code in THROTTLE_CODES or status in (408, 429) or status >= 500:
			return SubmitOutcome(UNKNOWN, error_code=code, message=message), False
		if 400 <= status < 500 and code.startswith("400."):
			return SubmitOutcome(REJECTED, error_code=code, message=message), False
		return SubmitOutcome(UNKNOWN, error_code=code, message=message), False
	if status == 401:
		return SubmitOutcome(UNKNOWN, error_code="http_401", message=message), True
	if status != 200:
		return SubmitOutcome(UNKNOWN, error_code=f"http_{status}", message=message), False
	try:
		code = _code(body.get("ResponseCode"))
	except ValueError:
		return SubmitOutcome(UNKNOWN, error_code="bad_answer", message="answer has no ResponseCode"), False
	if code != "0":
		# Not Daraja's documented shape: not "accepted", but not the gateway's word that it was refused.
		return SubmitOutcome(UNKNOWN, error_code=code, message=message), False
	conversation_id = body.get("ConversationID") or body.get("CheckoutRequestID")
	return SubmitOutcome(ACCEPTED, conversation_id=str(conversation_id) if conversation_id else None,
		message=message), False


# --- callback parsers (pure; no network, no database) -------------------------------------------


def _load(body) -> dict:
	if isinstance(body, (bytes, bytearray, str)):
		try:
			body = json_input.loads(body, "callback body", parse_float=Decimal)
		except ValidationFailed as exc:
			raise ValueError(exc.message) from None
	if not isinstance(body, dict):
		raise ValueError(f"callback body must be a JSON object, got {type(body).__name__}")
	return body


def _result(body) -> dict:
	body = _load(body)
	result = body.get("Result")
	if not isinstance(result, dict):
		raise ValueError("callback body has no 'Result' object")
	return result


def _text(value, field: str, required: bool = False) -> str | None:
	if value is None or (isinstance(value, str) and not value.strip()):
		if required:
			raise ValueError(f"'{field}' is required")
		return None
	if isinstance(value, (bool, dict, list)):
		raise ValueError(f"'{field}' must be a string, got {type(value).__name__}")
	if isinstance(value, str) and not text.is_clean(value):
		raise ValueError(f"'{field}' must not contain control characters, NUL or lone surrogates, got {value!r}"[:300])
	return str(value).strip()


def _key(name: str) -> str:
	"""Parameter keys compared without spaces or case: 'Originator Conversation ID' = 'OriginatorConversationID'."""
	return "".join(name.split()).lower()


def _parameters(result: dict) -> dict[str, object]:
	"""``ResultParameters`` by normalised Key (first occurrence wins; keys may repeat).

	Accepts Daraja's ``{"ResultParameter": [...]}`` (or a single object in place of the list), a bare
	list, or nothing at all (failure callbacks carry none).
	"""
	raw = result.get("ResultParameters")
	if raw is None or raw == "" or raw == {}:
		return {}
	if isinstance(raw, dict):
		if "ResultParameter" not in raw:
			raise ValueError("'ResultParameters' must hold a 'ResultParameter' list")
		raw = raw["ResultParameter"]
		if isinstance(raw, dict):
			raw = [raw]
	if not isinstance(raw, list):
		raise ValueError(f"'ResultParameters' must be a list or {{'ResultParameter': [...]}}, got {type(raw).__name__}")
	params: dict[str, object] = {}
	for item in raw:
		if not isinstance(item, dict) or not isinstance(item.get("Key"), str):
			raise ValueError(f"each result parameter must be an object with a string 'Key', got {item!r}"[:200])
		params.setdefault(_key(item["Key"]), item.get("Value"))
	return params


def _amount(value, field: str) -> Decimal | None:
	if value is None or (isinstance(value, str) and not value.strip()):
		return None
	try:  # Daraja's number (10, read exactly as Decimal) or string ("10.00"), in the one amount grammar
		return money.to_decimal(value, field)
	except InvalidAmount as exc:
		raise ValueError(exc.message) from None


def _result_code(result: dict) -> str:
	if "ResultCode" not in result:
		raise ValueError("'ResultCode' is required")
	try:
		return _code(result["ResultCode"])
	except ValueError as exc:
		raise ValueError(f"'ResultCode': {exc}") from None


def parse_b2c_result(body) -> dict:
	"""Parse a B2C result callback (``{"Result": {...}}``, a dict or JSON text).

	Returns ``originator_conversation_id``, ``conversation_id``, ``result_code`` (text; ``"0"`` is
	success whether Daraja sent 0 or "0"), ``result_desc``, ``transaction_id``, ``receipt``
	(TransactionReceipt, else the TransactionID of a successful result; None on failure),
	``amount`` (Decimal from TransactionAmount, or None) and ``parameters`` (every ResultParameter
	by its Key with spaces removed, lower-cased).  Raises ValueError on a malformed body.
	"""
	result = _result(body)
	code = _result_code(result)
	params = _parameters(result)
	transaction_id = _text(result.get("TransactionID"), "TransactionID")
	receipt = _text(params.get("transactionreceipt"), "TransactionReceipt")
	if receipt is None and code == "0":
		receipt = transaction_id
	return {
		"originator_conversation_id": _text(result.get("OriginatorConversationID"), "OriginatorConversationID",
			required=True),
		"conversation_id": _text(result.get("ConversationID"), "ConversationID"),
		"result_code": code,
		"result_desc": _text(result.get("ResultDesc"), "ResultDesc") or "",
		"transaction_id": transaction_id,
		"receipt": receipt,
		"amount": _amount(params.get("transactionamount"), "TransactionAmount"),
		"parameters": params,
	}


def parse_timeout(body) -> str:
	"""The OriginatorConversationID of a B2C queue-timeout callback.

	Its shape is undocumented: either an echo of the request (``OriginatorConversationID`` at the top
	level) or a ``{"Result": {...}}`` envelope; both are accepted.  The outcome is unknown, never failed.
	"""
	body = _load(body)
	result = body.get("Result")
	if isinstance(result, dict) and result.get("OriginatorConversationID") not in (None, ""):
		return _text(result.get("OriginatorConversationID"), "OriginatorConversationID", required=True)
	if body.get("OriginatorConversationID") not in (None, ""):
		return _text(body.get("OriginatorConversationID"), "OriginatorConversationID", required=True)
	raise ValueError("timeout callback has no OriginatorConversationID (neither at the top level nor under 'Result')")


def parse_status_result(body) -> dict:
	"""Parse a Transaction Status result callback.

	``originator_conversation_id`` is the payout's: the ``OriginatorConversationID`` (or
	``Originator Conversation ID``) ResultParameter when present, because ``Result.OriginatorConversationID``
	may be the id of the status query itself; it falls back to the Result's.  Also ``conversation_id``
	(Result.ConversationID), ``result_code``, ``result_desc``, ``transaction_status`` (e.g.
	"Completed"), ``receipt`` (ReceiptNo), ``amount`` (Decimal or None), ``transaction_id`` and
	``parameters``.  A payout is paid when result_code is "0", transaction_status is "Completed" and
	receipt is set.  Raises ValueError on a malformed body.
	"""
	result = _result(body)
	code = _result_code(result)
	params = _parameters(result)
	ocid = _text(params.get("originatorconversationid"), "OriginatorConversationID") \
		or _text(result.get("OriginatorConversationID"), "OriginatorConversationID")
	if ocid is None:
		raise ValueError("status result has no OriginatorConversationID (neither in 'Result' nor in its parameters)")
	return {
		"originator_conversation_id": ocid,
		"conversation_id": _text(result.get("ConversationID"), "ConversationID"),
		"result_code": code,
		"result_desc": _text(result.get("ResultDesc"), "ResultDesc") or "",
		"transaction_status": _text(params.get("transactionstatus"), "TransactionStatus"),
		"receipt": _text(params.get("receiptno"), "ReceiptNo"),
		"amount": _amount(params.get("amount"), "Amount"),
		"transaction_id": _text(result.get("TransactionID"), "TransactionID"),
		"parameters": params,
	}
