"""make soak: `cm-sim serve --data FILE` under mixed traffic with fault rules switched on, for
SOAK_SECONDS (default 600), from SOAK_CLIENTS threads (default 6); then checks that every
acknowledged order is there as acknowledged, that the store is consistent, that no answer
was 5xx but the faults' own 503s, that memory stayed bounded, and that a graceful restart on
the same file brings back the same orders. Exits non-zero on failure."""

from __future__ import annotations

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
    DORMANT,
    PLAIN,
    Client,
    Server,
    Stats,
    Track,
    Tracks,
    order_body,
    order_json_problems,
    orders_by_id,
    report,
    store_problems,
)

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "6"))
PAUSE = 0.02  # mean pause between a client's calls: bounded load on a shared machine
RUN = uuid.uuid4().hex[:6].upper()

# Each partner API call: small latency on some; then at most one of these outcomes (in order).
FAULT_RULES = [
    {"id": "latency", "probability": 0.2, "latency": {"distribution": "lognormal", "median_ms": 2, "sigma": 0.5}},
    {"id": "503", "probability": 0.02, "respond": 503},
    {"id": "429", "probability": 0.02, "respond": 429},
    {"id": "reset", "probability": 0.01, "transport": "reset"},
    {"id": "empty", "probability": 0.01, "transport": "empty_reply"},
    {"id": "truncated", "probability": 0.01, "transport": "truncated"},
    {"id": "hang", "probability": 0.002, "transport": "hang", "hang_seconds": 1},
    {"id": "lost-create", "operation": "create", "probability": 0.03, "lose_response": "reset"},
    {"id": "lost-create-hang", "operation": "create", "probability": 0.005, "lose_response": "hang", "hang_seconds": 1},
    {"id": "lost-confirm", "operation": "confirm", "probability": 0.05, "lose_response": "empty_reply"},
    {"id": "lost-replace", "operation": "replace", "probability": 0.05, "lose_response": "truncated"},
    {"id": "lost-delete", "operation": "delete", "probability": 0.05, "lose_response": "reset"},
    {
        "id": "fail-issuance",
        "operation": "create",
        "probability": 0.03,
        "fail_issuance": "The reservation capacity for {admission} at {visit_date} {slot} has been exceeded.",
    },
    {
        "id": "fail-replace",
        "operation": "replace",
        "probability": 0.05,
        "fail_issuance": "Admission Code {admission} has no available time slots for expected visit date {visit_date}.",
    },
    {
        "id": "reject",
        "operation": "create",
        "probability": 0.01,
        "reject": "Unable to generate a unique pre-assigned ticket number after 10 attempts.",
    },
    {
        "id": "fail-confirm",
        "operation": "confirm",
        "probability": 0.05,
        "fail_confirm": "The ticket reservation could not be confirmed: the reservation request has expired.",
    },
    {"id": "stuck", "operation": "create", "probability": 0.005, "stick_in_processing": True},
]
DROPPING = {rule["id"] for rule in FAULT_RULES if "transport" in rule or "lose_response" in rule}
MAGIC = [
    "SIM-FAIL-NO-SLOT",
    "SIM-FAIL-CAPACITY",
    "SIM-FAIL-PAST-DATE",
    "SIM-FAIL-EXTREF",
    "SIM-FAIL-TICKET-NUMBER",
    "SIM-FAIL-CONFIRM",
    "SIM-STUCK",
    "SIM-LOST-RESPONSE",
    "SIM-LOST-TIMEOUT",
    "SIM-RATE-LIMIT",
    "SIM-UNAVAILABLE",
]
NOTHING_HAPPENED = {(429, "too_many_requests"), (503, "service_unavailable")}


class Worker(threading.Thread):
    def __init__(self, index: int, server: Server, stats: Stats, tracks: Tracks, stop: threading.Event):
        super().__init__(name=f"soak-{index}")
        self.index = index
        self.server = server
        self.client = Client(server.port, stats)
        self.stats = stats
        self.tracks = tracks
        self.stop = stop
        self.rng = random.Random(index)
        self.mine: list[Track] = []
        self.serial = 0

    def run(self):
        actions = [
            (self.create, 30),
            (self.get, 20),
            (self.list_reference, 8),
            (self.confirm, 10),
            (self.replace, 8),
            (self.delete, 8),
            (self.recreate, 3),
            (self.invalid, 6),
            (self.list_processing, 1),
        ]
        while not self.stop.is_set():
            action = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
            try:
                action()
            except Exception as error:  # a bug in this script must not look like a pass
                self.stats.problem(f"{self.name}: {type(error).__name__}: {error}")
                raise
            time.sleep(self.rng.uniform(0, 2 * PAUSE))
        self.client.close()

    # -- helpers -----------------------------------------------------------

    def reference(self) -> tuple[str, str]:
        self.serial += 1
        magic = self.rng.choice(MAGIC) if self.rng.random() < 0.08 else ""
        return (f"{magic}-" if magic else "") + f"SOAK-{RUN}-{self.index}-{self.serial}", magic

    def pick(self, *statuses: str) -> Track | None:
        """One of my orders, acknowledged and in one of these statuses."""
        candidates = [t for t in self.mine[-300:] if t.definite and t.order_id and t.status in statuses]
        return self.rng.choice(candidates) if candidates else None

    def resync(self, track: Track, attempts: int = 10) -> None:
        """List by reference (the documented recovery after a lost answer) until it answers;
        an order stuck in Processing is released."""
        for _ in range(attempts):
            answer = self.client.call("GET", f"/orders/{track.partner}?sellToOrderReference={track.reference}")
            if answer is not None and answer.status == 200:
                found = answer.body[0] if answer.body else None
                self.settle(track, found["orderId"] if found else None, found["status"] if found else None)
                if found and found["status"] == "Processing":
                    self.release(track)
                return
            time.sleep(0.05)

    def settle(self, track: Track, order_id, status) -> None:
        complaint = track.settle(order_id, status)
        if complaint:
            self.stats.problem(complaint)

    def release(self, track: Track) -> None:
        status, order = self.server.control("POST", f"/_sim/orders/{track.order_id}/release")
        self.stats.count(f"release {status}")
        if status == 200:
            track.acknowledge(order)
        else:
            self.stats.problem(f"release {track.order_id}: {status} {order}")

    def acknowledged(self, track: Track, order: dict) -> None:
        for problem in order_json_problems(order):
            self.stats.problem(f"answer: {problem}")
        track.acknowledge(order)

    # -- actions -------------------------------------------------------------

    def create(self):
        reference, magic = self.reference()
        partner = DEMO if self.rng.random() < 0.8 else PLAIN
        track = self.tracks.new(reference, partner)
        self.mine.append(track)
        body = order_body(self.rng, reference, partner, paid=self.rng.random() < 0.6 and magic != "SIM-FAIL-CONFIRM")
        answer = self.client.call("POST", "", body, magic=magic, timeout=3 if magic == "SIM-LOST-TIMEOUT" else 30)
        self.stats.count("magic sent: " + magic if magic else "create sent")
        if answer is not None and answer.status == 201:
            self.acknowledged(track, answer.body)
        elif answer is not None and (answer.status, answer.code) in NOTHING_HAPPENED:
            track.settle(None, None)
        else:  # no answer, 400 (Error or nothing stored), or 503 server_timeout (stuck)
            self.resync(track)

    def get(self):
        track = self.pick("Issued", "Draft", "Error", "Cancelled", "Processing")
        if track is None:
            return
        answer = self.client.call("GET", f"/{track.order_id}")
        if answer is None or (answer.status, answer.code) in NOTHING_HAPPENED:
            return
        if answer.status == 200:
            for problem in order_json_problems(answer.body):
                self.stats.problem(f"get: {problem}")
            self.settle(track, answer.body["orderId"], answer.body["status"])
        elif answer.status == 404:
            self.settle(track, None, None)
        else:
            self.stats.problem(f"get {track.order_id}: {answer.status} {answer.body}")

    def list_reference(self):
        if self.mine:
            self.resync(self.rng.choice(self.mine[-300:]), attempts=1)

    def confirm(self):
        track = self.pick("Draft", "Draft", "Draft", "Issued", "Cancelled")
        if track is None:
            return
        answer = self.client.call("POST", f"/{track.order_id}/confirm", {"paymentReference": "PAY-CONFIRMED"})
        if answer is None:
            track.maybe.add("Issued")
            self.resync(track)
        elif answer.status == 200:
            self.acknowledged(track, answer.body)
            if track.status != "Issued":
                self.stats.problem(f"confirm {track.order_id}: answered {track.status}")
        elif answer.status != 400 and (answer.status, answer.code) not in NOTHING_HAPPENED:
            self.stats.problem(f"confirm {track.order_id}: {answer.status} {answer.body}")

    def replace(self):
        track = self.pick("Draft", "Error", "Draft", "Error", "Issued")
        if track is None:
            return
        body = order_body(self.rng, track.reference, track.partner, paid=self.rng.random() < 0.5)
        answer = self.client.call("PUT", f"/{track.order_id}", body)
        if answer is not None and answer.status == 200:
            self.acknowledged(track, answer.body)
        elif answer is None or answer.status in (400, 503) and (answer.status, answer.code) not in NOTHING_HAPPENED:
            track.maybe |= {"Issued", "Draft", "Error", "Processing"} if answer is None else {"Error", "Processing"}
            self.resync(track)

    def delete(self):
        track = self.pick("Issued", "Draft", "Error", "Cancelled", "Draft")
        if track is None:
            return
        outcome = "Cancelled" if track.status in ("Issued", "Cancelled") else "gone"
        answer = self.client.call("DELETE", f"/{track.order_id}")
        if answer is not None and answer.status == 200:
            if answer.body["status"] != "Cancelled" or answer.body["items"]:
                self.stats.problem(f"delete {track.order_id}: answered {answer.body}")
            track.settle(*((None, None) if outcome == "gone" else (track.order_id, "Cancelled")))
        elif answer is None:
            track.maybe.add(outcome)
            self.resync(track)
        elif answer.status != 400 and (answer.status, answer.code) not in NOTHING_HAPPENED:
            self.stats.problem(f"delete {track.order_id}: {answer.status} {answer.body}")

    def recreate(self):
        """Create an order left in Error again: the old one goes, a new one comes."""
        track = self.pick("Error")
        if track is None:
            return
        answer = self.client.call("POST", "", order_body(self.rng, track.reference, track.partner))
        if answer is not None and answer.status == 201:
            self.acknowledged(track, answer.body)
        elif answer is None or (answer.status, answer.code) not in NOTHING_HAPPENED:
            track.maybe |= {"new", "gone"}
            self.resync(track)

    def invalid(self):
        unknown = str(uuid.uuid4())
        reference = f"SOAK-{RUN}-{self.index}-BAD-{self.rng.randrange(10**6)}"
        body = order_body(self.rng, reference)
        cases = [
            ("POST", "", {**body, "items": []}, None, {400}),
            ("POST", "", {**body, "partnerId": DORMANT}, None, {400}),
            ("POST", "", {**body, "partnerId": "not-a-guid"}, None, {400}),
            ("POST", "", None, b'{"partnerId": ', {400}),
            ("POST", "", {**body, "items": [{**body["items"][0], "visitDate": "2031-02-30"}]}, None, {400}),
            ("GET", "/not-a-guid", None, None, {400}),
            ("GET", f"/{unknown}", None, None, {404}),
            ("POST", f"/{unknown}/confirm", {"paymentReference": "X"}, None, {404}),
            ("PUT", f"/{unknown}", body, None, {404}),
            ("DELETE", f"/{unknown}", None, None, {404}),
            ("GET", f"/orders/{DEMO}?status=Bogus", None, None, {400}),
            ("GET", "/orders/not-a-guid", None, None, {400}),
            ("PATCH", f"/{unknown}/nothing/here", None, None, {404}),
            ("COPY", "", None, None, {400}),
        ]
        method, path, payload, raw, expected = self.rng.choice(cases)
        answer = self.client.call(method, path, payload, raw=raw)
        if answer is None or (answer.status, answer.code) in NOTHING_HAPPENED:
            return
        self.stats.count("invalid sent")
        if answer.status not in expected:
            self.stats.problem(f"invalid {method} {path}: {answer.status} {answer.body}")

    def list_processing(self):
        partner = DEMO if self.rng.random() < 0.5 else PLAIN
        answer = self.client.call("GET", f"/orders/{partner}?status=Processing")
        if answer is not None and answer.status == 200 and any(s["status"] != "Processing" for s in answer.body):
            self.stats.problem(f"list status=Processing answered {[s['status'] for s in answer.body]}")


def fault_accounting(stats: Stats, rules: list[dict]) -> list[str]:
    """Each 503, 429 and missing answer was a fault's doing: the rules' firings (GET /_sim/faults)
    account for them, give or take the magic values sent (checked after the rules)."""
    fired = {rule["id"]: rule["fired"] for rule in rules}
    counts = stats.counts

    def magic(name: str) -> int:
        return counts[f"magic sent: {name}"]

    problems = []
    for label, seen, by_rules, by_magic in [
        (
            "503 service_unavailable",
            counts["503 service_unavailable"] + counts["503 service_unavailable (magic)"],
            fired["503"],
            magic("SIM-UNAVAILABLE"),
        ),
        (
            "429 too_many_requests",
            counts["429 too_many_requests"] + counts["429 too_many_requests (magic)"],
            fired["429"],
            magic("SIM-RATE-LIMIT"),
        ),
        (
            "503 server_timeout",
            counts["503 server_timeout"] + counts["503 server_timeout (magic)"],
            fired["stuck"],
            magic("SIM-STUCK"),
        ),
        (
            "no answer",
            counts["no answer"] + counts["no answer (magic)"],
            sum(fired[rule] for rule in DROPPING),
            magic("SIM-LOST-RESPONSE") + magic("SIM-LOST-TIMEOUT"),
        ),
    ]:
        print(f"      {label}: {seen} seen; rules fired {by_rules}, magic values sent {by_magic}")
        if not by_rules <= seen <= by_rules + by_magic:
            problems.append(f"{label}: {seen} seen, but the rules fired {by_rules} (+ up to {by_magic} magic)")
    return problems


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="cm-sim-soak-"))
    data = folder / "state.json"
    server = Server(data, folder / "server-1.log", "--seed", "11")
    stats, tracks, stop = Stats(), Tracks(), threading.Event()
    print(f"soak: {SECONDS:g} s, {CLIENTS} clients, data {data}, server pid {server.process.pid} port {server.port}")
    passed = True
    try:
        status, added = server.control(
            "POST", "/_sim/faults", [{**rule, "seed": n} for n, rule in enumerate(FAULT_RULES)]
        )
        assert status == 201, added
        rss_start = server.rss_mib()
        workers = [Worker(i, server, stats, tracks, stop) for i in range(CLIENTS)]
        for worker in workers:
            worker.start()
        samples = sample_rss(server, tracks, SECONDS)
        stop.set()
        for worker in workers:
            worker.join()
        rss_end = server.rss_mib()

        rules = server.control("GET", "/_sim/faults")[1]
        server.control("DELETE", "/_sim/faults")
        counts = stats.counts
        print(
            f"calls: {sum(v for k, v in counts.items() if k[0].isdigit() or k.startswith('no answer'))}; "
            + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        )
        print("fault rules fired: " + ", ".join(f"{r['id']} {r['fired']}" for r in rules))
        passed &= report("no unexpected answer (5xx, non-JSON, wrong status, inconsistent order JSON)", stats.problems)
        passed &= report(
            "every 503, 429 and lost answer came from a fault rule or magic value", fault_accounting(stats, rules)
        )

        state = server.state()
        passed &= report(
            f"every acknowledged order present as acknowledged ({len(tracks.by_reference)} references; "
            f"{dict(tracks.counts())})",
            tracks.settle_all(state, f"SOAK-{RUN}-"),
        )
        passed &= report(
            f"store consistent: wallets per quantity, unique ticket numbers, capacity in use "
            f"({len(state['orders'])} orders)",
            store_problems(state, server.capacity_in_use()),
        )
        passed &= report("no tracebacks in the server's stderr", tracebacks(server))
        passed &= report(
            f"memory bounded: RSS {rss_start:.0f} MiB at start, {rss_end:.0f} MiB at the end "
            f"(every tenth: {', '.join(f'{rss:.0f}' for rss, _ in samples)})",
            memory_problems(samples),
        )

        code, took = server.terminate()
        passed &= report(
            f"graceful stop (SIGTERM): exit {code} in {took:.1f} s", [] if code == 0 else [f"exit code {code}"]
        )
        server = Server(data, folder / "server-2.log")
        after = server.state()
        passed &= report(
            f"restart on the same file: the same {len(after['orders'])} orders", restart_problems(state, after)
        )
        passed &= report("store consistent after the restart", store_problems(after, server.capacity_in_use()))
        code, _ = server.terminate()
        passed &= report(f"second graceful stop: exit {code}", [] if code == 0 else [f"exit code {code}"])
    finally:
        stop.set()
        if server.process.poll() is None:
            server.kill()
    print(f"soak: {'PASS' if passed else 'FAIL'}" + ("" if passed else f" (files in {folder})"))
    if passed:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if passed else 1


def sample_rss(server: Server, tracks: Tracks, seconds: float) -> list[tuple[float, int]]:
    """(RSS in MiB, references used so far) at every tenth of the run, while the clients work."""
    samples = []
    began = time.monotonic()
    for n in range(1, 11):
        time.sleep(max(0.0, began + seconds * n / 10 - time.monotonic()))
        samples.append((server.rss_mib(), len(tracks.by_reference)))
    return samples


def memory_problems(samples: list[tuple[float, int]]) -> list[str]:
    """Over the second half of the run (the request journal, which keeps the last 10,000 calls,
    is about full by then), growth stays within what the new orders explain: bench measures
    ~9 MiB per 1,000 stored orders; allowed are 20 KiB per reference used, plus 64 MiB."""
    (middle, before), (end, after) = samples[4], samples[-1]
    allowed = 64 + 20 * (after - before) / 1024
    if end - middle <= allowed:
        return []
    return [
        f"grew {end - middle:.0f} MiB in the second half, more than {allowed:.0f} MiB for {after - before} references"
    ]


def tracebacks(server: Server) -> list[str]:
    text = server.errors()
    return [line for line in text.splitlines() if "Traceback" in line or "Error" in line][:20]


def restart_problems(before: dict, after: dict) -> list[str]:
    old, new = orders_by_id(before), orders_by_id(after)
    problems = [f"{order_id} lost" for order_id in old.keys() - new.keys()]
    problems += [f"{order_id} appeared" for order_id in new.keys() - old.keys()]
    problems += [f"{order_id} differs" for order_id in old.keys() & new.keys() if old[order_id] != new[order_id]]
    return problems


if __name__ == "__main__":
    sys.exit(main())
