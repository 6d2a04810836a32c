"""The database port: the only way services reach a database.

A ``Database`` is one connection's worth of work.  It runs SQL with named parameters
(``%(name)s``, backtick identifiers; see ``dialects``) and returns rows as dicts, controls the
transaction explicitly (``begin``/``commit``/``rollback``, savepoints), runs callbacks after a
commit (how work with an external effect is kicked off), and replays a unit of work a bounded number
of times when the database reports a deadlock or lock timeout (``run_in_transaction``).

Two adapters implement the four primitives ``_execute``, ``_begin``, ``_commit`` and ``_rollback``:
``pool.PooledDatabase`` over a pooled DB-API connection (standalone host) and
``frappe_adapter.FrappeDatabase`` over ``frappe.db`` (inside a bench).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ledger_app.db.dialects import Dialect
from ledger_app.engine.errors import DatabaseUnavailable, RetryableDatabaseError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: attempts for one unit of work when the database reports a deadlock or lock timeout
DEFAULT_ATTEMPTS = 5


class Database:
	dialect: Dialect
	#: which database this is (its URL, or the Frappe site), for what a process keeps per database;
	#: None keeps nothing
	scope: str | None = None

	def __init__(self, dialect: Dialect):
		self.dialect = dialect
		self.in_transaction = False
		self._after_commit: list[Callable[[], None]] = []

	# --- statements -------------------------------------------------------------------------
	def sql(self, query: str, params: dict | None = None) -> list[dict]:
		"""Run ``query`` and return its rows as dicts (an empty list for statements without rows)."""
		return self._run(query, params, fetch=True)

	def execute(self, query: str, params: dict | None = None) -> int:
		"""Run a statement and return the number of rows it changed."""
		return self._run(query, params, fetch=False)

	def _run(self, query, params, fetch):
		with self._classified():
			return self._execute(query, params or {}, fetch)

	@contextmanager
	def _classified(self):
		"""Driver errors raised inside become the port's error types (unique violation, retryable,
		database unavailable); others pass as they are."""
		try:
			yield
		except Exception as exc:
			ours = self.dialect.classify(exc) or self._classify_host(exc)
			if ours is not None:
				raise ours from exc
			raise

	# --- transactions -----------------------------------------------------------------------
	def begin(self) -> None:
		if self.in_transaction:
			raise RuntimeError("a transaction is already open on this connection")
		with self._classified():
			self._begin()
		self.in_transaction = True

	def commit(self) -> None:
		try:
			self._commit()
		except Exception as exc:
			ours = self.dialect.classify(exc) or self._classify_host(exc)
			try:
				self.rollback()  # a failed COMMIT may leave the transaction open: end it
			except DatabaseUnavailable:  # the connection is gone: the COMMIT's own error says more
				pass
			if ours is not None:
				raise ours from exc
			raise
		self.in_transaction = False
		callbacks, self._after_commit = self._after_commit, []
		for callback in callbacks:
			try:
				callback()
			except Exception:  # the commit stands; a failed kick-off is picked up by the scheduler
				log.exception("after-commit callback failed")

	def rollback(self) -> None:
		self._after_commit.clear()
		try:
			with self._classified():  # on a lost connection: DatabaseUnavailable
				self._rollback()
		finally:
			self.in_transaction = False

	def savepoint(self, name: str) -> None:
		self.execute(f"SAVEPOINT {_ident(name)}")

	def rollback_to_savepoint(self, name: str) -> None:
		self.execute(f"ROLLBACK TO SAVEPOINT {_ident(name)}")

	def release_savepoint(self, name: str) -> None:
		self.execute(f"RELEASE SAVEPOINT {_ident(name)}")

	def after_commit(self, callback: Callable[[], None]) -> None:
		"""Run ``callback`` once the current transaction commits; dropped if it rolls back."""
		if not self.in_transaction:
			callback()
			return
		self._after_commit.append(callback)

	@contextmanager
	def transaction(self):
		"""One database transaction: commit on success, roll back on any exception."""
		self.begin()
		try:
			yield self
		except BaseException:
			self.rollback()
			raise
		self.commit()

	@contextmanager
	def snapshot(self):
		"""A read-only transaction whose statements all see one consistent state of the database."""
		if self.in_transaction:
			raise RuntimeError("a transaction is already open on this connection")
		with self._classified():
			self._begin_snapshot()
		self.in_transaction = True
		try:
			yield self
		finally:
			self.in_transaction = False
			with self._classified():
				self._end_snapshot()

	def _begin_snapshot(self) -> None:
		self._execute(self.dialect.snapshot_begin, {}, False)

	def _end_snapshot(self) -> None:
		self._execute("COMMIT", {}, False)

	@contextmanager
	def joined(self):
		"""Work inside a transaction someone else owns and will commit or roll back (a Frappe
		document event such as ``on_cancel``): no begin, no commit here."""
		if self.in_transaction:
			yield self
			return
		self.in_transaction = True
		try:
			yield self
		finally:
			self.in_transaction = False

	def run_in_transaction(self, unit: Callable[[Database], T], attempts: int | None = None) -> T:
		"""Run ``unit(db)`` in one transaction, replaying the whole unit on deadlocks and lock
		timeouts up to ``attempts`` times (idempotency keys make a replay safe)."""
		retrying = Retrying(
			stop=stop_after_attempt(attempts or DEFAULT_ATTEMPTS),
			retry=retry_if_exception_type(RetryableDatabaseError),
			wait=wait_random_exponential(multiplier=0.01, max=0.5),
			reraise=True,
		)
		for attempt in retrying:
			with attempt, self.transaction():
				return unit(self)
		raise AssertionError("unreachable")

	def committed(self, statement: Callable[[Database], T]) -> T:
		"""Run ``statement(db)``, which issues exactly one statement, as a transaction of its own,
		committed when this returns (a log row that must outlive whatever follows).  Adapters whose
		connection commits each statement by itself run it as it is (one round trip, not three)."""
		return self.run_in_transaction(statement)

	# --- adapter primitives -----------------------------------------------------------------
	def _execute(self, query: str, params: dict, fetch: bool):
		raise NotImplementedError

	def _begin(self) -> None:
		raise NotImplementedError

	def _commit(self) -> None:
		raise NotImplementedError

	def _rollback(self) -> None:
		raise NotImplementedError

	def _classify_host(self, exc: BaseException):
		return None


def _ident(name: str) -> str:
	if not name.replace("_", "").isalnum():
		raise ValueError(f"bad savepoint name {name!r}")
	return name
