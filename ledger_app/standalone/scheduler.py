"""The standalone scheduler: runs hooks.py's ``scheduler_events`` (the same declaration Frappe's
scheduler reads) with APScheduler, each job in its own host context with a pooled connection."""

from __future__ import annotations

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ledger_app import hooks
from ledger_app.engine import clock
from ledger_app.host import standalone_host

log = logging.getLogger("ledger_app.scheduler")

#: Frappe's frequencies (scheduled_job_type.py): "all" runs every 4 minutes by default
_EVERY = {
	"all": IntervalTrigger(minutes=4),
	"hourly": CronTrigger.from_crontab("0 * * * *"),
	"daily": CronTrigger.from_crontab("0 0 * * *"),
	"weekly": CronTrigger.from_crontab("0 0 * * 0"),
	"monthly": CronTrigger.from_crontab("0 0 1 * *"),
}


def scheduled_jobs() -> list[tuple[str, object]]:
	"""(dotted path, trigger) for every job in hooks.scheduler_events."""
	jobs = []
	for event, entries in getattr(hooks, "scheduler_events", {}).items():
		if event == "cron":
			for expression, paths in entries.items():
				trigger = CronTrigger.from_crontab(expression, timezone=clock.business_timezone())
				jobs.extend((path, trigger) for path in paths)
		else:
			base = event.removesuffix("_long").removesuffix("_maintenance")
			jobs.extend((path, _EVERY[base]) for path in entries)
	return jobs


def run_job(services, path: str, **kwargs):
	"""Run one job by dotted path in a host context of its own (``standalone_host.run_job``)."""
	return standalone_host.run_job(services, path, **kwargs)


def start(services) -> BackgroundScheduler:
	scheduler = BackgroundScheduler(timezone=clock.business_timezone())
	for path, trigger in scheduled_jobs():
		scheduler.add_job(_safe, trigger, args=(services, path), id=path, max_instances=1, coalesce=True,
			misfire_grace_time=60)
	scheduler.start()
	return scheduler


def _safe(services, path):
	try:
		run_job(services, path)
	except Exception:  # already logged; the next run tries again
		pass


SPOOL_JOB = "ledger_app.jobs.replay_callback_spool"


def start_spool_replayer(services, interval: float = 1.0) -> threading.Thread:
	"""A thread that replays the callback spool every ``interval`` seconds while it holds entries
	(a ``stat`` when it is empty), so spooled payments are in within a second or two of the database
	returning, whether or not confirmations keep coming and whether or not the scheduler runs here."""

	def loop():
		while True:
			try:
				if services.spool is not None and services.spool.pending():
					run_job(services, SPOOL_JOB)
			except Exception:  # the database is still away (or logged by run_job): try again soon
				log.debug("spool replay failed; next try in %s s", interval, exc_info=True)
			threading.Event().wait(interval)

	thread = threading.Thread(target=loop, name="ledger-spool-replayer", daemon=True)
	thread.start()
	return thread
