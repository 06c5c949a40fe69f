"""The simulated back office: catalog, orders, fault rules, gateway, clock and journal.

Scenarios are laid over the default catalog at start-up and at run time; a reset goes
back to the start-up scenarios with fresh rule counters.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from simulator.catalog import Catalog
from simulator.channel_manager import ChannelManager
from simulator.clock import Clock
from simulator.faults import FaultBook, make_rule
from simulator.gateway import Access, Limits
from simulator.magic import magic_rules
from simulator.model import InvalidImport, Namespace, imported_moment, order_to_dict, orders_from_import
from simulator.numbers import Numbers
from simulator.ota import OtaWorker
from simulator.render import RenderCache
from simulator.request_journal import RequestJournal
from simulator.scenario import (
    OTA_DEFAULTS,
    GatewayLimits,
    Scenario,
    ScenarioError,
    build_catalog,
    default_scenario_path,
    load_scenario,
    scenario_directories,
)
from simulator.store import Store
from simulator.webhooks import Webhooks


class Backend:
    def __init__(
        self,
        scenarios: Sequence[str | Path | Scenario] = (),
        data_file: str | Path | None = None,
        seed: int | None = None,
        ota: bool = False,
        scenario_dirs: Sequence[str | Path] = (),
    ):
        """Load the default catalog with `scenarios` laid over it, and the stored orders.
        `scenario_dirs`: where the control API may read scenario files, besides the bundled ones."""
        self.scenario_dirs = scenario_directories(scenario_dirs)
        self.clock = Clock()
        self.catalog = Catalog()
        self.faults = FaultBook()
        self.magic = FaultBook()
        self.magic.add(magic_rules())
        self.access = Access()
        self._limits: GatewayLimits | None = None  # the gateway's limits, when a scenario sets them
        self._gates: dict[str, Limits] = {}  # per API key, as the real limits are per Entra app
        self.journal = RequestJournal()
        self.rendered = RenderCache()
        self.webhooks = Webhooks(self.clock, self.journal)
        self._ota_everywhere = ota  # --ota: every partner on the asynchronous OTA Channel Manager
        self._rule_counter = 0
        self._seed = seed
        self.random = random.Random(seed)
        self._default = load_scenario(default_scenario_path())
        self._startup = [load_scenario(s) if not isinstance(s, Scenario) else s for s in scenarios]
        self.scenarios: list[Scenario] = []
        self.store = Store(data_file, self.clock)
        # after a restart the same seed must not draw the numbers of the first run again
        self.numbers = Numbers(None if seed is None else f"{seed}/{len(self.store)}")
        self.numbers.reserve(self.store.issued_numbers())
        self.channel_manager = ChannelManager(self.catalog, self.store, self.numbers, self.clock)
        self.worker = OtaWorker(self.channel_manager, self.store, self.clock, self.webhooks.order_processed)
        self._apply(self._startup)

    # -- scenarios -------------------------------------------------------

    def load_scenario(self, scenario: Scenario | str | Path) -> None:
        """Lay one more scenario (or scenario file) over the running simulator (raises ScenarioError)."""
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        with self.store.lock:
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
        """Back to the default catalog: no scenario, no rules, keys, restrictions or limits,
        and the clock back to real time if a scenario had set it."""
        with self.store.lock:
            if any(scenario.clock is not None for scenario in self.scenarios):
                self.clock.reset()
            self.faults.clear()
            self._apply([])

    def _apply(self, scenarios: list[Scenario], added: list[Scenario] | None = None) -> None:
        """Make `scenarios` the loaded ones; with `added`, only those are new (the other rules keep
        their counters). Everything is checked before anything changes."""
        catalog = build_catalog([self._default, *scenarios])
        taken = set() if added is None else {rule["id"] for rule in self.faults.describe()}
        new_rules = []
        for scenario in scenarios if added is None else added:
            for data in scenario.faults:
                if data["id"] in taken:
                    raise ScenarioError(f"{scenario.path}: a fault rule with id '{data['id']}' is already loaded")
                taken.add(data["id"])
                new_rules.append(make_rule(data))
        if added is None:
            self.faults.clear()
        self.faults.add(new_rules)
        self.catalog.replace_contents(catalog)
        self.scenarios = list(scenarios)
        self.access = Access()
        self._limits = None
        self._gates = {}
        for scenario in scenarios:
            self.access.keys.update({entry["key"]: entry["channel_manager"] for entry in scenario.api_keys})
            self.access.tenants.update(scenario.namespaces.get("tenants", []))
            self.access.environments.update(scenario.namespaces.get("environments", []))
            self.access.companies.update(scenario.namespaces.get("companies", []))
            if scenario.limits is not None:
                self._limits = scenario.limits
        for scenario in added if added is not None else scenarios:
            if scenario.clock is not None:
                self.clock.set(scenario.clock.now, frozen=scenario.clock.frozen)
        ota = next((scenario.ota for scenario in reversed(scenarios) if scenario.ota is not None), None)
        self.channel_manager.ota_for_all = self._ota_everywhere or bool(ota and ota.all_partners)
        if ota or self._ota_everywhere or any(partner.ota for partner in catalog.partners.values()):
            self.worker.start((ota or OTA_DEFAULTS).cadence_seconds)
        self.webhooks.configure(next((s.webhooks for s in reversed(scenarios) if s.webhooks is not None), None))

    def gate(self, api_key: str) -> Limits | None:
        """The limits this key's calls pass (None when no scenario sets limits)."""
        gates = self._gates  # a reload replaces the dictionary; calls in flight keep theirs
        limits = self._limits
        if limits is None:
            return None
        if api_key not in gates:
            gates.setdefault(
                api_key,
                Limits(self.clock, **dataclasses.asdict(limits)),
            )
        return gates[api_key]

    # -- state -----------------------------------------------------------

    def reset(self, namespace: Namespace | None = None) -> None:
        """Forget one namespace's orders and calls, or everything (back to start-up)."""
        with self.store.lock:
            self.store.commit(remove=self.store.in_namespace(namespace))
            self.journal.clear(namespace)
            self.webhooks.reset(namespace)
            if namespace is None:
                self.clock.reset()
                self._apply(self._startup)
                self.random.seed(self._seed)  # a seeded run replays the same after a full reset
                self.numbers.restart(self.store.issued_numbers())

    def export_state(self, namespace: Namespace | None = None) -> dict:
        with self.store.lock:
            orders = [order_to_dict(order) for order in self.store.in_namespace(namespace)]
        return {"clock": self.clock.describe(), "orders": orders}

    def import_state(self, state: dict) -> int:
        """Replace the orders of every namespace the state names with the state's orders, and
        set the clock as exported. Everything is checked before anything changes: InvalidImport
        names the order and field that is wrong."""
        orders = orders_from_import(_exported(state)["orders"])
        moment, frozen = _exported_clock(state.get("clock"))
        with self.store.lock:
            namespaces = {order.namespace for order in orders}
            _check_ids_free(self.store, orders, namespaces)
            stale = [order for ns in namespaces for order in self.store.in_namespace(ns)]
            self.store.commit(put=orders, remove=stale)  # one write-ahead log record: all of it or none
            if moment is not None:
                self.clock.set(moment, frozen=frozen)
            self.numbers.reserve(self.store.issued_numbers())
        return len(orders)

    def stop(self) -> None:
        """Stop the background threads: the OTA worker and the webhook sender."""
        self.worker.stop()
        self.webhooks.stop()

    def close(self) -> None:
        """Stop, and write the snapshot (a graceful stop)."""
        self.stop()
        self.store.close()


def _exported(state) -> dict:
    if not isinstance(state, dict) or "orders" not in state or set(state) - {"orders", "clock"}:
        raise InvalidImport('give an exported state: {"orders": [...], "clock": {...}} as GET /_sim/state answers')
    return state


def _exported_clock(clock) -> tuple[datetime | None, bool]:
    """The moment to set the clock to (None: leave it) and whether frozen."""
    if clock is None:
        return None, False
    if (
        not isinstance(clock, dict)
        or set(clock) - {"now", "frozen", "virtual"}
        or any(not isinstance(clock.get(flag, False), bool) for flag in ("frozen", "virtual"))
    ):
        raise InvalidImport('clock must be {"now": ..., "frozen": true or false, "virtual": true or false} as exported')
    if not clock.get("virtual"):
        return None, False
    return imported_moment(clock.get("now"), "clock.now"), clock.get("frozen", False)


def _check_ids_free(store: Store, orders: list, namespaces: set) -> None:
    """Order ids are unique across namespaces: one held outside the replaced namespaces is taken."""
    for index, order in enumerate(orders):
        holder = store.find_anywhere(order.order_id)
        if holder is not None and holder.namespace not in namespaces:
            raise InvalidImport(
                f"orders[{index}] (order '{order.order_id}'): order_id is taken by an order "
                f"of namespace {'/'.join(holder.namespace)}, which the import does not replace"
            )
