"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright."""

import os
import shutil
import socket

import pytest
import requests

from simulator import Backend, create_app, parse_scenario
from simulator.server import ThreadedServer
from tests.helpers import BASE, CHROMIUM_FLAGS, HEADERS, TENANT, Endpoint, line, order_body, past_day

CHROMIUM = shutil.which("chromium")
# CI installs the browser (make ui-deps): there these tests must run, not skip
pytestmark = pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="needs Debian's chromium (make ui-deps)"
)
OTHER = f"/{TENANT}/production/Other%20Company/channelManager"  # a second namespace: company "Other Company"
WEBHOOK = f"/{TENANT}/production/CRONUS%2520International%2520Ltd./webhook"
EVENT = "ota_cm_order_processed"
REFRESH_MS = 3000  # the page's automatic refresh period
WAIT_MS = 15_000  # a liveness bound for what the page does by itself, never a measure
OTA = """
[ota]
all_partners = true
cadence_seconds = 0
[webhooks]
retry_seconds = []
"""


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser.new_page()
        browser.close()


def serving(backend=None, **options):
    return ThreadedServer(create_app(backend or Backend(seed=1), **options))


@pytest.fixture
def server():
    with serving() as running:
        yield running


def post(server, body, base=BASE):
    return requests.post(server.url + base, json=body, headers=HEADERS, timeout=30)


def control(server, method, path, token=None, **options):
    headers = {"x-sim-token": token} if token else {}
    response = requests.request(method, server.url + "/_sim/" + path, headers=headers, timeout=60, **options)
    assert response.ok, response.text
    return response.json()


def fetches(page) -> list:
    """The fetch() calls the page makes from now on (method and URL)."""
    seen = []
    page.on("request", lambda request: request.resource_type == "fetch" and seen.append((request.method, request.url)))
    return seen


def refreshed(page, selector):
    """Press "Refresh now", wait for its answer and until `selector` is on the page."""
    with page.expect_response(lambda response: response.request.resource_type == "fetch", timeout=WAIT_MS):
        page.click("#refresh")
    page.wait_for_selector(selector, timeout=WAIT_MS)


def test_dashboard_shows_orders_history_journal_and_capacity(server, page):
    issued = post(server, order_body(reference="DASH-ISSUED", items=[line(quantity=2)])).json()
    draft = post(server, order_body(reference="DASH-DRAFT", paid=False)).json()
    requests.post(
        f"{server.url}{BASE}/{draft['orderId']}/confirm", json={"paymentReference": "P"}, headers=HEADERS, timeout=30
    )
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


# -- 1. refreshing in place ------------------------------------------------------


def test_the_page_refreshes_itself_in_place_keeping_scroll_position_and_typed_text(server, page):
    for number in range(12):
        post(server, order_body(reference=f"EARLY-{number}"))
    page.clock.install()  # the page's timers run when the test says so
    page.set_viewport_size({"width": 1200, "height": 500})
    page.goto(server.url + "/_sim/")
    page.fill("#scenario-text", "# half written")
    page.evaluate("window.sameDocument = true")
    page.locator("#journal").scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0

    created = post(server, order_body(reference="ARRIVED-LATER")).json()
    page.clock.run_for(REFRESH_MS)
    page.wait_for_selector(f"tr[data-order-id='{created['orderId']}']", timeout=WAIT_MS)
    assert page.evaluate("window.sameDocument") is True  # swapped in place, not reloaded
    assert page.evaluate("window.scrollY") == scrolled
    assert page.input_value("#scenario-text") == "# half written"
    assert page.locator("#journal tr[data-entry-id]").count() == 13
    assert page.locator("#refreshed").inner_text().startswith("updated")


def test_the_refresh_toggle_stops_the_automatic_refresh_and_the_button_still_refreshes(server, page):
    page.clock.install()
    page.goto(server.url + "/_sim/")
    assert page.is_checked("#auto-refresh")
    page.uncheck("#auto-refresh")
    page.reload()
    assert not page.is_checked("#auto-refresh")  # the choice is remembered
    made = fetches(page)
    page.clock.run_for(20 * REFRESH_MS)
    created = post(server, order_body(reference="BY-THE-BUTTON")).json()
    refreshed(page, f"tr[data-order-id='{created['orderId']}']")
    assert [method for method, _ in made] == ["GET"]  # the button's refresh only: the timer fetched nothing


# -- 2. the namespace filter -----------------------------------------------------


def test_the_namespace_filter_shows_one_namespace_and_stays_across_refreshes_and_reloads(server, page):
    post(server, order_body(reference="IN-CRONUS"))
    post(server, order_body(reference="IN-OTHER"), base=OTHER)
    page.goto(server.url + "/_sim/")
    assert page.locator("td.reference").all_inner_texts() == ["IN-CRONUS", "IN-OTHER"]

    page.select_option("#namespace", label=f"{TENANT}/production/Other Company")
    page.wait_for_selector("td.reference:has-text('IN-CRONUS')", state="detached", timeout=WAIT_MS)
    assert page.locator("td.reference").all_inner_texts() == ["IN-OTHER"]
    assert set(page.locator("#journal td.namespace").all_inner_texts()) == {"Other Company"}
    assert "company=Other+Company" in page.url

    post(server, order_body(reference="LATER-CRONUS"))
    post(server, order_body(reference="LATER-OTHER"), base=OTHER)
    refreshed(page, "td.reference:has-text('LATER-OTHER')")
    assert page.locator("td.reference").all_inner_texts() == ["IN-OTHER", "LATER-OTHER"]
    assert page.locator("#journal tr[data-entry-id]").count() == 2
    page.reload()
    assert page.locator("td.reference").all_inner_texts() == ["IN-OTHER", "LATER-OTHER"]
    assert page.locator("#namespace option:checked").inner_text().endswith("/Other Company")

    page.select_option("#namespace", label="All namespaces")
    page.wait_for_selector("td.reference:has-text('LATER-CRONUS')", timeout=WAIT_MS)
    assert page.locator("#journal tr[data-entry-id]").count() == 4


# -- 3. reset asks first ---------------------------------------------------------


def test_reset_asks_first_cancelling_changes_nothing_and_confirming_resets(server, page):
    kept = post(server, order_body(reference="STILL-HERE")).json()
    page.goto(server.url + "/_sim/")
    made = fetches(page)
    page.click("#reset")
    assert page.locator("#confirm-reset").is_visible()
    page.click("#reset-cancel")
    page.wait_for_selector("#confirm-reset", state="hidden", timeout=WAIT_MS)
    page.click("#reset")
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm-reset", state="hidden", timeout=WAIT_MS)
    refreshed(page, f"tr[data-order-id='{kept['orderId']}']")
    assert ("POST", f"{server.url}/_sim/reset") not in made
    assert len(control(server, "GET", "state")["orders"]) == 1

    page.click("#reset")
    page.click("#reset-confirm")
    page.wait_for_selector("#no-orders", timeout=WAIT_MS)
    assert page.locator("#message").inner_text() == "Everything was reset."
    assert control(server, "GET", "state")["orders"] == []


# -- 4. the scenario box ---------------------------------------------------------


def test_the_scenario_box_starts_empty_with_an_example_and_loads_nothing_when_empty(server, page):
    page.goto(server.url + "/_sim/")
    assert page.input_value("#scenario-text") == ""
    assert "[[faults]]" in page.get_attribute("#scenario-text", "placeholder")
    made = fetches(page)
    page.click("#load-scenario")
    page.wait_for_selector("#message:has-text('Paste a scenario first')", timeout=WAIT_MS)
    assert made == []
    assert control(server, "GET", "scenarios") == [] and control(server, "GET", "faults") == []


def test_dashboard_actions_load_a_scenario_and_reset(server, page):
    post(server, order_body(reference="BEFORE-RESET"))
    page.goto(server.url + "/_sim/")
    page.fill("#scenario-text", '[[faults]]\nid = "from-the-dashboard"\nrespond = 429\n')
    page.click("#load-scenario")
    page.wait_for_selector("#rules:has-text('from-the-dashboard')", timeout=WAIT_MS)
    assert "posted-1" in page.locator("#scenarios").inner_text()
    assert page.locator("#message").inner_text() == "Loaded posted-1."
    assert post(server, order_body(reference="LIMITED")).status_code == 429

    page.fill("#scenario-text", "[catalog\n")
    page.click("#load-scenario")
    page.wait_for_selector("#message:has-text('not valid TOML')", timeout=WAIT_MS)

    page.click("#reset")
    page.click("#reset-confirm")
    page.wait_for_selector("#no-orders", timeout=WAIT_MS)
    assert page.locator("#rules").count() == 0
    assert post(server, order_body(reference="AFTER-RESET")).status_code == 201


# -- 5. the journal says why ------------------------------------------------------


def test_journal_rows_show_the_rejection_field_rule_and_message(server, page):
    refused = post(server, order_body(reference="BAD-DATE", items=[line(visit_date="2026-13-45")])).json()
    failed = post(server, order_body(reference="IN-THE-PAST", items=[line(visit_date=past_day())])).json()
    page.goto(server.url + "/_sim/")
    refusal, failure = page.locator("#journal tr[data-entry-id] td.details").all_inner_texts()[::-1]
    assert refusal.startswith("items[0].visitDate (") and refusal.endswith(refused["message"])
    assert failure.startswith("(issuance) ") and failure.endswith(failed["message"])


# -- 6. webhooks -----------------------------------------------------------------


@pytest.fixture
def receiver():
    def accept(handler, body):
        handler.send_response(200)
        handler.end_headers()

    running = Endpoint(accept)
    yield running
    running.close()


def refused_url() -> str:
    """A local address where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/nobody-here"


def test_the_webhooks_panel_shows_subscriptions_and_deliveries_with_their_outcome(receiver, page):
    backend = Backend(scenarios=[parse_scenario(OTA, "ota.toml")], seed=1)
    with serving(backend) as server:
        gone = refused_url()
        subscribed = [
            requests.post(
                server.url + WEBHOOK, json={"notificationUrl": url, "eventName": EVENT}, headers=HEADERS, timeout=30
            ).json()
            for url in (receiver.url, gone)
        ]
        order = post(server, order_body(reference="OTA-1")).json()
        control(server, "POST", "ota/run", json={"everything": True})
        assert control(server, "POST", "webhooks/flush") == {"flushed": True}

        page.goto(server.url + "/_sim/")
        for subscription in subscribed:
            row = page.locator(f"#subscriptions tr[data-subscription-id='{subscription['id']}']").inner_text()
            for value in (TENANT, "production/CRONUS International Ltd.", subscription["notificationUrl"], EVENT):
                assert value in row
        delivered = page.locator(f"#deliveries tr:has-text('{receiver.url}')").inner_text()
        assert "200" in delivered and "delivered" in delivered and order["orderId"] in delivered
        failed = page.locator(f"#deliveries tr:has-text('{gone}')").inner_text()
        assert "no answer" in failed and "failed (connection refused); gave up" in failed
        assert "None" not in page.locator("#deliveries").inner_text()
        assert "None" not in page.locator("#journal").inner_text()
        assert "failed (connection refused); gave up" in page.locator("#journal").inner_text()


# -- 7. prices ---------------------------------------------------------------------

PACKAGE = """
[[catalog.items]]
number = "39001"
description = "Family Package"
kind = "package"
components = [{ item = "31001", quantity = 2 }, { item = "31002", quantity = 2 }]
"""


def test_the_catalog_shows_a_package_price_as_the_sum_of_its_components(server, page):
    page.goto(server.url + "/_sim/")
    assert page.locator("#items tr[data-item='32001'] td.price").inner_text() == "200 / 250 DKK (its components)"
    page.fill("#scenario-text", PACKAGE)
    page.click("#load-scenario")
    page.wait_for_selector("#items tr[data-item='39001']", timeout=WAIT_MS)
    assert page.locator("#items tr[data-item='39001'] td.price").inner_text() == "240 / 300 DKK (its components)"


# -- security: the token, escaping ---------------------------------------------------


def test_opened_with_a_control_token_the_page_refreshes_filters_and_resets_with_it(page):
    with serving(control_token="s3cret") as server:
        assert requests.get(server.url + "/_sim/", timeout=30).status_code == 401
        page.goto(server.url + "/_sim/?token=s3cret")
        created = post(server, order_body(reference="SEEN-WITH-TOKEN")).json()
        refreshed(page, f"tr[data-order-id='{created['orderId']}']")
        assert page.locator("#refreshed").inner_text().startswith("updated")
        page.select_option("#namespace", index=1)
        page.wait_for_url("**company=CRONUS*", timeout=WAIT_MS)
        assert "token=s3cret" in page.url
        page.reload()
        assert page.locator(f"tr[data-order-id='{created['orderId']}']").count() == 1
        page.click("#reset")
        page.click("#reset-confirm")
        page.wait_for_selector("#no-orders", timeout=WAIT_MS)
        assert control(server, "GET", "state", token="s3cret")["orders"] == []


MARKUP = "<img src=x onerror=window.ran=1><script>window.ran=2</script>"
MARKED_COMPANY = "<img src=x onerror=window.ran=3>"
MARKED = f"/{TENANT}/production/%3Cimg%20src%3Dx%20onerror%3Dwindow.ran%3D3%3E/channelManager"


def test_markup_in_references_names_companies_and_subscriptions_shows_as_text_and_never_runs(server, page):
    marked = post(server, order_body(reference=MARKUP, items=[line(wallet={"names": [MARKUP]})])).json()
    stored = marked["sellToOrderReference"]  # upper case, cut to 20 characters, as Business Central keeps it
    assert stored.startswith("<IMG")
    post(server, order_body(reference="IN-BOLD"), base=MARKED)
    requests.post(
        server.url + WEBHOOK,
        json={"notificationUrl": f"http://example.invalid/{MARKUP}", "eventName": MARKUP},
        headers=HEADERS,
        timeout=30,
    )
    page.goto(server.url + "/_sim/")
    refreshed(page, "#refreshed:has-text('updated')")  # the swapped copy too
    page.select_option("#namespace", label=f"{TENANT}/production/{MARKED_COMPANY}")
    page.wait_for_selector("td.reference:has-text('IN-BOLD')", timeout=WAIT_MS)
    page.select_option("#namespace", label="All namespaces")
    page.wait_for_selector(f"tr[data-order-id='{marked['orderId']}']", timeout=WAIT_MS)
    assert page.evaluate("window.ran") is None
    assert page.locator("#live img, #live script, #namespace img").count() == 0
    assert page.locator(f"tr[data-order-id='{marked['orderId']}'] td.reference").inner_text() == stored
    assert MARKUP in page.locator(f"tr[data-order-id='{marked['orderId']}']").inner_text()  # the wallet's name
    assert MARKUP in page.locator("#subscriptions").inner_text()
    assert f"{TENANT}/production/{MARKED_COMPANY}" in page.locator("#live").inner_text()
