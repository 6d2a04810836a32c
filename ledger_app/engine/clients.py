"""Client exchange accounts: funding, balance records, frozen losses settled by partial payments,
and profit withdrawn exactly once (README "Client exchanges").

Owns clients and client exchanges (each with two ledger accounts: its capital at the exchange and
what is payable to the client), Balance Records, Loss Snapshots and their settlements, and the six
invariants.  Every write is one database transaction that first locks the Client Exchange row (so
the writes of one exchange are serialized), does its ledger moves through ``posting.post`` and
checks all six invariants before it commits; a violation rolls everything back, caches included.
The database also holds the line on its own: at most one unsettled Loss Snapshot per exchange
(partial unique index, or a unique generated column on MariaDB), one Balance Record per exchange and
day, one withdrawal per Balance Record.

Arithmetic: ``total_pct = my_share_pct + company_share_pct`` (frozen on the snapshot);
a payment ``P`` is at most ``round(L * total_pct / 100, 2)``; ``capital_closed = round(P * 100 /
total_pct, 2)`` half up, capped at ``L``, and the whole of ``L`` when what would remain has a
payable share of 0.00 (``payable_share``: less than 0.01 left, or a few cents at shares under 50 %);
``your_share = round(P * my_share_pct / total_pct, 2)``, ``company_share = P - your_share``.  A loss
recorded with a payable share of 0.00 is closed at once by a settlement of 0.00 (and one left open
before this rule by the next funding or balance record), so every loss can be settled to closure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledger_app.db.rows import insert, insert_or_lock, new_name, standard_columns, table
from ledger_app.engine import accounts, business, clock, payouts, posting, text
from ledger_app.engine.drivers import _identifier, _name, normalize_phone
from ledger_app.engine.errors import Conflict, InvariantViolation, NotFound, UniqueViolation, ValidationFailed
from ledger_app.engine.money import CENT, ZERO, from_db, parse_amount, round_half_up
from ledger_app.engine.txn_types import Leg, TransactionType, nonzero, register

#: the application-level "one active loss" check; the database constraint holds without it (a test
#: turns it off to prove that)
CHECK_ACTIVE_LOSS_IN_APP = True


FUNDING = register(TransactionType(
	name="Funding", reversible=False, required=("capital_account", "amount"),
	template=lambda p: [Leg(p["capital_account"], p["amount"]), Leg(business.FUNDING_SOURCE, -p["amount"])],
	description="The broker funds a client's exchange account: its capital rises."))
SETTLEMENT = register(TransactionType(
	name="Settlement", reversible=False, required=("capital_account", "payment"),
	template=lambda p: nonzero(
		Leg(business.SETTLEMENT_RECEIPTS, p["payment"]),
		Leg(business.MY_SHARE_INCOME, -p["your_share"]),
		Leg(business.COMPANY_SHARE_PAYABLE, -p["company_share"]),
		Leg(business.EXCHANGE_LOSS, p["capital_closed"]),
		Leg(p["capital_account"], -p["capital_closed"]),
	),
	description="A partial payment against a frozen loss: split into my share and the company's share;"
	" the capital it covers is closed against exchange loss."))
PROFIT_WITHDRAWAL = register(TransactionType(
	name="Profit Withdrawal", reversible=False, required=("payable_account", "amount"),
	template=lambda p: [Leg(business.EXCHANGE_WITHDRAWALS, p["amount"]), Leg(p["payable_account"], -p["amount"])],
	description="A profit taken from the exchange becomes payable to the client (then paid by B2C)."))


def exchange_accounts(client_exchange: str) -> dict[str, str]:
	return {"capital": f"Exchange Capital - {client_exchange}", "payable": f"Client Payable - {client_exchange}"}


def ensure_exchange_accounts(db, client_exchange: str, user: str = "Administrator") -> dict[str, str]:
	business.ensure_business_accounts(db)
	names = exchange_accounts(client_exchange)
	party = {"party_type": "Client Exchange", "party": client_exchange, "user": user}
	accounts.create_account(db, names["capital"], "Asset", account_type="Exchange Capital", **party)
	accounts.create_account(db, names["payable"], "Liability", account_type="Payable", **party)
	db.execute(f"UPDATE {table('Client Exchange')} SET `capital_account` = %(c)s, `payable_account` = %(p)s"
		f" WHERE `name` = %(n)s", {"c": names["capital"], "p": names["payable"], "n": client_exchange})
	return names


# --- clients and exchanges ----------------------------------------------------------------------


_CLIENT_RULES = {
	"client": lambda value: _identifier(value, "client"),
	"client_name": lambda value: _name(value, "client_name"),
	"phone": normalize_phone,
}


def validate_client(values: dict) -> dict:
	"""The client fields in ``values`` (``client`` (its id), ``client_name``, ``phone``: the number
	profit withdrawals are paid to) checked and normalized.  The one owner of the client rules:
	``upsert_client`` and the Client controller call it."""
	unknown = sorted(set(values) - set(_CLIENT_RULES))
	if unknown:
		raise ValidationFailed(f"unknown client field(s): {', '.join(unknown)}")
	return {name: _CLIENT_RULES[name](value) for name, value in values.items()}


def upsert_client(db, client, client_name=None, phone=None, user="Administrator") -> dict:
	"""Service: create or update a client.  Locks: the Client row (a new one is inserted or skipped on
	its id, ``rows.insert_or_lock``: a concurrent create waits for the first, then updates it)."""
	client = validate_client({"client": client})["client"]
	values = validate_client({name: value for name, value in (("client_name", client_name), ("phone", phone))
		if value is not None})

	missing = [required for required in ("client_name", "phone") if required not in values]

	def unit(db):
		now = clock.now()
		row = None if missing else {"name": client, **standard_columns(now, user), "client_id": client, **values}
		found = insert_or_lock(db, "Client", client, row)
		if found == "missing":
			raise ValidationFailed(f"{missing[0]} is required for a new client")
		if found == "locked" and values:
			sets = ", ".join(f"`{k}` = %({k})s" for k in values)
			db.execute(f"UPDATE {table('Client')} SET {sets}, `modified` = %(now)s WHERE `name` = %(n)s",
				{**values, "now": now, "n": client})
		return db.sql(f"SELECT `name`, `client_name`, `phone` FROM {table('Client')} WHERE `name` = %(n)s", {"n": client})[0]

	return db.run_in_transaction(unit)


def validate_shares(my_share_pct, company_share_pct) -> tuple[Decimal, Decimal]:
	"""Both shares > 0 and their sum <= 100 (at most 2 decimals each)."""
	my = parse_amount(my_share_pct, "my_share_pct")
	company = parse_amount(company_share_pct, "company_share_pct")
	if my + company > 100:
		raise ValidationFailed(f"my_share_pct {my} + company_share_pct {company} = {my + company} is more than 100")
	return my, company


def validate_exchange(values: dict) -> dict:
	"""The client exchange fields in ``values`` (``client_exchange`` (its id), ``exchange`` (its name),
	``my_share_pct`` and ``company_share_pct``, always together: ``validate_shares``) checked and
	normalized.  The one owner of the client exchange rules: ``upsert_client_exchange`` and the
	Client Exchange controller call it (that the client exists is checked against the database)."""
	unknown = sorted(set(values) - {"client_exchange", "exchange", "my_share_pct", "company_share_pct"})
	if unknown:
		raise ValidationFailed(f"unknown client exchange field(s): {', '.join(unknown)}")
	clean = {}
	if "client_exchange" in values:
		clean["client_exchange"] = _identifier(values["client_exchange"], "client_exchange")
	if "exchange" in values:
		clean["exchange"] = _name(values["exchange"], "exchange")
	if "my_share_pct" in values or "company_share_pct" in values:
		clean["my_share_pct"], clean["company_share_pct"] = validate_shares(values.get("my_share_pct"),
			values.get("company_share_pct"))
	return clean


def upsert_client_exchange(db, client_exchange, client=None, exchange=None, my_share_pct=None, company_share_pct=None,
		user="Administrator") -> dict:
	"""Create or update a client exchange; share changes apply to future losses (snapshots freeze theirs).

	Locks: the Client Exchange row (a new one is inserted or skipped on its id,
	``rows.insert_or_lock``: a concurrent create waits for the first, then updates it with its own
	values)."""
	client_exchange = validate_exchange({"client_exchange": client_exchange})["client_exchange"]
	if exchange is not None:
		exchange = validate_exchange({"exchange": exchange})["exchange"]

	def unit(db):
		now = clock.now()
		values = {}
		if client is not None:
			if not isinstance(client, str):
				raise ValidationFailed(f"client must be text, got {client!r}")
			# a locking read: a plain one would fix MariaDB's REPEATABLE READ snapshot before the wait
			# for a concurrent create of this exchange, whose accounts it would then not see
			if not db.sql(f"SELECT `name` FROM {table('Client')} WHERE `name` = %(n)s{db.dialect.locking_read}", {"n": client}):
				raise NotFound(f"Client {client!r} not found")
			values["client"] = client
		if exchange is not None:
			values["exchange"] = exchange
		new = None
		if my_share_pct is not None and company_share_pct is not None:
			values["my_share_pct"], values["company_share_pct"] = validate_shares(my_share_pct, company_share_pct)
			if "client" in values and "exchange" in values:
				new = {"name": client_exchange, **standard_columns(now, user), "client_exchange_id": client_exchange, **values}
		found = insert_or_lock(db, "Client Exchange", client_exchange, new)
		if found == "missing":
			validate_shares(my_share_pct, company_share_pct)
			for required in ("client", "exchange"):
				if required not in values:
					raise ValidationFailed(f"{required} is required for a new client exchange")
		if found == "inserted":
			ensure_exchange_accounts(db, client_exchange, user)
			return {"name": client_exchange, **position(db, client_exchange)}
		if (my_share_pct is None) != (company_share_pct is None):  # the other share is the stored one
			current = db.sql(f"SELECT {db.dialect.money('`my_share_pct`')} AS `my`, {db.dialect.money('`company_share_pct`')}"
				f" AS `company` FROM {table('Client Exchange')} WHERE `name` = %(n)s", {"n": client_exchange})[0]
			values["my_share_pct"], values["company_share_pct"] = validate_shares(
				my_share_pct if my_share_pct is not None else current["my"],
				company_share_pct if company_share_pct is not None else current["company"])
		if values:
			sets = ", ".join(f"`{k}` = %({k})s" for k in values)
			db.execute(f"UPDATE {table('Client Exchange')} SET {sets}, `modified` = %(now)s WHERE `name` = %(n)s",
				{**values, "now": now, "n": client_exchange})
		return {"name": client_exchange, **position(db, client_exchange)}

	return db.run_in_transaction(unit)


def _lock_exchange(db, client_exchange) -> dict:
	if not isinstance(client_exchange, str) or not client_exchange.strip():
		raise ValidationFailed("client_exchange is required")
	rows = db.sql(
		f"SELECT `name`, `client`, {db.dialect.money('`my_share_pct`')} AS `my_share_pct`,"
		f" {db.dialect.money('`company_share_pct`')} AS `company_share_pct`"
		f" FROM {table('Client Exchange')} WHERE `name` = %(n)s{db.dialect.for_update}",
		{"n": client_exchange.strip()},
	)
	if not rows:
		raise NotFound(f"Client Exchange {client_exchange!r} not found")
	row = rows[0]
	phone = db.sql(f"SELECT `phone` FROM {table('Client')} WHERE `name` = %(c)s", {"c": row["client"]})
	row["phone"] = phone[0]["phone"] if phone else None
	row["my_share_pct"], row["company_share_pct"] = from_db(row["my_share_pct"]), from_db(row["company_share_pct"])
	return row


# --- funding, balance records, settlements ------------------------------------------------------


def fund(db, client_exchange, amount, idempotency_key, user="Administrator") -> dict:
	"""Service: raise an exchange's capital.  Refused while a loss is active (it would break
	remaining loss == capital - CB)."""
	amount = parse_amount(amount, "amount")
	key = posting.validate_key(idempotency_key)

	def unit(db):
		exchange = _lock_exchange(db, client_exchange)
		prior = posting.find_by_key(db, FUNDING.scope, key)
		closed = None
		if prior is None:
			closed = _close_if_unpayable(db, exchange, user)
			if _active_snapshot(db, exchange["name"]) is not None:
				raise Conflict(f"{exchange['name']} has an active loss: settle the loss first")
		names = exchange_accounts(exchange["name"])
		posted = posting.post(db, FUNDING.name, key, FUNDING.legs({"capital_account": names["capital"], "amount": amount}),
			party_type="Client Exchange", party=exchange["name"], user=user, remarks=f"Funding {exchange['name']}")
		check_invariants(db, exchange, closed)
		return {"transaction": posted.name, "duplicate": posted.duplicate, **position(db, exchange["name"])}

	return db.run_in_transaction(unit)


def record_balance(db, client_exchange, balance_date, remaining_balance, idempotency_key, user="Administrator") -> dict:
	"""Service: record the exchange's balance ``CB``: a loss is frozen in a Loss Snapshot, a profit is
	withdrawn (Profit Withdrawal + Payout) in this same transaction, exactly once."""
	cb = parse_amount(remaining_balance, "remaining_balance", allow_zero=True)
	day = _date(balance_date)
	key = posting.validate_key(idempotency_key)

	def unit(db):
		exchange = _lock_exchange(db, client_exchange)
		ce = exchange["name"]
		existing = db.sql(f"SELECT `name` FROM {table('Balance Record')} WHERE `idempotency_key` = %(k)s", {"k": key})
		if existing:
			return {**get_balance_record(db, existing[0]["name"]), "duplicate": True}
		closed = _close_if_unpayable(db, exchange, user)
		if CHECK_ACTIVE_LOSS_IN_APP and _active_snapshot(db, ce) is not None:
			raise Conflict(f"{ce} has an active loss: settle the loss first")
		capital = _capital(db, ce)
		loss = max(capital - cb, ZERO)
		profit = max(cb - capital, ZERO)
		now = clock.now()
		name = new_name()
		try:
			insert(db, "Balance Record", {"name": name, **standard_columns(now, user), "client_exchange": ce, "date": day,
				"remaining_balance": cb, "capital_at_time": capital, "loss_at_time": loss, "profit_at_time": profit,
				"profit_consumed": 0, "idempotency_key": key})
		except UniqueViolation as exc:
			raise Conflict(f"a balance of {ce} for {day.isoformat()} is already recorded ({exc.constraint})") from None
		if loss > 0:
			snapshot = new_name()
			try:
				insert(db, "Loss Snapshot", {"name": snapshot, **standard_columns(now, user), "client_exchange": ce,
					"balance_record": name, "loss_amount": loss, "remaining_loss": loss,
					"my_share_pct": exchange["my_share_pct"], "company_share_pct": exchange["company_share_pct"], "is_settled": 0})
			except UniqueViolation:
				raise Conflict(f"{ce} already has an active loss: settle the loss first") from None
			db.execute(f"UPDATE {table('Balance Record')} SET `loss_snapshot` = %(s)s WHERE `name` = %(n)s",
				{"s": snapshot, "n": name})
			if not payable_share(loss, exchange["my_share_pct"] + exchange["company_share_pct"]):
				closed = _close_unpayable(db, ce, {"name": snapshot, "remaining_loss": loss,
					"my_share_pct": exchange["my_share_pct"], "company_share_pct": exchange["company_share_pct"]}, user)
		elif profit > 0:
			_withdraw_profit(db, exchange, name, profit, user)
		check_invariants(db, exchange, closed)
		return {**get_balance_record(db, name), "duplicate": False}

	return db.run_in_transaction(unit)


def _withdraw_profit(db, exchange, record: str, profit: Decimal, user: str) -> None:
	"""The profit becomes payable to the client and a Payout of its whole units is queued, under one
	withdrawal id that is UNIQUE on the record, the ledger transaction and the payout."""
	withdrawal_id = f"pw:{record}"
	names = exchange_accounts(exchange["name"])
	posted = posting.post(db, PROFIT_WITHDRAWAL.name, withdrawal_id,
		PROFIT_WITHDRAWAL.legs({"payable_account": names["payable"], "amount": profit}), party_type="Client Exchange",
		party=exchange["name"], user=user, remarks=f"Profit withdrawal of {exchange['name']} ({record})")
	payout = payouts.queue_payout(db, party_type="Client Exchange", party=exchange["name"], phone=exchange["phone"],
		idempotency_key=withdrawal_id, key_scope=payouts.PROFIT_WITHDRAWAL_PAYOUT, purpose="Profit Withdrawal", user=user)
	db.execute(
		f"UPDATE {table('Balance Record')} SET `profit_consumed` = 1, `profit_withdrawal_id` = %(w)s,"
		f" `withdrawal_transaction` = %(t)s, `payout` = %(p)s WHERE `name` = %(n)s AND `profit_consumed` = 0",
		{"w": withdrawal_id, "t": posted.name, "p": payout["name"] if payout else None, "n": record},
	)


def payable_share(loss: Decimal, total_pct: Decimal) -> Decimal:
	"""What can still be paid against ``loss`` at ``total_pct``: ``round(loss * total_pct / 100, 2)``.
	A loss whose payable share is 0.00 (less than 0.01 left, or a few cents at shares under 50 %) can
	never be paid, so it is closed: by the settlement that leaves it, or when it is recorded."""
	return round_half_up(loss * total_pct / 100) if loss > 0 else ZERO


@dataclass(frozen=True)
class SettlementSplit:
	payment: Decimal
	capital_closed: Decimal
	your_share: Decimal
	company_share: Decimal
	closes: bool
	total_pct: Decimal


def settlement_split(payment: Decimal, remaining_loss: Decimal, my_share_pct: Decimal, company_share_pct: Decimal) -> SettlementSplit:
	"""The settlement arithmetic of the module docstring for one partial payment against ``remaining_loss``."""
	total_pct = my_share_pct + company_share_pct
	payable = payable_share(remaining_loss, total_pct)
	if payment > payable:
		raise ValidationFailed(f"payment {payment} is more than the {payable} payable on a remaining loss of"
			f" {remaining_loss} at {total_pct}%")
	capital_closed = min(round_half_up(payment * 100 / total_pct), remaining_loss)
	closes = not payable_share(remaining_loss - capital_closed, total_pct)
	if closes:
		capital_closed = remaining_loss
	your_share = round_half_up(payment * my_share_pct / total_pct)
	return SettlementSplit(payment, capital_closed, your_share, payment - your_share, closes, total_pct)


def settle(db, client_exchange, amount, idempotency_key, user="Administrator") -> dict:
	"""Service: a partial payment against the active loss (exact arithmetic above), once per key."""
	payment = parse_amount(amount, "amount")
	key = posting.validate_key(idempotency_key)

	def unit(db):
		exchange = _lock_exchange(db, client_exchange)
		ce = exchange["name"]
		prior = db.sql(f"SELECT `parent` FROM {table('Loss Settlement')} WHERE `idempotency_key` = %(k)s", {"k": key})
		if prior:
			return {**_settlement(db, key), "duplicate": True}
		snapshot = _active_snapshot(db, ce, lock=True)
		if snapshot is None:
			raise Conflict(f"{ce} has no active loss to settle")
		split = settlement_split(payment, snapshot["remaining_loss"], snapshot["my_share_pct"], snapshot["company_share_pct"])
		_apply_settlement(db, ce, snapshot, split, key, user)
		check_invariants(db, exchange, split)
		return {**_settlement(db, key), "duplicate": False}

	return db.run_in_transaction(unit)


def _apply_settlement(db, ce: str, snapshot: dict, split: SettlementSplit, key: str, user: str) -> None:
	"""The Settlement transaction, its Loss Settlement row and the snapshot's new remaining loss."""
	names = exchange_accounts(ce)
	posted = posting.post(db, SETTLEMENT.name, key, SETTLEMENT.legs({"capital_account": names["capital"],
		"payment": split.payment, "your_share": split.your_share, "company_share": split.company_share,
		"capital_closed": split.capital_closed}), party_type="Client Exchange", party=ce, user=user,
		remarks=f"Settlement of {ce}'s loss {snapshot['name']}")
	now = clock.now()
	count = int(db.sql(f"SELECT COUNT(*) AS n FROM {table('Loss Settlement')} WHERE `parent` = %(p)s",
		{"p": snapshot["name"]})[0]["n"])
	insert(db, "Loss Settlement", {"name": new_name(), **standard_columns(now, user), "idx": count + 1,
		"parent": snapshot["name"], "parentfield": "settlements", "parenttype": "Loss Snapshot",
		"payment": split.payment, "your_share": split.your_share, "company_share": split.company_share,
		"capital_closed": split.capital_closed, "closed_snapshot": 1 if split.closes else 0, "idempotency_key": key,
		"ledger_transaction": posted.name})
	db.execute(
		f"UPDATE {table('Loss Snapshot')} SET `remaining_loss` = %(r)s, `is_settled` = %(s)s, `settled_at` = %(at)s,"
		f" `modified` = %(now)s WHERE `name` = %(n)s",
		{"r": snapshot["remaining_loss"] - split.capital_closed, "s": 1 if split.closes else 0,
			"at": now if split.closes else None, "now": now, "n": snapshot["name"]},
	)


def _close_if_unpayable(db, exchange: dict, user: str) -> SettlementSplit | None:
	"""An active loss whose payable share is 0.00 (one left open before such losses were closed by
	the settlement that leaves them) is closed now, before the funding or balance that meets it."""
	snapshot = _active_snapshot(db, exchange["name"], lock=True)
	if snapshot is None or payable_share(snapshot["remaining_loss"], snapshot["my_share_pct"] + snapshot["company_share_pct"]):
		return None
	return _close_unpayable(db, exchange["name"], snapshot, user)


def _close_unpayable(db, ce: str, snapshot: dict, user: str) -> SettlementSplit:
	"""A loss recorded with a payable share of 0.00 is closed at once by a settlement of 0.00 (its
	whole capital closed, under the key ``unpayable:<snapshot>``): no payment could ever settle it."""
	split = SettlementSplit(payment=ZERO, capital_closed=snapshot["remaining_loss"], your_share=ZERO, company_share=ZERO,
		closes=True, total_pct=snapshot["my_share_pct"] + snapshot["company_share_pct"])
	_apply_settlement(db, ce, snapshot, split, f"unpayable:{snapshot['name']}", user)
	return split


# --- the six invariants -------------------------------------------------------------------------


def check_invariants(db, exchange: dict, settlement: SettlementSplit | None = None) -> None:
	"""The six invariants for one exchange (numbered in the code below), inside the write transaction; a violation raises
	(the whole write rolls back) with a message that names the numbers."""
	ce = exchange["name"]
	names = exchange_accounts(ce)
	capital = _capital(db, ce)
	moves = db.sql(
		f"SELECT t.`transaction_type` AS `kind`, {db.dialect.money_sum('p.`amount`')} AS `total`"
		f" FROM {table('Ledger Posting')} p JOIN {table('Ledger Transaction')} t ON t.`name` = p.`parent`"
		f" WHERE p.`account` = %(a)s GROUP BY t.`transaction_type`",
		{"a": names["capital"]},
	)
	by_kind = {row["kind"]: from_db(row["total"]) for row in moves}
	funded, closed = by_kind.get(FUNDING.name, ZERO), -by_kind.get(SETTLEMENT.name, ZERO)
	if capital != funded - closed:  # 1
		raise InvariantViolation(f"{ce}: cached capital {capital} != funding {funded} - capital closed {closed}")
	if closed > funded:  # 2
		raise InvariantViolation(f"{ce}: capital closed {closed} is more than funding {funded}")
	active = db.sql(
		f"SELECT s.`name`, {db.dialect.money('s.`remaining_loss`')} AS `remaining`,"
		f" {db.dialect.money('b.`remaining_balance`')} AS `cb` FROM {table('Loss Snapshot')} s"
		f" JOIN {table('Balance Record')} b ON b.`name` = s.`balance_record`"
		f" WHERE s.`client_exchange` = %(ce)s AND s.`is_settled` = 0",
		{"ce": ce},
	)
	if len(active) > 1:  # 3
		raise InvariantViolation(f"{ce}: {len(active)} active loss snapshots, at most one is allowed")
	if active:
		cb, remaining = from_db(active[0]["cb"]), from_db(active[0]["remaining"])
		if not capital > cb:  # 4
			raise InvariantViolation(f"{ce}: active loss {active[0]['name']} but capital {capital} is not above CB {cb}")
		if remaining != capital - cb:  # 5
			raise InvariantViolation(f"{ce}: remaining loss {remaining} != capital {capital} - CB {cb}")
	if settlement is not None:  # 6
		if settlement.your_share + settlement.company_share != settlement.payment:
			raise InvariantViolation(f"{ce}: shares {settlement.your_share} + {settlement.company_share} != payment"
				f" {settlement.payment}")
		covered = settlement.capital_closed * settlement.total_pct / 100
		if not settlement.closes and abs(covered - settlement.payment) > CENT:
			raise InvariantViolation(f"{ce}: capital closed {settlement.capital_closed} x {settlement.total_pct}% = {covered},"
				f" more than 0.01 from the payment {settlement.payment}")


# --- reads ---------------------------------------------------------------------------------------


def _capital(db, ce) -> Decimal:
	return accounts.get_account(db, exchange_accounts(ce)["capital"])["balance"]


def _active_snapshot(db, ce, lock: bool = False) -> dict | None:
	rows = db.sql(
		f"SELECT `name`, `balance_record`, {db.dialect.money('`remaining_loss`')} AS `remaining_loss`,"
		f" {db.dialect.money('`loss_amount`')} AS `loss_amount`, {db.dialect.money('`my_share_pct`')} AS `my_share_pct`,"
		f" {db.dialect.money('`company_share_pct`')} AS `company_share_pct` FROM {table('Loss Snapshot')}"
		f" WHERE `client_exchange` = %(ce)s AND `is_settled` = 0{db.dialect.for_update if lock else ''}",
		{"ce": ce},
	)
	if not rows:
		return None
	row = rows[0]
	for key in ("remaining_loss", "loss_amount", "my_share_pct", "company_share_pct"):
		row[key] = from_db(row[key])
	return row


def _settlement(db, key) -> dict:
	row = db.sql(
		f"SELECT `parent` AS `loss_snapshot`, {db.dialect.money('`payment`')} AS `payment`,"
		f" {db.dialect.money('`your_share`')} AS `your_share`, {db.dialect.money('`company_share`')} AS `company_share`,"
		f" {db.dialect.money('`capital_closed`')} AS `capital_closed`, `closed_snapshot`, `ledger_transaction`"
		f" FROM {table('Loss Settlement')} WHERE `idempotency_key` = %(k)s",
		{"k": key},
	)[0]
	for money_key in ("payment", "your_share", "company_share", "capital_closed"):
		row[money_key] = from_db(row[money_key])
	return row


def get_balance_record(db, name) -> dict:
	rows = db.sql(
		f"SELECT `name`, `client_exchange`, `date`, {db.dialect.money('`remaining_balance`')} AS `remaining_balance`,"
		f" {db.dialect.money('`capital_at_time`')} AS `capital_at_time`, {db.dialect.money('`loss_at_time`')} AS `loss_at_time`,"
		f" {db.dialect.money('`profit_at_time`')} AS `profit_at_time`, `profit_consumed`, `profit_withdrawal_id`,"
		f" `loss_snapshot`, `withdrawal_transaction`, `payout` FROM {table('Balance Record')} WHERE `name` = %(n)s",
		{"n": name},
	)
	if not rows:
		raise NotFound(f"Balance Record {name!r} not found")
	row = rows[0]
	for key in ("remaining_balance", "capital_at_time", "loss_at_time", "profit_at_time"):
		row[key] = from_db(row[key])
	row["date"] = str(row["date"])[:10]
	return row


def require_exchange(db, client_exchange) -> str:
	"""The exchange's name, or NotFound / ValidationFailed (a read: no lock)."""
	if not isinstance(client_exchange, str) or not client_exchange.strip():
		raise ValidationFailed("client_exchange is required")
	if not db.sql(f"SELECT `name` FROM {table('Client Exchange')} WHERE `name` = %(n)s", {"n": client_exchange.strip()}):
		raise NotFound(f"Client Exchange {client_exchange!r} not found")
	return client_exchange.strip()


def position(db, client_exchange) -> dict[str, Decimal]:
	"""capital, active_loss, remaining_loss, your_share_total, company_share_total."""
	ce = client_exchange
	capital = _capital(db, ce)
	active = _active_snapshot(db, ce)
	totals = db.sql(
		f"SELECT {db.dialect.money_sum('ls.`your_share`')} AS `mine`, {db.dialect.money_sum('ls.`company_share`')} AS `company`"
		f" FROM {table('Loss Settlement')} ls JOIN {table('Loss Snapshot')} s ON s.`name` = ls.`parent`"
		f" WHERE s.`client_exchange` = %(ce)s",
		{"ce": ce},
	)[0]
	return {"capital": capital, "active_loss": active["loss_amount"] if active else ZERO,
		"remaining_loss": active["remaining_loss"] if active else ZERO,
		"your_share_total": from_db(totals["mine"]), "company_share_total": from_db(totals["company"])}


def positions_report(db) -> list[dict]:
	rows = db.sql(f"SELECT `name`, `client`, `exchange` FROM {table('Client Exchange')} ORDER BY `name`")
	return [{"client_exchange": r["name"], "client": r["client"], "exchange": r["exchange"], **position(db, r["name"])}
		for r in rows]


def _date(value) -> date:
	if isinstance(value, date):
		return value
	try:
		return date.fromisoformat(str(value).strip())
	except (TypeError, ValueError):
		raise ValidationFailed(f"date must be YYYY-MM-DD, got {value!r}") from None
