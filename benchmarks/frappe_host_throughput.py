"""C2B confirmations per second through a Frappe site under gunicorn against the standalone host,
on the same MariaDB server, over real HTTP, in one run; and where a Frappe request spends its time.

Usage (a bench whose site has ledger_app installed, on MariaDB)::

	python3 benchmarks/frappe_host_throughput.py --bench ~/frappe-bench --site mysite.localhost \\
		--db-root-password root --wipe [--seconds 60 --rounds 6] [--json out.json]

On the bench the tests build: ``./scripts/bench`` in another terminal prints its bench folder (the
site is ``127.0.0.1``; its ``common_site_config.json`` holds the MariaDB account that may create
databases, so no password is needed), then::

	python3 benchmarks/frappe_host_throughput.py --bench /tmp/ledger-test.XXXXXXXX/bench --site 127.0.0.1 --wipe

``--bench`` and ``--site`` default to ``LEDGER_TEST_FRAPPE_BENCH`` / ``LEDGER_TEST_FRAPPE_SITE``, which
``scripts/lib/bench.sh``'s ``bench_start`` exports.

Runs with the Python that runs the other benchmarks (``pip install -e '.[standalone]'``); the Frappe side
runs with the bench's own ``env/bin/python`` and ``env/bin/gunicorn``.  ``PYTHONPATH`` is set to this
checkout for every process it starts, so both hosts run the code of this checkout whatever the bench
or the Python environment has installed.

What it does (docs/performance.md, "Frappe host vs standalone host", has the details): a fresh
``ledger_bench_frappe_host`` database on the site's MariaDB server for the standalone host (root user
and password: ``--db-root-user`` / ``--db-root-password``, by default ``root_login`` /
``root_password`` of the site's config); the same fleet on both (``c2b_fleet.setup_fleet``; on the site
through ``c2b_fleet.py`` run by the bench's Python, after emptying the ledger_app tables, refused
without ``--wipe`` when they hold rows); the site under ``gunicorn -b 127.0.0.1:PORT -w W -t 120
--preload frappe.app:application`` (W = 2 x cores + 1 sync workers, as bench's production config)
and ``ledger-app serve --no-scheduler --threads 16``; every vehicle paid once through each host, then
``--clients`` clients POST Daraja's confirmation body to ``/api/method/ledger_app.api.daraja.c2b_confirmation``
for ``--rounds`` rounds per host, the hosts taking turns, with the CPU of the clients, the host's process
tree, MariaDB and everything else per round; a phase profile of the site (``--profile-seconds``, 0 skips
it; ``frappe_request_phases.py`` as gunicorn's config); the books of both databases checked
(``c2b_throughput.check_books``; exit status 1 if either is wrong).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import benchlib as bl
import c2b_fleet as fleet
import c2b_throughput as c2b

from ledger_app.db.dialects import get_dialect
from ledger_app.db.pool import ConnectionPool
from tests.support import free_port

CONFIRMATION = "/api/method/ledger_app.api.daraja.c2b_confirmation"
PHASES_CONFIG = HERE / "frappe_request_phases.py"
HOSTS = ("frappe", "standalone")
STANDALONE_THREADS = c2b.HTTP_THREADS


# --- the site ---------------------------------------------------------------------------------


def site_config(bench: Path, site: str) -> dict:
	"""The site's config as Frappe reads it: common_site_config.json, then site_config.json over it."""
	sites = bench / "sites"
	path = sites / site / "site_config.json"
	if not path.exists():
		raise SystemExit(f"no site {site!r} in {sites} ({path} is missing)")
	common = sites / "common_site_config.json"
	conf = json.loads(common.read_text()) if common.exists() else {}
	conf.update(json.loads(path.read_text()))
	if (conf.get("db_type") or "mariadb") != "mariadb":
		raise SystemExit(f"the site runs on {conf['db_type']}; this benchmark compares the hosts on MariaDB")
	return conf


def _url(user: str, password: str, host: str, port: int, database: str = "") -> str:
	return f"mariadb://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(database)}"


def site_urls(conf: dict, root_user: str | None, root_password: str | None) -> tuple[str, str]:
	"""(the site's database URL as the site's user, the server's URL as root)."""
	host = conf.get("db_host") or "127.0.0.1"
	host = "127.0.0.1" if host == "localhost" else host  # Frappe's "localhost" means the socket; TCP here
	port = int(conf.get("db_port") or 3306)
	user = conf.get("db_user") or conf["db_name"]
	root_user = root_user or conf.get("root_login") or "root"
	root_password = root_password if root_password is not None else conf.get("root_password")
	if root_password is None:
		raise SystemExit("creating the standalone database needs the MariaDB root password: --db-root-password")
	site_url = _url(user, conf["db_password"], host, port, conf["db_name"])
	return site_url, _url(root_user, root_password, host, port)


def bench_env(extra: dict | None = None) -> dict:
	"""This process's environment with this checkout first on PYTHONPATH."""
	paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
	return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **(extra or {})}


def on_site(bench: Path, site: str, *args: str) -> dict:
	"""Run ``c2b_fleet.py`` with the bench's Python in ``sites/``; its JSON answer."""
	python = str(bench / "env" / "bin" / "python")
	cmd = [python, str(HERE / "c2b_fleet.py"), "--site", site, *args]
	done = subprocess.run(cmd, check=False, cwd=bench / "sites", env=bench_env(), capture_output=True, text=True)
	if done.returncode != 0:
		raise SystemExit(f"the site's set-up failed:\n{done.stderr[-3000:]}")
	return json.loads(done.stdout.strip().splitlines()[-1])


# --- the hosts ----------------------------------------------------------------------------------


def gunicorn_command(bench: Path, port: int, workers: int, config: Path | None = None) -> list[str]:
	cmd = [str(bench / "env" / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers), "-t", "120"]
	if config is not None:
		cmd += ["-c", str(config)]
	return [*cmd, "frappe.app:application", "--preload"]


@contextmanager
def gunicorn(bench: Path, site: str, workers: int, config: Path | None = None, env: dict | None = None):
	"""The site under gunicorn on a free port; yields (base URL, master pid, log path) once it answers
	``/api/method/ping`` for the site."""
	port = free_port()

	def answers(_log: str) -> bool:
		client = c2b.HttpClient(f"http://127.0.0.1:{port}", {"Host": site})
		try:
			return client.call("GET", "/api/method/ping")[0] == 200
		except OSError:
			return False
		finally:
			client.close()

	cmd = gunicorn_command(bench, port, workers, config)
	with bl.server_process(cmd, answers, "gunicorn", cwd=bench / "sites", env=bench_env(env)) as (pid, log_path):
		yield f"http://127.0.0.1:{port}", pid, log_path


class NoPool:
	"""The pool ``c2b_throughput.timed_run`` opens per client; the HTTP clients use no connection."""

	dialect = get_dialect("mariadb")

	def connection(self):
		return contextlib.nullcontext()


# --- measuring ----------------------------------------------------------------------------------


def machine_busy() -> float:
	"""CPU seconds spent by the whole machine (all cores, not idle or iowait) since boot."""
	fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
	idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
	return (sum(fields[:8]) - idle) / c2b.TICK


def measure(ctx: dict, clients: int, seconds: float, warmup: float, picker) -> dict:
	"""One round of one host (``c2b_throughput.timed_run``), with the machine's CPU over it."""
	busy0, t0, load0 = machine_busy(), time.perf_counter(), os.getloadavg()[0]
	result = c2b.timed_run(ctx, "http", clients, seconds, warmup, picker)
	busy, wall = machine_busy() - busy0, time.perf_counter() - t0
	db_cpu = result["db_cpu"] if result["db_cpu"] == result["db_cpu"] else 0.0  # NaN: the server is not local
	ours = result["client_cpu"] + result["app_cpu"] + db_cpu
	window, x = result["seconds"], bl.summary([result], ("client_cpu", "app_cpu", "db_cpu"))
	return {**x, "count": result["count"], "errors": result["errors"], "p50_ms": x["p50"] * 1000,
		"p99_ms": x["p99"] * 1000,
		# busy over the whole round (warm-up and wind-down included) scaled to the window, minus ours
		"others_cores": max(0.0, busy / wall - ours / window), "ours_cores": ours / window,
		"loadavg": (load0, os.getloadavg()[0])}


def host_ctx(name: str, base: str, pid: int, headers: dict | None, fleet: dict, db_pid) -> dict:
	return {
		"backend": name,
		"pools": {"http": NoPool()},
		"books": c2b.Books(),
		"fleet": fleet,
		"base": base,
		"headers": headers,
		"server_pid": pid,
		"db_pid": db_pid,
		"confirmation": CONFIRMATION,
	}


def fleet_of(drivers: int) -> dict:
	return {
		"hot": fleet.Driver(fleet.HOT, "KHOT"),
		"spread": [fleet.Driver(n, a) for n, a in fleet.spread_names(drivers)],
	}


def rounds(ctxs: dict, args) -> dict:
	"""The hosts take turns: round r runs A then B when r is even, B then A when odd."""
	out = {h: [] for h in HOSTS}
	for r, host, first in bl.alternating(HOSTS, args.rounds):
		picker = c2b.pickers(ctxs[host]["fleet"])["spread"]
		warmup = args.warmup if first else min(args.warmup, 1.0)
		out[host].append(m := measure(ctxs[host], args.clients, args.seconds / args.rounds, warmup, picker))
		bl.log(f"  round {r + 1} {host}: {m['rate']:,.0f}/s ({len(m['errors'])} errors; p50 {m['p50_ms']:.1f} ms;"
			f" server CPU {m['app_cpu_ms']:.2f} ms, MariaDB {m['db_cpu_ms']:.2f} ms, clients"
			f" {m['client_cpu_ms']:.2f} ms per confirmation; other processes {m['others_cores']:.2f} cores;"
			f" load {m['loadavg'][0]:.2f})")
		for err in m["errors"][:3]:
			bl.log(f"    error: {err}")
	return out


# --- the request phases -------------------------------------------------------------------------


def profile(bench: Path, site: str, ctx: dict, args) -> list[dict]:
	"""Phase timings of the site's requests (``frappe_request_phases.py`` in every worker), one run at
	1 client and one at ``--clients``; mean per confirmation."""
	out_dir = tempfile.mkdtemp(prefix="ledger-frappe-phases-")
	results = []
	windows = []
	with gunicorn(bench, site, args.workers, PHASES_CONFIG, {"LEDGER_PHASES_DIR": out_dir}) as (base, pid, log):
		pctx = {**ctx, "base": base, "server_pid": pid, "books": ctx["books"]}
		c2b.prime(pctx, ("http",))  # this gunicorn's workers match every vehicle once, as the measured one did
		picker = c2b.pickers(ctx["fleet"])["spread"]
		for clients in (1, args.clients):
			lo = time.time() + min(args.warmup, 1.0)
			m = measure(pctx, clients, args.profile_seconds, min(args.warmup, 1.0), picker)
			windows.append((clients, lo, lo + args.profile_seconds, m))
			bl.log(f"  profile x{clients}: {m['rate']:,.0f}/s (instrumented)")
		errors = bl.log_errors(log)
	records = []
	for path in Path(out_dir).glob("phases-*.jsonl"):
		records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
		path.unlink()
	os.rmdir(out_dir)
	for clients, lo, hi, m in windows:
		inside = [r for r in records if lo <= r["end"] < hi and "c2b_confirmation" in r["path"]]
		keys = sorted({k for r in inside for k in r if k not in ("end", "path", "pid")})
		mean = {k: sum(r.get(k, 0.0) for r in inside) / max(1, len(inside)) for k in keys}
		results.append({"clients": clients, "rate": m["rate"], "requests": len(inside), "mean": mean,
			"server_log_errors": errors})
	return results


# --- report ---------------------------------------------------------------------------------------


def _rate_sum(rs: list[dict], per_round: float) -> float:
	return sum(r["count"] for r in rs) / (per_round * len(rs)) if rs else 0.0


def _cpu_all(r: dict) -> float:
	"""CPU per confirmation of the host, MariaDB and the clients (ms)."""
	return r["app_cpu_ms"] + r["db_cpu_ms"] + r["client_cpu_ms"]


def throughput_table(res: dict, args) -> str:
	fr, sa = res["frappe"], res["standalone"]

	def pair(a, b, key):
		return f"{a[key]:.2f} / {b[key]:.2f}"

	rows = [[i + 1, "Frappe, standalone" if i % 2 == 0 else "standalone, Frappe", bl.fmt_rate(a["rate"]),
		bl.fmt_rate(b["rate"]), f"{a['rate'] / b['rate']:.0%}" if b["rate"] else "-",
		f"{a['p50_ms']:.1f} / {b['p50_ms']:.1f}", pair(a, b, "app_cpu_ms"), pair(a, b, "db_cpu_ms"),
		pair(a, b, "client_cpu_ms"), f"{_cpu_all(a):.2f} / {_cpu_all(b):.2f}", pair(a, b, "others_cores"),
		f"{a['loadavg'][0]:.1f} / {b['loadavg'][0]:.1f}"] for i, (a, b) in enumerate(zip(fr, sa))]
	total_fr, total_sa = (_rate_sum(rs, args.seconds / args.rounds) for rs in (fr, sa))

	def mean(rs, key):
		n = sum(r["count"] for r in rs)
		return sum((key(r) if callable(key) else r[key]) * r["count"] for r in rs) / max(1, n)

	cpu_fr, cpu_sa = mean(fr, _cpu_all), mean(sa, _cpu_all)
	rows.append(["all", "", f"**{bl.fmt_rate(total_fr)}**", f"**{bl.fmt_rate(total_sa)}**",
		f"**{total_fr / total_sa:.0%}**" if total_sa else "-", "",
		*(f"{mean(fr, k):.2f} / {mean(sa, k):.2f}" for k in ("app_cpu_ms", "db_cpu_ms", "client_cpu_ms")),
		f"{cpu_fr:.2f} / {cpu_sa:.2f} (S / F **{cpu_sa / cpu_fr:.0%}**)" if cpu_fr else "", "", ""])
	return bl.table(["round", "order", "Frappe /s", "standalone /s", "Frappe / standalone", "p50 ms (F / S)",
		"server CPU ms per confirmation (F / S)", "MariaDB CPU ms (F / S)", "clients CPU ms (F / S)",
		"all three, CPU ms (F / S)", "other processes, cores (F / S)", "load avg 1 min at start (F / S)"], rows)


#: (label, key, key subtracted or None): rows of the phase table, inclusive times as the hooks record them
PHASES = [
	("gunicorn: parse, call the app, write, close (minus the app)", "worker", "wsgi"),
	("the WSGI app (frappe.app.application), all of it", "wsgi", None),
	("  frappe.init: site config, frappe.local", "init", None),
	("  frappe.connect (the Database object)", "connect", None),
	("  make_form_dict (the JSON body parsed)", "form_dict", None),
	("  HTTPRequest: cookies, language, session (Guest), CSRF", "http_request", None),
	("  init_request, the rest (before_request hooks ...)", "init_request",
		"init+connect+form_dict+http_request"),
	("  validate_auth", "validate_auth", None),
	("  frappe.api.handle around our method (routing, whitelist check, form_dict to kwargs)", "api", "ours"),
	("  ledger_app: mpesa.c2b_confirmation, all of it", "ours", None),
	("    of it: its SQL statements (frappe.db.sql, incl. our commits)", "ours_sql", None),
	("    of it: host.secret(callback_token) (its __Auth read, decrypt)", "secret", None),
	("    of it: host.get_db() (the adapter)", "get_db", None),
	("  sync_database: the request's closing COMMIT + START TRANSACTION", "sync", None),
	("  after-request hooks, log_request, process_response", "after", None),
	("  after the response: rate limiter, recorder, after_response, frappe.destroy", "closing", None),
	("  the app, the rest", "wsgi", "init_request+validate_auth+api+sync+after+closing"),
	("all SQL statements of the request", "sql", None),
	("  of them: opening the connection (TCP, handshake, login)", "db_connect", None),
]


def phase_table(profiles: list[dict]) -> str:
	if not profiles:
		return ""
	headers = ["phase"]
	for p in profiles:
		headers += [f"x{p['clients']} wall ms", f"x{p['clients']} CPU ms"]
	rows = []
	for label, key, minus in PHASES:
		row = [label]
		for p in profiles:
			m = p["mean"]
			for kind in ("wall", "cpu"):
				value = m.get(f"{key}_{kind}", 0.0)
				if minus:
					value -= sum(m.get(f"{k}_{kind}", 0.0) for k in minus.split("+"))
				row.append(f"{value * 1000:.2f}")
		rows.append(row)
	counts = ["statements per request (ours / all)"]
	for p in profiles:
		m = p["mean"]
		counts += [f"{m.get('ours_sql_n', 0):.1f} / {m.get('sql_n', 0):.1f}", ""]
	rows.append(counts)
	rates = ["confirmations/s (instrumented)"]
	for p in profiles:
		rates += [f"{p['rate']:,.0f} ({p['requests']:,} requests)", ""]
	rows.append(rates)
	return bl.table(headers, rows)


# --- main -------------------------------------------------------------------------------------------


def main(argv=None) -> int:
	cores = len(os.sched_getaffinity(0))
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	bench_env_dir = os.environ.get("LEDGER_TEST_FRAPPE_BENCH")
	site_env = os.environ.get("LEDGER_TEST_FRAPPE_SITE")
	parser.add_argument("--bench", required=not bench_env_dir, default=bench_env_dir, type=Path,
		help="the bench directory, holding env/ and sites/ (default: $LEDGER_TEST_FRAPPE_BENCH)")
	parser.add_argument("--site", required=not site_env, default=site_env,
		help="the site, ledger_app installed; its ledger tables are emptied (default: $LEDGER_TEST_FRAPPE_SITE)")
	parser.add_argument("--wipe", action="store_true", help="empty the site's ledger tables when they hold rows")
	parser.add_argument("--db-root-user", help="MariaDB user that may create databases (root_login or root)")
	parser.add_argument("--db-root-password", help="its password (default: root_password of the site's config)")
	parser.add_argument("--drivers", type=int, default=c2b.SPREAD_DRIVERS)
	parser.add_argument("--clients", type=int, default=16)
	parser.add_argument("--workers", type=int, default=2 * cores + 1,
		help=f"gunicorn sync workers (default 2 x {cores} cores + 1)")
	parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per host, split in rounds")
	parser.add_argument("--rounds", type=int, default=6, help="rounds per host (the hosts alternate)")
	parser.add_argument("--warmup", type=float, default=3.0, help="seconds unmeasured before a host's 1st round")
	parser.add_argument("--profile-seconds", type=float, default=10.0, help="per phase-profile run (0: skip)")
	parser.add_argument("--json", help="write the results here as JSON")
	parser.add_argument("--keep", action="store_true", help="keep the standalone database")
	args = parser.parse_args(argv)
	bench = args.bench.resolve()
	conf = site_config(bench, args.site)
	site_url, server_url = site_urls(conf, args.db_root_user, args.db_root_password)
	os.environ["LEDGER_TEST_MARIADB_URL"] = server_url  # benchlib's databases live on the site's server
	os.environ["PYTHONPATH"] = bench_env()["PYTHONPATH"]  # the standalone host runs this checkout too
	started = time.perf_counter()
	load_start = os.getloadavg()
	results: dict = {
		"machine": {"cores": cores, "loadavg_start": load_start},
		"server": bl.server_settings("mariadb"),
		"args": {k: str(v) for k, v in vars(args).items() if k != "db_root_password"},
	}
	bl.log(f"{cores} cores, load average {', '.join(f'{x:.2f}' for x in load_start)}")
	db_pid = c2b.db_server_pid("mariadb")
	with bl.bench_database("mariadb", "frappe_host", keep=args.keep, pool_size=4, overflow=4) as (sa_url, pool):
		fleet_sa = fleet.setup_fleet(pool, args.drivers)
		with pool.connection() as db:
			bl.analyze(db)
		bl.log(f"standalone: {args.drivers + 1} drivers set up in {fleet_sa['seconds']:.1f} s")
		site = on_site(bench, args.site, "--drivers", str(args.drivers), "--token", c2b.CALLBACK_TOKEN,
			*(["--wipe"] if args.wipe else []))
		site_pool = ConnectionPool(site_url, size=1, overflow=0)
		try:
			with site_pool.connection() as db:
				bl.analyze(db)
		finally:
			site_pool.dispose()
		bl.log(f"frappe: {args.drivers + 1} drivers set up on {args.site} in {site['seconds']:.1f} s"
			+ (f" (emptied first: {', '.join(site['emptied'])})" if site["emptied"] else ""))
		fleet_fr = fleet_of(args.drivers)
		with (
			c2b.server_process(sa_url, STANDALONE_THREADS) as (sa_base, sa_pid, sa_log),
			gunicorn(bench, args.site, args.workers) as (fr_base, fr_pid, fr_log),
		):
			ctxs = {
				"frappe": host_ctx("frappe", fr_base, fr_pid, {"Host": args.site}, fleet_fr, db_pid),
				"standalone": host_ctx("standalone", sa_base, sa_pid, None, fleet_sa, db_pid),
			}
			for host in HOSTS:
				t = time.perf_counter()
				c2b.prime(ctxs[host], ("http",))
				bl.log(f"{host}: every vehicle paid once in {time.perf_counter() - t:.1f} s")
			results["rounds"] = rounds(ctxs, args)
			results["server_log_errors"] = {"frappe": bl.log_errors(fr_log), "standalone": bl.log_errors(sa_log)}
		results["profile"] = profile(bench, args.site, ctxs["frappe"], args) if args.profile_seconds > 0 else []
		results["check"] = {
			"frappe": c2b.check_books(site_url, ctxs["frappe"]["books"], fleet_fr),
			"standalone": c2b.check_books(sa_url, ctxs["standalone"]["books"], fleet_sa),
		}
	results["loadavg_end"] = os.getloadavg()
	results["seconds"] = time.perf_counter() - started
	print_report(results, args, cores)
	if args.json:
		Path(args.json).write_text(json.dumps(results, indent=1, default=str))
	return 0 if all(c["ok"] for c in results["check"].values()) else 1


def print_report(results: dict, args, cores: int) -> None:
	s = results["server"]
	print(f"\n### C2B confirmations/s: Frappe (gunicorn -w {args.workers}) vs standalone (waitress,"
		f" {STANDALONE_THREADS} threads), {args.clients} clients, {args.drivers:,} drivers\n")
	print(f"{cores} cores; load average {', '.join(f'{x:.2f}' for x in results['machine']['loadavg_start'])} at the"
		f" start, {', '.join(f'{x:.2f}' for x in results['loadavg_end'])} at the end; MariaDB {s['version']}"
		f" (innodb_flush_log_at_trx_commit={s['innodb_flush_log_at_trx_commit']}, log_bin={s['log_bin']});"
		f" {args.seconds / args.rounds:.0f} s per round and host\n")
	print(throughput_table(results["rounds"], args))
	for host, errors in results["server_log_errors"].items():
		if errors:
			print(f"\n{host} server log errors: {errors}")
	if results["profile"]:
		print("\n### Where a Frappe request spends its time (mean per confirmation, instrumented workers)\n")
		print(phase_table(results["profile"]))
	print("\n### Books after the runs\n")
	for host, c in results["check"].items():
		print(f"- {host}: {'OK' if c['ok'] else 'WRONG: ' + '; '.join(c['problems'])} - {c['confirmations']:,}"
			f" confirmations ({c['callback_logs_processed']:,} Callback Log rows Processed) summing to {c['amount']} ="
			f" paybill {c['paybill']}; reconcile {c['reconcile']} ({c['accounts_checked']:,} accounts,"
			f" {c['postings_checked']:,} postings)")
	print(f"\n_frappe_host_throughput: {results['seconds']:.0f} s_")
	sys.stdout.flush()


if __name__ == "__main__":
	sys.exit(main())
