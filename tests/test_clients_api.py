"""The client-exchange staff API over real HTTP on every backend: decimal strings, Frappe's status
codes for bad input, nothing written by a refused call."""

from __future__ import annotations

import pytest

from tests.support import call, count, ok


@pytest.fixture
def server(served):
	base, pool = served()
	ok(call(base, "ledger_app.api.clients.upsert_client", {"client": "C1", "client_name": "Wanjiku", "phone": "0722000001"}))
	ok(call(base, "ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-BIN", "client": "C1",
		"exchange": "Binance", "my_share_pct": "1", "company_share_pct": "9"}))
	return base, pool


def test_fund_record_settle_and_position(server):
	base, _ = server
	assert ok(call(base, "ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "1000.00",
		"idempotency_key": "f1"}))["capital"] == "1000.00"
	record = ok(call(base, "ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-01",
		"remaining_balance": "400", "idempotency_key": "b1"}))
	assert (record["loss_at_time"], record["profit_at_time"]) == ("600.00", "0.00")
	settled = ok(call(base, "ledger_app.api.clients.settle", {"client_exchange": "C1-BIN", "amount": "10.00", "idempotency_key": "s1"}))
	assert (settled["capital_closed"], settled["your_share"], settled["company_share"]) == ("100.00", "1.00", "9.00")
	assert ok(call(base, "ledger_app.api.clients.get_position", {"client_exchange": "C1-BIN"}, http="GET")) == {
		"capital": "900.00", "active_loss": "600.00", "remaining_loss": "500.00", "your_share_total": "1.00",
		"company_share_total": "9.00"}


@pytest.mark.parametrize("method, payload, status", [
	("ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "-1", "idempotency_key": "x"}, 417),
	("ledger_app.api.clients.fund", {"client_exchange": "C1-BIN", "amount": "1.001", "idempotency_key": "x"}, 417),
	("ledger_app.api.clients.fund", {"client_exchange": "ghost", "amount": "1", "idempotency_key": "x"}, 404),
	("ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "soon", "remaining_balance": "1",
		"idempotency_key": "x"}, 417),
	("ledger_app.api.clients.record_balance", {"client_exchange": "C1-BIN", "date": "2026-03-01", "remaining_balance": "-1",
		"idempotency_key": "x"}, 417),
	("ledger_app.api.clients.settle", {"client_exchange": "C1-BIN", "amount": "1", "idempotency_key": "x"}, 409),
	("ledger_app.api.clients.upsert_client_exchange", {"client_exchange": "C1-K", "client": "C1", "exchange": "K",
		"my_share_pct": "70", "company_share_pct": "40"}, 417),
	("ledger_app.api.clients.upsert_client", {"client": "C2", "client_name": "X", "phone": "12"}, 417),
	("ledger_app.api.clients.get_position", {"client_exchange": "ghost"}, 404),
], ids=["negative", "3-decimals", "unknown-exchange", "bad-date", "negative-balance", "no-active-loss", "shares-over-100",
	"bad-phone", "position-unknown"])
def test_bad_input_is_refused_and_writes_nothing(server, method, payload, status):
	base, pool = server
	with pool.connection() as db:
		before = (count(db, "Ledger Transaction"), count(db, "Balance Record"), count(db, "Client Exchange"), count(db, "Client"))
	response = call(base, method, payload)
	assert response.status_code == status, response.text
	with pool.connection() as db:
		after = (count(db, "Ledger Transaction"), count(db, "Balance Record"), count(db, "Client Exchange"), count(db, "Client"))
	assert after == before
