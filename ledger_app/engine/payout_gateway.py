"""The payouts area's side of a payment gateway: what a B2C request carries, the words a
submission or a status query can end in, the callback URLs a gateway is given, and the interface a
gateway implements (``gateways/daraja.py``, routed by ``gateways/breaker.py``).

A B2C submission has four outcomes from a gateway: ``accepted`` (the gateway will send a result
callback), ``duplicate`` (Daraja's 500.002.1001: this OriginatorConversationID was already accepted:
ask Transaction Status, never send again), ``rejected`` (the gateway refused it for good: the payout
fails and its money returns to payable) and ``unknown`` (network error, timeout, 5xx: it may or may
not have been accepted: retry later with the same OriginatorConversationID).  The breaker adds a
fifth, ``unavailable``: every circuit is open and nothing was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

ACCEPTED, DUPLICATE, REJECTED, UNKNOWN = "accepted", "duplicate", "rejected", "unknown"
UNAVAILABLE = "unavailable"  # the circuit is open: the gateway was NOT called; leave the payout Queued


@dataclass(frozen=True)
class PayoutRequest:
	originator_conversation_id: str
	amount: Decimal  # whole currency units
	phone: str  # 2547XXXXXXXX
	remarks: str
	result_url: str
	timeout_url: str
	occasion: str = ""


@dataclass(frozen=True)
class SubmitOutcome:
	status: str  # ACCEPTED, DUPLICATE, REJECTED, UNKNOWN or UNAVAILABLE
	conversation_id: str | None = None
	error_code: str | None = None
	message: str = ""
	#: the gateway that answered (or would have: UNAVAILABLE), when a router chose it
	gateway: str | None = None


@dataclass(frozen=True)
class CallbackUrls:
	"""Where a gateway sends a payout's result, its queue timeout and a status query's answers."""

	result: str
	timeout: str
	status_result: str
	status_timeout: str


class Gateway(Protocol):
	name: str

	def submit_b2c(self, request: PayoutRequest) -> SubmitOutcome:
		"""Send one B2C payment request (Daraja B2C v3)."""

	def query_status(self, originator_conversation_id: str, result_url: str, timeout_url: str,
			transaction_id: str | None = None) -> SubmitOutcome:
		"""Ask Transaction Status; the answer arrives later at ``result_url``."""
