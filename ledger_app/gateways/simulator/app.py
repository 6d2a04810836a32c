"""The simulator as one WSGI application: a class per Daraja product over the shared plumbing."""

from __future__ import annotations

from ledger_app.gateways.simulator.b2c import B2CPayments
from ledger_app.gateways.simulator.books import Books
from ledger_app.gateways.simulator.c2b import C2BPayments
from ledger_app.gateways.simulator.core import SimulatorCore
from ledger_app.gateways.simulator.pull import PullTransactions
from ledger_app.gateways.simulator.status import TransactionStatus
from ledger_app.gateways.simulator.stk import STKPush


class Simulator(B2CPayments, TransactionStatus, C2BPayments, PullTransactions, STKPush, Books, SimulatorCore):
	"""The WSGI application: one class per Daraja product over the shared plumbing (``core``).
	Thread-safe; all state lives in memory (one lock guards the books).

	``consumer_key`` / ``consumer_secret``: when given, OAuth requires exactly them, else any non-empty
	Basic pair is accepted. ``production``: registering URLs twice is ``500.003.1001`` and URLs with a
	forbidden word are refused, as live Daraja does. ``callback_attempts`` / ``callback_backoff``:
	delivery retries on connection errors and timeouts (backoff doubles each time).
	"""
