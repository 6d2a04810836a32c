"""Requests to the app that Frappe refuses before the app sees them (an ``after_request`` hook), and
method paths refused before Frappe looks them up (a ``before_request`` hook).

Frappe parses a request body sent as ``Content-Type: application/json`` while it sets the request
up (``make_form_dict``), before its ``HTTPRequest`` (session,
``request_ip``) and before any ``before_request`` hook: a body that is not valid JSON raises there
(Frappe answers 500), so does one nested so deep that Python's parser overflows its recursion limit
(about 1,000 levels: ``RecursionError``, 500), and a JSON scalar is refused (417), so the callback
method never runs: no Callback Log row, no Daraja-shaped answer.  The only app hook Frappe still
runs for such a request is ``after_request``, with the response it built.

``answer_refused_body`` acts on exactly that case: a request Frappe stopped before its
``HTTPRequest`` because its parser refuses the body.  For a POST to a guest method of
``ledger_app.api.mpesa`` or ``ledger_app.api.daraja`` it sets the caller's address the way Frappe
does, runs the callback method (which logs the raw body, checks token and allow-list, and answers
a body that is not a JSON object with 400, as the standalone host does) and puts the method's answer
in the response Frappe sends.  Every other request passes untouched.  Frappe still records its own
Error Log for the parse failure (the 500 case), as for any exception it handles.

For the staff API (any other ``ledger_app.api`` method) a body that is not valid JSON (or nested too
deep) is bad input, not a server error: the 500 Frappe built becomes the 417 ValidationError the
standalone host answers ("request body is not valid JSON", "request body is nested deeper than 32
levels"); no method runs.  Frappe stops such a request before authenticating it, so unlike the
standalone host (403 without a token) it answers 417 with or without one.  A body Frappe can parse
is checked by ``frappe_host.check_arguments`` when the method is called (nesting, NUL, lone
surrogates), as the standalone door checks it.
"""

from __future__ import annotations

import json
import re

import frappe

from ledger_app.engine import json_input
from ledger_app.engine.errors import ValidationFailed

_CALLBACK_PATH = re.compile(r"^/api/(?:v1/|v2/)?method/(ledger_app\.api\.(?:mpesa|daraja)\.[A-Za-z_]\w*)/?$")
_APP_METHOD = re.compile(r"^/api/(?:v1/|v2/)?method/(ledger_app\..*?)/?$", re.DOTALL)
_API_PATH = re.compile(r"^/api/(?:v1/|v2/)?method/ledger_app\.api\.[\w.]+/?$")
_NOT_JSON = "request body is not valid JSON"
_MODULES = ("ledger_app.api.mpesa", "ledger_app.api.daraja")


def refuse_long_method_path() -> None:
	"""The ``before_request`` hook (hooks.py): ``/api/method/ledger_app.<path>`` with an overlong path
	(``host.method_path_refusal``) is refused with the standalone host's 417 before Frappe imports
	anything for it or checks the API token (Frappe runs ``before_request`` hooks right after parsing
	the request, before its token check and API handler; README, "Staff API")."""
	request = getattr(frappe, "request", None)
	match = _APP_METHOD.match(request.path) if request is not None else None
	if match is not None:
		from ledger_app.host import method_path_refusal

		refused = method_path_refusal(match.group(1))
		if refused is not None:
			frappe.throw(refused, frappe.ValidationError)


def answer_refused_body(response=None, request=None) -> None:
	"""The ``after_request`` hook (hooks.py): a request to ``ledger_app.api`` that Frappe stopped
	because of its body gets the app's answer; every other request passes untouched."""
	if response is None or request is None or request.method not in ("POST", "PUT"):
		return
	if getattr(frappe.local, "http_request", None) is not None:
		return  # Frappe got past parsing the body: the method ran (or was refused for another reason)
	callback = _CALLBACK_PATH.match(request.path)
	if callback is not None:
		if request.method == "POST" and response.status_code in (417, 500) and refused_by_frappe(request):
			_answer_as_the_callback(response, callback.group(1))
	elif _API_PATH.match(request.path) and response.status_code == 500 and refused_by_frappe(request):
		_answer_not_json(response, _refusal(request))


def _answer_as_the_callback(response, path: str) -> None:
	"""Run the callback method (it logs the body, checks token and allow-list, answers a body that is
	not a JSON object with 400) and send its answer."""
	if not frappe.db or frappe.local.conf.get("maintenance_mode"):
		return
	method = _guest_callback(path)
	if method is None:
		return
	from frappe.auth import HTTPRequest

	HTTPRequest.set_request_ip(None)  # Frappe's own rule (it uses nothing of the instance)
	frappe.set_user("Guest")
	answer = method()
	response.status_code = answer.status_code
	response.set_data(answer.get_data())
	response.headers["Content-Type"] = answer.headers.get("Content-Type", "application/json")


def _refusal(request) -> str:
	"""Why the body is refused, in the words of the standalone host (``json_input.loads``)."""
	try:
		json_input.loads(request.get_data(as_text=True))
	except ValidationFailed as exc:
		return exc.message
	return _NOT_JSON


def _answer_not_json(response, reason: str = _NOT_JSON) -> None:
	"""A staff call: Frappe's 500 becomes the 417 ValidationError, with Frappe's error keys, that the
	standalone host answers."""
	message = json.dumps({"message": reason, "title": "Message", "indicator": "red", "raise_exception": 1})
	response.status_code = 417
	response.set_data(json.dumps({"exc_type": "ValidationError", "exception": f"frappe.exceptions.ValidationError: {reason}",
		"_server_messages": json.dumps([message])}))
	response.headers["Content-Type"] = "application/json"


def refused_by_frappe(request) -> bool:
	"""Whether Frappe's ``make_form_dict`` refuses this body: JSON by its Content-Type, and not valid
	JSON, too deep for Python's parser, or neither an object nor a list (read the way Frappe reads
	it, after checking the nesting: the parser is never run on a body too deep for it)."""
	data = request.get_data(as_text=True)
	if not (data and request.is_json):
		return False
	if json_input.too_deep(data):
		return True  # deeper than this app takes; Frappe's refusal (if it refused) was the RecursionError
	try:
		args = json.loads(data)
	except ValueError:
		return True
	return not isinstance(args, dict | list)


def _guest_callback(path: str):
	module, _, name = path.rpartition(".")
	if module not in _MODULES:
		return None
	try:
		function = frappe.get_attr(path)
	except Exception:
		return None
	return function if function in frappe.guest_methods else None
