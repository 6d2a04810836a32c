"""The standalone WSGI app: ``/api/method/<dotted.path>`` with Frappe's calling conventions.

- Only functions registered by ``host.whitelist`` under ``ledger_app.api.`` are callable; the HTTP
  verb must be one the method allows (403 otherwise, as Frappe).
- Arguments: a JSON object body, or query string + form fields; unknown keyword arguments are
  dropped unless the function takes ``**kwargs`` (as ``frappe.call`` does).
- Staff methods need ``Authorization: token <key>:<secret>`` (no header: 403, wrong: 401);
  guest methods (gateway callbacks) do their own token check.
- The answer is ``{"message": result}``, or the method's own Response when it returns one.
- Errors follow Frappe's mapping (ValidationError 417, DoesNotExistError 404, PermissionError 403,
  AuthenticationError 401, DuplicateEntryError 409) with Frappe's error body keys; an unreachable
  database is a 503 (a gateway callback may be spooled instead, api/mpesa.py); anything
  unexpected is a 500 whose body reveals nothing but its kind.
"""

from __future__ import annotations

import hmac
import importlib
import inspect
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import json_input, text
from ledger_app.engine.errors import DatabaseUnavailable, LedgerError, ValidationFailed
from ledger_app.host import json_default, method_path_refusal, standalone_host
from ledger_app.host.spool import Spool
from ledger_app.standalone.config import Config

log = logging.getLogger("ledger_app.http")

MAX_BODY_BYTES = json_input.MAX_BYTES
STAFF_ROLES = frozenset({"Ledger Manager", "Ledger User", "System Manager"})


class LedgerApp:
	def __init__(self, config: Config, pool: ConnectionPool | None = None, executor: ThreadPoolExecutor | None = None,
			services: standalone_host.Services | None = None):
		self.config = config
		self.pool = pool or ConnectionPool(config.db_url)
		self.executor = executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="ledger-worker")
		self.services = services or standalone_host.Services(pool=self.pool, config=config, executor=self.executor)
		if self.services.spool is None:
			self.services.spool = Spool(config.spool_directory())
		self.routes = Map([
			Rule("/api/method/ping", endpoint="ping"),
			Rule("/api/method/<path:method>", endpoint="method"),
		])

	def __call__(self, environ, start_response):
		request = Request(environ)
		request.max_content_length = MAX_BODY_BYTES
		try:
			endpoint, values = self.routes.bind_to_environ(environ).match()
			if endpoint == "ping":
				response = _json({"message": "pong"})
			else:
				response = self.call_method(request, values["method"])
		except RouteNotFound:
			response = _error(404, "DoesNotExistError", "Not found")
		except HTTPException as exc:
			response = _error(exc.code or 400, "ValidationError", exc.description or exc.name)
		return response(environ, start_response)

	def call_method(self, request: Request, path: str) -> Response:
		entry = _resolve(path)
		if isinstance(entry, Response):
			return entry
		if request.method not in entry.methods:
			return _error(403, "PermissionError", f"Not permitted: {path} does not accept {request.method}")
		user = "Guest"
		if not entry.allow_guest:
			user = self.authenticate(request)
			if isinstance(user, Response):
				return user
		if request.content_length and request.content_length > MAX_BODY_BYTES:
			return _error(413, "ValidationError", f"request body is larger than {MAX_BODY_BYTES} bytes")
		try:
			kwargs = _arguments(request)
		except LedgerError as exc:
			if not entry.allow_guest:
				return _error(exc.http_status, exc.frappe_exc, exc.message)
			kwargs = {}  # a gateway callback reads (and logs) its raw body itself
		kwargs = _accepted(entry.function, kwargs)

		with ExitStack() as opened:
			db, db_error = None, None
			try:
				db = opened.enter_context(self.pool.connection())
			except DatabaseUnavailable as exc:  # a gateway callback may still be kept (api/mpesa.py)
				if not entry.allow_guest:
					return _unavailable(path, exc)
				db_error = exc
			token = standalone_host.use(standalone_host.Context(
				db=db, db_error=db_error, request=request, user=user,
				roles=STAFF_ROLES if user != "Guest" else frozenset(), services=self.services))
			try:
				result = entry.function(**kwargs)
			except LedgerError as exc:
				return _error(exc.http_status, exc.frappe_exc, exc.message)
			except DatabaseUnavailable as exc:
				return _unavailable(path, exc)
			except Exception:
				log.exception("unhandled error in %s", path)
				return _error(500, "Exception", "Internal Server Error")
			finally:
				standalone_host.reset(token)
		if isinstance(result, Response):
			return result
		return _json({"message": result})

	def authenticate(self, request: Request):
		header = request.headers.get("Authorization", "")
		if not header:
			return _error(403, "PermissionError", "Not permitted: log in or send Authorization: token <key>:<secret>")
		scheme, _, credentials = header.partition(" ")
		key, _, secret = credentials.strip().partition(":")
		expected_key, expected_secret = self.config.api_key, self.config.api_secret
		if (
			scheme.lower() != "token"
			or not expected_key
			or not expected_secret
			or not hmac.compare_digest(key.encode(), expected_key.encode())
			or not hmac.compare_digest(secret.encode(), expected_secret.encode())
		):
			return _error(401, "AuthenticationError", "Invalid API key or secret")
		return f"api:{key}"


def _resolve(path: str):
	"""The whitelisted function at ``path``, or Frappe's answer when there is none: 417 for a name
	that does not resolve (no other app is installed here; an overlong path, ``host.method_path_refusal``,
	is refused before anything is imported or authenticated), 403 for one that is not whitelisted
	(nothing of this app outside ledger_app.api is)."""
	refused = method_path_refusal(path)
	if refused is not None:
		return _error(417, "ValidationError", refused)
	if not path.startswith("ledger_app.") or not all(part.isidentifier() for part in path.split(".")):
		return _error(417, "ValidationError", f"Failed to get method for command {path}")
	if not path.startswith("ledger_app.api."):
		return _error(403, "PermissionError", f"Function {path} is not whitelisted.")
	module_path, _, name = path.rpartition(".")
	try:
		module = importlib.import_module(module_path)
	except ImportError:
		module = None
	if not hasattr(module, name):
		return _error(417, "ValidationError", f"Failed to get method for command {path}")
	return standalone_host.REGISTRY.get(path) or _error(403, "PermissionError", f"Function {path} is not whitelisted.")


def _arguments(request: Request) -> dict:
	"""The call's arguments: a JSON object body (its nesting bounded before it is parsed), or the
	query string and form fields; no string in them may hold NUL or a lone surrogate."""
	data = request.get_data(cache=True)
	if data and request.is_json:
		args = json_input.loads(data)
		if not isinstance(args, dict):
			raise ValidationFailed("Invalid request arguments: the JSON body must be an object")
	else:
		args = {**request.args.to_dict(), **request.form.to_dict()}
	args.pop("cmd", None)
	args.pop("_", None)
	text.refuse_unstorable(args)
	return args


def _accepted(function, kwargs: dict) -> dict:
	parameters = inspect.signature(function).parameters
	if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
		return kwargs
	return {k: v for k, v in kwargs.items() if k in parameters}


def _unavailable(path: str, exc: Exception) -> Response:
	log.warning("database unreachable in %s: %s", path, exc)
	return _error(503, "DatabaseUnavailable", "The database is unreachable; try again shortly")


def _json(body, status: int = 200) -> Response:
	return Response(json.dumps(body, default=json_default), status=status, mimetype="application/json")


def _error(status: int, exc_type: str, message: str) -> Response:
	server_messages = json.dumps([json.dumps({"message": message, "title": "Message", "indicator": "red", "raise_exception": 1})])
	return _json(
		{"exc_type": exc_type, "exception": f"frappe.exceptions.{exc_type}: {message}", "_server_messages": server_messages},
		status,
	)
