"""Concurrent requests over real HTTP against the multi-threaded server."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from simulator import Backend, create_app
from simulator.server import ThreadedServer
from tests.helpers import BASE, DEMO, HEADERS, line, order_body, visit_day


@pytest.fixture
def server():
    with ThreadedServer(create_app(Backend())) as running:
        yield running


def post_order(server, body):
    response = requests.post(server.url + BASE, json=body, headers=HEADERS, timeout=30)
    return response.status_code, response.json()


def listed(server):
    return requests.get(f"{server.url}{BASE}/orders/{DEMO}", headers=HEADERS, timeout=30).json()


def test_many_threads_creating_the_same_reference_give_exactly_one_order(server):
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: post_order(server, order_body(reference="RACE")), range(32)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * 31
    duplicate = "An order with sellToOrderReference 'RACE' already exists for partner 'Demo Sales Channel'"
    assert all(body["message"] == duplicate for status, body in results if status == 400)
    assert len(listed(server)) == 1


def test_many_distinct_creates_lose_none(server):
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: post_order(server, order_body(reference=f"MANY-{i}")), range(200)))
    assert [status for status, _ in results] == [201] * 200
    created = {body["orderId"] for _, body in results}
    assert len(created) == 200
    assert {summary["orderId"] for summary in listed(server)} == created
    numbers = [a["referenceNumber"] for _, body in results for w in body["items"][0]["wallets"] for a in w["assets"]]
    assert len(set(numbers)) == 200


def test_concurrent_bookings_never_exceed_capacity(server):
    day = visit_day(weekday=2)
    tour = [line(item="31010", visit_date=day, visit_time="10:00:00")]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: post_order(server, order_body(reference=f"TOUR-{i}", items=tour)), range(25)))
    assert sorted(status for status, _ in results) == [201] * 10 + [400] * 15
    issued = [s for s in listed(server) if s["status"] == "Issued"]
    assert len(issued) == 10


def test_concurrent_confirm_and_delete_settle_consistently(server):
    _, draft = post_order(server, order_body(reference="CD", paid=False))
    url = f"{server.url}{BASE}/{draft['orderId']}"

    def confirm(_):
        return requests.post(url + "/confirm", json={"paymentReference": "P"}, headers=HEADERS, timeout=30).status_code

    def delete(_):
        return requests.delete(url, headers=HEADERS, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        confirms = pool.map(confirm, range(8))
        deletes = pool.map(delete, range(2))
        outcomes = list(confirms) + list(deletes)
    assert set(outcomes) <= {200, 400, 404}
    final = requests.get(url, headers=HEADERS, timeout=30)
    # whatever the interleaving, the order ends removed (deleted as Draft) or Cancelled (deleted once Issued)
    assert final.status_code == 404 or final.json()["status"] == "Cancelled"
