"""``python -m ledger_app.gateways.simulator --port 8100``: the simulator in the foreground.  Nothing
runs when this module is merely imported (a bench's import check walks every module)."""

import argparse
import logging
import sys

from ledger_app.gateways.simulator import main

if __name__ == "__main__":
	parser = argparse.ArgumentParser(description="Daraja simulator")
	parser.add_argument("--host", default="127.0.0.1")
	parser.add_argument("--port", type=int, default=8100)
	arguments = parser.parse_args()
	logging.basicConfig(level=logging.INFO, stream=sys.stderr)
	main(arguments.port, arguments.host)
