"""What-if: fork the calibrated twin into actions and compare them over replications.

Each replication index ``r`` gets its own :class:`~sim.streams.RandomStreams`
``(seed, r)``; every action re-creates it, so the same replication sees the
same jams, failures, repair times and posterior parameter draw in every
action (common random numbers).  Differences between actions then come from
the actions, not from noise, and paired intervals are tight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from scenarios.plant import AmbientProfile, Plant, run_plant
from sim.exceptions import ConfigurationError
from sim.streams import RandomStreams

__all__ = ["Action", "WhatIfResult", "run_whatif"]


@dataclass(frozen=True)
class Action:
    """A named change to the plant (``changes`` maps Plant/StationParams fields to values)."""

    name: str
    description: str = ""
    changes: dict = field(default_factory=dict)

    def apply(self, plant: Plant) -> Plant:
        try:
            return plant.replace(**self.changes) if self.changes else plant
        except TypeError as err:
            raise ConfigurationError(f"action {self.name!r}: cannot apply {self.changes}: {err}") from err


@dataclass
class WhatIfResult:
    """KPIs per action and replication, plus winding-temperature traces of replication 0."""

    kpis: pd.DataFrame
    traces: dict
    actions: list
    horizon: float
    seed: int


def run_whatif(plant: Plant, actions, *, x0: dict, horizon: float, replications: int, seed: int,
               ambient: AmbientProfile | None = None,
               posterior: Callable | None = None, progress: Callable | None = None,
               trace_step: float = 60.0) -> WhatIfResult:
    """Run every action for *replications* replications of *horizon* seconds from state *x0*.

    Parameters
    ----------
    plant : Plant
        The calibrated twin's plant.
    actions : sequence of Action
        The first is usually the baseline ("as is").
    x0 : dict
        Motor states at the fork [K].
    posterior : callable, optional
        ``posterior(rng) -> dict`` of motor parameters drawn per replication
        (parameter uncertainty); ``None`` uses ``plant.motor_params``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each run.
    """
    actions = list(actions)
    if not actions:
        raise ConfigurationError("a what-if needs at least one action")
    names = [a.name for a in actions]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"action names must be unique, got {names}")
    if int(replications) < 2:
        raise ConfigurationError(f"replications = {replications}: at least 2 are needed for confidence intervals")
    rows, traces = [], {}
    total = len(actions) * int(replications)
    done = 0
    for action in actions:
        forked = action.apply(plant)
        for rep in range(int(replications)):
            streams = RandomStreams(seed, rep)
            params = dict(forked.motor_params)
            if posterior is not None:
                params.update(posterior(streams("twin.motor_parameters")))
            run = run_plant(forked.replace(motor_params=params), horizon=horizon, streams=streams, x0=x0,
                            ambient=ambient, trace_step=trace_step)
            if rep == 0:
                traces[action.name] = run.trace
            rows.append({"action": action.name, "replication": rep, **run.kpis})
            done += 1
            if progress is not None:
                progress(done, total)
    return WhatIfResult(kpis=pd.DataFrame(rows), traces=traces, actions=actions, horizon=horizon, seed=seed)
