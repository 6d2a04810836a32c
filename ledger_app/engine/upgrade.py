"""Upgrading data: rows stored by an older version brought to what the engine expects now.

Runs after the schema is current: standalone by ``ledger-app init`` and ``serve``
(``standalone/cli.prepare``), inside a bench by the patch ``ledger_app.patches.v0_2.scope_idempotency_keys``.
"""

from __future__ import annotations

from ledger_app.engine import payouts, txn_types


def upgrade_data(db) -> int:
	"""In one transaction: each Ledger Transaction's and Payout's key scope (``txn_types.fill_key_scopes``,
	``payouts.fill_key_scopes``); none to fill on a new database.  Returns how many rows it changed."""
	return db.run_in_transaction(lambda db: txn_types.fill_key_scopes(db) + payouts.fill_key_scopes(db))
