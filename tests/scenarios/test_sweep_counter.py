"""The sweep's job counter and console ranking: a real Hydra multirun on a real sqlite MLflow store, extended once
(more values of a swept key under the same sweep.name), and the ranking printed by the sweep's callback."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.helpers import mlflow_template_store

SMALL = ["replications.n=2", "replications.run_length_h=6", "replications.warmup_h=0", "sweep.progress=false",
         "calibration=nameplate"]


def _sweep(tmp: Path, *overrides) -> None:
    """``twinbench-sweep -m ...`` in this process (sweep ``ext``), as the console script runs it."""
    from hydra.core.global_hydra import GlobalHydra

    from scenarios.sweeps.cli import main

    GlobalHydra.instance().clear()
    saved = sys.argv[:]
    code = 0
    try:
        main(["-m", f"tracking.uri=sqlite:///{tmp}/mlflow.db", "sweep.name=ext",
              f"hydra.sweep.dir={tmp}/multirun/ext", *SMALL, *overrides])
    except SystemExit as exit_:
        code = exit_.code or 0
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
    assert code == 0


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """A 2-job sweep, then the same sweep extended to 6 jobs: (store folder, console output of the extension)."""
    tmp = tmp_path_factory.mktemp("extended")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp / "mlflow.db")
    capture = pytest.MonkeyPatch()
    _sweep(tmp, "line.crew_size=1,2", "report.enabled=false")  # (the extension's report and ranking are checked)
    import io

    err, out = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stderr", err)
    capture.setattr(sys, "stdout", out)
    try:
        _sweep(tmp, "line.crew_size=1,2,3", "line.buffer_scale=0.5,1.0")
    finally:
        capture.undo()
    return tmp, out.getvalue() + err.getvalue()


def _parent(tmp: Path):
    from scenarios.sweeps.runs import connect, find_parent

    tracker, exp_id = connect(f"sqlite:///{tmp}/mlflow.db", "twinbench-sweeps")
    return tracker, exp_id, find_parent(tracker, exp_id, "ext")


@pytest.mark.slow
def test_an_extended_sweep_counts_its_new_total_and_the_ranking_names_the_rest(extended):
    from scenarios.sweeps.lineage import JOBS_TAG, job_counter
    from scenarios.sweeps.runs import children

    tmp, console = extended
    tracker, exp_id, parent = _parent(tmp)
    assert parent.data.params["sweep.jobs"] == "2"  # written once, when the parent was made
    assert parent.data.tags[JOBS_TAG] == "6"  # the extension's own count
    assert [job_counter(parent, k) for k in (0, 5)] == ["job 1/6", "job 6/6"]
    kids = children(tracker, exp_id, parent.info.run_id)
    assert len(kids) == 6  # crew 1 and 2 at buffer scale 1.0 were skipped (finished before), 4 are new
    assert console.count("skipped") == 2
    # the ranking shows the best 5 of 6 and says how many more the report has
    assert "ranking by oee (6 configurations" in console
    assert len(re.findall(r"^\s+\d+\. ", console, flags=re.M)) == 5
    assert "...and 1 more (all 6 in the report)" in console


@pytest.mark.slow
def test_the_console_never_counts_past_the_total_of_an_extended_sweep(extended):
    _, console = extended
    counts = [(int(k), int(n)) for k, n in re.findall(r"job (\d+)/(\d+)", console)]
    assert len(counts) == 6
    assert all(k <= n == 6 for k, n in counts), counts


def test_job_counter_reads_the_tag_then_the_param_and_leaves_an_adaptive_total_out():
    from types import SimpleNamespace

    from scenarios.sweeps.lineage import JOBS_TAG, job_counter

    def run(tags, params):
        return SimpleNamespace(data=SimpleNamespace(tags=tags, params=params))

    assert job_counter(run({JOBS_TAG: "6"}, {"sweep.jobs": "4"}), 4) == "job 5/6"
    assert job_counter(run({}, {"sweep.jobs": "4"}), 3) == "job 4/4"  # a parent from before the tag
    assert job_counter(run({JOBS_TAG: "adaptive"}, {"sweep.jobs": "adaptive"}), 7) == "job 8"  # Optuna
    assert job_counter(None, 0) == "job 1"


@pytest.mark.parametrize("configurations, more", [(7, 2), (5, 0), (1, 0)])
def test_the_console_ranking_shows_the_top_five_and_counts_the_rest(configurations, more, capsys, tmp_path):
    from scenarios.sweeps.lineage import _print_ranking

    rank = pd.DataFrame({"rank": range(1, configurations + 1), "name": [f"c{i}" for i in range(configurations)],
                         "mean": [0.8 - 0.01 * i for i in range(configurations)], "low": 0.7, "high": 0.9,
                         "confidence": 0.95})
    _print_ranking({"ranking": rank}, "oee", tmp_path)
    out = capsys.readouterr().out
    assert len(re.findall(r"^\s+\d+\. c\d+: ", out, flags=re.M)) == min(configurations, 5)
    assert ("...and" in out) == bool(more)
    if more:
        assert f"...and {more} more (all {configurations} in the report)" in out
