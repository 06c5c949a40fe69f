"""make bench: the simulator's own figures, measured over loopback with the server and the
load generator pinned to different cores (when taskset is there).

Prints: start-up to first response; p50/p99 latency and throughput of create (quantity 2,
Issued), get, list and confirm; create and get latency with 100 versus 100,000 stored
orders, in memory and with --data, as ratios; memory per stored order.
"""
from __future__ import annotations

import copy
import itertools
from datetime import date, timedelta
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

CM_SIM = str(Path(sys.executable).with_name("cm-sim"))
PARTNER = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"
API = "/01234567-89ab-cdef-0123-456789abcdef/production/CRONUS%2520International%2520Ltd./channelManager"
HEADERS = {"x-np-api-key": "bench", "Content-Type": "application/json"}
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
PIN = shutil.which("taskset")
DAYS = itertools.count()
CHUNK = 2000


def order(reference: str, paid: bool = True) -> dict:
    day = date(2031, 1, 1) + timedelta(days=next(DAYS) % 2000)  # spread over days: 2,000 places each
    body = {"partnerId": PARTNER, "sellToOrderReference": reference, "sellToName": "Jane Doe",
            "items": [{"itemNumber": "31001", "visitDate": day.isoformat(), "visitTime": "10:30:00", "quantity": 2}]}
    if paid:
        body["paymentReference"] = "PAY-1"
    return body


class Server:
    def __init__(self, *args):
        command = [CM_SIM, "serve", "--port", "0", "--quiet", *args]
        if PIN:
            command = [PIN, "-c", "0", *command]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        self.port = int(re.search(r"http://[^:]+:(\d+)", line).group(1))
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/_sim/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.005)
        self.startup = time.perf_counter() - self.started

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def call(self, method, path, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=HEADERS)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def stop(self) -> float:
        """Stop gracefully (with --data that writes the snapshot); how long it took."""
        began = time.perf_counter()
        self.process.terminate()
        self.process.wait(timeout=600)
        return time.perf_counter() - began


def load(port: int, requests_for, seconds: float = SECONDS, clients: int = CLIENTS):
    """Run `clients` keep-alive connections for `seconds`; latencies (ms) and requests/s."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, count = [], 0
        while time.perf_counter() < stop:
            method, path, body = requests_for(index, count)
            count += 1
            began = time.perf_counter()
            connection.request(method, path, body=body, headers=HEADERS)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - began) * 1000)
            if response.status >= 400:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "errors": errors[0],
    }


def populate(server: Server, count: int) -> list[str]:
    """Store `count` orders quickly: one made through the API, the rest imported as copies."""
    status, first = server.call("POST", API, order(f"SEED-{uuid.uuid4().hex[:8]}"))
    assert status == 201, first
    state = server.call("GET", "/_sim/state")[1]
    template = state["orders"][0]
    ids = []
    for start in range(0, count, CHUNK):  # one namespace per chunk: an import replaces its namespaces
        ids += _import(server, template, state["clock"], start, min(count, start + CHUNK))
    return ids


def _import(server: Server, template: dict, clock: dict, start: int, end: int) -> list[str]:
    records = []
    for index in range(start, end):
        record = copy.deepcopy(template)
        record["namespace"] = [*template["namespace"][:2], f"bulk-{start}"]
        record["order_id"] = str(uuid.uuid4())
        record["sell_to_order_reference"] = f"BULK-{index}"
        for line in record["lines"]:
            for wallet in line["wallets"]:
                wallet["wallet_id"] = str(uuid.uuid4())
                wallet["reference_number"] = f"9{index:017d}"[-18:] + wallet["reference_number"][-1:]
                wallet["external_reference_number"] = f"BULK-{index}-{wallet['seq_no']}"
                for ticket in wallet["tickets"]:
                    ticket["number"] = f"BULK-{index}-{wallet['seq_no']}"
                    ticket["units"] = 0  # copies hold no capacity, so creates still fit
        records.append(record)
    status, answer = server.call("PUT", "/_sim/state", {"orders": records, "clock": clock})
    assert status == 200, answer
    return [record["order_id"] for record in records]


def create_requests(prefix):
    return lambda client, n: ("POST", API, json.dumps(order(f"{prefix}-{client}-{n}")))


def measure_operations(server: Server) -> dict:
    figures = {"create": load(server.port, create_requests(uuid.uuid4().hex[:6]))}
    ids = [server.call("POST", API, order(f"G-{i}"))[1]["orderId"] for i in range(200)]
    figures["get"] = load(server.port, lambda c, n: ("GET", f"{API}/{ids[(c * 31 + n) % len(ids)]}", None))
    figures["list"] = load(server.port, lambda c, n: ("GET", f"{API}/orders/{PARTNER}?sellToOrderReference=G-{n % 200}", None))
    drafts = {}

    def confirm(client, n):
        # each confirm gets a fresh Draft; the create is not timed separately, so figures are per pair
        key = (client, n)
        drafts[key] = server.call("POST", API, order(f"C-{client}-{n}-{uuid.uuid4().hex[:6]}", paid=False))[1]["orderId"]
        return "POST", f"{API}/{drafts[key]}/confirm", json.dumps({"paymentReference": "PAY-2"})

    figures["confirm"] = load(server.port, confirm, clients=4)
    return figures


def growth(data: bool) -> dict:
    results = {}
    for size in (100, 100_000):
        folder = tempfile.mkdtemp()
        args = ["--data", os.path.join(folder, "state.json")] if data else []
        server = Server(*args)
        try:
            empty = server.rss_mib()
            populate(server, size)
            full = server.rss_mib()
            own = [server.call("POST", API, order(f"OWN-{i}"))[1]["orderId"] for i in range(100)]
            results[size] = {
                "create": load(server.port, create_requests(f"GR{size}"), seconds=SECONDS / 2, clients=4)["p50"],
                "get": load(server.port, lambda c, n: ("GET", f"{API}/{own[(c * 31 + n) % len(own)]}", None),
                            seconds=SECONDS / 2, clients=4)["p50"],
                "mib_per_1000": (full - empty) / size * 1000,
                "rss": full,
            }
        finally:
            results.setdefault(size, {})["stop"] = server.stop()
            shutil.rmtree(folder, ignore_errors=True)
    return results


def main() -> None:
    startups = []
    for _ in range(3):
        server = Server()
        startups.append(server.startup)
        server.stop()
    print(f"machine: {os.cpu_count()} cores, {'pinned server:0 load:1' if PIN else 'not pinned'}; "
          f"{CLIENTS} connections, {SECONDS:g} s per figure")
    print(f"start-up to first response: {statistics.median(startups):.3f} s (target < 0.5 s: "
          f"{'met' if statistics.median(startups) < 0.5 else 'missed'})")
    server = Server()
    try:
        if PIN:
            os.sched_setaffinity(0, {1})
        for name, figure in measure_operations(server).items():
            print(f"{name:8s} {figure['rps']:8.0f} req/s   p50 {figure['p50']:6.2f} ms   p99 {figure['p99']:6.2f} ms"
                  f"   errors {figure['errors']}")
    finally:
        server.stop()
    for data in (False, True):
        results = growth(data)
        small, large = results[100], results[100_000]
        mode = "--data" if data else "memory"
        print(f"growth ({mode}): create p50 x{large['create'] / small['create']:.2f}, get p50 x{large['get'] / small['get']:.2f} "
              f"(100,000 vs 100 orders; target within 1.25)")
        print(f"memory ({mode}): {large['mib_per_1000']:.2f} MiB per 1,000 orders; RSS at 100,000: {large['rss']:.0f} MiB "
              f"(target < 1024 MiB: {'met' if large['rss'] < 1024 else 'missed'}); "
              f"graceful stop at 100,000: {large['stop']:.1f} s")


if __name__ == "__main__":
    main()
