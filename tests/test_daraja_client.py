"""The production Daraja client, its callback parsers and the circuit breaker / failover.

The client talks real HTTP to the Daraja simulator (waitress in a thread on loopback); a small
receiving server stands in for the ledger host and records the callbacks.  The parsers are also run
on Daraja's documented sample bodies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from decimal import Decimal

import pytest
import requests
import waitress
from werkzeug.wrappers import Request, Response

from ledger_app.engine.payout_gateway import (
	ACCEPTED,
	DUPLICATE,
	REJECTED,
	UNAVAILABLE,
	UNKNOWN,
	PayoutRequest,
	SubmitOutcome,
)
from ledger_app.gateways import daraja
from ledger_app.gateways.breaker import CLOSED, HALF_OPEN, OPEN, GatewayRouter, GuardedGateway
from ledger_app.gateways.breaker_store import BreakerState, MemoryStore
from ledger_app.gateways.daraja import DarajaGateway, parse_b2c_result, parse_status_result, parse_timeout
from ledger_app.gateways.simulator import Simulator, base_url, serve, stop
from tests.support import free_port

KEY, SECRET = "client-key", "client-secret-DO-NOT-LOG"
CREDENTIAL = "security-credential-DO-NOT-LOG"
PHONE = "254708374149"


# --- plumbing ----------------------------------------------------------------------------------


class Receiver:
	"""Records every callback POSTed to it and acknowledges like the ledger host."""

	def __init__(self):
		self.lock = threading.Lock()
		self.calls: list[tuple[str, bytes]] = []

	def __call__(self, environ, start_response):
		request = Request(environ)
		with self.lock:
			self.calls.append((request.path, request.get_data()))
		return Response(json.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}), mimetype="application/json")(
			environ, start_response)

	def bodies(self, path: str) -> list[bytes]:
		with self.lock:
			return [body for p, body in self.calls if p == path]


CALLBACKS = {"url": "http://127.0.0.1:9"}  # the module's receiver once it runs


@pytest.fixture(autouse=True)
def fresh_tokens():
	daraja.clear_token_cache()
	yield
	daraja.clear_token_cache()


@pytest.fixture(scope="module")
def receiver():
	app = Receiver()
	server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
	thread = threading.Thread(target=server.run, daemon=True)
	thread.start()
	app.url = CALLBACKS["url"] = f"http://127.0.0.1:{server.effective_port}"
	yield app
	server.close()
	thread.join(5)


def start_simulator(**options):
	options.setdefault("callback_attempts", 1)
	simulator = Simulator(consumer_key=KEY, consumer_secret=SECRET, shortcode="600100", **options)
	server, thread = serve("127.0.0.1", 0, simulator=simulator)
	return simulator, server, thread


@pytest.fixture
def sim(receiver):
	simulator, server, thread = start_simulator()
	simulator.url = base_url(server)
	simulator.callbacks_to = receiver.url
	yield simulator
	stop(server, thread)


def gateway(url: str, name: str = "daraja", timeout=(2, 10)) -> DarajaGateway:
	return DarajaGateway(name, url, KEY, SECRET, "600100", "testapi", CREDENTIAL, timeout=timeout)


def scenario(url: str, **body) -> dict:
	response = requests.post(f"{url}/simulator/scenario", json=body, timeout=5)
	assert response.status_code == 200, response.text
	return response.json()


def payout(ocid: str, amount="100", callbacks: str | None = None) -> PayoutRequest:
	callbacks = callbacks or CALLBACKS["url"]
	return PayoutRequest(originator_conversation_id=ocid, amount=Decimal(amount), phone=PHONE, remarks="Driver share",
		result_url=f"{callbacks}/result", timeout_url=f"{callbacks}/timeout", occasion="Daily payout")


def requests_for(simulator: Simulator, ocid: str) -> list[dict]:
	return [entry for entry in simulator.b2c_requests() if entry["OriginatorConversationID"] == ocid]


# --- the client against the simulator ------------------------------------------------------------


def test_b2c_accepted_and_its_result_callback_parses(sim, receiver):
	client = gateway(sim.url)
	outcome = client.submit_b2c(payout("ocid-accept-1", "150.00", receiver.url))
	assert outcome.status == ACCEPTED
	assert outcome.conversation_id and outcome.conversation_id.startswith("AG_")
	(entry,) = requests_for(sim, "ocid-accept-1")
	body = entry["body"]
	assert body["CommandID"] == "BusinessPayment" and body["Amount"] == "150" and body["PartyA"] == "600100"
	assert body["PartyB"] == PHONE and body["InitiatorName"] == "testapi" and body["Occassion"] == "Daily payout"
	assert sim.wait_idle(5)
	(raw,) = [body for body in receiver.bodies("/result") if b"ocid-accept-1" in body]
	result = parse_b2c_result(raw)
	assert result["originator_conversation_id"] == "ocid-accept-1"
	assert result["conversation_id"] == outcome.conversation_id
	assert result["result_code"] == "0" and result["amount"] == Decimal("150")
	assert result["receipt"] == result["transaction_id"] == sim.payments()[0]["TransactionID"]


def test_token_fetched_once_and_shared_by_eight_threads(receiver):
	# single_token: every new token invalidates the previous one, as Daraja's FAQ warns; a thread that
	# fetched its own token would break the others' calls.
	simulator, server, thread = start_simulator(single_token=True)
	try:
		url = base_url(server)
		barrier = threading.Barrier(8)
		outcomes: list[SubmitOutcome] = []
		lock = threading.Lock()

		def work(i: int):
			client = gateway(url, name="daraja")  # a client per thread, as separate workers would build
			barrier.wait()
			for j in range(3):
				outcome = client.submit_b2c(payout(f"ocid-thread-{i}-{j}"))
				with lock:
					outcomes.append(outcome)

		threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
		for t in threads:
			t.start()
		for t in threads:
			t.join(30)
		assert [o.status for o in outcomes] == [ACCEPTED] * 24
		assert daraja.token_fetches(url, KEY) == 1
		assert len(simulator.b2c_requests()) == 24
	finally:
		stop(server, thread)


def test_duplicate_originator_conversation_id_is_duplicate(sim):
	client = gateway(sim.url)
	assert client.submit_b2c(payout("ocid-dup")).status == ACCEPTED
	again = client.submit_b2c(payout("ocid-dup"))
	assert again.status == DUPLICATE and again.error_code == "500.002.1001"
	assert len(sim.payments()) == 1


def test_http_500_is_unknown(sim):
	scenario(sim.url, b2c=["http_500"])
	outcome = gateway(sim.url).submit_b2c(payout("ocid-500"))
	assert outcome.status == UNKNOWN and outcome.error_code == "500.003.1001"
	assert sim.payments() == []


def test_http_500_after_accept_is_unknown_and_the_retry_is_duplicate(sim):
	scenario(sim.url, b2c=["http_500_after_accept"])
	client = gateway(sim.url)
	assert client.submit_b2c(payout("ocid-500-after")).status == UNKNOWN
	assert client.submit_b2c(payout("ocid-500-after")).status == DUPLICATE  # same id: never paid twice
	assert len(sim.payments()) == 1


def test_read_timeout_is_unknown(sim):
	scenario(sim.url, b2c=["slow:1.5"])
	client = gateway(sim.url, timeout=(2, 0.5))
	outcome = client.submit_b2c(payout("ocid-slow"))
	assert outcome.status == UNKNOWN and outcome.error_code == "timeout"


def test_connection_refused_is_unknown():
	url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
	outcome = gateway(url, timeout=(1, 1)).submit_b2c(payout("ocid-refused"))
	assert outcome.status == UNKNOWN and outcome.error_code == "oauth"
	assert "ConnectionError" in outcome.message


def test_validation_error_is_rejected(sim):
	outcome = gateway(sim.url).submit_b2c(payout("ocid-small", "5"))  # below Daraja's KES 10 minimum
	assert outcome.status == REJECTED and outcome.error_code == "400.002.02"
	assert "Amount" in outcome.message


def test_amount_that_is_not_whole_is_rejected_without_a_call(sim):
	outcome = gateway(sim.url).submit_b2c(payout("ocid-cents", "100.50"))
	assert outcome.status == REJECTED and outcome.error_code == "invalid_request"
	assert sim.b2c_requests() == []


def test_expired_token_is_refreshed_once(sim, caplog):
	caplog.set_level(logging.DEBUG)
	client = gateway(sim.url)
	assert client.submit_b2c(payout("ocid-tok-1")).status == ACCEPTED
	token = client.access_token()
	scenario(sim.url, expire_tokens=True)
	assert client.submit_b2c(payout("ocid-tok-2")).status == ACCEPTED
	assert daraja.token_fetches(sim.url, KEY) == 2
	assert client.access_token() != token
	statuses = [entry.get("http_status") for entry in sim.b2c_requests()]
	assert statuses == [200, 200]  # the refused call never reached B2C (401 before it)
	for secret in (SECRET, CREDENTIAL, token, client.access_token()):
		assert secret not in caplog.text
	assert SECRET not in repr(client) and CREDENTIAL not in repr(client)


def test_token_refused_twice_is_unknown(sim):
	sim._token_ok = lambda request: False  # this Daraja refuses every token, even a fresh one
	outcome = gateway(sim.url).submit_b2c(payout("ocid-tok-bad"))
	assert outcome.status == UNKNOWN and outcome.error_code == "401.002.01"
	assert daraja.token_fetches(sim.url, KEY) == 2  # the first token and one refresh, no more


def test_wrong_credentials_are_unknown(sim):
	client = DarajaGateway("daraja", sim.url, KEY, "wrong-secret", "600100", "testapi", CREDENTIAL)
	outcome = client.submit_b2c(payout("ocid-creds"))
	assert outcome.status == UNKNOWN and outcome.error_code == "oauth" and "400.008.01" in outcome.message
	assert sim.b2c_requests() == []


def test_transaction_status_query_is_accepted_and_its_result_parses(sim, receiver):
	client = gateway(sim.url)
	assert client.submit_b2c(payout("ocid-status", "250", receiver.url)).status == ACCEPTED
	outcome = client.query_status("ocid-status", f"{receiver.url}/status/result", f"{receiver.url}/status/timeout")
	assert outcome.status == ACCEPTED and outcome.conversation_id
	(query,) = sim.status_queries()
	body = query["body"]
	assert body["CommandID"] == "TransactionStatusQuery" and body["IdentifierType"] == "4"
	assert body["OriginalConversationID"] == "ocid-status" and body["PartyA"] == "600100"
	assert "TransactionID" not in body
	assert sim.wait_idle(5)
	(raw,) = [body for body in receiver.bodies("/status/result") if b"ocid-status" in body]
	status = parse_status_result(raw)
	assert status["originator_conversation_id"] == "ocid-status"  # the payout's, not the query's own id
	assert status["result_code"] == "0" and status["transaction_status"] == "Completed"
	assert status["receipt"] == sim.payments()[0]["TransactionID"] and status["amount"] == Decimal("250")
	assert status["conversation_id"] == outcome.conversation_id  # a failed result correlates by this


def test_stk_push_is_accepted(sim):
	outcome = gateway(sim.url).stk_push(PHONE, Decimal("50"), "DRV-001", "Repayment", "https://example.org/stk",
		passkey="bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919")
	assert outcome.status == ACCEPTED and outcome.conversation_id.startswith("ws_CO_")


# --- the parsers on Daraja's documented samples ----------------------------------------------------

A11_SUCCESS = """{ "Result": { "ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
  "OriginatorConversationID": "53e3-4aa8-9fe0-8fb5e4092cdd3533373",
  "ConversationID": "AG_20240706_2010364430d9bbdaf872", "TransactionID": "SG632NMUAB",
  "ResultParameters": { "ResultParameter": [
    {"Key": "TransactionAmount", "Value": 10}, {"Key": "TransactionReceipt", "Value": "SG632NMUAB"},
    {"Key": "ReceiverPartyPublicName", "Value": "254705912645 - NICHOLAS JOHN SONGOK"},
    {"Key": "TransactionCompletedDateTime", "Value": "06.07.2024 22:48:52"},
    {"Key": "B2CUtilityAccountAvailableFunds", "Value": 8959269.60},
    {"Key": "B2CWorkingAccountAvailableFunds", "Value": 1199371.00},
    {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
    {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -1980.00} ]},
  "ReferenceData": { "ReferenceItem": {"Key": "QueueTimeoutURL",
    "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"} } } }"""

A11_FAILURE = {"Result": {"ResultType": 0, "ResultCode": 2001, "ResultDesc": "The initiator information is invalid.",
	"OriginatorConversationID": "29112-34801843-1", "ConversationID": "AG_20240707_201062f6f6f5804f7a33",
	"TransactionID": "SG722NMVXQ", "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL",
	"Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"}}}}

A13_STATUS = {"Result": {"ConversationID": "AG_20180223_0000493344ae97d86f75", "OriginatorConversationID": "3213-416199-2",
	"ReferenceData": {"ReferenceItem": {"Key": "Occasion"}}, "ResultCode": 0,
	"ResultDesc": "The service request is processed successfully.", "ResultType": 0, "TransactionID": "MBN0000000",
	"ResultParameters": {"ResultParameter": [
		{"Key": "DebitPartyName", "Value": "600310 - Safaricom333"}, {"Key": "DebitPartyName", "Value": "254708374149 - John Doe"},
		{"Key": "Originator Conversation ID", "Value": "3211-416020-3"}, {"Key": "InitiatedTime", "Value": "20180223054112"},
		{"Key": "DebitAccountType", "Value": "Utility Account"},
		{"Key": "DebitPartyCharges", "Value": "Fee For B2C Payment|KES|22.40"}, {"Key": "TransactionReason"},
		{"Key": "ReasonType", "Value": "Business Payment to Customer via API"},
		{"Key": "TransactionStatus", "Value": "Completed"}, {"Key": "FinalisedTime", "Value": "20180223054112"},
		{"Key": "Amount", "Value": "300"}, {"Key": "ConversationID", "Value": "AG_20180223_000041b09c22e613d6c9"},
		{"Key": "ReceiptNo", "Value": "MBN31H462N"}]}}}


def test_parse_b2c_success_sample():
	result = parse_b2c_result(A11_SUCCESS)
	assert result["originator_conversation_id"] == "53e3-4aa8-9fe0-8fb5e4092cdd3533373"
	assert result["conversation_id"] == "AG_20240706_2010364430d9bbdaf872"
	assert result["result_code"] == "0" and result["result_desc"].startswith("The service request")
	assert result["transaction_id"] == result["receipt"] == "SG632NMUAB"
	assert result["amount"] == Decimal("10")
	assert result["parameters"]["b2cutilityaccountavailablefunds"] == Decimal("8959269.60")  # exact, never a float
	# the same body already parsed (floats and all), and with the parameters in another order
	body = json.loads(A11_SUCCESS)
	body["Result"]["ResultParameters"]["ResultParameter"].reverse()
	assert parse_b2c_result(body)["amount"] == Decimal("10")


def test_parse_b2c_failure_without_result_parameters():
	result = parse_b2c_result(A11_FAILURE)
	assert result["result_code"] == "2001" and result["result_desc"] == "The initiator information is invalid."
	assert result["transaction_id"] == "SG722NMVXQ"
	assert result["receipt"] is None and result["amount"] is None  # a failure pays nothing


def test_parse_b2c_string_result_codes_and_bare_parameter_list():
	body = json.loads(json.dumps(A11_FAILURE))
	body["Result"]["ResultCode"] = "SFC_IC0003"
	assert parse_b2c_result(body)["result_code"] == "SFC_IC0003"
	body["Result"]["ResultCode"] = "0"
	body["Result"]["ResultParameters"] = [{"Key": "TransactionAmount", "Value": "10.00"},
		{"Key": "TransactionReceipt", "Value": "SG632NMUAB"}]  # mpesakit's bare-list shape
	result = parse_b2c_result(body)
	assert result["result_code"] == "0" and result["amount"] == Decimal("10.00") and result["receipt"] == "SG632NMUAB"


def test_parse_timeout_both_shapes():
	envelope = {"Result": {"ResultType": 1, "ResultCode": 1, "ResultDesc": "The service request has timed out.",
		"OriginatorConversationID": "ocid-timeout-1", "ConversationID": "AG_1"}}
	echo = {"InitiatorName": "testapi", "SecurityCredential": "x", "CommandID": "BusinessPayment", "Amount": "10",
		"PartyA": "600992", "PartyB": "254705912645", "Remarks": "remarked", "QueueTimeOutURL": "https://x/t",
		"ResultURL": "https://x/r", "OriginatorConversationID": "ocid-timeout-2"}
	assert parse_timeout(envelope) == "ocid-timeout-1"
	assert parse_timeout(json.dumps(echo).encode()) == "ocid-timeout-2"


def test_parse_status_sample_with_keys_with_spaces():
	status = parse_status_result(A13_STATUS)
	assert status["originator_conversation_id"] == "3211-416020-3"  # the parameter, not the query's id
	assert status["result_code"] == "0" and status["transaction_status"] == "Completed"
	assert status["receipt"] == "MBN31H462N" and status["amount"] == Decimal("300")
	assert status["parameters"]["debitpartyname"] == "600310 - Safaricom333"  # repeated key: first kept
	assert status["parameters"]["transactionreason"] is None
	failed = {"Result": {"ResultType": 0, "ResultCode": "SFC_IC0003", "ResultDesc": "The operator does not exist.",
		"OriginatorConversationID": "query-ocid", "ConversationID": "AG_query"}}
	status = parse_status_result(failed)
	assert status["result_code"] == "SFC_IC0003" and status["originator_conversation_id"] == "query-ocid"
	assert status["conversation_id"] == "AG_query" and status["receipt"] is None and status["transaction_status"] is None


@pytest.mark.parametrize("body, message", [
	(b"not json", "not valid JSON"),
	([1, 2], "must be a JSON object"),
	({"ResultCode": 0}, "no 'Result' object"),
	({"Result": {"OriginatorConversationID": "x"}}, "'ResultCode' is required"),
	({"Result": {"ResultCode": True, "OriginatorConversationID": "x"}}, "ResultCode"),
	({"Result": {"ResultCode": 0}}, "'OriginatorConversationID' is required"),
	({"Result": {"ResultCode": 0, "OriginatorConversationID": "x", "ResultParameters": {"Other": []}}}, "ResultParameter"),
	({"Result": {"ResultCode": 0, "OriginatorConversationID": "x", "ResultParameters": [{"Value": 1}]}}, "'Key'"),
	({"Result": {"ResultCode": 0, "OriginatorConversationID": "x",
		"ResultParameters": [{"Key": "TransactionAmount", "Value": "ten"}]}}, "TransactionAmount"),
])
def test_parse_b2c_result_refuses_bad_input(body, message):
	with pytest.raises(ValueError, match=message):
		parse_b2c_result(body)


def test_parse_timeout_and_status_refuse_bad_input():
	with pytest.raises(ValueError, match="OriginatorConversationID"):
		parse_timeout({"Result": {"ResultCode": 1}})
	with pytest.raises(ValueError, match="JSON object"):
		parse_timeout("[]")
	with pytest.raises(ValueError, match="OriginatorConversationID"):
		parse_status_result({"Result": {"ResultCode": 0}})


# --- circuit breaker and failover ------------------------------------------------------------------


class Raising:
	"""A gateway whose calls raise, like a bug in a client."""

	name = "raising"

	def __init__(self):
		self.calls = 0

	def submit_b2c(self, request):
		self.calls += 1
		raise RuntimeError("boom")

	def query_status(self, *args):
		raise RuntimeError("boom")


def test_breaker_opens_after_n_unknowns_stops_calling_and_half_opens(sim):
	opened: list[str] = []
	now = [1000.0]  # the breaker's clock, moved by hand: no sleeping, no race with a slow machine
	guarded = GuardedGateway(gateway(sim.url), fail_max=3, reset_timeout=30, clock=lambda: now[0])
	router = GatewayRouter([guarded], on_open=opened.append)
	scenario(sim.url, b2c_default="http_500")
	for i in range(3):
		assert router.submit_b2c(payout(f"ocid-br-{i}")).status == UNKNOWN
	assert guarded.state == OPEN and opened == ["daraja"]
	outcome = router.submit_b2c(payout("ocid-br-3"))
	assert outcome.status == UNAVAILABLE and outcome.gateway is None
	assert guarded.submit_b2c(payout("ocid-br-3")).status == UNAVAILABLE
	assert len(sim.b2c_requests()) == 3  # the open circuit called nothing
	now[0] += 29.9
	assert guarded.state == OPEN
	now[0] += 0.1
	assert guarded.state == HALF_OPEN
	assert guarded.submit_b2c(payout("ocid-br-4")).status == UNKNOWN  # the probe fails: open again
	assert guarded.state == OPEN and opened == ["daraja"]  # alerted once, not on every failed probe
	now[0] += 30
	scenario(sim.url, b2c_default="success", b2c=["slow:1"])
	results = {}
	probe = threading.Thread(target=lambda: results.setdefault("probe", guarded.submit_b2c(payout("ocid-br-5"))))
	probe.start()
	deadline = time.monotonic() + 5
	while len(sim.b2c_requests()) < 5 and time.monotonic() < deadline:  # the probe is at the gateway
		time.sleep(0.01)
	assert guarded.submit_b2c(payout("ocid-br-6")).status == UNAVAILABLE  # one probe at a time
	probe.join(5)
	assert results["probe"].status == ACCEPTED and guarded.state == CLOSED
	assert guarded.submit_b2c(payout("ocid-br-6")).status == ACCEPTED
	assert len(sim.b2c_requests()) == 6


def test_successes_reset_the_count_and_exceptions_are_failures(sim):
	guarded = GuardedGateway(gateway(sim.url), fail_max=2, reset_timeout=30)
	scenario(sim.url, b2c=["http_500", "success", "http_500", "fail:2001"])
	assert guarded.submit_b2c(payout("ocid-c-1")).status == UNKNOWN
	assert guarded.submit_b2c(payout("ocid-c-2")).status == ACCEPTED
	assert guarded.submit_b2c(payout("ocid-c-3")).status == UNKNOWN
	assert guarded.submit_b2c(payout("ocid-c-4")).status == ACCEPTED  # fails later, by callback: still an answer
	assert guarded.submit_b2c(payout("ocid-c-2")).status == DUPLICATE
	assert guarded.submit_b2c(payout("ocid-c-5", "5")).status == REJECTED
	assert guarded.state == CLOSED
	raising = Raising()
	broken = GuardedGateway(raising, fail_max=2, reset_timeout=30)
	first = broken.submit_b2c(payout("ocid-x"))
	assert first.status == UNKNOWN and first.error_code == "exception" and "boom" in first.message
	broken.submit_b2c(payout("ocid-x"))
	assert broken.state == OPEN and broken.submit_b2c(payout("ocid-x")).status == UNAVAILABLE and raising.calls == 2


def test_failover_to_the_second_gateway_only_before_a_first_submission(sim):
	dead = gateway(f"http://127.0.0.1:{free_port()}", name="primary", timeout=(1, 1))
	primary = GuardedGateway(dead, fail_max=2, reset_timeout=30)
	secondary = GuardedGateway(gateway(sim.url, name="secondary"), fail_max=2, reset_timeout=30)
	opened: list[str] = []
	router = GatewayRouter([primary, secondary], on_open=opened.append)

	# unknown on the primary is returned as it is: never sent on to the secondary
	first = router.submit_b2c(payout("ocid-f-1"))
	assert first.status == UNKNOWN and first.gateway == "primary"
	assert sim.b2c_requests() == []
	# a payout already tried on the primary stays pinned there
	assert router.submit_b2c(payout("ocid-f-1"), pinned="primary").status == UNKNOWN
	assert primary.state == OPEN and opened == ["primary"]
	pinned = router.submit_b2c(payout("ocid-f-1"), pinned="primary")
	assert pinned.status == UNAVAILABLE and pinned.gateway == "primary"
	assert sim.b2c_requests() == []  # the pinned payout never went to the secondary

	# a new payout fails over; before_call names the gateway before anything is sent
	chosen: list[tuple[str, int]] = []
	routed = router.submit_b2c(payout("ocid-f-2"),
		before_call=lambda name: chosen.append((name, len(sim.b2c_requests()))))
	assert routed.status == ACCEPTED and routed.gateway == "secondary"
	assert chosen == [("secondary", 0)]
	assert [entry["OriginatorConversationID"] for entry in sim.b2c_requests()] == ["ocid-f-2"]

	# before_call refusing (the pin could not be recorded): nothing is sent
	def refuse(name):
		raise RuntimeError("could not record the gateway")

	with pytest.raises(RuntimeError):
		router.submit_b2c(payout("ocid-f-3"), before_call=refuse)
	assert len(sim.b2c_requests()) == 1

	# Transaction Status goes to the payout's own gateway
	assert router.query_status("secondary", "ocid-f-2", f"{sim.callbacks_to}/s", f"{sim.callbacks_to}/t").status == ACCEPTED
	assert router.query_status("primary", "ocid-f-1", f"{sim.callbacks_to}/s", f"{sim.callbacks_to}/t").status == UNAVAILABLE

	# every gateway open: nothing is called, the payout stays Queued
	scenario(sim.url, b2c_default="http_500")
	router.submit_b2c(payout("ocid-f-4"))
	router.submit_b2c(payout("ocid-f-4"), pinned="secondary")
	assert router.states() == {"primary": OPEN, "secondary": OPEN} and opened == ["primary", "secondary"]
	before = len(sim.b2c_requests())
	outcome = router.submit_b2c(payout("ocid-f-5"))
	assert outcome.status == UNAVAILABLE and outcome.gateway is None
	assert len(sim.b2c_requests()) == before
	with pytest.raises(ValueError, match="no gateway named"):
		router.submit_b2c(payout("ocid-f-5"), pinned="tertiary")


def test_pinned_payout_never_fails_over_even_while_its_gateway_answers_unknown(sim, receiver):
	scenario(sim.url, b2c_default="http_500")
	other_sim, server, thread = start_simulator()
	try:
		first = GuardedGateway(gateway(sim.url, name="a"), fail_max=100)
		second = GuardedGateway(gateway(base_url(server), name="b"), fail_max=100)
		router = GatewayRouter([first, second])
		for _ in range(5):
			assert router.submit_b2c(payout("ocid-pin"), pinned="a").status == UNKNOWN
		assert other_sim.b2c_requests() == [] and len(requests_for(sim, "ocid-pin")) == 5
		assert router.submit_b2c(payout("ocid-pin-b"), pinned="b").status == ACCEPTED
		assert len(sim.b2c_requests()) == 5
	finally:
		stop(server, thread)


def test_breakers_sharing_a_store_are_one_breaker():
	"""What a bench gets from its Redis store (its in-app tests show that across processes): each
	request or job builds its own GuardedGateway, and the failures of one open the circuit for all."""
	now = [1000.0]
	store = MemoryStore(clock=lambda: now[0])
	first, second = Raising(), Raising()
	guarded_first = GuardedGateway(first, fail_max=3, reset_timeout=30, store=store)
	guarded_second = GuardedGateway(second, fail_max=3, reset_timeout=30, store=store)
	for guarded in (guarded_first, guarded_second, guarded_first):
		assert guarded.submit_b2c(payout("ocid-shared")).status == UNKNOWN
	assert guarded_second.state == OPEN and guarded_second.failures == 0
	assert guarded_second.submit_b2c(payout("ocid-shared")).status == UNAVAILABLE
	assert (first.calls, second.calls) == (2, 1)
	now[0] += 30
	assert guarded_first.state == guarded_second.state == HALF_OPEN
	with pytest.raises(ValueError, match="brings its own clock"):
		GuardedGateway(first, store=store, clock=lambda: 0.0)


def test_a_probe_lost_with_its_process_frees_the_half_open_circuit_after_probe_timeout():
	now = [1000.0]
	store = MemoryStore(clock=lambda: now[0])
	guarded = GuardedGateway(Raising(), fail_max=1, reset_timeout=30, store=store, probe_timeout=120)
	assert guarded.submit_b2c(payout("ocid-lost")).status == UNKNOWN
	now[0] += 30
	# a process takes the probe (what it does right before the call) and dies: nobody will finish it
	ticket, _ = store.update(guarded.name, guarded._admit)
	assert ticket.probe and store.read(guarded.name).state == HALF_OPEN and not guarded.available()
	assert guarded.submit_b2c(payout("ocid-lost")).status == UNAVAILABLE
	now[0] += 120
	assert guarded.available()
	assert guarded.submit_b2c(payout("ocid-lost")).status == UNKNOWN and guarded.state == OPEN


def test_breaker_state_survives_its_json_and_unreadable_json_reads_closed():
	state = BreakerState(state=OPEN, failures=0, opened_at=12.5, generation=7, probe_started_at=None)
	assert BreakerState.from_json(state.to_json()) == state
	assert BreakerState.from_json(None) == BreakerState.from_json(b"not json") == BreakerState()


def test_half_open_after_a_short_real_reset_timeout():
	raising = Raising()
	guarded = GuardedGateway(raising, fail_max=1, reset_timeout=0.3)  # the default, real monotonic clock
	assert guarded.submit_b2c(payout("ocid-rt")).status == UNKNOWN
	assert guarded.state == OPEN and not guarded.available()
	time.sleep(0.35)
	assert guarded.state == HALF_OPEN and guarded.available()
	assert guarded.submit_b2c(payout("ocid-rt")).status == UNKNOWN and raising.calls == 2
	assert guarded.state == OPEN
	guarded.reset()
	assert guarded.state == CLOSED
