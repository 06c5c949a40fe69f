"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright."""
import os
import shutil

import pytest
import requests

from simulator import Backend, create_app
from simulator.server import ThreadedServer
from tests.helpers import BASE, HEADERS, line, order_body

CHROMIUM = shutil.which("chromium")
# CI installs the browser (make ui-deps): there these tests must run, not skip
pytestmark = pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="needs Debian's chromium (make ui-deps)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser.new_page()
        browser.close()


@pytest.fixture
def server():
    with ThreadedServer(create_app(Backend(seed=1))) as running:
        yield running


def post(server, body):
    return requests.post(server.url + BASE, json=body, headers=HEADERS, timeout=30)


def test_dashboard_shows_orders_history_journal_and_capacity(server, page):
    issued = post(server, order_body(reference="DASH-ISSUED", items=[line(quantity=2)])).json()
    draft = post(server, order_body(reference="DASH-DRAFT", paid=False)).json()
    requests.post(f"{server.url}{BASE}/{draft['orderId']}/confirm", json={"paymentReference": "P"}, headers=HEADERS,
                  timeout=30)
    post(server, order_body(reference="SIM-FAIL-NO-SLOT-9"))

    page.goto(server.url + "/_sim/")
    rows = page.locator("table.orders tr[data-order-id]")
    assert rows.count() == 3
    issued_row = page.locator(f"tr[data-order-id='{issued['orderId']}']")
    assert issued_row.locator(".status").inner_text() == "Issued"
    tickets = [a["referenceNumber"] for w in issued["items"][0]["wallets"] for a in w["assets"]]
    assert issued_row.locator(".ticket").all_inner_texts() == tickets
    assert "Draft" in page.locator(f"tr[data-order-id='{draft['orderId']}'] .history").inner_text()
    assert "Issued" in page.locator(f"tr[data-order-id='{draft['orderId']}'] .history").inner_text()
    assert "has no available time slots" in page.locator("tr:has-text('SIM-FAIL-NO-SLOT-9') .status").inner_text()
    assert "magic:SIM-FAIL-NO-SLOT" in page.locator("#journal").inner_text()
    assert page.locator("#journal tr").count() == 1 + 4
    castle = page.locator("#capacity tr:has-text('CASTLE')").first.inner_text()
    assert "2000" in castle and "1997" in castle  # 2 + 1 tickets used
    assert page.locator("#clock-now").inner_text().endswith("Z")


def test_dashboard_actions_load_a_scenario_and_reset(server, page):
    post(server, order_body(reference="BEFORE-RESET"))
    page.goto(server.url + "/_sim/")
    page.fill("#scenario-text", '[[faults]]\nid = "from-the-dashboard"\nrespond = 429\n')
    with page.expect_navigation():
        page.click("#load-scenario")
    assert "posted-1" in page.locator("#scenarios").inner_text()
    assert "from-the-dashboard" in page.locator("#rules").inner_text()
    assert post(server, order_body(reference="LIMITED")).status_code == 429

    page.fill("#scenario-text", "[catalog\n")
    page.click("#load-scenario")
    page.wait_for_selector("#message:has-text('not valid TOML')")

    with page.expect_navigation():
        page.click("#reset")
    assert page.locator("#no-orders").is_visible()
    assert page.locator("#rules").count() == 0
    assert post(server, order_body(reference="AFTER-RESET")).status_code == 201
