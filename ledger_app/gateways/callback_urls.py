"""The callback URLs a gateway is given (ResultURL, QueueTimeOutURL, ...), with the secret token.

They name the ``ledger_app.api.daraja`` methods: Daraja refuses URLs with ``mpesa`` in them."""

from __future__ import annotations

from urllib.parse import quote

from ledger_app.engine.payout_gateway import CallbackUrls


def callback_urls(base_url: str, token: str | None) -> CallbackUrls:
	def url(method: str) -> str:
		return f"{base_url.rstrip('/')}/api/method/ledger_app.api.daraja.{method}?token={quote(token or '')}"

	return CallbackUrls(result=url("b2c_result"), timeout=url("b2c_timeout"),
		status_result=url("transaction_status_result"), status_timeout=url("transaction_status_timeout"))
