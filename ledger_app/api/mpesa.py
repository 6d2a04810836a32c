"""M-Pesa Daraja callbacks (guest, POST, ``?token=`` secret, IP allow-list when set).

Each answers Daraja's own JSON at the top level (a raw response, not ``{"message": ...}``).  The raw
body is logged first; a refused callback changes nothing but its log row.  The methods read the raw
body, never their keyword arguments, so they are ``xss_safe``: Frappe does not run ``sanitize_html``
(an HTML parse) on each of the body's top-level strings for them.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from ledger_app import host
from ledger_app.engine import callbacks, drivers, json_input, payouts
from ledger_app.engine.errors import LedgerError, ValidationFailed
from ledger_app.engine.settings import get_settings
from ledger_app.gateways import daraja

log = logging.getLogger("ledger_app.mpesa")


_NOT_AN_OBJECT_REASON = "body is not a JSON object"
_NOT_AN_OBJECT = {"ResultCode": 1, "ResultDesc": f"Rejected: {_NOT_AN_OBJECT_REASON}"}


def _receive(endpoint: str, not_an_object: dict = _NOT_AN_OBJECT):
	"""Log the raw callback (the callback token redacted wherever it appears), authenticate it and
	parse its JSON object.

	Returns ``(db, log_name, payload, None)``, or ``(db, log_name, None, refusal_response)``; a body
	that is not a JSON object (or nests deeper than ``json_input.MAX_DEPTH``) is refused with 400 and
	``not_an_object`` as the answer.  Numbers keep their exact literal (``parse_float=Decimal``).
	"""
	db = host.get_db()
	body = host.request_body()
	token = host.secret("callback_token")
	log_name = callbacks.record(db, endpoint, body, host.request_headers(), host.remote_addr(), secrets=(token,))
	refused = callbacks.refusal(host.request_args().get("token"), token, host.remote_addr(),
		get_settings(db, ("allowed_callback_ips",))["allowed_callback_ips"])
	if refused:
		status, reason = refused
		callbacks.finish(db, log_name, "Rejected", status, reason)
		log.warning("callback %s refused: %s (from %s)", endpoint, reason, host.remote_addr())
		return db, log_name, None, host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {reason}"}, status)
	try:
		payload = json_input.loads(body, "body", parse_float=Decimal)
	except ValidationFailed as exc:
		payload = None
		reason = _NOT_AN_OBJECT_REASON if "not valid JSON" in exc.message else exc.message
	else:
		reason = _NOT_AN_OBJECT_REASON
	if not isinstance(payload, dict):
		callbacks.finish(db, log_name, "Rejected", 400, reason)
		answer = not_an_object
		if reason != _NOT_AN_OBJECT_REASON and not_an_object is _NOT_AN_OBJECT:
			answer = {"ResultCode": 1, "ResultDesc": f"Rejected: {reason}"}
		return db, log_name, None, host.raw_json_response(answer, 400)
	return db, log_name, payload, None


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def c2b_validation(**kwargs):
	db, log_name, payload, refused = _receive("c2b_validation", {"ResultCode": "C2B00016", "ResultDesc": "Rejected"})
	if refused is not None:
		return refused
	code, description = drivers.validate_c2b(db, payload)
	callbacks.finish(db, log_name, "Processed" if code == "0" else "Rejected", 200, None if code == "0" else code,
		reference=str(payload.get("BillRefNumber") or "") or None)
	return host.raw_json_response({"ResultCode": code, "ResultDesc": description})


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def c2b_confirmation(**kwargs):
	db, log_name, payload, refused = _receive("c2b_confirmation")
	if refused is not None:
		return refused
	try:
		payment = drivers.parse_c2b(payload, payment_made=True)
		outcome = drivers.confirm_c2b(db, payment, callback_log=log_name)
	except LedgerError as exc:
		callbacks.finish(db, log_name, "Rejected", 400, exc.message, reference=str(payload.get("TransID") or "") or None)
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {exc.message}"}, 400)
	except Exception as exc:  # the body is in the log; staff can replay it with record_missed_payment
		log.exception("c2b confirmation failed")
		host.log_error("C2B confirmation failed", f"callback log {log_name}: {exc!r}")
		callbacks.finish(db, log_name, "Failed", 500, repr(exc)[:1000], reference=str(payload.get("TransID") or "") or None)
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": "Temporary error, retry"}, 500)
	if outcome.payout:
		host.enqueue_after_commit("ledger_app.jobs.dispatch_payouts")
	return host.raw_json_response({"ResultCode": 0, "ResultDesc": "Success"})


def _payout_callback(endpoint: str, apply):
	"""Shared shape of the B2C callbacks: log, authenticate, parse, apply once, acknowledge."""
	db, log_name, payload, refused = _receive(endpoint)
	if refused is not None:
		return refused
	try:
		reference, note = apply(db, payload)
	except (ValueError, LedgerError) as exc:
		message = exc.message if isinstance(exc, LedgerError) else str(exc)
		callbacks.finish(db, log_name, "Rejected", 400, message)
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {message}"}, 400)
	except Exception as exc:  # kept in the log; the sweeper's status query settles the payout anyway
		log.exception("%s failed", endpoint)
		host.log_error(f"{endpoint} failed", f"callback log {log_name}: {exc!r}")
		callbacks.finish(db, log_name, "Failed", 500, repr(exc)[:1000])
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": "Temporary error, retry"}, 500)
	callbacks.finish(db, log_name, callbacks.outcome_status(note), 200, note, reference=reference)
	return host.raw_json_response({"ResultCode": 0, "ResultDesc": "Accepted"})


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def b2c_result(**kwargs):
	def apply(db, payload):
		result = daraja.parse_b2c_result(payload)
		outcome = payouts.record_result(db, result["originator_conversation_id"], result["result_code"],
			result.get("result_desc") or "", receipt=result.get("receipt") or result.get("transaction_id"),
			conversation_id=result.get("conversation_id"), amount=result.get("amount"))
		return result["originator_conversation_id"], outcome["mismatch"] or ("duplicate" if outcome["duplicate"] else None)

	return _payout_callback("b2c_result", apply)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def b2c_timeout(**kwargs):
	def apply(db, payload):
		ocid = daraja.parse_timeout(payload)
		outcome = payouts.mark_unknown(db, ocid, "gateway queue timeout: outcome unknown until Transaction Status")
		return ocid, "duplicate" if outcome["duplicate"] else None

	return _payout_callback("b2c_timeout", apply)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def transaction_status_result(**kwargs):
	def apply(db, payload):
		status = daraja.parse_status_result(payload)
		ocid = payouts.payout_for_status(db, status["originator_conversation_id"], status["conversation_id"])
		if str(status.get("result_code")) == "0" and status.get("transaction_status") == "Completed" and status.get("receipt"):
			outcome = payouts.record_result(db, ocid, "0", "Completed (Transaction Status)", receipt=status["receipt"])
		elif str(status.get("result_code")) == "0" and status.get("transaction_status") in ("Failed", "Declined", "Cancelled"):
			outcome = payouts.record_result(db, ocid, status.get("transaction_status"), "Transaction Status")
		elif str(status.get("result_code")) != "0":
			outcome = payouts.record_not_found(db, ocid, f"Transaction Status: {status.get('result_code')} {status.get('result_desc') or ''}")
		else:
			return ocid, f"status {status.get('transaction_status')}: still unknown"
		return ocid, "duplicate" if outcome["duplicate"] else None

	return _payout_callback("transaction_status_result", apply)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def transaction_status_timeout(**kwargs):
	def apply(db, payload):
		return daraja.parse_timeout(payload), "status query timed out; the sweeper asks again"

	return _payout_callback("transaction_status_timeout", apply)
