"""``ledger-app``: the standalone host's command line (click)."""

from __future__ import annotations

import json
import logging
import sys

try:
	import click

	from ledger_app.db.pool import ConnectionPool
	from ledger_app.standalone.http_server import IDLE_TIMEOUT
except ImportError as exc:  # installed without the standalone host's packages (as a bench does)
	raise SystemExit(f"ledger-app needs the standalone extra: pip install 'ledger_app[standalone]' ({exc})") from exc
from ledger_app.db.schema import ensure_schema
from ledger_app.engine.errors import LedgerError
from ledger_app.host import json_default
from ledger_app.standalone.config import Config

db_option = click.option("--db", "db_url", envvar="LEDGER_APP_DB", default="sqlite:///ledger_app.db",
	show_default=True, help="Database URL: sqlite:///file.db, mariadb://user:pass@host:port/db or postgresql://…")


def _open(db_url: str) -> ConnectionPool:
	return ConnectionPool(db_url)


def prepare(db) -> None:
	"""Schema, the rows an older version stored, and the business's own accounts (idempotent): what
	init and serve do first."""
	from ledger_app.engine.business import ensure_business_accounts
	from ledger_app.engine.upgrade import upgrade_data

	ensure_schema(db)
	upgrade_data(db)
	db.run_in_transaction(ensure_business_accounts)


def _print(value) -> None:
	click.echo(json.dumps(value, default=json_default, indent=2))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose):
	"""The ledger_app standalone host: same ledger, same HTTP paths, no bench."""
	logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
		format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@db_option
def init(db_url):
	"""Create or upgrade the schema (idempotent)."""
	pool = _open(db_url)
	with pool.connection() as db:
		prepare(db)
	click.echo(f"schema ready on {_redact(db_url)}")


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="HTTP worker threads.")
@click.option("--no-scheduler", is_flag=True, help="Do not run scheduled jobs in this process.")
@click.option("--no-worker", is_flag=True, help="Do not run the payout worker in this process.")
@click.option("--idle-timeout", default=IDLE_TIMEOUT, show_default=True, type=click.IntRange(min=1),
	help="Seconds a client may send nothing (before or in the middle of a request) before its connection is closed.")
def serve(db_url, host, port, threads, no_scheduler, no_worker, idle_timeout):
	"""Serve the API (waitress), with the scheduler and the payout worker in-process."""
	from ledger_app.standalone.http_server import create_server
	from ledger_app.standalone.wsgi import LedgerApp

	config = Config.from_env(db_url=db_url, host=host, port=port)
	services = start_services(config, threads=threads, scheduler_on=not no_scheduler, worker_on=not no_worker)
	if not (config.api_key and config.api_secret):
		click.echo("warning: LEDGER_APP_API_KEY/LEDGER_APP_API_SECRET not set: staff methods will refuse every call", err=True)
	server = create_server(LedgerApp(config, services.pool, services.executor, services), host=host, port=port,
		threads=threads, idle_timeout=idle_timeout, clear_untrusted_proxy_headers=True)
	click.echo(f"ledger-app listening on http://{host}:{server.effective_port} (database {_redact(config.db_url)})")
	sys.stdout.flush()
	try:
		server.run()
	except KeyboardInterrupt:
		pass


def start_services(config: Config, *, threads: int = 8, scheduler_on: bool = True, worker_on: bool = True):
	"""The host's shared services: schema ready, pool, worker threads, the payout gateway (when
	LEDGER_APP_GATEWAY_URL is set) with its in-process payout worker, and the scheduler."""
	from concurrent.futures import ThreadPoolExecutor

	from ledger_app.host.spool import Spool
	from ledger_app.host.standalone_host import Services
	from ledger_app.standalone import scheduler

	pool = ConnectionPool(config.db_url, size=threads + 4)
	with pool.connection() as db:
		prepare(db)
	services = Services(pool=pool, config=config, executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="ledger-jobs"),
		spool=Spool(config.spool_directory()))
	if config.gateway_url:
		from ledger_app.gateways.callback_urls import callback_urls
		from ledger_app.gateways.setup import standalone_router
		from ledger_app.standalone.worker import PayoutWorker

		services.gateway, simulator = standalone_router(config)
		if simulator is not None:
			click.echo(f"Daraja simulator listening on http://127.0.0.1:{simulator.effective_port}")
		services.urls = callback_urls(config.base_url(), config.callback_token)
		if worker_on:
			services.worker = PayoutWorker(pool, services.gateway, services.urls).start()
	scheduler.start_spool_replayer(services)
	if scheduler_on:
		scheduler.start(services)
	return services


@main.command()
@db_option
@click.option("--interval", default=1.0, show_default=True, type=float, help="Seconds between polls when idle.")
def worker(db_url, interval):
	"""Run the payout worker in this process (any number may run against one database)."""
	from ledger_app.gateways.callback_urls import callback_urls
	from ledger_app.gateways.setup import standalone_router
	from ledger_app.standalone.worker import PayoutWorker

	config = Config.from_env(db_url=db_url)
	if not config.gateway_url:
		raise click.ClickException("set LEDGER_APP_GATEWAY_URL (the Daraja base URL) for the worker")
	if not config.public_url:
		raise click.ClickException("set LEDGER_APP_PUBLIC_URL (where the gateway calls back) for the worker")
	pool = ConnectionPool(config.db_url, size=4)
	with pool.connection() as db:
		prepare(db)
	gateway, _ = standalone_router(config)
	payout_worker = PayoutWorker(pool, gateway, callback_urls(config.base_url(), config.callback_token), interval=interval)
	click.echo(f"payout worker {payout_worker.name} running (database {_redact(config.db_url)})")
	sys.stdout.flush()
	try:
		payout_worker.run()
	except KeyboardInterrupt:
		pass


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int)
def simulator(host, port):
	"""Run the Daraja simulator (OAuth, C2B, B2C v3, Transaction Status, STK, Pull) with its own books."""
	from ledger_app.gateways import simulator as sim

	sim.run_forever(host, port)


@main.command()
@click.option("--db", "db_url", default=None, help="Database URL (default: a fresh SQLite file in a temporary directory).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--keep-serving", is_flag=True, help="After the demo, keep serving until interrupted.")
def demo(db_url, host, port, keep_serving):
	"""A day of a small fleet over real HTTP: drivers, fares, duplicates, suspense, a repayment, reconcile."""
	import secrets
	import tempfile
	import time

	from ledger_app.standalone import demo as scenario
	from ledger_app.standalone import scheduler
	from ledger_app.standalone.wsgi import LedgerApp

	logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # queueing is the point of the demo
	if db_url is None:
		db_url = f"sqlite:///{tempfile.mkdtemp(prefix='ledger_app-demo-')}/ledger_app.db"
	config = Config.from_env(db_url=db_url, host=host, port=port)
	config.gateway_url = config.gateway_url or "simulator"
	config.api_key = config.api_key or "demo"
	config.api_secret = config.api_secret or secrets.token_hex(12)
	config.callback_token = config.callback_token or secrets.token_hex(12)
	services = start_services(config, threads=8, scheduler_on=False, worker_on=True)
	server, _ = scenario.start_in_thread(LedgerApp(config, services.pool, services.executor, services), host, port)
	base = f"http://{host}:{server.effective_port}"
	click.echo(f"ledger-app listening on {base} (database {_redact(config.db_url)})")
	click.echo(f"staff API: Authorization: token {config.api_key}:{config.api_secret}")
	scenario.run(base, f"{config.api_key}:{config.api_secret}", config.callback_token, echo=click.echo)
	if keep_serving:
		scheduler.start(services)
		click.echo(f"still serving on {base}; Ctrl-C to stop")
		try:
			while True:
				time.sleep(3600)
		except KeyboardInterrupt:
			pass
	server.close()


@main.command()
@db_option
@click.option("--fix", is_flag=True, help="Reset drifted caches to the ledger sums (recorded on the run).")
@click.option("--account", default=None)
@click.option("--party", default=None)
def reconcile(db_url, fix, account, party):
	"""Compare every cached balance with its postings and record a Reconciliation Run."""
	from ledger_app.engine.reconcile import reconcile as run

	pool = _open(db_url)
	with pool.connection() as db:
		ensure_schema(db)
		result = run(db, fix=fix, account=account, party=party, user="cli")
	_print({k: v for k, v in result.items()})
	sys.exit(0 if result["discrepancies"] == result["fixed"] else 1)


@main.command()
@db_option
@click.argument("account")
@click.option("--as-of", default=None, help="Date (end of that day) or datetime; postings strictly before it.")
def balance(db_url, account, as_of):
	"""Print an account's balance on its normal side."""
	from ledger_app.engine.posting import balance as read_balance

	pool = _open(db_url)
	try:
		with pool.connection() as db:
			amount = read_balance(db, account, as_of)
	except LedgerError as exc:
		raise click.ClickException(exc.message) from None
	_print({"account": account, "balance": amount})


def _redact(url: str) -> str:
	if "@" in url and "://" in url:
		scheme, rest = url.split("://", 1)
		creds, host = rest.rsplit("@", 1)
		return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
	return url


if __name__ == "__main__":
	main()
