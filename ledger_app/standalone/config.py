"""Configuration of the standalone host, from command-line flags or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Config:
	db_url: str = "sqlite:///ledger_app.db"
	api_key: str | None = None
	api_secret: str | None = None
	callback_token: str | None = None
	host: str = "127.0.0.1"
	port: int = 8000
	#: Daraja base URL; "simulator" starts the Daraja simulator in-process (serve and demo)
	gateway_url: str | None = None
	#: the base URL the gateway calls back (ResultURL, QueueTimeOutURL); default the listen address
	public_url: str | None = None
	daraja_consumer_key: str = "ledger-app"
	daraja_consumer_secret: str = "ledger-app-secret"
	daraja_shortcode: str = "600000"
	daraja_initiator: str = "ledger-app"
	daraja_security_credential: str = "simulated-credential"

	@classmethod
	def from_env(cls, **overrides) -> Config:
		env = os.environ
		values = {
			"db_url": env.get("LEDGER_APP_DB") or cls.db_url,
			"api_key": env.get("LEDGER_APP_API_KEY") or None,
			"api_secret": env.get("LEDGER_APP_API_SECRET") or None,
			"callback_token": env.get("LEDGER_APP_CALLBACK_TOKEN") or None,
			"gateway_url": env.get("LEDGER_APP_GATEWAY_URL") or None,
			"public_url": env.get("LEDGER_APP_PUBLIC_URL") or None,
		}
		for field in ("consumer_key", "consumer_secret", "shortcode", "initiator", "security_credential"):
			value = env.get(f"LEDGER_APP_DARAJA_{field.upper()}")
			if value:
				values[f"daraja_{field}"] = value
		values.update({k: v for k, v in overrides.items() if v is not None})
		return cls(**values)

	def base_url(self) -> str:
		return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
