"""The port over ``frappe.db`` (inside a bench).

Frappe owns the connection and opens a transaction per request; a unit of work here starts by
committing what the request wrote so far (the callback log row must survive whatever follows, and a
fresh transaction takes a fresh snapshot), and ends with ``frappe.db.commit()`` or
``frappe.db.rollback()``.  Money is selected as text (``dialect.money``) because Frappe's drivers
return decimals as floats.  Frappe raises its own QueryDeadlockError / QueryTimeoutError; both are
retried like the raw driver errors.
"""

from __future__ import annotations

from ledger_app.db.dialects import get_dialect
from ledger_app.db.port import Database
from ledger_app.engine.errors import RetryableDatabaseError


class FrappeDatabase(Database):
	def __init__(self):
		import frappe
		from frappe.database.utils import EmptyQueryValues

		self._frappe = frappe
		self._no_values = EmptyQueryValues
		super().__init__(get_dialect("postgres" if frappe.db.db_type == "postgres" else "mariadb"))
		self.scope = f"frappe:{getattr(getattr(frappe, 'local', None), 'site', None) or ''}"

	def _execute(self, query, params, fetch):
		db = self._frappe.db
		# Frappe's own "no values" marker: anything else (None included) is wrapped into a tuple and
		# formatted into the query, which fails on a statement without placeholders
		result = db.sql(self.dialect.translate(query), params or self._no_values, as_dict=True)
		if fetch:
			return [dict(row) for row in result] if result else []
		return db._cursor.rowcount

	def _begin(self):
		self._frappe.db.commit()

	def _commit(self):
		self._frappe.db.commit()

	def _rollback(self):
		self._frappe.db.rollback()

	def _begin_snapshot(self):
		# Frappe keeps a transaction open; a fresh one (MariaDB and Frappe's PostgreSQL both run
		# REPEATABLE READ) gives every statement of the snapshot the same view
		self._frappe.db.commit()

	def _end_snapshot(self):
		self._frappe.db.rollback()

	def _classify_host(self, exc):
		frappe = self._frappe
		if isinstance(exc, (frappe.QueryDeadlockError, frappe.QueryTimeoutError)):
			return RetryableDatabaseError(str(exc))
		return None
