"""Manifests: served by the simulator, one page per order and per wallet, gone after teardown."""

from urllib.parse import urlsplit

from tests.helpers import DEMO, line, order_body


def fetch(client, url):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def test_order_manifest_lists_every_wallet_with_scannable_tickets(api, client):
    items = [line(quantity=2, wallet={"names": ["Jane Doe", "John Doe"]}), line(item="32001")]
    order = api.created(order_body(items=items))
    response = fetch(client, order["manifestUrl"])
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    page = response.get_data(as_text=True)
    wallets = [w for i in order["items"] for w in i["wallets"]]
    assert len(wallets) == 3
    for wallet in wallets:
        assert wallet["walletReferenceNumber"] in page
        assert wallet["name"] in page
        for asset in wallet["assets"]:
            assert f'data-ticket-number="{asset["referenceNumber"]}"><svg' in page
    assert page.count("<svg") == 4  # 2 single tickets + a package of 2


def test_wallet_manifest_shows_that_wallet_alone(api, client):
    order = api.created(order_body(items=[line(quantity=2, wallet={"names": ["Jane Doe", "John Doe"]})]))
    first, second = order["items"][0]["wallets"]
    page = fetch(client, first["manifestUrl"]).get_data(as_text=True)
    assert "Jane Doe" in page and first["walletReferenceNumber"] in page
    assert second["walletReferenceNumber"] not in page
    assert page.count("<svg") == 1


def test_manifest_stops_resolving_after_delete(api, client):
    order = api.created(order_body())
    api.delete(order["orderId"])
    response = fetch(client, order["manifestUrl"])
    assert response.status_code == 404
    assert response.get_json() == {"code": "resource_not_found", "message": "Manifest not found Not Found"}
    assert fetch(client, order["items"][0]["wallets"][0]["manifestUrl"]).status_code == 404


def test_manifest_url_points_at_the_requesting_host(api, client):
    order = api.created(order_body())
    assert order["manifestUrl"].startswith("http://localhost/_sim/manifest?mid=")
    listed = api.list(DEMO).get_json()[0]
    assert listed["manifestUrl"] == order["manifestUrl"]
    assert api.get(order["orderId"]).get_json()["manifestUrl"] == order["manifestUrl"]


def test_unknown_manifest_is_404(client):
    assert client.get("/_sim/manifest?mid=nothing").status_code == 404
    assert client.get("/_sim/manifest").status_code == 404
