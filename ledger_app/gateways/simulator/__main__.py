"""``python -m ledger_app.gateways.simulator --port 8100``"""

import argparse
import logging
import sys

from ledger_app.gateways.simulator import main

parser = argparse.ArgumentParser(description="Daraja simulator")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8100)
arguments = parser.parse_args()
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
main(arguments.port, arguments.host)
