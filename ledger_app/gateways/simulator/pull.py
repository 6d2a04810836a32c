"""Daraja's Pull Transactions: registration and the query over the books' C2B payments of the
last 48 hours."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.wire import PULL_WINDOW, SHORTCODE, BadRequest


class PullTransactions:
	"""Daraja's Pull Transactions: registration and the query over the books' C2B payments of the
	last 48 hours."""

	def _pull_register(self, request: Request) -> Response:
		body = wire.parse_json(request)
		if not isinstance(body, dict) or not SHORTCODE.fullmatch(wire.text(body.get("ShortCode"))):
			raise BadRequest("Bad Request - Invalid ShortCode")
		with self._lock:
			self._pull_registrations.append({**body, "registered_at": wire.iso(wire.now())})
		return wire.json_response({"ResponseRefID": wire.request_id(), "ResponseStatus": "1000", "ShortCode": body["ShortCode"],
			"ResponseDescription": "Shortcode registered successfully"})

	def _pull_query(self, request: Request) -> Response:
		body, shortcode = wire.body_with_shortcode(request)
		now = wire.now()
		start = wire.parse_window_date(body.get("StartDate"), "StartDate") or now - PULL_WINDOW
		end = wire.parse_window_date(body.get("EndDate"), "EndDate") or now
		offset = wire.text(body.get("OffSetValue")) or "0"
		if not offset.isdigit():
			raise BadRequest("Bad Request - Invalid OffSetValue")
		start = max(start, now - PULL_WINDOW)
		with self._lock:
			rows = sorted((row for row in self._c2b.values() if row["BusinessShortCode"] == shortcode
				and start <= row["time"] <= end), key=lambda row: (row["time"], row["TransID"]))
		page = rows[int(offset):int(offset) + self.pull_page_size]
		if not page:
			return wire.json_response({"ResponseRefID": wire.request_id(), "ResponseCode": "1001",
				"ResponseMessage": "No records found or Organization Name not available"})
		items = [{"transactionId": row["TransID"], "trxDate": wire.iso(row["time"]), "msisdn": int(row["MSISDN"]),
			"sender": row["FirstName"], "transactiontype": "c2b-pay-bill-debit" if row["TransactionType"] == "Pay Bill"
			else "c2b-buy-goods-debit", "billreference": row["BillRefNumber"], "amount": row["TransAmount"],
			"organizationname": self.organization_name} for row in page]
		return wire.json_response({"ResponseRefID": wire.request_id(), "ResponseCode": "1000", "ResponseMessage": "Success",
			"Response": [items]})

