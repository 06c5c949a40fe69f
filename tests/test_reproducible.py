"""--seed: the same requests give the same ids and numbers."""

from simulator import Backend, create_app
from tests.helpers import Api, line, order_body


def run(seed):
    api = Api(create_app(Backend(seed=seed)).test_client())
    first = api.created(order_body(reference="S1", items=[line(quantity=2), line(item="32001")]))
    second = api.created(order_body(reference="S2", paid=False))
    return [_generated(order) for order in (first, second)]


def _generated(order):
    return [order["orderId"], order["jobId"], order.get("manifestUrl", "").split("&gen=")[0]] + [
        (
            w["walletId"],
            w["walletReferenceNumber"],
            w["externalReferenceNumber"],
            [(a["id"], a["assetId"], a["referenceNumber"]) for a in w["assets"]],
        )
        for item in order["items"]
        for w in item["wallets"]
    ]


def test_same_seed_same_numbers():
    assert run(99) == run(99)


def test_other_seed_other_numbers():
    first, second = run(99), run(100)
    assert first[0][0] != second[0][0]
    assert first[0][3][1] != second[0][3][1]


def test_a_full_reset_replays_a_seeded_run():
    from simulator import Backend, create_app
    from tests.helpers import Api, line, order_body

    backend = Backend(seed=7)
    api = Api(create_app(backend).test_client())

    def run():
        order = api.created(order_body(items=[line(quantity=2)]))
        return order["orderId"], [
            (w["walletId"], w["walletReferenceNumber"], [a["referenceNumber"] for a in w["assets"]])
            for w in order["items"][0]["wallets"]
        ]

    first = run()
    api.client.post("/_sim/reset")
    assert run() == first
    backend.stop()
