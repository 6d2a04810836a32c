"""What the simulator did, for tests and the demo: in Python and over ``/simulator/...``."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ledger_app.gateways.simulator import wire
from ledger_app.gateways.simulator.wire import BadRequest


class Books:
	"""What the simulator did, for tests and the demo: in Python and over ``/simulator/...``."""

	def payments(self, include_failed: bool = False) -> list[dict]:
		"""One row per B2C paid (``include_failed``: every accepted request), in acceptance order."""
		with self._lock:
			return [{"OriginatorConversationID": txn["OriginatorConversationID"], "ConversationID": txn["ConversationID"],
				"TransactionID": txn["TransactionID"], "Amount": wire.money(txn["Amount"]), "PartyA": txn["PartyA"],
				"PartyB": txn["PartyB"], "Remarks": txn["Remarks"], "Occasion": txn["Occasion"], "CommandID": txn["CommandID"],
				"Status": txn["Status"], "ResultCode": txn["ResultCode"], "outcome": txn["outcome"],
				"FinalisedTime": wire.iso(txn["FinalisedTime"])}
				for txn in self._payouts.values() if include_failed or txn["Status"] == "Completed"]

	def b2c_requests(self) -> list[dict]:
		with self._lock:
			return [dict(entry) for entry in self._b2c_requests]

	def status_queries(self) -> list[dict]:
		with self._lock:
			return [dict(entry) for entry in self._queries]

	def callbacks(self, kind: str | None = None) -> list[dict]:
		with self._lock:
			return [dict(record) for record in self._callbacks if kind is None or record["kind"] == kind]

	def c2b_payments(self) -> list[dict]:
		with self._lock:
			return [{**row, "time": wire.iso(row["time"])} for row in self._c2b.values()]

	def _sim_payments(self, request: Request) -> Response:
		return wire.json_response(self.payments(include_failed=request.args.get("all") in ("1", "true", "yes")))

	def _sim_requests(self, request: Request) -> Response:
		return wire.json_response(self.b2c_requests())

	def _sim_queries(self, request: Request) -> Response:
		return wire.json_response(self.status_queries())

	def _sim_callbacks(self, request: Request) -> Response:
		try:
			wait = min(float(request.args.get("wait", 0)), 60.0)
		except ValueError:
			raise BadRequest("wait must be a number of seconds") from None
		if wait > 0:
			self.wait_idle(wait)
		with self._idle:
			pending = self._pending
		return wire.json_response({"pending": pending, "deliveries": self.callbacks(request.args.get("kind"))})

	def _sim_registrations(self, request: Request) -> Response:
		with self._lock:
			return wire.json_response({"c2b": list(self._registrations.values()), "pull": list(self._pull_registrations)})

	def _sim_stk(self, request: Request) -> Response:
		with self._lock:
			return wire.json_response(list(self._stk_requests))


