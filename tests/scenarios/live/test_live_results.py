"""A live run leaves its results: timeline, score and summary in its output folder, and one MLflow run in a
real store with the config as parameters, the counts and the score as metrics and the files as artifacts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_a_live_slice_writes_its_files_and_one_tracked_run(tmp_path):
    exe = BIN / "twinbench"
    if not exe.exists():
        pytest.skip("twinbench is not installed in this environment")
    store = tmp_path / "mlflow.db"
    out = subprocess.run([str(exe), "live", "live=smoke", f"tracking.tracking_uri=sqlite:///{store}",
                          f"hydra.run.dir={tmp_path / 'out'}", "recalibration.audit=null"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "out"
    timeline = pd.read_csv(folder / "timeline.csv")
    assert list(timeline.columns) == ["time", "kind", "asset", "text", "details"] and len(timeline) >= 1
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["samples_applied"] == 1440  # the smoke slice: one day at 60 s
    from scenarios.tracking.tracker import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{store}")
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("twinbench").experiment_id])
    (run,) = [r for r in runs if r.data.tags.get("twinbench.role") == "live"]
    assert run.info.run_name.startswith("live-") and run.info.status == "FINISHED"
    assert run.data.metrics["samples_applied"] == 1440
    assert run.data.params["max_rows"] == "1440"
    artifacts = {a.path for a in tracker.client.list_artifacts(run.info.run_id)}
    assert {"timeline.csv", "timeline.txt", "summary.json"} <= artifacts
