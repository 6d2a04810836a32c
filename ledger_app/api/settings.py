"""Staff API for Ledger Settings."""

from __future__ import annotations

from ledger_app import host
from ledger_app.api.ledger import MANAGER
from ledger_app.engine import settings
from ledger_app.engine.money import to_json


@host.whitelist(methods=["POST"])
def update_settings(**values):
	host.require_role(MANAGER)
	values.pop("cmd", None)
	db = host.get_db()
	updated = db.run_in_transaction(lambda db: settings.update_settings(db, values))
	return {k: to_json(v) if hasattr(v, "quantize") else v for k, v in updated.items()}
