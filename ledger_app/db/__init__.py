"""The database layer: the port every service talks to, its dialects, and the schema.

- ``port``: ``Database``, the small port (named-parameter SQL, begin/commit/rollback, savepoints,
  after-commit callbacks, bounded retry of deadlocks) and its two adapters' shared behaviour.
- ``dialects``: everything that differs between MariaDB, PostgreSQL and SQLite, in one place.
- ``pool``: the standalone adapter, a pooled DB-API connection opened from a URL (it needs the
  ``standalone`` extra, so nothing a bench imports imports it: import ``ledger_app.db.pool`` itself).
- ``frappe_adapter``: the adapter over ``frappe.db`` used inside a bench.
- ``schema`` and ``constraints``: tables generated from the doctype JSON, and the constraints a
  doctype JSON cannot express, declared once.
"""
