"""Durable state for `--data FILE`: a TinyDB snapshot plus an append-only journal.

TinyDB rewrites its whole file on every write, so writing each change into it
would make a request cost grow with the number of stored orders. Instead each
committed change is appended as one JSON line to `FILE.journal` before the
response is sent (it survives the process being killed), and the TinyDB file is
rewritten from memory only when the journal has grown past the size of the data,
at a graceful stop, and at a start-up that replayed a journal. The rewrite goes to a
temporary file that replaces FILE atomically, so FILE is never half-written.

While the server runs, the rewrite happens in the background: the journal is first
moved aside to `FILE.journal.1` and new changes go to a fresh `FILE.journal`; the
moved one is deleted once FILE holds its changes. Start-up replays both, in order
(replaying changes FILE already holds gives the same orders).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from simulator.errors import StorageFailed

ORDERS = "orders"
REASONS = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file has reached its size limit",
           errno.EDQUOT: "the disk quota is used up", errno.EACCES: "it is not writable",
           errno.EPERM: "it is not writable", errno.EROFS: "it is on a read-only file system"}


class Journal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.moved_path = self.path.with_name(self.path.name + ".journal.1")
        self.entries = 0
        self._writer: threading.Thread | None = None

    def load(self) -> dict[str, dict]:
        """Return every stored order record by storage key, snapshot then journals replayed
        (`entries` counts what was replayed)."""
        from tinydb import TinyDB  # only persistent runs pay for the import

        records: dict[str, dict] = {}
        if self.path.exists() and self.path.stat().st_size:
            with TinyDB(self.path, access_mode="r") as db:
                for record in db.table(ORDERS).all():
                    records[storage_key(record)] = dict(record)
        for path in (self.moved_path, self.journal_path):
            if path.exists():
                self.entries += _replay(path, records)
        return records

    def append(self, put: list[dict], remove: list[str]) -> None:
        """Write one change before it is made; it is with the OS (safe from a crash) when this
        returns. When the write fails, what it left is cut off again and StorageFailed is raised."""
        line = (json.dumps({"put": put, "remove": remove}, separators=(",", ":")) + "\n").encode()
        try:
            _append(self.journal_path, line)
        except OSError as error:
            raise StorageFailed(f"The simulator could not save this change to its data file "
                                f"({_reason(error)}); nothing was changed. Retry once that is fixed.") from None
        self.entries += 1

    def compact(self, records: list[dict]) -> None:
        """Rewrite the snapshot from `records` (every order) now, and empty the journals."""
        self.wait()
        self._write_snapshot(records)
        self.moved_path.unlink(missing_ok=True)
        self.journal_path.write_text("", encoding="utf-8")
        self.entries = 0

    def compact_in_background(self, records: Callable[[], list[dict]]) -> None:
        """Move the journal aside and, in a thread, rewrite the snapshot from `records()`.
        The caller holds the store's lock: the moved journal ends where the orders that
        `records` turns into dicts were taken (they are never changed in place)."""
        if self._writer is not None and self._writer.is_alive():
            return  # the previous rewrite is still going; the journal keeps growing till then
        if self.moved_path.exists():  # an earlier rewrite failed: its changes stay first
            with self.journal_path.open("rb") as journal, self.moved_path.open("ab") as moved:
                shutil.copyfileobj(journal, moved)
            self.journal_path.unlink()
        else:
            os.replace(self.journal_path, self.moved_path)
        self.entries = 0

        def write() -> None:
            self._write_snapshot(records())
            self.moved_path.unlink()

        self._writer = threading.Thread(target=write, name="cm-sim-snapshot")
        self._writer.start()

    def wait(self) -> None:
        """Wait for a rewrite in the background to finish."""
        if self._writer is not None:
            self._writer.join()

    def _write_snapshot(self, records: list[dict]) -> None:
        from tinydb import TinyDB

        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.unlink(missing_ok=True)
        with TinyDB(temporary) as db:
            db.table(ORDERS).insert_multiple(records)
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, self.path)


def _replay(path: Path, records: dict[str, dict]) -> int:
    """Apply a journal's changes to `records`; how many lines it has (a torn one counts:
    start-up then rewrites the snapshot, so no new change is appended after it)."""
    count = 0
    with path.open(encoding="utf-8") as journal:
        for line in journal:
            count += 1
            try:
                entry = json.loads(line)
            except ValueError:
                break  # a line torn by a crash: it was never acknowledged
            for key in entry.get("remove", []):
                records.pop(key, None)
            for record in entry.get("put", []):
                records[storage_key(record)] = record
    return count


def _append(path: Path, line: bytes) -> None:
    """Append `line` whole, or leave the file as it was (a torn write is cut off again)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        end = os.lseek(descriptor, 0, os.SEEK_END)
        try:
            written = 0
            while written < len(line):
                written += os.write(descriptor, line[written:])
        except OSError:
            os.ftruncate(descriptor, end)
            raise
    finally:
        os.close(descriptor)


def _reason(error: OSError) -> str:
    return REASONS.get(error.errno, "a write to it failed")


def storage_key(record: dict) -> str:
    """The key of an order record: its namespace and id."""
    return json.dumps([*record["namespace"], record["order_id"]])
