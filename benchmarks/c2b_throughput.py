"""C2B confirmation throughput: the service layer and real HTTP against a raw-SQL floor doing the same
writes, and where the time goes inside the lock window of a confirmation.

Per backend, one fresh database holds a fleet: Ledger Settings with a global daily target of
100,000,000.00 (so every confirmation stays in the split's sharing branch), global fare 50 %,
target sharing on; one "hot" driver ``HOT`` on vehicle account ``KHOT``; 1,000 drivers
``D0000`` .. ``D0999`` on vehicles ``K0000`` .. ``K0999``; the daily target charged to all of them
(``drivers.run_daily_targets``).  Scenarios: every confirmation to the hot driver, or each to a
random one of the 1,000 drivers' vehicles; 1 and 16 clients (threads).  Amounts are random whole
cents from 10.00 to 999.99.  Variants:

- **floor**: the fewest statements a correct confirmation needs, raw on the pooled DB-API
  connection (no port, no validation, no idempotency look-up, the driver's accounts and terms known
  in advance), one transaction of 6 round trips::

	BEGIN                                                       (SQLite: BEGIN IMMEDIATE)
	INSERT INTO `tabLedger Transaction` (`name`, `creation`, `modified`, `owner`, `modified_by`,
		`docstatus`, `idx`, `transaction_type`, `posting_datetime`, `idempotency_key`, `remarks`,
		`reversal_of`, `party_type`, `party`, `payload_hash`) VALUES (...)    -- key = TransID
	SELECT `name`, `balance`, `posting_count`, `normal_side` FROM `tabLedger Account`
		WHERE `name` IN (payable, paybill, target) ORDER BY `name` FOR UPDATE  (SQLite: no FOR UPDATE)
	-- Python: split from the locked target balance O: cut = round(A * (100 - f) / 100, 2),
	--         contribution = min(cut, O), share = A - contribution
	INSERT INTO `tabLedger Posting` (`name`, `creation`, `modified`, `owner`, `modified_by`, `docstatus`,
		`idx`, `parent`, `parentfield`, `parenttype`, `account`, `amount`, `balance_after`,
		`posting_datetime`, `account_seq`) VALUES (...), (...), (...)
		-- balance_after = locked balance + delta, account_seq = locked posting_count + 1;
		-- `name` from the doctype's sequence, as the engine does (SQLite: AUTOINCREMENT)
	UPDATE `tabLedger Account` SET `balance` = `balance` + CASE `name` WHEN .. THEN .. (x3) END,
		`posting_count` = `posting_count` + 1 WHERE `name` IN (payable, paybill, target)
		-- like the engine, the derived balance columns leave `modified` alone (PostgreSQL HOT updates)
	COMMIT

  On SQLite the floor takes the pool's in-process writer lock around BEGIN IMMEDIATE .. COMMIT, as
  the port does, so both queue in order instead of polling SQLite's busy handler.

- **floor+reads**: the floor plus every other statement the service runs for a fare, i.e. the
  service's exact statement list run raw.  The first payment to a vehicle runs ``match_account``
  before the transaction (the vehicle, its paying driver's terms and the version of Ledger Settings
  in one statement: SELECT .., (SELECT `value` FROM `tabSingles` WHERE `doctype` = 'Ledger
  Settings' AND `field` = 'modified') FROM `tabFleet Vehicle` v LEFT JOIN `tabFleet Driver` d ON d.`name` =
  COALESCE(NULLIF(v.`substitute_driver`, ''), NULLIF(v.`driver`, '')) WHERE v.`account_number` =
  a); later ones use the match kept from it, as the service does.  In the transaction: the header
  as insert-or-skip on the key (``ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT DO NOTHING``, which is
  also how a repeated TransID is found), and the lock with each account's last posting LEFT JOINed
  in and the kept match checked (``EXISTS (SELECT 1 FROM `tabFleet Vehicle` v LEFT JOIN `tabFleet Driver` d ..
  WHERE v.`account_number` = a AND <each column of the match> <=> <its kept value>)`` in the
  select list; PostgreSQL: ``FOR UPDATE OF a``, and where a lock wait returned a joined posting
  from before the wait, the postings insert returns the running balance of each account's
  posting before it: ``RETURNING `account`, (SELECT `balance_after` FROM `tabLedger Posting` p
  WHERE p.`account` = .. AND p.`account_seq` = .. - 1)``).  6 round trips, like the floor.
  floor -> floor+reads is the price of the engine's heavier statements, floor+reads -> service the
  price of the port, validation and the engine's Python.

- **service**: ``drivers.confirm_c2b(db, drivers.parse_c2b(body))`` with Daraja's body, each thread
  holding its own pooled connection (``ConnectionPool``) for the whole run.

- **service+log**: what the HTTP handler does, in process: ``callbacks.record`` (one INSERT, committed
  by itself), ``get_settings`` and the token check, parse, ``confirm_c2b(.., settings=..,
  callback_log=..)``, which writes the log's Processed outcome inside the confirmation's transaction.
  service -> service+log is the price of the Callback Log; service+log -> http the price of HTTP,
  waitress and the second process.

- **http**: ``POST /api/method/ledger_app.api.mpesa.c2b_confirmation?token=...`` with the JSON body
  to a real ``ledger-app serve --no-scheduler --threads 16`` process, one kept-alive ``http.client``
  connection (``HttpClient``) per client thread; a confirmation counts when the answer is 200
  ``{"ResultCode": 0, ...}``.

Variants take turns within a scenario over ``--rounds`` rounds (ABC.., ..CBA, ...) that split
``--seconds``, after a warm-up.  Rates are confirmations finishing inside the measured windows /
measured seconds.

After all runs on a backend the books are checked: paybill balance == the sum of the amounts of every
confirmation that reported success (all variants, warm-ups included) == the sum of the paybill's
postings; C2B Payment transactions == successes; sum of driver payables + sum of target paid off ==
sum of amounts (the split conserves money); no target reached zero (the split stayed in its sharing
branch); Processed Callback Log rows == confirmations over http and service+log;
``reconcile.reconcile(db)`` finds no discrepancy.

CPU: this process's CPU time, and (MariaDB, PostgreSQL on this machine) the database server's
process tree and the HTTP server process, read from /proc over each measured window.

**Lock window** (``--profile-seconds`` per run, separate from the throughput runs): the port's
``PooledDatabase._execute`` (and ``_begin``) is wrapped *in this process only* to time every
statement (wall and this thread's CPU), and the floor times its own statements the same way.  A
confirmation's lock window runs from the return of the statement that takes the account locks
(``SELECT .. FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``) to the return of ``COMMIT``; it is split into
the statements inside it and the Python between them.

Usage: ``python benchmarks/c2b_throughput.py --backend all`` (about 10 minutes; servers: see
``docs/performance-c2b.md``); ``--quick`` for a smoke run (about a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
from c2b_fleet import DAILY_TARGET, FARE_PCT, Driver, setup_fleet

from ledger_app.db.pool import ConnectionPool, PooledDatabase
from ledger_app.engine import callbacks, clock, drivers, posting, reconcile
from ledger_app.engine.errors import LedgerError, RetryableDatabaseError
from ledger_app.engine.settings import get_settings
from tests.support import free_port, ledger_app_command

CENT = Decimal("0.01")
SPREAD_DRIVERS = 1000
CALLBACK_TOKEN = "bench-c2b-callback-token"
CONFIRMATION = "/api/method/ledger_app.api.mpesa.c2b_confirmation"
VARIANTS = ("floor", "floor+reads", "service", "service+log", "http")
#: on request only: http-ping, a bare ``GET /api/method/ping`` to the same server (the HTTP stack alone; posts nothing)
ALL_VARIANTS = (*VARIANTS, "http-ping")
FLOORS = ("floor", "floor+reads")
HTTP_THREADS = 16


def daraja_body(trans_id: str, amount: Decimal, account: str, when: str) -> dict:
	return {
		"TransactionType": "Pay Bill",
		"TransID": trans_id,
		"TransTime": when,
		"TransAmount": str(amount),
		"BusinessShortCode": "600000",
		"BillRefNumber": account,
		"InvoiceNumber": "",
		"OrgAccountBalance": "",
		"ThirdPartyTransID": "",
		"MSISDN": "2547 ***** 126",
		"FirstName": "JOHN",
		"MiddleName": "",
		"LastName": "DOE",
	}


def trans_time() -> str:
	return clock.now().strftime("%Y%m%d%H%M%S")


# --- statement timing (lock-window pass only) ---------------------------------------------------


_tls = threading.local()
#: transactions the port rolled back in this process (each a replayed or failed unit of work)
ROLLBACKS = [0]
_rollbacks_lock = threading.Lock()
_orig_rollback = PooledDatabase._rollback


def _counting_rollback(self):
	with _rollbacks_lock:
		ROLLBACKS[0] += 1
	return _orig_rollback(self)


PooledDatabase._rollback = _counting_rollback  # this process only: counts replays of service units


def _kind(query: str) -> str:
	q = query.lstrip().replace('"', "`")  # the raw paths' queries are already in PostgreSQL quoting
	head = q[:12].upper()
	if head.startswith("COMMIT"):
		return "COMMIT"
	if head.startswith("ROLLBACK"):
		return "ROLLBACK"
	if head.startswith("BEGIN"):
		return "BEGIN"
	if "Ledger Account" in q:
		if head.startswith("SELECT") and (
			"`posting_count`, `normal_side`" in q or "`posting_count`, a.`normal_side`" in q
		):
			return "lock accounts (SELECT .. FOR UPDATE)"  # SQLite: no FOR UPDATE (BEGIN IMMEDIATE locked)
		if head.startswith("UPDATE"):
			return "UPDATE balances"
		return "other account read"
	if "Ledger Posting" in q:
		if head.startswith("INSERT"):
			return "INSERT postings"
		return "last-posting read"
	if "Ledger Transaction" in q:
		if head.startswith("INSERT"):
			return "INSERT header"
		return "find_by_key"
	if "Vehicle" in q:
		return "match_account (Fleet Vehicle)"
	if "tabFleet Driver" in q:
		return "get_driver"
	if "Singles" in q:
		return "get_settings"
	if "Callback Log" in q:
		return "Callback Log " + ("INSERT" if head.startswith("INSERT") else "UPDATE")
	return "other"


class Recorder:
	"""Per-thread list of (kind, wall start, wall end, thread CPU start, thread CPU end)."""

	def __init__(self):
		self.events: list[tuple] = []

	def start(self):
		self.events = []
		self.t0 = time.perf_counter()
		self.c0 = time.thread_time()

	def add(self, kind, w0, w1, c0, c1):
		self.events.append((kind, w0, w1, c0, c1))


@contextmanager
def timed_port():
	"""Wrap the port's primitives (this process only) to time each statement of the calling thread."""
	orig_execute, orig_begin = PooledDatabase._execute, PooledDatabase._begin

	def _execute(self, query, params, fetch):
		rec = getattr(_tls, "rec", None)
		if rec is None or getattr(_tls, "in_begin", False):
			return orig_execute(self, query, params, fetch)
		w0, c0 = time.perf_counter(), time.thread_time()
		try:
			return orig_execute(self, query, params, fetch)
		finally:
			rec.add(_kind(query), w0, time.perf_counter(), c0, time.thread_time())

	def _begin(self):
		rec = getattr(_tls, "rec", None)
		if rec is None:
			return orig_begin(self)
		w0, c0 = time.perf_counter(), time.thread_time()
		_tls.in_begin = True
		try:
			return orig_begin(self)  # SQLite: includes the wait for the pool's writer lock
		finally:
			_tls.in_begin = False
			rec.add("BEGIN", w0, time.perf_counter(), c0, time.thread_time())

	PooledDatabase._execute, PooledDatabase._begin = _execute, _begin
	try:
		yield
	finally:
		PooledDatabase._execute, PooledDatabase._begin = orig_execute, orig_begin


def breakdown(rec: Recorder, end_wall: float, end_cpu: float, sqlite: bool) -> dict | None:
	"""One confirmation's timings (seconds): total, before the lock, the lock statement (wait),
	inside the lock window per statement and Python (wall, CPU), after COMMIT."""
	ev = rec.events
	li = next((i for i, e in enumerate(ev) if e[0] == "lock accounts (SELECT .. FOR UPDATE)"), None)
	if sqlite and li is not None:  # BEGIN IMMEDIATE took the lock: the BEGIN of that transaction
		li = max((i for i, e in enumerate(ev[:li]) if e[0] == "BEGIN"), default=None)
	ci = next((i for i, e in enumerate(ev) if e[0] == "COMMIT" and li is not None and i > li), None)
	if li is None or ci is None or any(e[0] == "ROLLBACK" for e in ev):
		return None
	out = defaultdict(float)
	out["total"] = end_wall - rec.t0
	out["total_cpu"] = end_cpu - rec.c0
	out["before_lock"] = ev[li][1] - rec.t0
	out["lock_statement"] = ev[li][2] - ev[li][1]
	out["window"] = ev[ci][2] - ev[li][2]
	out["after_commit"] = end_wall - ev[ci][2]
	prev_w, prev_c = ev[li][2], ev[li][4]
	for kind, w0, w1, c0, c1 in ev[li + 1 : ci + 1]:
		out["py_wall"] += w0 - prev_w
		out["py_cpu"] += c0 - prev_c
		out["stmt:" + kind] += w1 - w0
		out["stmtcpu:" + kind] += c1 - c0
		prev_w, prev_c = w1, c1
	out["statements_in_window"] = ci - li
	for kind, w0, w1, c0, c1 in ev:  # the whole confirmation, statement by statement
		out["all:" + kind] += w1 - w0
		out["n:" + kind] += 1
		out["all_statements"] += w1 - w0
	return out


# --- CPU of the processes involved -------------------------------------------------------------


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
	try:
		text = Path(f"/proc/{pid}/stat").read_text()
	except OSError:
		return None
	return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def process_tree_cpu(pid: int) -> float:
	"""CPU seconds (user + system) of ``pid``, its reaped children and its live children."""
	own = _stat(pid)
	if own is None:
		return float("nan")
	total = sum(int(x) for x in own[11:15])  # utime, stime, cutime, cstime
	for entry in Path("/proc").iterdir():
		if entry.name.isdigit() and int(entry.name) != pid:
			st = _stat(int(entry.name))
			if st is not None and int(st[1]) == pid:
				total += sum(int(x) for x in st[11:13])
	return total / _TICK


def db_server_pid(backend: str) -> int | None:
	"""The database server's main process (mariadbd; the postmaster), when it is on this machine."""
	try:
		conn = bl._admin_connect(backend)
		try:
			if backend == "mariadb":
				with conn.cursor() as cur:
					cur.execute("SELECT @@pid_file")
					path = cur.fetchone()[0]
			else:
				path = str(Path(conn.execute("SHOW data_directory").fetchone()[0]) / "postmaster.pid")
		finally:
			conn.close()
		return int(Path(path).read_text().split()[0])
	except Exception:  # noqa: BLE001 - a remote server or no access: the report leaves its CPU out
		return None


# --- the raw floor ----------------------------------------------------------------------------


class Floor:
	"""The raw-SQL paths (see the module docstring), prepared once per database.

	``floor``: the fewest statements.  ``floor+reads``: the engine's statement list for a fare
	confirmation, raw.
	"""

	def __init__(self, pool: ConnectionPool, mode: str = "floor"):
		self.dialect = pool.dialect
		d = self.dialect.name
		assert mode in FLOORS, mode
		self.mode = mode
		self.sqlite = d == "sqlite"
		money = self.dialect.money
		with pool.connection() as db:
			name_expr = bl.posting_name_expr(db)
		self.begin = "BEGIN IMMEDIATE" if self.sqlite else "BEGIN"
		# -- the engine's reads (drivers.match_account, its check under the locks, and
		#    posting._last_running_balances), as the engine writes them, with positional parameters
		self.vehicle_driver = bl.raw_sql(d, drivers._match_sql(self.dialect).replace("%(a)s", "%s"))
		unchanged = drivers._match_unchanged_sql(self.dialect)
		self.unchanged_params = re.findall(r"%\((\w+)\)s", unchanged)
		unchanged = re.sub(r"%\(\w+\)s", "%s", unchanged)
		self.kept: dict[str, tuple] = {}  # account number -> the check's parameters (drivers.kept_match)
		# -- the header: plain (floor), or insert-or-skip on the idempotency key (the engine)
		header = (
			f"INSERT INTO {bl.TRANSACTION} (`name`, `creation`, `modified`, `owner`, `modified_by`, `docstatus`,"
			" `idx`, `transaction_type`, `posting_datetime`, `idempotency_key`, `remarks`, `reversal_of`,"
			" `party_type`, `party`, `payload_hash`, `key_scope`) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
			" %s, %s, %s, 'C2B Receipt')"
		)
		if mode != "floor":
			header = self.dialect.insert_or_skip(header, ("key_scope", "idempotency_key"))
		self.insert_txn = bl.raw_sql(d, header)
		# -- the lock: plain (floor), or with each account's last posting joined in (the engine; on
		#    PostgreSQL read again after the lock where a lock wait returned it from before the wait)
		self.lock = bl.raw_sql(
			d,
			f"SELECT `name`, `balance`, `posting_count`, `normal_side` FROM {bl.ACCOUNT}"
			f" WHERE `name` IN (%s, %s, %s) ORDER BY `name`{self.dialect.for_update}",
		)
		self.lock_joined = bl.raw_sql(
			d,
			f"SELECT a.`name`, a.`balance`, a.`posting_count`, a.`normal_side`, a.`frozen`,"
			f" a.`allow_negative_balance`, {money('p.`balance_after`')} AS `last_running`, p.`account_seq` AS `last_seq`,"
			f" ({unchanged}) AS `precondition_holds` FROM {bl.ACCOUNT} a LEFT JOIN {bl.POSTING} p ON p.`account` = a.`name`"
			" AND p.`account_seq` = a.`posting_count`"
			f" WHERE a.`name` IN (%s, %s, %s) ORDER BY a.`name`{self.dialect.for_update_of('a')}",
		)
		self.join_last = mode != "floor"
		row = "(" + (f"{name_expr}, " if name_expr else "") + ", ".join(["%s"] * 14) + ")"
		name_col = "`name`, " if name_expr else ""
		insert_postings = (
			f"INSERT INTO {bl.POSTING} ({name_col}`creation`, `modified`, `owner`, `modified_by`, `docstatus`, `idx`,"
			" `parent`, `parentfield`, `parenttype`, `account`, `amount`, `balance_after`, `posting_datetime`, `account_seq`)"
			f" VALUES {row}, {row}, {row}"
		)
		self.insert_postings = bl.raw_sql(d, insert_postings)
		# PostgreSQL after a lock wait: each posted account checked with the insert (posting._previous_running_sql)
		self.insert_postings_returning = bl.raw_sql(
			d, f"{insert_postings} RETURNING {posting._previous_running_sql(self.dialect)}"
		)
		increment = self.dialect.money_add(
			"`balance`", "CASE `name` WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s END"
		)
		self.update = bl.raw_sql(
			d,
			f"UPDATE {bl.ACCOUNT} SET `balance` = {increment}, `posting_count` = `posting_count` + 1"
			" WHERE `name` IN (%s, %s, %s)",
		)
		self.money = (lambda v: str(v.quantize(CENT))) if self.sqlite else (lambda v: v)

	def confirm(
		self, db, trans_id: str, amount: Decimal, driver: Driver, rec: Recorder | None = None
	) -> Decimal:
		"""One confirmation; returns the contribution to the target."""
		conn = db.connection
		cur = None if self.sqlite else conn.cursor()
		lock = db._writer_lock
		mode = self.mode

		def run(query, params=(), fetch=False, kind=None):
			if rec is not None:
				w0, c0 = time.perf_counter(), time.thread_time()
			if self.sqlite:
				result = conn.execute(query, params)
				result = result.fetchall() if fetch else result.rowcount
			else:
				cur.execute(query, params or None)
				result = cur.fetchall() if fetch else cur.rowcount
			if rec is not None:
				rec.add(kind or _kind(query), w0, time.perf_counter(), c0, time.thread_time())
			return result

		now = clock.now()
		name = bl.ledger_rows.new_name()
		locked = tuple(driver.locked)
		check = ()
		if mode == "floor+reads":
			check = self.kept.get(driver.account_number)
			if check is None:  # the first payment to a vehicle matches it; later ones check the kept match
				basis = {"m_a": driver.account_number}
				row = run(self.vehicle_driver, (driver.account_number,), True)[0]
				for key in row.keys():  # noqa: SIM118 - a sqlite3.Row iterates its values
					basis[f"m_{key}"] = row[key]
				check = self.kept[driver.account_number] = tuple(basis[p] for p in self.unchanged_params)
		if lock is not None:
			if rec is not None:
				w0, c0 = time.perf_counter(), time.thread_time()
			lock.acquire()
		try:
			if lock is not None and rec is not None:
				run(self.begin)
				_, _, w1, _, c1 = rec.events.pop()
				rec.add("BEGIN", w0, w1, c0, c1)  # the writer-lock wait counts as the lock statement
			else:
				run(self.begin)
			try:
				inserted = run(
					self.insert_txn,
					(
						name,
						now,
						now,
						"Guest",
						"Guest",
						1,
						0,
						"C2B Payment",
						now,
						trans_id,
						f"C2B {trans_id} account {driver.account_number}",
						None,
						"Fleet Driver",
						driver.name,
						bl.FIXED_HASH,
					),
				)
				if inserted != 1:
					raise RuntimeError(f"TransID {trans_id} was already used")
				rows = run(self.lock_joined if self.join_last else self.lock, check + locked, True)
				by_name = {r["name"]: r for r in rows}
				if self.join_last and not rows[0]["precondition_holds"]:
					raise RuntimeError(f"the kept match of {driver.account_number} is stale")
				stale = self.join_last and any(
					r["last_seq"] is None or int(r["last_seq"]) != int(r["posting_count"]) for r in rows
				)
				outstanding = Decimal(str(by_name[driver.target]["balance"]))
				cut = (amount * (100 - FARE_PCT) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
				contribution = min(cut, outstanding) if outstanding > 0 else Decimal("0.00")
				share = amount - contribution
				legs = {drivers.PAYBILL_ACCOUNT: amount, driver.target: -contribution, driver.payable: -share}
				params, deltas = [], []
				for idx, account in enumerate(locked, start=1):
					r = by_name[account]
					leg = legs[account]
					delta = leg if r["normal_side"] == "Debit" else -leg
					after = Decimal(str(r["balance"])) + delta
					params += [
						now,
						now,
						"Guest",
						"Guest",
						1,
						idx,
						name,
						"postings",
						"Ledger Transaction",
						account,
						self.money(leg),
						self.money(after),
						now,
						int(r["posting_count"]) + 1,
					]
					deltas += [account, self.money(delta)]
				if stale:
					run(self.insert_postings_returning, tuple(params), True)
				else:
					run(self.insert_postings, tuple(params))
				run(self.update, tuple(deltas + list(locked)))
				run("COMMIT")
			except BaseException:
				with contextlib.suppress(Exception):  # a broken connection: the original error matters
					run("ROLLBACK")
				raise
		finally:
			if lock is not None:
				lock.release()
			if cur is not None:
				cur.close()
		return contribution


# --- the HTTP server --------------------------------------------------------------------------


@contextmanager
def server_process(db_url: str, threads: int):
	"""``ledger-app serve --no-scheduler --threads N`` as a real process on a free port (as
	tests/support.py does); yields (base URL, pid, log path).  Its output goes to a file."""
	port = free_port()
	env = {
		**os.environ,
		"LEDGER_APP_CALLBACK_TOKEN": CALLBACK_TOKEN,
		"LEDGER_APP_API_KEY": "bench",
		"LEDGER_APP_API_SECRET": uuid.uuid4().hex,
	}
	fd, log_path = tempfile.mkstemp(prefix="ledger-c2b-serve-", suffix=".log")
	cmd = [
		*ledger_app_command(),
		"serve",
		"--db",
		db_url,
		"--port",
		str(port),
		"--no-scheduler",
		"--threads",
		str(threads),
	]
	with os.fdopen(fd, "w+") as log:
		process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
		try:
			deadline = time.monotonic() + 60
			while "listening on" not in Path(log_path).read_text():
				if process.poll() is not None or time.monotonic() > deadline:
					process.kill()
					raise RuntimeError(f"server did not start: {Path(log_path).read_text()[-2000:]}")
				time.sleep(0.05)
			yield f"http://127.0.0.1:{port}", process.pid, log_path
		finally:
			process.send_signal(signal.SIGTERM)
			try:
				process.wait(timeout=30)
			except subprocess.TimeoutExpired:
				process.kill()
				process.wait()
			Path(log_path).unlink(missing_ok=True)


class HttpClient:
	"""A lean keep-alive HTTP/1.1 client (``http.client``), one per client thread.

	The gateway's client does not run on this machine; the load generator does, on the same 2 cores
	as the server and the database, so it should cost as little as possible.  ``requests`` costs
	0.7-1.7 ms more per request here than this (docs/performance-c2b.md), which the first version of
	this benchmark measured as if it were the server's.
	"""

	def __init__(self, base: str, headers: dict | None = None):
		import http.client
		from urllib.parse import urlsplit

		parts = urlsplit(base)
		self._connect = lambda: http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
		self.connection = self._connect()
		#: sent with every request (a Frappe site is picked by the ``Host`` header)
		self.headers = dict(headers or {})

	def call(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
		headers = {**self.headers, "Content-Type": "application/json"} if body is not None else self.headers
		try:
			self.connection.request(method, path, body, headers)
			response = self.connection.getresponse()
		except (ConnectionError, OSError):  # the server closed the kept-alive connection: once more
			self.connection.close()
			self.connection = self._connect()
			self.connection.request(method, path, body, headers)
			response = self.connection.getresponse()
		return response.status, response.read().decode()

	def close(self) -> None:
		self.connection.close()


# --- one timed run ----------------------------------------------------------------------------


class Books:
	"""What the clients were told succeeded (all variants, warm-ups included), for the checks."""

	def __init__(self):
		self.lock = threading.Lock()
		self.amount = Decimal("0.00")
		self.count = 0
		self.http = 0
		#: confirmations that wrote a Callback Log row (http and service+log)
		self.logged = 0

	def add(self, amount: Decimal, variant: str) -> None:
		with self.lock:
			self.amount += amount
			self.count += 1
			self.http += variant == "http"
			self.logged += variant in ("http", "service+log")


def confirm_one(ctx: dict, variant: str, db, session, trans_id: str, amount: Decimal, driver, rec, stats: dict) -> None:
	"""One confirmation of ``amount`` to ``driver``'s vehicle through ``variant``'s path."""
	if variant in FLOORS:
		for attempt in range(10):
			try:
				ctx[variant].confirm(db, trans_id, amount, driver, rec)
				return
			except Exception as exc:
				ours = db.dialect.classify(exc)
				if isinstance(ours, RetryableDatabaseError) and attempt < 9:
					stats["retries"] += 1
					if rec is not None:
						rec.start()
					time.sleep(random.uniform(0, 0.01 * (2**attempt)))
					continue
				raise
	body = daraja_body(trans_id, amount, driver.account_number, trans_time())
	if variant == "service":
		drivers.confirm_c2b(db, drivers.parse_c2b(body))
	elif variant == "service+log":
		raw = json.dumps(body).encode()
		log_name = callbacks.record(
			db, "c2b_confirmation", raw, {"Content-Type": "application/json"}, "127.0.0.1"
		)
		refused = callbacks.refusal(
			CALLBACK_TOKEN, CALLBACK_TOKEN, "127.0.0.1", get_settings(db, ("allowed_callback_ips",))["allowed_callback_ips"]
		)
		assert refused is None, refused
		payment = drivers.parse_c2b(json.loads(raw))
		try:
			drivers.confirm_c2b(db, payment, callback_log=log_name)
		except LedgerError as exc:
			callbacks.finish(db, log_name, "Rejected", 400, exc.message, reference=trans_id)
			raise
	elif variant == "http-ping":
		status, text = session.call("GET", "/api/method/ping")
		if status != 200:
			raise RuntimeError(f"HTTP {status}: {text[:200]}")
	else:
		path = ctx.get("confirmation", CONFIRMATION)
		status, text = session.call("POST", f"{path}?token={CALLBACK_TOKEN}", json.dumps(body))
		if status != 200 or json.loads(text) != {"ResultCode": 0, "ResultDesc": "Success"}:
			raise RuntimeError(f"HTTP {status}: {text[:200]}")


CODES = {"floor": "F", "floor+reads": "R", "service": "S", "service+log": "L", "http": "H", "http-ping": "G"}


def prime(ctx: dict, variants, clients: int = 4) -> None:
	"""One confirmation to every vehicle of the fleet through each path, unmeasured.  A process that
	has been taking payments for a while has matched every vehicle paid to it and keeps the match
	(``drivers.kept_match``; the floor+reads path keeps its own the same way); the measured runs then
	see that steady state instead of each process's first payment to each vehicle."""
	vehicles = [ctx["fleet"]["hot"], *ctx["fleet"]["spread"]]
	tag = uuid.uuid4().hex[:8].upper()

	def run(variant: str, i: int, chunk: list, errors: list[str]) -> None:
		session = HttpClient(ctx["base"], ctx.get("headers")) if variant.startswith("http") else None
		try:
			with ctx["pools"][variant].connection() as db:
				for n, driver in enumerate(chunk):
					amount = Decimal("10.00")
					confirm_one(ctx, variant, db, session, f"W{CODES[variant]}{tag}{i:02d}N{n}", amount, driver, None,
						{"retries": 0})
					ctx["books"].add(amount, variant)
		except Exception as exc:  # noqa: BLE001 - reported below
			errors.append(f"{type(exc).__name__}: {exc}"[:300])
		finally:
			if session is not None:
				session.close()

	for variant in variants:
		if variant == "http-ping":
			continue
		errors: list[str] = []
		workers = [threading.Thread(target=run, args=(variant, i, vehicles[i::clients], errors)) for i in range(clients)]
		for w in workers:
			w.start()
		for w in workers:
			w.join()
		if errors:
			raise RuntimeError(f"priming {variant} failed: {errors[0]}")


def timed_run(
	ctx: dict, variant: str, threads: int, seconds: float, warmup: float, picker, profile: bool = False
) -> dict:
	"""``threads`` clients confirming for warmup + seconds; confirmations finishing in the measured
	window count.  ``profile``: also a per-confirmation breakdown of the lock window."""
	pool, books = ctx["pools"][variant], ctx["books"]
	stop = threading.Event()
	barrier = threading.Barrier(threads + 1)
	tag = uuid.uuid4().hex[:8].upper()
	code = CODES[variant]
	finished: list[list[tuple[float, float]]] = [[] for _ in range(threads)]
	profiles: list[list[tuple[float, dict]]] = [[] for _ in range(threads)]
	errors: list[str] = []
	stats = {"retries": 0}
	sqlite = pool.dialect.name == "sqlite"

	def worker(i: int) -> None:
		rng = random.Random(f"{tag}-{i}")
		seq = 0
		out, prof = finished[i], profiles[i]
		rec = Recorder() if profile else None
		session = HttpClient(ctx["base"], ctx.get("headers")) if variant.startswith("http") else None
		try:
			with pool.connection() as db:
				barrier.wait()
				if rec is not None:
					_tls.rec = rec
				while not stop.is_set():
					driver = picker(rng)
					amount = Decimal(rng.randrange(1000, 100000)) / 100
					seq += 1
					trans_id = f"{code}{tag}{i:02d}N{seq}"
					t = time.perf_counter()
					if rec is not None:
						rec.start()
					try:
						confirm_one(ctx, variant, db, session, trans_id, amount, driver, rec, stats)
					except Exception as exc:  # noqa: BLE001 - recorded and reported, the run goes on
						errors.append(f"{type(exc).__name__}: {exc}"[:300])
						if len(errors) > 50:
							stop.set()
						continue
					e = time.perf_counter()
					if variant != "http-ping":
						books.add(amount, variant)
					out.append((e, e - t))
					if rec is not None:
						b = breakdown(rec, e, time.thread_time(), sqlite)
						if b is not None:
							prof.append((e, b))
		except threading.BrokenBarrierError:
			pass
		finally:
			_tls.rec = None
			if session is not None:
				session.close()

	workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
	for w in workers:
		w.start()
	barrier.wait()
	rollbacks0 = ROLLBACKS[0]
	t0 = time.perf_counter()
	time.sleep(warmup)
	db_pid, app_pid = ctx.get("db_pid"), ctx.get("server_pid") if variant.startswith("http") else None
	cpu0 = time.process_time()
	db0 = process_tree_cpu(db_pid) if db_pid else float("nan")
	app0 = process_tree_cpu(app_pid) if app_pid else float("nan")
	time.sleep(seconds)
	cpu1 = time.process_time()
	db1 = process_tree_cpu(db_pid) if db_pid else float("nan")
	app1 = process_tree_cpu(app_pid) if app_pid else float("nan")
	stop.set()
	for w in workers:
		w.join(timeout=120)
	lo, hi = t0 + warmup, t0 + warmup + seconds
	lat = [d for per in finished for (e, d) in per if lo <= e < hi]
	prof = [b for per in profiles for (e, b) in per if lo <= e < hi]
	return {
		"variant": variant,
		"count": len(lat),
		"seconds": seconds,
		"latencies": lat,
		"profiles": prof,
		"errors": errors,
		"retries": stats["retries"] + ROLLBACKS[0] - rollbacks0,
		"client_cpu": cpu1 - cpu0,
		"db_cpu": db1 - db0,
		"app_cpu": app1 - app0,
	}


def pickers(fleet: dict) -> dict:
	hot, spread = fleet["hot"], fleet["spread"]
	return {"hot": lambda rng: hot, "spread": lambda rng: rng.choice(spread)}


def scenario(
	ctx: dict, layout: str, threads: int, seconds: float, warmup: float, rounds: int, variants
) -> dict:
	picker = pickers(ctx["fleet"])[layout]
	runs = {v: [] for v in variants}
	load = [os.getloadavg()[0]]
	backend = ctx["backend"]
	for rnd in range(rounds):
		for variant in variants if rnd % 2 == 0 else variants[::-1]:
			first = not runs[variant]
			result = timed_run(
				ctx, variant, threads, seconds / rounds, warmup if first else min(warmup, 0.3), picker
			)
			runs[variant].append(result)
			bl.log(
				f"  {backend} {layout} x{threads} {variant} round {rnd + 1}: {result['count'] / result['seconds']:,.0f}/s"
				f" ({len(result['errors'])} errors, {result['retries']} rollbacks)"
			)
			for err in result["errors"][:3]:
				bl.log(f"    error: {err}")
	load.append(os.getloadavg()[0])
	out = {"backend": backend, "layout": layout, "threads": threads, "loadavg": load}
	for variant, results in runs.items():
		count = sum(r["count"] for r in results)
		secs = sum(r["seconds"] for r in results)
		lat = [x for r in results for x in r["latencies"]]
		out[variant] = {
			"rate": count / secs if secs else 0.0,
			"rates": [r["count"] / r["seconds"] for r in results],
			"client_cpu_ms": sum(r["client_cpu"] for r in results) / max(1, count) * 1000,
			"db_cpu_ms": sum(r["db_cpu"] for r in results) / max(1, count) * 1000,
			"app_cpu_ms": sum(r["app_cpu"] for r in results) / max(1, count) * 1000,
			"cpu_busy": sum(
				r["client_cpu"] + r["db_cpu"] + (r["app_cpu"] if r["app_cpu"] == r["app_cpu"] else 0)
				for r in results
			)
			/ secs
			if secs
			else 0.0,
			"p50": bl.percentile(lat, 0.5),
			"p99": bl.percentile(lat, 0.99),
			"errors": sum(len(r["errors"]) for r in results),
			"retries": sum(r["retries"] for r in results),
			"first_errors": [e for r in results for e in r["errors"]][:3],
		}
	f = out.get("floor", {}).get("rate")
	s = out.get("service", {}).get("rate")
	if f and s:
		out["service_floor"] = s / f
	if s and out.get("http", {}).get("rate") is not None:
		out["http_service"] = out["http"]["rate"] / s
	if s and out.get("service+log", {}).get("rate") is not None:
		out["log_service"] = out["service+log"]["rate"] / s
	if f and out.get("floor+reads", {}).get("rate") is not None:
		out["reads_floor"] = out["floor+reads"]["rate"] / f
	return out


def lock_window(
	ctx: dict, layout: str, threads: int, seconds: float, variant: str, warmup: float = 0.3
) -> dict:
	"""A short instrumented run; mean per-confirmation breakdown in seconds."""
	picker = pickers(ctx["fleet"])[layout]
	with timed_port():
		result = timed_run(ctx, variant, threads, seconds, warmup, picker, profile=True)
	prof = result["profiles"]
	rate = result["count"] / result["seconds"]
	keys = sorted({k for p in prof for k in p})
	mean = {k: sum(p.get(k, 0.0) for p in prof) / max(1, len(prof)) for k in keys}
	windows = sorted(p["window"] for p in prof)
	bl.log(
		f"  lock window {ctx['backend']} {layout} x{threads} {variant}: {rate:,.0f}/s, window"
		f" {mean.get('window', 0) * 1000:.2f} ms of {mean.get('total', 0) * 1000:.2f} ms ({len(prof)} samples,"
		f" {len(result['errors'])} errors)"
	)
	return {
		"backend": ctx["backend"],
		"layout": layout,
		"threads": threads,
		"variant": variant,
		"rate": rate,
		"samples": len(prof),
		"mean": mean,
		"window_p50": bl.percentile(windows, 0.5),
		"window_p99": bl.percentile(windows, 0.99),
		"errors": len(result["errors"]),
	}


# --- correctness --------------------------------------------------------------------------------


def check_books(url: str, books: Books, fleet: dict) -> dict:
	pool = ConnectionPool(url, size=1, overflow=0)
	try:
		with pool.connection() as db:
			def scalar(query: str, params: dict | None = None):
				return db.sql(query, params or {})[0]["v"]

			paybill = Decimal(scalar(f"SELECT {db.dialect.money('`balance`')} AS v FROM {bl.ACCOUNT} WHERE `name` = %(n)s",
				{"n": drivers.PAYBILL_ACCOUNT}))
			paybill_postings = Decimal(scalar(f"SELECT {db.dialect.money_sum('`amount`')} AS v FROM {bl.POSTING}"
				" WHERE `account` = %(n)s", {"n": drivers.PAYBILL_ACCOUNT}))
			txns = int(scalar(f"SELECT COUNT(*) AS v FROM {bl.TRANSACTION} WHERE `transaction_type` = 'C2B Payment'"))
			unmatched = int(scalar("SELECT COUNT(*) AS v FROM `tabUnmatched Payment`"))
			logs = int(scalar("SELECT COUNT(*) AS v FROM `tabCallback Log` WHERE `status` = 'Processed'"))
			report = drivers.balances_report(db)
			target = Decimal(DAILY_TARGET)
			payable = sum((r["payable"] for r in report), Decimal("0.00"))
			paid_off = sum((target - r["target_outstanding"] for r in report), Decimal("0.00"))
			sharing = all(r["target_outstanding"] > 0 for r in report)
			summary = reconcile.reconcile(db)
			hot = None
			if db.dialect.name == "postgres":  # how many account updates were HOT (no index entries)
				row = db.sql(
					"SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tabLedger Account'"
				)
				hot = (int(row[0]["n_tup_upd"]), int(row[0]["n_tup_hot_upd"])) if row else None
		problems = []
		if paybill != books.amount or paybill_postings != books.amount:
			problems.append(
				f"paybill {paybill} (postings {paybill_postings}) != sum of confirmed amounts {books.amount}"
			)
		if txns != books.count:
			problems.append(f"{txns} C2B Payment transactions != {books.count} confirmed")
		if payable + paid_off != books.amount:
			problems.append(f"payables {payable} + target paid off {paid_off} != {books.amount}")
		if unmatched:
			problems.append(f"{unmatched} unmatched payments")
		if logs != books.logged:
			problems.append(f"{logs} Callback Log rows Processed != {books.logged} logged confirmations")
		if not sharing:
			problems.append("a target reached zero: the split left its sharing branch")
		if summary["discrepancies"]:
			problems.append(f"reconcile: {summary['discrepancies']} discrepancies")
		return {
			"ok": not problems,
			"problems": problems,
			"confirmations": books.count,
			"amount": str(books.amount),
			"paybill": str(paybill.quantize(CENT)),
			"callback_logs_processed": logs,
			"http_confirmations": books.http,
			"reconcile": "clean"
			if not summary["discrepancies"]
			else f"{summary['discrepancies']} discrepancies",
			"accounts_checked": summary["accounts_checked"],
			"account_updates_hot": hot,
			"postings_checked": summary["postings_checked"],
		}
	finally:
		pool.dispose()


# --- a backend ----------------------------------------------------------------------------------


def run_backend(backend: str, args) -> dict:
	variants = tuple(v for v in args.variants.split(",") if v)
	threads_list = [int(t) for t in args.threads.split(",")]
	layouts = args.layouts.split(",")
	size = max(threads_list) + 2
	out = {"backend": backend, "scenarios": [], "lock_window": []}
	with bl.bench_database(backend, f"c2b_{backend}", keep=args.keep, pool_size=size, overflow=8) as (
		url,
		setup_pool,
	):
		fleet = setup_fleet(setup_pool, args.drivers)
		bl.log(
			f"{backend}: fleet of {len(fleet['spread']) + 1} drivers set up in {fleet['seconds']:.1f} s"
			f" ({fleet['charged']} targets charged)"
		)
		with setup_pool.connection() as db:
			bl.analyze(db)
		setup_pool.dispose()
		pools = {v: ConnectionPool(url, size=size, overflow=8) for v in variants}
		ctx = {"backend": backend, "pools": pools, "books": Books(), "fleet": fleet}
		for v in variants:
			if v in FLOORS:
				ctx[v] = Floor(pools[v], v)
		out["setup_seconds"] = fleet["seconds"]
		ctx["db_pid"] = db_server_pid(backend) if backend != "sqlite" else None
		try:
			with (
				server_process(url, HTTP_THREADS)
				if any(v.startswith("http") for v in variants)
				else _nothing() as server
			):
				if server is not None:
					ctx["base"], ctx["server_pid"] = server[0], server[1]
				t_prime = time.perf_counter()
				prime(ctx, variants)
				bl.log(f"{backend}: every vehicle paid once through each path in {time.perf_counter() - t_prime:.1f} s")
				for layout in layouts:
					for threads in threads_list:
						out["scenarios"].append(
							scenario(ctx, layout, threads, args.seconds, args.warmup, args.rounds, variants)
						)
				if server is not None:
					errors = [
						line
						for line in Path(server[2]).read_text().splitlines()
						if "Traceback" in line or "ERROR" in line
					]
					out["server_log_errors"] = errors[:5]
			if args.profile_seconds > 0:
				for layout, threads in args.profile_cells:
					if layout not in layouts or threads not in threads_list:
						continue
					for variant in ("floor", "floor+reads", "service") + (
						("service+log",) if threads == 1 else ()
					):
						if variant in variants:
							out["lock_window"].append(
								lock_window(
									ctx, layout, threads, args.profile_seconds, variant, min(0.3, args.warmup)
								)
							)
		finally:
			for pool in pools.values():
				pool.dispose()
		out["check"] = check_books(url, ctx["books"], fleet)
		bl.log(
			f"{backend}: books {'OK' if out['check']['ok'] else 'WRONG: ' + '; '.join(out['check']['problems'])};"
			f" {out['check']['confirmations']:,} confirmations, reconcile {out['check']['reconcile']}"
		)
	return out


@contextmanager
def _nothing():
	yield None


# --- output -----------------------------------------------------------------------------------


TARGETS = {("hot", 16): 0.50, ("spread", 1): 0.60, ("spread", 16): 0.60}


RATIOS = (
	("floor+reads", "floor"),
	("service", "floor+reads"),
	("service+log", "service"),
	("http", "service+log"),
)


def _pct(x: float, goal: float | None = None) -> str:
	"""A ratio as a whole percentage; one decimal when rounding would hide that it misses ``goal``."""
	if goal is not None and x < goal and round(x * 100) >= round(goal * 100):
		return f"{x * 100:.1f} %"
	return f"{x * 100:.0f} %"


def _ratio(r: dict, a: str, b: str) -> float | None:
	x, y = r.get(a, {}).get("rate"), r.get(b, {}).get("rate")
	return x / y if x is not None and y else None


def throughput_table(results: list[dict]) -> str:
	shown = [v for v in ALL_VARIANTS if any(v in r for res in results for r in res["scenarios"])]
	rows, detail = [], []
	for res in results:
		for r in res["scenarios"]:
			present = [v for v in shown if v in r]
			scen = "1 hot driver" if r["layout"] == "hot" else f"{SPREAD_DRIVERS_SHOWN} drivers"
			cells = [r["backend"], scen, r["threads"]]
			for v in shown:
				cells.append(bl.fmt_rate(r[v]["rate"]) if v in r else "-")
			sf = _ratio(r, "service", "floor")
			goal = TARGETS.get((r["layout"], r["threads"])) if r["backend"] != "sqlite" else None
			mark = (
				"" if goal is None or sf is None else (" met" if sf >= goal else f" **missed** ({goal:.0%})")
			)
			cells.append(f"**{_pct(sf, goal)}**{mark}" if sf is not None else "-")
			hs = _ratio(r, "http", "service")
			cells.append(
				f"**{_pct(hs, 0.40)}**" + (" met" if hs >= 0.40 else " **missed**") if hs is not None else "-"
			)
			for a, b in RATIOS:
				x = _ratio(r, a, b)
				cells.append(f"{x * 100:.0f} %" if x is not None else "-")
			rows.append(cells)
			d = [r["backend"], scen, r["threads"]]
			d.append(" / ".join(f"{bl.fmt_ms(r[v]['p50'])}, {bl.fmt_ms(r[v]['p99'])}" for v in present))
			d.append(" / ".join(_cpu(r[v]) for v in present))
			d.append(" / ".join(f"{min(r[v]['rates']):,.0f}-{max(r[v]['rates']):,.0f}" for v in present))
			d.append(
				" / ".join(
					f"{r[v]['errors']}" + (f" ({r[v]['retries']} rolled back)" if r[v]["retries"] else "")
					for v in present
				)
			)
			d.append("-".join(f"{x:.1f}" for x in r["loadavg"]))
			detail.append(d)
	headers = [
		"backend",
		"scenario",
		"clients",
		*(f"{v} /s" for v in shown),
		"service / floor (target)",
		"http / service (target 40 %)",
		*(f"{a} / {b}" for a, b in RATIOS),
	]
	keep = [i for i in range(len(headers)) if i < 3 + len(shown) or any(row[i] != "-" for row in rows)]
	main = bl.table([headers[i] for i in keep], [[row[i] for i in keep] for row in rows])
	order = ", ".join(shown)
	extra = bl.table(
		[
			"backend",
			"scenario",
			"clients",
			f"p50, p99 ms ({order})",
			"CPU ms per confirmation: client [+ app server] + DB server (cores busy)",
			"rate range over rounds",
			"errors",
			"load avg before-after",
		],
		detail,
	)
	return (
		main
		+ "\n\nLatency, CPU, spread over rounds and errors for the same runs (variants in the order "
		+ order
		+ "):\n\n"
		+ extra
	)


SPREAD_DRIVERS_SHOWN = SPREAD_DRIVERS


def _cpu(x: dict) -> str:
	parts = [f"{x['client_cpu_ms']:.2f}"]
	if x["app_cpu_ms"] == x["app_cpu_ms"]:
		parts.append(f"{x['app_cpu_ms']:.2f}")
	if x["db_cpu_ms"] == x["db_cpu_ms"]:
		parts.append(f"{x['db_cpu_ms']:.2f}")
	else:
		return " + ".join(parts)  # SQLite: the database works inside the client processes
	return " + ".join(parts) + f" ({x['cpu_busy']:.1f} cores)"


_SHORT = {
	"lock accounts (SELECT .. FOR UPDATE)": "lock",
	"last-posting read": "last-read",
	"INSERT postings": "INSERT",
	"UPDATE balances": "UPDATE",
	"INSERT header": "header",
	"find_by_key": "key",
}
_ORDER = {
	"find_by_key": 1,
	"INSERT header": 2,
	"lock accounts (SELECT .. FOR UPDATE)": 3,
	"last-posting read": 4,
	"INSERT postings": 5,
	"UPDATE balances": 6,
	"COMMIT": 9,
}


def lock_table(results: list[dict]) -> str:
	rows = []
	for res in results:
		for r in res["lock_window"]:
			m = r["mean"]
			if not r["samples"]:
				continue

			def ms(k, m=m):
				return f"{m.get(k, 0.0) * 1000:.2f}"

			hold = m.get("window", 0.0)
			kinds = sorted((k[5:] for k in m if k.startswith("stmt:")), key=lambda k: (_ORDER.get(k, 50), k))
			stmts = " + ".join(f"{_SHORT.get(k, k)} {ms('stmt:' + k)}" for k in kinds)
			rows.append(
				[
					r["backend"],
					r["layout"],
					r["threads"],
					r["variant"],
					bl.fmt_rate(r["rate"]),
					ms("total"),
					ms("before_lock"),
					ms("lock_statement"),
					f"**{ms('window')}**",
					stmts,
					f"{ms('py_wall')} ({ms('py_cpu')} CPU)",
					f"{hold / m['total'] * 100:.0f} %" if m.get("total") else "-",
					f"{r['rate'] * hold:.2f}",
					f"{1 / hold:,.0f}" if hold else "-",
					f"{bl.fmt_ms(r['window_p50'])} / {bl.fmt_ms(r['window_p99'])}",
				]
			)
	return bl.table(
		[
			"backend",
			"scenario",
			"clients",
			"path",
			"rate /s (instrumented)",
			"total ms",
			"before lock ms",
			"lock statement ms (incl. wait)",
			"lock window ms",
			"statements in window ms",
			"Python in window ms",
			"window / total",
			"rate x window",
			"1 / window /s",
			"window p50 / p99 ms",
		],
		rows,
	)


def statement_table(results: list[dict]) -> str:
	"""1 client, hot driver: every statement of a whole confirmation (mean wall ms and count)."""
	rows = []
	for res in results:
		for r in res["lock_window"]:
			if r["threads"] != 1 or not r["samples"]:
				continue
			m = r["mean"]
			kinds = sorted((k[4:] for k in m if k.startswith("all:")), key=lambda k: -m["all:" + k])
			stmts = m.get("all_statements", 0.0)
			rows.append(
				[
					r["backend"],
					r["variant"],
					f"{m['total'] * 1000:.2f}",
					f"{stmts * 1000:.2f}",
					f"{(m['total'] - stmts) * 1000:.2f}",
					f"{m.get('total_cpu', 0) * 1000:.2f}",
					f"{sum(m['n:' + k] for k in kinds):.0f}",
					"; ".join(
						f"{k} {m['all:' + k] * 1000:.2f}"
						+ (f" (x{m['n:' + k]:.0f})" if m["n:" + k] > 1.05 else "")
						for k in kinds
					),
				]
			)
	return bl.table(
		[
			"backend",
			"path",
			"total ms",
			"in statements ms",
			"Python between statements ms",
			"client CPU ms",
			"statements",
			"each statement kind: mean wall ms per confirmation",
		],
		rows,
	)


def main(argv=None) -> int:
	global SPREAD_DRIVERS_SHOWN
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("--backend", default="all", help="sqlite|mariadb|postgres|all (or a comma list)")
	parser.add_argument(
		"--seconds", type=float, default=5.0, help="measured seconds per variant and scenario"
	)
	parser.add_argument(
		"--rounds", type=int, default=3, help="alternating rounds per scenario (seconds split over them)"
	)
	parser.add_argument(
		"--warmup", type=float, default=1.0, help="unmeasured seconds at the start of a variant's first run"
	)
	parser.add_argument("--threads", default="1,16")
	parser.add_argument("--layouts", default="hot,spread")
	parser.add_argument(
		"--variants",
		default=",".join(VARIANTS),
		help=f"comma list of {', '.join(ALL_VARIANTS)} (http-ping: on request only)",
	)
	parser.add_argument("--drivers", type=int, default=SPREAD_DRIVERS, help="drivers in the spread scenario")
	parser.add_argument(
		"--profile-seconds",
		type=float,
		default=2.0,
		help="seconds per instrumented lock-window run (0: skip)",
	)
	parser.add_argument("--quick", action="store_true", help="smoke check: short runs (under 2 minutes)")
	parser.add_argument("--json", help="write the results here as JSON")
	parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
	args = parser.parse_args(argv)
	unknown = sorted(set(args.variants.split(",")) - set(ALL_VARIANTS))
	if unknown:
		parser.error(f"unknown variants: {', '.join(unknown)}")
	args.profile_cells = [("hot", 1), ("hot", 16), ("spread", 16)]
	if args.quick:
		args.seconds, args.warmup, args.rounds = min(args.seconds, 0.4), min(args.warmup, 0.1), 1
		args.profile_seconds = min(args.profile_seconds, 0.3)
		args.drivers = min(args.drivers, 200)
	SPREAD_DRIVERS_SHOWN = args.drivers
	backends = bl.backends_from_arg(args.backend)
	started = time.perf_counter()
	results = {"settings": {b: bl.server_settings(b) for b in backends}, "backends": []}
	for backend in backends:
		results["backends"].append(run_backend(backend, args))
	print("\n### C2B confirmations: service and HTTP vs raw-SQL floor (confirmations/s)\n")
	print(throughput_table(results["backends"]))
	if any(r["lock_window"] for r in results["backends"]):
		print("\n### Inside the lock window (instrumented runs, mean ms per confirmation)\n")
		print(lock_table(results["backends"]))
		print("\nOne client, hot driver: every statement of a whole confirmation (same instrumented runs)\n")
		print(statement_table(results["backends"]))
	print("\n### Books after the runs\n")
	for r in results["backends"]:
		c = r["check"]
		print(
			f"- {r['backend']}: {'OK' if c['ok'] else 'WRONG: ' + '; '.join(c['problems'])} -"
			f" {c['confirmations']:,} confirmations ({c['http_confirmations']:,} over HTTP, {c['callback_logs_processed']:,}"
			f" Callback Log rows Processed) summing to {c['amount']} = paybill {c['paybill']}; reconcile {c['reconcile']}"
			f" ({c['accounts_checked']:,} accounts, {c['postings_checked']:,} postings); fleet set up in"
			f" {r['setup_seconds']:.0f} s"
			+ (f"; server log errors: {r['server_log_errors']}" if r.get("server_log_errors") else "")
			+ (
				f"; tabLedger Account updates {c['account_updates_hot'][0]:,}, of them HOT"
				f" {c['account_updates_hot'][1]:,} (pg_stat_user_tables)"
				if c.get("account_updates_hot")
				else ""
			)
		)
	print(f"\n_c2b_throughput: {time.perf_counter() - started:.0f} s_")
	sys.stdout.flush()
	if args.json:
		for r in results["backends"]:
			for s in r["scenarios"]:
				for v in ALL_VARIANTS:
					s.get(v, {}).pop("latencies", None)
		Path(args.json).write_text(json.dumps(results, indent=1, default=str))
	return 0 if all(r["check"]["ok"] for r in results["backends"]) else 1


if __name__ == "__main__":
	sys.exit(main())
