"""The standalone scheduler: runs hooks.py's ``scheduler_events`` (the same declaration Frappe's
scheduler reads) with APScheduler, each job in its own host context with a pooled connection."""

from __future__ import annotations

import importlib
import logging

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


def resolve(path: str):
	module, _, name = path.rpartition(".")
	return getattr(importlib.import_module(module), name)


def run_job(pool, path: str, executor=None):
	"""Run one job by dotted path with a pooled connection as the host's database."""
	with pool.connection() as db:
		token = standalone_host.use(standalone_host.Context(db=db, user="Scheduler", executor=executor,
			roles=frozenset({"System Manager"})))
		try:
			return resolve(path)()
		except Exception:
			log.exception("scheduled job %s failed", path)
			raise
		finally:
			standalone_host.reset(token)


def start(pool, executor=None) -> BackgroundScheduler:
	scheduler = BackgroundScheduler(timezone=clock.business_timezone())
	for path, trigger in scheduled_jobs():
		scheduler.add_job(_safe, trigger, args=(pool, path, executor), id=path, max_instances=1, coalesce=True,
			misfire_grace_time=60)
	scheduler.start()
	return scheduler


def _safe(pool, path, executor):
	try:
		run_job(pool, path, executor)
	except Exception:  # already logged; the next run tries again
		pass
