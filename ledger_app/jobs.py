"""Scheduled jobs, named in hooks.py ``scheduler_events`` and run by Frappe's scheduler inside a bench
or by the standalone scheduler (which reads the same hooks).  Each job takes the host's database and
calls one service."""

from ledger_app import host
from ledger_app.engine.reconcile import reconcile
from ledger_app.engine.settings import get_settings


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


def daily_targets():
	"""Charge every active driver's daily target for today (business timezone), once per day."""
	from ledger_app.engine import clock, drivers

	return drivers.run_daily_targets(host.get_db(), clock.now().date(), user="Scheduler")


def dispatch_payouts():
	"""Send due payouts to the gateway (also kicked right after a commit that queued one)."""
	from ledger_app.engine import payouts

	return payouts.dispatch(host.get_db(), host.payout_gateway(), host.callback_urls())


def sweep_payouts():
	"""Turn long-unanswered payouts Unknown and ask Transaction Status about Unknown ones."""
	from ledger_app.engine import payouts

	return payouts.sweep(host.get_db(), host.payout_gateway(), host.callback_urls())
