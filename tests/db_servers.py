"""A test's own MariaDB or PostgreSQL server, a real process it may stop and start again (an outage),
set up the way ``scripts/lib/backends.sh`` sets up the suite's servers (same binaries, loopback, a
free port, a temporary directory); the suite's shared servers are never touched."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import free_port


def _is_root() -> bool:
	return os.geteuid() == 0


def _find(*names: str) -> str | None:
	for name in names:
		found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
		if found:
			return found
	return None


def available(kind: str) -> str | None:
	"""None when ``kind``'s server binaries are here, else why not."""
	if kind == "mariadb":
		return None if _find("mariadbd", "mysqld") and _find("mariadb-install-db", "mysql_install_db") else "no mariadbd"
	return None if _pg_bindir() else "no PostgreSQL binaries"


def _pg_bindir() -> str | None:
	for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True):
		if all(os.access(f"{directory}/{tool}", os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
			return directory
	return None


def _wait_port(port: int, timeout: float) -> None:
	import socket

	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		try:
			with socket.create_connection(("127.0.0.1", port), timeout=1):
				return
		except OSError:
			time.sleep(0.1)
	raise RuntimeError(f"no server on port {port} after {timeout} s")


class MariaDBServer:
	def __init__(self, directory: Path):
		self.dir = Path(directory) / "mariadb"
		self.port = free_port()
		self.url = f"mariadb://root@127.0.0.1:{self.port}/"
		self.process: subprocess.Popen | None = None

	def setup(self) -> None:
		(self.dir / "data").mkdir(parents=True)
		(self.dir / "tmp").mkdir()
		(self.dir / "my.cnf").write_text(f"""[mysqld]
datadir = {self.dir}/data
tmpdir = {self.dir}/tmp
socket = {self.dir}/mysqld.sock
pid-file = {self.dir}/mariadbd.pid
log-error = {self.dir}/error.log
port = {self.port}
bind-address = 127.0.0.1
skip-name-resolve
skip-log-bin
innodb-buffer-pool-size = 64M
innodb-flush-log-at-trx-commit = 1
innodb-use-native-aio = 0
max-connections = 200
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
""")
		(self.dir / "init.sql").write_text("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';\n"
			"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\nFLUSH PRIVILEGES;\n")
		subprocess.run([_find("mariadb-install-db", "mysql_install_db"), f"--defaults-file={self.dir}/my.cnf",
			*self._user(), "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
			check=True, capture_output=True, timeout=120)

	def _user(self) -> list[str]:
		return ["--user=root"] if _is_root() else []

	def start(self) -> None:
		log = open(self.dir / "stdout.log", "ab")
		self.process = subprocess.Popen([_find("mariadbd", "mysqld"), f"--defaults-file={self.dir}/my.cnf", *self._user(),
			f"--init-file={self.dir}/init.sql"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
		_wait_port(self.port, 60)

	def remove(self) -> None:
		self.stop()  # its directory is the test's own (pytest removes it)

	def stop(self) -> None:
		if self.process is None:
			return
		self.process.send_signal(signal.SIGTERM)
		try:
			self.process.wait(timeout=30)
		except subprocess.TimeoutExpired:
			self.process.kill()
			self.process.wait()
		self.process = None


class PostgresServer:
	def __init__(self, directory: Path):
		# not under pytest's directory: pytest makes /tmp/pytest-of-USER private again (0700) whenever
		# a pytest session starts, and the postgres OS user must keep reaching its data
		self.dir = Path(tempfile.mkdtemp(prefix="ledger-outage-pg-")) / "postgres"
		self.port = free_port()
		self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
		self.bindir = _pg_bindir()
		self.running = False

	def _as_pg(self, *args: str, **kwargs):
		command = ["runuser", "-u", "postgres", "--", *args] if _is_root() else list(args)
		return subprocess.run(command, check=True, capture_output=True, timeout=120, **kwargs)

	def setup(self) -> None:
		self.dir.mkdir(parents=True)
		os.chmod(self.dir.parent, 0o711)  # mkdtemp's 0700 would keep the postgres user out
		if _is_root():
			shutil.chown(self.dir, "postgres", "postgres")
		os.chmod(self.dir, 0o700)
		self._as_pg(f"{self.bindir}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
			"--locale=C", "--no-sync")
		self._as_pg("tee", "-a", f"{self.dir}/data/postgresql.conf", input=(
			f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
			"max_connections = 100\nshared_buffers = 32MB\nfsync = off\nfull_page_writes = off\n").encode())

	def start(self) -> None:
		self._as_pg(f"{self.bindir}/pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/server.log", "-w", "-t", "60", "start")
		self.running = True

	def stop(self) -> None:
		if self.running:
			self._as_pg(f"{self.bindir}/pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "-w", "-t", "30", "stop")
			self.running = False

	def remove(self) -> None:
		self.stop()
		shutil.rmtree(self.dir.parent, ignore_errors=True)


def own_server(kind: str, directory: Path):
	"""A set-up and started server of ``kind`` (in ``directory``, or a directory of its own for
	PostgreSQL); call ``remove()`` when done."""
	server = MariaDBServer(directory) if kind == "mariadb" else PostgresServer(directory)
	server.setup()
	server.start()
	return server


def _running(pid: int) -> bool:
	"""Whether process ``pid`` exists and is not a zombie waiting for its parent."""
	try:
		return Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2][:1] not in ("Z", "X", "")
	except OSError:
		return False


class RunningMariaDB:
	"""A MariaDB server this test did not start (the one under the Frappe site), found by its port:
	stopped and started again with its own command line.  The new process outlives the test;
	``scripts/lib/backends.sh`` stops it by its pid file at the end of the run."""

	def __init__(self, port: int):
		self.port = port
		self.pid, self.command = self._find()

	def _find(self):
		for entry in os.listdir("/proc"):
			if not entry.isdigit():
				continue
			try:
				command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[:-1]
			except OSError:
				continue
			if not command or not os.path.basename(command[0]).startswith((b"mariadbd", b"mysqld")):
				continue
			defaults = next((arg.split(b"=", 1)[1] for arg in command if arg.startswith(b"--defaults-file=")), None)
			if defaults and f"port = {self.port}\n" in Path(defaults.decode()).read_text():
				return int(entry), [arg.decode() for arg in command]
		raise RuntimeError(f"no mariadbd listening on port {self.port} found")

	def stop(self) -> None:
		os.kill(self.pid, signal.SIGTERM)
		deadline = time.monotonic() + 60
		while _running(self.pid):
			if time.monotonic() > deadline:
				raise RuntimeError(f"mariadbd {self.pid} did not stop in 60 s")
			time.sleep(0.05)

	def start(self) -> None:
		process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
			stdin=subprocess.DEVNULL, start_new_session=True)
		self.pid = process.pid
		_wait_port(self.port, 60)
