"""Crash points for the crash tests: real processes killed at the worst moments of the payout and
confirmation paths.  A no-op unless the process was started with ``LEDGER_APP_CRASH_AT=<point>``;
then the process SIGKILLs itself the ``LEDGER_APP_CRASH_AFTER``-th time (default 1) it reaches it.

Points: ``after_claim`` (the claim committed, nothing sent), ``after_gateway_accepted`` (the gateway
took the payout, its answer not stored), ``before_result_commit`` (a result callback applied, not
committed), ``before_confirmation_commit`` (a C2B confirmation and its payout written, not committed).
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_counts: dict[str, int] = {}


def crash_point(point: str) -> None:
	if os.environ.get("LEDGER_APP_CRASH_AT") != point:
		return
	with _lock:
		_counts[point] = _counts.get(point, 0) + 1
		if _counts[point] >= int(os.environ.get("LEDGER_APP_CRASH_AFTER", "1")):
			os.kill(os.getpid(), signal.SIGKILL)
