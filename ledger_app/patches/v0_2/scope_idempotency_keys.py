"""Idempotency keys scoped by kind on an existing site: each Ledger Transaction gets its type's key
scope (``engine/txn_types.fill_key_scopes``), then the UNIQUE ``(key_scope, idempotency_key)`` of
``ledger_app/db/constraints.py`` is created.

Runs after the doctype sync (``post_model_sync``), which added the ``key_scope`` column and dropped
the unique key on ``idempotency_key`` alone (the JSON no longer asks for it).  A new site gets the
constraint from ``after_install`` instead (``install-app`` marks every patch as already run)."""


def execute():
	from ledger_app.engine import txn_types
	from ledger_app.host import get_db
	from ledger_app.patches.v0_1 import apply_constraints

	filled = get_db().run_in_transaction(txn_types.fill_key_scopes)
	if filled:
		print(f"ledger_app: {filled} Ledger Transactions given their key scope")
	apply_constraints.execute()
