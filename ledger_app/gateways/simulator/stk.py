"""Daraja's M-Pesa Express (STK push) request: validated, recorded and acknowledged."""

from __future__ import annotations

import secrets

from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.wire import C2B_COMMANDS, PHONE, BadRequest


class STKPush:
	"""Daraja's M-Pesa Express (STK push) request: validated, recorded and acknowledged."""

	def _stk(self, request: Request) -> Response:
		body = wire.parse_json(request)
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		for field in ("BusinessShortCode", "Password", "Timestamp", "TransactionType", "Amount", "PartyA", "PartyB",
				"PhoneNumber", "CallBackURL", "AccountReference", "TransactionDesc"):
			if wire.text(body.get(field)) == "":
				raise BadRequest(f"Bad Request - Invalid {field}")
		if body["TransactionType"] not in C2B_COMMANDS:
			raise BadRequest("Bad Request - Invalid TransactionType")
		if wire.whole_amount(body["Amount"]) is None or wire.whole_amount(body["Amount"]) < 1:
			raise BadRequest("Bad Request - Invalid Amount")
		if not PHONE.fullmatch(wire.text(body["PhoneNumber"])):
			raise BadRequest("Bad Request - Invalid PhoneNumber")
		if not wire.is_url(body["CallBackURL"]):
			raise BadRequest("Bad Request - Invalid CallBackURL")
		ack = {"MerchantRequestID": f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(9 * 10**7) + 10**7}-1",
			"CheckoutRequestID": f"ws_CO_{wire.now():%d%m%Y%H%M%S}{secrets.randbelow(1000):03d}", "ResponseCode": "0",
			"ResponseDescription": "Success. Request accepted for processing",
			"CustomerMessage": "Success. Request accepted for processing"}
		with self._lock:
			self._stk_requests.append({"received_at": wire.iso(wire.now()), "body": body, **ack})
		return wire.json_response(ack)

