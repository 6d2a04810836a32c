"""Scheduled jobs, named in hooks.py ``scheduler_events`` and run by Frappe's scheduler inside a bench
or by the standalone scheduler (which reads the same hooks).  Each job takes the host's database and
calls one service."""

import logging

from ledger_app import host
from ledger_app.engine.reconcile import reconcile
from ledger_app.engine.settings import get_settings

log = logging.getLogger("ledger_app.jobs")


def reconcile_all():
	"""Reconcile every account; fix cache drift when Ledger Settings says so."""
	db = host.get_db()
	settings = get_settings(db)
	return reconcile(
		db,
		fix=bool(settings["reconcile_auto_fix"]),
		tolerance=settings["reconcile_tolerance"],
		user="Scheduler",
	)


def replay_callback_spool():
	"""Replay the gateway callbacks spooled while the database was unreachable (in order, each once);
	every minute inside a bench, every second while there are some on the standalone host."""
	from ledger_app.api.mpesa import replay_spool

	return replay_spool(host.get_db())


def daily_targets():
	"""Charge every active driver's daily target for today (business timezone), once per day."""
	from ledger_app.engine import clock, drivers

	return drivers.run_daily_targets(host.get_db(), clock.now().date(), user="Scheduler")


def dispatch_payouts():
	"""Send due payouts to the gateway (also kicked right after a commit that queued one).  Without a
	configured gateway nothing is sent and nothing fails: payouts wait Queued until there is one."""
	from ledger_app.engine import payouts

	gateway = host.payout_gateway()
	if gateway is None:
		log.debug("no payout gateway configured: payouts wait Queued")
		return 0
	return payouts.dispatch(host.get_db(), gateway, host.callback_urls())


def sweep_payouts():
	"""Turn long-unanswered payouts Unknown and ask Transaction Status about Unknown ones (nothing
	without a configured gateway)."""
	from ledger_app.engine import payouts

	gateway = host.payout_gateway()
	if gateway is None:
		return 0
	return payouts.sweep(host.get_db(), gateway, host.callback_urls())
