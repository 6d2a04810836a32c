"""The standalone host's HTTP server: waitress, tuned so that slow or idle clients cannot starve it.

Waitress reads every request in one event-loop thread and hands it to a worker thread only once it
is complete, so a client that sends half a request (or nothing) costs a socket, not a thread. What
stops waitress by default is its count of open connections (``connection_limit``, 100): at the limit
it stops accepting until one closes, and an idle one closes only after ``channel_timeout`` (120 s).
Here the limit is 1,000, the loop watches sockets with ``poll`` (``select`` cannot watch a descriptor
above 1023), the process may open that many descriptors, and a connection that sends nothing for
``idle_timeout`` seconds (half a request included) is closed (README, "Slow clients").
"""

from __future__ import annotations

import resource

import waitress

CONNECTION_LIMIT = 1000
IDLE_TIMEOUT = 30  # seconds without a byte from the client before its connection is closed
# descriptors beyond the connections: the listening socket, the database pool, log files, the loop's trigger
SPARE_DESCRIPTORS = 200


def create_server(app, *, host: str, port: int, threads: int = 8, idle_timeout: int = IDLE_TIMEOUT,
		connection_limit: int = CONNECTION_LIMIT, **options):
	"""A waitress server for ``app`` on ``host:port`` (not yet running; ``.run()`` serves)."""
	_allow_descriptors(connection_limit + SPARE_DESCRIPTORS)
	return waitress.create_server(app, host=host, port=port, threads=threads,
		connection_limit=connection_limit, asyncore_use_poll=True, channel_timeout=idle_timeout,
		cleanup_interval=_cleanup_interval(idle_timeout), **options)


def _cleanup_interval(idle_timeout: int) -> int:
	"""How often waitress looks for idle connections: often enough that one is closed at most
	about half the timeout late."""
	return max(1, min(10, idle_timeout // 2))


def _allow_descriptors(wanted: int) -> None:
	"""Raise this process's soft limit of open files to ``wanted`` (at most the hard limit)."""
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
	if soft != resource.RLIM_INFINITY and soft < target:
		resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
