"""Payouts exactly once (M-Pesa B2C), as an outbox.

Owns the Payout row and its states ``Queued -> Submitted -> Paid | Failed``,
``Submitted -> Unknown -> Paid | Failed``, and the three ledger moves:
``Payout Queued`` (party payable -> payouts in flight), ``Payout Paid`` (in flight -> B2C utility)
and ``Payout Failed`` (in flight -> back to payable).

- Queueing writes the Payout row and the ``Payout Queued`` transaction in the caller's database
  transaction; nothing is sent before that commits.  The row is written first, inserted or skipped
  on its UNIQUE key ``(key_scope, idempotency_key)``: a repeated key, even one sent concurrently,
  answers the payout that holds it.
- ``claim_due`` (one short transaction, ``FOR UPDATE SKIP LOCKED`` on MariaDB/PostgreSQL, the single
  writer lock on SQLite) marks due payouts Submitted and counts the attempt; only then does the
  worker call the gateway, with the payout's own OriginatorConversationID, outside any transaction.
- A payout Submitted without a gateway acknowledgement is retried with the same id after a backoff
  (Daraja refuses a repeat with 500.002.1001, which is turned into a Transaction Status query); a
  crash at any point therefore leads to a retry or a status query, never a second payment.
- Result, timeout and status callbacks are matched by OriginatorConversationID under the row lock
  (a failed status result, which names only the query, by the query's ConversationID kept on the
  payout: ``payout_for_status``); a settled payout ignores repeats.  Unknown is resolved only by the
  gateway's word.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from ledger_app.db.rows import insert, standard_columns, table
from ledger_app.engine import business, clock, posting
from ledger_app.engine.errors import Conflict, NotFound, ValidationFailed
from ledger_app.engine.faults import crash_point
from ledger_app.engine.money import from_db, parse_amount
from ledger_app.engine.payout_gateway import (
	ACCEPTED,
	DUPLICATE,
	REJECTED,
	UNAVAILABLE,
	UNKNOWN,
	CallbackUrls,
	PayoutRequest,
	SubmitOutcome,
)
from ledger_app.engine.txn_types import Leg, TransactionType, register

log = logging.getLogger("ledger_app.payouts")
alerts = logging.getLogger("ledger_app.alerts")

B2C_MINIMUM = Decimal(10)
B2C_MAXIMUM = Decimal(250000)
#: the scopes a payout's idempotency key is unique in (UNIQUE ``(key_scope, idempotency_key)``): a
#: key staff give (a request or a retry) can never take the key of an instant payout (``instant:`` and
#: the TransID) or of a profit withdrawal
STAFF_PAYOUT, INSTANT_PAYOUT, PROFIT_WITHDRAWAL_PAYOUT = "Staff Payout", "Instant Payout", "Profit Withdrawal"
PURPOSES = ("Driver Share", "Deposit Refund", "Profit Withdrawal", "Refund", "Bonus")


def _seconds(name: str, default: float) -> timedelta:
	"""A payout timer, overridable by environment (``LEDGER_APP_PAYOUT_<NAME>`` in seconds)."""
	return timedelta(seconds=float(os.environ.get(f"LEDGER_APP_PAYOUT_{name}", default)))


#: how long a payout whose last attempt had no answer waits before it is sent again (same id)
_first = _seconds("RETRY_BACKOFF", 5).total_seconds()
RETRY_BACKOFF = tuple(timedelta(seconds=_first * factor) for factor in (1, 3, 12, 60))
#: attempts without an answer before the payout is Unknown and left to Transaction Status
MAX_SUBMIT_ATTEMPTS = 6
#: an acknowledged payout with no result for this long becomes Unknown
RESULT_WAIT = _seconds("RESULT_WAIT", 600)
STATUS_QUERY_INTERVAL = _seconds("STATUS_QUERY_INTERVAL", 120)

PAYOUT_QUEUED = register(TransactionType(
	name="Payout Queued", reversible=False, required=("payable_account", "amount"),
	template=lambda p: [Leg(p["payable_account"], p["amount"]), Leg(business.PAYOUTS_IN_FLIGHT, -p["amount"])],
	description="Money promised to a party leaves their payable and waits in flight for the gateway."))
PAYOUT_PAID = register(TransactionType(
	name="Payout Paid", reversible=False, required=("amount",),
	template=lambda p: [Leg(business.PAYOUTS_IN_FLIGHT, p["amount"]), Leg(business.B2C_UTILITY, -p["amount"])],
	description="The gateway paid: in flight to the B2C utility account it was paid from."))
PAYOUT_FAILED = register(TransactionType(
	name="Payout Failed", reversible=False, required=("payable_account", "amount"),
	template=lambda p: [Leg(business.PAYOUTS_IN_FLIGHT, p["amount"]), Leg(p["payable_account"], -p["amount"])],
	description="The gateway said no: in flight back to the party's payable."))

_COLUMNS = ("`name`, `party_type`, `party`, {amount} AS `amount`, `purpose`, `phone`, `originator_conversation_id`,"
	" `idempotency_key`, `key_scope`, `status`, `gateway`, `attempts`, `next_attempt_at`, `submitted_at`, `conversation_id`,"
	" `gateway_receipt`, `status_query_id`, `result_code`, `result_desc`, `last_error`, `queue_transaction`,"
	" `settle_transaction`, `retry_of`")


def _select(db) -> str:
	return f"SELECT {_COLUMNS.format(amount=db.dialect.money('`amount`'))} FROM {table('Payout')}"


def _row(row: dict) -> dict:
	row["amount"] = from_db(row["amount"])
	return row


def payable_account(party_type: str, party: str) -> str:
	"""The account a party's payouts are paid from (their payable)."""
	from ledger_app.engine.drivers import DRIVER_DOCTYPE, driver_accounts

	if party_type == DRIVER_DOCTYPE:
		return driver_accounts(party)["payable"]
	if party_type == "Client Exchange":
		from ledger_app.engine.clients import exchange_accounts

		return exchange_accounts(party)["payable"]
	raise ValidationFailed(f"payouts to a {party_type!r} are not supported")


def whole_units(amount: Decimal) -> Decimal:
	return amount.quantize(Decimal(1), rounding=ROUND_DOWN)


def new_originator_conversation_id() -> str:
	return f"LA{secrets.token_hex(10).upper()}"


# --- queueing ----------------------------------------------------------------------------------


def queue_payout(db, *, party_type: str, party: str, phone: str, idempotency_key: str, purpose: str = "Driver Share",
		amount: Decimal | None = None, minimum: Decimal = B2C_MINIMUM, retry_of: str | None = None,
		user: str = "Administrator", key_scope: str = STAFF_PAYOUT) -> dict | None:
	"""Queue a payout inside the caller's transaction; returns the Payout (existing for a repeated key
	in ``key_scope``), or None when nothing is payable.

	``amount`` None pays the whole currency units of the party's payable, read under its row lock;
	remainders (cents, or less than ``minimum``) stay payable.  The key is claimed first: the Payout
	row is inserted or skipped on UNIQUE ``(key_scope, idempotency_key)``, so a concurrent request with
	the same key waits for the first one's commit and then answers with its payout (a Conflict when it
	asks for another party, purpose, retried payout or amount).  Locks: the key, then the payable and
	in-flight rows.
	"""
	if purpose not in PURPOSES:
		raise ValidationFailed(f"purpose must be one of {', '.join(PURPOSES)}")
	key = posting.validate_key(idempotency_key)
	if amount is not None:
		amount = parse_amount(amount, "amount")
		if amount != whole_units(amount):
			raise ValidationFailed(f"a payout is paid in whole currency units, got {amount}")
		if amount < B2C_MINIMUM or amount > B2C_MAXIMUM:
			raise ValidationFailed(f"a payout must be between {B2C_MINIMUM} and {B2C_MAXIMUM}, got {amount}")
	ocid = new_originator_conversation_id()
	name = ocid.lower()
	now = clock.now()
	request = {"party_type": party_type, "party": party, "purpose": purpose, "retry_of": retry_of}
	claimed = insert(db, "Payout", {"name": name, **standard_columns(now, user), **request, "amount": amount or 0,
		"phone": phone, "originator_conversation_id": ocid, "key_scope": key_scope, "idempotency_key": key,
		"status": "Queued", "attempts": 0, "next_attempt_at": now, "queue_transaction": None},
		skip_if_exists=("key_scope", "idempotency_key"))
	if not claimed:  # the key is taken (waited for, if it was being claimed concurrently)
		return {**_repeat(_by_key(db, key_scope, key, latest=True), request, amount), "duplicate": True}
	business.ensure_business_accounts(db)
	account = payable_account(party_type, party)
	if amount is None:  # all whole units of what is payable now, read under the row lock
		locked = db.sql(f"SELECT {db.dialect.money('`balance`')} AS `balance` FROM {table('Ledger Account')}"
			f" WHERE `name` = %(a)s{db.dialect.for_update}", {"a": account})
		if not locked:
			raise NotFound(f"Ledger Account {account!r} not found")
		amount = min(whole_units(from_db(locked[0]["balance"])), B2C_MAXIMUM)
		if amount < max(minimum, B2C_MINIMUM):  # nothing to pay yet: shares below the minimum accumulate
			db.execute(f"DELETE FROM {table('Payout')} WHERE `name` = %(n)s", {"n": name})  # the key's claim
			return None
	posted = posting.post(db, PAYOUT_QUEUED.name, f"payout:queued:{ocid}",
		PAYOUT_QUEUED.legs({"payable_account": account, "amount": amount}), party_type=party_type, party=party,
		user=user, remarks=f"Payout {ocid} queued ({purpose})")
	db.execute(f"UPDATE {table('Payout')} SET `amount` = %(amount)s, `queue_transaction` = %(t)s WHERE `name` = %(n)s",
		{"amount": amount, "t": posted.name, "n": name})
	return {**get_payout(db, name), "duplicate": False}


def _repeat(existing: dict, request: dict, amount: Decimal | None) -> dict:
	"""The payout a repeated key names, if the repeat asks for the same thing (an amount of None: all
	that was payable, so any amount); else a Conflict saying what differs."""
	differs = [f"{field} {existing[field]!r}" for field, value in request.items() if existing[field] != value]
	if amount is not None and amount != existing["amount"]:
		differs.append(f"amount {existing['amount']}")
	if differs:
		raise Conflict(f"idempotency key {existing['idempotency_key']!r} was already used for payout {existing['name']}"
			f" with {', '.join(differs)}")
	return existing


def request_payout(db, party_type, party, idempotency_key, amount=None, user="Administrator") -> dict:
	"""Service: staff ask to pay out a party's payable (all whole units of it when ``amount`` is None)."""
	from ledger_app.engine.drivers import DRIVER_DOCTYPE, get_driver

	if party_type != DRIVER_DOCTYPE:
		raise ValidationFailed(f"payouts to a {party_type!r} are not supported")

	def unit(db):
		driver = get_driver(db, party)
		payout = queue_payout(db, party_type=DRIVER_DOCTYPE, party=driver["name"], phone=driver["phone"],
			idempotency_key=idempotency_key, amount=amount, user=user)
		if payout is None:
			raise ValidationFailed(f"{party} has less than {B2C_MINIMUM} payable: nothing to pay out")
		return payout

	return db.run_in_transaction(unit)


def retry_payout(db, payout: str, idempotency_key: str, user="Administrator") -> dict:
	"""Service: pay a Failed payout again, as a new payout (new OriginatorConversationID)."""

	def unit(db):
		original = get_payout(db, payout)
		if original["status"] != "Failed":
			raise Conflict(f"payout {payout} is {original['status']}; only a Failed payout can be retried")
		return queue_payout(db, party_type=original["party_type"], party=original["party"], phone=original["phone"],
			idempotency_key=idempotency_key, purpose=original["purpose"], amount=original["amount"], retry_of=payout, user=user)

	return db.run_in_transaction(unit)


# --- the worker's side -------------------------------------------------------------------------


def claim_due(db, worker: str, limit: int = 10) -> list[dict]:
	"""Service: claim due payouts for one worker (own short transaction) and count the attempt.

	Due: Queued, or Submitted but never acknowledged (its previous attempt's outcome is unknown),
	whose next attempt time has come.  Rows another worker holds are skipped, never waited for.
	"""

	def unit(db):
		now = clock.now()
		rows = db.sql(
			f"SELECT `name` FROM {table('Payout')} WHERE (`status` = 'Queued' OR (`status` = 'Submitted'"
			f" AND `conversation_id` IS NULL)) AND `next_attempt_at` <= %(now)s ORDER BY `next_attempt_at`"
			f" LIMIT {int(limit)}{db.dialect.for_update}{db.dialect.skip_locked}",
			{"now": now},
		)
		claimed = []
		for row in rows:
			payout = _row(db.sql(f"{_select(db)} WHERE `name` = %(n)s", {"n": row["name"]})[0])
			attempts = int(payout["attempts"] or 0) + 1
			if attempts > MAX_SUBMIT_ATTEMPTS:
				_set(db, payout["name"], status="Unknown", next_attempt_at=now,
					last_error=f"no answer after {MAX_SUBMIT_ATTEMPTS} attempts; resolving by Transaction Status")
				continue
			backoff = RETRY_BACKOFF[min(attempts - 1, len(RETRY_BACKOFF) - 1)]
			_set(db, payout["name"], status="Submitted", attempts=attempts, submitted_at=now,
				next_attempt_at=now + backoff, last_error=None)
			claimed.append({**payout, "status": "Submitted", "attempts": attempts})
		return claimed

	return db.run_in_transaction(unit)


def record_submission(db, ocid: str, outcome, gateway: str | None) -> str:
	"""Service: store what the gateway answered to a B2C request; returns the payout's status.

	``outcome.status``: accepted (keep the ConversationID; a result callback may already have
	settled it), duplicate (already accepted earlier: Unknown until Transaction Status answers),
	rejected (fail it now: money back to payable), unknown (back to Queued, pinned to its gateway, sent
	again with the same id after the backoff), unavailable (every circuit is open and nothing was sent:
	back to Queued, the attempt not counted).
	"""

	def unit(db):
		payout = _locked(db, ocid)
		if payout["status"] in ("Paid", "Failed"):
			if outcome.status == ACCEPTED and not payout.get("conversation_id"):
				_set(db, payout["name"], conversation_id=outcome.conversation_id)
			return payout["status"]
		if outcome.status == ACCEPTED:
			_set(db, payout["name"], conversation_id=outcome.conversation_id or "accepted", gateway=gateway,
				next_attempt_at=clock.now() + RESULT_WAIT)
		elif outcome.status == DUPLICATE:
			_set(db, payout["name"], conversation_id=payout.get("conversation_id") or "duplicate", gateway=gateway,
				status="Unknown", next_attempt_at=clock.now(), last_error="gateway already had this payout (duplicate id)")
			return "Unknown"
		elif outcome.status == REJECTED:
			_settle(db, payout, paid=False, result_code=outcome.error_code, result_desc=outcome.message)
			return "Failed"
		elif outcome.status == UNAVAILABLE:  # no gateway was called: this attempt does not count
			_set(db, payout["name"], status="Queued", attempts=max(int(payout["attempts"] or 1) - 1, 0),
				last_error="every gateway is unavailable (circuit open)", next_attempt_at=clock.now() + RETRY_BACKOFF[1])
			return "Queued"
		else:  # unknown: it may have reached the gateway; sent again after the backoff, same id, same gateway
			_set(db, payout["name"], status="Queued", gateway=gateway or payout.get("gateway"),
				last_error=(outcome.message or "unknown outcome")[:500])
			return "Queued"
		return payout["status"]

	return db.run_in_transaction(unit)


def record_result(db, ocid: str, result_code: str, result_desc: str = "", receipt: str | None = None,
		conversation_id: str | None = None, amount: Decimal | None = None) -> dict:
	"""Service: a B2C result (or a conclusive Transaction Status) for a payout, applied once.

	``result_code`` "0" pays it (in flight -> B2C utility), anything else fails it (in flight -> back
	to payable).  A payout already Paid or Failed is left as it is.  ``amount``: what the result says
	was paid (its TransactionAmount), when it says; one that differs from the payout's is a mismatch
	(``mismatch`` in the answer, and an alert), recorded as the result says but never moving other money
	than the payout's own amount.
	"""

	def unit(db):
		payout = _locked(db, ocid)
		mismatch = _amount_mismatch(payout, amount)
		if payout["status"] in ("Paid", "Failed"):
			return {"payout": payout["name"], "status": payout["status"], "duplicate": True, "mismatch": mismatch}
		if conversation_id and not payout.get("conversation_id"):
			_set(db, payout["name"], conversation_id=conversation_id)
		_settle(db, payout, paid=str(result_code) == "0", result_code=str(result_code), result_desc=result_desc,
			receipt=receipt)
		crash_point("before_result_commit")
		return {"payout": payout["name"], "status": "Paid" if str(result_code) == "0" else "Failed", "duplicate": False,
			"mismatch": mismatch}

	outcome = db.run_in_transaction(unit)
	if outcome["mismatch"]:
		alerts.warning("%s", outcome["mismatch"])
	return outcome


def _amount_mismatch(payout: dict, amount: Decimal | None) -> str | None:
	"""What a result's TransactionAmount says when it is not the payout's amount, else None."""
	if amount is None or amount == payout["amount"]:
		return None
	return (f"mismatch: payout {payout['name']} ({payout['originator_conversation_id']}) is {payout['amount']}"
		f" but the gateway's result says {str(amount)[:40]}; the ledger moved {payout['amount']}")


def mark_unknown(db, ocid: str, reason: str) -> dict:
	"""Service: the gateway timed out on a payout: Unknown until Transaction Status says otherwise."""

	def unit(db):
		payout = _locked(db, ocid)
		if payout["status"] in ("Paid", "Failed", "Unknown"):
			return {"payout": payout["name"], "status": payout["status"], "duplicate": True}
		_set(db, payout["name"], status="Unknown", next_attempt_at=clock.now() + STATUS_QUERY_INTERVAL,
			conversation_id=payout.get("conversation_id") or "timeout", last_error=reason[:500])
		return {"payout": payout["name"], "status": "Unknown", "duplicate": False}

	return db.run_in_transaction(unit)


def record_not_found(db, ocid: str, reason: str) -> dict:
	"""Service: Transaction Status says the gateway has no such payment: it was never accepted, so it
	is sent again with the same OriginatorConversationID (the gateway still refuses a real repeat)."""

	def unit(db):
		payout = _locked(db, ocid)
		if payout["status"] in ("Paid", "Failed"):
			return {"payout": payout["name"], "status": payout["status"], "duplicate": True}
		_set(db, payout["name"], status="Queued", conversation_id=None, next_attempt_at=clock.now(), last_error=reason[:500])
		return {"payout": payout["name"], "status": "Queued", "duplicate": False}

	return db.run_in_transaction(unit)


def due_for_status(db, limit: int = 20) -> list[dict]:
	"""Service (the sweeper): acknowledged payouts with no result for too long become Unknown; Unknown
	payouts whose next query time has come are returned (their next query time moved on) so the
	caller can ask Transaction Status."""

	def unit(db):
		now = clock.now()
		db.execute(
			f"UPDATE {table('Payout')} SET `status` = 'Unknown', `next_attempt_at` = %(now)s, `modified` = %(now)s"
			f" WHERE `status` = 'Submitted' AND `conversation_id` IS NOT NULL AND `next_attempt_at` <= %(now)s",
			{"now": now},
		)
		rows = db.sql(
			f"SELECT `name` FROM {table('Payout')} WHERE `status` = 'Unknown' AND `next_attempt_at` <= %(now)s"
			f" ORDER BY `next_attempt_at` LIMIT {int(limit)}{db.dialect.for_update}{db.dialect.skip_locked}",
			{"now": now},
		)
		due = []
		for row in rows:
			_set(db, row["name"], next_attempt_at=now + STATUS_QUERY_INTERVAL)
			due.append(_row(db.sql(f"{_select(db)} WHERE `name` = %(n)s", {"n": row["name"]})[0]))
		return due

	return db.run_in_transaction(unit)


# --- reads -------------------------------------------------------------------------------------


def get_payout(db, name: str) -> dict:
	if not isinstance(name, str) or not name.strip():
		raise ValidationFailed("payout is required")
	rows = db.sql(f"{_select(db)} WHERE `name` = %(n)s OR `originator_conversation_id` = %(n)s", {"n": name.strip()})
	if not rows:
		raise NotFound(f"Payout {name!r} not found")
	return _row(rows[0])


def list_payouts(db, party: str | None = None, status: str | None = None, limit: int = 500) -> list[dict]:
	for field, value in (("party", party), ("status", status)):
		if value is not None and not isinstance(value, str):
			raise ValidationFailed(f"{field} must be text, got {value!r}")
	where, params = [], {}
	if party:
		where.append("`party` = %(party)s")
		params["party"] = party
	if status:
		where.append("`status` = %(status)s")
		params["status"] = status
	clause = (" WHERE " + " AND ".join(where)) if where else ""
	return [_row(r) for r in db.sql(f"{_select(db)}{clause} ORDER BY `creation` DESC LIMIT {int(limit)}", params)]


# --- internals ---------------------------------------------------------------------------------


def _by_key(db, scope: str, key: str, *, latest: bool = False) -> dict | None:
	"""The payout holding ``key`` in ``scope``; ``latest`` reads past a REPEATABLE READ snapshot (MariaDB)."""
	rows = db.sql(f"{_select(db)} WHERE `key_scope` = %(s)s AND `idempotency_key` = %(k)s"
		f"{db.dialect.locking_read if latest else ''}", {"s": scope, "k": key})
	return _row(rows[0]) if rows else None


def fill_key_scopes(db) -> int:
	"""Give every Payout stored before keys were scoped (``key_scope`` empty) its scope, in one
	statement: a profit withdrawal's, an instant payout's (its key is ``instant:`` and the TransID),
	else staff's; returns how many rows it filled (``engine/upgrade.upgrade_data``)."""
	return db.execute(
		f"UPDATE {table('Payout')} SET `key_scope` = CASE WHEN `purpose` = %(pw)s THEN %(pw_scope)s"
		f" WHEN `idempotency_key` LIKE %(instant)s THEN %(instant_scope)s ELSE %(staff)s END"
		f" WHERE `key_scope` IS NULL OR `key_scope` = ''",
		{"pw": "Profit Withdrawal", "pw_scope": PROFIT_WITHDRAWAL_PAYOUT, "instant": "instant:%",
			"instant_scope": INSTANT_PAYOUT, "staff": STAFF_PAYOUT},
	)


def _locked(db, ocid: str) -> dict:
	rows = db.sql(f"{_select(db)} WHERE `originator_conversation_id` = %(o)s{db.dialect.for_update}", {"o": ocid})
	if not rows:
		raise NotFound(f"no payout with OriginatorConversationID {ocid!r}")
	return _row(rows[0])


def _set(db, name: str, **fields) -> None:
	fields["modified"] = clock.now()
	sets = ", ".join(f"`{k}` = %({k})s" for k in fields)
	db.execute(f"UPDATE {table('Payout')} SET {sets} WHERE `name` = %(name_)s", {**fields, "name_": name})


def _settle(db, payout: dict, *, paid: bool, result_code=None, result_desc=None, receipt=None) -> None:
	ocid = payout["originator_conversation_id"]
	if paid:
		posted = posting.post(db, PAYOUT_PAID.name, f"payout:paid:{ocid}", PAYOUT_PAID.legs({"amount": payout["amount"]}),
			party_type=payout["party_type"], party=payout["party"], remarks=f"Payout {ocid} paid, receipt {receipt}")
	else:
		account = payable_account(payout["party_type"], payout["party"])
		posted = posting.post(db, PAYOUT_FAILED.name, f"payout:failed:{ocid}",
			PAYOUT_FAILED.legs({"payable_account": account, "amount": payout["amount"]}), party_type=payout["party_type"],
			party=payout["party"], remarks=f"Payout {ocid} failed: {result_code} {result_desc}"[:1000])
		alerts.warning("payout %s to %s failed: %s %s", ocid, payout["party"], result_code, result_desc)
	_set(db, payout["name"], status="Paid" if paid else "Failed", settle_transaction=posted.name,
		result_code=(str(result_code) if result_code is not None else None), result_desc=(result_desc or None),
		gateway_receipt=receipt, next_attempt_at=None)


@dataclass(frozen=True)
class Summary:
	queued: int
	submitted: int
	unknown: int
	paid: int
	failed: int


def status_counts(db) -> dict:
	rows = db.sql(f"SELECT `status`, COUNT(*) AS n FROM {table('Payout')} GROUP BY `status`")
	return {row["status"]: int(row["n"]) for row in rows}


def stuck(db, older_than: timedelta = timedelta(hours=1)) -> list[dict]:
	"""Payouts Queued or Unknown for longer than ``older_than`` (for alerts)."""
	cutoff: datetime = clock.now() - older_than
	return [_row(r) for r in db.sql(f"{_select(db)} WHERE `status` IN ('Queued', 'Unknown') AND `creation` < %(c)s",
		{"c": cutoff})]


# --- dispatching (the gateway is passed in: engine code never imports a gateway) ---------------


def dispatch(db, gateway, urls: CallbackUrls, worker: str = "worker", limit: int = 10) -> int:
	"""Claim due payouts, then send each to the gateway outside any transaction and record the
	answer.  ``gateway`` is a ``GatewayRouter`` (ledger_app/gateways/breaker.py).  Returns how many
	were claimed."""
	claimed = claim_due(db, worker, limit)
	if claimed:
		crash_point("after_claim")
	for payout in claimed:
		ocid = payout["originator_conversation_id"]
		request = PayoutRequest(originator_conversation_id=ocid, amount=payout["amount"], phone=payout["phone"],
			remarks=f"{payout['purpose']} {payout['party']}"[:100], result_url=urls.result, timeout_url=urls.timeout,
			occasion=payout["purpose"][:100])

		def pin(name, payout=payout):
			"""Record the chosen gateway (committed) before the request can reach it: from then on this
			payout is only ever retried or queried there, never failed over."""
			db.run_in_transaction(lambda db: _set(db, payout["name"], gateway=name))

		try:
			outcome = gateway.submit_b2c(request, pinned=payout.get("gateway") or None,
				before_call=None if payout.get("gateway") else pin)
		except Exception as exc:  # treated as an unknown outcome: retried with the same id
			log.exception("payout %s: gateway call failed", ocid)
			outcome = SubmitOutcome(UNKNOWN, message=repr(exc), gateway=payout.get("gateway"))
		used = outcome.gateway or payout.get("gateway")
		if outcome.status == ACCEPTED:
			crash_point("after_gateway_accepted")
		status = record_submission(db, ocid, outcome, used)
		if outcome.status == DUPLICATE:
			_ask_status(db, gateway, {**payout, "gateway": used}, urls)
		log.info("payout %s -> %s (%s)", ocid, outcome.status, status)
	return len(claimed)


def sweep(db, gateway, urls: CallbackUrls) -> int:
	"""Ask Transaction Status for every payout whose outcome is unknown; returns how many were asked."""
	due = due_for_status(db)
	for payout in due:
		_ask_status(db, gateway, payout, urls)
	return len(due)


def _ask_status(db, router, payout, urls) -> None:
	"""Transaction Status on the gateway the payout went to (the answer comes by callback).  The
	query's own ConversationID is kept on the payout: a failed status result carries only the
	query's ids, and is matched to the payout by it (``payout_for_status``)."""
	if not payout.get("gateway"):
		return  # never reached a gateway: it is simply sent again
	try:
		outcome = router.query_status(payout["gateway"], payout["originator_conversation_id"], urls.status_result,
			urls.status_timeout, transaction_id=payout.get("gateway_receipt"))
	except Exception:  # the sweeper asks again at the next interval
		log.exception("payout %s: status query failed", payout["originator_conversation_id"])
		return
	if outcome.status == ACCEPTED and outcome.conversation_id:
		db.run_in_transaction(lambda db: _set(db, payout["name"], status_query_id=outcome.conversation_id))


def payout_for_status(db, originator_conversation_id: str, conversation_id: str | None) -> str:
	"""The OriginatorConversationID of the payout a Transaction Status result is about: the payout
	whose last status query was given ``conversation_id`` (a failed result names only the query),
	else ``originator_conversation_id`` as the result gives it."""
	if conversation_id:
		rows = db.sql(f"SELECT `originator_conversation_id` FROM {table('Payout')} WHERE `status_query_id` = %(c)s",
			{"c": conversation_id})
		if rows:
			return rows[0]["originator_conversation_id"]
	return originator_conversation_id

