"""The Daraja simulator over real HTTP: its answers, its callbacks and its books.

The simulator runs under waitress in a thread; a tiny receiving WSGI app (also waitress) stands in
for the ledger host and records every callback it is sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests
import waitress
from werkzeug.wrappers import Request, Response

from ledger_app.gateways import simulator as sim_module
from ledger_app.gateways.simulator import EAT, Simulator, base_url, serve, stop
from tests.support import free_port

KEY, SECRET = "sim-key", "sim-secret"
PHONE = "254712345678"


class Receiver:
	"""Records every POST; answers like the ledger host (C2B bodies on /c2b/*, Daraja's ack otherwise)."""

	def __init__(self):
		self.lock = threading.Lock()
		self.calls: list[dict] = []
		self.validation_answer = {"ResultCode": "0", "ResultDesc": "Accepted"}

	def __call__(self, environ, start_response):
		request = Request(environ)
		try:
			body = json.loads(request.get_data() or b"null")
		except ValueError:
			body = request.get_data(as_text=True)
		with self.lock:
			self.calls.append({"path": request.path, "args": dict(request.args), "body": body, "at": time.monotonic()})
		if request.path == "/c2b/validate":
			answer = self.validation_answer
		elif request.path == "/c2b/confirm":
			answer = {"ResultCode": 0, "ResultDesc": "Success"}
		else:
			answer = {"ResultCode": 0, "ResultDesc": "Accepted"}
		return Response(json.dumps(answer), mimetype="application/json")(environ, start_response)

	def on(self, path: str) -> list[dict]:
		with self.lock:
			return [call for call in self.calls if call["path"] == path]

	def reset(self):
		with self.lock:
			self.calls.clear()
		self.validation_answer = {"ResultCode": "0", "ResultDesc": "Accepted"}


def start_receiver(port: int = 0):
	app = Receiver()
	server = waitress.create_server(app, host="127.0.0.1", port=port, threads=16)
	thread = threading.Thread(target=server.run, daemon=True)
	thread.start()
	return app, server, thread


@pytest.fixture(scope="module")
def receiver_server():
	app, server, thread = start_receiver()
	yield app, base_url(server)
	stop(server, thread)


@pytest.fixture
def receiver(receiver_server):
	app, url = receiver_server
	app.reset()
	app.url = url
	return app


class Daraja:
	"""A client of one simulator, with the token already fetched."""

	def __init__(self, base: str, simulator: Simulator, receiver: Receiver):
		self.base, self.sim, self.receiver = base, simulator, receiver
		self.http = requests.Session()
		self.token = self.oauth().json()["access_token"]

	def oauth(self, key=KEY, secret=SECRET, grant="client_credentials", auth=True):
		headers = {}
		if auth:
			headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
		return self.http.get(f"{self.base}/oauth/v1/generate", params={"grant_type": grant}, headers=headers, timeout=10)

	def post(self, path: str, body, token: str | None = "default", **kwargs) -> requests.Response:
		headers = {} if token is None else {"Authorization": f"Bearer {self.token if token == 'default' else token}"}
		return self.http.post(f"{self.base}{path}", json=body, headers=headers, timeout=kwargs.pop("timeout", 10),
			**kwargs)

	def get(self, path: str, **params):
		response = self.http.get(f"{self.base}{path}", params=params, timeout=30)
		assert response.status_code == 200, response.text
		return response.json()

	def b2c_body(self, ocid: str, **overrides) -> dict:
		body = {"OriginatorConversationID": ocid, "InitiatorName": "testapi", "SecurityCredential": "c2ltdWxhdGVk==",
			"CommandID": "BusinessPayment", "Amount": "100", "PartyA": "600100", "PartyB": PHONE,
			"Remarks": "driver payout", "QueueTimeOutURL": f"{self.receiver.url}/b2c/timeout?payout={ocid}",
			"ResultURL": f"{self.receiver.url}/b2c/result?payout={ocid}", "Occassion": "Payout"}
		body.update(overrides)
		return {key: value for key, value in body.items() if value is not None}

	def b2c(self, ocid: str, **overrides) -> requests.Response:
		return self.post("/mpesa/b2c/v3/paymentrequest", self.b2c_body(ocid, **overrides))

	def status_query(self, **ids) -> requests.Response:
		body = {"Initiator": "testapi", "SecurityCredential": "c2ltdWxhdGVk==", "CommandID": "TransactionStatusQuery",
			"PartyA": "600100", "IdentifierType": "4", "ResultURL": f"{self.receiver.url}/status/result",
			"QueueTimeOutURL": f"{self.receiver.url}/status/timeout", "Remarks": "recheck", "Occasion": "recheck", **ids}
		return self.post("/mpesa/transactionstatus/v1/query", body)

	def scenario(self, **body) -> requests.Response:
		return self.http.post(f"{self.base}/simulator/scenario", json=body, timeout=10)

	def settle(self) -> list[dict]:
		"""Wait for every pending delivery; returns all deliveries so far."""
		answer = self.get("/simulator/callbacks", wait=10)
		assert answer["pending"] == 0
		return answer["deliveries"]

	def register(self, version="v2", response_type="Completed", shortcode="600100"):
		response = self.post(f"/mpesa/c2b/{version}/registerurl", {"ShortCode": shortcode, "ResponseType": response_type,
			"ConfirmationURL": f"{self.receiver.url}/c2b/confirm?token=t",
			"ValidationURL": f"{self.receiver.url}/c2b/validate?token=t"})
		assert response.status_code == 200, response.text
		return response.json()


@pytest.fixture
def daraja(receiver):
	simulator = Simulator(consumer_key=KEY, consumer_secret=SECRET, callback_backoff=0.05)
	server, thread = serve("127.0.0.1", 0, simulator)
	client = Daraja(base_url(server), simulator, receiver)
	yield client
	stop(server, thread)


def params(result: dict) -> dict:
	return {item["Key"]: item.get("Value") for item in result["ResultParameters"]["ResultParameter"]}


# ---------------------------------------------------------------------- OAuth and tokens


def test_oauth_gives_a_token_only_for_basic_auth_with_the_consumer_credentials(daraja):
	good = daraja.oauth()
	assert good.status_code == 200
	assert set(good.json()) == {"access_token", "expires_in"} and good.json()["expires_in"] == "3599"
	for response, code in ((daraja.oauth(secret="wrong"), "400.008.01"), (daraja.oauth(auth=False), "400.008.01"),
			(daraja.oauth(grant="password"), "400.008.02")):
		assert response.status_code == 400
		assert response.json()["errorCode"] == code and set(response.json()) == {"requestId", "errorCode", "errorMessage"}


def test_every_daraja_path_refuses_a_missing_unknown_or_expired_bearer_token(daraja):
	for token in (None, "not-a-token"):
		response = daraja.post("/mpesa/b2c/v3/paymentrequest", daraja.b2c_body("OC-TOKEN"), token=token)
		assert response.status_code == 401
		assert response.json()["errorCode"] == "401.002.01"
		assert "Invalid Access Token" in response.json()["errorMessage"]
	for path in ("/mpesa/c2b/v2/registerurl", "/mpesa/transactionstatus/v1/query", "/pulltransactions/v1/query",
			"/mpesa/stkpush/v1/processrequest"):
		assert daraja.post(path, {}, token=None).status_code == 401
	assert daraja.b2c("OC-OK").status_code == 200
	assert daraja.scenario(expire_tokens=True).status_code == 200
	assert daraja.b2c("OC-AFTER").status_code == 401
	assert daraja.http.get(f"{daraja.base}/mpesa/b2c/v3/paymentrequest", timeout=10).json()["errorCode"] == "404.001.04"
	assert daraja.get("/simulator/payments")[0]["OriginatorConversationID"] == "OC-OK"


# ---------------------------------------------------------------------- B2C outcomes


def test_b2c_success_acknowledges_then_posts_the_result_with_receipt_and_amount(daraja):
	ack = daraja.b2c("OC-1")
	acked_at = time.monotonic()
	assert ack.status_code == 200
	body = ack.json()
	assert body["OriginatorConversationID"] == "OC-1" and body["ResponseCode"] == "0"
	assert body["ConversationID"].startswith("AG_") and body["ResponseDescription"]
	daraja.settle()
	[callback] = daraja.receiver.on("/b2c/result")
	assert callback["at"] >= acked_at  # the ordinary order: the answer first
	assert callback["args"] == {"payout": "OC-1"}
	result = callback["body"]["Result"]
	assert result["ResultCode"] == 0 and isinstance(result["ResultCode"], int) and result["ResultType"] == 0
	assert result["OriginatorConversationID"] == "OC-1" and result["ConversationID"] == body["ConversationID"]
	values = params(result)
	assert values["TransactionAmount"] == 100 and values["TransactionReceipt"] == result["TransactionID"]
	assert values["ReceiverPartyPublicName"].startswith(PHONE)
	datetime.strptime(values["TransactionCompletedDateTime"], "%d.%m.%Y %H:%M:%S")
	assert {"B2CUtilityAccountAvailableFunds", "B2CWorkingAccountAvailableFunds", "B2CRecipientIsRegisteredCustomer",
		"B2CChargesPaidAccountAvailableFunds"} <= set(values)
	assert result["ReferenceData"]["ReferenceItem"]["Key"] == "QueueTimeoutURL"
	assert daraja.receiver.on("/b2c/timeout") == []
	[paid] = daraja.get("/simulator/payments")
	assert paid["OriginatorConversationID"] == "OC-1" and paid["TransactionID"] == result["TransactionID"]
	assert paid["Amount"] == "100.00" and paid["PartyB"] == PHONE and paid["Status"] == "Completed"


def test_failure_results_have_no_parameters_and_keep_the_result_code_type(daraja):
	assert daraja.scenario(b2c=["fail:2001", "fail:SFC_IC0003"]).json()["b2c"] == ["fail:2001", "fail:SFC_IC0003"]
	for ocid in ("OC-F1", "OC-F2", "OC-F3"):
		assert daraja.b2c(ocid).status_code == 200  # a failure is still accepted first
	daraja.settle()
	results = {call["args"]["payout"]: call["body"]["Result"] for call in daraja.receiver.on("/b2c/result")}
	assert results["OC-F1"]["ResultCode"] == 2001 and results["OC-F1"]["ResultDesc"] == "The initiator information is invalid."
	assert results["OC-F2"]["ResultCode"] == "SFC_IC0003"
	for ocid in ("OC-F1", "OC-F2"):
		assert "ResultParameters" not in results[ocid] and results[ocid]["TransactionID"]
	assert results["OC-F3"]["ResultCode"] == 0  # the queue is used up: plain success again
	assert [p["OriginatorConversationID"] for p in daraja.get("/simulator/payments")] == ["OC-F3"]
	assert {p["OriginatorConversationID"]: p["Status"] for p in daraja.get("/simulator/payments", all=1)} == {
		"OC-F1": "Failed", "OC-F2": "Failed", "OC-F3": "Completed"}


def test_callback_before_ack_delivers_and_gets_the_answer_before_the_http_reply(daraja):
	daraja.scenario(b2c=["callback_before_ack"])
	response = daraja.b2c("OC-EARLY")
	# No waiting: the result was already received and acknowledged when the reply came back.
	[callback] = daraja.receiver.on("/b2c/result")
	assert callback["body"]["Result"]["OriginatorConversationID"] == "OC-EARLY"
	assert response.status_code == 200 and response.json()["ResponseCode"] == "0"
	[delivery] = daraja.settle()
	assert delivery["status"] == 200 and delivery["answer"] == {"ResultCode": 0, "ResultDesc": "Accepted"}


def test_timeout_posts_only_the_queue_timeout_and_the_payment_is_completed(daraja):
	daraja.scenario(b2c=["timeout", "timeout:echo"])
	assert daraja.b2c("OC-TO").status_code == 200
	assert daraja.b2c("OC-TO-ECHO").status_code == 200
	daraja.settle()
	assert daraja.receiver.on("/b2c/result") == []
	timeouts = {call["args"]["payout"]: call["body"] for call in daraja.receiver.on("/b2c/timeout")}
	envelope = timeouts["OC-TO"]["Result"]
	assert envelope["OriginatorConversationID"] == "OC-TO" and envelope["ResultDesc"] == "The service request has timed out."
	assert "ResultParameters" not in envelope
	echo = timeouts["OC-TO-ECHO"]
	assert echo["OriginatorConversationID"] == "OC-TO-ECHO" and echo["PartyB"] == PHONE and "Result" not in echo
	assert {p["OriginatorConversationID"] for p in daraja.get("/simulator/payments")} == {"OC-TO", "OC-TO-ECHO"}

	ack = daraja.status_query(OriginalConversationID="OC-TO")
	assert ack.status_code == 200
	assert set(ack.json()) == {"OriginatorConversationID", "ConversationID", "ResponseCode", "ResponseDescription"}
	daraja.settle()
	[status] = daraja.receiver.on("/status/result")
	result = status["body"]["Result"]
	assert result["ResultCode"] == 0 and result["OriginatorConversationID"] == ack.json()["OriginatorConversationID"]
	values = params(result)
	[paid] = [p for p in daraja.get("/simulator/payments") if p["OriginatorConversationID"] == "OC-TO"]
	assert values["TransactionStatus"] == "Completed" and values["ReceiptNo"] == paid["TransactionID"]
	assert values["Amount"] == "100" and values["OriginatorConversationID"] == "OC-TO"
	assert result["TransactionID"] == paid["TransactionID"]


def test_no_callback_pays_and_sends_nothing(daraja):
	daraja.scenario(b2c=["no_callback"])
	assert daraja.b2c("OC-SILENT").json()["ResponseCode"] == "0"
	assert daraja.settle() == []
	assert daraja.receiver.calls == []
	assert [p["OriginatorConversationID"] for p in daraja.get("/simulator/payments")] == ["OC-SILENT"]


def test_duplicate_callback_sends_the_same_result_twice_and_pays_once(daraja):
	daraja.scenario(b2c=["duplicate_callback", "duplicate_callback:concurrent"])
	daraja.b2c("OC-TWICE")
	daraja.b2c("OC-TWICE-AT-ONCE")
	daraja.settle()
	for ocid in ("OC-TWICE", "OC-TWICE-AT-ONCE"):
		calls = [call for call in daraja.receiver.on("/b2c/result") if call["args"]["payout"] == ocid]
		assert len(calls) == 2 and calls[0]["body"] == calls[1]["body"]
	assert len(daraja.get("/simulator/payments")) == 2


def test_http_500_records_nothing_so_the_same_id_can_be_sent_again(daraja):
	daraja.scenario(b2c=["http_500"])
	failed = daraja.b2c("OC-DOWN")
	assert failed.status_code == 500 and failed.json()["errorCode"] == "500.003.1001"
	assert daraja.settle() == [] and daraja.get("/simulator/payments") == []
	retried = daraja.b2c("OC-DOWN")
	assert retried.status_code == 200
	daraja.settle()
	assert len(daraja.get("/simulator/payments")) == 1
	assert [(r["OriginatorConversationID"], r["http_status"]) for r in daraja.get("/simulator/requests")] == [
		("OC-DOWN", 500), ("OC-DOWN", 200)]


def test_http_500_after_accept_pays_and_calls_back_but_answers_500(daraja):
	daraja.scenario(b2c=["http_500_after_accept"])
	assert daraja.b2c("OC-LOST-ACK").status_code == 500
	daraja.settle()
	assert daraja.receiver.on("/b2c/result")[0]["body"]["Result"]["ResultCode"] == 0
	assert daraja.b2c("OC-LOST-ACK").json()["errorCode"] == "500.002.1001"
	assert len(daraja.get("/simulator/payments")) == 1


def test_a_sticky_default_holds_for_every_request_until_reset(daraja):
	daraja.scenario(b2c_default="http_500")
	assert [daraja.b2c(f"OC-S{i}").status_code for i in range(3)] == [500, 500, 500]
	daraja.scenario(b2c=["fail:1"])  # the queue still comes before the default
	assert daraja.b2c("OC-Q").status_code == 200
	assert daraja.b2c("OC-S4").status_code == 500
	assert daraja.scenario(reset=True).json() == {"b2c": [], "b2c_default": "success", "status": [],
		"status_default": "success"}
	assert daraja.b2c("OC-S0").status_code == 200
	daraja.settle()
	assert [p["OriginatorConversationID"] for p in daraja.get("/simulator/payments")] == ["OC-S0"]


def test_slow_answers_late_and_delay_callback_calls_back_late(daraja):
	daraja.scenario(b2c=["slow:0.4", "delay_callback:0.4"])
	started = time.monotonic()
	assert daraja.b2c("OC-SLOW").status_code == 200
	assert time.monotonic() - started >= 0.4
	assert daraja.b2c("OC-LATE").status_code == 200
	acked_at = time.monotonic()
	daraja.settle()
	results = {call["args"]["payout"]: call for call in daraja.receiver.on("/b2c/result")}
	assert results["OC-SLOW"]["body"]["Result"]["ResultCode"] == 0
	assert results["OC-LATE"]["at"] - acked_at >= 0.3


def test_unknown_outcomes_are_refused_and_change_nothing(daraja):
	daraja.scenario(b2c=["fail:2040"])
	for body in ({"b2c": ["success", "explode"]}, {"b2c": ["fail:"]}, {"b2c": ["slow:soon"]}, {"b2c_default": "nope"},
			{"status": ["http_500_after_accept"]}, {"colour": "red"}):
		response = daraja.scenario(**body)
		assert response.status_code == 400, body
		assert "error" in response.json()
	message = daraja.scenario(b2c=["explode"]).json()["error"]
	assert "explode" in message and "fail:<ResultCode>" in message and "callback_before_ack" in message
	assert daraja.get("/simulator/scenario")["b2c"] == ["fail:2040"]


# ---------------------------------------------------------------------- duplicates and validation


def test_a_repeated_originator_conversation_id_is_500_002_1001_and_paid_once(daraja):
	assert daraja.b2c("OC-DUP").status_code == 200
	again = daraja.b2c("OC-DUP", Amount="200")
	assert again.status_code == 500
	assert again.json()["errorCode"] == "500.002.1001" and again.json()["errorMessage"] == "Duplicate OriginatorConversationID."
	assert set(again.json()) == {"requestId", "errorCode", "errorMessage"}
	with ThreadPoolExecutor(max_workers=12) as pool:
		statuses = sorted(pool.map(lambda _: daraja.b2c("OC-RACE").status_code, range(12)))
	assert statuses == [200] + [500] * 11
	daraja.settle()
	paid = daraja.get("/simulator/payments")
	assert sorted(p["OriginatorConversationID"] for p in paid) == ["OC-DUP", "OC-RACE"]
	assert [p["Amount"] for p in paid if p["OriginatorConversationID"] == "OC-DUP"] == ["100.00"]
	assert len(daraja.get("/simulator/requests")) == 14
	assert len(daraja.receiver.on("/b2c/result")) == 2


@pytest.mark.parametrize("field, value", [
	("Amount", "9"), ("Amount", "250001"), ("Amount", "100.50"), ("Amount", "ten"), ("Amount", None),
	("PartyB", "0712345678"), ("PartyB", "+254712345678"), ("PartyB", "25471234567"), ("PartyB", "254812345678"),
	("Remarks", "x"), ("Remarks", "x" * 101), ("ResultURL", None), ("QueueTimeOutURL", "not a url"),
	("CommandID", "Payout"), ("OriginatorConversationID", ""), ("SecurityCredential", None), ("PartyA", "abc"),
])
def test_invalid_b2c_requests_are_400_002_02_and_not_recorded(daraja, field, value):
	response = daraja.b2c("OC-BAD", **{field: value})
	assert response.status_code == 400
	assert response.json()["errorCode"] == "400.002.02" and field in response.json()["errorMessage"]
	assert daraja.get("/simulator/payments", all=1) == []


def test_both_spellings_of_occasion_and_whole_amounts_in_any_form_are_accepted(daraja):
	assert daraja.b2c("OC-A", Occassion=None, Occasion="Payout").status_code == 200
	assert daraja.b2c("OC-B", Occassion=None).status_code == 200
	assert daraja.b2c("OC-C", Amount=250000, PartyB="254112345678").status_code == 200
	assert daraja.b2c("OC-D", Amount="10.00").status_code == 200
	daraja.settle()
	amounts = {p["OriginatorConversationID"]: p["Amount"] for p in daraja.get("/simulator/payments")}
	assert amounts == {"OC-A": "100.00", "OC-B": "100.00", "OC-C": "250000.00", "OC-D": "10.00"}


# ---------------------------------------------------------------------- Transaction Status


def test_transaction_status_answers_from_the_books(daraja):
	daraja.scenario(b2c=["fail:1"])
	daraja.b2c("OC-POOR")
	daraja.b2c("OC-PAID")
	daraja.settle()
	receipt = next(p["TransactionID"] for p in daraja.get("/simulator/payments") if p["OriginatorConversationID"] == "OC-PAID")
	daraja.receiver.reset()
	assert daraja.status_query(TransactionID=receipt).status_code == 200
	assert daraja.status_query(OriginalConversationID="OC-POOR").status_code == 200
	assert daraja.status_query(OriginalConversationID="OC-NEVER").status_code == 200
	daraja.settle()
	results = [call["body"]["Result"] for call in daraja.receiver.on("/status/result")]
	by_id = {r["TransactionID"] or "?": r for r in results}
	paid = params(by_id[receipt])
	assert paid["TransactionStatus"] == "Completed" and paid["ReceiptNo"] == receipt and paid["Amount"] == "100"
	assert [item["Key"] for item in by_id[receipt]["ResultParameters"]["ResultParameter"]].count("DebitPartyName") == 2
	failed = next(r for r in results if r.get("ResultParameters") and params(r)["OriginatorConversationID"] == "OC-POOR")
	assert params(failed)["TransactionStatus"] == "Failed" and "ReceiptNo" not in params(failed)
	unknown = next(r for r in results if "ResultParameters" not in r)
	assert unknown["ResultCode"] == 2032 and unknown["ResultCode"] != 0
	assert len(daraja.get("/simulator/queries")) == 3


def test_transaction_status_needs_an_id_and_its_callbacks_follow_their_own_scenarios(daraja):
	missing = daraja.status_query()
	assert missing.status_code == 400 and missing.json()["errorCode"] == "400.002.02"
	daraja.b2c("OC-ST")
	daraja.settle()
	daraja.receiver.reset()
	daraja.scenario(status=["no_callback", "timeout", "http_500"])
	assert daraja.status_query(OriginalConversationID="OC-ST").status_code == 200
	assert daraja.status_query(OriginalConversationID="OC-ST").status_code == 200
	assert daraja.status_query(OriginalConversationID="OC-ST").status_code == 500
	daraja.settle()
	assert daraja.receiver.on("/status/result") == [] and len(daraja.receiver.on("/status/timeout")) == 1


# ---------------------------------------------------------------------- C2B and Pull Transactions


def test_register_url_stores_both_versions_and_answers_the_misspelt_body(daraja):
	answer = daraja.register("v1")
	assert set(answer) == {"OriginatorCoversationID", "ResponseCode", "ResponseDescription"}
	assert answer["ResponseCode"] == "0"
	daraja.register("v2", shortcode="600200")
	registrations = daraja.get("/simulator/registrations")["c2b"]
	assert {(r["ShortCode"], r["version"]) for r in registrations} == {("600100", "v1"), ("600200", "v2")}
	bad = daraja.post("/mpesa/c2b/v2/registerurl", {"ShortCode": "600100", "ResponseType": "completed",
		"ConfirmationURL": "http://x/c", "ValidationURL": "http://x/v"})
	assert bad.status_code == 400 and "ResponseType" in bad.json()["errorMessage"]


def test_c2b_push_sends_copies_concurrently_and_records_the_payment_once(daraja):
	daraja.register("v2")
	answer = daraja.http.post(f"{daraja.base}/simulator/c2b", json={"TransID": "SKA0000001", "Amount": "150",
		"BillRefNumber": "KTA 101A", "MSISDN": PHONE, "copies": 5, "concurrency": 5}, timeout=30)
	assert answer.status_code == 200, answer.text
	[payment] = answer.json()["payments"]
	assert payment["completed"] and len(payment["confirmations"]) == 5
	assert answer.json()["answers"] == {"200 Success": 5}
	confirmations = daraja.receiver.on("/c2b/confirm")
	assert len(confirmations) == 5 and all(c["body"] == confirmations[0]["body"] for c in confirmations)
	body = confirmations[0]["body"]
	assert body["TransID"] == "SKA0000001" and body["TransAmount"] == "150.00" and body["BillRefNumber"] == "KTA 101A"
	assert body["MSISDN"] == "2547 ***** 678" and body["BusinessShortCode"] == "600100"
	datetime.strptime(body["TransTime"], "%Y%m%d%H%M%S")
	assert {"TransactionType", "InvoiceNumber", "OrgAccountBalance", "ThirdPartyTransID", "FirstName", "MiddleName",
		"LastName"} <= set(body)
	assert confirmations[0]["args"] == {"token": "t"}
	resent = daraja.http.post(f"{daraja.base}/simulator/c2b", json={"TransID": "SKA0000001", "Amount": "150",
		"BillRefNumber": "KTA 101A"}, timeout=30).json()["payments"][0]
	assert resent["resent"] and len(daraja.receiver.on("/c2b/confirm")) == 6
	assert [row["TransID"] for row in daraja.get("/simulator/c2b")] == ["SKA0000001"]
	clash = daraja.http.post(f"{daraja.base}/simulator/c2b", json={"TransID": "SKA0000001", "Amount": "151",
		"BillRefNumber": "KTA 101A"}, timeout=30)
	assert clash.status_code == 400 and "already" in clash.json()["error"]


def test_c2b_validation_decides_whether_the_payment_happens(daraja):
	daraja.register("v1", response_type="Cancelled")
	daraja.receiver.validation_answer = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
	rejected = daraja.http.post(f"{daraja.base}/simulator/c2b", json={"Amount": "80", "BillRefNumber": "999",
		"validate": True}, timeout=30).json()["payments"][0]
	assert not rejected["completed"] and rejected["confirmations"] == []
	assert rejected["validation"]["body"]["ResultCode"] == "C2B00012"
	daraja.receiver.validation_answer = {"ResultCode": "0", "ResultDesc": "Accepted"}
	accepted = daraja.http.post(f"{daraja.base}/simulator/c2b", json={"Amount": "80", "BillRefNumber": "101",
		"MSISDN": PHONE, "validate": True}, timeout=30).json()["payments"][0]
	assert accepted["completed"] and accepted["confirmations"][0]["status"] == 200
	[validation] = [c for c in daraja.receiver.on("/c2b/validate") if c["body"]["BillRefNumber"] == "101"]
	[confirmation] = daraja.receiver.on("/c2b/confirm")
	assert validation["at"] < confirmation["at"] and validation["body"]["OrgAccountBalance"] == ""
	assert confirmation["body"]["MSISDN"] == hashlib.sha256(PHONE.encode()).hexdigest()  # v1 registration
	assert [row["BillRefNumber"] for row in daraja.get("/simulator/c2b")] == ["101"]


def test_pull_transactions_lists_the_books_c2b_payments_including_missed_ones(daraja):
	empty = daraja.post("/pulltransactions/v1/query", {"ShortCode": "600100", "StartDate": "", "EndDate": "",
		"OffSetValue": "0"})
	assert empty.status_code == 200 and empty.json()["ResponseCode"] == "1001"
	daraja.register("v2")
	old = (datetime.now(EAT) - timedelta(hours=50)).strftime("%Y%m%d%H%M%S")
	pushed = daraja.http.post(f"{daraja.base}/simulator/c2b", json={"concurrency": 4, "payments": [
		{"TransID": "SKP0000001", "Amount": "100", "BillRefNumber": "101"},
		{"TransID": "SKP0000002", "Amount": "250.50", "BillRefNumber": "102", "copies": 0},  # the callback is lost
		{"TransID": "SKP0000003", "Amount": "70", "BillRefNumber": "103", "TransTime": old},  # outside 48 h
		{"TransID": "SKP0000004", "Amount": "60", "BillRefNumber": "104", "ShortCode": "600999"},  # not registered
	]}, timeout=30)
	assert pushed.status_code == 200, pushed.text
	assert [len(p["confirmations"]) for p in pushed.json()["payments"]] == [1, 0, 1, 0]
	assert pushed.json()["payments"][3]["note"].startswith("no URLs registered")
	now = datetime.now(EAT)
	answer = daraja.post("/pulltransactions/v1/query", {"ShortCode": "600100",
		"StartDate": (now - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S"),
		"EndDate": (now + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"), "OffSetValue": "0"}).json()
	assert answer["ResponseCode"] == "1000"
	[rows] = answer["Response"]
	assert [row["transactionId"] for row in rows] == ["SKP0000001", "SKP0000002"]
	assert rows[1]["amount"] == "250.50" and rows[1]["billreference"] == "102"
	assert {"trxDate", "msisdn", "transactiontype", "organizationname"} <= set(rows[0])
	other = daraja.post("/pulltransactions/v1/query", {"ShortCode": "600999", "OffSetValue": "0"}).json()
	assert [row["transactionId"] for row in other["Response"][0]] == ["SKP0000004"]
	past = daraja.post("/pulltransactions/v1/query", {"ShortCode": "600100", "OffSetValue": "2"}).json()
	assert past["ResponseCode"] == "1001"


def test_daraja_c2b_simulate_sends_one_confirmation(daraja):
	daraja.register("v2")
	answer = daraja.post("/mpesa/c2b/v2/simulate", {"ShortCode": "600100", "CommandID": "CustomerPayBillOnline",
		"Amount": "20", "Msisdn": PHONE, "BillRefNumber": "101"})
	assert answer.status_code == 200 and answer.json()["ResponseCode"] == "0"
	daraja.settle()
	[confirmation] = daraja.receiver.on("/c2b/confirm")
	assert confirmation["body"]["TransAmount"] == "20.00"


# ---------------------------------------------------------------------- STK, delivery retries, CLI


def test_stk_push_is_recorded_and_acknowledged(daraja):
	body = {"BusinessShortCode": "174379", "Password": "cGFzcw==", "Timestamp": "20260301083000",
		"TransactionType": "CustomerPayBillOnline", "Amount": "1", "PartyA": PHONE, "PartyB": "174379",
		"PhoneNumber": PHONE, "CallBackURL": f"{daraja.receiver.url}/stk", "AccountReference": "DRV-001",
		"TransactionDesc": "repay"}
	answer = daraja.post("/mpesa/stkpush/v1/processrequest", body)
	assert answer.status_code == 200
	assert answer.json()["ResponseCode"] == "0" and answer.json()["CheckoutRequestID"].startswith("ws_CO_")
	assert daraja.get("/simulator/stk")[0]["CheckoutRequestID"] == answer.json()["CheckoutRequestID"]
	assert daraja.post("/mpesa/stkpush/v1/processrequest", {**body, "PhoneNumber": "0712"}).status_code == 400


def test_a_callback_is_retried_until_a_restarted_receiver_answers(daraja):
	daraja.sim.callback_backoff = 0.2  # retries 0.2 + 0.4 + 0.8 + 1.6 s apart
	port = free_port()
	ocid = "OC-RESTART"
	body = daraja.b2c_body(ocid, ResultURL=f"http://127.0.0.1:{port}/b2c/result")
	assert daraja.post("/mpesa/b2c/v3/paymentrequest", body).status_code == 200
	deadline = time.monotonic() + 10
	while not any(d["error"] for d in daraja.get("/simulator/callbacks")["deliveries"]):  # nothing listens yet
		assert time.monotonic() < deadline
		time.sleep(0.02)
	app, server, thread = start_receiver(port)
	try:
		[delivery] = daraja.settle()
		assert delivery["attempts"] > 1 and delivery["status"] == 200 and delivery["error"] is None
		[call] = app.on("/b2c/result")
		assert call["body"]["Result"]["OriginatorConversationID"] == ocid
	finally:
		stop(server, thread)
	assert len(daraja.get("/simulator/payments")) == 1


def test_run_forever_prints_where_it_listens_and_serves(tmp_path):
	port = free_port()
	code = f"from ledger_app.gateways.simulator import run_forever; run_forever('127.0.0.1', {port})"
	process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
		env={**os.environ, "PYTHONUNBUFFERED": "1"})
	try:
		assert process.stdout.readline().strip() == f"simulator listening on http://127.0.0.1:{port}"
		token = requests.get(f"http://127.0.0.1:{port}/oauth/v1/generate", params={"grant_type": "client_credentials"},
			auth=("any", "pair"), timeout=10)
		assert token.status_code == 200
	finally:
		process.terminate()
		process.wait(timeout=10)


def test_outcome_parser_names_the_valid_forms():
	assert sim_module.parse_outcome("fail:2001").arg == 2001
	assert sim_module.parse_outcome("fail:SFC_IC0003").arg == "SFC_IC0003"
	with pytest.raises(ValueError, match="valid outcomes"):
		sim_module.parse_outcome("fial:1")
	with pytest.raises(ValueError):
		sim_module.parse_outcome("fail:0")
