"""Configuration of the standalone host, from command-line flags or the environment."""

from __future__ import annotations

import hashlib
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
	#: where callbacks received while the database is unreachable are kept (default: spool_directory())
	spool_dir: str | None = None

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
			"spool_dir": env.get("LEDGER_APP_SPOOL_DIR") or None,
		}
		for field in ("consumer_key", "consumer_secret", "shortcode", "initiator", "security_credential"):
			value = env.get(f"LEDGER_APP_DARAJA_{field.upper()}")
			if value:
				values[f"daraja_{field}"] = value
		values.update({k: v for k, v in overrides.items() if v is not None})
		return cls(**values)

	def spool_directory(self) -> str:
		"""``spool_dir``, else ``<the SQLite file>.spool`` beside it, else ``ledger_app-spool-<hash of
		the URL>`` in the working directory (MariaDB and PostgreSQL URLs name no local place; one
		spool per database, so a spool is never replayed into another database)."""
		if self.spool_dir:
			return os.path.abspath(self.spool_dir)
		if self.db_url.startswith("sqlite:"):
			path = self.db_url.split("://", 1)[1].removeprefix("/")
			return os.path.abspath(f"{path}.spool")
		digest = hashlib.sha256(self.db_url.encode()).hexdigest()[:12]
		return os.path.abspath(f"ledger_app-spool-{digest}")

	def base_url(self) -> str:
		return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
