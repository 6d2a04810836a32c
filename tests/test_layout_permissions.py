"""Desk permissions pass Frappe v15's permission rules and leave money and engine records to the engine.

Every doctype's permission rows are valid as ``DocType.validate_permissions`` checks them; staff may
read and report what they need, and nobody creates, edits or deletes in desk what only the engine
writes (transactions, balances, logs, unmatched payments, client records).
"""

from __future__ import annotations

import pytest

from tests.layout import APP_ROLES, DOCTYPES, META_IDS, perm, value_fields


@pytest.mark.parametrize("name", META_IDS)
def test_permissions_pass_frappe_validate_permissions(name):
	meta = DOCTYPES[name]
	perms = meta["permissions"]
	if meta.get("istable"):
		assert perms == []  # DocType.set_defaults_for_single_and_table clears them
		return
	assert perms, "a doctype nobody may read"
	roles = [p["role"] for p in perms]
	assert len(roles) == len(set(roles))
	assert set(roles) <= APP_ROLES
	for p in perms:
		assert any(p.get(k) for k in ("select", "read", "write", "submit", "cancel", "create")), p
		if p.get("cancel"):
			assert p.get("submit"), p
		if p.get("submit") or p.get("cancel") or p.get("amend"):
			assert p.get("write"), p
		if p.get("import"):
			assert p.get("create") and meta.get("allow_import"), p
		if not meta.get("is_submittable"):
			assert not (p.get("submit") or p.get("amend")), p
		if meta.get("issingle"):
			assert not (p.get("report") or p.get("import") or p.get("export")), p


def test_desk_permissions_keep_money_with_the_engine():
	# nobody creates a transaction in desk; a Ledger Manager may read, report and cancel
	assert not any(p.get("create") for p in DOCTYPES["Ledger Transaction"]["permissions"])
	assert DOCTYPES["Ledger Transaction"].get("in_create")
	manager = perm("Ledger Transaction", "Ledger Manager")
	assert manager.get("read") and manager.get("report") and manager.get("cancel")
	assert not any(p.get("amend") or p.get("delete") for p in DOCTYPES["Ledger Transaction"]["permissions"])
	# a Ledger Manager opens and edits accounts but deletes none; the balance is never editable
	account = perm("Ledger Account", "Ledger Manager")
	assert account.get("create") and account.get("write") and not account.get("delete")
	balance = next(f for f in DOCTYPES["Ledger Account"]["fields"] if f["fieldname"] == "balance")
	assert balance.get("read_only") and balance.get("options") == "currency"
	# the engine writes logs and runs; desk only reads them
	for doctype in ("Callback Log", "Reconciliation Run"):
		for p in DOCTYPES[doctype]["permissions"]:
			assert not (p.get("create") or p.get("write") or p.get("delete")), (doctype, p)


def test_desk_permissions_for_drivers_vehicles_and_unmatched_payments():
	for doctype in ("Fleet Driver", "Fleet Vehicle"):
		manager, user = perm(doctype, "Ledger Manager"), perm(doctype, "Ledger User")
		assert (
			manager.get("create") and manager.get("write") and manager.get("read") and manager.get("report")
		)
		assert not manager.get("delete")
		assert user.get("read") and user.get("report")
		assert not any(user.get(k) for k in ("create", "write", "delete", "import")), (doctype, user)
	# a driver is never deleted (its accounts and transactions name it): status Exited ends it
	assert not any(p.get("delete") for p in DOCTYPES["Fleet Driver"]["permissions"])
	# the engine records unmatched payments and moves them on; desk only reads them
	unmatched = DOCTYPES["Unmatched Payment"]
	assert unmatched.get("in_create")
	for p in unmatched["permissions"]:
		assert not any(p.get(k) for k in ("create", "write", "delete", "import")), p
	manager = perm("Unmatched Payment", "Ledger Manager")
	assert manager.get("read") and manager.get("report")
	assert all(f.get("read_only") for f in value_fields(unmatched))


def test_desk_permissions_for_clients_and_their_records():
	for doctype in ("Client", "Client Exchange"):
		manager, user = perm(doctype, "Ledger Manager"), perm(doctype, "Ledger User")
		assert (
			manager.get("create") and manager.get("write") and manager.get("read") and manager.get("report")
		)
		assert user.get("read") and user.get("report")
		assert not any(user.get(k) for k in ("create", "write", "delete", "import")), (doctype, user)
		assert not any(p.get("delete") for p in DOCTYPES[doctype]["permissions"]), doctype
	# the engine writes balance records and loss snapshots; desk only reads them
	for doctype in ("Balance Record", "Loss Snapshot"):
		meta = DOCTYPES[doctype]
		assert meta.get("in_create")
		for p in meta["permissions"]:
			assert not any(p.get(k) for k in ("create", "write", "delete", "import")), (doctype, p)
		assert perm(doctype, "Ledger Manager").get("read") and perm(doctype, "Ledger User").get("read")
		assert all(f.get("read_only") for f in value_fields(meta)), doctype
	assert all(f.get("read_only") for f in value_fields(DOCTYPES["Loss Settlement"]))
