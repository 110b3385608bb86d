"""The sweep report and the what-if recommendation rank every KPI by the one catalogue (sim.kpi.KPIS): best first."""

import numpy as np
import pandas as pd
import pytest

from scenarios.sweeps.report import SweepData, ranking
from scenarios.whatif.constraints import is_binomial
from scenarios.whatif.report import REPORT_KPIS, recommend, summary_markdown
from sim.kpi import KPIS, kpi_info

NAMES = [*KPIS, "filler.trips", "capper.mtbf", "labeller.energy_per_unit"]


def _values(name: str, order: str) -> float:
    """A KPI value for a configuration/action that is 'best', 'middle' or 'worst' on *name*."""
    level = {"best": 3.0, "middle": 2.0, "worst": 1.0}[order]
    return 100.0 + kpi_info(name).sign * level


def _sweep(columns: dict, *, direction: str | None = None) -> SweepData:
    """Three finished configurations whose replication tables hold *columns* (name -> per-config mean)."""
    rng = np.random.default_rng(0)
    runs, tables = [], {}
    for job, name in enumerate(["worst", "best", "middle"]):  # neither the best nor the worst comes first
        run_id = f"run{job}"
        row = {"run_id": run_id, "name": name, "job": job, "config_hash": f"{job:016x}", "seed": "1", "crn": "True"}
        if direction is not None:
            row["params.objective.direction"] = direction
        runs.append(row)
        noise = rng.normal(0.0, 0.01, 4)
        # a share of replications (failure_probability) holds outcomes, 0 or 1 [SI]: best 0 of 4 failed, worst 2
        failed = {"best": 0, "middle": 1, "worst": 2}[name]
        tables[run_id] = pd.DataFrame({k: (1.0 * (np.arange(4) < failed) if is_binomial(k) else v[name] + noise)
                                       for k, v in columns.items()}, index=pd.RangeIndex(4, name="replication"))
    return SweepData(parent=None, runs=pd.DataFrame(runs).set_index("run_id"), replications=tables)


@pytest.mark.parametrize("name", NAMES)
def test_sweep_report_ranks_every_kpi_best_first(name):
    direction = "maximize" if name == "objective" else None
    data = _sweep({name: {o: _values(name, o) for o in ("best", "middle", "worst")}}, direction=direction)
    rank = ranking(data, name)
    assert list(rank["name"]) == ["best", "middle", "worst"]
    assert list(rank["rank"]) == [1, 2, 3]


def test_sweep_report_ranks_crew_cost_ascending():
    data = _sweep({"crew_cost": {"worst": 3000.0, "best": 1000.0, "middle": 2000.0}})
    rank = ranking(data, "crew_cost")
    assert list(rank["name"]) == ["best", "middle", "worst"]
    assert rank["mean"].is_monotonic_increasing


def test_a_minimized_objective_ranks_ascending():
    data = _sweep({"objective": {"worst": 3.0, "best": 1.0, "middle": 2.0}}, direction="minimize")
    assert list(ranking(data, "objective")["name"]) == ["best", "middle", "worst"]


def _summary(name: str) -> pd.DataFrame:
    """What-if summary of *name*: a baseline, a small gain, a large gain and a loss (paired intervals ± 0.1)."""
    sign = kpi_info(name).sign
    rows = []
    for action, diff in (("base", 0.0), ("small_gain", 1.0), ("large_gain", 2.0), ("loss", -2.0)):
        d = sign * diff
        half = 0.1 if action != "base" else 0.0
        rows.append({"action": action, "kpi": name, "n": 5, "mean": 300.0 + d, "half_width": 0.5,
                     "low": 299.5 + d, "high": 300.5 + d, "diff": d, "diff_half_width": half,
                     "diff_low": d - half, "diff_high": d + half})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", NAMES)
def test_whatif_recommendation_picks_the_best_action_for_every_kpi(name):
    rec = recommend(_summary(name), objective=name, baseline="base")
    assert rec.action == "large_gain"
    first = rec.text.splitlines()[0]
    assert "(better" in first and "worse" not in first
    assert "'loss' (not recommended): " in rec.text and "(worse" in rec.text


def test_whatif_report_shows_display_units_from_the_catalogue():
    table = summary_markdown(pd.concat([_summary("max_winding_temperature"), _summary("throughput")]),
                             baseline="base")
    assert "| base | max_winding_temperature | °C | 26.85 ± 0.50 | — |" in table
    assert "| large_gain | throughput | units/h | 1,087,200 ± 1,800 | +7,200 ± 360 |" in table
    assert all(k in KPIS for k in REPORT_KPIS)
