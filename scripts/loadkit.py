"""Shared by soak.py and crash.py: run `cm-sim serve` on a data file, call it over loopback,
keep track of what the server acknowledged, and check a stored state for consistency."""

from __future__ import annotations

import copy
import http.client
import json
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

CM_SIM = str(Path(sys.executable).with_name("cm-sim"))
DEMO = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"  # manifests
PLAIN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"  # no manifests
DORMANT = "5c1f0e2a-8b3d-4e6f-9a7b-1c2d3e4f5a6b"  # inactive
MANIFESTS = {DEMO: True, PLAIN: False}
TENANT = "01234567-89ab-cdef-0123-456789abcdef"
API = f"/{TENANT}/production/CRONUS%2520International%2520Ltd./channelManager"
HEADERS = {"x-np-api-key": "reliability", "Content-Type": "application/json"}

# the default catalog: capacity per slot, tickets per wallet of a package
SLOT_CAPACITY = {"CASTLE": 2000, "TOUR": 10}
PACKAGE_TICKETS = {"32001": 2}
GROUP_ITEMS = {"33001"}
ITEMS = ["31001", "31001", "31002", "33001", "32001", "31010"]
TOUR_TIMES = ["10:00:00", "12:00:00", "14:00:00", "10:30:00"]
TOUR_DAYS = 40  # tours and packages share a few days, so slots do fill up (capacity exceeded)
LIVE = ("Issued", "Draft")  # the statuses whose orders hold wallets, tickets and capacity


# -- the server ----------------------------------------------------------------


class StartFailed(Exception):
    pass


class Server:
    """`cm-sim serve --port 0 --quiet --data FILE`; the port comes from the first line it prints."""

    def __init__(self, data: Path, log: Path, *args: str):
        self.log = log
        with open(log, "w") as errors:
            self.process = subprocess.Popen(
                [CM_SIM, "serve", "--port", "0", "--quiet", "--data", str(data), *args],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        match = re.search(r"http://[^:]+:(\d+)", self.process.stdout.readline())
        if not match:
            raise StartFailed(f"exit {self.process.wait()}: {self.errors()[-2000:]}")
        self.port = int(match.group(1))
        deadline = time.monotonic() + 60
        while self.control("GET", "/_sim/health")[0] != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise StartFailed(f"not healthy: {self.errors()[-2000:]}")
            time.sleep(0.05)

    def control(self, method: str, path: str, body=None, timeout: float = 300):
        """(status, JSON) from a fresh connection; (None, None) when no answer came."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=HEADERS)
            response = connection.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data.startswith((b"{", b"[")) else data.decode()
        except (OSError, http.client.HTTPException):
            return None, None
        finally:
            connection.close()

    def state(self) -> dict:
        status, state = self.control("GET", "/_sim/state")
        assert status == 200, f"GET /_sim/state: {status}"
        return state

    def capacity_in_use(self) -> dict:
        """The dashboard's "Capacity in use" table: {(namespace, admission, day, slot): used}."""
        status, page = self.control("GET", "/_sim/")
        assert status == 200, f"GET /_sim/: {status}"
        table = page.split('<table id="capacity">', 1)[1].split("</table>", 1)[0] if 'id="capacity"' in page else ""
        rows = re.findall(
            r"<tr><td[^>]*>([^<]*)</td><td>([^<]*)</td><td[^>]*>([^<]*)</td>"
            r"<td[^>]*>([^<]*)</td><td>(\d+)</td>",
            table,
        )
        return {(ns, admission, day, slot): int(used) for ns, admission, day, slot, used in rows}

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def errors(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 120) -> tuple[int | None, float]:
        """SIGTERM (a graceful stop, which writes the snapshot): exit code and seconds taken."""
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        return code, time.monotonic() - began

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def limit_file_size(self, size: int | None) -> None:
        """Let the server write no file past `size` bytes (EFBIG, as on a full disk); None lifts it."""
        soft = resource.RLIM_INFINITY if size is None else size
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (soft, resource.RLIM_INFINITY))


# -- calls ---------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: object

    @property
    def code(self) -> str:
        return self.body.get("code", "") if isinstance(self.body, dict) else ""


class Stats:
    """Counters and problems, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.problems: list[str] = []

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


EXPECTED_5XX = {(503, "service_unavailable"), (503, "server_timeout")}  # fault rules' and magic values' own
REFUSED = "503 service_unavailable"  # a change that could not be saved (or a fault rule's 503): not made


class Client:
    """One keep-alive connection (made again after a failure). `call` gives an Answer, or None
    when no whole answer came (reset, empty reply, cut off, timed out, refused)."""

    def __init__(self, port: int, stats: Stats):
        self.port = port
        self.stats = stats
        self.connection = None

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        raw: bytes | None = None,
        headers=None,
        timeout: float = 30,
        magic: str = "",
    ) -> Answer | None:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self.connection.timeout = timeout
            if self.connection.sock is not None:
                self.connection.sock.settimeout(timeout)
            self.connection.request(method, API + path, body=data, headers=HEADERS if headers is None else headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            self.stats.count("no answer" + (" (magic)" if magic else ""))
            return None
        try:
            answer = Answer(response.status, json.loads(payload))
        except ValueError:
            self.stats.problem(f"{method} {path}: {response.status} answer is not JSON: {payload[:200]!r}")
            answer = Answer(response.status, None)
        self.stats.count(f"{response.status} {answer.code}".strip() + (" (magic)" if magic else ""))
        if answer.status >= 500 and (answer.status, answer.code) not in EXPECTED_5XX:
            self.stats.problem(f"{method} {path}: unexpected {answer.status} {payload[:300]!r}")
        return answer

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# -- orders --------------------------------------------------------------------


def order_line(rng, reference: str, line_no: int) -> dict:
    item = rng.choice(ITEMS)
    quantity = rng.randint(1, 3)
    if item in ("31010", "32001"):
        day = date(2031, 3, 1) + timedelta(days=rng.randrange(TOUR_DAYS))  # Mondays fail: no tours
        visit_time = rng.choice(TOUR_TIMES)
    else:
        day = date(2031, 1, 1) + timedelta(days=rng.randrange(1000))
        visit_time = "10:30:00"
    line = {"itemNumber": item, "visitDate": day.isoformat(), "visitTime": visit_time, "quantity": quantity}
    if rng.random() < 0.2:
        wallets = 1 if item in GROUP_ITEMS else quantity
        line["wallet"] = {
            "names": [f"Guest {n}" for n in range(wallets)],
            "externalReferenceNumbers": [f"{reference}-{line_no}-{n}" for n in range(wallets)],
        }
    return line


def order_body(rng, reference: str, partner: str = DEMO, paid: bool = True) -> dict:
    body = {
        "partnerId": partner,
        "sellToOrderReference": reference,
        "sellToName": "Soak Tester",
        "items": [order_line(rng, reference, n) for n in range(rng.choice([1, 1, 1, 2]))],
    }
    if paid:
        body["paymentReference"] = f"PAY-{rng.randrange(10**6)}"
    return body


def imported_order(namespace: list[str], reference: str, order_id: str) -> dict:
    """An order record as `GET /_sim/state` exports it: in Error, so it holds no wallets or capacity."""
    line = {
        "line_no": 10000,
        "item_number": "31001",
        "description": "Adult Admission",
        "is_package": False,
        "is_group": False,
        "quantity": 1,
        "visit_date": "2031-01-07",
        "visit_time": "10:30:00",
        "sell_to_name": "Import Tester",
        "sell_to_email": "",
        "sell_to_language": "ENU",
        "component_schedule": [],
        "requested_names": [],
        "requested_references": [],
        "wallets": [],
    }
    return {
        "namespace": namespace,
        "order_id": order_id,
        "partner_id": DEMO,
        "sell_to_order_reference": reference,
        "sell_to_email": "",
        "sell_to_name": "Import Tester",
        "sell_to_language": "ENU",
        "payment_reference": "",
        "status": "Error",
        "status_message": "Imported in Error.",
        "received_at": "2031-01-01T08:00:00+00:00",
        "job_id": "",
        "manifest": None,
        "lines": [line],
        "ota": False,
        "buy_from_order_reference": "",
        "status_since": None,
        "pending_outcome": {},
    }


def order_copies(template: dict, company: str, start: int, end: int, tag: str = "BULK") -> list[dict]:
    """Copies `start` to `end` of the exported order record `template`, in the namespace of
    `company`, each with ids, references and numbers of its own (apart from the server's own:
    another first digit per tag) and holding no capacity, so that creates still fit."""
    digit = "9" if tag == "BULK" else "8"
    records = []
    for index in range(start, end):
        record = copy.deepcopy(template)
        record["namespace"] = [*template["namespace"][:2], company]
        record["order_id"] = str(uuid.uuid4())
        record["sell_to_order_reference"] = f"{tag}-{index}"
        for line in record["lines"]:
            for wallet in line["wallets"]:
                wallet["wallet_id"] = str(uuid.uuid4())
                wallet["reference_number"] = f"{digit}{index:017d}"[-18:] + wallet["reference_number"][-1:]
                wallet["external_reference_number"] = f"{tag}-{index}-{wallet['seq_no']}"
                for ticket in wallet["tickets"]:
                    ticket["number"] = f"{tag}-{index}-{wallet['seq_no']}"
                    ticket["units"] = 0
        records.append(record)
    return records


def order_json_problems(order: dict) -> list[str]:
    """What is wrong with an order answer: wallets per quantity (one for a group), tickets per wallet."""
    if order.get("status") not in LIVE:
        return []
    problems = []
    for item in order["items"]:
        wallets = 1 if item["itemNumber"] in GROUP_ITEMS else item["quantity"]
        if len(item["wallets"]) != wallets:
            problems.append(f"{order['orderId']} line {item['lineNo']}: {len(item['wallets'])} wallets for {wallets}")
        for wallet in item["wallets"]:
            if len(wallet["assets"]) != PACKAGE_TICKETS.get(item["itemNumber"], 1):
                problems.append(f"{order['orderId']} wallet {wallet['walletId']}: {len(wallet['assets'])} tickets")
    return problems


# -- what was acknowledged -----------------------------------------------------


@dataclass
class Track:
    """What a client knows of its order with this reference: the acknowledged order id and
    status (None: no such order), and the outcomes of calls sent but never answered."""

    reference: str
    partner: str
    order_id: str | None = None
    status: str | None = None
    maybe: set = field(default_factory=set)  # statuses of order_id; "gone"; "new" (another id)

    @property
    def definite(self) -> bool:
        return not self.maybe

    def allows(self, order_id: str | None, status: str | None) -> bool:
        if (order_id, status) == (self.order_id, self.status):
            return True
        if order_id is None:
            return "gone" in self.maybe
        if order_id != self.order_id:
            return "new" in self.maybe
        return status in self.maybe

    def settle(self, order_id: str | None, status: str | None) -> str | None:
        """Take what the server holds as the truth; a complaint if it was not allowed."""
        complaint = None
        if not self.allows(order_id, status):
            complaint = (
                f"{self.reference}: acknowledged {self.order_id} {self.status} (or {sorted(self.maybe)}), "
                f"server has {order_id} {status}"
            )
        self.order_id, self.status, self.maybe = order_id, status, set()
        return complaint

    def acknowledge(self, order: dict) -> None:
        self.order_id, self.status, self.maybe = order["orderId"], order["status"], set()

    def refuse(self) -> None:
        """The create was answered 503 (not saved): no order was made."""
        self.order_id, self.status, self.maybe = None, None, set()


class Tracks:
    """Every reference the clients used, whatever happened to it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_reference: dict[str, Track] = {}

    def new(self, reference: str, partner: str) -> Track:
        track = Track(reference.upper(), partner, maybe={"new"})
        with self.lock:
            self.by_reference[track.reference] = track
        return track

    def settle_all(self, state: dict, prefix: str) -> list[str]:
        """Compare every track with the stored state (then take the state as the truth), and
        find stored orders of this run that no client ever sent."""
        stored = {}
        problems = []
        for order in state["orders"]:
            reference = order["sell_to_order_reference"]
            if prefix not in reference:
                continue
            if reference in stored:
                problems.append(f"two stored orders with reference {reference}")
            stored[reference] = order
        for reference, order in stored.items():
            if reference not in self.by_reference:
                problems.append(f"{order['order_id']} ({reference}, {order['status']}) was never sent by a client")
        for track in self.by_reference.values():
            order = stored.get(track.reference)
            complaint = track.settle(order["order_id"] if order else None, order["status"] if order else None)
            if complaint:
                problems.append(complaint)
        return problems

    def counts(self) -> Counter:
        return Counter(track.status or "absent" for track in self.by_reference.values())


# -- the stored state ----------------------------------------------------------


def store_problems(state: dict, capacity_in_use: dict) -> list[str]:
    """Each order's wallets and tickets match its lines; ticket and wallet numbers are unique;
    the capacity the server counts in use equals the units the stored tickets hold."""
    problems = []
    tickets, wallets, held = Counter(), Counter(), Counter()
    for order in state["orders"]:
        problems += _order_record_problems(order)
        namespace = "/".join(order["namespace"])
        for line in order["lines"]:
            for wallet in line["wallets"]:
                wallets[wallet["reference_number"]] += 1
                for ticket in wallet["tickets"]:
                    tickets[ticket["number"]] += 1
                    held[(namespace, ticket["admission_code"], ticket["visit_date"], ticket["slot"])] += ticket["units"]
    problems += [f"ticket number {n} held {c} times" for n, c in tickets.items() if c > 1]
    problems += [f"wallet reference {n} held {c} times" for n, c in wallets.items() if c > 1]
    held = {key: units for key, units in held.items() if units}
    for key in sorted(set(held) | set(capacity_in_use)):
        if held.get(key, 0) != capacity_in_use.get(key, 0):
            problems.append(
                f"capacity {key}: tickets hold {held.get(key, 0)}, server counts {capacity_in_use.get(key, 0)}"
            )
        if held.get(key, 0) > SLOT_CAPACITY.get(key[1], 0):
            problems.append(f"capacity {key}: {held[key]} units booked, more than {SLOT_CAPACITY.get(key[1])}")
    return problems


def _order_record_problems(order: dict) -> list[str]:
    name = f"{order['order_id']} ({order['status']})"
    wallets = [wallet for line in order["lines"] for wallet in line["wallets"]]
    if order["status"] == "Cancelled" and order["lines"]:
        return [f"{name}: a cancelled order keeps its lines"]
    if order["status"] not in LIVE:
        return [f"{name}: holds wallets"] if wallets else []
    problems = []
    if bool(order["manifest"]) != (order["status"] == "Issued" and MANIFESTS.get(order["partner_id"], False)):
        problems.append(f"{name}: manifest {order['manifest']}")
    for line in order["lines"]:
        expected = 1 if line["is_group"] else line["quantity"]
        if len(line["wallets"]) != expected:
            problems.append(f"{name} line {line['line_no']}: {len(line['wallets'])} wallets for {expected}")
        for wallet in line["wallets"]:
            if len(wallet["tickets"]) != PACKAGE_TICKETS.get(line["item_number"], 1):
                problems.append(f"{name} wallet {wallet['wallet_id']}: {len(wallet['tickets'])} tickets")
            units = line["quantity"] if line["is_group"] else 1
            if any(ticket["units"] != units for ticket in wallet["tickets"]):
                problems.append(
                    f"{name} wallet {wallet['wallet_id']}: ticket units {[t['units'] for t in wallet['tickets']]}"
                )
    return problems


def orders_by_id(state: dict) -> dict:
    return {order["order_id"]: order for order in state["orders"]}


def report(title: str, problems: list[str], shown: int = 20) -> bool:
    """Print PASS or FAIL with the first problems; True when it passed."""
    print(f"{'PASS' if not problems else 'FAIL'}  {title}" + (f" ({len(problems)} problems)" if problems else ""))
    for problem in problems[:shown]:
        print(f"      - {problem}")
    if len(problems) > shown:
        print(f"      ... and {len(problems) - shown} more")
    return not problems
