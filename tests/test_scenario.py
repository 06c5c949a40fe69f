"""Scenario files: the default catalog, layering, and errors that name the file and key."""

import pytest

from simulator import Backend, create_app
from simulator.scenario import ScenarioError, build_catalog, default_scenario_path, load_scenario
from tests.helpers import Api, line, order_body

DEFAULT = load_scenario(default_scenario_path())


def test_default_catalog_is_the_contract_catalog():
    catalog = build_catalog([DEFAULT])
    assert catalog.currency == "DKK"
    assert {p.name: (p.active, p.manifests) for p in catalog.partners.values()} == {
        "Demo Sales Channel": (True, True),
        "Plain Channel": (True, False),
        "Dormant Channel": (False, True),
    }
    items = {
        i.number: (i.description, i.kind, i.price_excl_vat, i.price_incl_vat, i.admission_code)
        for i in catalog.items.values()
    }
    assert items == {
        "31001": ("Adult Admission", "ticket", 80, 100, "CASTLE"),
        "31002": ("Child Admission", "ticket", 40, 50, "CASTLE"),
        "31010": ("Guided Tour", "ticket", 120, 150, "TOUR"),
        "32001": ("Explorer Package", "package", 0, 0, ""),
        "33001": ("Group Admission", "group", 60, 75, "CASTLE"),
    }
    assert [(c.item_number, c.quantity) for c in catalog.items["32001"].components] == [("31001", 1), ("31010", 1)]
    tour = catalog.admissions["TOUR"]
    assert [(s.start.isoformat(), s.capacity) for s in tour.slots] == [
        ("10:00:00", 10),
        ("12:00:00", 10),
        ("14:00:00", 10),
    ]
    assert tour.weekdays == frozenset(range(1, 7))
    assert [(s.start.isoformat(), s.end.isoformat(), s.capacity) for s in catalog.admissions["CASTLE"].slots] == [
        ("09:00:00", "18:00:00", 2000)
    ]


def write(tmp_path, text, name="scenario.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, error",
    [
        ('descripton = "x"', "descripton: Unknown field."),
        (
            '[catalog]\n[[catalog.items]]\nnumber = "1"\n',
            "catalog.items.0.description: Missing data for required field.",
        ),
        ('[catalog]\n[[catalog.partners]]\nid = "nope"\nname = "X"\n', "catalog.partners.0.id: Not a valid UUID."),
        (
            '[catalog]\n[[catalog.admissions]]\ncode = "A"\ndays = ["monday"]\n'
            'slots = [{start = "10:00:00", end = "11:00:00", capacity = 1}]\n',
            "catalog.admissions.0.days.0: Must be one of",
        ),
        (
            '[catalog]\n[[catalog.items]]\nnumber = "9"\ndescription = "x"\nkind = "ticket"\n'
            'admission = "NOPE"\nprice_excl_vat = 1\n',
            "catalog.items.0.admission: unknown admission 'NOPE'",
        ),
        ("[catalog\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_named_with_its_key(tmp_path, text, error):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as raised:
        build_catalog([DEFAULT, load_scenario(path)])
    assert str(raised.value).startswith(f"{path}: ")
    assert error in str(raised.value)


def test_a_scenario_adds_to_the_default_catalog(tmp_path):
    path = write(
        tmp_path,
        """
description = "A late opening"
[catalog]
[[catalog.items]]
number = "40001"
description = "Night at the Castle"
kind = "ticket"
admission = "CASTLE"
price_incl_vat = 125
""",
    )
    api = Api(create_app(Backend(scenarios=[path])).test_client())
    order = api.created(order_body(items=[line(item="40001"), line(item="31001")]))
    wallets = [item["wallets"][0] for item in order["items"]]
    assert [(w["name"], w["unitPriceExclVat"], w["unitPriceInclVat"]) for w in wallets] == [
        ("Night at the Castle", 100, 125),
        ("Adult Admission", 80, 100),
    ]


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_scenario(tmp_path / "absent.toml")


def test_an_exhausted_ticket_number_pattern_refuses_the_order(tmp_path):
    path = write(
        tmp_path,
        """
[catalog]
[[catalog.items]]
number = "40002"
description = "Only One"
kind = "ticket"
admission = "CASTLE"
price_incl_vat = 10
ticket_number_pattern = "ONE-1"
""",
    )
    api = Api(create_app(Backend(scenarios=[path])).test_client())
    first = api.created(order_body(reference="N1", items=[line(item="40002")]))
    assert first["items"][0]["wallets"][0]["assets"][0]["referenceNumber"] == "ONE-1"
    response = api.create(order_body(reference="N2", items=[line(item="40002")]))
    assert response.status_code == 400
    assert response.get_json() == {
        "code": "generic_error",
        "message": "Unable to generate a unique pre-assigned ticket number after 10 attempts.",
    }
    assert api.list().get_json()[-1]["sellToOrderReference"] == "N1"  # nothing stored for N2


def test_bundled_scenarios_load_by_name():
    from simulator import Backend, create_app

    backend = Backend(scenarios=["sold-out"])
    assert [str(scenario.path).rsplit("/", 1)[-1] for scenario in backend.scenarios] == ["sold-out.toml"]
    client = create_app(Backend()).test_client()
    loaded = client.post("/_sim/scenarios", json={"name": "outage"})
    assert loaded.status_code == 201 and loaded.get_json()["name"].endswith("outage.toml")
    unknown = client.post("/_sim/scenarios", json={"name": "no-such"})
    assert unknown.status_code == 400
    assert unknown.get_json()["message"].startswith("no-such: no bundled scenario has that name (they are: api-keys, ")
