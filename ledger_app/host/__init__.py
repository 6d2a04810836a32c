"""The host interface: the little the API methods and jobs need from whoever hosts them.

``whitelist``, ``get_db``, ``request_body``, ``request_headers``, ``request_args``, ``remote_addr``,
``raw_json_response``, ``enqueue_after_commit``, ``log_error``, ``current_user``, ``require_role``,
``secret`` (a Password setting such as the callback token), ``cached_secret`` (the same without the
database: the last value this process read, or None), ``payout_gateway`` and ``callback_urls``
(the B2C gateway, None while none is configured, and the URLs it calls back), ``callback_spool`` (the
host's callback spool, ``host/spool.py``), ``database_lost`` (a request answered without its
database: the host must not use it afterwards).

Inside a bench (Frappe importable) these map to Frappe (``frappe_host``); otherwise to the standalone
host (``standalone_host``), whose WSGI app serves the same whitelisted functions at the same paths.
Each API method is written once against this interface.
"""

from __future__ import annotations

import json
from decimal import Decimal

from werkzeug.wrappers import Response

try:  # a bench: Frappe is importable
	import frappe  # noqa: F401

	from ledger_app.host import frappe_host as _impl
except ImportError:
	from ledger_app.host import standalone_host as _impl

NAME = _impl.NAME
whitelist = _impl.whitelist
get_db = _impl.get_db
request_body = _impl.request_body
request_headers = _impl.request_headers
request_args = _impl.request_args
remote_addr = _impl.remote_addr
enqueue_after_commit = _impl.enqueue_after_commit
log_error = _impl.log_error
current_user = _impl.current_user
require_role = _impl.require_role
secret = _impl.secret
cached_secret = _impl.cached_secret
callback_spool = _impl.callback_spool
database_lost = _impl.database_lost
payout_gateway = _impl.payout_gateway
callback_urls = _impl.callback_urls


#: a method path longer than this, or with more dotted parts, is refused before anything is imported
#: or authenticated (importing ``a.b.c...`` imports each parent first, recursively: 2,000 parts
#: overflow Python's recursion limit); this app's longest is ``ledger_app.api.daraja.transaction_status_timeout``
MAX_METHOD_PATH = 140
MAX_METHOD_PARTS = 8


def method_path_refusal(path: str) -> str | None:
	"""Why ``path`` (the dotted path of ``/api/method/<path>``) is refused unread, or None; both hosts
	answer it 417 ValidationError, Frappe's answer for a method it cannot find."""
	if len(path) > MAX_METHOD_PATH or path.count(".") >= MAX_METHOD_PARTS:
		return (f"Failed to get method for command {path[:60]}...: a method path has at most {MAX_METHOD_PATH}"
			f" characters and {MAX_METHOD_PARTS} parts")
	return None


def json_default(value):
	if isinstance(value, Decimal):
		return str(value)
	if hasattr(value, "isoformat"):
		return value.isoformat(" ") if hasattr(value, "hour") else value.isoformat()
	raise TypeError(f"{type(value).__name__} is not JSON serializable")


def raw_json_response(body, status: int = 200) -> Response:
	"""An exact JSON body (no ``{"message": ...}`` wrapper) with a status; both hosts return it as is."""
	return Response(json.dumps(body, default=json_default), status=status, mimetype="application/json")
