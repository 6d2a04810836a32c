"""The one registry of ledger transaction types.

Each type says how its postings are built (its template), which parameters it needs, whether it
can be reversed, and the scope its idempotency keys are unique in (``key_scope``).  Flows look a
type up here and hand its legs to ``posting.post``; no other code lists types.  Later capabilities
(C2B payments, payouts, settlements) register their types here.

Key scopes: a Ledger Transaction's idempotency key is unique within its scope, not across the whole
ledger (UNIQUE ``(key_scope, idempotency_key)``, ``db/constraints.py``), so no staff key can ever
shadow a payment.  A type's scope is its own name unless it declares another; the three types a
C2B receipt can post as (fare, repayment, suspense) share ``C2B_RECEIPT_SCOPE``, because they are
all keyed by M-Pesa's TransID and a TransID counts once whichever of them it became.  A type that
shares a scope is registered here (not by a flow's module), so ``fill_key_scopes`` knows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ledger_app.engine.errors import ValidationFailed


@dataclass(frozen=True)
class Leg:
	"""One posting: a signed amount on an account (positive debits, negative credits)."""

	account: str
	amount: Decimal


@dataclass(frozen=True)
class TransactionType:
	name: str
	reversible: bool
	required: tuple[str, ...]
	template: Callable[[dict], list[Leg]]
	description: str = ""
	#: the scope its idempotency keys are unique in; empty: the type's own name
	key_scope: str = ""

	@property
	def scope(self) -> str:
		"""The stored ``key_scope`` of this type's transactions."""
		return self.key_scope or self.name

	def legs(self, params: dict) -> list[Leg]:
		missing = [key for key in self.required if params.get(key) in (None, "", [])]
		if missing:
			raise ValidationFailed(f"{self.name} needs {', '.join(missing)}")
		return self.template(params)


REGISTRY: dict[str, TransactionType] = {}


def register(transaction_type: TransactionType) -> TransactionType:
	if transaction_type.name in REGISTRY:
		raise ValueError(f"transaction type {transaction_type.name!r} registered twice")
	REGISTRY[transaction_type.name] = transaction_type
	return transaction_type


def get(name: str) -> TransactionType:
	try:
		return REGISTRY[name]
	except KeyError:
		raise ValidationFailed(f"unknown transaction type {name!r}") from None


def scope_of(name: str) -> str:
	"""The key scope of the transaction type called ``name``."""
	return get(name).scope


def fill_key_scopes(db) -> int:
	"""Give every Ledger Transaction stored before keys were scoped (``key_scope`` empty) its type's
	scope, in one statement (a type no longer registered keeps its own name as scope); returns how
	many rows it filled (``engine/upgrade.upgrade_data``).  A C2B receipt's ``payload_hash`` is cleared
	then: it was taken over the type, party and time too, and a resent TransID is now compared on the
	payment alone (``posting.post``'s ``key_is_identity``), so an old one cannot be compared."""
	shared = {name: kind.scope for name, kind in REGISTRY.items() if kind.scope != name}
	params, cases = {"receipts": C2B_RECEIPT_SCOPE}, []
	for i, (name, scope) in enumerate(sorted(shared.items())):
		params[f"t{i}"], params[f"s{i}"] = name, scope
		cases.append(f"WHEN %(t{i})s THEN %(s{i})s")
	value = f"CASE `transaction_type` {' '.join(cases)} ELSE `transaction_type` END" if cases else "`transaction_type`"
	return db.execute(
		f"UPDATE `tabLedger Transaction` SET `key_scope` = {value},"
		f" `payload_hash` = CASE WHEN {value} = %(receipts)s THEN NULL ELSE `payload_hash` END"
		f" WHERE `key_scope` IS NULL OR `key_scope` = ''",
		params,
	)


def _given_legs(params: dict) -> list[Leg]:
	return list(params["legs"])


def _negated_legs(params: dict) -> list[Leg]:
	return [Leg(leg.account, -leg.amount) for leg in params["original_legs"]]


JOURNAL = register(
	TransactionType(
		name="Journal",
		reversible=True,
		required=("legs",),
		template=_given_legs,
		description="A staff journal: the postings are given by the caller and must sum to zero.",
	)
)

REVERSAL = register(
	TransactionType(
		name="Reversal",
		reversible=False,
		required=("original_legs",),
		template=_negated_legs,
		description="Cancels a transaction by negating each of its postings; points at the original.",
	)
)


def nonzero(*legs: Leg) -> list[Leg]:
	"""Legs of a template, without the ones a split left at zero."""
	return [leg for leg in legs if leg.amount != 0]


DAILY_TARGET = register(
	TransactionType(
		name="Daily Target",
		reversible=True,
		required=("target_account", "income_account", "amount"),
		template=lambda p: nonzero(Leg(p["target_account"], p["amount"]), Leg(p["income_account"], -p["amount"])),
		description="Charges a driver's daily target: target outstanding up, target income up.",
	)
)

#: the key scope of every C2B receipt: its key is the TransID (see the module docstring)
C2B_RECEIPT_SCOPE = "C2B Receipt"

C2B_PAYMENT = register(
	TransactionType(
		name="C2B Payment",
		reversible=True,
		required=("paybill_account", "target_account", "payable_account", "amount"),
		template=lambda p: nonzero(
			Leg(p["paybill_account"], p["amount"]),
			Leg(p["target_account"], -p["contribution"]),
			Leg(p["payable_account"], -p["driver_share"]),
		),
		description="A fare paid to the paybill: target outstanding down by the contribution, driver payable up by the share.",
		key_scope=C2B_RECEIPT_SCOPE,
	)
)

DRIVER_REPAYMENT = register(
	TransactionType(
		name="Driver Repayment",
		reversible=True,
		required=("paybill_account", "target_account", "deposit_account", "amount"),
		template=lambda p: nonzero(
			Leg(p["paybill_account"], p["amount"]),
			Leg(p["target_account"], -p["to_target"]),
			Leg(p["deposit_account"], -p["to_deposit"]),
		),
		description="A driver paying with their own id as account: target outstanding down, any excess to deposit.",
		key_scope=C2B_RECEIPT_SCOPE,
	)
)

UNMATCHED_PAYMENT = register(
	TransactionType(
		name="Unmatched Payment",
		reversible=False,
		required=("paybill_account", "suspense_account", "amount"),
		template=lambda p: nonzero(Leg(p["paybill_account"], p["amount"]), Leg(p["suspense_account"], -p["amount"])),
		description="A payment to an unknown account, held in suspense until staff assign or refund it.",
		key_scope=C2B_RECEIPT_SCOPE,
	)
)

UNMATCHED_ASSIGNMENT = register(
	TransactionType(
		name="Unmatched Assignment",
		reversible=False,
		required=("suspense_account", "target_account", "payable_account", "amount"),
		template=lambda p: nonzero(
			Leg(p["suspense_account"], p["amount"]),
			Leg(p["target_account"], -p["contribution"]),
			Leg(p["payable_account"], -p["driver_share"]),
		),
		description="Moves a suspense payment to a driver, split as a fare at the time of assignment.",
	)
)
