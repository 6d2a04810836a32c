"""Staff API of the ledger engine: accounts, journals, reversals, balances, reconciliation."""

from __future__ import annotations

from ledger_app import host
from ledger_app.api import parse
from ledger_app.engine import accounts, posting
from ledger_app.engine import reconcile as reconciliation
from ledger_app.engine.money import to_json

MANAGER = "Ledger Manager"
USER = "Ledger User"


@host.whitelist(methods=["POST"])
def create_account(account=None, root_type=None, account_type=None, party_type=None, party=None,
		currency=None, allow_negative_balance=None):
	host.require_role(MANAGER)
	row = accounts.open_account(
		host.get_db(),
		account,
		root_type,
		account_type=parse.optional_text(account_type, "account_type"),
		party_type=parse.optional_text(party_type, "party_type"),
		party=parse.optional_text(party, "party"),
		currency=parse.optional_text(currency, "currency") or "KES",
		allow_negative_balance=parse.boolean(allow_negative_balance, "allow_negative_balance"),
		user=host.current_user(),
	)
	return {
		"account": row["name"],
		"root_type": row["root_type"],
		"normal_side": row["normal_side"],
		"balance": to_json(row["balance"]),
		"created": row["created"],
	}


@host.whitelist(methods=["POST"])
def post_journal(idempotency_key=None, remarks=None, postings=None, posting_datetime=None):
	host.require_role(MANAGER)
	posted = posting.post_journal(
		host.get_db(),
		idempotency_key,
		posting.parse_legs(parse.json_list(postings, "postings")),
		remarks=parse.optional_text(remarks, "remarks", max_length=1000, multiline=True),
		posting_datetime=parse.optional_datetime(posting_datetime, "posting_datetime"),
		user=host.current_user(),
	)
	return {"name": posted.name, "duplicate": posted.duplicate}


@host.whitelist(methods=["POST"])
def reverse_transaction(transaction=None, idempotency_key=None):
	host.require_role(MANAGER)
	posted = posting.reverse_transaction(host.get_db(), transaction, idempotency_key, user=host.current_user())
	return {"name": posted.name, "duplicate": posted.duplicate}


@host.whitelist(methods=["GET", "POST"])
def get_balance(account=None, as_of=None):
	host.require_role(MANAGER, USER)
	name = accounts.validate_name(account)
	amount = posting.balance(host.get_db(), name, as_of if as_of not in (None, "") else None)
	return {"account": name, "balance": to_json(amount)}


@host.whitelist(methods=["POST"])
def reconcile(fix=False, account=None, party=None):
	host.require_role(MANAGER)
	result = reconciliation.reconcile(
		host.get_db(),
		fix=parse.boolean(fix, "fix"),
		account=parse.optional_text(account, "account"),
		party=parse.optional_text(party, "party"),
		user=host.current_user(),
	)
	return {
		"run": result["run"],
		"accounts_checked": result["accounts_checked"],
		"discrepancies": result["discrepancies"],
		"fixed": result["fixed"],
	}
