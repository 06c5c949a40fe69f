"""The fault book on its own: which calls a rule matches, when it fires, how long it lives."""

import random

import pytest

from simulator.faults import Call, FaultBook, make_rule

NAMESPACE = ("t", "production", "CRONUS")
OTHER = ("t", "production", "OTHER")


def call(operation="create", namespace=NAMESPACE, partner="p1", reference="REF-1", items=("31001",)) -> Call:
    return Call(operation=operation, namespace=namespace, partner_id=partner, reference=reference, items=items)


def book(*rules: dict) -> FaultBook:
    faults = FaultBook()
    faults.add([make_rule({"id": f"rule-{n}", **rule}) for n, rule in enumerate(rules, 1)])
    return faults


def fired(faults: FaultBook, calls: list[Call], seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [faults.decide(each, rng).rules for each in calls]


def test_nth_fires_only_on_the_nth_matching_call():
    faults = book({"operation": "create", "nth": 2, "respond": 503})
    other, create = call(operation="get"), call()
    assert fired(faults, [create, other, create, create]) == [[], [], ["rule-1"], []]
    [described] = faults.describe()
    assert (described["matched"], described["fired"], described["remaining"]) == (3, 1, 0)


def test_times_limits_the_firings_and_without_times_a_rule_fires_always():
    faults = book({"times": 2, "respond": 429}, {"respond": 503})
    assert fired(faults, [call()] * 4) == [["rule-1"], ["rule-1"], ["rule-2"], ["rule-2"]]
    assert [(rule["fired"], rule["remaining"]) for rule in faults.describe()] == [(2, 0), (2, None)]


def test_a_seeded_probability_fires_on_the_same_calls_every_run():
    rule = {"probability": 0.3, "seed": 7, "respond": 503}
    first = fired(book(rule), [call()] * 200, seed=1)
    again = fired(book(rule), [call()] * 200, seed=2)  # the rule's own seed, not the server's, decides
    assert first == again
    assert 40 <= sum(map(len, first)) <= 80


def test_an_unseeded_probability_draws_from_the_servers_generator():
    rule = {"probability": 0.5, "respond": 503}
    assert fired(book(rule), [call()] * 50, seed=3) == fired(book(rule), [call()] * 50, seed=3)
    assert fired(book(rule), [call()] * 50, seed=3) != fired(book(rule), [call()] * 50, seed=4)


def test_a_refund_gives_a_firing_back():
    faults = book({"times": 1, "fail_issuance": "sold out"})
    decision = faults.decide(call(), random.Random(0))
    outcome = decision.outcome
    assert (decision.decisive, outcome.kind, outcome.detail) == ("rule-1", "fail_issuance", "sold out")
    assert fired(faults, [call()]) == [[]]
    faults.refund("rule-1")  # the call was refused before issuance: the rule is not spent
    assert faults.describe()[0]["remaining"] == 1
    assert fired(faults, [call()]) == [["rule-1"]]


def test_latency_rules_add_up_and_the_first_other_outcome_decides():
    faults = book({"latency_ms": 100}, {"respond": 429}, {"latency_ms": 50}, {"respond": 503})
    decision = faults.decide(call(), random.Random(0))
    assert decision.latency_ms == 150
    assert (decision.decisive, decision.outcome.kind, decision.outcome.detail) == ("rule-2", "respond", 429)
    assert decision.rules == ["rule-1", "rule-2", "rule-3"]
    assert [rule["fired"] for rule in faults.describe()] == [1, 1, 1, 0]


@pytest.mark.parametrize(
    "rule, matching, other",
    [
        ({"operation": "get"}, call(operation="get"), call()),
        ({"company": "CRONUS"}, call(), call(namespace=OTHER)),
        ({"partner": "p1"}, call(), call(partner="p2")),
        ({"reference": "vip-*"}, call(reference="VIP-42"), call(reference="REF-VIP-42")),
        (
            {"reference": "vip-?"},
            call(reference="VIP-4"),
            call(reference="VIP-42"),
        ),  # calls carry references uppercased
        ({"item": "31010"}, call(items=("31001", "31010")), call()),
    ],
)
def test_a_rule_matches_on_each_of_its_keys(rule, matching, other):
    faults = book({**rule, "respond": 503})
    assert fired(faults, [matching, other]) == [["rule-1"], []]


@pytest.mark.parametrize(
    "outcome, operations",
    [
        ({"fail_issuance": "x"}, {"create", "replace"}),
        ({"reject": "x"}, {"create", "replace"}),
        ({"stick_in_processing": True}, {"create", "replace"}),
        ({"fail_confirm": "x"}, {"confirm"}),
        ({"respond": 503}, {"create", "get", "list", "confirm", "replace", "delete"}),
        ({"transport": "reset"}, {"create", "get", "list", "confirm", "replace", "delete"}),
    ],
)
def test_an_outcome_matches_only_the_operations_it_applies_to(outcome, operations):
    faults = book(outcome)
    every = ["create", "get", "list", "confirm", "replace", "delete"]
    assert {
        operation for operation in every if fired(faults, [call(operation=operation)]) == [["rule-1"]]
    } == operations


def test_a_rule_id_is_unique_and_rules_come_and_go_by_id():
    faults = book({"respond": 503})
    with pytest.raises(ValueError, match="a fault rule with id 'rule-1' is already loaded"):
        faults.add([make_rule({"id": "rule-1", "respond": 429})])
    assert faults.remove("rule-1") and not faults.remove("rule-1")
    assert fired(faults, [call()]) == [[]]
