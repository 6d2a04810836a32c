"""Idempotency keys scoped by kind on an existing site: each Ledger Transaction and Payout gets its
key scope (``engine/upgrade.upgrade_data``), then the UNIQUE ``(key_scope, idempotency_key)`` keys of
``ledger_app/db/constraints.py`` are created.

Runs after the doctype sync (``post_model_sync``), which added the ``key_scope`` columns and dropped
the unique keys on ``idempotency_key`` alone (the JSON no longer asks for them).  A new site gets the
constraint from ``after_install`` instead (``install-app`` marks every patch as already run)."""


def execute():
	from ledger_app.engine.upgrade import upgrade_data
	from ledger_app.host import get_db
	from ledger_app.patches.v0_1 import apply_constraints

	filled = upgrade_data(get_db())
	if filled:
		print(f"ledger_app: {filled} Ledger Transactions and Payouts given their key scope")
	apply_constraints.execute()
