"""M-Pesa Daraja callbacks (guest, POST, ``?token=`` secret, IP allow-list when set).

Each answers Daraja's own JSON at the top level (a raw response, not ``{"message": ...}``).  The raw
body is logged first; a refused callback changes nothing but its log row.  The methods read the raw
body, never their keyword arguments, so they are ``xss_safe``: Frappe does not run ``sanitize_html``
(an HTML parse) on each of the body's top-level strings for them.

While the database is unreachable (README "Database outages"): a confirmation whose token is right
(or cannot be compared yet) is appended to the host's spool (``host/spool.py``), made durable and
answered Success; spooled confirmations are replayed, in order and before any new one, through the
same confirm service, which writes the Callback Log row they could not write then.  A validation is
accepted when its body is well formed: the account cannot be looked up, and an unknown one ends in
suspense, where staff assign or refund it; refusing would turn our outage into the customer's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from decimal import Decimal

from ledger_app import host
from ledger_app.db.rows import new_name
from ledger_app.engine import callbacks, clock, drivers, json_input, payouts
from ledger_app.engine.errors import DatabaseUnavailable, LedgerError, ValidationFailed
from ledger_app.engine.settings import get_settings
from ledger_app.gateways import daraja

log = logging.getLogger("ledger_app.mpesa")


_NOT_AN_OBJECT_REASON = "body is not a JSON object"
_NOT_AN_OBJECT = {"ResultCode": 1, "ResultDesc": f"Rejected: {_NOT_AN_OBJECT_REASON}"}


def _receive(endpoint: str, not_an_object: dict = _NOT_AN_OBJECT, log_name: str | None = None):
	"""Log the raw callback (as ``log_name`` when given; the callback token redacted wherever it
	appears), authenticate it and parse its JSON object.

	Returns ``(db, log_name, payload, None)``, or ``(db, log_name, None, refusal_response)``; a body
	that is not a JSON object (or nests deeper than ``json_input.MAX_DEPTH``) is refused with 400 and
	``not_an_object`` as the answer.  Numbers keep their exact literal (``parse_float=Decimal``).
	"""
	db = host.get_db()
	body = host.request_body()
	token = host.secret("callback_token")
	log_name = callbacks.record(db, endpoint, body, host.request_headers(), host.remote_addr(), secrets=(token,),
		name=log_name)
	refused = callbacks.refusal(host.request_args().get("token"), token, host.remote_addr(),
		get_settings(db, ("allowed_callback_ips",))["allowed_callback_ips"])
	if refused:
		status, reason = refused
		callbacks.finish(db, log_name, "Rejected", status, reason)
		log.warning("callback %s refused: %s (from %s)", endpoint, reason, host.remote_addr())
		return db, log_name, None, host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {reason}"}, status)
	if len(body) > json_input.MAX_BYTES:  # never scanned or parsed (a bench lets up to 25 MB through)
		reason = f"body is larger than {json_input.MAX_BYTES} bytes"
		callbacks.finish(db, log_name, "Rejected", 413, reason)
		return db, log_name, None, host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {reason}"}, 413)
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
	try:
		db, log_name, payload, refused = _receive("c2b_validation", {"ResultCode": "C2B00016", "ResultDesc": "Rejected"})
	except DatabaseUnavailable:
		return _validate_without_database()
	if refused is not None:
		return refused
	code, description = drivers.validate_c2b(db, payload)
	callbacks.finish(db, log_name, "Processed" if code == "0" else "Rejected", 200, None if code == "0" else code,
		reference=str(payload.get("BillRefNumber") or "") or None)
	return host.raw_json_response({"ResultCode": code, "ResultDesc": description})


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def c2b_confirmation(**kwargs):
	spool = host.callback_spool()
	log_name = new_name()  # known before the log row is written: the spool entry finishes that row
	try:
		if spool is not None and spool.pending():  # spooled payments go first, in order
			_replay_first(host.get_db())
		db, log_name, payload, refused = _receive("c2b_confirmation", log_name=log_name)
	except DatabaseUnavailable:
		return spool_confirmation(spool, log_name)
	if refused is not None:
		return refused
	try:
		return _confirm(db, log_name, payload)
	except DatabaseUnavailable:  # logged as Received; the replay finishes that row
		return spool_confirmation(spool, log_name)


SUCCESS = {"ResultCode": 0, "ResultDesc": "Success"}


def _confirm(db, log_name: str, payload: dict):
	"""Record the logged confirmation ``payload`` and answer it (``DatabaseUnavailable`` passes)."""
	try:
		payment = drivers.parse_c2b(payload, payment_made=True)
		outcome = drivers.confirm_c2b(db, payment, callback_log=log_name)
	except LedgerError as exc:
		callbacks.finish(db, log_name, "Rejected", 400, exc.message, reference=str(payload.get("TransID") or "") or None)
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {exc.message}"}, 400)
	except DatabaseUnavailable:
		raise
	except Exception as exc:  # the body is in the log; staff can replay it with record_missed_payment
		log.exception("c2b confirmation failed")
		host.log_error("C2B confirmation failed", f"callback log {log_name}: {exc!r}")
		callbacks.finish(db, log_name, "Failed", 500, repr(exc)[:1000], reference=str(payload.get("TransID") or "") or None)
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": "Temporary error, retry"}, 500)
	if outcome.payout:
		host.enqueue_after_commit("ledger_app.jobs.dispatch_payouts")
	return host.raw_json_response(SUCCESS)


def _token_given() -> str | None:
	return host.request_args().get("token")


def spool_confirmation(spool, log_name: str | None = None):
	"""The database is unreachable: refuse a wrong token, else append the confirmation to the spool
	(durable before this returns) and answer Success.  The token is compared with the configured one
	when this process knows it; otherwise its hash is kept and compared when the entry is replayed.
	The allow-list is checked at replay, against the settings then in force."""
	host.database_lost()
	given, expected = _token_given(), host.cached_secret("callback_token")
	refused = _token_refusal_without_database(given, expected)
	if refused:
		log.warning("callback c2b_confirmation refused during an outage: %s (from %s)", refused[1], host.remote_addr())
		return host.raw_json_response({"ResultCode": 1, "ResultDesc": f"Rejected: {refused[1]}"}, refused[0])
	if spool is None:
		raise DatabaseUnavailable("the database is unreachable and this host has no callback spool")
	entry = spool.append("c2b_confirmation", host.request_body(), host.request_headers(), host.remote_addr(),
		clock.now().isoformat(" "), token_checked=expected is not None,
		token_hash=None if expected is not None else _hash(given), name=log_name)
	log.warning("database unreachable: c2b confirmation spooled as %s", entry.id)
	return host.raw_json_response(SUCCESS)


def _token_refusal_without_database(given: str | None, expected: str | None):
	"""``callbacks.token_refusal`` when this process knows the configured token (``expected``); when
	it does not, only a missing token is refused (the one sent is compared when replayed)."""
	if expected is not None:
		return callbacks.token_refusal(given, expected)
	return None if given else (401, "missing callback token")


def _hash(token: str) -> str:
	return hashlib.sha256(str(token).encode("utf-8", "replace")).hexdigest()


#: spooled confirmations a live confirmation replays before its own (bounds its answer's delay;
#: the scheduled replay takes the rest)
REPLAY_BEFORE_LIVE = 20


def replay_spool(db, limit: int | None = None) -> int:
	"""Service: replay the host's spooled confirmations in order, at most ``limit`` (``DatabaseUnavailable``
	stops it, and the rest wait for the next replay); the number replayed."""
	spool = host.callback_spool()
	if spool is None or not spool.pending():
		return 0
	replayed = spool.replay(lambda entry: replay_confirmation(db, entry), limit)
	if replayed:
		log.warning("replayed %s spooled c2b confirmation(s)", replayed)
	return replayed


def _replay_first(db) -> None:
	"""Replay the spool before a new confirmation; a failure other than the outage is logged (and the
	entry waits for the next replay), never turned into the new confirmation's answer."""
	try:
		replay_spool(db, REPLAY_BEFORE_LIVE)
	except DatabaseUnavailable:
		raise
	except Exception as exc:
		log.exception("replaying the callback spool failed")
		host.log_error("Callback spool replay failed", repr(exc))


def replay_confirmation(db, entry) -> None:
	"""One spooled confirmation through the same path as a live one: its Callback Log row (named
	after the entry: written once), authentication, the confirm service (once by TransID).  A row
	already finished by an earlier replay is left alone."""
	from datetime import datetime

	expected = host.secret("callback_token")
	log_name = callbacks.record(db, entry.endpoint, entry.body, entry.headers, entry.remote_addr, name=entry.id,
		received_at=datetime.fromisoformat(entry.received_at), secrets=(expected,))
	if callbacks.status(db, log_name) != "Received":
		return
	if not entry.token_checked and not (expected and hmac.compare_digest(_hash(expected), entry.token_hash or "")):
		refused = (403, "wrong callback token")
	else:  # the token was right (then or now): what is left to check is the allow-list in force now
		refused = callbacks.address_refusal(entry.remote_addr,
			get_settings(db, ("allowed_callback_ips",))["allowed_callback_ips"])
	if refused:
		callbacks.finish(db, log_name, "Rejected", refused[0], f"{refused[1]} (replayed from the spool)")
		return
	try:
		payload = json_input.loads(entry.body, "body", parse_float=Decimal)
	except ValidationFailed:
		payload = None
	if not isinstance(payload, dict):
		callbacks.finish(db, log_name, "Rejected", 400, "body is not a JSON object")
		return
	_confirm(db, log_name, payload)


def _validate_without_database():
	"""Validation while the database is unreachable: a wrong token is refused; a well-formed body is
	accepted (see the module docstring), a malformed one rejected with its code.  Nothing is logged."""
	host.database_lost()
	refused = _token_refusal_without_database(_token_given(), host.cached_secret("callback_token"))
	if refused:
		return host.raw_json_response({"ResultCode": "C2B00016", "ResultDesc": "Rejected"}, refused[0])
	try:
		payload = json_input.loads(host.request_body(), "body", parse_float=Decimal)
	except ValidationFailed:
		return host.raw_json_response({"ResultCode": "C2B00016", "ResultDesc": "Rejected"}, 400)
	try:
		drivers.parse_c2b(payload, require_trans_id=False)
	except LedgerError as exc:
		return host.raw_json_response({"ResultCode": getattr(exc, "result_code", "C2B00016"), "ResultDesc": "Rejected"})
	log.warning("database unreachable: c2b validation accepted without an account lookup")
	return host.raw_json_response({"ResultCode": "0", "ResultDesc": "Accepted"})


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
