"""Several jobs registering and shadow-evaluating against one store at once (issue 13 item 3).

Each job is a separate Python process that calls the registry functions the main job calls - evaluate the
challenger on the newer window, then register a calibration - three times, on real calibration records.  The
jobs of a trial start together (a file barrier); each trial uses its own registered model.  After the run:

* no job crashed;
* exactly one version per record id;
* every version is or was the champion, is the challenger, or is decided (``shadow.decision``) - none is left
  behind;
* every champion after the first was evaluated against the champion it replaced (``promoted`` with
  ``shadow.champion_version`` = the previous entry of the champion history), and no challenger was decided
  twice.

The same job processes run the protocol on a sqlite store (:data:`TRIALS` trials) and then once against a real
``mlflow server`` (one interpreter per job for both: the race is on the stores, not on the interpreters' start).

Run as a script, this file is one job (``python test_registry_concurrency.py FOLDER JOB JOBS TRIALS@URI ...``).
"""

import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
JOBS, STEPS = 4, 3
TRIALS = int(os.environ.get("TWINBENCH_REGISTRY_TRIALS", "5"))
WRONG = {"thermal_resistance_housing_ambient": 0.05, "heat_capacity_housing": 35000.0}
RECORD_TAGS = ("calibration.record_id", "twinbench.record_id")  # (the second: the tag's name before lineage.py)


def model_name(trial: int) -> str:
    return f"twinbench.trial{trial}.motor_thermal"


# --------------------------------------------------------------------------------------------- one job
def job(folder: Path, k: int, jobs: int, stores: list[tuple[int, str]]) -> None:
    """Job *k*: on each store ``(trials, uri)`` in turn, per trial, wait for the others, then :data:`STEPS` times:
    shadow-evaluate, register a record."""
    from calibration import CalibrationRecord
    from scenarios.tracking.registry import register_calibration, shadow_evaluate
    from scenarios.tracking.tracker import MlflowTracker
    from tests.helpers import file_barrier

    records = [CalibrationRecord.from_json(str(p)) for p in sorted(folder.glob("record-*.json"))]
    data = pickle.loads((folder / "next_data.pkl").read_bytes())
    for s, (trials, uri) in enumerate(stores):
        tracker = MlflowTracker(tracking_uri=uri, experiment="registry")
        for trial in range(trials):
            file_barrier(folder, f"ready-{s}-{trial}", k, jobs, timeout=300, poll=0.01)
            run = tracker.start_run(f"calibration job {k}")
            for step in range(STEPS):
                shadow_evaluate(uri, model_name(trial), data)  # (the URI form: also what the main job passes today)
                record = records[(k + step) % len(records)]
                register_calibration(uri, run, record, plant=f"trial{trial}")
            tracker.end_run(run)


# ------------------------------------------------------------------------------------------ the test
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Records of one fit on 6 h of motor data (the true fit, a wrong one, two more ids) and the 3 h after."""
    from calibration import CalibrationData, LeastSquaresCalibrator
    from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC
    from tests.helpers import MOTOR_TRUTH, motor_frame

    folder = tmp_path_factory.mktemp("inputs")
    frame, _ = motor_frame(seed=3, hours=9.0)
    split = frame.index[0] + pd.Timedelta(hours=6)
    fit_data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"], end=split)
    next_data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"],
                                           start=split + pd.Timedelta(seconds=1))
    good = LeastSquaresCalibrator(list(MOTOR_TRUTH)).fit(MOTOR_THERMAL, fit_data).record_
    wrong = dataclasses.replace(good, parameters={k: {**v, "value": WRONG[k]} for k, v in good.parameters.items()})
    records = [wrong, good, dataclasses.replace(wrong, method="copy"), dataclasses.replace(good, method="copy")]
    for i, record in enumerate(records):
        record.to_json(folder / f"record-{i}.json")
    (folder / "next_data.pkl").write_bytes(pickle.dumps(next_data))
    return folder, records


def run_jobs(folder: Path, stores: list[tuple[int, str]], jobs: int = JOBS, timeout: float = 900) -> list:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    procs = [subprocess.Popen([sys.executable, __file__, str(folder), str(k), str(jobs),
                               *(f"{trials}@{uri}" for trials, uri in stores)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(jobs)]
    outs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        outs.append((proc.returncode, out))
    return outs


def check_trial(client, name: str, n_records: int) -> dict:
    """The invariants of one registered model after its jobs; returns counts for the report."""
    versions = list(client.search_model_versions(f"name = '{name}'"))
    per_record = Counter(next(v.tags[t] for t in RECORD_TAGS if t in v.tags) for v in versions)
    assert len(per_record) == n_records and set(per_record.values()) == {1}, f"versions per record: {per_record}"
    model = client.get_registered_model(name)
    aliases = dict(model.aliases or {})
    history = [int(v) for v in json.loads(model.tags["twinbench.champion_history"])]
    assert int(aliases["champion"]) == history[-1], (aliases, history)
    by_number = {int(v.version): v for v in versions}
    for before, after in zip(history, history[1:]):
        tags = by_number[after].tags
        assert tags.get("shadow.decision") == "promoted" and tags.get("shadow.champion_version") == str(before), \
            f"champion v{after} (after v{before}) was not evaluated against v{before}: {tags}"
    held = {int(v) for v in aliases.values()}
    left = [n for n, v in by_number.items() if n not in held and n not in history and not v.tags.get("shadow.decision")]
    assert not left, f"versions neither champion (now or before) nor challenger nor decided: {left} ({aliases})"
    decided = Counter()
    for run in client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  "tags.`shadow.decision` != 'stale'", max_results=1000):
        if run.info.run_name.startswith(f"shadow:{name}:v"):
            decided[run.info.run_name] += 1
    assert all(n == 1 for n in decided.values()), f"challengers decided more than once: {decided}"
    stale = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()],
                                           "tags.`shadow.decision` = 'stale'", max_results=1000)
             if r.info.run_name.startswith(f"shadow:{name}:v")]
    superseded = sum(v.tags.get("shadow.decision") == "superseded" for v in versions)
    return {"versions": len(versions), "champions": len(history), "decisions": sum(decided.values()),
            "stale": len(stale), "superseded": superseded}


@pytest.mark.slow
def test_concurrent_jobs_register_once_and_move_aliases_only_after_an_evaluation(tmp_path, tmp_path_factory,
                                                                                 inputs):
    """:data:`JOBS` jobs at once, :data:`TRIALS` trials on a sqlite store (the lock is a file), then the same
    protocol once against ``mlflow server`` (the lock is then a registered model)."""
    from scenarios.tracking.tracker import MlflowTracker
    from tests.helpers import mlflow_server, mlflow_template_store  # here: the jobs run this file as a script

    folder, records = inputs
    (tmp_path / "sqlite").mkdir()
    (tmp_path / "server").mkdir()
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp_path / "sqlite" / "mlflow.db")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp_path / "server" / "server.db")  # starts on it migrated
    sqlite = f"sqlite:///{tmp_path}/sqlite/mlflow.db"
    tracker = MlflowTracker(tracking_uri=sqlite, experiment="registry")
    tracker.client  # the store exists before the jobs (creating one at once is test_tracking_store's)
    with mlflow_server(tmp_path / "server", workers=2, timeout=180) as uri:
        server = MlflowTracker(tracking_uri=uri, experiment="registry")
        server.client
        outs = run_jobs(folder, [(TRIALS, sqlite), (1, uri)])
        crashed = [out[-3000:] for code, out in outs if code != 0]
        assert not crashed, "\n\n".join(crashed)
        counts = [check_trial(tracker.client, model_name(t), len(records)) for t in range(TRIALS)]
        print(f"sqlite: {JOBS} jobs x {TRIALS} trials: {counts}")
        print(f"server: {check_trial(server.client, model_name(0), len(records))}")
        assert not [m.name for m in server.client.search_registered_models() if m.name.endswith(".lock")]


if __name__ == "__main__":
    job(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
        [(int(trials), uri) for trials, uri in (arg.split("@", 1) for arg in sys.argv[4:])])
