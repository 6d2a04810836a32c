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
