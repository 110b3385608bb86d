"""The report figures say what they must: the sweep's Pareto front is drawn through exactly its non-dominated
points, the what-if figure marks the recommended action, cuts non-negative intervals at 0 and names curves that
coincide; no figure module switches matplotlib's backend for the whole process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.sweeps.report import pareto_figure, pareto_front


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=15),
       st.booleans(), st.booleans())
def test_the_pareto_front_is_drawn_through_every_non_dominated_point(points, max_x, max_y):
    x = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    front = pareto_front(x, y, maximize_x=max_x, maximize_y=max_y)
    sx, sy = (x if max_x else -x), (y if max_y else -y)
    for i in range(x.size):  # the definition, point by point
        dominated = np.any((sx >= sx[i]) & (sy >= sy[i]) & ((sx > sx[i]) | (sy > sy[i])))
        assert front[i] == (not dominated)
    fig = pareto_figure(x, np.zeros_like(x), y, np.zeros_like(y), [f"c{i}" for i in range(x.size)], front, "x", "y")
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "pareto-front"]
    drawn = sorted(zip(line.get_xdata(), line.get_ydata()))
    assert drawn == sorted(zip(x[front], y[front])) and len(drawn) >= 1
    assert list(line.get_xdata()) == sorted(line.get_xdata())  # one line through the front in x order


def test_whatif_figure_marks_the_recommendation_cuts_intervals_and_names_overlaps(tmp_path):
    from matplotlib.image import imread

    from scenarios.whatif.plots import overlapping, plot_whatif, whatif_figure

    actions = ["as_is", "faster", "technician"]
    rows = []
    for a, mean, half in zip(actions, [0.0, 3.0, 0.0], [2.0, 1.0, 2.0]):
        for kpi in ("trips", "throughput", "maintenance_cost"):
            rows.append({"action": a, "kpi": kpi, "mean": mean if kpi == "trips" else 1.0,
                         "half_width": half if kpi == "trips" else 0.1})
    summary = pd.DataFrame(rows)
    t = np.arange(0.0, 7200.0, 60.0)
    same = pd.DataFrame({"t": t, "filler.winding_temperature": 350 + np.sin(t / 600)})
    traces = {"as_is": same, "faster": same.assign(**{"filler.winding_temperature": same.iloc[:, 1] + 5}),
              "technician": same.copy()}
    assert overlapping(traces) == [["as_is", "technician"]]
    fig = whatif_figure(summary, traces, trip_temperature=393.15, baseline="as_is", recommended="faster",
                        currency="EUR")
    panels = {ax.get_title().split(" [")[0]: ax for ax in fig.axes[:3]}
    assert [t.get_text() for t in panels["trips"].get_xticklabels()] == ["as_is", "★ faster", "technician"]
    assert "(intervals cut at 0)" in panels["trips"].get_title()  # 0 ± 2 trips would reach -2
    assert "[EUR]" in panels["maintenance_cost"].get_title() and "cut" not in panels["throughput"].get_title()
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert any(text.startswith("as_is, technician: one curve") for text in legend)
    path = plot_whatif(summary, traces, trip_temperature=393.15, baseline="as_is", path=tmp_path / "w.png",
                       recommended="faster", currency="EUR")
    assert imread(path).shape[0] > 100


def test_importing_the_figure_modules_leaves_the_backend_alone():
    code = ("import matplotlib; matplotlib.use('svg'); import scenarios.whatif.plots, scenarios.sweeps.report, "
            "sim.telemetry.report; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "svg"
