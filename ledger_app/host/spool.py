"""The callback spool: a durable local file of gateway callbacks received while the database was
unreachable, replayed in order once it is back (README "Database outages").

One spool is a directory holding ``callbacks.jsonl`` (one JSON object per line, appended only),
``callbacks.done`` (how many bytes of it were replayed) and ``callbacks.lock``.  Framework-free:
each host says where the directory is (standalone: ``LEDGER_APP_SPOOL_DIR``, default a ``spool``
folder beside the SQLite file or in the working directory; a bench: the site's ``private/spool``).

- ``append`` writes one entry under an exclusive ``flock`` of the lock file (threads and processes
  of a host share one spool safely), then ``fsync``s the file before it returns: an entry that was
  answered Success is on disk.
- ``replay`` (one replayer at a time: a second one returns at once) hands each entry not yet
  replayed to the caller's function in the order they were appended, and records after each how far
  it got; it stops at the first entry whose function raises (the database went away again), so
  order is kept.  Once every entry is replayed the file is emptied.  An entry can be handed over
  again after a crash between its work and the recorded offset: the function must be idempotent
  (a confirmation is, by its TransID and by its Callback Log row named after the entry).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from ledger_app.db.rows import new_name

_FILE, _DONE, _LOCK = "callbacks.jsonl", "callbacks.done", "callbacks.lock"


@dataclass(frozen=True)
class Entry:
	"""One spooled callback: what its Callback Log row and its processing need."""

	id: str  # the Callback Log row's name when replayed
	endpoint: str
	body: bytes
	headers: dict
	remote_addr: str | None
	received_at: str  # ISO datetime, business time
	token_checked: bool  # the token was compared with the configured one before spooling
	token_hash: str | None = None  # sha256 of the token sent, when it could not be compared then

	def to_line(self) -> bytes:
		values = asdict(self)
		values["body"] = base64.b64encode(self.body).decode("ascii")
		return (json.dumps(values, sort_keys=True) + "\n").encode("utf-8")

	@classmethod
	def from_line(cls, line: bytes) -> Entry:
		values = json.loads(line)
		values["body"] = base64.b64decode(values["body"])
		return cls(**values)


class Spool:
	def __init__(self, directory: str):
		self.directory = str(directory)
		self.path = os.path.join(self.directory, _FILE)
		self._replaying = threading.Lock()  # one replayer per process; flock keeps other processes out

	# --- writing ----------------------------------------------------------------------------
	def append(self, endpoint: str, body: bytes, headers: dict, remote_addr: str | None, received_at: str, *,
			token_checked: bool, token_hash: str | None = None, name: str | None = None) -> Entry:
		"""Append one callback and make it durable (``fsync``) before returning it.  ``name``: the
		Callback Log row already written for it, if any (the replay finishes that row)."""
		entry = Entry(name or new_name(), endpoint, body, headers, remote_addr, received_at, token_checked, token_hash)
		with self._locked(fcntl.LOCK_EX):
			created = not os.path.exists(self.path)
			fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
			try:
				os.write(fd, entry.to_line())
				os.fsync(fd)
			finally:
				os.close(fd)
			if created:  # the new file's directory entry must be durable too
				directory = os.open(self.directory, os.O_RDONLY)
				try:
					os.fsync(directory)
				finally:
					os.close(directory)
		return entry

	# --- reading ----------------------------------------------------------------------------
	def pending(self) -> bool:
		"""Whether entries wait to be replayed (a ``stat`` or two: cheap enough for every request)."""
		try:
			size = os.path.getsize(self.path)
		except FileNotFoundError:
			return False
		return size > self._done()

	def entries(self) -> list[Entry]:
		"""Every entry not yet replayed, in order."""
		return [entry for _, entry in self._unreplayed()]

	def replay(self, handle: Callable[[Entry], None], limit: int | None = None) -> int:
		"""Hand every unreplayed entry (at most ``limit``) to ``handle`` in order; the number handled.
		Returns 0 at once when another thread or process is replaying; stops at (and re-raises) the
		first failure."""
		if not self._replaying.acquire(blocking=False):
			return 0
		try:
			with self._locked(fcntl.LOCK_EX | fcntl.LOCK_NB, name=_LOCK + ".replay") as got:
				if not got:
					return 0
				handled = 0
				for end, entry in self._unreplayed()[:limit]:
					handle(entry)
					self._set_done(end)
					handled += 1
				self._truncate_if_done()
				return handled
		finally:
			self._replaying.release()

	def _unreplayed(self):
		"""(offset after it, entry) for each complete line past the replayed offset."""
		done = self._done()
		try:
			with open(self.path, "rb") as file:
				file.seek(done)
				data = file.read()
		except FileNotFoundError:
			return []
		found, offset = [], done
		for line in data.splitlines(keepends=True):
			if not line.endswith(b"\n"):
				break  # an append in progress (appends are whole lines, this is only a torn read)
			offset += len(line)
			found.append((offset, Entry.from_line(line)))
		return found

	def _done(self) -> int:
		try:
			with open(os.path.join(self.directory, _DONE)) as file:
				return int(file.read().strip() or 0)
		except (FileNotFoundError, ValueError):
			return 0

	def _set_done(self, offset: int) -> None:
		"""Record the replayed offset (atomically: write a new file, rename it over the old one)."""
		target = os.path.join(self.directory, _DONE)
		temporary = f"{target}.{os.getpid()}.tmp"
		with open(temporary, "w") as file:
			file.write(str(offset))
			file.flush()
			os.fsync(file.fileno())
		os.replace(temporary, target)

	def _truncate_if_done(self) -> None:
		"""Empty the file once every entry in it was replayed (under the append lock, so no entry
		appended meanwhile is lost)."""
		with self._locked(fcntl.LOCK_EX):
			try:
				size = os.path.getsize(self.path)
			except FileNotFoundError:
				return
			if size and size == self._done():
				self._set_done(0)  # first: a crash before the truncate replays entries again, never skips one
				os.truncate(self.path, 0)

	@contextmanager
	def _locked(self, mode: int, name: str = _LOCK):
		os.makedirs(self.directory, mode=0o700, exist_ok=True)
		fd = os.open(os.path.join(self.directory, name), os.O_RDWR | os.O_CREAT, 0o600)
		try:
			try:
				fcntl.flock(fd, mode)
			except BlockingIOError:
				yield False
				return
			try:
				yield True
			finally:
				fcntl.flock(fd, fcntl.LOCK_UN)
		finally:
			os.close(fd)
