"""Spare parts: a stock with reorder point, order quantity and lead time ((s, Q) policy).

A repair that needs a part takes one from stock, waiting (machine ``down``)
while none is on hand.  Whenever the inventory position (on hand + on order -
backorders) falls to the reorder point or below, orders of the order
quantity are placed; each arrives after the lead time.
"""

from __future__ import annotations

import math
from collections import deque

import simpy

from sim.exceptions import ConfigurationError
from sim.kpi import Tally, TimeAverage
from sim.processes.distributions import Constant, Distribution, Sampler, as_distribution

__all__ = ["SpareParts"]


def _count(name: str, key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"spare part {name!r}: {key} = {value!r} must be an integer >= {minimum}")
    return value


class SpareParts:
    """Stock of one spare part.

    Parameters
    ----------
    env : simpy.Environment
    name : str
    initial : int
        Parts on hand at the start (>= 0).
    reorder_point : int
        Order when the inventory position is at or below this (>= 0).
    order_quantity : int
        Parts per order (>= 1).
    lead_time : Distribution or float
        Time from order to delivery [s] (> 0).
    rng : numpy.random.Generator, optional
        Stream for random lead times (required unless the lead time is constant).
    unit_cost : float
        Cost per part [currency] (counted on use, see :class:`~sim.processes.failures.FailureMode`).
    state : dict, optional
        Restore from :meth:`state` (a snapshot) instead of starting fresh.
    """

    def __init__(self, env: simpy.Environment, name: str, *, initial: int, reorder_point: int, order_quantity: int,
                 lead_time, rng=None, unit_cost: float = 0.0, state: dict | None = None):
        self.env = env
        self.name = name
        self.stock = _count(name, "initial", initial, 0)
        self.reorder_point = _count(name, "reorder_point", reorder_point, 0)
        self.order_quantity = _count(name, "order_quantity", order_quantity, 1)
        dist = as_distribution(lead_time, f"spare part {name!r}: lead_time")
        if not isinstance(dist, Constant) and rng is None:
            raise ConfigurationError(f"spare part {name!r}: a random lead time needs rng= (a named stream)")
        self.lead_time: Distribution = dist
        self._lead = Sampler(dist, rng) if rng is not None else (lambda: dist.mean)
        if not (math.isfinite(unit_cost) and unit_cost >= 0):
            raise ConfigurationError(f"spare part {name!r}: unit_cost = {unit_cost!r} must be finite and >= 0")
        self.unit_cost = float(unit_cost)
        self.pipeline: list[tuple[float, int]] = []  # (arrival time [s], quantity)
        self._waiters: deque = deque()
        self.on_hand = TimeAverage(env, self.stock)
        self.wait = Tally()
        self.demands = 0
        self.stockouts = 0
        self.orders = 0
        if state is None:
            self._review()
        else:
            self._restore(state)

    @property
    def on_order(self) -> int:
        return sum(q for _, q in self.pipeline)

    @property
    def position(self) -> int:
        """Inventory position: on hand + on order - backorders."""
        return self.stock + self.on_order - len(self._waiters)

    def take(self):
        """Generator: take one part, waiting for a delivery if none is on hand."""
        self.demands += 1
        if self.stock > 0:
            self.stock -= 1
            self.on_hand.set(self.stock)
            self.wait.add(0.0)
            self._review()
            return
        self.stockouts += 1
        ev = self.env.event()
        self._waiters.append((ev, self.env.now))
        self._review()
        yield ev

    def _review(self) -> None:
        while self.position <= self.reorder_point:
            self._order(self.env.now + self._lead(), self.order_quantity)

    def _order(self, arrival: float, quantity: int) -> None:
        self.orders += 1
        self.pipeline.append((arrival, quantity))
        self.env.process(self._deliver(arrival, quantity))

    def _deliver(self, arrival: float, quantity: int):
        yield self.env.timeout(max(0.0, arrival - self.env.now))
        self.pipeline.remove((arrival, quantity))
        self.stock += quantity
        while self.stock > 0 and self._waiters:
            ev, since = self._waiters.popleft()
            self.stock -= 1
            self.wait.add(self.env.now - since)
            ev.succeed()
        self.on_hand.set(self.stock)
        self._review()

    def reset_statistics(self) -> None:
        self.on_hand.reset()
        self.wait.reset()
        self.demands = self.stockouts = self.orders = 0

    def kpis(self) -> dict[str, float]:
        return {f"{self.name}.stock": self.on_hand.value(), f"{self.name}.stockouts": float(self.stockouts),
                f"{self.name}.part_wait": self.wait.value()}

    # ------------------------------------------------------------ state as data
    def state(self) -> dict:
        """On hand, orders in transit and the lead-time sampler (backorders live with the waiting machines)."""
        return {"stock": self.stock, "pipeline": list(self.pipeline),
                "lead": self._lead.state() if isinstance(self._lead, Sampler) else None}

    def _restore(self, state: dict) -> None:
        self.stock = int(state["stock"])
        self.on_hand.set(self.stock)
        if state["lead"] is not None and isinstance(self._lead, Sampler):
            self._lead.set_state(state["lead"])
        for arrival, quantity in state["pipeline"]:
            self.pipeline.append((float(arrival), int(quantity)))
            self.env.process(self._deliver(float(arrival), int(quantity)))
