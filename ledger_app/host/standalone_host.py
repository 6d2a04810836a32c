"""The host interface when there is no bench: state lives in context variables set by the
standalone WSGI app (per request) and by the standalone scheduler (per job)."""

from __future__ import annotations

import contextvars
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

NAME = "standalone"
log = logging.getLogger("ledger_app")


@dataclass(frozen=True)
class Whitelisted:
	function: Callable
	allow_guest: bool
	methods: tuple[str, ...]


#: dotted path -> whitelisted function, filled at import time by ``whitelist``
REGISTRY: dict[str, Whitelisted] = {}


@dataclass
class Services:
	"""What one standalone host process runs with (shared by its requests, jobs and workers)."""

	pool: object
	config: object = None
	executor: object = None
	gateway: object = None  # the payout gateway (a GatewayRouter), when one is configured
	urls: object = None  # CallbackUrls for that gateway
	worker: object = None  # the in-process PayoutWorker, when one runs
	spool: object = None  # the callback spool (host/spool.py)


@dataclass
class Context:
	db: object = None
	#: why there is no database (DatabaseUnavailable), raised by get_db
	db_error: Exception | None = None
	request: object = None
	user: str = "Guest"
	roles: frozenset = field(default_factory=frozenset)
	services: Services | None = None


_context: contextvars.ContextVar[Context] = contextvars.ContextVar("ledger_app_context")


def current() -> Context:
	try:
		return _context.get()
	except LookupError:
		raise RuntimeError("no standalone host context: run inside the WSGI app, a job or host.use()") from None


def use(context: Context):
	"""Install ``context`` for the current thread/task; returns a token for ``reset``."""
	return _context.set(context)


def reset(token) -> None:
	_context.reset(token)


def whitelist(allow_guest: bool = False, methods: list[str] | None = None, xss_safe: bool = False):
	"""Register ``function`` under its dotted path.  ``xss_safe`` is Frappe's (this host never rewrites
	arguments)."""

	def decorate(function):
		path = f"{function.__module__}.{function.__name__}"
		REGISTRY[path] = Whitelisted(function, allow_guest, tuple(methods or ("GET", "POST", "PUT", "DELETE")))
		return function

	return decorate


def get_db():
	context = current()
	if context.db is None:
		if context.db_error is not None:
			raise context.db_error
		raise RuntimeError("no database in this context")
	db = context.db
	return db


def request_body() -> bytes:
	request = current().request
	return request.get_data(cache=True) if request is not None else b""


def request_headers() -> dict:
	request = current().request
	return dict(request.headers) if request is not None else {}


def request_args() -> dict:
	request = current().request
	return dict(request.args) if request is not None else {}


def remote_addr() -> str | None:
	request = current().request
	return request.remote_addr if request is not None else None


def enqueue_after_commit(function, **kwargs) -> None:
	"""Run a job (a dotted path or a function) on the host's worker threads once the current
	transaction commits.  Payout dispatch just wakes the in-process payout worker."""
	context = current()
	services = context.services
	if services is None or services.executor is None:
		raise RuntimeError("this standalone context has no worker executor")
	path = function if isinstance(function, str) else f"{function.__module__}.{function.__name__}"
	if path == "ledger_app.jobs.dispatch_payouts" and services.worker is not None:
		job = services.worker.kick
	else:
		def job():
			run_job(services, path, **kwargs)

	context.db.after_commit(lambda: services.executor.submit(job))


def log_error(title: str, message: str = "") -> None:
	log.error("%s: %s", title, message)


def current_user() -> str:
	return current().user


def require_role(*roles: str) -> None:
	"""Staff endpoints are already behind the API key; the key holder has every staff role."""
	from ledger_app.engine.errors import PermissionDenied

	context = current()
	if context.user == "Guest" or not (set(roles) & set(context.roles)):
		raise PermissionDenied(f"this action needs one of the roles {', '.join(roles)}")


def secret(fieldname: str) -> str | None:
	"""A secret setting; standalone they come from the host's configuration (environment or flags)."""
	services = current().services
	config = services.config if services is not None else None
	return getattr(config, fieldname, None) if config is not None else None


def cached_secret(fieldname: str) -> str | None:
	"""The same as ``secret``: standalone secrets never come from the database."""
	return secret(fieldname)


def database_lost() -> None:
	"""Nothing to do: the WSGI app discards a broken connection itself (db/pool.py)."""


def callback_spool():
	"""The host's callback spool (``LEDGER_APP_SPOOL_DIR``), or None outside a host."""
	services = current().services
	return services.spool if services is not None else None


def payout_gateway():
	"""The host's gateway router, or None when none is configured (LEDGER_APP_GATEWAY_URL unset)."""
	services = current().services
	return services.gateway if services is not None else None


def callback_urls():
	return current().services.urls


def resolve(path: str):
	module, _, name = path.rpartition(".")
	return getattr(importlib.import_module(module), name)


def run_job(services, path: str, **kwargs):
	"""Run one job by dotted path with a pooled connection as the host's database, as the user
	Scheduler.  ``services`` is the host's ``Services`` (or just a pool, for a host without gateway
	or workers).  Used by the scheduler, the spool replayer and ``enqueue_after_commit``."""
	if not isinstance(services, Services):
		services = Services(pool=services)
	with services.pool.connection() as db:
		token = use(Context(db=db, user="Scheduler", services=services, roles=frozenset({"System Manager"})))
		try:
			return resolve(path)(**kwargs)
		except Exception:
			log.exception("job %s failed", path)
			raise
		finally:
			reset(token)
