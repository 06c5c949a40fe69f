"""The sample integration's own test suite, run against the simulator's pytest plugin."""

import datetime

import pytest
from partner_client import (
    ChannelManagerClient,
    InvalidOrder,
    IssuanceFailed,
    NotAuthorized,
    NotFound,
    Unavailable,
)

PARTNER = "21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"
TODAY = datetime.date.today()
TUESDAY = (TODAY + datetime.timedelta(days=35 + (1 - TODAY.weekday()) % 7)).isoformat()  # tours run on Tuesdays
VISIT = {"itemNumber": "31001", "visitDate": TUESDAY, "visitTime": "10:30:00"}
TOUR = {"itemNumber": "31010", "visitDate": TUESDAY, "visitTime": "10:00:00"}


@pytest.fixture(params=["server", "inprocess"])
def sim(request):
    """Every test runs against the live server and in process."""
    return request.getfixturevalue("cm_sim" if request.param == "server" else "cm_sim_inprocess")


@pytest.fixture
def client(sim):
    return ChannelManagerClient(sim.base_url, "any-key", PARTNER, session=sim.session, backoff=0.001)


def test_create_paid_order_is_issued(client):
    order = client.create_order("P-1", [{**VISIT, "quantity": 2}], payment_reference="PAY-1", sellToName="Jane Doe")
    assert order["status"] == "Issued"
    assert len(order["items"][0]["wallets"]) == 2
    assert client.session.get(order["manifestUrl"]).status_code == 200


def test_deferred_payment(client):
    draft = client.create_order("P-2", [VISIT])
    assert draft["status"] == "Draft"
    assert client.confirm_order(draft["orderId"], "PAY-2")["status"] == "Issued"
    assert client.confirm_order(draft["orderId"], "PAY-2")["status"] == "Issued"  # a no-op


def test_issuance_failure_then_replace(client, sim):
    sim.add_fault(
        operation="create",
        times=1,
        fail_issuance="Admission Code TOUR has no available time slots for expected visit date {visit_date}.",
    )
    with pytest.raises(IssuanceFailed) as failed:
        client.create_order("P-3", [TOUR], payment_reference="PAY-3")
    assert failed.value.message.startswith("Admission Code TOUR has no available time slots")
    fixed = client.replace_order(failed.value.order_id, "P-3", [TOUR], payment_reference="PAY-3")
    assert fixed["status"] == "Issued"


def test_replace_that_fails_again_reports_the_order(client, sim):
    draft = client.create_order("P-4", [VISIT])
    with pytest.raises(IssuanceFailed) as failed:
        client.replace_order(draft["orderId"], "P-4", [{**VISIT, "visitDate": "2020-01-01"}])
    assert failed.value.order_id == draft["orderId"]
    assert client.get_order(draft["orderId"])["status"] == "Error"


def test_invalid_input_is_refused(client):
    with pytest.raises(InvalidOrder) as refused:
        client.create_order("P-5", [{**VISIT, "visitTime": "10:30"}])
    assert refused.value.message == "Required field 'visitTime' must be HH:mm:ss"
    assert client.find_order("P-5") is None


def test_duplicate_is_refused(client):
    client.create_order("P-6", [VISIT], payment_reference="PAY-6")
    with pytest.raises(InvalidOrder, match="already exists"):
        client.create_order("P-6", [VISIT], payment_reference="PAY-6")


def test_gateway_errors_are_retried(client, sim):
    sim.add_fault(operation="create", respond=503, times=2)
    sim.add_fault(operation="get", respond=429, times=2)
    order = client.create_order("P-7", [VISIT], payment_reference="PAY-7")
    assert client.get_order(order["orderId"]) == order
    assert [e["response"]["status"] for e in sim.journal(operation="create")] == [503, 503, 201]


def test_persistent_outage_gives_up(client, sim):
    sim.add_fault(respond=503)
    with pytest.raises(Unavailable):
        client.create_order("P-8", [VISIT])


def test_lost_response_is_recovered_without_a_second_order(client, sim):
    sim.add_fault(operation="create", lose_response="reset", times=1)
    order = client.create_order("P-9", [VISIT], payment_reference="PAY-9")
    assert order["status"] == "Issued"
    assert [e["response"]["status"] for e in sim.journal(operation="create")] == [201]


def test_connection_reset_before_anything_happened_is_retried(client, sim):
    sim.add_fault(operation="create", transport="reset", times=1)
    assert client.create_order("P-10", [VISIT])["status"] == "Draft"


def test_delete_and_not_found(client):
    order = client.create_order("P-11", [VISIT], payment_reference="PAY-11")
    assert client.delete_order(order["orderId"])["status"] == "Cancelled"
    draft = client.create_order("P-12", [VISIT])
    client.delete_order(draft["orderId"])
    with pytest.raises(NotFound):
        client.get_order(draft["orderId"])


def test_stuck_order_cannot_be_deleted_until_it_settles(client, sim):
    sim.add_fault(operation="create", stick_in_processing=True, times=1)
    stuck = client.create_order("P-13", [VISIT])  # timed out, but the client found it
    assert stuck["status"] == "Processing"
    with pytest.raises(InvalidOrder, match="currently being processed"):
        client.delete_order(stuck["orderId"])
    sim.release(stuck["orderId"])
    assert client.delete_order(stuck["orderId"])["status"] == "Cancelled"


def test_bad_keys(client, sim):
    sim.load_scenario('[[api_keys]]\nkey = "good"\n[[api_keys]]\nkey = "reader"\nchannel_manager = false\n')
    with pytest.raises(NotAuthorized) as unauthorized:
        client.get_order("9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8")
    assert unauthorized.value.status == 401
    reader = ChannelManagerClient(sim.base_url, "reader", PARTNER, session=sim.session)
    with pytest.raises(NotAuthorized) as forbidden:
        reader.find_order("X")
    assert (forbidden.value.status, forbidden.value.message) == (403, "Missing permissions: NPR API Channel Mgr")


def test_lost_replace_response_is_recovered(client, sim):
    draft = client.create_order("P-14", [VISIT])
    sim.add_fault(operation="replace", lose_response="reset", times=1)
    replaced = client.replace_order(draft["orderId"], "P-14", [VISIT], payment_reference="PAY-14")
    assert replaced["status"] == "Issued"
    assert [e["response"]["lost"] for e in sim.journal(operation="replace")] == ["reset"]


def test_lost_delete_response_is_recovered(client, sim):
    draft = client.create_order("P-15", [VISIT])
    sim.add_fault(operation="delete", lose_response="reset", times=1)
    assert client.delete_order(draft["orderId"])["status"] == "Cancelled"
    with pytest.raises(NotFound):
        client.get_order(draft["orderId"])


def test_stuck_replace_is_reported_as_processing(client, sim):
    draft = client.create_order("P-16", [VISIT])
    sim.add_fault(operation="replace", stick_in_processing=True, times=1)
    assert client.replace_order(draft["orderId"], "P-16", [VISIT])["status"] == "Processing"


def test_an_oversized_order_is_refused(client):
    with pytest.raises(InvalidOrder) as refused:
        client.create_order("P-17", [VISIT], sellToName="x" * (33 * 1024 * 1024))
    assert refused.value.status == 413
