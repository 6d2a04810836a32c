"""Building the payout gateway a host uses: Daraja clients behind circuit breakers, in a router."""

from __future__ import annotations

import logging

from ledger_app.gateways.breaker import GatewayRouter, GuardedGateway
from ledger_app.gateways.daraja import DarajaGateway

alerts = logging.getLogger("ledger_app.alerts")


def router_from_settings(*, base_url, consumer_key, consumer_secret, shortcode, initiator, security_credential,
		on_open=None, name: str = "daraja", fail_max: int = 5, reset_timeout: float = 30, store=None) -> GatewayRouter:
	"""The Daraja gateway at ``base_url`` behind its circuit breaker, whose state lives in ``store``
	(``gateways/breaker_store.py``; default: this process only).  Hosts call it only once a base URL
	is configured (without one there is no gateway, and payouts wait Queued)."""
	if not base_url:
		raise ValueError("router_from_settings needs the Daraja base URL")
	client = DarajaGateway(name, base_url, consumer_key, consumer_secret, shortcode, initiator, security_credential)
	return GatewayRouter([GuardedGateway(client, fail_max=fail_max, reset_timeout=reset_timeout, store=store)],
		on_open=on_open or (lambda gateway: alerts.error("payout gateway %s circuit open: payouts wait Queued", gateway)))


def standalone_router(config, *, fail_max: int = 5, reset_timeout: float = 30):
	"""The router for the standalone host; ``LEDGER_APP_GATEWAY_URL=simulator`` starts the Daraja
	simulator in this process first.  Returns (router, simulator server or None)."""
	base_url, simulator = config.gateway_url, None
	if base_url == "simulator":
		from ledger_app.gateways import simulator as sim

		simulator, _ = sim.serve("127.0.0.1", 0)
		base_url = f"http://127.0.0.1:{simulator.effective_port}"
	router = router_from_settings(base_url=base_url, consumer_key=config.daraja_consumer_key,
		consumer_secret=config.daraja_consumer_secret, shortcode=config.daraja_shortcode,
		initiator=config.daraja_initiator, security_credential=config.daraja_security_credential,
		fail_max=fail_max, reset_timeout=reset_timeout)
	return router, simulator
