"""Staff API for drivers, vehicles, daily targets, unmatched payments and missed-callback recovery."""

from __future__ import annotations

from datetime import date

from ledger_app import host
from ledger_app.api.ledger import MANAGER, USER
from ledger_app.engine import clock, drivers
from ledger_app.engine.errors import ValidationFailed
from ledger_app.engine.money import to_json


@host.whitelist(methods=["POST"])
def upsert_driver(driver=None, driver_name=None, phone=None, daily_target=None, fare_pct=None, target_sharing=None,
		instant_payout=None, status=None):
	host.require_role(MANAGER)
	row = drivers.upsert_driver(host.get_db(), driver, driver_name, phone, daily_target, fare_pct, target_sharing,
		instant_payout, status, user=host.current_user())
	return {**row, "daily_target": to_json(row["daily_target"]), "fare_pct": to_json(row["fare_pct"])}


@host.whitelist(methods=["POST"])
def upsert_vehicle(vehicle=None, account_number=None, driver=None, substitute_driver=None):
	host.require_role(MANAGER)
	return drivers.upsert_vehicle(host.get_db(), vehicle, account_number, driver, substitute_driver, user=host.current_user())


@host.whitelist(methods=["GET", "POST"])
def get_driver_balances(driver=None):
	host.require_role(MANAGER, USER)
	if not isinstance(driver, str) or not driver.strip():
		raise ValidationFailed("driver is required")
	balances = drivers.driver_balances(host.get_db(), driver.strip())
	return {key: to_json(value) for key, value in balances.items()}


@host.whitelist(methods=["POST"])
def run_daily_targets(date=None):
	host.require_role(MANAGER)
	return drivers.run_daily_targets(host.get_db(), _day(date), user=host.current_user())


@host.whitelist(methods=["POST"])
def assign_unmatched(unmatched_payment=None, driver=None):
	host.require_role(MANAGER)
	result = drivers.assign_unmatched(host.get_db(), unmatched_payment, driver, user=host.current_user())
	return {k: to_json(v) if k in ("contribution", "driver_share") else v for k, v in result.items()}


@host.whitelist(methods=["POST"])
def request_unmatched_refund(unmatched_payment=None):
	host.require_role(MANAGER)
	return drivers.request_unmatched_refund(host.get_db(), unmatched_payment, user=host.current_user())


@host.whitelist(methods=["GET", "POST"])
def list_unmatched(status="Open"):
	host.require_role(MANAGER, USER)
	return [{**row, "amount": to_json(row["amount"])} for row in drivers.list_unmatched(host.get_db(), status or "Open")]


@host.whitelist(methods=["POST"])
def record_missed_payment(trans_id=None, amount=None, bill_ref_number=None, trans_time=None, msisdn=None):
	host.require_role(MANAGER)
	outcome = drivers.record_missed_payment(host.get_db(), trans_id, amount, bill_ref_number, trans_time, msisdn,
		user=host.current_user())
	return {"transaction": outcome.transaction, "duplicate": outcome.duplicate, "kind": outcome.kind,
		"driver": outcome.driver, "contribution": to_json(outcome.contribution), "driver_share": to_json(outcome.driver_share),
		"mismatch": outcome.mismatch}


def _day(value) -> date:
	if value in (None, ""):
		return clock.now().date()
	try:
		return date.fromisoformat(str(value).strip())
	except ValueError:
		raise ValidationFailed(f"date must be YYYY-MM-DD, got {value!r}") from None
