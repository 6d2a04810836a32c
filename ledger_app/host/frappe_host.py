"""The host interface inside a bench: thin mappings onto Frappe.

``whitelist`` wraps the function so a ``LedgerError`` becomes the Frappe exception of the same kind
(and so the same HTTP status), checks a staff call's arguments as the standalone door does
(``check_arguments``), then registers it with ``frappe.whitelist``.
"""

from __future__ import annotations

import functools

import frappe

from ledger_app.engine import clock, json_input, text
from ledger_app.ledger.engine_owned import engine_errors

NAME = "frappe"
clock.set_provider(lambda: frappe.utils.now_datetime())


def whitelist(allow_guest: bool = False, methods: list[str] | None = None, xss_safe: bool = False):
	"""``frappe.whitelist``; ``xss_safe`` spares a guest method Frappe's ``sanitize_html`` of every top-level
	string argument (an HTML parse each), for methods that read the raw body and never render an argument."""

	def decorate(function):
		@functools.wraps(function)
		def wrapper(*args, **kwargs):
			with engine_errors():
				if not allow_guest:  # a gateway callback reads, logs and checks its raw body itself
					check_arguments(getattr(frappe.local, "form_dict", None) or kwargs)
				return function(*args, **kwargs)

		return frappe.whitelist(allow_guest=allow_guest, xss_safe=xss_safe, methods=methods)(wrapper)

	return decorate


def check_arguments(kwargs: dict) -> None:
	"""What the standalone door checks on every staff call, on all the arguments Frappe parsed
	(``form_dict``, before ``frappe.call`` keeps only the method's parameters): nesting
	within ``json_input.MAX_DEPTH`` (a body Frappe's own parser cannot take never gets here: see
	``frappe_callbacks``) and no NUL or lone surrogate in any string."""
	json_input.check_nesting(kwargs, "the request's arguments")
	text.refuse_unstorable(kwargs)


def get_db():
	from ledger_app.db.frappe_adapter import FrappeDatabase

	db = getattr(frappe.local, "ledger_app_db", None)
	if db is None:
		db = frappe.local.ledger_app_db = FrappeDatabase()
	return db


def request_body() -> bytes:
	return frappe.request.get_data(cache=True) if getattr(frappe, "request", None) else b""


def request_headers() -> dict:
	return dict(frappe.request.headers) if getattr(frappe, "request", None) else {}


def request_args() -> dict:
	return dict(frappe.request.args) if getattr(frappe, "request", None) else {}


def remote_addr() -> str | None:
	"""The client's address as Frappe itself takes it (``frappe.local.request_ip``: the first
	X-Forwarded-For entry, else the socket peer).  Behind bench's nginx, which overwrites
	X-Forwarded-For with the address it was called from, that is the caller, not the proxy; a web
	server reachable without that proxy trusts whatever X-Forwarded-For a caller sends."""
	if not getattr(frappe, "request", None):
		return None
	return getattr(frappe.local, "request_ip", None)


def enqueue_after_commit(function, **kwargs) -> None:
	path = function if isinstance(function, str) else f"{function.__module__}.{function.__name__}"
	frappe.enqueue(path, enqueue_after_commit=True, **kwargs)


def log_error(title: str, message: str = "") -> None:
	frappe.log_error(title=title, message=message)


def current_user() -> str:
	return frappe.session.user


def require_role(*roles: str) -> None:
	"""Refuse (PermissionError) a user with none of ``roles``; System Manager and Administrator pass.
	Checked here, not with ``frappe.only_for``, which lets every user through while
	``frappe.flags.in_test`` is set (a site running tests would skip every staff role check)."""
	allowed = [*roles, "System Manager"]
	if frappe.session.user != "Administrator" and set(allowed).isdisjoint(frappe.get_roles()):
		frappe.throw(
			frappe._("This action needs one of the roles {0}.").format(", ".join(allowed)),
			frappe.PermissionError,
		)


#: per process: (site, fieldname) -> (the ciphertext stored in __Auth, its plaintext)
_decrypted: dict[tuple[str, str], tuple[str, str]] = {}
_SECRET_SQL = (
	"SELECT `password` FROM `__Auth` WHERE `doctype` = %(dt)s AND `name` = %(dt)s AND `fieldname` = %(f)s"
	" AND `encrypted` = 1 LIMIT 1"
)


def secret(fieldname: str) -> str | None:
	"""A Password field of Ledger Settings (Frappe keeps it encrypted in __Auth).

	Read on every call with one plain statement (what ``get_decrypted_password`` reads, without
	building it with the query builder), so a changed secret applies to the next request; decrypted
	once per stored ciphertext and process (a callback checks the token on every request).  Read
	through the app's database handle, so an unreachable database is ``DatabaseUnavailable`` (a
	confirmation is then spooled) rather than the driver's own error.
	"""
	from frappe.utils.password import decrypt

	rows = get_db().sql(_SECRET_SQL, {"dt": "Ledger Settings", "f": fieldname})
	stored = rows[0]["password"] if rows else None
	if not stored:
		return None
	key = (frappe.local.site, fieldname)
	kept = _decrypted.get(key)
	if kept is None or kept[0] != stored:
		kept = _decrypted[key] = (stored, decrypt(stored, key=f"Ledger Settings.Ledger Settings.{fieldname}"))
	return kept[1]


def cached_secret(fieldname: str) -> str | None:
	"""The secret as this process last decrypted it, without the database (None when it never read
	it): what authenticates a callback while the database is unreachable."""
	kept = _decrypted.get((getattr(frappe.local, "site", None), fieldname))
	return kept[1] if kept else None


def database_lost() -> None:
	"""The database went away during this request and the app answered without it (a spooled
	confirmation): drop the request's database handle, so Frappe neither commits on it after the
	method (``sync_database`` commits after every POST ``if frappe.db``) nor closes it (``destroy``),
	either of which would turn the app's answer into a 500."""
	frappe.local.db = None


#: per process: site -> its callback spool
_spools: dict = {}


def callback_spool():
	"""The site's callback spool, in its private folder (``sites/SITE/private/spool``)."""
	from ledger_app.host.spool import Spool

	site = frappe.local.site
	found = _spools.get(site)
	if found is None:
		found = _spools[site] = Spool(frappe.get_site_path("private", "spool"))
	return found


GATEWAY_SETTINGS = ("daraja_base_url", "daraja_consumer_key", "daraja_shortcode", "daraja_initiator")


def payout_gateway():
	"""The gateway configured in Ledger Settings behind its circuit breaker, or None while no Daraja
	base URL is set.  The breaker's state is in Frappe's Redis cache, per site: it outlives the
	request or job and is shared by every web worker, background worker and scheduler of the bench.
	The settings are read from the database, not Frappe's document cache: the staff API's
	update_settings writes them through the engine, which that cache does not see."""
	from ledger_app.engine.settings import get_settings

	settings = get_settings(get_db(), GATEWAY_SETTINGS)
	if not (settings.get("daraja_base_url") or "").strip():
		return None
	gateway = getattr(frappe.local, "ledger_app_gateway", None)
	if gateway is None:
		from ledger_app.gateways.breaker_store import RedisStore
		from ledger_app.gateways.setup import router_from_settings

		store = RedisStore(frappe.cache, key=lambda name: frappe.cache.make_key(f"ledger_app:breaker:{name}"))
		gateway = frappe.local.ledger_app_gateway = router_from_settings(
			base_url=settings.get("daraja_base_url").strip(), consumer_key=settings.get("daraja_consumer_key"),
			consumer_secret=secret("daraja_consumer_secret"), shortcode=settings.get("daraja_shortcode"),
			initiator=settings.get("daraja_initiator"), security_credential=secret("daraja_security_credential"),
			on_open=lambda name: log_error("Payout gateway circuit open", f"gateway {name} is failing; payouts wait"),
			store=store)
	return gateway


def callback_urls():
	from ledger_app.gateways.callback_urls import callback_urls as build

	return build(frappe.utils.get_url(), secret("callback_token"))
