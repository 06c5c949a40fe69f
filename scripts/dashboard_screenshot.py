"""Save a screenshot of the dashboard with some orders, faults and journal entries on it."""

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from simulator import Backend, create_app  # noqa: E402 (after the checkout is on the path, for tests.helpers)
from simulator.server import ThreadedServer  # noqa: E402
from tests.helpers import CHROMIUM_FLAGS  # noqa: E402 (the flags the browser tests run Chromium with)

PARTNER = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"
API = "/01234567-89ab-cdef-0123-456789abcdef/production/CRONUS%20International%20Ltd./channelManager"
WEBHOOK = "/01234567-89ab-cdef-0123-456789abcdef/production/CRONUS%20International%20Ltd./webhook"
HEADERS = {"x-np-api-key": "screenshot"}


def visit_day() -> str:
    """A Tuesday five weeks or more ahead (guided tours run Tuesday to Sunday)."""
    day = date.today() + timedelta(weeks=5)
    return (day + timedelta(days=(1 - day.weekday()) % 7)).isoformat()


def order(reference, paid=True, **item):
    body = {
        "partnerId": PARTNER,
        "sellToOrderReference": reference,
        "sellToName": "Jane Doe",
        "items": [{"itemNumber": "31001", "visitDate": visit_day(), "visitTime": "10:00:00", **item}],
    }
    if paid:
        body["paymentReference"] = "PAY-" + reference
    return body


def main(path: str) -> None:
    with ThreadedServer(create_app(Backend(seed=1))) as server:

        def post(body: dict) -> requests.Response:
            return requests.post(server.url + API, json=body, headers=HEADERS, timeout=30)

        post(order("WEB-1001", quantity=2))
        post(order("WEB-1002", itemNumber="32001"))
        draft = post(order("WEB-1003", paid=False)).json()
        requests.post(
            f"{server.url}{API}/{draft['orderId']}/confirm",
            json={"paymentReference": "PAY-7"},
            headers=HEADERS,
            timeout=30,
        )
        post(order("SIM-FAIL-CAPACITY-1004", itemNumber="31010"))
        post(order("WEB-1005", quantity=0))
        requests.post(
            server.url + WEBHOOK,
            json={"notificationUrl": "http://127.0.0.1:9000/hooks/cm", "eventName": "ota_cm_order_processed"},
            headers=HEADERS,
            timeout=30,
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=CHROMIUM_FLAGS,
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url + "/_sim/")
            page.screenshot(path=path, full_page=True)
            browser.close()
    print(f"saved {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dashboard.png")
