"""make bench: the simulator's figures side by side with its old stack and its peers, measured
over loopback with the servers pinned to core 0 and the load generator to core 1 (when taskset
is there).

The servers: ours, `cm-sim serve` (the new stack: granian in the process, the Flask app on 16
threads); ours on waitress (the same app on the old stack: waitress with the options cm-sim
serve had before granian); a bare Flask app on each of the two stacks (the ceiling for each);
Prism and WireMock mocking the getting-started page's create and get.

Prints: start-up to first response (median of 5) of each; throughput, mean, p50 and p99 latency
on both our stacks of create (quantity 2, Issued), get, list (by sellToOrderReference: one
result, whatever the number stored), confirm (each of a fresh Draft, imported before measuring)
and replace (of 200 Drafts in turn, sent without paymentReference so they stay Draft), and of
the page's GET and POST on the others; the ratios new stack / old stack (our app and bare Flask)
and ours / each peer; create throughput with 10,000 stored orders in memory and with --data;
create and get latency with 100 versus 100,000 stored orders, in memory and with --data, as
ratios; memory per stored order; then every target, met or missed. The load generator is wrk
(with bench_wrk.lua) when it is installed, else a Python one; the growth latencies always use
the Python one. Servers compared with each other run at once and are measured in turns, the
others paused, so that a slow moment of a shared machine does not decide a ratio.

Environment: BENCH_SECONDS (default 5) seconds per figure, BENCH_CLIENTS (default 8)
connections; BENCH_QUICK=1 runs only start-up and side by side (and their targets).
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from bench_peers import API, PIN, SEED_GET, Process, command, free_port, peers
from loadkit import order_copies

CM_SIM = str(Path(sys.executable).with_name("cm-sim"))
PARTNER = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"
HEADERS = {"x-np-api-key": "bench", "Content-Type": "application/json"}
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
WRK = shutil.which("wrk")
WRK_SCRIPT = str(Path(__file__).with_name("bench_wrk.lua"))
# seconds of load (half GET, half POST) before measuring: the JIT compilers of WireMock and Prism need it
WARMUP = {"ours": 2, "ours on waitress": 2, "bare Flask": 2, "bare Flask on waitress": 2, "Prism": 10, "WireMock": 20}
OLD = {"ours": "ours on waitress", "bare Flask": "bare Flask on waitress"}  # a server on the new stack: on the old
MODES = {"memory": False, "--data": True}
DAYS = itertools.count()
CHUNK = 2000
TURNS = 5  # windows of each figure side by side
CONFIRM = json.dumps({"paymentReference": "PAY-2"})
# Drafts to confirm per second of a window: twice the faster of our stacks' warm-up GET rate (a
# confirm does a get's work and more), at least DRAFT_RATE; a confirm past them is counted and warned of
DRAFT_RATE = 2000
REPLACED = 200  # Drafts replaced in turn (a replace without paymentReference leaves the order Draft)


def order(reference: str, paid: bool = True) -> dict:
    day = date(2031, 1, 1) + timedelta(days=next(DAYS) % 2000)  # spread over days: 2,000 places each
    body = {
        "partnerId": PARTNER,
        "sellToOrderReference": reference,
        "sellToName": "Jane Doe",
        "items": [{"itemNumber": "31001", "visitDate": day.isoformat(), "visitTime": "10:30:00", "quantity": 2}],
    }
    if paid:
        body["paymentReference"] = "PAY-1"
    return body


class Server(Process):
    """Our simulator, ready when /_sim/health answers: `cm-sim serve` with `args` or, on_waitress,
    our app in memory on the old stack."""

    def __init__(self, *args, on_waitress: bool = False):
        port = free_port()
        serve = command("waitress", port) if on_waitress else [CM_SIM, "serve", "--port", str(port), "--quiet", *args]
        super().__init__(serve, port, "/_sim/health")

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


OURS = {"ours": Server, "ours on waitress": lambda: Server(on_waitress=True)}


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
        "mean": statistics.mean(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "requests": len(latencies),
        "errors": errors[0],
        "repeats": 0,
    }


def populate(server: Server, count: int) -> list[str]:
    """Store `count` orders quickly: one made through the API, the rest imported as copies."""
    status, first = server.call("POST", API, order(f"SEED-{uuid.uuid4().hex[:8]}"))
    assert status == 201, first
    state = server.call("GET", "/_sim/state")[1]
    template = next(record for record in state["orders"] if record["order_id"] == first["orderId"])
    ids = []
    for start in range(0, count, CHUNK):  # one namespace per chunk: an import replaces its namespaces
        ids += _import(server, template, f"bulk-{start}", start, min(count, start + CHUNK), clock=state["clock"])
    return ids


def _import(
    server: Server, template: dict, company: str, start: int, end: int, tag: str = "BULK", clock: dict | None = None
) -> list[str]:
    """Copies `start` to `end` of the exported order `template` imported into the namespace of
    `company` (its orders are replaced); their order ids."""
    records = order_copies(template, company, start, end, tag)
    state = {"orders": records, **({"clock": clock} if clock else {})}
    status, answer = server.call("PUT", "/_sim/state", state)
    assert status == 200, answer
    return [record["order_id"] for record in records]


@dataclass
class Calls:
    """Requests to make in turn, each (method, path, body or None); `once`: each only once (a
    request past the end starts the list again and is counted in "repeats")."""

    calls: list[tuple[str, str, str | None]]
    once: bool = False

    @classmethod
    def gets(cls, paths: list[str]) -> Calls:
        return cls([("GET", path, None) for path in paths])


class Drafts:
    """Fresh Drafts of one of our servers to confirm, each once: copies of a Draft made through
    the API, imported (not timed) after the warm-up, a share of them for each measured window."""

    def __init__(self, server: Server):
        self.server, self.shares, self.count = server, [], 0
        status, draft = server.call("POST", API, order(f"D-{uuid.uuid4().hex[:8]}", paid=False))
        assert status == 201 and draft["status"] == "Draft", draft
        state = server.call("GET", "/_sim/state")[1]
        self.template = next(record for record in state["orders"] if record["order_id"] == draft["orderId"])
        status, confirmed = server.call("POST", f"{API}/{draft['orderId']}/confirm", json.loads(CONFIRM))
        assert status == 200 and confirmed["status"] == "Issued", confirmed

    def make(self, share: int, turns: int) -> None:
        """`turns` shares of `share` Drafts each, in namespaces of their own (an import replaces
        the namespaces it names)."""
        tenant, environment = API.split("/")[1:3]
        total, calls = share * turns, []
        for start in range(0, total, CHUNK):
            company = f"bench-drafts-{start}"
            calls += [
                ("POST", f"/{tenant}/{environment}/{company}/channelManager/{order_id}/confirm", CONFIRM)
                for order_id in _import(
                    self.server, self.template, company, start, min(total, start + CHUNK), tag="DRAFT"
                )
            ]
        self.shares = [Calls(calls[turn * share : (turn + 1) * share], once=True) for turn in range(turns)]
        self.count = total

    def take(self) -> Calls:
        """The next window's Drafts."""
        return self.shares.pop(0)


def create_requests(prefix):
    return lambda client, n: ("POST", API, json.dumps(order(f"{prefix}-{client}-{n}")))


def create_template() -> str:
    """order()'s body for bench_wrk.lua, which fills {ref} and {day} per request."""
    body = order("{ref}")
    body["items"][0]["visitDate"] = "{day}"
    return json.dumps(body)


def window_seconds(seconds: float) -> float:
    """How long hammer() runs for `seconds` (wrk takes whole seconds)."""
    return max(1, round(seconds)) if WRK else seconds


def hammer(port: int, work: Calls | None = None, seconds: float = SECONDS, clients: int = CLIENTS) -> dict:
    """Make the `work` calls in turn or, without work, create unique Issued orders: requests/s,
    mean, p50 and p99 (ms), requests, errors (failed and non-2xx) and repeats (calls made once
    too many). With wrk (whole seconds) when it is installed, else with load()."""
    if not WRK:
        if work is None:
            return load(port, create_requests(uuid.uuid4().hex[:6]), seconds, clients)
        made = itertools.count()  # shared by the clients, so each call of the list comes once in turn
        figure = load(port, lambda c, n: work.calls[next(made) % len(work.calls)], seconds, clients)
        figure["repeats"] = max(0, figure["requests"] - len(work.calls)) if work.once else 0
        return figure
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write(
            "\n".join(
                f"{method}\t{path}" + (f"\t{body}" if body else "")
                for method, path, body in (work.calls if work else [])
            )
        )
        listing.flush()
        mode = (
            ["create", create_template(), uuid.uuid4().hex[:6]]
            if work is None
            else ["requests", listing.name, *(["once"] if work.once else [])]
        )
        headers = [option for name, value in HEADERS.items() for option in ("-H", f"{name}: {value}")]
        command = [
            WRK,
            "-t1",
            f"-c{clients}",
            f"-d{window_seconds(seconds)}s",
            "--timeout",
            "10s",
            *headers,
            "-s",
            WRK_SCRIPT,
            f"http://127.0.0.1:{port}{API}",
            "--",
            *mode,
        ]
        run = subprocess.run([PIN, "-c", "1", *command] if PIN else command, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
    return json.loads(run.stdout.splitlines()[-1])


def warm_up(port: int, plan: dict, seconds: float) -> float:
    """Half the time GETs of the plan's first listed calls, half creates; the GETs' requests/s."""
    gets = next(work for work in plan.values() if isinstance(work, Calls))
    rate = hammer(port, gets, seconds / 2)["rps"]
    hammer(port, None, seconds / 2)
    return rate


def median_startup(start) -> float:
    """Median of five start-ups of the server `start()` spawns."""
    times = []
    for _ in range(5):
        server = start()
        times.append(server.startup)
        server.stop()
    return statistics.median(times)


def side_by_side(starts: dict, turns: int = TURNS) -> tuple[dict, dict]:
    """Every server up at once and warmed up, then measured in turns: each figure is `turns`
    windows of SECONDS / turns, so a slow moment of a shared machine falls on all alike.
    Throughput is the windows' mean, mean latency their mean by request, p50 and p99 their
    medians. By server, by figure; and by server, how many Drafts were made to confirm."""
    servers = {}
    try:
        for name, start in starts.items():
            servers[name] = start()
        plans = {name: plan_for(server) for name, server in servers.items()}
        rates = {}
        for name, server in servers.items():
            only(servers, name)
            rates[name] = warm_up(server.port, plans[name], WARMUP[name])
        # Drafts to confirm: as many on both our stacks (so that they store as many orders), for
        # every window at twice the faster one's warm-up GET rate; then each warmed up again
        drafts = {name: plan["confirm"] for name, plan in plans.items() if isinstance(plan.get("confirm"), Drafts)}
        if drafts:
            rate = max(DRAFT_RATE, 2 * max(rates[name] for name in drafts))
            share = math.ceil(rate * window_seconds(SECONDS / turns)) + CLIENTS
            for name, made in drafts.items():
                only(servers, name)
                made.make(share, turns)
                warm_up(servers[name].port, plans[name], WARMUP[name])
        windows = {name: {figure: [] for figure in plan} for name, plan in plans.items()}
        for _ in range(turns):
            for name, plan in plans.items():
                only(servers, name)
                for figure, work in plan.items():
                    work = work.take() if isinstance(work, Drafts) else work
                    windows[name][figure].append(hammer(servers[name].port, work, SECONDS / turns))
        figures = {
            name: {figure: combined(runs) for figure, runs in by_figure.items()} for name, by_figure in windows.items()
        }
        return figures, {name: made.count for name, made in drafts.items()}
    finally:
        stop_all(servers)


def plan_for(server: Process) -> dict:
    """What side_by_side() measures on a server: by figure, the calls to make in turn (None:
    creates). Ours: create; get and list (by reference, one result) of 200 orders made here;
    confirm of fresh Drafts (made after the warm-up); replace of 200 Drafts made here, each
    with the body it was created with (no paymentReference: it stays Draft). The others: the
    page's GET and POST."""
    if not isinstance(server, Server):
        return {"GET": Calls.gets([SEED_GET]), "POST": None}
    drafts = Drafts(server)
    gets = [f"{API}/{server.call('POST', API, order(f'G-{i}'))[1]['orderId']}" for i in range(200)]
    lists = [f"{API}/orders/{PARTNER}?sellToOrderReference=G-{i}" for i in range(200)]
    assert all(len(server.call("GET", path)[1]) == 1 for path in lists[:3]), "a listed reference is missing"
    replaces = []
    for i in range(REPLACED):
        body = order(f"R-{i}", paid=False)
        status, made = server.call("POST", API, body)
        assert status == 201 and made["status"] == "Draft", made
        replaces.append(("PUT", f"{API}/{made['orderId']}", json.dumps(body)))
    status, replaced = server.call("PUT", replaces[0][1], json.loads(replaces[0][2]))
    assert status == 200 and replaced["status"] == "Draft", replaced
    return {
        "create": None,
        "get": Calls.gets(gets),
        "list": Calls.gets(lists),
        "confirm": drafts,
        "replace": Calls(replaces),
    }


def only(servers: dict, running) -> None:
    """Let the server `running` go on and pause the others; with None, let all go on."""
    for name, server in servers.items():
        server.pause(running is not None and name != running)


def stop_all(servers: dict) -> dict:
    """Stop every server (paused ones are let go on first); how long each took."""
    only(servers, None)
    return {name: server.stop() for name, server in servers.items()}


def combined(windows: list[dict]) -> dict:
    requests = sum(window["requests"] for window in windows)
    return {
        "rps": statistics.mean(window["rps"] for window in windows),
        "mean": sum(window["mean"] * window["requests"] for window in windows) / requests if requests else 0.0,
        "p50": statistics.median(window["p50"] for window in windows),
        "p99": statistics.median(window["p99"] for window in windows),
        "requests": requests,
        "errors": sum(window["errors"] for window in windows),
        "repeats": sum(window["repeats"] for window in windows),
    }


def start_ours(data: bool, folder: str) -> Server:
    return Server("--data", os.path.join(folder, "state.json")) if data else Server()


def create_with_stored(count: int = 10_000, turns: int = 5) -> dict:
    """Create throughput with `count` stored orders, in memory and with --data: both servers at
    once, measured in turns as side_by_side() does. By mode."""
    with tempfile.TemporaryDirectory() as folder:
        servers = {}
        try:
            for mode, data in MODES.items():
                servers[mode] = start_ours(data, folder)
                populate(servers[mode], count)
            windows = {mode: [] for mode in servers}
            for _ in range(turns):
                for mode, server in servers.items():
                    only(servers, mode)
                    windows[mode].append(hammer(server.port, None, SECONDS / turns))
            return {mode: combined(runs) for mode, runs in windows.items()}
        finally:
            stop_all(servers)


def growth(data: bool, rounds: int = 5) -> dict:
    """Create and get p50 with 100 and with 100,000 stored orders. Both servers run at once and
    are measured in turns, so a slow moment of a shared machine falls on both alike."""
    servers, folders, results = {}, [], {}
    try:
        for size in (100, 100_000):
            folders.append(tempfile.mkdtemp())
            server = servers[size] = start_ours(data, folders[-1])
            empty = server.rss_mib()
            populate(server, size)
            full = server.rss_mib()
            own = [server.call("POST", API, order(f"OWN-{i}"))[1]["orderId"] for i in range(100)]
            results[size] = {
                "own": own,
                "create": [],
                "get": [],
                "mib_per_1000": (full - empty) / size * 1000,
                "rss": full,
            }
        for turn in range(rounds):
            for size, server in servers.items():
                only(servers, size)
                own, window = results[size]["own"], SECONDS / rounds
                results[size]["create"].append(
                    load(server.port, create_requests(f"GR{size}-{turn}"), window, clients=4)["p50"]
                )
                results[size]["get"].append(
                    load(
                        server.port,
                        lambda c, n, own=own: ("GET", f"{API}/{own[(c * 31 + n) % len(own)]}", None),
                        window,
                        clients=4,
                    )["p50"]
                )
        for figures in results.values():
            figures["create"], figures["get"] = statistics.median(figures["create"]), statistics.median(figures["get"])
    finally:
        for size, seconds in stop_all(servers).items():
            results.setdefault(size, {})["stop"] = seconds
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def machine() -> str:
    models = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    return f"{datetime.now():%Y-%m-%d %H:%M}; {models[0] if models else 'unknown CPU'}, {os.cpu_count()} cores"


def show(label: str, figure: dict) -> None:
    print(
        f"  {label:8s} {figure['rps']:8.0f} req/s   mean {figure['mean']:7.2f} ms   p50 {figure['p50']:7.2f} ms"
        f"   p99 {figure['p99']:7.2f} ms   errors {figure['errors']}"
    )


def show_confirms(name: str, figures: dict, drafts: int) -> None:
    """How confirm and replace were measured on one of our servers; a warning if the Drafts ran out."""
    print(
        f"  (confirm: {drafts:,} fresh Drafts imported before measuring, each confirmed once at most;"
        f" replace: {REPLACED} Drafts in turn, sent without paymentReference so they stay Draft)"
    )
    repeats = figures["confirm"]["repeats"]
    if repeats:
        print(
            f"  WARNING: {name}: {repeats:,} of {figures['confirm']['requests']:,} confirms came after the"
            f" window's Drafts ran out (confirming an Issued order again, a no-op): raise DRAFT_RATE"
        )


def ratio(ours: float, peer: float) -> str:
    return f"x{ours / peer:.2f}" if peer else "x inf"


def show_ratios(mine: dict, peer_figures: dict) -> None:
    print("ours / peer:" + " " * 18 + "".join(f"{name:>12s}" for name in peer_figures))
    for method, operation in (("GET", "get"), ("POST", "create")):
        for figure in ("rps", "p99"):
            cells = [ratio(mine[operation][figure], figures[method][figure]) for figures in peer_figures.values()]
            label = f"{method} (our {operation}) {'req/s' if figure == 'rps' else 'p99'}"
            print(f"  {label:28s}" + "".join(f"{cell:>12s}" for cell in cells))


def show_stacks(figures: dict) -> None:
    """New stack / old stack, each figure they share, for our app and for bare Flask."""
    print(f"{'new stack (granian) / old (waitress):':38s}" + "".join(f"{name:>12s}" for name in ("req/s", "p99")))
    for new, old in OLD.items():
        for operation, mine in figures[new].items():
            if operation in figures[old]:
                cells = [ratio(mine[figure], figures[old][operation][figure]) for figure in ("rps", "p99")]
                print(f"  {f'{new} {operation}':36s}" + "".join(f"{cell:>12s}" for cell in cells))


def check(label: str, figure: str, target: str, met: bool) -> None:
    print(f"  {label:52s} {figure:34s} target {target:11s} {'met' if met else 'missed'}")


def versus(ours: float, theirs: float, unit: str) -> str:
    """Our figure, theirs and the ratio: `559 vs 386 req/s: x1.45`."""
    digits = 0 if unit == "req/s" else 2
    return f"{ours:.{digits}f} vs {theirs:.{digits}f} {unit}: {ratio(ours, theirs)}"


def show_targets(startup: float, mine: dict, peer_figures: dict) -> None:
    """The targets of start-up and side by side (stretch targets marked so)."""
    check("start-up to first response (median of 5)", f"{startup:.3f} s", "< 0.5 s", startup < 0.5)
    ceiling = peer_figures["bare Flask"]
    for operation, method in (("create", "POST"), ("get", "GET")):
        ours, theirs = mine[operation]["rps"], ceiling[method]["rps"]
        check(
            f"{operation} req/s vs bare Flask's {method} (the ceiling)",
            versus(ours, theirs, "req/s"),
            ">= x0.50",
            ours >= theirs / 2,
        )
    prism = peer_figures.get("Prism")
    if prism:
        check(
            "get req/s vs Prism's GET",
            versus(mine["get"]["rps"], prism["GET"]["rps"], "req/s"),
            ">= x1.00",
            mine["get"]["rps"] >= prism["GET"]["rps"],
        )
    for operation in ("get", "create"):
        p99, mean = mine[operation]["p99"], mine[operation]["mean"]
        check(f"{operation} p99 vs {operation}'s mean latency", versus(p99, mean, "ms"), "<= x2.50", p99 <= 2.5 * mean)
    mocks = {name: peer_figures[name] for name in ("Prism", "WireMock") if name in peer_figures}
    if not mocks:
        print("  (the targets against Prism and WireMock: not measured, they were skipped)")
        return
    fastest = max(mocks, key=lambda name: mocks[name]["GET"]["rps"])
    check(
        f"stretch: get req/s vs faster peer's GET ({fastest})",
        versus(mine["get"]["rps"], mocks[fastest]["GET"]["rps"], "req/s"),
        ">= x1.00",
        mine["get"]["rps"] >= mocks[fastest]["GET"]["rps"],
    )
    if prism:
        check(
            "stretch: create req/s vs Prism's POST",
            versus(mine["create"]["rps"], prism["POST"]["rps"], "req/s"),
            ">= x1.00",
            mine["create"]["rps"] >= prism["POST"]["rps"],
        )


def show_stored_targets(stored: dict, growths: dict, rss: dict) -> None:
    """The targets of stored orders: growth, --data, memory."""
    for mode, ratios in growths.items():
        for operation, growth_ratio in ratios.items():
            check(
                f"{operation} p50 at 100,000 vs 100 stored ({mode})",
                f"x{growth_ratio:.2f}",
                "<= x1.25",
                growth_ratio <= 1.25,
            )
    memory, data = stored["memory"]["rps"], stored["--data"]["rps"]
    check(
        "--data create req/s vs memory's, 10,000 stored", versus(data, memory, "req/s"), ">= x0.50", data >= memory / 2
    )
    for mode, mib in rss.items():
        check(f"RSS at 100,000 stored ({mode})", f"{mib:.0f} MiB", "< 1024 MiB", mib < 1024)
        check(f"aim: RSS at 100,000 stored ({mode})", f"{mib:.0f} MiB", "< 512 MiB", mib < 512)


def measure_growth() -> tuple[dict, dict]:
    """The existing growth and memory section: p50 ratios and RSS at 100,000, by mode."""
    ratios, rss = {}, {}
    for mode, data in MODES.items():
        results = growth(data)
        small, large = results[100], results[100_000]
        ratios[mode] = {operation: large[operation] / small[operation] for operation in ("create", "get")}
        rss[mode] = large["rss"]
        print(
            f"growth ({mode}): create p50 x{ratios[mode]['create']:.2f}, get p50 x{ratios[mode]['get']:.2f} "
            f"(100,000 vs 100 orders, Python load; target within 1.25: "
            f"{'met' if max(ratios[mode].values()) <= 1.25 else 'missed'})"
        )
        print(
            f"memory ({mode}): {large['mib_per_1000']:.2f} MiB per 1,000 orders; "
            f"RSS at 100,000: {large['rss']:.0f} MiB "
            f"(target < 1024 MiB: {'met' if large['rss'] < 1024 else 'missed'}; "
            f"aim < 512 MiB: {'met' if large['rss'] < 512 else 'missed'}); "
            f"graceful stop at 100,000: {large['stop']:.1f} s"
        )
    return ratios, rss


def measure_stored() -> tuple[dict, dict, dict]:
    """Create with 10,000 stored orders, then growth and memory: the figures of each, by mode."""
    print("ours, create with 10,000 stored orders:")
    stored = create_with_stored()
    for mode, figure in stored.items():
        show(mode, figure)
    return (stored, *measure_growth())


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    if PIN:
        os.sched_setaffinity(0, {1})  # this script (populating, the Python load generator) runs beside wrk
    print(f"machine: {machine()}")
    print(
        f"{'pinned servers:0 load:1' if PIN else 'not pinned'}; load generator {'wrk -t1' if WRK else 'Python'}, "
        f"{CLIENTS} connections, {SECONDS:g} s per figure; warm-up: "
        + ", ".join(f"{name} {seconds} s" for name, seconds in WARMUP.items())
    )
    others = peers()
    starts = {**OURS, **others}
    startups = {name: median_startup(start) for name, start in starts.items()}
    print(
        "start-up to first response (median of 5): "
        + ", ".join(f"{name} {value:.3f} s" for name, value in startups.items())
    )
    figures, drafts = side_by_side(starts)
    for name, by_figure in figures.items():
        print(f"{name}:")
        for figure, values in by_figure.items():
            show(figure, values)
        if name in drafts:
            show_confirms(name, by_figure, drafts[name])
    show_stacks(figures)
    peer_figures = {name: figures[name] for name in others if name not in OLD.values()}
    show_ratios(figures["ours"], peer_figures)
    stored = None if QUICK else measure_stored()
    print("TARGETS" + (" (BENCH_QUICK=1: start-up and side by side only)" if QUICK else ""))
    show_targets(startups["ours"], figures["ours"], peer_figures)
    if stored:
        show_stored_targets(*stored)


if __name__ == "__main__":
    main()
