"""The Daraja callbacks of ``ledger_app.api.mpesa`` under a path live Daraja accepts.

Daraja refuses a callback URL that contains ``M-PESA``, ``mpesa``, ``Safaricom``, ``exe``, ``exec``,
``cmd``, ``sql`` or ``query`` anywhere, in any case, the dotted method path of
``/api/method/...`` included (Daraja's URL registration rules).  So the URLs to register with Daraja, and the
ones the payout worker sends, are ``/api/method/ledger_app.api.daraja.<method>``; each method here
is the ``ledger_app.api.mpesa`` method of the same name (same token, log, checks and answers).
"""

from __future__ import annotations

from ledger_app import host
from ledger_app.api import mpesa


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def c2b_validation(**kwargs):
	return mpesa.c2b_validation(**kwargs)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def c2b_confirmation(**kwargs):
	return mpesa.c2b_confirmation(**kwargs)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def b2c_result(**kwargs):
	return mpesa.b2c_result(**kwargs)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def b2c_timeout(**kwargs):
	return mpesa.b2c_timeout(**kwargs)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def transaction_status_result(**kwargs):
	return mpesa.transaction_status_result(**kwargs)


@host.whitelist(allow_guest=True, xss_safe=True, methods=["POST"])
def transaction_status_timeout(**kwargs):
	return mpesa.transaction_status_timeout(**kwargs)
