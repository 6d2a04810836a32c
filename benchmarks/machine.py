"""Machine and server notes for the benchmark report: cores, CPU, memory, load, the fdatasync
latency of the directory the servers live in, and the servers' durability settings.

Usage: ``python benchmarks/machine.py [--dir DIR] [--backend all]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl


def fdatasync_latency(directory: str, seconds: float = 1.0) -> tuple[float, int]:
	"""Mean seconds per 8 KiB write + fdatasync in ``directory`` (what a commit flush costs)."""
	fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-probe-")
	try:
		block = b"x" * 8192
		n = 0
		end = time.perf_counter() + seconds
		start = time.perf_counter()
		while time.perf_counter() < end:
			os.pwrite(fd, block, 0)
			os.fdatasync(fd)
			n += 1
		return (time.perf_counter() - start) / n, n
	finally:
		os.close(fd)
		os.unlink(path)


def cpu_model() -> str:
	try:
		for line in Path("/proc/cpuinfo").read_text().splitlines():
			if line.startswith("model name"):
				return line.split(":", 1)[1].strip()
	except OSError:
		pass
	return platform.processor() or "?"


def main(argv=None) -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("--dir", default=tempfile.gettempdir())
	parser.add_argument("--backend", default="all")
	args = parser.parse_args(argv)
	mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
	latency, n = fdatasync_latency(args.dir)
	print("\n### Machine\n")
	print(
		f"- CPUs usable: {len(os.sched_getaffinity(0))} ({cpu_model()}); RAM {mem_gib:.0f} GiB;"
		f" load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
	)
	print(f"- Python {platform.python_version()} on {platform.system()} {platform.release()}")
	print(f"- fdatasync of an 8 KiB write in {args.dir}: {latency * 1e6:.0f} us ({n} in 1 s)")
	print("- load generator (Python threads) and database servers share these CPUs; TCP over 127.0.0.1")
	print("\n### Servers (as started by scripts/lib/backends.sh)\n")
	for backend in bl.backends_from_arg(args.backend):
		settings = bl.server_settings(backend)
		print(f"- {backend}: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
	return 0


if __name__ == "__main__":
	sys.exit(main())
