"""The simulated back office: catalog, orders, fault rules, gateway, clock and journal.

Scenarios are laid over the default catalog at start-up and at run time; a reset goes
back to the start-up scenarios with fresh rule counters.
"""
from __future__ import annotations

import random
from pathlib import Path

from simulator.catalog import Catalog
from simulator.channel_manager import ChannelManager
from simulator.clock import Clock
from simulator.faults import FaultBook, make_rule
from simulator.gateway import Access, Limits
from simulator.magic import magic_rules
from simulator.model import Namespace, order_from_dict, order_to_dict
from simulator.numbers import Numbers
from simulator.request_journal import RequestJournal
from simulator.scenario import Scenario, ScenarioError, build_catalog, default_scenario_path, load_scenario
from simulator.store import Store


class Backend:
    def __init__(
        self,
        scenarios: list[str | Path | Scenario] = (),
        data_file: str | Path | None = None,
        seed: int | None = None,
    ):
        """Load the default catalog with `scenarios` laid over it, and the stored orders."""
        self.clock = Clock()
        self.catalog = Catalog()
        self.faults = FaultBook()
        self.magic = FaultBook()
        self.magic.add(magic_rules())
        self.access = Access()
        self.limits: Limits | None = None
        self.journal = RequestJournal()
        self._rule_counter = 0
        self.random = random.Random(seed)
        self._default = load_scenario(default_scenario_path())
        self._startup = [load_scenario(s) if not isinstance(s, Scenario) else s for s in scenarios]
        self.scenarios: list[Scenario] = []
        self.store = Store(data_file, self.clock)
        self._apply(self._startup)
        # after a restart the same seed must not draw the numbers of the first run again
        self.numbers = Numbers(None if seed is None else f"{seed}/{len(self.store)}")
        self.numbers.reserve(self.store.issued_numbers())
        self.orders = ChannelManager(self.catalog, self.store, self.numbers, self.clock)

    # -- scenarios -------------------------------------------------------

    def load_scenario(self, scenario: Scenario | str | Path) -> None:
        """Lay one more scenario (or scenario file) over the running simulator (raises ScenarioError)."""
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        with self._lock():
            self._apply(self.scenarios + [scenario], added=[scenario])

    def add_faults(self, rules: list[dict]) -> list[str]:
        """Add validated rule data as rules; a rule without an id gets `rule-N`."""
        made = []
        for data in rules:
            if not data.get("id"):
                self._rule_counter += 1
                data = {**data, "id": f"rule-{self._rule_counter}"}
            made.append(make_rule(data))
        self.faults.add(made)
        return [rule.id for rule in made]

    def clear_scenarios(self) -> None:
        """Back to the default catalog: no scenario, no rules, keys, restrictions or limits."""
        with self._lock():
            self.faults.clear()
            self._apply([])

    def _apply(self, scenarios: list[Scenario], added: list[Scenario] | None = None) -> None:
        catalog = build_catalog([self._default, *scenarios])
        new_rules = [make_rule(data) for scenario in (scenarios if added is None else added) for data in scenario.faults]
        if added is None:
            self.faults.clear()
        try:
            self.faults.add(new_rules)
        except ValueError as error:
            raise ScenarioError(f"{added[0].path if added else 'scenario'}: {error}") from None
        self.catalog.__dict__.update(catalog.__dict__)
        self.scenarios = list(scenarios)
        self.access = Access()
        self.limits = None
        for scenario in scenarios:
            self.access.keys.update({entry["key"]: entry["channel_manager"] for entry in scenario.api_keys})
            self.access.tenants.update(scenario.namespaces.get("tenants", []))
            self.access.environments.update(scenario.namespaces.get("environments", []))
            self.access.companies.update(scenario.namespaces.get("companies", []))
            if scenario.limits:
                self.limits = Limits(self.clock, **scenario.limits)
        for scenario in added if added is not None else scenarios:
            if scenario.clock:
                self.clock.set(scenario.clock["now"], frozen=scenario.clock["frozen"])

    # -- state -----------------------------------------------------------

    def reset(self, namespace: Namespace | None = None) -> None:
        """Forget one namespace's orders and calls, or everything (back to start-up)."""
        with self._lock():
            self.store.commit(remove=self.store.in_namespace(namespace))
            self.journal.clear(namespace)
            if namespace is None:
                self.clock.reset()
                self._apply(self._startup)

    def export_state(self, namespace: Namespace | None = None) -> dict:
        with self._lock():
            orders = [order_to_dict(order) for order in self.store.in_namespace(namespace)]
        return {"clock": self.clock.describe(), "orders": orders}

    def import_state(self, state: dict) -> int:
        """Replace the orders of every namespace the state names with the state's orders."""
        orders = [order_from_dict(record) for record in state["orders"]]
        with self._lock():
            namespaces = {order.namespace for order in orders}
            stale = [order for ns in namespaces for order in self.store.in_namespace(ns)]
            self.store.commit(remove=stale)
            self.store.commit(put=orders)
            self.numbers.reserve(self.store.issued_numbers())
        return len(orders)

    def close(self) -> None:
        self.store.close()

    def _lock(self):
        return self.store.lock
