"""Daraja's B2C payment request: validated, settled in the books, its result (or queue
timeout) POSTed to the request's URLs as the scenario says."""

from __future__ import annotations

from decimal import Decimal

from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.outcomes import Outcome
from ledger_app.gateways.simulator.wire import (
	ACCEPT_DESC,
	B2C_FEE,
	B2C_MAX,
	B2C_MIN,
	COMMAND_IDS,
	INTERNAL_TIMEOUT_URL,
	PHONE,
	RESULT_DESCRIPTIONS,
	SHORTCODE,
	SUCCESS_DESC,
	TIMEOUT_DESC,
	BadRequest,
)


class B2CPayments:
	"""Daraja's B2C payment request: validated, settled in the books, its result (or queue
	timeout) POSTed to the request's URLs as the scenario says."""

	def _b2c(self, request: Request) -> Response:
		body = wire.parse_json(request)
		outcome, entry, answer = self._take_request("b2c", self._b2c_requests, body,
			OriginatorConversationID=body.get("OriginatorConversationID") if isinstance(body, dict) else None)
		if outcome.name == "http_500":
			return answer(wire.daraja_error(500, "500.003.1001", "Internal Server Error"))
		try:
			request_fields = self._validate_b2c(body)
		except BadRequest as exc:
			return answer(wire.daraja_error(400, "400.002.02", str(exc)))
		ocid = request_fields["OriginatorConversationID"]
		with self._lock:
			if ocid in self._payouts:
				entry["duplicate"] = True
				return answer(wire.daraja_error(500, "500.002.1001", "Duplicate OriginatorConversationID."))
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
			return answer(wire.json_response(ack))
		if outcome.name == "http_500_after_accept":
			response = answer(wire.daraja_error(500, "500.003.1001", "Internal Server Error"))
		else:
			response = answer(wire.json_response(ack))
		delay = outcome.arg if outcome.name == "delay_callback" else None
		return self._schedule(response, jobs, delay=delay, concurrent=outcome.arg == "concurrent")

	def _validate_b2c(self, body) -> dict:
		if not isinstance(body, dict):
			raise BadRequest("Bad Request - Invalid JSON body")
		required = ("OriginatorConversationID", "InitiatorName", "SecurityCredential", "CommandID", "Amount", "PartyA",
			"PartyB", "Remarks", "QueueTimeOutURL", "ResultURL")
		for field in required:
			if wire.text(body.get(field)) == "" or isinstance(body.get(field), (dict, list, bool)):
				raise BadRequest(f"Bad Request - Invalid {field}")
		ocid = wire.text(body["OriginatorConversationID"])
		if len(ocid) > 128:
			raise BadRequest("Bad Request - Invalid OriginatorConversationID")
		if body["CommandID"] not in COMMAND_IDS:
			raise BadRequest("Bad Request - Invalid CommandID")
		amount = wire.whole_amount(body["Amount"])
		if amount is None or not B2C_MIN <= amount <= B2C_MAX:
			raise BadRequest("Bad Request - Invalid Amount")
		if not SHORTCODE.fullmatch(wire.text(body["PartyA"])):
			raise BadRequest("Bad Request - Invalid PartyA")
		if not PHONE.fullmatch(wire.text(body["PartyB"])):
			raise BadRequest("Bad Request - Invalid PartyB")
		remarks = body["Remarks"]
		if not isinstance(remarks, str) or not 2 <= len(remarks) <= 100:
			raise BadRequest("Bad Request - Invalid Remarks")
		for field in ("QueueTimeOutURL", "ResultURL"):
			if not wire.is_url(body[field]):
				raise BadRequest(f"Bad Request - Invalid {field}")
		occasion = body.get("Occassion", body.get("Occasion"))  # Safaricom spells it "Occassion"; accept both
		if occasion not in (None, "") and (not isinstance(occasion, str) or len(occasion) > 100):
			raise BadRequest("Bad Request - Invalid Occassion")
		return {"OriginatorConversationID": ocid, "CommandID": body["CommandID"], "Amount": Decimal(amount),
			"PartyA": wire.text(body["PartyA"]), "PartyB": wire.text(body["PartyB"]), "Remarks": remarks,
			"Occasion": occasion or "", "ResultURL": body["ResultURL"].strip(),
			"QueueTimeOutURL": body["QueueTimeOutURL"].strip()}

	def _settle_b2c(self, fields: dict, outcome: Outcome) -> dict:
		"""Record an accepted request and settle it in the books (caller holds the lock)."""
		now = wire.now()
		amount = fields["Amount"]
		if outcome.name == "fail":
			code = outcome.arg
		elif amount > self.utility_balance:
			code = 1
		else:
			code = 0
		txn = {**fields, "ConversationID": wire.conversation_id(), "TransactionID": self._new_transaction_id(),
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
				{"Key": "TransactionAmount", "Value": wire.number(txn["Amount"])},
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
		# Daraja does not document this body: this is the Result envelope that client libraries expect.
		return {"Result": {"ResultType": 1, "ResultCode": 1, "ResultDesc": TIMEOUT_DESC,
			"OriginatorConversationID": ocid, "ConversationID": conversation_id, "TransactionID": "",
			"ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": INTERNAL_TIMEOUT_URL}}}}

