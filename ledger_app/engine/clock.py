"""The business clock: naive datetimes in the business timezone, as Frappe stores them.

Frappe keeps datetimes naive in the site's time zone; the standalone host does the same with
``LEDGER_APP_TIMEZONE`` (default Africa/Nairobi).  Inside a bench the host installs Frappe's
``now_datetime`` as the provider so both hosts agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

_provider: Callable[[], datetime] | None = None


def business_timezone() -> ZoneInfo:
	return ZoneInfo(os.environ.get("LEDGER_APP_TIMEZONE", "Africa/Nairobi"))


def now() -> datetime:
	if _provider is not None:
		return _provider()
	return datetime.now(business_timezone()).replace(tzinfo=None)


def set_provider(provider: Callable[[], datetime] | None) -> None:
	global _provider
	_provider = provider
