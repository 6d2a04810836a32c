"""C2B confirmation throughput: the service layer and real HTTP against a raw-SQL floor doing the same
writes, and where the time goes inside the lock window of a confirmation.

Per backend, one fresh database holds a fleet: Ledger Settings with a global daily target of
100,000,000.00 (so every confirmation stays in the split's sharing branch), global fare 50 %,
target sharing on; one "hot" driver ``HOT`` on vehicle account ``KHOT``; 1,000 drivers
``D0000`` .. ``D0999`` on vehicles ``K0000`` .. ``K0999``; the daily target charged to all of them
(``drivers.run_daily_targets``).  Scenarios: every confirmation to the hot driver, or each to a
random one of the 1,000 drivers' vehicles; 1 and 16 clients (threads).  Amounts are random whole
cents from 10.00 to 999.99.  Variants:

- **floor**: the fewest statements a correct confirmation needs: ``benchlib.Floor`` (6 round trips
  on the pooled DB-API connection, no port, no validation, no idempotency look-up, the driver's
  accounts and terms known in advance) posting the three legs, split in Python from the locked target
  balance O: cut = round(A * (100 - f) / 100, 2), contribution = min(cut, O), share = A - contribution.
  floor -> service is the price of the engine's heavier statements, the port, validation and Python.

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

After all runs on a backend the books are checked (``check_books``): the paybill, the transactions,
the split, the Callback Log rows and reconciliation against what the clients were told succeeded.

CPU: this process's CPU time, and (MariaDB, PostgreSQL on this machine) the database server's
process tree and the HTTP server process, read from /proc over each measured window.

**Lock window** (``--profile-seconds`` per run, separate from the throughput runs): every statement
is timed at the DB-API connection (``benchlib.timed_statements``: wall and this thread's CPU), the
floor's and the port's alike.  A confirmation's lock window runs from the return of the statement that takes the account locks
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
import sys
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

from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import callbacks, clock, drivers, reconcile
from ledger_app.engine.errors import LedgerError
from ledger_app.engine.settings import get_settings
from tests.support import free_port, ledger_app_command

CENT = Decimal("0.01")
SPREAD_DRIVERS = 1000
CALLBACK_TOKEN = "bench-c2b-callback-token"
CONFIRMATION = "/api/method/ledger_app.api.mpesa.c2b_confirmation"
VARIANTS = ("floor", "service", "service+log", "http")
HTTP_THREADS = 16


def daraja_body(trans_id: str, amount: Decimal, account: str, when: str) -> dict:
	return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": when, "TransAmount": str(amount),
		"BusinessShortCode": "600000", "BillRefNumber": account, "InvoiceNumber": "", "OrgAccountBalance": "",
		"ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "JOHN", "MiddleName": "", "LastName": "DOE"}


def trans_time() -> str:
	return clock.now().strftime("%Y%m%d%H%M%S")


# --- statement timing (lock-window pass only) ---------------------------------------------------


class Recorder:
	"""One client's statements: (kind, wall start, wall end, thread CPU start, thread CPU end)."""

	def __init__(self):
		self.events: list[tuple] = []

	def start(self):
		self.events, self.t0, self.c0 = [], time.perf_counter(), time.thread_time()

	def add(self, query, w0, w1, c0, c1):
		self.events.append((bl.statement_kind(query), w0, w1, c0, c1))


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


TICK = os.sysconf("SC_CLK_TCK")


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
	return total / TICK


def db_server_pid(backend: str) -> int | None:
	"""The database server's main process (mariadbd; the postmaster), when it is on this machine."""
	try:
		conn = bl.admin_connect(backend)
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


def floor_confirm(floor: bl.Floor, db, trans_id: str, amount: Decimal, driver: Driver) -> None:
	"""One confirmation through the floor: the split from the locked target balance."""

	def split(rows: dict) -> dict:
		outstanding = Decimal(str(rows[driver.target]["balance"]))
		cut = (amount * (100 - FARE_PCT) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
		contribution = min(cut, outstanding) if outstanding > 0 else Decimal("0.00")
		return {drivers.PAYBILL_ACCOUNT: amount, driver.target: -contribution, driver.payable: contribution - amount}

	floor.post_retrying(db, trans_id, split, accounts=driver.locked, transaction_type="C2B Payment",
		key_scope="C2B Receipt", owner="Guest", remarks=f"C2B {trans_id} account {driver.account_number}",
		party_type="Fleet Driver", party=driver.name)


# --- the HTTP server --------------------------------------------------------------------------


@contextmanager
def server_process(db_url: str, threads: int):
	"""``ledger-app serve --no-scheduler --threads N`` as a real process on a free port (as
	tests/support.py does); yields (base URL, pid, log path)."""
	port = free_port()
	env = {**os.environ, "LEDGER_APP_CALLBACK_TOKEN": CALLBACK_TOKEN, "LEDGER_APP_API_KEY": "bench",
		"LEDGER_APP_API_SECRET": uuid.uuid4().hex}
	cmd = [*ledger_app_command(), "serve", "--db", db_url, "--port", str(port), "--no-scheduler", "--threads", str(threads)]
	with bl.server_process(cmd, lambda log: "listening on" in log, "serve", env=env) as (pid, log_path):
		yield f"http://127.0.0.1:{port}", pid, log_path


class HttpClient:
	"""A lean keep-alive HTTP/1.1 client (``http.client``), one per client thread: the load generator
	shares the cores with the server and the database, so it should cost as little as possible."""

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
	"""What the clients were told succeeded (all variants, warm-ups included), for the checks;
	``logged``: the confirmations that wrote a Callback Log row (http and service+log)."""

	def __init__(self):
		self.lock, self.amount, self.count, self.http, self.logged = threading.Lock(), Decimal("0.00"), 0, 0, 0

	def add(self, amount: Decimal, variant: str) -> None:
		with self.lock:
			self.amount += amount
			self.count += 1
			self.http += variant == "http"
			self.logged += variant in ("http", "service+log")


def confirm_one(ctx: dict, variant: str, db, session, trans_id: str, amount: Decimal, driver) -> None:
	"""One confirmation of ``amount`` to ``driver``'s vehicle through ``variant``'s path."""
	if variant == "floor":
		floor_confirm(ctx["floor"], db, trans_id, amount, driver)
		return
	body = daraja_body(trans_id, amount, driver.account_number, trans_time())
	if variant == "service":
		drivers.confirm_c2b(db, drivers.parse_c2b(body))
	elif variant == "service+log":
		raw = json.dumps(body).encode()
		log_name = callbacks.record(db, "c2b_confirmation", raw, {"Content-Type": "application/json"}, "127.0.0.1")
		allowed = get_settings(db, ("allowed_callback_ips",))["allowed_callback_ips"]
		refused = callbacks.refusal(CALLBACK_TOKEN, CALLBACK_TOKEN, "127.0.0.1", allowed)
		assert refused is None, refused
		payment = drivers.parse_c2b(json.loads(raw))
		try:
			drivers.confirm_c2b(db, payment, callback_log=log_name)
		except LedgerError as exc:
			callbacks.finish(db, log_name, "Rejected", 400, exc.message, reference=trans_id)
			raise
	else:
		path = ctx.get("confirmation", CONFIRMATION)
		status, text = session.call("POST", f"{path}?token={CALLBACK_TOKEN}", json.dumps(body))
		if status != 200 or json.loads(text) != {"ResultCode": 0, "ResultDesc": "Success"}:
			raise RuntimeError(f"HTTP {status}: {text[:200]}")


CODES = {"floor": "F", "service": "S", "service+log": "L", "http": "H"}


def prime(ctx: dict, variants, clients: int = 4) -> None:
	"""One confirmation to every vehicle of the fleet through each path, unmeasured.  A process that
	has been taking payments for a while has matched every vehicle paid to it and keeps the match
	(``drivers.kept_match``); the measured runs then see that steady state."""
	vehicles = [ctx["fleet"]["hot"], *ctx["fleet"]["spread"]]
	tag = uuid.uuid4().hex[:8].upper()

	def run(variant: str, i: int, chunk: list, errors: list[str]) -> None:
		session = HttpClient(ctx["base"], ctx.get("headers")) if variant == "http" else None
		try:
			with ctx["pools"][variant].connection() as db:
				for n, driver in enumerate(chunk):
					amount = Decimal("10.00")
					confirm_one(ctx, variant, db, session, f"W{CODES[variant]}{tag}{i:02d}N{n}", amount, driver)
					ctx["books"].add(amount, variant)
		except Exception as exc:  # noqa: BLE001 - reported below
			errors.append(f"{type(exc).__name__}: {exc}"[:300])
		finally:
			if session is not None:
				session.close()

	for variant in variants:
		errors: list[str] = []
		workers = [threading.Thread(target=run, args=(variant, i, vehicles[i::clients], errors)) for i in range(clients)]
		for w in workers:
			w.start()
		for w in workers:
			w.join()
		if errors:
			raise RuntimeError(f"priming {variant} failed: {errors[0]}")


@contextmanager
def counted_rollbacks(db, counter: list):
	"""Counts the port's rollbacks on ``db``: each a replayed or failed unit of work."""
	rollback = db.rollback

	def counted():
		counter.append(1)
		rollback()

	db.rollback = counted
	try:
		yield
	finally:
		del db.rollback


def timed_run(
	ctx: dict, variant: str, threads: int, seconds: float, warmup: float, picker, profile: bool = False
) -> dict:
	"""``threads`` clients confirming for warmup + seconds; confirmations finishing in the measured
	window count.  ``profile``: also a per-confirmation breakdown of the lock window (the samples)."""
	pool, books, code = ctx["pools"][variant], ctx["books"], CODES[variant]
	sqlite, tag, rollbacks = pool.dialect.name == "sqlite", uuid.uuid4().hex[:8].upper(), []

	@contextmanager
	def client(i: int):
		session = HttpClient(ctx["base"], ctx.get("headers")) if variant == "http" else None
		rec = Recorder() if profile else None
		try:
			with pool.connection() as db, contextlib.ExitStack() as stack:
				if db is not None:  # in process: the port's rollbacks counted, statements timed on request
					stack.enter_context(counted_rollbacks(db, rollbacks))
					if rec is not None:
						stack.enter_context(bl.timed_statements(db, rec.add))

				def step(rng, n):
					driver, amount = picker(rng), Decimal(rng.randrange(1000, 100000)) / 100
					if rec is not None:
						rec.start()
					confirm_one(ctx, variant, db, session, f"{code}{tag}{i:02d}N{n}", amount, driver)
					books.add(amount, variant)
					if rec is not None:
						return breakdown(rec, time.perf_counter(), time.thread_time(), sqlite)

				yield step
		finally:
			if session is not None:
				session.close()

	db_pid, app_pid = ctx.get("db_pid"), ctx.get("server_pid") if variant == "http" else None
	meters = {"client_cpu": time.process_time, "db_cpu": lambda: process_tree_cpu(db_pid) if db_pid else float("nan"),
		"app_cpu": lambda: process_tree_cpu(app_pid) if app_pid else float("nan")}
	floor = ctx.get("floor") if variant == "floor" else None
	retries = floor.retries if floor else 0
	result = bl.timed_clients(threads, warmup, seconds, client, meters)
	return {**result, "variant": variant, "retries": len(rollbacks) + (floor.retries - retries if floor else 0)}


def pickers(fleet: dict) -> dict:
	return {"hot": lambda rng: fleet["hot"], "spread": lambda rng: rng.choice(fleet["spread"])}


def scenario(ctx: dict, layout: str, threads: int, seconds: float, warmup: float, rounds: int, variants) -> dict:
	picker = pickers(ctx["fleet"])[layout]
	runs = {v: [] for v in variants}
	load = [os.getloadavg()[0]]
	backend = ctx["backend"]
	for rnd, variant, first in bl.alternating(variants, rounds):
		result = timed_run(ctx, variant, threads, seconds / rounds, warmup if first else min(warmup, 0.3), picker)
		runs[variant].append(result)
		bl.log(f"  {backend} {layout} x{threads} {variant} round {rnd + 1}: {result['count'] / result['seconds']:,.0f}/s"
			f" ({len(result['errors'])} errors, {result['retries']} rollbacks)")
		for err in result["errors"][:3]:
			bl.log(f"    error: {err}")
	load.append(os.getloadavg()[0])
	out = {"backend": backend, "layout": layout, "threads": threads, "loadavg": load}
	for variant, results in runs.items():
		out[variant] = bl.summary(results, ("client_cpu", "db_cpu", "app_cpu"))
		secs = sum(r["seconds"] for r in results)
		busy = sum(r["client_cpu"] + r["db_cpu"] + (r["app_cpu"] if r["app_cpu"] == r["app_cpu"] else 0)
			for r in results)
		out[variant]["cpu_busy"] = busy / secs if secs else 0.0
	return out


def lock_window(ctx: dict, layout: str, threads: int, seconds: float, variant: str, warmup: float = 0.3) -> dict:
	"""A short instrumented run; mean per-confirmation breakdown in seconds."""
	picker = pickers(ctx["fleet"])[layout]
	result = timed_run(ctx, variant, threads, seconds, warmup, picker, profile=True)
	prof = result["samples"]
	rate = result["count"] / result["seconds"]
	keys = sorted({k for p in prof for k in p})
	mean = {k: sum(p.get(k, 0.0) for p in prof) / max(1, len(prof)) for k in keys}
	windows = sorted(p["window"] for p in prof)
	bl.log(f"  lock window {ctx['backend']} {layout} x{threads} {variant}: {rate:,.0f}/s, window"
		f" {mean.get('window', 0) * 1000:.2f} ms of {mean.get('total', 0) * 1000:.2f} ms ({len(prof)} samples,"
		f" {len(result['errors'])} errors)")
	return {"backend": ctx["backend"], "layout": layout, "threads": threads, "variant": variant, "rate": rate,
		"samples": len(prof), "mean": mean, "window_p50": bl.percentile(windows, 0.5),
		"window_p99": bl.percentile(windows, 0.99), "errors": len(result["errors"])}


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
		checks = [
			(paybill == books.amount == paybill_postings,
				f"paybill {paybill} (postings {paybill_postings}) != sum of confirmed amounts {books.amount}"),
			(txns == books.count, f"{txns} C2B Payment transactions != {books.count} confirmed"),
			(payable + paid_off == books.amount, f"payables {payable} + target paid off {paid_off} != {books.amount}"),
			(not unmatched, f"{unmatched} unmatched payments"),
			(logs == books.logged, f"{logs} Callback Log rows Processed != {books.logged} logged confirmations"),
			(sharing, "a target reached zero: the split left its sharing branch"),
			(not summary["discrepancies"], f"reconcile: {summary['discrepancies']} discrepancies"),
		]
		problems = [problem for ok, problem in checks if not ok]
		return {"ok": not problems, "problems": problems, "confirmations": books.count, "amount": str(books.amount),
			"paybill": str(paybill.quantize(CENT)), "callback_logs_processed": logs, "http_confirmations": books.http,
			"reconcile": "clean" if not summary["discrepancies"] else f"{summary['discrepancies']} discrepancies",
			"accounts_checked": summary["accounts_checked"], "account_updates_hot": hot,
			"postings_checked": summary["postings_checked"]}
	finally:
		pool.dispose()


# --- a backend ----------------------------------------------------------------------------------


def run_backend(backend: str, args) -> dict:
	variants = tuple(v for v in args.variants.split(",") if v)
	threads_list = [int(t) for t in args.threads.split(",")]
	layouts = args.layouts.split(",")
	size = max(threads_list) + 2
	out = {"backend": backend, "scenarios": [], "lock_window": []}
	with bl.bench_database(backend, f"c2b_{backend}", keep=args.keep, pool_size=size, overflow=8) as (url, setup):
		fleet = setup_fleet(setup, args.drivers)
		bl.log(f"{backend}: fleet of {len(fleet['spread']) + 1} drivers set up in {fleet['seconds']:.1f} s"
			f" ({fleet['charged']} targets charged)")
		with setup.connection() as db:
			bl.analyze(db)
		setup.dispose()
		pools = {v: ConnectionPool(url, size=size, overflow=8) for v in variants}
		ctx = {"backend": backend, "pools": pools, "books": Books(), "fleet": fleet}
		if "floor" in variants:
			ctx["floor"] = bl.Floor(pools["floor"])
		out["setup_seconds"] = fleet["seconds"]
		ctx["db_pid"] = db_server_pid(backend) if backend != "sqlite" else None
		http = "http" in variants
		try:
			with server_process(url, HTTP_THREADS) if http else contextlib.nullcontext() as server:
				if server is not None:
					ctx["base"], ctx["server_pid"] = server[0], server[1]
				t_prime = time.perf_counter()
				prime(ctx, variants)
				bl.log(f"{backend}: every vehicle paid once through each path in {time.perf_counter() - t_prime:.1f} s")
				for layout in layouts:
					for threads in threads_list:
						out["scenarios"].append(scenario(ctx, layout, threads, args.seconds, args.warmup, args.rounds, variants))
				if server is not None:
					out["server_log_errors"] = bl.log_errors(server[2])
			for layout, threads in args.profile_cells if args.profile_seconds > 0 else ():
				if layout in layouts and threads in threads_list:
					for variant in ("floor", "service") + (("service+log",) if threads == 1 else ()):
						if variant in variants:
							out["lock_window"].append(lock_window(ctx, layout, threads, args.profile_seconds, variant,
								min(0.3, args.warmup)))
		finally:
			for pool in pools.values():
				pool.dispose()
		out["check"] = check = check_books(url, ctx["books"], fleet)
		bl.log(f"{backend}: books {'OK' if check['ok'] else 'WRONG: ' + '; '.join(check['problems'])};"
			f" {check['confirmations']:,} confirmations, reconcile {check['reconcile']}")
	return out


# --- output -----------------------------------------------------------------------------------


TARGETS = {("hot", 16): 0.50, ("spread", 1): 0.60, ("spread", 16): 0.60}
RATIOS = (("service+log", "service"), ("http", "service+log"))
_SHORT = {"lock accounts (SELECT .. FOR UPDATE)": "lock", "last-posting read": "last-read", "INSERT postings": "INSERT",
	"UPDATE balances": "UPDATE", "INSERT header": "header", "find_by_key": "key"}
_ORDER = {"find_by_key": 1, "INSERT header": 2, "lock accounts (SELECT .. FOR UPDATE)": 3, "last-posting read": 4,
	"INSERT postings": 5, "UPDATE balances": 6, "COMMIT": 9}


def _pct(x: float, goal: float | None = None) -> str:
	"""A ratio as a whole percentage; one decimal when rounding would hide that it misses ``goal``."""
	if goal is not None and x < goal and round(x * 100) >= round(goal * 100):
		return f"{x * 100:.1f} %"
	return f"{x * 100:.0f} %"


def _ratio(r: dict, a: str, b: str) -> float | None:
	x, y = r.get(a, {}).get("rate"), r.get(b, {}).get("rate")
	return x / y if x is not None and y else None


def _cpu(x: dict) -> str:
	parts = [f"{x[k]:.2f}" for k in ("client_cpu_ms", "app_cpu_ms", "db_cpu_ms") if x[k] == x[k]]
	if x["db_cpu_ms"] != x["db_cpu_ms"]:
		return " + ".join(parts)  # SQLite: the database works inside the client processes
	return " + ".join(parts) + f" ({x['cpu_busy']:.1f} cores)"


def throughput_table(results: list[dict], drivers: int) -> str:
	shown = [v for v in VARIANTS if any(v in r for res in results for r in res["scenarios"])]
	rows, detail = [], []
	for r in (r for res in results for r in res["scenarios"]):
		present = [v for v in shown if v in r]
		scen = "1 hot driver" if r["layout"] == "hot" else f"{drivers} drivers"
		sf, hs = _ratio(r, "service", "floor"), _ratio(r, "http", "service")
		goal = TARGETS.get((r["layout"], r["threads"])) if r["backend"] != "sqlite" else None
		mark = "" if goal is None or sf is None else (" met" if sf >= goal else f" **missed** ({goal:.0%})")
		rows.append([r["backend"], scen, r["threads"], *(bl.fmt_rate(r[v]["rate"]) if v in r else "-" for v in shown),
			f"**{_pct(sf, goal)}**{mark}" if sf is not None else "-",
			f"**{_pct(hs, 0.40)}**" + (" met" if hs >= 0.40 else " **missed**") if hs is not None else "-",
			*(f"{x * 100:.0f} %" if (x := _ratio(r, a, b)) is not None else "-" for a, b in RATIOS)])
		detail.append([r["backend"], scen, r["threads"], " / ".join(bl.latency(r[v], ", ") for v in present),
			" / ".join(_cpu(r[v]) for v in present), " / ".join(bl.rate_range(r[v]) for v in present),
			" / ".join(f"{r[v]['errors']}" + (f" ({r[v]['retries']} rolled back)" if r[v]["retries"] else "")
				for v in present), "-".join(f"{x:.1f}" for x in r["loadavg"])])
	headers = ["backend", "scenario", "clients", *(f"{v} /s" for v in shown), "service / floor (target)",
		"http / service (target 40 %)", *(f"{a} / {b}" for a, b in RATIOS)]
	keep = [i for i in range(len(headers)) if i < 3 + len(shown) or any(row[i] != "-" for row in rows)]
	order = ", ".join(shown)
	return (bl.table([headers[i] for i in keep], [[row[i] for i in keep] for row in rows])
		+ f"\n\nLatency, CPU, spread over rounds and errors for the same runs (variants in the order {order}):\n\n"
		+ bl.table(["backend", "scenario", "clients", f"p50, p99 ms ({order})",
			"CPU ms per confirmation: client [+ app server] + DB server (cores busy)", "rate range over rounds", "errors",
			"load avg before-after"], detail))


def lock_table(results: list[dict]) -> str:
	rows = []
	for r in (r for res in results for r in res["lock_window"] if r["samples"]):
		m = r["mean"]

		def ms(k, m=m):
			return f"{m.get(k, 0.0) * 1000:.2f}"

		hold = m.get("window", 0.0)
		kinds = sorted((k[5:] for k in m if k.startswith("stmt:")), key=lambda k: (_ORDER.get(k, 50), k))
		rows.append([r["backend"], r["layout"], r["threads"], r["variant"], bl.fmt_rate(r["rate"]), ms("total"),
			ms("before_lock"), ms("lock_statement"), f"**{ms('window')}**",
			" + ".join(f"{_SHORT.get(k, k)} {ms('stmt:' + k)}" for k in kinds), f"{ms('py_wall')} ({ms('py_cpu')} CPU)",
			f"{hold / m['total'] * 100:.0f} %" if m.get("total") else "-", f"{r['rate'] * hold:.2f}",
			f"{1 / hold:,.0f}" if hold else "-", f"{bl.fmt_ms(r['window_p50'])} / {bl.fmt_ms(r['window_p99'])}"])
	return bl.table(["backend", "scenario", "clients", "path", "rate /s (instrumented)", "total ms", "before lock ms",
		"lock statement ms (incl. wait)", "lock window ms", "statements in window ms", "Python in window ms",
		"window / total", "rate x window", "1 / window /s", "window p50 / p99 ms"], rows)


def statement_table(results: list[dict]) -> str:
	"""1 client, hot driver: every statement of a whole confirmation (mean wall ms and count)."""
	rows = []
	for r in (r for res in results for r in res["lock_window"] if r["threads"] == 1 and r["samples"]):
		m = r["mean"]
		kinds = sorted((k[4:] for k in m if k.startswith("all:")), key=lambda k: -m["all:" + k])
		stmts = m.get("all_statements", 0.0)
		rows.append([r["backend"], r["variant"], f"{m['total'] * 1000:.2f}", f"{stmts * 1000:.2f}",
			f"{(m['total'] - stmts) * 1000:.2f}", f"{m.get('total_cpu', 0) * 1000:.2f}",
			f"{sum(m['n:' + k] for k in kinds):.0f}",
			"; ".join(f"{k} {m['all:' + k] * 1000:.2f}" + (f" (x{m['n:' + k]:.0f})" if m["n:" + k] > 1.05 else "")
				for k in kinds)])
	return bl.table(["backend", "path", "total ms", "in statements ms", "Python between statements ms", "client CPU ms",
		"statements", "each statement kind: mean wall ms per confirmation"], rows)


def books_line(r: dict) -> str:
	c = r["check"]
	hot = c.get("account_updates_hot")
	return (f"- {r['backend']}: {'OK' if c['ok'] else 'WRONG: ' + '; '.join(c['problems'])} - {c['confirmations']:,}"
		f" confirmations ({c['http_confirmations']:,} over HTTP, {c['callback_logs_processed']:,} Callback Log rows"
		f" Processed) summing to {c['amount']} = paybill {c['paybill']}; reconcile {c['reconcile']}"
		f" ({c['accounts_checked']:,} accounts, {c['postings_checked']:,} postings); fleet set up in"
		f" {r['setup_seconds']:.0f} s" + (f"; server log errors: {r['server_log_errors']}" if r.get("server_log_errors") else "")
		+ (f"; tabLedger Account updates {hot[0]:,}, of them HOT {hot[1]:,} (pg_stat_user_tables)" if hot else ""))


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	bl.run_args(parser, seconds=5.0, rounds=3)
	parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
	parser.add_argument("--drivers", type=int, default=SPREAD_DRIVERS, help="drivers in the spread scenario")
	parser.add_argument("--profile-seconds", type=float, default=2.0, help="seconds per instrumented lock-window run (0: skip)")
	args = parser.parse_args(argv)
	unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
	if unknown:
		parser.error(f"unknown variants: {', '.join(unknown)}")
	args.profile_cells = [("hot", 1), ("hot", 16), ("spread", 16)]
	if args.quick:
		args.seconds, args.warmup, args.rounds = min(args.seconds, 0.4), min(args.warmup, 0.1), 1
		args.profile_seconds = min(args.profile_seconds, 0.3)
		args.drivers = min(args.drivers, 200)
	backends = bl.backends_from_arg(args.backend)
	started = time.perf_counter()
	results = {"settings": {b: bl.server_settings(b) for b in backends}, "backends": []}
	for backend in backends:
		results["backends"].append(run_backend(backend, args))
	print("\n### C2B confirmations: service and HTTP vs raw-SQL floor (confirmations/s)\n")
	print(throughput_table(results["backends"], args.drivers))
	if any(r["lock_window"] for r in results["backends"]):
		print("\n### Inside the lock window (instrumented runs, mean ms per confirmation)\n")
		print(lock_table(results["backends"]))
		print("\nOne client, hot driver: every statement of a whole confirmation (same instrumented runs)\n")
		print(statement_table(results["backends"]))
	print("\n### Books after the runs\n")
	print("\n".join(books_line(r) for r in results["backends"]))
	print(f"\n_c2b_throughput: {time.perf_counter() - started:.0f} s_")
	sys.stdout.flush()
	if args.json:
		for s in (s for r in results["backends"] for s in r["scenarios"]):
			for v in VARIANTS:
				s.get(v, {}).pop("latencies", None)
		Path(args.json).write_text(json.dumps(results, indent=1, default=str))
	return 0 if all(r["check"]["ok"] for r in results["backends"]) else 1


if __name__ == "__main__":
	sys.exit(main())
