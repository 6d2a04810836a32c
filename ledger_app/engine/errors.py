"""One error type per kind of failure, each carrying the HTTP status Frappe gives that kind.

Frappe's mapping (frappe/exceptions.py): ValidationError 417, DoesNotExistError 404,
AuthenticationError 401, PermissionError 403, DuplicateEntryError / NameError 409.  The hosts turn a
``LedgerError`` into the matching response (standalone) or Frappe exception (inside a bench).
"""

from __future__ import annotations


class LedgerError(Exception):
	"""Base of every error the engine raises on purpose; ``frappe_exc`` names Frappe's class."""

	http_status = 417
	frappe_exc = "ValidationError"

	def __init__(self, message: str):
		super().__init__(message)
		self.message = message


class ValidationFailed(LedgerError):
	"""Input that is missing, malformed or of the wrong kind."""


class InvalidAmount(ValidationFailed):
	"""An amount that is not a positive decimal with at most 2 places, or out of bounds."""


class UnbalancedTransaction(ValidationFailed):
	"""Postings of a transaction that do not sum to zero."""


class InvariantViolation(LedgerError):
	"""A write that would break a ledger invariant (negative balance, frozen account, cache drift)."""


class NotFound(LedgerError):
	http_status = 404
	frappe_exc = "DoesNotExistError"


class Conflict(LedgerError):
	"""A state conflict: key reused for different content, a second reversal, a duplicate name."""

	http_status = 409
	frappe_exc = "DuplicateEntryError"


class StaleDecision(Conflict):
	"""Something decided before a write's transaction (which driver a vehicle's payment goes to, on
	what terms) no longer held under its locks; nothing was written, and deciding again is safe."""


class AuthenticationFailed(LedgerError):
	http_status = 401
	frappe_exc = "AuthenticationError"


class PermissionDenied(LedgerError):
	http_status = 403
	frappe_exc = "PermissionError"


class RetryableDatabaseError(Exception):
	"""A deadlock, lock-wait timeout, serialization failure or busy database: replay the unit."""


class DatabaseUnavailable(Exception):
	"""The database cannot be reached: connection refused, lost or timed out.  Nothing of the
	statement that failed can be assumed to have happened (a lost COMMIT may or may not have
	committed), so only work that is idempotent may be tried again."""


class UniqueViolation(Exception):
	"""The database refused a row because a UNIQUE key already holds its value."""

	def __init__(self, message: str, constraint: str | None = None):
		super().__init__(message)
		self.constraint = constraint
