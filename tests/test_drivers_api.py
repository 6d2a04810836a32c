"""The drivers staff API over real HTTP on every backend, and the newcomer's demo as a real process."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import call, free_port, ledger_app_command, ok


@pytest.fixture
def server(served):
	return served()


def test_drivers_api_end_to_end(server):
	base, _ = server
	settings = ok(call(base, "ledger_app.api.settings.update_settings", {"global_daily_target": "800", "global_fare_pct": "50"}))
	assert settings["global_daily_target"] == "800.00"
	driver = ok(call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "D1", "driver_name": "Amina", "phone": "+254 712 345 678"}))
	assert (driver["name"], driver["phone"], driver["status"]) == ("D1", "254712345678", "Active")
	ok(call(base, "ledger_app.api.drivers.upsert_vehicle", {"vehicle": "KTA 1", "account_number": "a1", "driver": "D1"}))
	day = ok(call(base, "ledger_app.api.drivers.run_daily_targets", {"date": "2026-03-01"}))
	assert day["charged"] == 1
	assert ok(call(base, "ledger_app.api.drivers.run_daily_targets", {"date": "2026-03-01"}))["charged"] == 0
	missed = ok(call(base, "ledger_app.api.drivers.record_missed_payment",
		{"trans_id": "QMISS1", "amount": "100.00", "bill_ref_number": "A1", "trans_time": "20260301090000"}))
	assert (missed["kind"], missed["contribution"], missed["driver_share"], missed["duplicate"]) == ("fare", "50.00", "50.00", False)
	unmatched = ok(call(base, "ledger_app.api.drivers.record_missed_payment", {"trans_id": "QMISS2", "amount": "40", "bill_ref_number": "ZZ"}))
	assert unmatched["kind"] == "unmatched"
	open_rows = ok(call(base, "ledger_app.api.drivers.list_unmatched", {}))
	assert [(r["trans_id"], r["amount"]) for r in open_rows] == [("QMISS2", "40.00")]
	assigned = ok(call(base, "ledger_app.api.drivers.assign_unmatched", {"unmatched_payment": open_rows[0]["name"], "driver": "D1"}))
	assert (assigned["contribution"], assigned["driver_share"]) == ("20.00", "20.00")
	assert call(base, "ledger_app.api.drivers.assign_unmatched", {"unmatched_payment": open_rows[0]["name"], "driver": "D2"}).status_code in (404, 409)
	assert ok(call(base, "ledger_app.api.drivers.get_driver_balances", {"driver": "D1"})) == {
		"target_outstanding": "730.00", "payable": "70.00", "deposit": "0.00"}


@pytest.mark.parametrize(
	"method, payload, status",
	[
		("ledger_app.api.drivers.upsert_driver", {"driver": "D9", "driver_name": "X", "phone": "not a phone"}, 417),
		("ledger_app.api.drivers.upsert_driver", {"driver": "D9; DROP", "driver_name": "X", "phone": "0712345678"}, 417),
		("ledger_app.api.drivers.upsert_vehicle", {"vehicle": "V9"}, 417),
		("ledger_app.api.drivers.upsert_vehicle", {"vehicle": "V9", "account_number": "X", "driver": "ghost"}, 404),
		("ledger_app.api.drivers.get_driver_balances", {"driver": "ghost"}, 404),
		("ledger_app.api.drivers.run_daily_targets", {"date": "yesterday"}, 417),
		("ledger_app.api.drivers.record_missed_payment", {"trans_id": "QX1", "amount": "1.001", "bill_ref_number": "A"}, 417),
		("ledger_app.api.drivers.record_missed_payment", {"trans_id": "QX1", "amount": "0", "bill_ref_number": "A"}, 417),
		("ledger_app.api.settings.update_settings", {"no_such_setting": "1"}, 417),
		("ledger_app.api.settings.update_settings", {"global_fare_pct": "12.345"}, 417),
	],
	ids=["bad-phone", "bad-id", "vehicle-no-account", "vehicle-ghost-driver", "balances-ghost", "bad-date", "3-decimals",
		"zero-amount", "unknown-setting", "3-decimal-setting"],
)
def test_bad_input_is_refused_with_frappes_status(server, method, payload, status):
	base, pool = server
	with pool.connection() as db:
		before = db.sql("SELECT (SELECT COUNT(*) FROM `tabFleet Driver`) AS d, (SELECT COUNT(*) FROM `tabLedger Transaction`) AS t")
	response = call(base, method, payload)
	assert response.status_code == status, response.text
	with pool.connection() as db:
		assert db.sql("SELECT (SELECT COUNT(*) FROM `tabFleet Driver`) AS d, (SELECT COUNT(*) FROM `tabLedger Transaction`) AS t") == before


def test_staff_api_needs_the_token(server):
	base, _ = server
	assert call(base, "ledger_app.api.drivers.upsert_driver", {"driver": "D1"}, headers={}).status_code == 403


def test_demo_runs_a_day_and_reconciles_clean(tmp_path):
	result = subprocess.run([*ledger_app_command(), "demo", "--db", f"sqlite:///{tmp_path}/demo.db", "--port", str(free_port())],
		capture_output=True, text=True, timeout=300)
	assert result.returncode == 0, result.stderr
	out = result.stdout
	assert "listening on http://127.0.0.1:" in out
	assert "answers: 104 x 200 Success" in out
	assert "DRV-003" in out and "unmatched: SKU0000001 150.00" in out
	assert "0 discrepancies" in out
