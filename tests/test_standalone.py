"""The standalone host as a user meets it: the ``ledger-app`` command in real processes, and the
scheduler running hooks.py's jobs."""

from __future__ import annotations

import os
import signal
import subprocess
from decimal import Decimal

import pytest
import requests

from ledger_app.engine import posting, settings
from ledger_app.engine.errors import ValidationFailed
from ledger_app.engine.txn_types import Leg
from ledger_app.standalone import scheduler
from tests.support import API_KEY, API_SECRET, AUTH, free_port, ledger_app_command, make_pool, open_accounts


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
	return subprocess.run([*ledger_app_command(), *args], capture_output=True, text=True, timeout=120, env=env)


def test_init_is_idempotent(db_url):
	first = run_cli("init", "--db", db_url)
	second = run_cli("init", "--db", db_url)
	assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
	assert "schema ready" in second.stdout


def test_serve_answers_on_frappes_paths_then_cli_reads_the_same_ledger(db_url):
	port = free_port()
	env = {**os.environ, "LEDGER_APP_API_KEY": API_KEY, "LEDGER_APP_API_SECRET": API_SECRET}
	server = subprocess.Popen([*ledger_app_command(), "serve", "--db", db_url, "--port", str(port), "--no-scheduler"],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
	try:
		line = server.stdout.readline()
		assert f"listening on http://127.0.0.1:{port}" in line, line + server.stderr.read()
		base = f"http://127.0.0.1:{port}/api/method"
		assert requests.get(f"{base}/ping", timeout=10).json() == {"message": "pong"}
		for account, root in (("Cash", "Asset"), ("Sales", "Income")):
			assert requests.post(f"{base}/ledger_app.api.ledger.create_account", json={"account": account, "root_type": root},
				headers=AUTH, timeout=10).status_code == 200
		postings = [{"account": "Cash", "amount": "7.25"}, {"account": "Sales", "amount": "-7.25"}]
		posted = requests.post(f"{base}/ledger_app.api.ledger.post_journal", json={"idempotency_key": "cli-1", "postings": postings},
			headers=AUTH, timeout=10)
		assert posted.status_code == 200, posted.text
	finally:
		server.send_signal(signal.SIGTERM)
		server.wait(timeout=30)
	balance = run_cli("balance", "Sales", "--db", db_url)
	assert balance.returncode == 0 and '"balance": "7.25"' in balance.stdout, balance.stderr
	missing = run_cli("balance", "Nope", "--db", db_url)
	assert missing.returncode != 0 and "not found" in missing.stderr
	clean = run_cli("reconcile", "--db", db_url)
	assert clean.returncode == 0 and '"discrepancies": 0' in clean.stdout


def test_cli_reconcile_exits_non_zero_on_unfixed_drift_and_fixes_with_flag(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
		posting.post_journal(db, "k", [Leg("Cash", Decimal("3.00")), Leg("Sales", Decimal("-3.00"))])
		db.execute("UPDATE `tabLedger Account` SET `balance` = 0 WHERE `name` = 'Cash'")
	pool.dispose()
	assert run_cli("reconcile", "--db", db_url).returncode == 1
	fixed = run_cli("reconcile", "--fix", "--db", db_url)
	assert fixed.returncode == 0 and '"fixed": 1' in fixed.stdout
	assert run_cli("reconcile", "--db", db_url).returncode == 0


def test_bad_database_url_is_a_clear_error():
	result = run_cli("init", "--db", "oracle://nowhere/db")
	assert result.returncode != 0 and "unsupported database URL" in (result.stderr + result.stdout)


def test_hooks_scheduler_events_drive_the_standalone_scheduler():
	jobs = dict(scheduler.scheduled_jobs())
	assert "ledger_app.jobs.reconcile_all" in jobs
	trigger = jobs["ledger_app.jobs.reconcile_all"]
	first = trigger.get_next_fire_time(None, __import__("datetime").datetime.now(trigger.timezone))
	assert first.minute % 15 == 0


def test_scheduled_reconcile_records_a_run_and_auto_fixes_when_set(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db:
		open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
		posting.post_journal(db, "k", [Leg("Cash", Decimal("9.00")), Leg("Sales", Decimal("-9.00"))])
		db.execute("UPDATE `tabLedger Account` SET `balance` = 1 WHERE `name` = 'Cash'")
	found = scheduler.run_job(pool, "ledger_app.jobs.reconcile_all")
	assert (found["discrepancies"], found["fixed"]) == (1, 0)
	with pool.connection() as db:
		db.run_in_transaction(lambda db: settings.update_settings(db, {"reconcile_auto_fix": 1}))
	fixed = scheduler.run_job(pool, "ledger_app.jobs.reconcile_all")
	assert fixed["fixed"] == 1
	with pool.connection() as db:
		assert posting.balance(db, "Cash") == Decimal("9.00")
		runs = db.sql("SELECT `run_by`, `status` FROM `tabReconciliation Run` ORDER BY `creation`")
	assert [r["status"] for r in runs] == ["Discrepancies", "Fixed"] and {r["run_by"] for r in runs} == {"Scheduler"}
	pool.dispose()


def test_unknown_settings_field_is_refused(db_url):
	pool = make_pool(db_url)
	with pool.connection() as db, pytest.raises(ValidationFailed, match="unknown Ledger Settings field"):
		db.run_in_transaction(lambda db: settings.update_settings(db, {"no_such_field": 1}))
	pool.dispose()
