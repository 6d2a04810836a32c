"""Inbound gateway callbacks: the Callback Log row written before anything else, and the checks
that decide whether a callback may act (secret token in constant time, optional IP allow-list).

M-Pesa does not sign callbacks, so every callback URL carries a secret token and the source address
must be in the allow-list when one is configured.  A refused callback changes nothing but its log row.
Secrets are never logged: the token travels in the query string, which is not stored, the
Authorization / Cookie headers are dropped from the stored headers, and the configured token is
redacted wherever else a caller put it (a header, the body).

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
from urllib.parse import quote, quote_plus

from ledger_app.db.rows import insert, new_name, standard_columns, table
from ledger_app.engine import clock, text

MAX_LOGGED_BODY = 256 * 1024
#: the status of a callback that repeats a recorded payment or payout with other content (another
#: amount, account or MSISDN): processed without moving money, kept for staff (``KEPT_STATUSES``)
MISMATCH = "Mismatch"
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
#: never cleared by age: Failed (staff may have to replay it), Received (processing never finished)
#: and Mismatch (the gateway and the ledger disagree on a payment: staff must look)
KEPT_STATUSES = ("Received", "Failed", MISMATCH)


def record(db, endpoint: str, body: bytes, headers: dict, remote_addr: str | None, http_method: str = "POST", *,
		secrets=(), name: str | None = None, received_at=None) -> str:
	"""Service: store the raw callback, committed on its own before any processing (one statement).

	Every secret in ``secrets`` (the callback token) is replaced by ``[redacted]`` wherever it appears
	in what is stored (body, header names and values, address), also URL- or JSON-escaped: a token
	sent in a header or the body instead of the query string is refused, and never stored.  Text a
	database refuses (NUL for PostgreSQL, lone surrogates for MariaDB) and other control characters
	in headers and address are stored as U+FFFD (``text.scrub``).

	A given ``name`` is inserted once: a confirmation names its row before writing it, so the spool
	entry kept when the database went away meanwhile (``host/spool.py``) finishes the same row, and
	a second replay inserts nothing; ``received_at`` is the time a replayed callback arrived."""
	given = name is not None
	name = name or new_name()
	redact = _redactor(secrets)
	safe_headers = {redact(text.scrub(str(k))): redact(text.scrub(str(v))) for k, v in headers.items()
		if str(k).lower() not in _SECRET_HEADERS}
	# undecodable bytes and NUL (which PostgreSQL text refuses) are stored as U+FFFD; redacted before
	# it is cut, so no part of a secret is left at the cut
	decoded = redact(body.decode("utf-8", errors="replace").replace("\x00", text.REPLACEMENT))
	stored = decoded[:MAX_LOGGED_BODY]
	if len(decoded) > MAX_LOGGED_BODY:
		stored += f"\n[... {len(decoded) - MAX_LOGGED_BODY} more characters not stored]"
	row = {"name": name, **standard_columns(received_at or clock.now(), "Guest"), "endpoint": endpoint[:140], "http_method": http_method,
		"remote_addr": redact(text.scrub(remote_addr or ""))[:140], "headers": json.dumps(safe_headers, sort_keys=True),
		"body": stored, "status": "Received", "http_status": 0}
	db.committed(lambda db: insert(db, "Callback Log", row, skip_if_exists=("name",) if given else None))
	return name


REDACTED = "[redacted]"


def _redactor(secrets):
	"""A function replacing each secret (as sent, URL-encoded or JSON-escaped) by ``REDACTED``."""
	forms = set()
	for secret in secrets:
		if secret:
			secret = str(secret)
			forms.update({secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
				json.dumps(secret, ensure_ascii=False)[1:-1]})
	ordered = sorted((form for form in forms if form), key=len, reverse=True)
	if not ordered:
		return lambda value: value
	pattern = re.compile("|".join(re.escape(form) for form in ordered), re.IGNORECASE)
	return lambda value: pattern.sub(REDACTED, value)


def finish(db, name: str, status: str, http_status: int, error: str | None = None, reference: str | None = None) -> None:
	"""Service: the outcome of a logged callback, committed on its own (one statement)."""
	db.committed(lambda db: mark(db, name, status, http_status, error, reference))


def outcome_status(note: str | None) -> str:
	"""The status of a processed callback whose outcome note is ``note``: Mismatch for a note that
	reports one (``mismatch: ...``), Processed otherwise."""
	return MISMATCH if note and note.startswith("mismatch:") else "Processed"


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
		{"s": status, "h": http_status, "e": text.scrub(error, multiline=True) if error else None,
			"r": text.scrub(reference)[:140] if reference else None,
			"now": clock.now(), "n": name},
	)


def refusal(given_token: str | None, expected_token: str | None, remote_addr: str | None, allowed_ips: str | None):
	"""``None`` when the callback may act, else ``(http_status, reason)``: 401 without a token,
	403 for a wrong token, an unconfigured token, an address outside the allow-list, or an allow-list
	that is not valid (stored before Ledger Settings checked it, or by plain SQL): a broken allow-list
	refuses every callback rather than trusting any.  Never raises."""
	return token_refusal(given_token, expected_token) or address_refusal(remote_addr, allowed_ips)


def token_refusal(given_token: str | None, expected_token: str | None):
	"""The token part of ``refusal``: 403 when no token is configured, 401 without one, 403 for a
	wrong one (compared in constant time); ``None`` when it is right."""
	if not expected_token:
		return 403, "callback token is not configured"
	if not given_token:
		return 401, "missing callback token"
	if not hmac.compare_digest(str(given_token).encode("utf-8", "replace"), str(expected_token).encode("utf-8", "replace")):
		return 403, "wrong callback token"
	return None


def address_refusal(remote_addr: str | None, allowed_ips: str | None):
	"""The allow-list part of ``refusal`` (see there); ``None`` when the address may call."""
	networks, bad = parse_allow_list(allowed_ips)
	if bad:
		shown = ", ".join(repr(item[:60]) for item in bad[:3])
		return 403, (f"allowed_callback_ips in Ledger Settings is not valid ({shown} is not an IP address or network):"
			f" every callback is refused until it is corrected")
	if networks:
		try:
			address = ipaddress.ip_address((remote_addr or "").strip())
		except ValueError:
			return 403, f"source address {remote_addr!r} is not an IP address"
		if not any(address in network for network in networks):
			return 403, f"source address {remote_addr} is not in the allow-list"
	return None


#: at most this many networks in the allow-list (Ledger Settings refuses more)
MAX_ALLOWED_NETWORKS = 100


def parse_allow_list(text) -> tuple[list, list[str]]:
	"""``(networks, bad items)`` of an allow-list: one IP address or network per line (commas,
	semicolons and spaces also separate).  An address with host bits (``10.0.0.1/24``) is its
	network.  Never raises: what is not a network is returned in ``bad`` for the caller to refuse."""
	networks, bad = [], []
	if text is None:
		return networks, bad
	for item in re.split(r"[\s,;]+", str(text)):
		if not item:
			continue
		try:
			networks.append(ipaddress.ip_network(item, strict=False))
		except (ValueError, TypeError):
			bad.append(item)
	return networks, bad


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
