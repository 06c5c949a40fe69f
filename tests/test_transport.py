"""Transport faults over real HTTP, and the two recovery flows partners must handle."""

import pytest
import requests

from simulator import Backend, create_app
from simulator.server import ThreadedServer
from tests.helpers import BASE, DEMO, HEADERS, TUESDAY, line, order_body


@pytest.fixture
def server():
    with ThreadedServer(create_app(Backend())) as running:
        yield running


def add_rule(server, **rule):
    assert requests.post(server.url + "/_sim/faults", json=rule, timeout=10).status_code == 201


def create(server, body, timeout=30):
    return requests.post(server.url + BASE, json=body, headers=HEADERS, timeout=timeout)


def find(server, reference):
    return requests.get(
        f"{server.url}{BASE}/orders/{DEMO}", params={"sellToOrderReference": reference}, headers=HEADERS, timeout=10
    ).json()


@pytest.mark.parametrize(
    "kind, error",
    [
        ("reset", requests.exceptions.ConnectionError),
        ("empty_reply", requests.exceptions.ConnectionError),
        ("truncated", requests.exceptions.ChunkedEncodingError),
    ],
)
def test_transport_faults_before_processing_change_nothing(server, kind, error):
    add_rule(server, operation="create", transport=kind, times=1)
    with pytest.raises(error):
        create(server, order_body(reference="T-1"))
    assert find(server, "T-1") == []
    assert create(server, order_body(reference="T-1")).status_code == 201


def test_reset_is_a_connection_reset(server):
    add_rule(server, operation="create", transport="reset", times=1)
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        create(server, order_body())
    assert "reset" in str(raised.value).lower()


def test_hang_outlasts_the_client_timeout(server):
    add_rule(server, operation="create", transport="hang", hang_seconds=3, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(server, order_body(reference="H-1"), timeout=0.5)
    assert find(server, "H-1") == []


def test_recovery_error_then_replace_then_issued(server):
    """create -> Error -> find it by reference -> replace with fixed input -> Issued."""
    body = order_body(reference="SIM-FAIL-NO-SLOT-42", items=[line(item="32001", visit_date=TUESDAY)])
    failed = create(server, body)
    assert failed.status_code == 400
    [summary] = find(server, "SIM-FAIL-NO-SLOT-42")
    assert (summary["status"], summary["statusMessage"]) == ("Error", failed.json()["message"])
    replaced = requests.put(f"{server.url}{BASE}/{summary['orderId']}", json=body, headers=HEADERS, timeout=30)
    assert replaced.status_code == 200
    assert replaced.json()["status"] == "Issued"


@pytest.mark.parametrize("lost", ["reset", "empty_reply", "truncated"])
def test_recovery_lost_response_then_retry_then_duplicate_then_list(server, lost):
    """The order was committed but the client never saw the answer: the retry gets the
    duplicate error, and listing by reference finds the order."""
    add_rule(server, operation="create", lose_response=lost, times=1)
    body = order_body(reference="RETRY-ME")
    with pytest.raises(requests.exceptions.RequestException):
        create(server, body)
    retry = create(server, body)
    assert retry.status_code == 400
    assert (
        retry.json()["message"]
        == "An order with sellToOrderReference 'RETRY-ME' already exists for partner 'Demo Sales Channel'"
    )
    [summary] = find(server, "RETRY-ME")
    assert summary["status"] == "Issued"
    order = requests.get(f"{server.url}{BASE}/{summary['orderId']}", headers=HEADERS, timeout=10).json()
    assert len(order["items"][0]["wallets"]) == 1


def test_lost_response_by_timeout_with_the_magic_value(server):
    add_rule(server, operation="create", reference="SLOW-LOST*", lose_response="hang", hang_seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(server, order_body(reference="SLOW-LOST-1"), timeout=0.5)
    assert find(server, "SLOW-LOST-1")[0]["status"] == "Issued"


def test_lost_timeout_magic_value(server):
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(server, order_body(reference="SIM-LOST-TIMEOUT-1"), timeout=0.5)
    assert find(server, "SIM-LOST-TIMEOUT-1")[0]["status"] == "Issued"


def test_hanging_calls_end_when_their_clients_give_up(server):
    from concurrent.futures import ThreadPoolExecutor

    add_rule(server, operation="get", transport="hang", hang_seconds=120)

    def hang(_):
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"{server.url}{BASE}/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8", headers=HEADERS, timeout=0.5)

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(hang, range(20)))  # more hanging calls than the server has threads
    # had they kept their threads, nothing would answer for two minutes
    assert requests.get(server.url + "/_sim/health", timeout=30).status_code == 200
    assert requests.delete(server.url + "/_sim/faults", timeout=30).status_code == 200
