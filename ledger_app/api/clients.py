"""Staff API for clients and their exchange accounts (money as decimal strings)."""

from __future__ import annotations

from ledger_app import host
from ledger_app.api.ledger import MANAGER, USER
from ledger_app.engine import clients
from ledger_app.engine.money import to_json


def _money(row: dict) -> dict:
	return {k: to_json(v) if hasattr(v, "quantize") else v for k, v in row.items()}


@host.whitelist(methods=["POST"])
def upsert_client(client=None, client_name=None, phone=None):
	host.require_role(MANAGER)
	return clients.upsert_client(host.get_db(), client, client_name, phone, user=host.current_user())


@host.whitelist(methods=["POST"])
def upsert_client_exchange(client_exchange=None, client=None, exchange=None, my_share_pct=None, company_share_pct=None):
	host.require_role(MANAGER)
	return _money(clients.upsert_client_exchange(host.get_db(), client_exchange, client, exchange, my_share_pct,
		company_share_pct, user=host.current_user()))


@host.whitelist(methods=["POST"])
def fund(client_exchange=None, amount=None, idempotency_key=None):
	host.require_role(MANAGER)
	return _money(clients.fund(host.get_db(), client_exchange, amount, idempotency_key, user=host.current_user()))


@host.whitelist(methods=["POST"])
def record_balance(client_exchange=None, date=None, remaining_balance=None, idempotency_key=None):
	host.require_role(MANAGER)
	record = clients.record_balance(host.get_db(), client_exchange, date, remaining_balance, idempotency_key,
		user=host.current_user())
	if record.get("payout"):
		host.enqueue_after_commit("ledger_app.jobs.dispatch_payouts")
	return _money(record)


@host.whitelist(methods=["POST"])
def settle(client_exchange=None, amount=None, idempotency_key=None):
	host.require_role(MANAGER)
	return _money(clients.settle(host.get_db(), client_exchange, amount, idempotency_key, user=host.current_user()))


@host.whitelist(methods=["GET", "POST"])
def get_position(client_exchange=None):
	host.require_role(MANAGER, USER)
	db = host.get_db()
	return _money(clients.position(db, clients.require_exchange(db, client_exchange)))
