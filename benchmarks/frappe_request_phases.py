"""A gunicorn config (``-c``) that times the phases of every request in each sync worker of a Frappe
site; used by ``frappe_host_throughput.py`` for its profile runs (it adds about a microsecond per timed
call, so those runs are not the measured ones).

Each worker, after loading the app (``post_worker_init``), wraps in place: the WSGI callable (its call
and the close of its answer, where Frappe's after-response callbacks run), ``frappe.app``'s
``init_request`` (and inside it ``frappe.init``, ``frappe.connect``, ``make_form_dict``,
``HTTPRequest``), ``validate_auth``, ``frappe.api.handle``, ``sync_database``,
``run_after_request_hooks``, ``log_request`` and ``process_response``; ``Database.sql`` (every
statement, counted) and ``Database.connect`` (opening the connection); and ledger_app's
``mpesa.c2b_confirmation`` (what ``daraja.c2b_confirmation`` calls), ``host.secret`` and
``host.get_db``.  A request's record holds, per phase, the wall and CPU seconds spent inside it
(inclusive: phases nest), from ``pre_request`` to ``post_request`` (``worker``); the worker writes its
records to ``$LEDGER_PHASES_DIR/phases-<pid>.jsonl`` as they accumulate and when it exits.
"""

from __future__ import annotations

import functools
import json
import os
import time

_records: list[dict] = []
_current: dict | None = None  # a sync worker serves one request at a time
_inside_ours = False


def _add(key: str, wall: float, cpu: float) -> None:
	if _current is not None:
		_current[f"{key}_wall"] = _current.get(f"{key}_wall", 0.0) + wall
		_current[f"{key}_cpu"] = _current.get(f"{key}_cpu", 0.0) + cpu


def _timed(key: str, function, ours: bool = False):
	@functools.wraps(function)
	def wrapper(*args, **kwargs):
		global _inside_ours
		w0, c0 = time.perf_counter(), time.thread_time()
		if ours:
			_inside_ours = True
		try:
			return function(*args, **kwargs)
		finally:
			if ours:
				_inside_ours = False
			_add(key, time.perf_counter() - w0, time.thread_time() - c0)

	return wrapper


def _timed_sql(function):
	@functools.wraps(function)
	def sql(*args, **kwargs):
		w0, c0 = time.perf_counter(), time.thread_time()
		try:
			return function(*args, **kwargs)
		finally:
			wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
			_add("sql", wall, cpu)
			if _current is not None:
				_current["sql_n"] = _current.get("sql_n", 0) + 1
				if _inside_ours:
					_current["ours_sql_n"] = _current.get("ours_sql_n", 0) + 1
			if _inside_ours:
				_add("ours_sql", wall, cpu)

	return sql


class _Closing:
	"""The app's answer with the time of its ``close`` (Frappe's after-response callbacks) recorded."""

	def __init__(self, answer):
		self.answer = answer

	def __iter__(self):
		return iter(self.answer)

	def close(self):
		w0, c0 = time.perf_counter(), time.thread_time()
		try:
			if hasattr(self.answer, "close"):
				self.answer.close()
		finally:
			wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
			_add("closing", wall, cpu)
			_add("wsgi", wall, cpu)


def _timed_app(app):
	@functools.wraps(app)
	def application(environ, start_response):
		w0, c0 = time.perf_counter(), time.thread_time()
		try:
			return _Closing(app(environ, start_response))
		finally:
			_add("wsgi", time.perf_counter() - w0, time.thread_time() - c0)

	return application


def post_worker_init(worker):
	import frappe
	import frappe.api
	import frappe.app
	from frappe.database.database import Database

	import ledger_app.api.mpesa
	import ledger_app.host

	worker.wsgi = _timed_app(worker.wsgi)
	for name, key in (("init_request", "init_request"), ("make_form_dict", "form_dict"),
			("HTTPRequest", "http_request"), ("validate_auth", "validate_auth"), ("sync_database", "sync"),
			("run_after_request_hooks", "after"), ("log_request", "after"), ("process_response", "after")):
		setattr(frappe.app, name, _timed(key, getattr(frappe.app, name)))
	frappe.init = _timed("init", frappe.init)
	frappe.connect = _timed("connect", frappe.connect)
	frappe.api.handle = _timed("api", frappe.api.handle)
	Database.sql = _timed_sql(Database.sql)
	Database.connect = _timed("db_connect", Database.connect)
	mpesa = ledger_app.api.mpesa
	mpesa.c2b_confirmation = _timed("ours", mpesa.c2b_confirmation, ours=True)
	ledger_app.host.secret = _timed("secret", ledger_app.host.secret)
	ledger_app.host.get_db = _timed("get_db", ledger_app.host.get_db)


def pre_request(worker, req):
	global _current
	_current = {"path": req.path, "pid": os.getpid(), "_w0": time.perf_counter(), "_c0": time.thread_time()}


def post_request(worker, req, environ, resp):
	global _current
	record, _current = _current, None
	if record is None:
		return
	record["worker_wall"] = time.perf_counter() - record.pop("_w0")
	record["worker_cpu"] = time.thread_time() - record.pop("_c0")
	record["end"] = time.time()
	_records.append(record)
	if len(_records) >= 500:
		_flush()


def _flush() -> None:
	directory = os.environ.get("LEDGER_PHASES_DIR")
	if directory and _records:
		with open(os.path.join(directory, f"phases-{os.getpid()}.jsonl"), "a") as out:
			out.writelines(json.dumps(r) + "\n" for r in _records)
	_records.clear()


def worker_exit(server, worker):
	_flush()
