"""What scenarios switch on in front of the API: keys, restricted namespaces, rate limits."""

import threading
import time

import pytest

from simulator import Backend, create_app
from tests.helpers import BASE, DEMO, TENANT, Api, assert_error, order_body

KEYS = """
[[api_keys]]
key = "full-key"
[[api_keys]]
key = "no-permission-key"
channel_manager = false
"""

NAMESPACES = f"""
[namespaces]
tenants = ["{TENANT}"]
environments = ["production"]
companies = ["CRONUS International Ltd."]
"""


def client_with(tmp_path, text):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    backend = Backend(scenarios=[path])
    return create_app(backend).test_client(), backend


def test_listed_keys_only(tmp_path):
    client, _ = client_with(tmp_path, KEYS)
    assert Api(client, headers={"x-np-api-key": "full-key"}).create(order_body()).status_code == 201
    assert_error(Api(client, headers={"x-np-api-key": "other"}).list(DEMO), 401, "Invalid API key", code="unauthorized")
    assert_error(
        Api(client, headers={"x-np-api-key": "no-permission-key"}).list(DEMO),
        403,
        "Missing permissions: NPR API Channel Mgr",
    )


@pytest.mark.parametrize(
    "path, code, message",
    [
        (
            "/00000000-0000-0000-0000-000000000000/production/CRONUS International Ltd./channelManager",
            "saas_tenant_not_found",
            "Tenant '00000000-0000-0000-0000-000000000000' not found",
        ),
        (
            f"/{TENANT}/sandbox/CRONUS International Ltd./channelManager",
            "saas_environment_not_found",
            "Environment 'sandbox' not found",
        ),
        (f"/{TENANT}/production/Other Ltd./channelManager", "saas_company_not_found", "Company 'Other Ltd.' not found"),
    ],
)
def test_restricted_namespaces(tmp_path, path, code, message):
    client, _ = client_with(tmp_path, NAMESPACES)
    assert_error(Api(client, path).list(DEMO), 404, message, code=code)
    assert Api(client, BASE).create(order_body()).status_code == 201


def test_requests_per_window_follow_the_simulated_clock(tmp_path):
    client, _ = client_with(
        tmp_path,
        "[limits]\nrequests_per_window = 3\nwindow_seconds = 60\n"
        '[clock]\nnow = "2026-05-15T09:30:00Z"\nfrozen = true\n',
    )
    api = Api(client)
    assert [api.list(DEMO).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert api.list(DEMO).get_json()["code"] == "too_many_requests"
    client.post("/_sim/clock/advance", json={"seconds": 61})
    assert api.list(DEMO).status_code == 200


def concurrent_setup(tmp_path, limits):
    client, backend = client_with(tmp_path, limits)
    client.post("/_sim/faults", json={"operation": "create", "reference": "SLOW*", "latency_ms": 2000})
    first = {}
    thread = threading.Thread(target=lambda: first.update(r=Api(client).create(order_body(reference="SLOW-1"))))
    thread.start()
    while backend.gate("test-key")._active == 0:  # wait until the slow call holds the only slot
        time.sleep(0.01)
    return client, thread, first


def test_concurrency_over_the_queue_is_429(tmp_path):
    client, thread, first = concurrent_setup(tmp_path, "[limits]\nmax_concurrent = 1\nmax_queued = 0\n")
    response = Api(client).list(DEMO)
    assert response.status_code == 429
    thread.join()
    assert first["r"].status_code == 201


def test_a_queued_call_that_waits_too_long_is_503(tmp_path):
    client, thread, first = concurrent_setup(
        tmp_path, "[limits]\nmax_concurrent = 1\nmax_queued = 5\nqueue_timeout_seconds = 0.2\n"
    )
    response = Api(client).list(DEMO)
    assert response.status_code == 503
    assert response.get_json()["code"] == "service_unavailable"
    thread.join()
    assert first["r"].status_code == 201
