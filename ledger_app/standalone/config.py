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

	@classmethod
	def from_env(cls, **overrides) -> Config:
		env = os.environ
		values = {
			"db_url": env.get("LEDGER_APP_DB") or cls.db_url,
			"api_key": env.get("LEDGER_APP_API_KEY") or None,
			"api_secret": env.get("LEDGER_APP_API_SECRET") or None,
			"callback_token": env.get("LEDGER_APP_CALLBACK_TOKEN") or None,
		}
		values.update({k: v for k, v in overrides.items() if v is not None})
		return cls(**values)
