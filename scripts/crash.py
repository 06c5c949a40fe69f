"""make crash: `cm-sim serve --data FILE` under concurrent create/confirm/cancel load, killed
with SIGKILL CRASH_ROUNDS times (default 5; at a random moment, or every other round while the
snapshot is rewritten in the background), then once stopped with SIGTERM under load. After each stop it starts again on the same file, which must load, with every
acknowledged change in it (an order whose call got no answer may or may not be there, but
consistent), unique ticket numbers and capacity in use matching the tickets. Exits non-zero
on failure."""
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

from loadkit import (DEMO, PLAIN, Client, Server, StartFailed, Stats, Track, Tracks, order_body,
                     order_json_problems, report, store_problems)

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "5"))
CLIENTS = int(os.environ.get("CRASH_CLIENTS", "6"))
RUN = uuid.uuid4().hex[:6].upper()
REWRITE_WAIT = 30  # seconds of load to wait for the journal to outgrow the data
SERIAL = itertools.count(1)  # references unique across threads and rounds


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
        elif answer is not None:
            self.stats.problem(f"create {reference}: {answer.status} {answer.body}")

    def confirm(self, track: Track):
        answer = self.client.call("POST", f"/{track.order_id}/confirm", {"paymentReference": "PAY-CONFIRMED"})
        if answer is None:
            track.maybe.add("Issued")
        elif answer.status == 200:
            self.acknowledged(track, answer.body)
        else:
            self.stats.problem(f"confirm {track.order_id}: {answer.status} {answer.body}")

    def cancel(self, track: Track):
        answer = self.client.call("DELETE", f"/{track.order_id}")
        gone = track.status == "Draft"  # a Draft's row is removed; an Issued order stays, Cancelled
        if answer is None:
            track.maybe.add("gone" if gone else "Cancelled")
        elif answer.status == 200:
            track.settle(*((None, None) if gone else (track.order_id, "Cancelled")))
        else:
            self.stats.problem(f"cancel {track.order_id}: {answer.status} {answer.body}")

    def acknowledged(self, track: Track, order: dict):
        for problem in order_json_problems(order):
            self.stats.problem(f"answer: {problem}")
        track.acknowledge(order)


def load_then_stop(server: Server, data: Path, tracks: Tracks, how: str, rng: random.Random) -> tuple[Stats, str]:
    """Put the server under load and stop it: `how` is "kill" (SIGKILL at a random moment),
    "kill-in-rewrite" (SIGKILL while the snapshot is rewritten in the background, which the
    journal moved aside to FILE.journal.1 shows) or "term" (SIGTERM at a random moment)."""
    stats, stop = Stats(), threading.Event()
    mine = [[] for _ in range(CLIENTS)]
    workers = [Worker(i, server.port, stats, tracks, mine[i], stop) for i in range(CLIENTS)]
    for worker in workers:
        worker.start()
    moment = "at a random moment"
    if how == "kill-in-rewrite":
        moved = data.with_name(data.name + ".journal.1")
        deadline = time.monotonic() + REWRITE_WAIT
        while not moved.exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        moment = "during a snapshot rewrite" if moved.exists() else f"(no snapshot rewrite within {REWRITE_WAIT} s)"
    else:
        time.sleep(rng.uniform(0.5, 4.0))
    if how == "term":
        code, took = server.terminate()
        outcome = f"SIGTERM {moment}: exit {code} in {took:.1f} s"
        if code != 0:
            stats.problem(outcome)
    else:
        server.kill()
        outcome = f"SIGKILL {moment}"
    stop.set()
    for worker in workers:
        worker.join()
    return stats, outcome


def check_restart(data: Path, log: Path, tracks: Tracks) -> tuple[Server | None, list[str]]:
    """Start on the same file; the problems with what it holds."""
    try:
        server = Server(data, log)
    except StartFailed as failure:
        return None, [f"the server did not come up on {data}: {failure}"]
    state = server.state()
    problems = tracks.settle_all(state, f"CRASH-{RUN}-")
    problems += store_problems(state, server.capacity_in_use())
    problems += [f"stderr: {line}" for line in server.errors().splitlines() if "Traceback" in line or "Error" in line]
    return server, problems


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="cm-sim-crash-"))
    data = folder / "state.json"
    rng = random.Random()
    tracks = Tracks()
    server = Server(data, folder / "server-0.log")
    print(f"crash: {ROUNDS} rounds of SIGKILL under load, then one of SIGTERM; {CLIENTS} clients; data {data}")
    passed = True
    try:
        for round_no in range(1, ROUNDS + 2):
            how = "term" if round_no == ROUNDS + 1 else "kill-in-rewrite" if round_no % 2 == 0 else "kill"
            stats, outcome = load_then_stop(server, data, tracks, how, rng)
            acknowledged = sum(1 for t in tracks.by_reference.values() if t.definite and t.order_id)
            unsure = sum(1 for t in tracks.by_reference.values() if not t.definite)  # no answer, or a 400 create
            server, problems = check_restart(data, folder / f"server-{round_no}.log", tracks)
            stored = sum(1 for t in tracks.by_reference.values() if t.order_id)
            calls = sum(v for k, v in stats.counts.items() if k[0].isdigit())
            passed &= report(f"round {round_no} ({outcome}): {calls} answered calls, {acknowledged} acknowledged orders, "
                             f"{unsure} unsure; after restart {stored} stored, "
                             f"{dict(tracks.counts())}", stats.problems + problems)
            if server is None:
                break
        if server is not None:
            code, took = server.terminate()
            passed &= report(f"final graceful stop: exit {code} in {took:.1f} s", [] if code == 0 else [f"exit {code}"])
    finally:
        if server is not None and server.process.poll() is None:
            server.kill()
    print(f"crash: {'PASS' if passed else 'FAIL'}" + ("" if passed else f" (files in {folder})"))
    if passed:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
