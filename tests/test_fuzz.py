"""Property: whatever a client sends, the answer is a 2xx order or a 4xx JSON error, never 5xx,
and a rejected request changes nothing."""

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import Backend, create_app
from tests.helpers import BASE, DEMO, HEADERS, TUESDAY, line, order_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "partnerId",
    "sellToOrderReference",
    "items",
    "sellToEmail",
    "sellToName",
    "sellToLanguage",
    "paymentReference",
]
LINE_FIELDS = ["itemNumber", "visitDate", "visitTime", "quantity", "wallet", "sellToName"]
WALLET_FIELDS = ["names", "externalReferenceNumbers", "componentSchedule"]


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def mutated_bodies():
    base = order_body(
        items=[
            line(),
            line(
                item="32001",
                wallet={"componentSchedule": [{"itemNumber": "31010", "visitDate": TUESDAY, "visitTime": "10:00:00"}]},
            ),
        ]
    )

    def mutate(choice):
        kind, key, value = choice
        body = {**base, "items": [dict(entry) for entry in base["items"]]}
        if kind == "header":
            body[key] = value
        elif kind == "line":
            body["items"][0][key] = value
        else:
            body["items"][1]["wallet"] = {**body["items"][1]["wallet"], key: value}
        return body

    return st.one_of(
        json_values,
        st.tuples(st.just("header"), st.sampled_from(FIELDS), json_values).map(mutate),
        st.tuples(st.just("line"), st.sampled_from(LINE_FIELDS), json_values).map(mutate),
        st.tuples(st.just("wallet"), st.sampled_from(WALLET_FIELDS), json_values).map(mutate),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_bodies(), reference=st.text(min_size=1, max_size=8))
def test_create_never_fails_on_the_server_side(body, reference):
    RECORDER.records.clear()  # only what this example caused
    client = CLIENT
    if isinstance(body, dict) and isinstance(body.get("sellToOrderReference"), str):
        body["sellToOrderReference"] = reference
    before = client.get(f"{BASE}/orders/{DEMO}", headers=HEADERS).get_json()
    response = client.post(BASE, json=body, headers=HEADERS)
    assert response.status_code in (201, 400), response.get_data(as_text=True)
    payload = response.get_json()
    after = client.get(f"{BASE}/orders/{DEMO}", headers=HEADERS).get_json()
    if response.status_code == 201:
        assert client.get(f"{BASE}/{payload['orderId']}", headers=HEADERS).get_json() == payload
    else:
        assert set(payload) == {"code", "message"} and payload["code"] == "generic_error"
        changed = [s for s in after if s not in before]
        # a rejected create stores nothing, unless issuance failed: then one order in Error
        assert changed == [] or [(s["status"], s["statusMessage"]) for s in changed] == [("Error", payload["message"])]
    assert RECORDER.records == []


@settings(max_examples=100, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#%"), max_size=12),
        max_size=4,
    ),
    body=json_values,
)
def test_any_path_answers_json_below_500(method, path, body):
    RECORDER.records.clear()  # only what this example caused
    response = CLIENT.open(BASE + "/" + "/".join(path), method=method, json=body, headers=HEADERS)
    assert 200 <= response.status_code < 500
    assert response.is_json
    assert RECORDER.records == []


RECORDER = Recorder()
logging.getLogger("simulator").addHandler(RECORDER)
CLIENT = create_app(Backend(seed=5)).test_client()
