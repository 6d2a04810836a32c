"""A circuit breaker per gateway (``GuardedGateway``) and failover between gateways (``GatewayRouter``).

Breaker rules (``GuardedGateway``):

- ``unknown`` outcomes and exceptions raised by the gateway are failures; ``accepted``, ``duplicate``
  and ``rejected`` are successes (the gateway answered).  An exception becomes an ``unknown``
  outcome (logged with its traceback): the request may have reached the gateway.
- ``fail_max`` consecutive failures open the circuit.  While it is open no call reaches the gateway:
  ``submit_b2c`` and ``query_status`` return ``UNAVAILABLE`` (``"unavailable"``) at once, which
  **guarantees the gateway was not called**, so the worker leaves the payout Queued (or Unknown) and
  tries again later; nothing about the payout changes.
- ``reset_timeout`` seconds after opening the state reads ``half-open``: the next call is a probe
  (one at a time; concurrent calls meanwhile get ``UNAVAILABLE``).  A probe that succeeds closes the
  circuit, one that fails opens it again for another ``reset_timeout``.
- Results of calls that started before a state change (a slow call finishing after the circuit
  opened) do not count.
- The state lives in a store (``breaker_store``): in this process by default (``MemoryStore``), or
  shared by every process that reaches one Redis (``RedisStore``, what a bench uses), so failures
  seen by one worker or job open the circuit for all of them.

Failover (``GatewayRouter``) — the subtlety that keeps a payout from being paid twice:

An ``unknown`` outcome on gateway A means A may have accepted the payout.  Sending the same payout to
gateway B would then pay it twice, and B knows nothing of A's OriginatorConversationID.  So failover
only applies to a payout **never submitted to any gateway**.  Once a payout has been attempted on a
gateway it is *pinned* there: ``submit_b2c(request, pinned=name)`` uses only that gateway, retrying
with the same OriginatorConversationID (Daraja answers ``duplicate`` if it was taken) or waiting
(``UNAVAILABLE``) while that gateway's circuit is open; ``unknown`` payouts are resolved with
Transaction Status on the same gateway (``query_status(name, ...)``).

To pin a payout before anything can reach a gateway, pass ``before_call``: it is called with the
chosen gateway's name after the breaker has admitted the call and before the HTTP request, so the
worker can record the gateway on the payout row and commit.  If it raises, nothing is sent and the
exception propagates.  An ``UNAVAILABLE`` answer means no gateway was called and ``before_call`` was
not called either, so the payout is still unpinned.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger_app.engine.payout_gateway import (
	ACCEPTED,
	DUPLICATE,
	REJECTED,
	UNAVAILABLE,
	UNKNOWN,
	Gateway,
	PayoutRequest,
	SubmitOutcome,
)
from ledger_app.gateways.breaker_store import CLOSED, HALF_OPEN, OPEN, BreakerState, BreakerStore, MemoryStore

log = logging.getLogger("ledger_app.gateways.breaker")

_SUCCESSES = (ACCEPTED, DUPLICATE, REJECTED)


@dataclass(frozen=True)
class _Ticket:
	generation: int
	probe: bool


class GuardedGateway:
	"""A gateway behind its own circuit breaker; it is itself a ``Gateway``.

	``state`` is ``"closed"``, ``"open"`` or ``"half-open"``.  ``add_listener(fn)`` registers
	``fn(name, old_state, new_state)``, called after each transition (outside the store's update) in
	the process that made it.

	The state lives in ``store`` (``breaker_store``), keyed by the gateway's name: by default a
	``MemoryStore`` of its own with ``clock`` (this process only); pass a shared store (a
	``RedisStore``) and every process using it sees one breaker.  A store that cannot be read makes
	the call ``UNAVAILABLE`` (nothing is sent); one that cannot be written after a call only loses
	that call's count (logged).  A half-open probe that has not finished after ``probe_timeout``
	seconds is taken as lost (its process died) and the next call probes.
	"""

	def __init__(self, gateway: Gateway, fail_max: int = 5, reset_timeout: float = 30,
			clock: Callable[[], float] | None = None, store: BreakerStore | None = None,
			probe_timeout: float = 120):
		if fail_max < 1:
			raise ValueError("fail_max must be at least 1")
		if reset_timeout < 0:
			raise ValueError("reset_timeout must not be negative")
		if store is not None and clock is not None:
			raise ValueError("a shared store brings its own clock; pass clock only without a store")
		self.gateway = gateway
		self.name = gateway.name
		self.fail_max = fail_max
		self.reset_timeout = reset_timeout
		self.probe_timeout = probe_timeout
		self.store = store if store is not None else MemoryStore(clock or time.monotonic)
		self._listeners: list[Callable[[str, str, str], None]] = []

	def __repr__(self) -> str:
		return f"GuardedGateway({self.gateway!r}, state={self.state!r})"

	def add_listener(self, listener: Callable[[str, str, str], None]) -> None:
		self._listeners.append(listener)

	@property
	def state(self) -> str:
		return self._effective_state(self.store.read(self.name), self.store.clock())

	@property
	def failures(self) -> int:
		"""Consecutive failures counted while closed."""
		return self.store.read(self.name).failures

	def available(self) -> bool:
		"""Whether a call made now would reach the gateway (a racing caller may still take the probe)."""
		stored, now = self.store.read(self.name), self.store.clock()
		state = self._effective_state(stored, now)
		return state == CLOSED or (state == HALF_OPEN and not self._probing(stored, now))

	def reset(self) -> None:
		"""Close the circuit by hand (an operator who knows the gateway is back)."""
		self._notify(self.store.update(self.name, lambda stored: self._move(stored, CLOSED)))

	# --- the gateway interface ---

	def submit_b2c(self, request: PayoutRequest, before_call: Callable[[str], None] | None = None) -> SubmitOutcome:
		return self._guard(lambda: self.gateway.submit_b2c(request), before_call, f"B2C {request.originator_conversation_id}")

	def query_status(self, originator_conversation_id: str, result_url: str, timeout_url: str,
			transaction_id: str | None = None, before_call: Callable[[str], None] | None = None) -> SubmitOutcome:
		return self._guard(lambda: self.gateway.query_status(originator_conversation_id, result_url, timeout_url,
			transaction_id), before_call, f"TransactionStatus {originator_conversation_id or transaction_id}")

	# --- internals ---

	def _guard(self, call: Callable[[], SubmitOutcome], before_call, what: str) -> SubmitOutcome:
		try:
			ticket, events = self.store.update(self.name, self._admit)
		except Exception:  # no state, no call: the payout waits as for an open circuit
			log.exception("%s: breaker state unreadable; %s not sent", self.name, what)
			return SubmitOutcome(UNAVAILABLE, error_code="breaker_store",
				message=f"gateway {self.name!r}: breaker state unreadable")
		self._notify(events)
		if ticket is None:
			return SubmitOutcome(UNAVAILABLE, error_code="circuit_open",
				message=f"gateway {self.name!r} is unavailable (circuit {self.state})")
		if before_call is not None:
			try:
				before_call(self.name)
			except BaseException:
				self._release(ticket)
				raise
		try:
			outcome = call()
		except Exception as exc:  # any failure of the call is an unknown outcome
			log.exception("%s: %s raised", self.name, what)
			outcome = SubmitOutcome(UNKNOWN, error_code="exception", message=f"{type(exc).__name__}: {exc}"[:500])
		except BaseException:
			self._finish(ticket, ok=False)
			raise
		if outcome.status == UNAVAILABLE:
			self._release(ticket)
		else:
			self._finish(ticket, ok=outcome.status in _SUCCESSES)
		return outcome

	def _effective_state(self, stored: BreakerState, now: float) -> str:
		if stored.state == OPEN and now - stored.opened_at >= self.reset_timeout:
			return HALF_OPEN
		return stored.state

	def _probing(self, stored: BreakerState, now: float) -> bool:
		return stored.probe_started_at is not None and now - stored.probe_started_at < self.probe_timeout

	def _move(self, stored: BreakerState, new_state: str) -> list[tuple[str, str]]:
		"""Change state (inside a store update); returns the transition to announce."""
		old = stored.state
		stored.generation += 1
		stored.probe_started_at = None
		stored.failures = 0
		stored.state = new_state
		if new_state == OPEN:
			stored.opened_at = self.store.clock()
		return [(old, new_state)] if old != new_state else []

	def _admit(self, stored: BreakerState) -> tuple[_Ticket | None, list]:
		now = self.store.clock()
		state = self._effective_state(stored, now)
		if state == CLOSED:
			return _Ticket(stored.generation, probe=False), []
		if state == HALF_OPEN and not self._probing(stored, now):
			events = self._move(stored, HALF_OPEN) if stored.state == OPEN else []
			stored.probe_started_at = now
			return _Ticket(stored.generation, probe=True), events
		return None, []

	def _release(self, ticket: _Ticket) -> None:
		"""The admitted call was not made (or the gateway itself declined): count nothing."""
		if not ticket.probe:
			return

		def change(stored: BreakerState) -> None:
			if ticket.generation == stored.generation:
				stored.probe_started_at = None

		try:
			self.store.update(self.name, change)
		except Exception:
			log.exception("%s: breaker state not written (probe release)", self.name)

	def _finish(self, ticket: _Ticket, ok: bool) -> None:
		def change(stored: BreakerState) -> list:
			if ticket.generation != stored.generation:
				return []  # started before a state change: does not count
			if ticket.probe:
				return self._move(stored, CLOSED if ok else OPEN)
			if ok:
				stored.failures = 0
				return []
			stored.failures += 1
			return self._move(stored, OPEN) if stored.failures >= self.fail_max else []

		try:
			events = self.store.update(self.name, change)
		except Exception:  # the gateway's answer still counts for the payout; only the breaker misses it
			log.exception("%s: breaker state not written (call result)", self.name)
			return
		self._notify(events)

	def _notify(self, events) -> None:
		for old, new in events:
			level = logging.WARNING if new == OPEN else logging.INFO
			log.log(level, "gateway %s circuit %s -> %s", self.name, old, new)
			for listener in list(self._listeners):
				try:
					listener(self.name, old, new)
				except Exception:  # a broken alert hook must not break payouts
					log.exception("gateway %s: state listener failed", self.name)


class GatewayRouter:
	"""Gateways in order of preference, each behind its breaker, with failover for unpinned payouts.

	``on_open(name)`` is called when a gateway's circuit trips (closed -> open; not again on each failed
	half-open probe) so the host can raise an alert; ``on_close(name)`` when it recovers.
	"""

	def __init__(self, gateways: Sequence[GuardedGateway], on_open: Callable[[str], None] | None = None,
			on_close: Callable[[str], None] | None = None):
		if not gateways:
			raise ValueError("at least one gateway is required")
		names = [g.name for g in gateways]
		if len(set(names)) != len(names):
			raise ValueError(f"gateway names must be unique, got {names}")
		self.gateways = list(gateways)
		self._by_name = {g.name: g for g in self.gateways}
		self.on_open = on_open
		self.on_close = on_close
		for gateway in self.gateways:
			gateway.add_listener(self._state_changed)

	def _state_changed(self, name: str, old: str, new: str) -> None:
		if new == OPEN and old == CLOSED and self.on_open is not None:
			self.on_open(name)
		elif new == CLOSED and old != CLOSED and self.on_close is not None:
			self.on_close(name)

	@property
	def names(self) -> list[str]:
		return [g.name for g in self.gateways]

	def get(self, name: str) -> GuardedGateway:
		try:
			return self._by_name[name]
		except KeyError:
			raise ValueError(f"no gateway named {name!r} (configured: {', '.join(self.names)})") from None

	def states(self) -> dict[str, str]:
		return {g.name: g.state for g in self.gateways}

	def submit_b2c(self, request: PayoutRequest, pinned: str | None = None,
			before_call: Callable[[str], None] | None = None) -> SubmitOutcome:
		"""Send ``request`` on ``pinned`` only, or on the first gateway whose circuit admits it.

		Pass ``pinned`` for every payout that was ever attempted on a gateway (see the module doc).
		Returns a ``SubmitOutcome`` naming the gateway; ``UNAVAILABLE`` when no gateway was called.
		"""
		if pinned is not None:
			gateway = self.get(pinned)
			return _routed(gateway.submit_b2c(request, before_call=before_call), gateway.name)
		for gateway in self.gateways:
			outcome = gateway.submit_b2c(request, before_call=before_call)
			if outcome.status != UNAVAILABLE:
				return _routed(outcome, gateway.name)
			log.info("payout %s: gateway %s unavailable, trying the next one", request.originator_conversation_id,
				gateway.name)
		return SubmitOutcome(UNAVAILABLE, error_code="circuit_open",
			message=f"every gateway is unavailable ({', '.join(f'{n} {s}' for n, s in self.states().items())})")

	def query_status(self, gateway: str, originator_conversation_id: str, result_url: str, timeout_url: str,
			transaction_id: str | None = None) -> SubmitOutcome:
		"""Transaction Status on the gateway the payout was sent to (never another one)."""
		guarded = self.get(gateway)
		return _routed(guarded.query_status(originator_conversation_id, result_url, timeout_url, transaction_id),
			guarded.name)


def _routed(outcome: SubmitOutcome, name: str) -> SubmitOutcome:
	return dataclasses.replace(outcome, gateway=name)
