"""make crash: `cm-sim serve --data FILE` under concurrent create/confirm/cancel load, killed
with SIGKILL CRASH_ROUNDS times (default 5; at a random moment, or every other round while the
snapshot is rewritten in the background), then once after a full disk (its files may grow only a
little: changes answer 503, which the clients take as not made, until the room comes back and the
load goes on), once while a large import (`PUT /_sim/state`) is written, and then stopped with
SIGTERM under load. After each stop it starts again on the same file, which must load, with every
acknowledged change in it (an order whose call got no answer may or may not be there, but
consistent; an import all there or not at all), unique ticket numbers and capacity in use matching
the tickets, and the stopped server must have printed no traceback. Exits non-zero on failure."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from loadkit import (
    DEMO,
    PLAIN,
    REFUSED,
    TENANT,
    Client,
    Server,
    StartFailed,
    Stats,
    Track,
    Tracks,
    imported_order,
    order_body,
    order_json_problems,
    report,
    store_problems,
)

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "5"))
CLIENTS = int(os.environ.get("CRASH_CLIENTS", "6"))
RUN = uuid.uuid4().hex[:6].upper()
REWRITE_WAIT = 30  # seconds of load to wait for the journal to outgrow the data
FULL_DISK_ROOM = 64 * 1024  # bytes the data files may still grow by when the disk is "full"
FULL_DISK_REFUSALS = 20  # changes answered 503 before the room comes back
FULL_DISK_WAIT = 30  # seconds to wait for them
IMPORT_ORDERS = 5000
IMPORT_NAMESPACE = [TENANT, "production", f"CRASH IMPORT {RUN}"]  # apart from the load's orders
IMPORT_JUMP = 256 * 1024  # the journal growing this much between two looks: the import is being written
SERIAL = itertools.count(1)  # references unique across threads and rounds
NOT_SAVED = "not saved (503)"  # the count of changes answered 503 because they could not be saved


class Worker(threading.Thread):
    """Creates (Issued or Draft), confirms its Drafts and cancels its orders, as fast as it can,
    until told to stop; a call that got no answer leaves its possible outcome on the track."""

    def __init__(self, index: int, port: int, stats: Stats, tracks: Tracks, mine: list[Track], stop: threading.Event):
        super().__init__(name=f"crash-{index}")
        self.index = index
        self.client = Client(port, stats)
        self.stats = stats
        self.tracks = tracks
        self.mine = mine
        self.stop = stop
        self.rng = random.Random()

    def run(self):
        while not self.stop.is_set():
            roll = self.rng.random()
            track = self.pick()
            if roll < 0.6 or track is None:
                self.create()
            elif track.status == "Draft" and roll < 0.85:
                self.confirm(track)
            else:
                self.cancel(track)
            if self.client.connection is None:  # no answer: the server may be gone; do not spin
                time.sleep(0.05)
        self.client.close()

    def pick(self) -> Track | None:
        candidates = [t for t in self.mine[-100:] if t.definite and t.order_id and t.status in ("Draft", "Issued")]
        return self.rng.choice(candidates) if candidates else None

    def create(self):
        reference = f"CRASH-{RUN}-{next(SERIAL)}"
        partner = DEMO if self.rng.random() < 0.8 else PLAIN
        track = self.tracks.new(reference, partner)
        self.mine.append(track)
        answer = self.client.call("POST", "", order_body(self.rng, reference, partner, paid=self.rng.random() < 0.5))
        if answer is not None and answer.status == 201:
            self.acknowledged(track, answer.body)
        elif answer is not None and answer.status == 400:
            track.maybe.add("Error")  # issuance failed (a tour slot full, a Monday): stored in Error
        elif refused(answer, self.stats):
            track.refuse()
        elif answer is not None:
            self.stats.problem(f"create {reference}: {answer.status} {answer.body}")

    def confirm(self, track: Track):
        answer = self.client.call("POST", f"/{track.order_id}/confirm", {"paymentReference": "PAY-CONFIRMED"})
        if answer is None:
            track.maybe.add("Issued")
        elif answer.status == 200:
            self.acknowledged(track, answer.body)
        elif not refused(answer, self.stats):
            self.stats.problem(f"confirm {track.order_id}: {answer.status} {answer.body}")

    def cancel(self, track: Track):
        answer = self.client.call("DELETE", f"/{track.order_id}")
        gone = track.status == "Draft"  # a Draft's row is removed; an Issued order stays, Cancelled
        if answer is None:
            track.maybe.add("gone" if gone else "Cancelled")
        elif answer.status == 200:
            track.settle(*((None, None) if gone else (track.order_id, "Cancelled")))
        elif not refused(answer, self.stats):
            self.stats.problem(f"cancel {track.order_id}: {answer.status} {answer.body}")

    def acknowledged(self, track: Track, order: dict):
        for problem in order_json_problems(order):
            self.stats.problem(f"answer: {problem}")
        track.acknowledge(order)


def refused(answer, stats: Stats) -> bool:
    """503: the change was not made (it could not be saved, or the server was stopping)."""
    if answer is None or f"{answer.status} {answer.code}" != REFUSED:
        return False
    if "could not save" in answer.body.get("message", ""):
        stats.count(NOT_SAVED)
    return True


class Imports:
    """What the imports into IMPORT_NAMESPACE left: how many of its orders may be stored."""

    def __init__(self):
        self.allowed = {0}

    def sent(self, answer_status: int | None) -> None:
        self.allowed = {IMPORT_ORDERS} if answer_status == 200 else self.allowed | {IMPORT_ORDERS}

    def settle(self, state: dict) -> list[str]:
        """Compare with the stored state (then take it as the truth)."""
        stored = sum(1 for order in state["orders"] if order["namespace"] == IMPORT_NAMESPACE)
        problems = (
            []
            if stored in self.allowed
            else [
                f"{stored} imported orders stored, expected {' or '.join(map(str, sorted(self.allowed)))} "
                f"(an import is all there or not at all)"
            ]
        )
        self.allowed = {stored}
        return problems


def load_then_stop(
    server: Server, data: Path, tracks: Tracks, imports: Imports, how: str, rng: random.Random
) -> tuple[Stats, str]:
    """Put the server under load and stop it as `how` says (see STOPS)."""
    stats, stop = Stats(), threading.Event()
    mine = [[] for _ in range(CLIENTS)]
    workers = [Worker(i, server.port, stats, tracks, mine[i], stop) for i in range(CLIENTS)]
    for worker in workers:
        worker.start()
    outcome = STOPS[how](server, data, stats, imports, rng)
    stop.set()
    for worker in workers:
        worker.join()
    if how != "disk-full" and stats.counts[NOT_SAVED]:
        stats.problem(f"{stats.counts[NOT_SAVED]} changes could not be saved with room on the disk")
    stats.problems += [f"stopped server: {line}" for line in server.errors().splitlines() if "Traceback" in line]
    return stats, outcome


def kill_at_random(server: Server, data: Path, stats: Stats, imports: Imports, rng: random.Random) -> str:
    time.sleep(rng.uniform(0.5, 4.0))
    server.kill()
    return "SIGKILL at a random moment"


def kill_in_rewrite(server: Server, data: Path, stats: Stats, imports: Imports, rng: random.Random) -> str:
    """SIGKILL while the snapshot is rewritten in the background."""
    moment = _wait_for_a_rewrite(data)
    time.sleep(rng.uniform(0, 0.05))
    server.kill()
    return f"SIGKILL {moment}"


def kill_after_a_full_disk(server: Server, data: Path, stats: Stats, imports: Imports, rng: random.Random) -> str:
    """Once a snapshot rewrite begins, let the files grow only FULL_DISK_ROOM more bytes until
    FULL_DISK_REFUSALS changes were answered 503, give the room back, let the load go on, then SIGKILL."""
    moment = _wait_for_a_rewrite(data)
    server.limit_file_size(_size(data.with_name(data.name + ".journal")) + FULL_DISK_ROOM)
    deadline = time.monotonic() + FULL_DISK_WAIT
    while stats.counts[NOT_SAVED] < FULL_DISK_REFUSALS and time.monotonic() < deadline:
        time.sleep(0.01)
    server.limit_file_size(None)
    refusals, acknowledged = stats.counts[NOT_SAVED], stats.counts["201"]
    if refusals < FULL_DISK_REFUSALS:
        stats.problem(f"only {refusals} changes answered 503 within {FULL_DISK_WAIT} s of the disk filling up")
    time.sleep(rng.uniform(0.5, 2.0))
    if stats.counts["201"] == acknowledged:
        stats.problem("no create was acknowledged once the disk had room again")
    server.kill()
    told = sum(1 for line in server.errors().splitlines() if line.startswith("cm-sim: could not"))
    return (
        f"SIGKILL after the disk was full {moment}: {refusals} changes answered 503, {told} failed rewrites told, "
        f"then room again"
    )


def _wait_for_a_rewrite(data: Path) -> str:
    """Wait until the snapshot is being rewritten in the background (the journal moved aside to
    FILE.journal.1 shows it), at most REWRITE_WAIT seconds; when, in words."""
    moved = data.with_name(data.name + ".journal.1")
    deadline = time.monotonic() + REWRITE_WAIT
    while not moved.exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    return "during a snapshot rewrite" if moved.exists() else f"(no snapshot rewrite within {REWRITE_WAIT} s)"


def kill_in_import(server: Server, data: Path, stats: Stats, imports: Imports, rng: random.Random) -> str:
    """SIGKILL during an import of IMPORT_ORDERS orders: half the time while it is written to the
    journal (as soon as the journal jumps in size), else at a random moment of the call."""
    time.sleep(rng.uniform(0.3, 1.0))
    state = {
        "orders": [
            imported_order(IMPORT_NAMESPACE, f"IMPORT-{RUN}-{n}", str(uuid.uuid4())) for n in range(IMPORT_ORDERS)
        ]
    }
    answers = []
    sender = threading.Thread(target=lambda: answers.append(server.control("PUT", "/_sim/state", state)[0]))
    sender.start()
    if rng.random() < 0.5:
        written = _wait_for_a_jump(data.with_name(data.name + ".journal"), sender)
    else:
        sender.join(rng.uniform(0, 1.5))
        written = False
    server.kill()
    sender.join()
    imports.sent(answers[0])
    moment = (
        "while the import was written"
        if written
        else "before the import answered"
        if answers[0] is None
        else f"after the import answered {answers[0]}"
    )
    if answers[0] not in (None, 200):
        stats.problem(f"the import answered {answers[0]}")
    return f"SIGKILL {moment} ({IMPORT_ORDERS} orders)"


def _wait_for_a_jump(journal: Path, sender: threading.Thread) -> bool:
    """Wait until the journal grows by IMPORT_JUMP between two looks (True) or the call ends (False)."""
    last = _size(journal)
    while sender.is_alive():
        size = _size(journal)
        if size - last >= IMPORT_JUMP:
            return True
        last = size
        time.sleep(0.001)
    return False


def terminate(server: Server, data: Path, stats: Stats, imports: Imports, rng: random.Random) -> str:
    time.sleep(rng.uniform(0.5, 4.0))
    code, took = server.terminate()
    outcome = f"SIGTERM at a random moment: exit {code} in {took:.1f} s"
    if code != 0:
        stats.problem(outcome)
    return outcome


STOPS = {
    "kill": kill_at_random,
    "kill-in-rewrite": kill_in_rewrite,
    "disk-full": kill_after_a_full_disk,
    "kill-in-import": kill_in_import,
    "term": terminate,
}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0  # moved aside for a rewrite, a fresh one not yet written


def check_restart(data: Path, log: Path, tracks: Tracks, imports: Imports) -> tuple[Server | None, list[str]]:
    """Start on the same file; the problems with what it holds."""
    try:
        server = Server(data, log)
    except StartFailed as failure:
        return None, [f"the server did not come up on {data}: {failure}"]
    state = server.state()
    problems = tracks.settle_all(state, f"CRASH-{RUN}-")
    problems += imports.settle(state)
    problems += store_problems(state, server.capacity_in_use())
    problems += [f"stderr: {line}" for line in server.errors().splitlines() if "Traceback" in line or "Error" in line]
    return server, problems


def plan() -> list[str]:
    """How each round stops the server: ROUNDS kills (every other one during a snapshot rewrite),
    a kill after a full disk, a kill during an import, then a graceful stop."""
    kills = ["kill-in-rewrite" if n % 2 == 0 else "kill" for n in range(1, ROUNDS + 1)]
    return kills + ["disk-full", "kill-in-import", "term"]


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="cm-sim-crash-"))
    data = folder / "state.json"
    rng = random.Random()
    tracks, imports = Tracks(), Imports()
    server = Server(data, folder / "server-0.log")
    print(
        f"crash: {ROUNDS} rounds of SIGKILL under load, one after a full disk, one during an import of "
        f"{IMPORT_ORDERS} orders, then one of SIGTERM; {CLIENTS} clients; data {data}"
    )
    passed = True
    try:
        for round_no, how in enumerate(plan(), 1):
            stats, outcome = load_then_stop(server, data, tracks, imports, how, rng)
            acknowledged = sum(1 for t in tracks.by_reference.values() if t.definite and t.order_id)
            unsure = sum(1 for t in tracks.by_reference.values() if not t.definite)  # no answer, or a 400 create
            server, problems = check_restart(data, folder / f"server-{round_no}.log", tracks, imports)
            stored = sum(1 for t in tracks.by_reference.values() if t.order_id)
            calls = sum(v for k, v in stats.counts.items() if k[0].isdigit())
            imported = f", {min(imports.allowed)} imported" if how == "kill-in-import" else ""
            passed &= report(
                f"round {round_no} ({outcome}): {calls} answered calls, {acknowledged} acknowledged orders, "
                f"{unsure} unsure; after restart {stored} stored, "
                f"{dict(tracks.counts())}{imported}",
                stats.problems + problems,
            )
            if server is None:
                break
        if server is not None:
            code, took = server.terminate()
            problems = [] if code == 0 else [f"exit {code}"]
            problems += [f"stderr: {line}" for line in server.errors().splitlines() if "Traceback" in line]
            passed &= report(f"final graceful stop: exit {code} in {took:.1f} s", problems)
    finally:
        if server is not None and server.process.poll() is None:
            server.kill()
    print(f"crash: {'PASS' if passed else 'FAIL'}" + ("" if passed else f" (files in {folder})"))
    if passed:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
