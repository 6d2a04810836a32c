"""Serving a simulator: in a thread for tests (``serve`` / ``stop``) or in the foreground
(``ledger-app simulator``, ``python -m ledger_app.gateways.simulator``)."""

from __future__ import annotations

import threading

from ledger_app.gateways.simulator.app import Simulator


def serve(host: str = "127.0.0.1", port: int = 0, simulator: Simulator | None = None, threads: int = 16):
	"""Serve a simulator with waitress in a daemon thread; returns ``(server, thread)``.

	``port=0`` picks a free port (``server.effective_port``, or :func:`base_url`);
	``server.simulator`` is the :class:`Simulator`. Stop it with :func:`stop`.
	"""
	import waitress

	app = simulator or Simulator()
	server = waitress.create_server(app, host=host, port=port, threads=threads, ident="daraja-simulator")
	server.simulator = app  # waitress wraps the application it is given
	thread = threading.Thread(target=server.run, daemon=True, name="daraja-simulator")
	thread.start()
	return server, thread


def stop(server, thread, timeout: float = 10.0) -> None:
	"""Close a server from :func:`serve`: its channels (inside waitress's loop), its workers, its deliveries."""
	app = getattr(server, "simulator", None)
	if isinstance(app, Simulator):
		app.close()
		app.wait_idle(timeout)  # a delivery already on the wire finishes; none starts after this

	def close_all():
		for channel in list(server._map.values()):
			channel.close()

	try:
		server.trigger.pull_trigger(close_all)
	except OSError:  # the trigger is gone already: nothing left to wake
		close_all()
	thread.join(timeout=timeout)
	server.task_dispatcher.shutdown()


def base_url(server) -> str:
	return f"http://{server.effective_host}:{server.effective_port}"


def run_forever(host: str = "127.0.0.1", port: int = 8100, **options) -> None:
	"""Serve a simulator in the foreground until interrupted (``ledger-app simulator``)."""
	import waitress

	simulator = Simulator(**options)
	server = waitress.create_server(simulator, host=host, port=port, threads=16, ident="daraja-simulator")
	print(f"simulator listening on http://{host}:{server.effective_port}", flush=True)
	try:
		server.run()
	except KeyboardInterrupt:
		pass
	finally:
		simulator.close()
		server.close()


def main(port: int = 8100, host: str = "127.0.0.1") -> None:
	run_forever(host, port)
