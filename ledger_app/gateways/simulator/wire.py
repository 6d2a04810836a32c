"""The simulator's wire format: Daraja's constants, result descriptions, and the small helpers
that read requests and write answers the way Daraja does (times in EAT, amounts, ids, errors)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import requests
from werkzeug.wrappers import Request, Response

EAT = timezone(timedelta(hours=3), "EAT")  # Kenya: UTC+3, no daylight saving
TOKEN_SECONDS = 3600
B2C_MIN, B2C_MAX = 10, 250_000
PULL_WINDOW = timedelta(hours=48)
VALIDATION_TIMEOUT = 8.0  # Daraja waits "usually < 8 seconds" for a validation answer
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


class BadRequest(Exception):
	"""A Daraja request refused with 400 ``400.002.02`` (or a simulator control call refused)."""


def now() -> datetime:
	return datetime.now(EAT)


def stamp(moment: datetime) -> str:
	return moment.strftime("%Y%m%d%H%M%S")


def iso(moment: datetime) -> str:
	return moment.isoformat(timespec="milliseconds")


def random_text(alphabet: str, n: int) -> str:
	return "".join(secrets.choice(alphabet) for _ in range(n))


def request_id() -> str:
	return f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(90000000) + 10000000}-1"


def conversation_id() -> str:
	return f"AG_{now():%Y%m%d}_{secrets.token_hex(10)}"


def number(value: Decimal):
	"""A JSON number as Daraja prints them: an int when whole."""
	return int(value) if value == value.to_integral_value() else float(value)


def money(value: Decimal) -> str:
	return f"{value.quantize(Decimal('0.01')):.2f}"


def whole_amount(value) -> int | None:
	if isinstance(value, bool):
		return None
	if isinstance(value, int):
		return value
	if isinstance(value, float):
		return int(value) if value.is_integer() else None
	if isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}(\.0*)?\s*", value):
		return int(Decimal(value.strip()))
	return None


def decimal_amount(value) -> Decimal | None:
	if isinstance(value, bool) or not isinstance(value, (int, float, str)):
		return None
	try:
		amount = Decimal(str(value).strip())
	except InvalidOperation:
		return None
	if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2 or amount > Decimal(999999999):
		return None
	return amount


def text(value) -> str:
	return "" if value is None else str(value).strip()


def is_url(value) -> bool:
	return isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", value.strip()) is not None


def masked(msisdn: str) -> str:
	return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def hashed(msisdn: str) -> str:
	return hashlib.sha256(msisdn.encode()).hexdigest()


def parse_window_date(value, field: str) -> datetime | None:
	given = text(value)
	if not given:
		return None
	for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y%m%d%H%M%S"):
		try:
			return datetime.strptime(given, fmt).replace(tzinfo=EAT)
		except ValueError:
			continue
	raise BadRequest(f"Bad Request - Invalid {field}")


def json_response(data, status: int = 200) -> Response:
	return Response(json.dumps(data), status=status, mimetype="application/json")


def daraja_error(status: int, code: str, message: str) -> Response:
	return json_response({"requestId": request_id(), "errorCode": code, "errorMessage": message}, status)


def parse_json(request: Request):
	try:
		return json.loads(request.get_data(cache=True) or b"null")
	except (ValueError, UnicodeDecodeError):
		return None


def answer_body(response: requests.Response):
	try:
		return response.json()
	except ValueError:
		return response.text[:2000]


def body_with_shortcode(request: Request) -> tuple[dict, str]:
	"""A JSON object body and its valid ``ShortCode``, else ``BadRequest`` as Daraja words it."""
	body = parse_json(request)
	if not isinstance(body, dict):
		raise BadRequest("Bad Request - Invalid JSON body")
	shortcode = text(body.get("ShortCode"))
	if not SHORTCODE.fullmatch(shortcode):
		raise BadRequest("Bad Request - Invalid ShortCode")
	return body, shortcode
