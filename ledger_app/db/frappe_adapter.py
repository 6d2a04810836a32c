"""The port over ``frappe.db`` (inside a bench).

Frappe owns the connection and opens a transaction per request; a unit of work here starts by
committing what the request wrote so far (the callback log row must survive whatever follows, and a
fresh transaction takes a fresh snapshot), and ends with a commit or a rollback.  On MariaDB each of
these is Frappe's ``commit()`` / ``rollback()`` (its before/after callbacks around the statement)
without the ``START TRANSACTION`` Frappe sends after it: Frappe's PyMySQL connections run with
autocommit off, so the next statement opens the next transaction itself (at the same isolation
level), and a round trip is saved (four per C2B confirmation).  Frappe's own calls are kept in
read-only mode (maintenance: Frappe's next transaction is READ ONLY) and on PostgreSQL (where the
driver's implicit BEGIN and Frappe's START TRANSACTION need not run at the same isolation level).
Money is selected as text (``dialect.money``) because Frappe's drivers return decimals as floats.
Frappe raises its own QueryDeadlockError / QueryTimeoutError; both are retried like the raw driver
errors.
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
		db = self._frappe.local.db  # the Database itself: each use of the ``frappe.db`` proxy looks it up again
		# Frappe's own "no values" marker: anything else (None included) is wrapped into a tuple and
		# formatted into the query, which fails on a statement without placeholders
		result = db.sql(self.dialect.translate(query), params or self._no_values, as_dict=True)
		if fetch:
			return [dict(row) for row in result] if result else []
		return db._cursor.rowcount

	def _end(self, commit: bool) -> None:
		"""End the open transaction as ``frappe.db.commit()`` / ``rollback()`` do, callbacks included,
		but leave the next one to the next statement (see the module docstring)."""
		local = self._frappe.local
		db = local.db
		if local.flags.read_only or self.dialect.name != "mariadb":
			db.commit() if commit else db.rollback()
			return
		if commit:
			db.before_rollback.reset()
			db.after_rollback.reset()
			db.before_commit.run()
			db.sql("commit")
			db.after_commit.run()
		else:
			db.before_commit.reset()
			db.after_commit.reset()
			db.before_rollback.run()
			db.sql("rollback")
			db.after_rollback.run()

	def _begin(self):
		self._end(commit=True)

	def _commit(self):
		self._end(commit=True)

	def _rollback(self):
		self._end(commit=False)

	def _begin_snapshot(self):
		# Frappe keeps a transaction open; a fresh one (MariaDB and Frappe's PostgreSQL both run
		# REPEATABLE READ) gives every statement of the snapshot the same view
		self._end(commit=True)

	def _end_snapshot(self):
		self._end(commit=False)

	def _classify_host(self, exc):
		frappe = self._frappe
		if isinstance(exc, (frappe.QueryDeadlockError, frappe.QueryTimeoutError)):
			return RetryableDatabaseError(str(exc))
		return None
