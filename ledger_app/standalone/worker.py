"""The standalone payout worker: sends due payouts and resolves unknown ones, in a loop.

Runs as a thread inside ``ledger-app serve`` and as its own process with ``ledger-app worker``; any
number may run against one database (claims skip rows another worker holds).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from ledger_app.engine import payouts

log = logging.getLogger("ledger_app.worker")


class PayoutWorker:
	def __init__(self, pool, gateway, urls, *, interval: float = 1.0, sweep_every: float = 10.0, name: str | None = None):
		self.pool, self.gateway, self.urls = pool, gateway, urls
		self.interval, self.sweep_every = interval, sweep_every
		self.name = name or f"{socket.gethostname()}:{os.getpid()}"
		self._wake = threading.Event()
		self._stop = threading.Event()
		self._thread: threading.Thread | None = None

	def kick(self) -> None:
		"""Look for due payouts now (called after a commit that queued one)."""
		self._wake.set()

	def run_once(self) -> int:
		with self.pool.connection() as db:
			return payouts.dispatch(db, self.gateway, self.urls, worker=self.name)

	def sweep_once(self) -> int:
		with self.pool.connection() as db:
			return payouts.sweep(db, self.gateway, self.urls)

	def run(self) -> None:
		last_sweep = 0.0
		while not self._stop.is_set():
			sent = 0
			try:
				sent = self.run_once()
				if time.monotonic() - last_sweep >= self.sweep_every:
					last_sweep = time.monotonic()
					self.sweep_once()
			except Exception:  # a database or gateway hiccup: try again on the next round
				log.exception("payout worker round failed")
			if not sent:
				self._wake.wait(self.interval)
				self._wake.clear()

	def start(self) -> PayoutWorker:
		self._thread = threading.Thread(target=self.run, name="ledger-payout-worker", daemon=True)
		self._thread.start()
		return self

	def stop(self) -> None:
		self._stop.set()
		self._wake.set()
		if self._thread is not None:
			self._thread.join(timeout=30)
