"""Where a circuit breaker's state lives (``breaker.GuardedGateway`` keeps none of its own).

A store holds one ``BreakerState`` per gateway name and changes it atomically: ``update(name,
change)`` reads the state, calls ``change(state)`` (which edits it in place and returns a value),
writes it back if it changed and returns ``change``'s value, with no other change to that name in
between.  ``change`` may be called more than once (a store that detects a concurrent write runs it
again on the fresh state), so it must do nothing but edit the state.  Every timestamp in the state
comes from the store's ``clock``, so everyone sharing a store measures time the same way.

- ``MemoryStore``: one process (a lock and a dict); the clock is ``time.monotonic``.  The standalone
  host, whose payout workers are threads of one process (or each their own process, each with its
  own breakers).
- ``RedisStore``: every process that reaches one Redis (a bench's web workers, background workers
  and scheduler share its cache): state as JSON under a key per gateway, changed in a WATCH/MULTI
  transaction; the clock is wall time (``time.time``), comparable between machines.  A state not
  written for ``ttl`` seconds expires (read as closed).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Protocol, TypeVar

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass
class BreakerState:
	"""One gateway's breaker: ``state`` as stored (``closed``, ``open`` or ``half-open``; an open
	circuit reads half-open once its reset timeout has passed), consecutive ``failures`` while
	closed, when it opened, the ``generation`` (moved by every state change, so results of calls that
	started before one are ignored) and when the running half-open probe started (None: none)."""

	state: str = CLOSED
	failures: int = 0
	opened_at: float = 0.0
	generation: int = 0
	probe_started_at: float | None = None

	@classmethod
	def from_json(cls, raw) -> BreakerState:
		if not raw:
			return cls()
		try:
			values = json.loads(raw)
			return cls(**{key: values[key] for key in asdict(cls()) if key in values})
		except (ValueError, TypeError):
			return cls()  # unreadable (another version wrote it): start closed

	def to_json(self) -> str:
		return json.dumps(asdict(self), sort_keys=True)


class BreakerStore(Protocol):
	clock: Callable[[], float]

	def read(self, name: str) -> BreakerState:
		"""A copy of the state of ``name`` (closed when never written)."""

	def update(self, name: str, change: Callable[[BreakerState], T]) -> T:
		"""Change the state of ``name`` atomically (see the module doc)."""


class MemoryStore:
	"""Breaker state in this process."""

	def __init__(self, clock: Callable[[], float] = time.monotonic):
		self.clock = clock
		self._lock = threading.Lock()
		self._states: dict[str, BreakerState] = {}

	def read(self, name: str) -> BreakerState:
		with self._lock:
			return replace(self._states.get(name) or BreakerState())

	def update(self, name: str, change: Callable[[BreakerState], T]) -> T:
		with self._lock:
			state = self._states.setdefault(name, BreakerState())
			return change(state)


class RedisStore:
	"""Breaker state in Redis, shared by every process using ``client``.

	``client`` is a ``redis.Redis`` (inside a bench, ``frappe.cache``); ``key(name)`` gives the Redis
	key of a gateway's state (inside a bench, prefixed with the site so sites never share a breaker).
	"""

	def __init__(self, client, key: Callable[[str], str | bytes], ttl: int = 86400,
			clock: Callable[[], float] = time.time):
		self.client = client
		self.key = key
		self.ttl = ttl
		self.clock = clock

	def read(self, name: str) -> BreakerState:
		return BreakerState.from_json(self.client.get(self.key(name)))

	def update(self, name: str, change: Callable[[BreakerState], T]) -> T:
		key = self.key(name)

		def attempt(pipe):
			state = BreakerState.from_json(pipe.get(key))
			before = replace(state)
			result = change(state)
			pipe.multi()
			if state != before:
				pipe.set(key, state.to_json(), ex=self.ttl)
			return result

		# WATCH key; a write by another process before EXEC runs ``attempt`` again on the fresh state
		return self.client.transaction(attempt, key, value_from_callable=True)
