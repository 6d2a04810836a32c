"""The gateway interface the payout worker talks to.

A B2C submission has four outcomes: ``accepted`` (the gateway will send a result callback),
``duplicate`` (Daraja's 500.002.1001: this OriginatorConversationID was already accepted — ask
Transaction Status, never send again), ``rejected`` (the gateway refused it for good: the payout
fails and its money returns to payable) and ``unknown`` (network error, timeout, 5xx: it may or may
not have been accepted — retry later with the same OriginatorConversationID).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

ACCEPTED, DUPLICATE, REJECTED, UNKNOWN = "accepted", "duplicate", "rejected", "unknown"


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
	status: str  # ACCEPTED, DUPLICATE, REJECTED or UNKNOWN
	conversation_id: str | None = None
	error_code: str | None = None
	message: str = ""


class Gateway(Protocol):
	name: str

	def submit_b2c(self, request: PayoutRequest) -> SubmitOutcome:
		"""Send one B2C payment request (Daraja B2C v3)."""

	def query_status(self, originator_conversation_id: str, result_url: str, timeout_url: str,
			transaction_id: str | None = None) -> SubmitOutcome:
		"""Ask Transaction Status; the answer arrives later at ``result_url``."""
