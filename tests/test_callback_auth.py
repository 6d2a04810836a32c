"""Every gateway callback authenticates before it acts, over real HTTP on every backend and the Frappe
site: C2B validation and confirmation, the B2C result and timeout, the Transaction Status result and
timeout, under both paths (``ledger_app.api.mpesa`` and ``ledger_app.api.daraja``).

A callback without the token (401), with a wrong one (403) or from an address outside the allow-list
(403) changes nothing: no posting, the payout keeps its status; its Callback Log row records the
refusal (status Rejected, the HTTP status, the reason and the remote address).  The same body with
the right token from an allowed address then does act, so each refusal is what kept it from acting.
"""

from __future__ import annotations

import json

import pytest
import requests

from ledger_app.engine import business, drivers, payouts, posting, settings
from tests.support import CALLBACK_TOKEN, count

ENDPOINTS = ("c2b_validation", "c2b_confirmation", "b2c_result", "b2c_timeout", "transaction_status_result",
	"transaction_status_timeout")
MODULES = ("mpesa", "daraja")


def c2b_body(trans_id="QAUTH1"):
	return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260301101500", "TransAmount": "100.00",
		"BusinessShortCode": "600000", "BillRefNumber": "K001", "MSISDN": "2547 ***** 126", "FirstName": "A"}


def callback_body(endpoint: str, ocid: str) -> dict:
	"""A body that acts on the queued payout ``ocid`` (or records a payment) once authenticated."""
	if endpoint in ("c2b_validation", "c2b_confirmation"):
		return c2b_body()
	if endpoint == "b2c_result":
		return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
			"OriginatorConversationID": ocid, "ConversationID": "AG_20260301_AUTH", "TransactionID": "SG632NMUAB",
			"ResultParameters": {"ResultParameter": [{"Key": "TransactionAmount", "Value": 500},
				{"Key": "TransactionReceipt", "Value": "SG632NMUAB"}]}}}
	if endpoint == "transaction_status_result":
		return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
			"OriginatorConversationID": "AG_STATUS_QUERY", "ConversationID": "AG_STATUS_QUERY", "TransactionID": "SG632NMUAB",
			"ResultParameters": {"ResultParameter": [{"Key": "ReceiptNo", "Value": "SG632NMUAB"},
				{"Key": "TransactionStatus", "Value": "Completed"}, {"Key": "Amount", "Value": 500},
				{"Key": "OriginatorConversationID", "Value": ocid}]}}}
	return {"Result": {"ResultType": 0, "ResultCode": 1, "ResultDesc": "The request timed out.",
		"OriginatorConversationID": ocid, "ConversationID": "AG_20260301_AUTH"}}  # both timeouts


@pytest.fixture
def gateway_host(served):
	"""A driver with 500.00 payable, all of it in a Queued payout (no gateway is configured, so it waits)."""
	base, pool = served(callback_token=CALLBACK_TOKEN)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"target_sharing": 0, "instant_payouts": 0,
			"allowed_callback_ips": None}))
		drivers.upsert_driver(db, "D1", "Amina", "0712345678")
		drivers.upsert_vehicle(db, "KTA 001", "K001", driver="D1")
		drivers.confirm_c2b(db, drivers.parse_c2b({**c2b_body("QFUND"), "TransAmount": "500.00"}))
		payout = payouts.request_payout(db, "Fleet Driver", "D1", "pay-auth")
	return base, pool, payout


def state(pool, payout) -> tuple:
	"""Everything a callback could change: the payout, the ledger, the driver's and gateway balances."""
	with pool.connection() as db:
		row = payouts.get_payout(db, payout["name"])
		return (row["status"], row["gateway_receipt"], count(db, "Ledger Transaction"), count(db, "Unmatched Payment"),
			drivers.driver_balances(db, "D1"), posting.balance(db, business.PAYOUTS_IN_FLIGHT),
			posting.balance(db, business.B2C_UTILITY))


def logs(pool) -> list[dict]:
	with pool.connection() as db:
		return db.sql("SELECT `endpoint`, `status`, `http_status`, `error`, `remote_addr`, `body`, `headers`"
			" FROM `tabCallback Log` ORDER BY `creation`, `modified`")


def send(base, module, endpoint, body, token):
	params = {"token": token} if token is not None else None
	return requests.post(f"{base}/api/method/ledger_app.api.{module}.{endpoint}", params=params, json=body, timeout=30)


def refused_answer(endpoint: str, reason: str) -> dict:
	"""Every callback's refusal, the C2B validation's included (its malformed-body answer is Daraja's
	C2B00016, its authentication refusal is not)."""
	return {"ResultCode": 1, "ResultDesc": f"Rejected: {reason}"}


def assert_acts_with_the_right_token(base, pool, payout, module, endpoint, body):
	"""The control: the very body that was refused acts once the token is right."""
	before = state(pool, payout)
	answer = send(base, module, endpoint, body, CALLBACK_TOKEN)
	assert answer.status_code == 200, answer.text
	after = state(pool, payout)
	last = logs(pool)[-1]
	assert (last["endpoint"], last["status"], last["http_status"]) == (endpoint, "Processed", 200)
	if endpoint == "c2b_validation":
		assert answer.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
	elif endpoint == "c2b_confirmation":
		assert after[2] == before[2] + 1 and after[4]["payable"] == before[4]["payable"] + 100
	elif endpoint in ("b2c_result", "transaction_status_result"):
		assert (after[0], after[1]) == ("Paid", "SG632NMUAB") and after[6] == before[6] - 500
	elif endpoint == "b2c_timeout":
		assert after[0] == "Unknown"
	else:  # a status query that timed out is only noted: the sweeper asks again
		assert after == before and "sweeper asks again" in last["error"]


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_callback_without_the_right_token_changes_nothing_and_its_refusal_is_logged(gateway_host, module, endpoint):
	base, pool, payout = gateway_host
	body = callback_body(endpoint, payout["originator_conversation_id"])
	before, logged_before = state(pool, payout), len(logs(pool))
	missing = send(base, module, endpoint, body, None)
	empty = send(base, module, endpoint, body, "")
	wrong = send(base, module, endpoint, body, "not-the-token")
	assert (missing.status_code, empty.status_code, wrong.status_code) == (401, 401, 403), wrong.text
	assert [missing.json(), empty.json(), wrong.json()] == [refused_answer(endpoint, "missing callback token")] * 2 + [
		refused_answer(endpoint, "wrong callback token")]
	assert state(pool, payout) == before  # payout status, postings, balances: all unchanged
	rows = logs(pool)[logged_before:]
	assert [(r["endpoint"], r["status"], r["http_status"], r["error"]) for r in rows] == [
		(endpoint, "Rejected", 401, "missing callback token"), (endpoint, "Rejected", 401, "missing callback token"),
		(endpoint, "Rejected", 403, "wrong callback token")]
	assert all(r["remote_addr"] == "127.0.0.1" for r in rows), rows
	assert all(json.loads(r["body"]) == body for r in rows)
	assert "not-the-token" not in json.dumps(rows)  # the token given is redacted from the log too
	assert_acts_with_the_right_token(base, pool, payout, module, endpoint, body)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_callback_from_outside_the_allow_list_changes_nothing_and_its_refusal_is_logged(gateway_host, endpoint):
	"""The right token from 127.0.0.1 while only Safaricom's network is allowed: 403, and the log row
	names the refused address; once 127.0.0.1 is allowed the same body acts."""
	base, pool, payout = gateway_host
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"allowed_callback_ips": "196.201.214.0/24"}))
	body = callback_body(endpoint, payout["originator_conversation_id"])
	before, logged_before = state(pool, payout), len(logs(pool))
	refused = send(base, "daraja", endpoint, body, CALLBACK_TOKEN)
	reason = "source address 127.0.0.1 is not in the allow-list"
	assert (refused.status_code, refused.json()) == (403, refused_answer(endpoint, reason))
	assert state(pool, payout) == before
	rows = logs(pool)[logged_before:]
	assert [(r["endpoint"], r["status"], r["http_status"], r["error"], r["remote_addr"]) for r in rows] == [
		(endpoint, "Rejected", 403, reason, "127.0.0.1")]
	assert CALLBACK_TOKEN not in json.dumps(rows)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"allowed_callback_ips": "196.201.214.0/24\n127.0.0.1"}))
	assert_acts_with_the_right_token(base, pool, payout, "daraja", endpoint, body)
