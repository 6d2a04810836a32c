"""Staff API for payouts."""

from __future__ import annotations

from ledger_app import host
from ledger_app.api.ledger import MANAGER, USER
from ledger_app.engine import payouts
from ledger_app.engine.money import to_json

_FIELDS = ("name", "party_type", "party", "amount", "purpose", "phone", "status", "originator_conversation_id",
	"conversation_id", "gateway", "attempts", "gateway_receipt", "result_code", "result_desc", "last_error",
	"queue_transaction", "settle_transaction", "retry_of")


def _out(payout: dict) -> dict:
	out = {k: payout.get(k) for k in _FIELDS}
	out["amount"] = to_json(payout["amount"])
	if "duplicate" in payout:
		out["duplicate"] = payout["duplicate"]
	return out


@host.whitelist(methods=["POST"])
def request_payout(party_type=None, party=None, amount=None, idempotency_key=None):
	host.require_role(MANAGER)
	payout = payouts.request_payout(host.get_db(), party_type, party, idempotency_key,
		amount=amount if amount not in (None, "") else None, user=host.current_user())
	host.enqueue_after_commit("ledger_app.jobs.dispatch_payouts")
	return _out(payout)


@host.whitelist(methods=["GET", "POST"])
def get_payout(payout=None):
	host.require_role(MANAGER, USER)
	return _out(payouts.get_payout(host.get_db(), payout))


@host.whitelist(methods=["GET", "POST"])
def list_payouts(party=None, status=None):
	host.require_role(MANAGER, USER)
	return [_out(p) for p in payouts.list_payouts(host.get_db(), party or None, status or None)]


@host.whitelist(methods=["POST"])
def retry_payout(payout=None, idempotency_key=None):
	host.require_role(MANAGER)
	result = payouts.retry_payout(host.get_db(), payout, idempotency_key or f"retry:{payout}", user=host.current_user())
	host.enqueue_after_commit("ledger_app.jobs.dispatch_payouts")
	return _out(result)
