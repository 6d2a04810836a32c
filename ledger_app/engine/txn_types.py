"""The one registry of ledger transaction types.

Each type says how its postings are built (its template), which parameters it needs, and whether it
can be reversed.  Flows look a type up here and hand its legs to ``posting.post``; no other code
lists types.  Later capabilities (C2B payments, payouts, settlements) register their types here.
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
	)
)

UNMATCHED_PAYMENT = register(
	TransactionType(
		name="Unmatched Payment",
		reversible=False,
		required=("paybill_account", "suspense_account", "amount"),
		template=lambda p: nonzero(Leg(p["paybill_account"], p["amount"]), Leg(p["suspense_account"], -p["amount"])),
		description="A payment to an unknown account, held in suspense until staff assign or refund it.",
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
