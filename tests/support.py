"""Shared test plumbing: a schema'd pool for a fresh database URL, and a real HTTP server."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal

import requests

from ledger_app.db.pool import ConnectionPool
from ledger_app.db.schema import ensure_schema
from ledger_app.engine import accounts, posting
from ledger_app.engine.txn_types import Leg
from ledger_app.standalone.config import Config
from ledger_app.standalone.http_server import create_server
from ledger_app.standalone.wsgi import LedgerApp

API_KEY, API_SECRET = "test-key", "test-secret"
AUTH = {"Authorization": f"token {API_KEY}:{API_SECRET}"}


def make_pool(db_url: str, **options) -> ConnectionPool:
	pool = ConnectionPool(db_url, **options)
	with pool.connection() as db:
		ensure_schema(db)
	return pool


def open_accounts(db, *specs):
	"""Create accounts from (name, root_type[, allow_negative]) tuples."""
	for spec in specs:
		name, root_type = spec[0], spec[1]
		accounts.open_account(db, name, root_type, allow_negative_balance=bool(spec[2]) if len(spec) > 2 else False)


def count(db, doctype: str) -> int:
	return int(db.sql(f"SELECT COUNT(*) AS n FROM `tab{doctype}`")[0]["n"])


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


@contextmanager
def running_server(pool: ConnectionPool, **config):
	"""The standalone WSGI app under waitress (tuned as ``ledger-app serve`` tunes it) on a free
	loopback port, in a thread."""
	port = free_port()
	cfg = Config(db_url=pool.url, api_key=API_KEY, api_secret=API_SECRET, port=port, **config)
	executor = ThreadPoolExecutor(max_workers=2)
	app = LedgerApp(cfg, pool=pool, executor=executor)
	server = create_server(app, host="127.0.0.1", port=port, threads=8)
	thread = threading.Thread(target=server.run, daemon=True)
	thread.start()
	try:
		yield f"http://127.0.0.1:{port}"
	finally:
		stop_server(server, thread)
		executor.shutdown(wait=True)


def stop_server(server, thread) -> None:
	"""Close every channel from inside waitress's loop thread, so the loop ends at once (the
	simulator's own stop, which also copes with a trigger already gone)."""
	from ledger_app.gateways import simulator

	simulator.stop(server, thread)


def call(base: str, method: str, payload=None, *, headers=AUTH, http="POST", **kwargs) -> requests.Response:
	url = f"{base}/api/method/{method}"
	if http == "GET":
		return requests.get(url, params=payload, headers=headers, timeout=30, **kwargs)
	return requests.post(url, json=payload, headers=headers, timeout=30, **kwargs)


CALLBACK_TOKEN = "cb-secret-token"
# over both hosts' body limits: the standalone host's 1 MiB and Frappe's max_file_size (25 MB default)
OVERSIZED_BODY = b"{" + b" " * (26 * 1024 * 1024) + b"}"


def ok(response: requests.Response):
	"""The ``message`` of a 200 answer (anything else fails the test with the body)."""
	assert response.status_code == 200, response.text
	return response.json()["message"]


def error_text(response: requests.Response) -> str:
	"""The error message of a Frappe-style error answer: the standalone host sends it as ``exception``,
	Frappe as ``_server_messages`` (and ``exception`` for most kinds)."""
	body = response.json()
	return f"{body.get('exception', '')} {body.get('_server_messages', '')}"


def ledger_app_command() -> list[str]:
	"""The installed ``ledger-app`` console script (next to this interpreter), or the module."""
	import shutil
	import sys
	from pathlib import Path

	script = Path(sys.executable).parent / "ledger-app"
	if script.exists():
		return [str(script)]
	found = shutil.which("ledger-app")
	return [found] if found else [sys.executable, "-m", "ledger_app.standalone.cli"]


@contextmanager
def server_process(db_url: str, *args: str, env: dict | None = None, log_path=None, port: int | None = None):
	"""``ledger-app serve`` as a real process on a free port; yields its base URL.

	Its output goes to a file (a pipe nobody reads would fill up and stall the server).
	"""
	import os
	import signal
	import subprocess
	import tempfile
	import time

	port = port or free_port()
	environment = {**os.environ, "LEDGER_APP_API_KEY": API_KEY, "LEDGER_APP_API_SECRET": API_SECRET,
		"LEDGER_APP_CALLBACK_TOKEN": CALLBACK_TOKEN, **(env or {})}
	log = open(log_path or tempfile.mktemp(prefix="ledger-serve-", suffix=".log"), "w+")
	process = subprocess.Popen([*ledger_app_command(), "serve", "--db", db_url, "--port", str(port), *args],
		stdout=log, stderr=subprocess.STDOUT, text=True, env=environment)
	try:
		deadline = time.monotonic() + 60
		while "listening on" not in open(log.name).read():
			if process.poll() is not None or time.monotonic() > deadline:
				process.kill()
				raise RuntimeError(f"server did not start: {open(log.name).read()[-2000:]}")
			time.sleep(0.05)
		yield f"http://127.0.0.1:{port}"
	finally:
		if process.poll() is None:
			process.send_signal(signal.SIGTERM)
		try:
			process.wait(timeout=30)
		except subprocess.TimeoutExpired:
			process.kill()
			process.wait()
		log.close()
		if log_path is None:
			os.unlink(log.name)


# --- bad input at the edge (issue 11): shared by the grammar's unit tests and the HTTP tests ------

#: amounts outside the one grammar (ledger_app/engine/money.py), each with a fragment of its 417 message
BAD_AMOUNTS = [
	("1e3", "decimal number"), ("1_000", "decimal number"), ("\u0661\u0660\u0660", "decimal number"),
	("\uff11\uff10\uff10", "decimal number"), (" +5 ", "decimal number"), ("5.", "decimal number"),
	(".5", "decimal number"), ("1e30", "decimal number"), (10**40, "maximum"), ("1" + "0" * 26, "maximum"),
	("05", "zero"), ("NaN", "decimal number"), ("10.001", "2 decimal"),
]
#: a lone surrogate and NUL, as JSON sends them (requests' json= escapes them as \ud800 and \u0000)
LONE_SURROGATE = "\ud800"
NUL = "\x00"


def deeply_nested(depth: int = 10_000) -> bytes:
	"""A JSON body nested ``depth`` arrays deep inside an object (20 KB for 10,000)."""
	return b'{"a": ' + b"[" * depth + b"]" * depth + b"}"


def long_method_path(parts: int = 2_000) -> str:
	"""A dotted method path of ``parts`` parts under ledger_app.api."""
	return "ledger_app.api." + ".".join("x" for _ in range(parts - 2))


def callback_logs(pool) -> list[dict]:
	with pool.connection() as db:
		return db.sql("SELECT `endpoint`, `status`, `http_status`, `error`, `headers`, `body`, `remote_addr`, `reference`"
			" FROM `tabCallback Log` ORDER BY `creation`")


# --- races: many clients sending one request at the same moment (tests/test_races.py) ------------

def race(base: str, method: str, payload: dict, *, clients: int = 16, params: dict | None = None,
		headers: dict | None = AUTH) -> list[requests.Response]:
	"""``clients`` identical POSTs of ``payload`` to ``method``, one thread and one ``requests.Session``
	each, released together by a barrier once every session holds an open connection; the answers
	in thread order."""
	url = f"{base}/api/method/{method}"
	barrier = threading.Barrier(clients)

	def one(_):
		with requests.Session() as session:
			session.headers.update(headers or {})
			session.get(f"{base}/api/method/ping", timeout=30)  # the connection, opened before the barrier
			barrier.wait(timeout=60)
			return session.post(url, json=payload, params=params, timeout=120)

	with ThreadPoolExecutor(max_workers=clients) as pool:
		return list(pool.map(one, range(clients)))


def usable_answers(responses: list[requests.Response]) -> list[dict]:
	"""Assert that every answer is one a client can act on, never a 5xx: 200, or a 409 with its
	reason; returns the 200 answers' messages (Frappe's ``message``, or the whole body of a callback)."""
	statuses = [r.status_code for r in responses]
	refused = Counter((r.status_code, r.text[:300]) for r in responses if r.status_code not in (200, 409))
	assert all(s < 500 for s in statuses) and set(statuses) <= {200, 409}, f"{sorted(statuses)}: {refused.most_common(3)}"
	for r in responses:
		if r.status_code == 409:
			assert error_text(r).strip(), r.text
	return [r.json().get("message", r.json()) for r in responses if r.status_code == 200]


def books_clean(pool) -> bool:
	"""Whether a reconciliation of every account finds nothing (cached balances = their postings)."""
	from ledger_app.engine import reconcile

	with pool.connection() as db:
		return reconcile.reconcile(db)["discrepancies"] == 0


def drift_cash(db) -> None:
	"""Cash and Sales with five postings of 10.10 to Cash (50.50), then Cash's cache and last running
	balance drifted together to 1.00: posting to it still works, reconcile finds the drift."""
	open_accounts(db, ("Cash", "Asset"), ("Sales", "Income"))
	for i in range(5):
		posting.post_journal(db, f"k{i}", [Leg("Cash", Decimal("10.10")), Leg("Sales", Decimal("-10.10"))])
	db.run_in_transaction(lambda db: (
		db.execute("UPDATE `tabLedger Account` SET `balance` = 1 WHERE `name` = 'Cash'"),
		db.execute("UPDATE `tabLedger Posting` SET `balance_after` = 1 WHERE `account` = 'Cash' AND `account_seq` = 5")))
