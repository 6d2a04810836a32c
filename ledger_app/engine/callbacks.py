"""Inbound gateway callbacks: the Callback Log row written before anything else, and the checks
that decide whether a callback may act (secret token in constant time, optional IP allow-list).

M-Pesa does not sign callbacks, so every callback URL carries a secret token and the source address
must be in the allow-list when one is configured.  A refused callback changes nothing but its log row.
Secrets are never logged: the token travels in the query string, which is not stored, and the
Authorization / Cookie headers are dropped from the stored headers.

Old rows are cleared (``clear_older_than``; inside a bench by Frappe's Log Settings) except those a
person still has to look at: a callback that failed or never finished may carry money that is not in
the ledger yet (staff replay it with ``record_missed_payment``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from datetime import timedelta

from ledger_app.db.rows import insert, new_name, standard_columns, table
from ledger_app.engine import clock

MAX_LOGGED_BODY = 256 * 1024
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
#: never cleared by age: Failed (staff may have to replay it) and Received (processing never finished)
KEPT_STATUSES = ("Received", "Failed")


def record(db, endpoint: str, body: bytes, headers: dict, remote_addr: str | None, http_method: str = "POST", *,
		name: str | None = None, received_at=None) -> str:
	"""Service: store the raw callback, committed on its own before any processing (one statement).

	A given ``name`` is inserted once: a confirmation names its row before writing it, so the spool
	entry kept when the database went away meanwhile (``host/spool.py``) finishes the same row, and
	a second replay inserts nothing; ``received_at`` is the time a replayed callback arrived."""
	given = name is not None
	name = name or new_name()
	safe_headers = {k: v.replace("\x00", "\ufffd") for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}
	# undecodable bytes and NUL (which PostgreSQL text refuses) are stored as U+FFFD
	text = body[:MAX_LOGGED_BODY].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
	if len(body) > MAX_LOGGED_BODY:
		text += f"\n[... {len(body) - MAX_LOGGED_BODY} more bytes not stored]"
	row = {"name": name, **standard_columns(received_at or clock.now(), "Guest"), "endpoint": endpoint[:140], "http_method": http_method,
		"remote_addr": (remote_addr or "")[:140], "headers": json.dumps(safe_headers, sort_keys=True), "body": text,
		"status": "Received", "http_status": 0}
	db.committed(lambda db: insert(db, "Callback Log", row, skip_if_exists="name" if given else None))
	return name


def finish(db, name: str, status: str, http_status: int, error: str | None = None, reference: str | None = None) -> None:
	"""Service: the outcome of a logged callback, committed on its own (one statement)."""
	db.committed(lambda db: mark(db, name, status, http_status, error, reference))


def status(db, name: str) -> str | None:
	"""The status of a logged callback (None when there is no such row)."""
	rows = db.sql(f"SELECT `status` FROM {table('Callback Log')} WHERE `name` = %(n)s", {"n": name})
	return rows[0]["status"] if rows else None


def mark(db, name: str, status: str, http_status: int, error: str | None = None, reference: str | None = None) -> None:
	"""The outcome of a logged callback, inside the caller's transaction (the one that did the work,
	so the outcome commits with it)."""
	db.execute(
		f"UPDATE {table('Callback Log')} SET `status` = %(s)s, `http_status` = %(h)s, `error` = %(e)s,"
		f" `reference` = %(r)s, `modified` = %(now)s WHERE `name` = %(n)s",
		{"s": status, "h": http_status, "e": (error or None), "r": (reference or None)[:140] if reference else None,
			"now": clock.now(), "n": name},
	)


def refusal(given_token: str | None, expected_token: str | None, remote_addr: str | None, allowed_ips: str | None):
	"""``None`` when the callback may act, else ``(http_status, reason)``: 401 without a token,
	403 for a wrong token, an unconfigured token or an address outside the allow-list."""
	if not expected_token:
		return 403, "callback token is not configured"
	if not given_token:
		return 401, "missing callback token"
	if not hmac.compare_digest(str(given_token).encode(), str(expected_token).encode()):
		return 403, "wrong callback token"
	networks = parse_allow_list(allowed_ips)
	if networks:
		try:
			address = ipaddress.ip_address((remote_addr or "").strip())
		except ValueError:
			return 403, f"source address {remote_addr!r} is not an IP address"
		if not any(address in network for network in networks):
			return 403, f"source address {remote_addr} is not in the allow-list"
	return None


def parse_allow_list(text: str | None) -> list:
	networks = []
	for item in re.split(r"[\s,;]+", text or ""):
		if item:
			networks.append(ipaddress.ip_network(item, strict=False))
	return networks


def clear_older_than(db, days: int) -> int:
	"""Service: delete the Callback Log rows received more than ``days`` days ago, except those in
	``KEPT_STATUSES``; returns how many were deleted."""
	if int(days) < 1:
		raise ValueError("days must be at least 1")
	cutoff = clock.now() - timedelta(days=int(days))
	kept = ", ".join(f"'{status}'" for status in KEPT_STATUSES)
	return db.run_in_transaction(lambda db: db.execute(
		f"DELETE FROM {table('Callback Log')} WHERE `creation` < %(cutoff)s AND `status` NOT IN ({kept})",
		{"cutoff": cutoff}))
