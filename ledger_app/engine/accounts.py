"""Ledger accounts: creating them, finding them, and which side is their normal side.

An account's cached ``balance`` is kept on its normal side (a credit-normal liability holding
credits shows a positive balance); postings are signed the other way round (+ debit, − credit).
Only ``posting`` changes a balance.
"""

from __future__ import annotations

from ledger_app.db.rows import insert, standard_columns, table
from ledger_app.engine import clock, text
from ledger_app.engine.errors import Conflict, NotFound, ValidationFailed
from ledger_app.engine.money import from_db

ROOT_TYPES = ("Asset", "Liability", "Equity", "Income", "Expense")
_DEBIT_NORMAL = ("Asset", "Expense")


def normal_side_for(root_type: str) -> str:
	"""ERPNext's rule: Asset and Expense accounts are debit-normal, the others credit-normal."""
	if root_type not in ROOT_TYPES:
		raise ValidationFailed(f"root_type must be one of {', '.join(ROOT_TYPES)}, got {root_type!r}")
	return "Debit" if root_type in _DEBIT_NORMAL else "Credit"


def side_sign(normal_side: str) -> int:
	"""+1 when a debit (positive posting) raises the balance, −1 when a credit does."""
	return 1 if normal_side == "Debit" else -1


def validate_name(value, field: str = "account") -> str:
	"""An account name as stored and compared: byte for byte, so no look-alikes (``text.identifier``)."""
	return text.identifier(value, field)


def create_account(
	db,
	account: str,
	root_type: str,
	*,
	account_type: str | None = None,
	party_type: str | None = None,
	party: str | None = None,
	currency: str = "KES",
	allow_negative_balance: bool = False,
	user: str = "Administrator",
) -> dict:
	"""Create an account, or return the existing one when it has the same root type and party.

	Runs inside the caller's transaction.  A name taken by a different account is a Conflict.  The
	row is inserted or skipped on its unique name (never a failed statement, so the transaction stays usable
	on PostgreSQL): a concurrent create of the same name waits for the first one to commit, then reads
	its account past any REPEATABLE READ snapshot and answers as for an existing account.
	"""
	name = validate_name(account)
	normal_side = normal_side_for(root_type)
	if (party_type is None) != (party is None):
		raise ValidationFailed("party_type and party go together")
	wanted = {"root_type": root_type, "party_type": party_type, "party": party}
	existing = find_account(db, name)
	if existing is None:
		row = {
			"name": name,
			**standard_columns(clock.now(), user),
			"account_name": name,
			"root_type": root_type,
			"normal_side": normal_side,
			"account_type": account_type,
			"party_type": party_type,
			"party": party,
			"currency": currency,
			"balance": "0",
			"frozen": 0,
			"allow_negative_balance": 1 if allow_negative_balance else 0,
		}
		if insert(db, "Ledger Account", row, skip_if_exists=()):  # its name and account_name are both unique
			return {**row, "balance": from_db(0), "created": True}
		existing = find_account(db, name, latest=True)  # created meanwhile: the winner's account
	if existing is None:
		raise Conflict(f"account {name!r} is being created concurrently; retry")
	if any(existing[k] != v for k, v in wanted.items()):
		raise Conflict(f"account {name!r} already exists with root type {existing['root_type']}")
	return {**existing, "created": False}


def find_account(db, name: str, *, latest: bool = False) -> dict | None:
	"""The account called ``name``, or None; ``latest`` reads past a REPEATABLE READ snapshot (MariaDB)."""
	rows = db.sql(
		f"SELECT `name`, `root_type`, `normal_side`, `account_type`, `party_type`, `party`, `currency`,"
		f" {db.dialect.money('`balance`')} AS `balance`, `frozen`, `allow_negative_balance`"
		f" FROM {table('Ledger Account')} WHERE `name` = %(name)s{db.dialect.locking_read if latest else ''}",
		{"name": name},
	)
	if not rows:
		return None
	row = rows[0]
	row["balance"] = from_db(row["balance"])
	return row


def get_account(db, name) -> dict:
	name = validate_name(name)
	row = find_account(db, name)
	if row is None:
		raise NotFound(f"Ledger Account {name!r} not found")
	return row


def open_account(db, account, root_type, **options) -> dict:
	"""Service: ``create_account`` in its own transaction (replayed on deadlock)."""
	return db.run_in_transaction(lambda db: create_account(db, account, root_type, **options))
