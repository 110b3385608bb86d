"""Data makers shared by several test modules (test modules never import each other).

Each maker is deterministic in its seed and documents the truth it was generated from, so a test can
compare what a calibrator recovers with what was put in.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import simpy

from calibration import CalibrationData
from sim.physics import MOTOR_THERMAL, PUMP, RK4
from tests.calibration._oscillator import OSCILLATOR, OSCILLATOR_SPEC

#: Thermal parameters of the motor behind :func:`motor_frame` (the rest are the spec's defaults).
MOTOR_TRUTH = {"thermal_resistance_housing_ambient": 0.075, "heat_capacity_housing": 52000.0}

#: Natural frequency [rad/s] of the oscillator behind :func:`oscillator_data`; over 60 s the least-squares cost
#: has a local minimum every ~0.1 rad/s.
OSCILLATOR_TRUE_FREQUENCY = 1.3


def motor_frame(seed: int, hours: float = 12.0, period: float = 10.0, noise=0.3):
    """Winding temperature [K] of a motor with :data:`MOTOR_TRUTH` under an on/off load, plus Gaussian noise.

    Returns the frame (``motor_current`` [A], ``ambient_temperature`` [K], ``winding_temperature`` [K], UTC
    index every *period* seconds) and the true initial states.
    """
    spec = MOTOR_THERMAL.spec
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0, period)
    # load switches every ~10 min between running (22-34 A) and stopped
    blocks = (t // 600).astype(int)
    level = rng.uniform(22.0, 34.0, blocks.max() + 1) * (rng.random(blocks.max() + 1) > 0.25)
    current = level[blocks]
    ambient = 293.15 + 6.0 * np.sin(2 * np.pi * t / 86400.0)
    u = np.column_stack([current, ambient])
    x0 = np.array([320.0, 312.0])
    y = MOTOR_THERMAL.simulate(x0, spec.vector("params", MOTOR_TRUTH), t, u)[0]
    frame = pd.DataFrame({"motor_current": current, "ambient_temperature": ambient,
                          "winding_temperature": y[:, 0] + rng.normal(0.0, noise, t.size)},
                         index=pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    return frame, x0


def pump_frame(seed, minutes=10, noise=0.01):
    """1 Hz pump telemetry (spec-default pump): VFD speed and static head stepping every 2 min, relative noise."""
    spec = PUMP.spec
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, minutes * 60.0 + 1.0, 1.0)
    block = (t // 120).astype(int)
    u = np.column_stack([rng.uniform(240.0, 310.0, block.max() + 1)[block],
                         rng.uniform(8.0, 12.0, block.max() + 1)[block], np.zeros(t.size)])
    y = PUMP.simulate(spec.vector("states", {"flow": 0.028}), spec.vector("params"), t, u,
                      integrator=RK4(max_step=1.0))[0]
    names = [o.name for o in spec.outputs]
    meas = y * (1 + noise * rng.normal(size=y.shape))
    frame = pd.DataFrame(np.column_stack([u, meas]), columns=list(spec.names("inputs")) + names,
                         index=pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    return frame.loc[:, ~frame.columns.duplicated()], u


def oscillator_data(seed=0, noise=0.05):
    """60 s of a lightly damped oscillator's position at 5 Hz (frequency :data:`OSCILLATOR_TRUE_FREQUENCY`)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 60.0, 0.2)
    truth = OSCILLATOR_SPEC.vector("params", {"natural_frequency": OSCILLATOR_TRUE_FREQUENCY, "damping_ratio": 0.03})
    y = OSCILLATOR.simulate(np.array([1.0, 0.0]), truth, t, np.zeros((t.size, 1)), integrator=RK4(max_step=0.05))[0]
    frame = pd.DataFrame({"force": 0.0, "position": y[:, 0] + rng.normal(0.0, noise, t.size)},
                         index=pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
    return CalibrationData.from_frame(frame, OSCILLATOR_SPEC, outputs=["position"])


class StepGuard(simpy.Environment):
    """A ``simpy.Environment`` that fails after *max_steps* steps (a spinning clock never ends a run)."""

    def __init__(self, initial_time=0.0, max_steps=20_000):
        super().__init__(initial_time)
        self.max_steps = max_steps
        self.n_steps = 0

    def step(self):
        self.n_steps += 1
        if self.n_steps > self.max_steps:
            raise AssertionError(f"the clock spun: {self.n_steps} SimPy steps, time stuck near t = {self.now!r} s")
        super().step()


@contextlib.contextmanager
def mlflow_server(folder, *, workers: int = 1, timeout: float = 120.0):
    """A real ``mlflow server`` on 127.0.0.1 (a free port, sqlite store and artifacts in *folder*); yields its URI.

    No job runner is started (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: the registry needs none).  The
    server's process group is stopped on exit; a server that does not answer ``/health`` within *timeout*
    seconds fails the test with the end of its log.
    """
    folder = Path(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(folder / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers",
             str(workers), "--backend-store-uri", f"sqlite:///{folder}/server.db", "--artifacts-destination",
             str(folder / "artifacts")], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder,
            start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert server.poll() is None, (folder / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, f"mlflow server did not answer /health within {timeout:g} s"
                time.sleep(0.5)
            yield uri
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


def mlflow_template_store(tmp_path_factory) -> Path:
    """An empty, migrated sqlite MLflow store, made once per test process; tests start from copies of it
    (``shutil.copyfile(mlflow_template_store(tmp_path_factory), folder / "mlflow.db")``).

    MLflow's migrations of a new sqlite file take 3-40 s on the shared cores, a copy milliseconds.  Creating a
    store is tested where it is the point (``tests/scenarios/test_tracking_store.py``; the Ctrl-C sweep of
    ``test_sweep.py`` creates its own).
    """
    template = tmp_path_factory.getbasetemp() / "mlflow-template.db"
    if not template.exists():
        from scenarios.tracking.tracker import MlflowTracker

        build = tmp_path_factory.mktemp("mlflow-template")
        MlflowTracker(tracking_uri=f"sqlite:///{build}/mlflow.db", experiment="Default").client  # adds no experiment
        os.replace(build / "mlflow.db", template)  # whole or absent, never half made
    return template


# One fresh interpreter runs every command through its console script's entry point (the function the installed
# script calls, found by its entry-point name), one after the other, and reports each exit status and output: the
# same check as one process per command, without paying the start-up of hydra, numba and mlflow each time.
_CONSOLE_DRIVER = r"""
import contextlib, importlib.metadata, io, json, sys

commands, results = json.loads(sys.argv[1]), []
scripts = {ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")}
for name, *args in commands:
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [name, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = scripts[name].load()()
    except SystemExit as exit_:
        status = exit_.code
    except BaseException as crash:  # a crash is a failed command, reported with the others
        err.write(f"{type(crash).__name__}: {crash}")
        status = 1
    status = 0 if status is None else status if isinstance(status, int) else 1
    results.append({"command": [name, *args], "status": status, "stdout": out.getvalue(),
                    "stderr": err.getvalue()[-2000:]})
print("RESULTS " + json.dumps(results))
"""


def run_console_scripts(commands, *, cwd, timeout: float = 300.0) -> list[dict]:
    """Run *commands* (each ``[script, *args]``, *script* an installed console script) one after the other in one
    fresh interpreter started in *cwd*; per command ``{"command", "status", "stdout", "stderr"}`` (stderr's last
    2000 characters; an exception the entry point raises is status 1 with its text in stderr)."""
    import json

    done = subprocess.run([sys.executable, "-c", _CONSOLE_DRIVER, json.dumps([list(c) for c in commands])],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or "RESULTS " not in done.stdout:
        raise AssertionError(f"the console-script driver failed (exit {done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout.split("RESULTS ", 1)[1])


def file_barrier(folder, name: str, k, n: int, *, timeout: float = 120.0, poll: float = 0.005) -> None:
    """Process *k* of *n* arrives at barrier *name* in *folder* (a file ``name-k``) and waits until all *n* have
    (``name-*`` counts *n*): the processes of a race then start together.  AssertionError after *timeout* [s]."""
    folder = Path(folder)
    (folder / f"{name}-{k}").touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.glob(f"{name}-*"))) < n:
        assert time.monotonic() < deadline, f"barrier {name}: the other processes did not arrive in {timeout:g} s"
        time.sleep(poll)
