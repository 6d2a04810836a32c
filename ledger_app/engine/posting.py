"""Posting: the one write path for money, reversals, and balance reads.

``post`` turns legs into a submitted Ledger Transaction with its Ledger Postings and moves the
cached balances, inside the caller's database transaction:

1. validate the legs (2 decimals, non-zero, distinct open accounts, sum zero);
2. idempotency: the header is inserted "or skipped" on its UNIQUE ``(key_scope, idempotency_key)``
   (no look-up first; the scope is the transaction type's, ``txn_types``: a staff journal's key can
   never take a TransID); a skipped insert means the key is taken in that scope, and that transaction
   is returned unchanged (a key reused for different content is a Conflict).  A concurrent writer of
   the same key is waited for by the database, so races settle there;
3. lock the touched ``tabLedger Account`` rows ``FOR UPDATE`` in name order (one global order, so
   posts do not deadlock on each other over the accounts; on MariaDB the first posts to accounts
   with no postings yet can still meet on the posting index's gap locks, and are replayed), reading balance and ``posting_count`` from the locked rows,
   and, when the flow decided something before its transaction (a ``Precondition``: which driver a
   vehicle pays, on what terms), whether that still holds, in the same statement;
4. read each account's last posting by its exact key ``(account, account_seq = posting_count)``,
   joined into the locking select (one round trip), and check the invariants in O(1) of the
   account's history: cached balance == last running balance, not frozen, not below zero unless
   allowed.  On PostgreSQL a lock that had to wait for another writer's commit can come back with
   the joined posting from before the wait (missing, or not at the locked ``posting_count``); such
   an account is checked against its last posting as returned by the insert of the new postings
   (``RETURNING``: that statement's snapshot is taken after the locks), or, when it gets no posting,
   as read again by exact key.  Either way before the caches move;
5. insert the postings (running balance and ``account_seq`` on each) in one statement and move the
   caches with one atomic increment statement (``balance = balance + delta``) that reads the
   accounts by primary key only, so it locks none but the ones already locked.

UNIQUE ``(account, account_seq)`` makes a lost update impossible even if a lock were skipped.
Deadlocks and lock timeouts raise ``RetryableDatabaseError``; the service that owns the transaction
replays the whole unit (``Database.run_in_transaction``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

from ledger_app.db.rows import doctype_names, insert, insert_many, new_name, standard_columns, table
from ledger_app.engine import clock, text, txn_types
from ledger_app.engine.accounts import get_account, side_sign, validate_name
from ledger_app.engine.errors import (
	Conflict,
	InvariantViolation,
	NotFound,
	RetryableDatabaseError,
	StaleDecision,
	UnbalancedTransaction,
	UniqueViolation,
	ValidationFailed,
)
from ledger_app.engine.money import ZERO, from_db, parse_amount
from ledger_app.engine.txn_types import Leg

MAX_LEGS = 50


@dataclass
class Posted:
	"""A ledger transaction as posted (or as found, when ``duplicate``)."""

	name: str
	duplicate: bool
	transaction_type: str
	idempotency_key: str
	posting_datetime: datetime
	legs: list[Leg]
	#: balance after this transaction on each account's normal side (only for a fresh post)
	balances: dict[str, Decimal] = field(default_factory=dict)
	#: a repeat of an identity key (``key_is_identity``) whose content differs from the original's
	content_differs: bool = False


@dataclass(frozen=True)
class Precondition:
	"""What a flow decided before its transaction and needs to still hold under the locks.

	``sql`` is a boolean SQL expression reading only other tables than the locked ones (parameters
	in ``params``, named apart from the lock's ``a0``, ``a1``..), evaluated inside the locking
	statement: no extra round trip, and it takes no locks itself.  False raises
	``StaleDecision(message)``; the caller's transaction then rolls back and may decide again."""

	sql: str
	params: dict
	message: str


def validate_key(value) -> str:
	"""An idempotency key as stored and compared: byte for byte, so no look-alikes (``text.identifier``)."""
	return text.identifier(value, "idempotency_key")


def parse_legs(postings) -> list[Leg]:
	"""Legs from request data: a list of ``{"account", "amount"}`` with signed decimal amounts."""
	if not isinstance(postings, list) or not postings:
		raise ValidationFailed("postings must be a non-empty list of {account, amount}")
	legs = []
	for i, item in enumerate(postings):
		if not isinstance(item, dict):
			raise ValidationFailed(f"postings[{i}] must be an object with account and amount")
		account = validate_name(item.get("account"), f"postings[{i}].account")
		amount = parse_amount(item.get("amount"), f"postings[{i}].amount", signed=True)
		legs.append(Leg(account, amount))
	return legs


def _check_party(party_type: str | None, party: str | None) -> None:
	"""A transaction is tagged with a party (a doctype of the app, spelled exactly, and a name) or none."""
	if (party_type is None) != (party is None):
		raise ValueError(f"a party needs both its type and its name (got {party_type!r}, {party!r})")
	if party_type is not None and party_type not in doctype_names():
		raise ValueError(f"no party type {party_type!r}")


def validate_legs(legs: list[Leg]) -> list[Leg]:
	if len(legs) < 2:
		raise UnbalancedTransaction("a transaction needs at least two postings")
	if len(legs) > MAX_LEGS:
		raise ValidationFailed(f"a transaction has at most {MAX_LEGS} postings")
	seen = set()
	for leg in legs:
		parse_amount(leg.amount, f"amount on {leg.account}", signed=True)
		if leg.account in seen:
			raise ValidationFailed(f"account {leg.account!r} appears twice; combine its postings")
		seen.add(leg.account)
	total = sum((leg.amount for leg in legs), ZERO)
	if total != 0:
		raise UnbalancedTransaction(f"postings must sum to zero; they sum to {total}")
	return legs


def payload_hash(transaction_type, content, party_type, party, reversal_of) -> str:
	"""What a repeat of an idempotency key is compared with: the legs, or a flow's request."""
	if content and isinstance(content, list) and isinstance(content[0], Leg):
		content = sorted([leg.account, str(leg.amount)] for leg in content)
	body = {"type": transaction_type, "content": content, "party": [party_type, party], "reversal_of": reversal_of}
	return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def post(
	db,
	transaction_type: str,
	idempotency_key: str,
	legs: list[Leg] | None = None,
	*,
	build: Callable[[dict[str, Decimal]], list[Leg]] | None = None,
	lock: list[str] | None = None,
	fingerprint=None,
	remarks: str | None = None,
	posting_datetime: datetime | None = None,
	party_type: str | None = None,
	party: str | None = None,
	reversal_of: str | None = None,
	user: str = "Administrator",
	key_is_identity: bool = False,
	precondition: Precondition | None = None,
) -> Posted:
	"""Post one transaction inside the caller's open transaction (see the module docstring).

	Either ``legs`` are given, or ``build(balances)`` makes them from the balances of the ``lock``
	accounts as read under their row locks (a flow whose amounts depend on a balance, like the C2B
	split); then ``fingerprint`` (the flow's request) is what a repeated key is compared with.
	``key_is_identity``: the key is an outside system's own id for the event (M-Pesa's TransID), so
	any repeat of it is the same event and returns the original, never a Conflict (the type and party
	a repeat would get can differ, e.g. when a vehicle changed drivers in between); only the content
	(``fingerprint``) is compared, and a difference is reported as ``content_differs`` for the flow
	to log and alert.
	``precondition``: checked in the locking statement (a repeat returns before it, unchecked).

	Locks: the touched Ledger Account rows (FOR UPDATE, name order); on MariaDB also each account's
	last posting row, read in the same locking statement (PostgreSQL locks only the accounts: ``FOR
	UPDATE OF``; SQLite's BEGIN IMMEDIATE holds the whole database).
	"""
	if not db.in_transaction:
		raise RuntimeError("post() must run inside a database transaction")
	if (legs is None) == (build is None) or (build is not None and not lock):
		raise ValueError("post() takes either legs, or build with the accounts to lock")
	scope = txn_types.scope_of(transaction_type)
	key = validate_key(idempotency_key)
	_check_party(party_type, party)
	if legs is not None:
		legs = validate_legs(list(legs))
	content = fingerprint if fingerprint is not None else legs
	# an identity key's repeat is compared on its content alone (its type and party may differ)
	digest = payload_hash(None, content, None, None, None) if key_is_identity else payload_hash(
		transaction_type, content, party_type, party, reversal_of)

	now = clock.now()
	when = posting_datetime or now
	name = new_name()
	try:
		inserted = insert(
			db,
			"Ledger Transaction",
			{
				"name": name,
				**standard_columns(now, user, docstatus=1),
				"transaction_type": transaction_type,
				"posting_datetime": when,
				"key_scope": scope,
				"idempotency_key": key,
				"remarks": remarks,
				"reversal_of": reversal_of,
				"party_type": party_type,
				"party": party,
				"payload_hash": digest,
			},
			skip_if_exists=("key_scope", "idempotency_key"),
		)
	except UniqueViolation as exc:
		if reversal_of and "reversal_of" in str(exc.constraint or exc):
			raise Conflict(f"transaction {reversal_of} has already been reversed") from None
		raise
	if not inserted:  # the key is taken: a repeat (waited for, if it was being written concurrently)
		existing = find_by_key(db, scope, key, latest=True)
		if existing is None:  # MariaDB skips on any unique key: here it was reversal_of
			raise Conflict(f"transaction {reversal_of} has already been reversed")
		if key_is_identity:
			# (no hash: recorded before keys were scoped, with nothing to compare: txn_types.fill_key_scopes)
			differs = existing["payload_hash"] is not None and existing["payload_hash"] != digest
			return _duplicate(db, existing, None, content_differs=differs)
		return _duplicate(db, existing, digest)

	names = sorted({leg.account for leg in legs} if legs is not None else set(lock))
	accounts = _lock_accounts(db, names, precondition)
	stale = _check_joined_last_postings(db, accounts)
	if build is not None:
		legs = validate_legs(build({account_name: accounts[account_name]["balance"] for account_name in names}))
		strays = sorted({leg.account for leg in legs} - set(names))
		if strays:
			raise ValueError(f"legs built under lock touch unlocked accounts: {strays}")

	rows, deltas, balances = [], {}, {}
	by_account = {leg.account: leg for leg in legs}
	stale_posted = [account_name for account_name in stale if account_name in by_account]
	stale_unposted = [account_name for account_name in stale if account_name not in by_account]
	if stale_unposted:
		_check_running(accounts, _read_last_postings(db, accounts, stale_unposted))
	for idx, account_name in enumerate(sorted(by_account), start=1):
		account = accounts[account_name]
		leg = by_account[account_name]
		last = account["balance"]  # == the last running balance: checked above, or with the insert below
		if account["frozen"]:
			raise InvariantViolation(f"account {account_name} is frozen")
		delta = leg.amount * side_sign(account["normal_side"])
		after = last + delta
		if after < 0 and not account["allow_negative_balance"]:
			raise InvariantViolation(
				f"balance of {account_name} would become {after} (now {last}, change {delta}); it may not go below zero"
			)
		deltas[account_name] = delta
		balances[account_name] = after
		rows.append({"idx": idx, "account": account_name, "amount": leg.amount, "balance_after": after,
			"account_seq": account["posting_count"] + 1})
	common = {**standard_columns(now, user, docstatus=1), "parent": name, "parentfield": "postings",
		"parenttype": "Ledger Transaction", "posting_datetime": when}
	common.pop("idx")  # per row
	try:
		inserted = insert_many(db, "Ledger Posting", rows, common=common,
			returning=_previous_running_sql(db.dialect) if stale_posted else None)
	except UniqueViolation as exc:  # two writers at one account position: never both
		raise RetryableDatabaseError(f"concurrent posting on the same account position: {exc}") from exc
	if stale_posted:
		returned = {row["account"]: row["previous_running"] for row in inserted}
		_check_running(accounts, {account_name: returned[account_name] for account_name in stale_posted})
	_move_balances(db, deltas)
	return Posted(name, False, transaction_type, key, when, legs, balances)


def _lock_accounts(db, names: list[str], precondition: Precondition | None = None) -> dict[str, dict]:
	"""Lock the accounts (name order), fetching each one's last posting in the same statement, and
	check the precondition there too."""
	params = {f"a{i}": n for i, n in enumerate(names)}
	if precondition is not None:
		params.update(precondition.params)
	rows = db.sql(_lock_sql(db.dialect, len(names), precondition.sql if precondition else None), params)
	found = {row["name"]: row for row in rows}
	missing = [n for n in names if n not in found]
	if missing:
		raise NotFound(f"Ledger Account {', '.join(repr(m) for m in missing)} not found")
	if precondition is not None and not rows[0]["precondition_holds"]:
		raise StaleDecision(precondition.message)
	for row in rows:
		row["balance"] = from_db(row["balance"])
		row["posting_count"] = int(row["posting_count"] or 0)
	return found


@lru_cache(maxsize=64)
def _lock_sql(d, count: int, precondition_sql: str | None = None) -> str:
	placeholders = ", ".join(f"%(a{i})s" for i in range(count))
	check = f", ({precondition_sql}) AS `precondition_holds`" if precondition_sql else ""
	return (
		f"SELECT a.`name`, {d.money('a.`balance`')} AS `balance`, a.`posting_count`, a.`normal_side`, a.`frozen`,"
		f" a.`allow_negative_balance`, {d.money('p.`balance_after`')} AS `last_running`, p.`account_seq` AS `last_seq`{check}"
		f" FROM {table('Ledger Account')} a LEFT JOIN {table('Ledger Posting')} p"
		f" ON p.`account` = a.`name` AND p.`account_seq` = a.`posting_count`"
		f" WHERE a.`name` IN ({placeholders}) ORDER BY a.`name`{d.for_update_of('a')}"
	)


def _check_joined_last_postings(db, accounts: dict[str, dict]) -> list[str]:
	"""Check each locked account against its last posting as joined into the locking select; the
	names whose joined posting is from before a lock wait (PostgreSQL only), to be checked later."""
	fresh, stale = {}, []
	for name, row in accounts.items():
		if row["posting_count"] == 0 or (row["last_seq"] is not None and int(row["last_seq"]) == row["posting_count"]):
			fresh[name] = row["last_running"]
		elif db.dialect.joined_rows_fresh_under_lock:
			fresh[name] = None  # not there: the ledger lost it
		else:
			stale.append(name)
	_check_running(accounts, fresh)
	return stale


def _check_running(accounts: dict[str, dict], last_running: dict) -> None:
	"""Each named account's cached balance equals the running balance on its last posting (given as
	read, text or None when there is none): the ledger's invariant, O(1) in the account's history."""
	for name, raw in last_running.items():
		row = accounts[name]
		if row["posting_count"] == 0:
			last = ZERO
		elif raw is None:
			raise InvariantViolation(f"last posting of {name} is missing from the ledger; run reconcile")
		else:
			last = from_db(raw)
		if row["balance"] != last:
			raise InvariantViolation(
				f"cached balance of {name} is {row['balance']} but its ledger running balance is {last};"
				" run reconcile before posting to it"
			)


def _read_last_postings(db, accounts: dict[str, dict], names: list[str]) -> dict:
	"""The running balance on each named account's last posting, read by exact key in a statement of
	its own (a fresh snapshot, after the lock)."""
	params, terms = {}, []
	for i, name in enumerate(names):
		params[f"a{i}"], params[f"s{i}"] = name, accounts[name]["posting_count"]
		terms.append(f"(`account` = %(a{i})s AND `account_seq` = %(s{i})s)")
	rows = db.sql(
		f"SELECT `account`, {db.dialect.money('`balance_after`')} AS `balance_after`"
		f" FROM {table('Ledger Posting')} WHERE {' OR '.join(terms)}",
		params,
	)
	found = {row["account"]: row["balance_after"] for row in rows}
	return {name: found.get(name) for name in names}


@lru_cache(maxsize=8)
def _previous_running_sql(d) -> str:
	"""RETURNING list of the postings insert: each inserted posting's account and the running balance
	on the posting before it (the statement's snapshot is taken after the locks: it is current)."""
	posting = table("Ledger Posting")
	return (f"`account`, (SELECT {d.money('p.`balance_after`')} FROM {posting} p WHERE p.`account` = {posting}.`account`"
		f" AND p.`account_seq` = {posting}.`account_seq` - 1) AS `previous_running`")


def _move_balances(db, deltas: dict[str, Decimal]) -> None:
	"""One atomic increment statement for all touched accounts (rows are locked by this txn), which
	reads them by primary key only, so it locks no other account (``Dialect.primary_key_only``).

	``modified`` is left alone: balance and posting count are derived columns (as Frappe's own
	``update_modified=False`` writes), the Ledger Account controller keeps a desk save from touching
	them, and on PostgreSQL an update that sets no indexed column can be HOT (in place, no new index
	entries), which the hot paybill row is updated with on every payment."""
	params = {}
	for i, (name, delta) in enumerate(deltas.items()):
		params[f"a{i}"], params[f"d{i}"] = name, delta
	changed = db.execute(_move_sql(db.dialect, len(deltas)), params)
	if changed != len(deltas):
		raise InvariantViolation(f"expected to move {len(deltas)} balances, moved {changed}")


@lru_cache(maxsize=64)
def _move_sql(d, count: int) -> str:
	cases = " ".join(f"WHEN %(a{i})s THEN %(d{i})s" for i in range(count))
	names = ", ".join(f"%(a{i})s" for i in range(count))
	return (
		f"UPDATE {table('Ledger Account')}{d.primary_key_only}"
		f" SET `balance` = {d.money_add('`balance`', f'CASE `name` {cases} END')},"
		f" `posting_count` = `posting_count` + 1 WHERE `name` IN ({names})"
	)


def find_by_key(db, scope: str, key: str, *, latest: bool = False) -> dict | None:
	"""The transaction holding ``key`` in the key scope ``scope`` (``txn_types``: a type's
	``scope``); ``latest`` reads past a REPEATABLE READ snapshot (MariaDB)."""
	rows = db.sql(
		f"SELECT `name`, `transaction_type`, `idempotency_key`, `posting_datetime`, `payload_hash`,"
		f" `reversal_of` FROM {table('Ledger Transaction')} WHERE `key_scope` = %(scope)s AND `idempotency_key` = %(key)s"
		f"{db.dialect.locking_read if latest else ''}",
		{"scope": scope, "key": key},
	)
	return rows[0] if rows else None


def _duplicate(db, existing: dict, digest: str | None, *, content_differs: bool = False) -> Posted:
	if digest is not None and existing["payload_hash"] != digest:
		raise Conflict(
			f"idempotency key {existing['idempotency_key']!r} was already used for transaction"
			f" {existing['name']} with different content"
		)
	return Posted(
		existing["name"],
		True,
		existing["transaction_type"],
		existing["idempotency_key"],
		_as_datetime(existing["posting_datetime"]),
		get_legs(db, existing["name"]),
		content_differs=content_differs,
	)


def get_legs(db, transaction: str) -> list[Leg]:
	rows = db.sql(
		f"SELECT `account`, {db.dialect.money('`amount`')} AS `amount` FROM {table('Ledger Posting')}"
		f" WHERE `parent` = %(parent)s ORDER BY `idx`",
		{"parent": transaction},
	)
	return [Leg(row["account"], from_db(row["amount"])) for row in rows]


def get_transaction(db, name) -> dict:
	if not isinstance(name, str) or not name.strip():
		raise ValidationFailed("transaction is required")
	rows = db.sql(
		f"SELECT `name`, `transaction_type`, `idempotency_key`, `posting_datetime`, `remarks`,"
		f" `reversal_of`, `party_type`, `party`, `docstatus` FROM {table('Ledger Transaction')}"
		f" WHERE `name` = %(name)s",
		{"name": name.strip()},
	)
	if not rows:
		raise NotFound(f"Ledger Transaction {name!r} not found")
	row = rows[0]
	row["postings"] = get_legs(db, row["name"])
	return row


def reverse(db, transaction: str, idempotency_key: str, *, remarks: str | None = None, user: str = "Administrator") -> Posted:
	"""Post the reversal of ``transaction`` (each posting negated), once; inside the caller's txn.

	The original is marked cancelled (docstatus 2).  A UNIQUE key on ``reversal_of`` makes a second
	reversal impossible, also under concurrency.  Locks: as ``post``, plus the original's row.
	"""
	original = get_transaction(db, transaction)
	kind = txn_types.get(original["transaction_type"])
	key = validate_key(idempotency_key)
	if not kind.reversible:
		raise Conflict(f"a {kind.name} transaction cannot be reversed")
	prior = find_by_key(db, txn_types.REVERSAL.scope, key)
	if prior is None:
		reversed_by = db.sql(
			f"SELECT `name` FROM {table('Ledger Transaction')} WHERE `reversal_of` = %(name)s",
			{"name": original["name"]},
		)
		if reversed_by:
			raise Conflict(f"transaction {original['name']} was already reversed by {reversed_by[0]['name']}")
	legs = txn_types.REVERSAL.legs({"original_legs": original["postings"]})
	posted = post(
		db,
		txn_types.REVERSAL.name,
		key,
		legs,
		remarks=remarks or f"Reversal of {original['name']}",
		party_type=original["party_type"],
		party=original["party"],
		reversal_of=original["name"],
		user=user,
	)
	if not posted.duplicate:
		db.execute(
			f"UPDATE {table('Ledger Transaction')} SET `docstatus` = 2, `modified` = %(now)s"
			f" WHERE `name` = %(name)s AND `docstatus` = 1",
			{"name": original["name"], "now": clock.now()},
		)
	return posted


def balance(db, account: str, as_of=None) -> Decimal:
	"""An account's balance on its normal side.

	Without ``as_of``: the cached balance.  With ``as_of`` (a datetime, or a date meaning the end of
	that day): the sum of postings with ``posting_datetime < as_of``, a strict boundary, so a
	period starting at T never counts a posting at T twice.
	"""
	row = get_account(db, account)
	if as_of is None:
		return row["balance"]
	bound = parse_as_of(as_of)
	total = db.sql(
		f"SELECT {db.dialect.money_sum('`amount`')} AS `total` FROM {table('Ledger Posting')}"
		f" WHERE `account` = %(account)s AND `posting_datetime` < %(bound)s",
		{"account": row["name"], "bound": bound},
	)[0]["total"]
	return from_db(total) * side_sign(row["normal_side"])


def parse_as_of(value) -> datetime:
	if isinstance(value, datetime):
		return value
	if isinstance(value, date):
		return datetime.combine(value + timedelta(days=1), time())
	if isinstance(value, str) and value.strip():
		text = value.strip()
		try:
			if len(text) == 10:
				return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time())
			return datetime.fromisoformat(text.replace("T", " ").replace("Z", ""))
		except ValueError:
			pass
	raise ValidationFailed(f"as_of must be a date (YYYY-MM-DD) or datetime (YYYY-MM-DD HH:MM:SS), got {value!r}")


def _as_datetime(value) -> datetime:
	if isinstance(value, datetime):
		return value
	return datetime.fromisoformat(str(value))


def post_journal(db, idempotency_key, legs, *, remarks=None, posting_datetime=None, user="Administrator") -> Posted:
	"""Service: post a staff journal in its own transaction (replayed on deadlock)."""
	return db.run_in_transaction(
		lambda db: post(db, txn_types.JOURNAL.name, idempotency_key, legs, remarks=remarks,
			posting_datetime=posting_datetime, user=user)
	)


def reverse_transaction(db, transaction, idempotency_key, *, remarks=None, user="Administrator") -> Posted:
	"""Service: reverse a transaction in its own transaction (replayed on deadlock)."""
	return db.run_in_transaction(lambda db: reverse(db, transaction, idempotency_key, remarks=remarks, user=user))
