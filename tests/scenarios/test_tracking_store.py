"""The tracker creates a new store once, whoever starts first (issue 13 item 5, the store part).

MLflow creates the tables of a new sqlite file and runs its alembic migrations in the first process that
opens it; several at once crashed (``alembic_version``, ``duplicate column name: step``, ``table ... already
exists``).  The tracker does it under a file lock next to the database, for every user of the store.

Run as a script, this file is one such user of several new stores in turn (``python test_tracking_store.py FOLDER K N
TRIALS``).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, TRIALS = 4, 3


def store_uri(folder: Path, trial: int) -> str:
    return f"sqlite:///{folder}/new-{trial}/mlflow.db"  # neither the file nor its folder exist before the trial


def user(folder: Path, k: int, n: int, trials: int) -> None:
    """Per trial: wait for the other processes, then open the trial's new store, log a run and look at the model
    registry (each trial is a race of all *n* processes on a store none of them has opened)."""
    from scenarios.tracking.tracker import MlflowTracker
    from tests.helpers import file_barrier

    for trial in range(trials):
        file_barrier(folder, f"ready-{trial}", k, n)
        tracker = MlflowTracker(tracking_uri=store_uri(folder, trial), experiment="shared")
        run = tracker.start_run(f"user {k}", tags={"k": k})
        tracker.log_metrics(run, {"k": k})
        tracker.end_run(run)
        tracker.client.search_registered_models(max_results=1)


@pytest.mark.slow
def test_processes_starting_on_a_new_store_at_once_all_succeed(tmp_path):
    """:data:`PROCESSES` processes race on :data:`TRIALS` new stores, one after another (one interpreter each for
    all trials: the race is on the store, not on the interpreter's start)."""
    from scenarios.tracking.tracker import MlflowTracker

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, __file__, str(tmp_path), str(k), str(PROCESSES), str(TRIALS)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(PROCESSES)]
    outs = [(p.wait(timeout=600), p.stdout.read()) for p in procs]
    crashed = [out[-2500:] for code, out in outs if code != 0]
    assert not crashed, "\n\n".join(crashed)
    for trial in range(TRIALS):
        tracker = MlflowTracker(tracking_uri=store_uri(tmp_path, trial), experiment="shared")
        runs = tracker.client.search_runs([tracker.experiment_id])
        assert sorted(r.data.tags["k"] for r in runs) == [str(k) for k in range(PROCESSES)], trial
        assert [e.name for e in tracker.client.search_experiments()].count("shared") == 1, trial


def test_a_tracker_names_an_unreachable_server_fast():
    import socket

    from scenarios.tracking.tracker import MlflowTracker, TrackingStoreError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(TrackingStoreError, match=rf"cannot reach the MLflow tracking server 'http://127.0.0.1:{port}'"):
        MlflowTracker(tracking_uri=f"http://127.0.0.1:{port}").client
    assert time.perf_counter() - t0 < 10.0


def test_the_store_lock_excludes_a_second_holder(tmp_path):
    from scenarios.tracking.tracker import MlflowTracker, StoreLockError

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    code = ("import sys; from scenarios.tracking.tracker import MlflowTracker, StoreLockError\n"
            f"t = MlflowTracker(tracking_uri={uri!r})\n"
            "try:\n    t.lock('twinbench.x.y', timeout=0.5).__enter__()\nexcept StoreLockError as e:\n"
            "    print(e); sys.exit(3)\n")
    with MlflowTracker(tracking_uri=uri).lock("twinbench.x.y"):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 3 and "was not free within 0.5 s" in out.stdout, out.stdout + out.stderr
    with MlflowTracker(tracking_uri=uri).lock("twinbench.x.y", timeout=5):  # released
        pass
    assert StoreLockError


if __name__ == "__main__":
    user(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
