"""Slow clients cannot starve either host, proven with real sockets: connections that send half a
request (or nothing after the headers) neither stop a new client from being served at once nor stay
open for ever. The standalone host runs as a real ``ledger-app serve`` process; the Frappe site is
served as in production, nginx in front of gunicorn (``tests/frappe_site.py``)."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack, suppress
from urllib.parse import urlsplit

import pytest
import requests

from tests.support import AUTH

IDLE_CONNECTIONS = 200
STANDALONE_IDLE_TIMEOUT = 2  # ``serve --idle-timeout`` for these tests (the default is 30 s)
METHOD = "/api/method/ledger_app.api.ledger.create_account"


@pytest.fixture(params=("sqlite", "frappe"), ids=("standalone", "frappe"))
def host_kind(request) -> str:
	"""Connection handling does not depend on the database: the standalone host on SQLite and the site."""
	return request.param


@pytest.fixture
def host(served, host_kind):
	"""(base URL, seconds after which the host closes a quiet connection)."""
	if host_kind == "frappe":
		from tests.frappe_site import IDLE_TIMEOUT

		base, _ = served()
		return base, IDLE_TIMEOUT
	base, _ = served(process=True, args=("--idle-timeout", str(STANDALONE_IDLE_TIMEOUT)))
	return base, STANDALONE_IDLE_TIMEOUT


def stalled_requests(base: str, n: int, stack: ExitStack) -> list[socket.socket]:
	"""``n`` connections that each send part of a request and then nothing: every other one stops
	inside the headers, the rest after the headers with the body still owed."""
	parts = urlsplit(base)
	head = (f"POST {METHOD} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
		f"Authorization: {AUTH['Authorization']}\r\n")
	sockets = []
	for i in range(n):
		sock = stack.enter_context(socket.create_connection((parts.hostname, parts.port), timeout=10))
		sock.sendall((head if i % 2 else head + 'Content-Length: 100\r\n\r\n{"account": ').encode())
		sockets.append(sock)
	return sockets


def closed_by_peer(sock: socket.socket, deadline: float) -> bool:
	"""Whether the host closes ``sock`` before ``deadline`` (whatever it answers first)."""
	while (left := deadline - time.monotonic()) > 0:
		sock.settimeout(left)
		try:
			if not sock.recv(65536):
				return True
		except (ConnectionResetError, BrokenPipeError):
			return True
		except TimeoutError:
			return False
	return False


def test_two_hundred_stalled_connections_do_not_stop_a_new_client_being_served_within_a_second(host):
	base, _ = host
	with ExitStack() as stack:
		stalled_requests(base, IDLE_CONNECTIONS, stack)
		time.sleep(0.5)  # every stalled request has reached the host
		for n in range(3):
			started = time.monotonic()
			answer = requests.post(f"{base}{METHOD}", headers=AUTH, timeout=30,
				json={"account": f"Slow Clients Cash {n}", "root_type": "Asset"})
			elapsed = time.monotonic() - started
			assert answer.status_code == 200, answer.text
			assert answer.json()["message"]["created"] is True
			assert elapsed < 1.0, f"a new client waited {elapsed:.2f} s behind {IDLE_CONNECTIONS} stalled connections"


def test_stalled_connections_are_closed_after_the_idle_timeout(host):
	base, idle_timeout = host
	with ExitStack() as stack:
		sockets = stalled_requests(base, 20, stack)
		# the host may be up to one clean-up round late; allow for a busy machine on top
		deadline = time.monotonic() + 2 * idle_timeout + 5
		still_open = [sock for sock in sockets if not closed_by_peer(sock, deadline)]
		assert not still_open, f"{len(still_open)} of {len(sockets)} stalled connections still open after {2 * idle_timeout + 5} s"


def test_a_quiet_connection_is_not_closed_before_the_idle_timeout(host):
	"""The timeout only ends connections that are really quiet: one stalled for under half the
	timeout is still open and its request is then completed and answered."""
	base, idle_timeout = host
	parts = urlsplit(base)
	body = b'{"account": "Patient Cash", "root_type": "Asset"}'
	with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
		sock.sendall((f"POST {METHOD} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
			f"Authorization: {AUTH['Authorization']}\r\nConnection: close\r\n"
			f"Content-Length: {len(body)}\r\n\r\n").encode())
		time.sleep(idle_timeout / 4)
		sock.sendall(body)
		answer = b""
		with suppress(ConnectionResetError):
			while chunk := sock.recv(65536):
				answer += chunk
	assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
