"""Daraja's Transaction Status query: acknowledged like a B2C request, then the books' answer
POSTed to its ResultURL."""

from __future__ import annotations

import secrets

from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.outcomes import Outcome
from ledger_app.gateways.simulator.wire import (
	ACCEPT_DESC,
	B2C_FEE,
	RESULT_DESCRIPTIONS,
	STATUS_NOT_FOUND,
	SUCCESS_DESC,
	BadRequest,
)


class TransactionStatus:
	"""Daraja's Transaction Status query: acknowledged like a B2C request, then the books' answer
	POSTed to its ResultURL."""

	def _status(self, request: Request) -> Response:
		body = wire.parse_json(request)
		outcome, entry, answer = self._take_request("status", self._queries, body)
		if outcome.name == "http_500":
			return answer(wire.daraja_error(500, "500.003.1001", "Internal Server Error"))
		try:
			fields = self._validate_status(body)
		except BadRequest as exc:
			return answer(wire.daraja_error(400, "400.002.02", str(exc)))
		query_ocid = f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(4)}-{secrets.randbelow(10**8)}"
		conversation_id = wire.conversation_id()
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
			return answer(wire.json_response(ack))
		delay = outcome.arg if outcome.name == "delay_callback" else None
		return self._schedule(answer(wire.json_response(ack)), jobs, delay=delay)

	@staticmethod
	def _validate_status(body) -> dict:
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		for field in ("Initiator", "SecurityCredential", "CommandID", "PartyA", "IdentifierType", "ResultURL",
				"QueueTimeOutURL", "Remarks"):
			if wire.text(body.get(field)) == "" or isinstance(body.get(field), (dict, list, bool)):
				raise BadRequest(f"Bad Request - Invalid {field}")
		if body["CommandID"] != "TransactionStatusQuery":
			raise BadRequest("Bad Request - Invalid CommandID")
		if wire.text(body["IdentifierType"]) not in ("1", "2", "4"):
			raise BadRequest("Bad Request - Invalid IdentifierType")
		for field in ("ResultURL", "QueueTimeOutURL"):
			if not wire.is_url(body[field]):
				raise BadRequest(f"Bad Request - Invalid {field}")
		transaction_id, original = wire.text(body.get("TransactionID")), wire.text(body.get("OriginalConversationID"))
		if not transaction_id and not original:
			raise BadRequest("Bad Request - Invalid TransactionID")
		return {"TransactionID": transaction_id, "OriginalConversationID": original, "ResultURL": body["ResultURL"].strip(),
			"QueueTimeOutURL": body["QueueTimeOutURL"].strip(), "Occasion": wire.text(body.get("Occasion")),
			"PartyA": wire.text(body["PartyA"])}

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
				("OriginatorConversationID", row["OriginatorConversationID"]), ("InitiatedTime", wire.stamp(row["InitiatedTime"])),
				("DebitAccountType", "Utility Account"), ("DebitPartyCharges", f"Fee For B2C Payment|KES|{B2C_FEE}"),
				("TransactionReason", None), ("ReasonType", "Business Payment to Customer via API"),
				("TransactionStatus", row["Status"]), ("FinalisedTime", wire.stamp(row["FinalisedTime"])),
				("Amount", str(wire.number(row["Amount"]))), ("ConversationID", row["ConversationID"])]
			if row["Status"] == "Completed":
				params.append(("ReceiptNo", row["TransactionID"]))
		else:
			customer = f"{row['MSISDN']} - {row['FirstName']}".strip(" -")
			params = [("DebitPartyName", customer), ("CreditPartyName", f"{row['BusinessShortCode']} - {self.organization_name}"),
				("OriginatorConversationID", ""), ("InitiatedTime", wire.stamp(row["time"])),
				("DebitAccountType", "MMF Account For Customer"), ("DebitPartyCharges", None),
				("TransactionReason", None), ("ReasonType", "Pay Bill Online"), ("TransactionStatus", "Completed"),
				("FinalisedTime", wire.stamp(row["time"])), ("Amount", row["TransAmount"]), ("ConversationID", ""),
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

