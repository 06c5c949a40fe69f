"""Durable state for `--data FILE`: a TinyDB snapshot plus a write-ahead log, `FILE.journal`
(the docs call it the journal; in the code it is the write-ahead log, so that "journal" means
the request journal only).

TinyDB rewrites its whole file on every write, so writing each change into it
would make a request cost grow with the number of stored orders. Instead each
change is appended as one JSON line to the log before it is made (it survives the
process being killed), and the TinyDB file is rewritten from memory only when the log
has grown past the size of the data, at a graceful stop, and at a start-up that
replayed a log. The rewrite goes to a temporary file that replaces FILE atomically,
so FILE is never half-written, and a log is emptied only once FILE holds its changes.

While the server runs, the rewrite happens in the background: the log is first
moved aside to `FILE.journal.1` and new changes go to a fresh `FILE.journal`; the
moved one is deleted once FILE holds its changes. Start-up replays both, in order
(replaying changes FILE already holds gives the same orders).

Start-up refuses (StartupError, one line, no file touched) files it cannot use: a folder
or file it cannot write, a snapshot that is not one, and a log line that is not a
change record. The one exception is a log's last line cut off by a crash: its change
was never acknowledged, so it is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from simulator.errors import StartupError, StorageFailed

ORDERS = "orders"
REASONS: dict[int | None, str] = {
    errno.ENOSPC: "the disk is full",
    errno.EFBIG: "the file has reached its size limit",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "it is not writable",
    errno.EPERM: "it is not writable",
    errno.EROFS: "it is on a read-only file system",
}
ACCESS: dict[int | None, str] = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "it is on a read-only file system",
}
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError)  # a record `read` cannot rebuild
RESTORE = "put back a good copy, or move it and its .journal files aside to start with no orders"


class WriteAheadLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.log_path = self.path.with_name(self.path.name + ".journal")
        self.moved_path = self.path.with_name(self.path.name + ".journal.1")
        self.entries = 0
        self._writer: threading.Thread | None = None

    def load(self, read: Callable[[dict], object] = dict) -> dict[str, object]:
        """Every stored order, made by `read` from its record, by storage key: the snapshot,
        then the logs replayed (`entries` counts their lines). StartupError, with nothing
        changed, when the files cannot be used."""
        self._check_usable()
        records = self._read_snapshot(read)
        for path in (self.moved_path, self.log_path):
            if path.exists():
                self.entries += _replay(path, records, read)
        return records

    def append(self, put: list[dict], remove: list[str]) -> None:
        """Write one change before it is made; it is with the OS (safe from a crash) when this
        returns. When the write fails, what it left is cut off again and StorageFailed is raised."""
        line = (json.dumps({"put": put, "remove": remove}, separators=(",", ":")) + "\n").encode()
        try:
            _append(self.log_path, line)
        except OSError as error:
            raise StorageFailed(
                f"The simulator could not save this change to its data file "
                f"({_reason(error)}); nothing was changed. Retry once that is fixed."
            ) from None
        self.entries += 1

    def compact(self, records: list[dict]) -> None:
        """Rewrite the snapshot from `records` (every order) now, then empty the logs
        (OSError, the logs kept, when the snapshot cannot be written)."""
        self.wait()
        self._write_snapshot(records)
        self.moved_path.unlink(missing_ok=True)
        self.log_path.write_text("", encoding="utf-8")
        self.entries = 0

    def compact_at_start(self, records: list[dict]) -> None:
        """`compact`, refusing to start when it fails: new changes must not follow a torn line."""
        try:
            self.compact(records)
        except OSError as error:
            raise StartupError(
                f"could not rewrite {self.path} ({_reason(error)}); nothing was lost: "
                f"make room or fix its permissions, then start again"
            ) from None

    def compact_at_stop(self, records: list[dict]) -> None:
        """`compact`, saying so when it fails: the logs still hold every change."""
        try:
            self.compact(records)
        except OSError as error:
            warn(
                f"could not rewrite {self.path} at this stop ({_reason(error)}); nothing was lost: "
                f"{self.log_path} keeps the changes, and the next start replays them"
            )

    def sync(self) -> None:
        """Flush the logs to the disk (fsync): what a stop does instead of a rewrite that
        would take long; the next start replays them and rewrites the snapshot."""
        for path in (self.moved_path, self.log_path):
            try:
                with path.open("rb") as log:
                    os.fsync(log.fileno())
            except FileNotFoundError:
                continue
            except OSError as error:
                warn(f"could not flush {path} to the disk at this stop ({_reason(error)})")

    def compact_in_background(self, records: Callable[[], list[dict]]) -> None:
        """Move the log aside and, in a thread, rewrite the snapshot from `records()`.
        The caller holds the store's lock: the moved log ends where the orders that
        `records` turns into dicts were taken (they are never changed in place). A failure
        is told on stderr; the logs keep every change until a later rewrite succeeds."""
        if self._writer is not None and self._writer.is_alive():
            return  # the previous rewrite is still going; the log keeps growing till then
        self.entries = 0  # after a failure too: the next try comes as many changes later
        try:
            self._move_log_aside()
        except OSError as error:
            warn(
                f"could not start rewriting {self.path} ({_reason(error)}); nothing was lost: "
                f"{self.log_path} keeps the changes"
            )
            return
        # a daemon: a stop need not wait for it (a rewrite cut short leaves the moved log, replayed at start)
        self._writer = threading.Thread(
            target=self._write_in_background, args=(records,), name="cm-sim-snapshot", daemon=True
        )
        self._writer.start()

    def wait(self) -> None:
        """Wait for a rewrite in the background to finish."""
        if self._writer is not None:
            self._writer.join()

    # -- start-up ----------------------------------------------------------

    def _check_usable(self) -> None:
        """The folder exists and takes new files; FILE and its logs, where they exist,
        are files that can be read and written."""
        folder = self.path.parent
        if not folder.is_dir():
            raise StartupError(
                f"the folder of the data file, {folder}, does not exist: "
                f"create it, or give --data a file in an existing folder"
            )
        _check_creatable(folder)
        for path in (self.path, self.moved_path, self.log_path):
            if path.is_dir():
                raise StartupError(f"{path} is a folder, not a data file: give --data the name of a file")
            if path.exists():
                _check_read_write(path)

    def _read_snapshot(self, read: Callable[[dict], object]) -> dict[str, object]:
        records = {}
        for stored_as, record in _orders_table(self.path).items():
            try:
                records[storage_key(record)] = read(record)
            except UNREADABLE:
                raise StartupError(
                    f'{self.path}: the order stored as "{stored_as}" cannot be read (a field '
                    f"is missing or has the wrong type): {RESTORE}, then start again"
                ) from None
        return records

    # -- rewriting -----------------------------------------------------------

    def _move_log_aside(self) -> None:
        """Start a fresh log. The moved one takes the changes not yet in the snapshot: an
        earlier rewrite that failed left its changes there, so these are added after them."""
        if self.moved_path.exists():
            _append(self.moved_path, self.log_path.read_bytes())
            self.log_path.unlink()
        else:
            os.replace(self.log_path, self.moved_path)

    def _write_in_background(self, records: Callable[[], list[dict]]) -> None:
        try:
            self._write_snapshot(records())
            self.moved_path.unlink()
        except OSError as error:
            warn(
                f"could not rewrite {self.path} in the background ({_reason(error)}); nothing was lost: "
                f"{self.moved_path} keeps the changes for the next rewrite"
            )

    def _write_snapshot(self, records: list[dict]) -> None:
        from tinydb import TinyDB  # only persistent runs pay for the import

        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.unlink(missing_ok=True)
            with TinyDB(temporary) as db:
                db.table(ORDERS).insert_multiple(records)
            with temporary.open("rb+") as written:
                os.fsync(written.fileno())
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise


def _check_creatable(folder: Path) -> None:
    try:
        descriptor, name = tempfile.mkstemp(prefix=".cm-sim-check-", dir=folder)
        os.close(descriptor)
        os.unlink(name)
    except OSError as error:
        raise StartupError(
            f"cannot create files in {folder} ({_reason(error)}): the data file is rewritten "
            f"there; make the folder writable, or give --data a file elsewhere"
        ) from None


def _check_read_write(path: Path) -> None:
    """Open the file for reading and appending, writing nothing."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_APPEND))
    except OSError as error:
        raise StartupError(
            f"{path} cannot be opened for reading and writing ({_access(error)}): give the user "
            f"running cm-sim read and write access to it, or give --data another file"
        ) from None


def _orders_table(path: Path) -> dict:
    """The snapshot's records by TinyDB document id ({} when there is no snapshot yet)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise StartupError(
            f"{path} cannot be read ({_access(error)}): give the user running cm-sim "
            f"read and write access to it, or give --data another file"
        ) from None
    if not text.strip():
        return {}  # created empty: no orders yet
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise StartupError(
            f"{path} is not valid JSON (cut short, damaged, or not a simulator data file): {RESTORE}, then start again"
        ) from None
    table = data.get(ORDERS, {}) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not all(isinstance(record, dict) for record in table.values()):
        raise StartupError(
            f"{path} is not a simulator data file (it holds no table of orders): {RESTORE}, then start again"
        )
    return table


def _replay(path: Path, records: dict[str, object], read: Callable[[dict], object]) -> int:
    """Apply a log's changes to `records`; how many lines it has. A last line without its
    newline was cut off by a crash: it was never acknowledged, so it is skipped (and counted:
    start-up then rewrites the snapshot, so no new change is appended after it)."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as error:
        raise StartupError(
            f"{path} cannot be read ({_access(error)}): give the user running cm-sim read and write access to it"
        ) from None
    torn = lines.pop()  # what follows the last newline
    for number, line in enumerate(lines, 1):
        if line.strip():
            put, remove = _change(path, number, line, read)
            for key in remove:
                records.pop(key, None)
            records.update(put)
    if torn:
        warn(f"{path} line {len(lines) + 1} was cut off by a crash (a change that was never acknowledged): skipped")
    return len(lines) + bool(torn)


def _change(path: Path, number: int, line: bytes, read) -> tuple[list[tuple[str, object]], list[str]]:
    """A log line's orders to put, by storage key, and storage keys to remove."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        raise _damaged(path, number, "is not valid JSON") from None
    if not _is_change(entry):
        raise _damaged(path, number, "is not a change record")
    try:
        return [(storage_key(record), read(record)) for record in entry["put"]], entry["remove"]
    except UNREADABLE:
        raise _damaged(path, number, "holds an order that cannot be read") from None


def _is_change(entry) -> bool:
    return (
        isinstance(entry, dict)
        and set(entry) == {"put", "remove"}
        and isinstance(entry["put"], list)
        and all(isinstance(record, dict) for record in entry["put"])
        and isinstance(entry["remove"], list)
        and all(isinstance(key, str) for key in entry["remove"])
    )


def _damaged(path: Path, number: int, problem: str) -> StartupError:
    return StartupError(
        f"{path} line {number} {problem}: remove that line (losing that change) or the "
        f"whole file (losing the changes since the last snapshot), then start again"
    )


def _append(path: Path, data: bytes) -> None:
    """Append `data` whole, or leave the file as it was (a torn write is cut off again)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        end = os.lseek(descriptor, 0, os.SEEK_END)
        try:
            view, written = memoryview(data), 0
            while written < len(data):
                written += os.write(descriptor, view[written:])
        except OSError:
            os.ftruncate(descriptor, end)
            raise
    finally:
        os.close(descriptor)


def _reason(error: OSError) -> str:
    return REASONS.get(error.errno, "a write to it failed")


def _access(error: OSError) -> str:
    return ACCESS.get(error.errno, "the system refused")


def warn(message: str) -> None:
    """One line on standard error (a warning that cannot be written is dropped)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"cm-sim: {message}", file=sys.stderr, flush=True)


def storage_key(record: dict) -> str:
    """The key of an order record: its namespace and id."""
    return json.dumps([*record["namespace"], record["order_id"]])
