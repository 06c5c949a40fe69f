"""The OTA Channel Manager's background worker: it picks up Submitted orders, moves them
Submitted -> Scheduled -> Processing -> Issued | Draft | Error, and announces each settled
order through the `ota_cm_order_processed` webhook. It also runs the real recovery sweeps.

An order waits `cadence` seconds of the simulator's clock in Submitted before it is picked
up (the real job queue runs every minute). The control API runs or steps it by hand.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from simulator.errors import StorageFailed
from simulator.model import Order, OrderStatus

SCHEDULED_TOO_LONG = timedelta(minutes=5)
PROCESSING_TOO_LONG = timedelta(hours=1)
POLL_SECONDS = 0.2
log = logging.getLogger("simulator")


class OtaWorker:
    def __init__(self, channel_manager, store, clock, announce):
        self.channel_manager = channel_manager
        self.store = store
        self.clock = clock
        self.announce = announce  # called with each order the worker settled
        self.cadence = timedelta(seconds=1)
        self.background = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, everything: bool = False) -> list[Order]:
        """Move every in-flight order one step (Submitted ones only once due, unless `everything`)."""
        moved = []
        for order in self._candidates(everything):
            after = self.channel_manager.advance(order)
            if after is not None:
                moved.append(after)
                if not after.status.in_flight:
                    self.announce(after)
        return moved

    def run(self, everything: bool = False) -> list[Order]:
        """Settle every due order (every submitted one with `everything`), then sweep; the orders
        settled."""
        settled = []
        for order in self._candidates(everything):
            current = order
            while current is not None and current.status.in_flight:
                current = self.channel_manager.advance(current)
                if current is not None and not current.status.in_flight:
                    self.announce(current)
                    settled.append(current)
        return settled + self.sweep()

    def sweep(self) -> list[Order]:
        """The recovery sweeps alone; announces the orders they put in Error."""
        swept = self.channel_manager.sweep(SCHEDULED_TOO_LONG, PROCESSING_TOO_LONG)
        failed = [order for order in swept if order.status is OrderStatus.ERROR]
        for order in failed:
            self.announce(order)
        return failed

    def start(self, cadence_seconds: float) -> None:
        """Work in the background, as the real job queue does (cadence 0: by hand only)."""
        self.cadence = timedelta(seconds=cadence_seconds)
        self.background = bool(cadence_seconds)
        if cadence_seconds and self._thread is None:
            self._thread = threading.Thread(target=self._work, name="cm-sim-ota", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _work(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            if self.background:
                try:
                    self.run()
                except StorageFailed as failure:
                    log.warning("OTA worker: %s", failure.message)
                except Exception:  # the worker must outlive any one order
                    log.exception("OTA worker")

    def _candidates(self, everything: bool) -> list[Order]:
        now = self.clock.now()
        with self.store.lock:
            in_flight = self.store.in_flight()
        return [
            order
            for order in in_flight
            if everything
            or order.status is not OrderStatus.SUBMITTED
            or (order.status_since or now) + self.cadence <= now
        ]
