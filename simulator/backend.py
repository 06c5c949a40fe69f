"""The simulated back office: catalog, stored orders, number generator and clock."""
from __future__ import annotations

from pathlib import Path

from simulator.channel_manager import ChannelManager
from simulator.clock import Clock
from simulator.numbers import Numbers
from simulator.scenario import build_catalog, default_scenario_path, load_scenario
from simulator.store import Store


class Backend:
    def __init__(
        self,
        scenarios: list[str | Path] = (),
        data_file: str | Path | None = None,
        seed: int | None = None,
    ):
        """Load the default catalog with `scenarios` laid over it, and the stored orders."""
        files = [default_scenario_path(), *scenarios]
        self.catalog = build_catalog([load_scenario(path) for path in files])
        self.clock = Clock()
        self.store = Store(data_file)
        # after a restart the same seed must not draw the numbers of the first run again
        self.numbers = Numbers(None if seed is None else f"{seed}/{len(self.store)}")
        self.numbers.reserve(self.store.issued_numbers())
        self.orders = ChannelManager(self.catalog, self.store, self.numbers, self.clock)

    def close(self) -> None:
        self.store.close()
