"""Request builders, a small client wrapper and `cm-sim serve` in a subprocess, shared by the tests."""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

DEMO = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"  # active, manifests
PLAIN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"  # active, no manifests
DORMANT = "5c1f0e2a-8b3d-4e6f-9a7b-1c2d3e4f5a6b"  # inactive
TENANT = "01234567-89ab-cdef-0123-456789abcdef"
BASE = f"/{TENANT}/production/CRONUS%2520International%2520Ltd./channelManager"
HEADERS = {"x-np-api-key": "test-key"}

ORDER_FIELDS = [
    "orderId",
    "status",
    "statusMessage",
    "partnerId",
    "sellToOrderReference",
    "sellToEmail",
    "sellToName",
    "sellToLanguage",
    "paymentReference",
    "receivedAt",
    "jobId",
]
LINE_FIELDS = [
    "lineNo",
    "itemNumber",
    "description",
    "isPackage",
    "quantity",
    "visitDate",
    "visitTime",
    "sellToName",
    "sellToEmail",
    "sellToLanguage",
]
WALLET_FIELDS = [
    "seqNo",
    "walletId",
    "walletReferenceNumber",
    "externalReferenceNumber",
    "name",
    "issuedAt",
    "unitPriceExclVat",
    "unitPriceInclVat",
    "currencyCode",
]
ASSET_FIELDS = ["id", "type", "assetId", "referenceNumber", "itemNumber", "description"]
SUMMARY_FIELDS = [
    "orderId",
    "partnerId",
    "sellToOrderReference",
    "sellToEmail",
    "sellToName",
    "sellToLanguage",
    "paymentReference",
    "status",
    "statusMessage",
    "receivedAt",
    "jobId",
    "manifestUrl",
]


def visit_day(weekday: int = 1, weeks: int = 5) -> str:
    """A date at least `weeks` weeks ahead falling on `weekday` (0 = Monday; tours run Tue-Sun)."""
    day = date.today() + timedelta(weeks=weeks)
    return (day + timedelta(days=(weekday - day.weekday()) % 7)).isoformat()


TUESDAY = visit_day(1)  # tours run on it
MONDAY = visit_day(0)  # tours do not


def past_day() -> str:
    return (date.today() - timedelta(days=3)).isoformat()


def seed_create_body(visit_date: str | None = None) -> dict:
    """The getting-started page's createOrder body, with a future visit date."""
    return {
        "partnerId": DEMO,
        "sellToOrderReference": "PARTNER-ORDER-2026-00042",
        "items": [
            {
                "itemNumber": "31001",
                "visitDate": visit_date or visit_day(),
                "visitTime": "10:30:00",
                "quantity": 2,
                "wallet": {
                    "names": ["Jane Doe", "John Doe"],
                    "externalReferenceNumbers": ["JD-2026-001", "JOHN-2026-001"],
                },
            }
        ],
        "sellToEmail": "guest@example.com",
        "sellToName": "Jane Doe",
        "sellToLanguage": "ENU",
        "paymentReference": "PAY-987654",
    }


def line(
    item: str = "31001", quantity: int | None = 1, visit_date: str | None = None, visit_time: str = "10:30:00", **fields
) -> dict:
    entry = {"itemNumber": item, "visitDate": visit_date or visit_day(), "visitTime": visit_time}
    if quantity is not None:
        entry["quantity"] = quantity
    entry.update(fields)
    return entry


def order_body(
    reference: str = "REF-1", paid: bool = True, items: list | None = None, partner: str = DEMO, **fields
) -> dict:
    body = {
        "partnerId": partner,
        "sellToOrderReference": reference,
        "items": items if items is not None else [line()],
        "sellToEmail": "guest@example.com",
        "sellToName": "Jane Doe",
        "sellToLanguage": "ENU",
    }
    if paid:
        body["paymentReference"] = "PAY-987654"
    body.update(fields)
    return body


def without(body: dict, *path) -> dict:
    """A deep copy of body with the key at `path` removed."""
    copied = copy.deepcopy(body)
    del _parent(copied, path)[path[-1]]
    return copied


def with_value(body: dict, *path_and_value) -> dict:
    """A deep copy of body with `path` set to the last argument."""
    *path, value = path_and_value
    copied = copy.deepcopy(body)
    _parent(copied, path)[path[-1]] = value
    return copied


def _parent(body, path):
    for key in path[:-1]:
        body = body[key]
    return body


class Api:
    """The six operations against a Flask test client (or anything with its call shape)."""

    def __init__(self, client, base: str = BASE, headers: dict | None = None):
        self.client = client
        self.base = base
        self.headers = HEADERS if headers is None else headers

    def create(self, body):
        return self.client.post(self.base, json=body, headers=self.headers)

    def get(self, order_id: str):
        return self.client.get(f"{self.base}/{order_id}", headers=self.headers)

    def list(self, partner: str = DEMO, **query):
        return self.client.get(f"{self.base}/orders/{partner}", query_string=query, headers=self.headers)

    def confirm(self, order_id: str, body=None):
        body = {"paymentReference": "PAY-987654"} if body is None else body
        return self.client.post(f"{self.base}/{order_id}/confirm", json=body, headers=self.headers)

    def replace(self, order_id: str, body):
        return self.client.put(f"{self.base}/{order_id}", json=body, headers=self.headers)

    def delete(self, order_id: str):
        return self.client.delete(f"{self.base}/{order_id}", headers=self.headers)

    def created(self, body) -> dict:
        """Create and insist it worked: the order JSON."""
        response = self.create(body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def find(self, reference: str, partner: str = DEMO) -> dict:
        """The one listed summary with this reference."""
        listed = self.list(partner, sellToOrderReference=reference).get_json()
        assert len(listed) == 1, listed
        return listed[0]


def assert_error(response, status: int, message: str, code: str = "generic_error") -> None:
    """An API error: status, then code, then the exact message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json() == {"code": code, "message": message}


def wait_for(condition, seconds: float = 5) -> bool:
    """Whether `condition()` came true within `seconds` (a liveness bound, not a speed check)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# headless Chromium as the browser tests run it (no sandbox as root, nothing fetched in the background)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Served:
    """`cm-sim serve --port 0` in a subprocess; its URL comes from the first line it prints."""

    def __init__(self, *args, quiet=True):
        command = [str(Path(sys.executable).with_name("cm-sim")), "serve", "--port", "0", *args]
        if quiet:
            command.append("--quiet")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline()
        assert "serving on" in first, first + self.process.stderr.read()
        self.url = first.split("serving on ")[1].split()[0]
        assert requests.get(self.url + "/_sim/health", timeout=10).status_code == 200

    def call(self, method, path="", **kwargs):
        return requests.request(method, self.url + BASE + path, headers=HEADERS, timeout=30, **kwargs)

    def stop(self, signum: int = signal.SIGTERM) -> str:
        """Stop it gracefully; the rest of what it printed (its standard error in `.errors`)."""
        self.process.send_signal(signum)
        printed, self.errors = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, self.errors
        return printed


class Endpoint:
    """A real local HTTP endpoint (a webhook receiver): each POST's body goes to `answer(handler, body)`."""

    def __init__(self, answer):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                answer(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))

            do_GET = do_POST  # a followed redirect would come as a GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
