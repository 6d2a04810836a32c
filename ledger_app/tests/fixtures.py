"""What the in-app tests share: the desk users of each kind, unique names, and the engine calls that put
money on the site.

Every engine service commits its own database transaction (``frappe.db.commit``), so what a test writes
through the engine outlives ``FrappeTestCase``'s rollback: names are unique per test, and no test assumes
empty tables.  Drivers a test creates are set Exited when it ends, so the daily target job of later runs
does not walk an ever longer list of test drivers.
"""

from __future__ import annotations

from decimal import Decimal

import frappe

LEDGER_USER = "ledger-user@ledger-app.test"
LEDGER_MANAGER = "ledger-manager@ledger-app.test"
#: a desk user with a role of its own, but neither ledger role
NO_LEDGER_ROLE = "no-ledger-role@ledger-app.test"
USERS = {LEDGER_USER: "Ledger User", LEDGER_MANAGER: "Ledger Manager", NO_LEDGER_ROLE: "Blogger"}


def ensure_users() -> None:
	"""The three users, created once per site and kept (like Frappe's own test records)."""
	for email, role in USERS.items():
		if not frappe.db.exists("User", email):
			frappe.get_doc(
				{
					"doctype": "User",
					"email": email,
					"first_name": email.split("@")[0],
					"send_welcome_email": 0,
					"roles": [{"role": role}],
				}
			).insert(ignore_permissions=True)
	frappe.db.commit()


def unique(prefix: str) -> str:
	"""A name no other test (of this run or an earlier one) uses."""
	return f"{prefix}-{frappe.generate_hash(length=10).upper()}"


def engine_db():
	from ledger_app import host

	return host.get_db()


def new_driver(test, **fields) -> str:
	"""A driver saved from the desk (as the current user) and committed; Exited when ``test`` ends."""
	name = unique("DRV")
	doc = frappe.get_doc(
		{
			"doctype": "Fleet Driver",
			"driver_id": name,
			"driver_name": "Test Driver",
			"phone": "0712345678",
			**fields,
		}
	).insert()
	frappe.db.commit()
	test.addCleanup(retire_driver, doc.name)
	return doc.name


def retire_driver(driver: str) -> None:
	from ledger_app.engine import drivers

	if frappe.db.exists("Fleet Driver", driver):  # a test may have rolled its driver back
		drivers.upsert_driver(engine_db(), driver, status="Exited")


def new_vehicle(driver: str) -> str:
	"""A vehicle of ``driver`` whose account number is its name; committed."""
	name = unique("VEH")
	frappe.get_doc(
		{"doctype": "Fleet Vehicle", "vehicle_id": name, "account_number": name, "driver": driver}
	).insert()
	frappe.db.commit()
	return name


def pay(bill_ref_number: str, amount: str):
	"""A C2B payment of ``amount`` to an account number (a vehicle, a driver id or nothing known), recorded
	through the confirmation path with a TransID of its own."""
	from ledger_app.engine import drivers

	trans_id = frappe.generate_hash(length=10).upper()
	return drivers.record_missed_payment(engine_db(), trans_id, amount, bill_ref_number)


def new_account(root_type: str = "Asset", **options) -> str:
	from ledger_app.engine import accounts

	name = unique(f"Test {root_type}")
	accounts.open_account(engine_db(), name, root_type, **options)
	return name


def journal(debit: str, credit: str, amount: str) -> str:
	"""A staff journal moving ``amount`` from ``credit`` to ``debit``; its Ledger Transaction's name."""
	from ledger_app.engine import posting
	from ledger_app.engine.txn_types import Leg

	legs = [Leg(debit, Decimal(amount)), Leg(credit, -Decimal(amount))]
	return posting.post_journal(engine_db(), unique("journal"), legs).name


def balance(account: str) -> Decimal:
	from ledger_app.engine import posting

	return posting.balance(engine_db(), account)


def new_client_exchange(my_share_pct=30, company_share_pct=20) -> str:
	"""A client and one exchange of theirs, saved from the desk and committed."""
	client = frappe.get_doc(
		{"doctype": "Client", "client_id": unique("CLI"), "client_name": "Test Client", "phone": "0722000111"}
	).insert()
	name = unique("CX")
	frappe.get_doc(
		{
			"doctype": "Client Exchange",
			"client_exchange_id": name,
			"client": client.name,
			"exchange": "Test Exchange",
			"my_share_pct": my_share_pct,
			"company_share_pct": company_share_pct,
		}
	).insert()
	frappe.db.commit()
	return name


def drifted_account(test, cached: str) -> str:
	"""An account whose one journal put 40.25 in it, with its cached balance then set to ``cached``
	behind the engine's back; the drift is fixed again when ``test`` ends."""
	from ledger_app.engine.reconcile import reconcile

	account = new_account("Asset")
	journal(account, new_account("Income"), "40.25")
	frappe.db.set_value("Ledger Account", account, "balance", cached, update_modified=False)
	frappe.db.commit()
	test.addCleanup(reconcile, engine_db(), fix=True, account=account)
	return account


def assert_written_by_the_engine_only(test, doctype: str, existing: str, new_fields: dict) -> None:
	"""The desk can neither insert, change nor delete a ``doctype`` the engine writes: a Ledger Manager has
	no permission to, and even Administrator (who has every permission) is refused by the controller, with
	its reason.  A document flagged ``from_engine`` passes the same events.  Nothing is left written."""
	from frappe import client

	with test.set_user(LEDGER_MANAGER), test.assertRaises(frappe.PermissionError):
		client.insert({"doctype": doctype, **new_fields})
	attempts = (
		(lambda: frappe.get_doc({"doctype": doctype, **new_fields}).insert(), "by the ledger engine"),
		(lambda: frappe.get_doc(doctype, existing).save(), "by the ledger engine"),
		(lambda: client.delete(doctype, existing), "never deleted"),
	)
	for attempt, reason in attempts:
		with test.assertRaises(frappe.PermissionError) as raised:
			attempt()
		test.assertIn(reason, str(raised.exception))
		frappe.db.rollback()
	test.assertTrue(frappe.db.exists(doctype, existing))

	doc = frappe.get_doc({"doctype": doctype, **new_fields})
	doc.flags.from_engine = True
	doc.run_method("before_insert")
	doc.run_method("validate")
