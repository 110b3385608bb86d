"""An FMU as the plant model through configuration alone: ``plant.model`` (a :func:`sim.fmu.model_from_config`
entry) is calibrated by the main job's calibrate step and replayed in shadow; its lineage is logged."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

TRUTH = {"heat_capacity": 1500.0, "thermal_resistance": 0.08}
SOURCE = Path(__file__).resolve().parents[1] / "sim" / "fmu" / "sources" / "thermal_mass.py"


class RecordingTracker:
    """The NullTracker's interface, keeping what is logged (no mocks of a real store: this is a store)."""

    def __init__(self):
        self.params, self.metrics, self.runs = {}, {}, 0
        self.uri = None

    def start_run(self, name, *, parent=None, tags=None, start_time=None):
        self.runs += 1
        return f"{name}-{self.runs}"

    def end_run(self, run, status="FINISHED", end_time=None):
        pass

    def log_params(self, run, params):
        self.params.setdefault(run, {}).update(params)

    def log_metrics(self, run, metrics):
        self.metrics.setdefault(run, {}).update(metrics)

    def log_artifact(self, run, path):
        pass

    def log_text(self, run, text, name):
        pass

    def set_tags(self, run, tags):
        pass


@pytest.fixture(scope="module")
def thermal_fmu(tmp_path_factory):
    pytest.importorskip("pythonfmu")
    from pythonfmu.builder import FmuBuilder

    folder = tmp_path_factory.mktemp("plant_fmu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(FmuBuilder.build_FMU(SOURCE, dest=folder / "thermal_mass.fmu", canGetAndSetFMUstate=True))


def _telemetry(path: Path, fmu: str) -> Path:
    """Two hours of a heated mass sampled every minute, simulated by the FMU with TRUTH, plus 0.02 K noise."""
    from sim.fmu import FmuModel

    model = FmuModel(fmu, inputs=("heating_power", "ambient_temperature"), outputs=("temperature",),
                     parameters=tuple(TRUTH), states=("temperature",))
    t = np.arange(0.0, 7200.0, 60.0)
    u = np.column_stack([np.where((t // 1800) % 2 == 0, 100.0, 20.0), np.full(t.size, 293.15)])
    y = model.simulate([[293.15]], [[TRUTH["heat_capacity"], TRUTH["thermal_resistance"]]], t, u)[0][:, 0]
    model.close()
    y = y + np.random.default_rng(7).normal(0.0, 0.02, y.size)
    stamps = pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s")
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "P[W]": u[:, 0],
                  "Ta[degC]": u[:, 1] - 273.15, "T[K]": y}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_an_fmu_plant_from_config_is_calibrated_and_replayed(compose_config, thermal_fmu, tmp_path):
    from rich.console import Console

    from scenarios.config import ChannelConfig
    from scenarios.job import JobSession
    from scenarios.specs import OutputSpec
    from scenarios.app import build_job
    from scenarios.steps import calibrate, fork_twin, gate_telemetry, run_actions

    csv = _telemetry(tmp_path / "mass.csv", thermal_fmu)
    cfg = compose_config(["calibration.outputs=[temperature]", "calibration.estimator.max_step=60",
                          "calibration.estimator.parameters=[heat_capacity,thermal_resistance]",
                          "calibration.estimator.initial_states=[temperature]", "calibration.window_h=3",
                          "whatif=speed", "whatif.replications=2", "whatif.horizon_h=2", "whatif.warmup_h=0",
                          "whatif.seeds_per_draw=1", "whatif.mser_interval_h=null",
                          f"telemetry.path={csv}", "telemetry.timezone=UTC"])
    OmegaConf.update(cfg, "plant.model", {"fmu": thermal_fmu, "inputs": ["heating_power", "ambient_temperature"],
                                          "outputs": ["temperature"], "parameters": list(TRUTH),
                                          "states": ["temperature"],
                                          "bounds": {"heat_capacity": [10.0, 1e5], "thermal_resistance": [1e-3, 10.0]}},
                     merge=False)
    OmegaConf.update(cfg, "plant.motor", {"heat_capacity": 900.0, "thermal_resistance": 0.15}, merge=False)
    OmegaConf.update(cfg, "plant.max_step", 60.0)
    cfg.telemetry.channels = {
        "heating_power": ChannelConfig(column="P[W]", unit="W", si_unit="W", range=[0, 1000]),
        "ambient_temperature": ChannelConfig(column="Ta[degC]", unit="degC", si_unit="K", range=[-40, 80]),
        "temperature": ChannelConfig(column="T[K]", unit="K", si_unit="K", range=[200, 500])}
    job = build_job(cfg, output_dir=tmp_path / "out", tracker=RecordingTracker())  # the line checks pass
    plant, telemetry, calibration = job.plant, job.telemetry, job.calibration
    assert type(plant.model).__name__ == "FmuModel"

    tracker, text = RecordingTracker(), io.StringIO()
    with JobSession(tracker, OutputSpec(directory=tmp_path / "out", plots=False),
                    Console(file=text, width=200)) as session:
        gated = gate_telemetry(telemetry, session)
        step = calibrate(calibration, plant, gated, session)
        # the what-if still runs: the line's own motors (FMU parameters are not the line motor model's), no fork
        fork = fork_twin(job.whatif, plant, step, gated)
        whatif = run_actions(job.whatif, plant, step, fork, session)
    assert fork.snapshot is None and set(whatif.summary["action"]) == {a.name for a in job.whatif.actions}
    record = step.record
    assert record.model == "fmu:ThermalMass"
    for name, value in TRUTH.items():  # the truth is recovered to within 0.5 % and 4 standard errors
        info = record.parameters[name]
        assert abs(info["value"] / value - 1) < 0.005 and abs(info["value"] - value) < 4 * info["stderr"], (name, info)
        assert info["ci_low"] < info["value"] < info["ci_high"]
    # the shadow replay runs the FMU: calibrated residuals at the noise level, the nameplate's far off
    rmse = np.sqrt(np.mean(step.replay["residual"] ** 2))
    assert rmse < 0.05 and np.sqrt(np.mean(step.nameplate_replay["residual"] ** 2)) > 10 * rmse
    params = next(v for k, v in tracker.params.items() if k.startswith("calibration-"))
    assert params["model"] == "fmu:ThermalMass" and any(k.startswith("fmu.") for k in params), params
    metrics = next(v for k, v in tracker.metrics.items() if k.startswith("calibration-"))
    assert {"intervals_reliable", "misspecified"} <= set(metrics)
    # a 3 h window on 2 h of data: the DataQualityWarning is printed
    assert "warning:" in text.getvalue() and "FMU plant model is not registered" in text.getvalue()
    plant.model.close()


WINDING_SOURCE = SOURCE.parent / "winding.py"
#: 4.4 times the FMU's copper loss (0.9 ohm): the filler trips at about 560 s and again every ~530 s, so a half-hour
#: what-if shows the trips (the FMU line runs about 1 ms per FMU reset, per member and sample)
WINDING_TRUTH = {"thermal_resistance": 0.08, "copper_loss_resistance": 4.0}


@pytest.mark.slow
def test_an_fmu_plant_s_calibration_drives_the_line_s_fmu_motors_through_config(compose_config, tmp_path):
    """plant.model and line.motor_model name the same winding FMU: the job calibrates the FMU on telemetry the
    FMU made with WINDING_TRUTH, and the what-if's filler motor runs the FMU with the calibrated parameters - it
    trips (with the FMU's own copper loss it does not: tests/sim/fmu/test_fmu_line.py)."""
    pytest.importorskip("pythonfmu")
    from pythonfmu.builder import FmuBuilder
    from rich.console import Console

    from scenarios.app import build_job
    from scenarios.config import ChannelConfig
    from scenarios.job import JobSession
    from scenarios.specs import OutputSpec
    from scenarios.steps import calibrate, fork_twin, gate_telemetry, run_actions
    from sim.fmu import FmuModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmu = str(FmuBuilder.build_FMU(WINDING_SOURCE, dest=tmp_path / "winding.fmu"))
    entry = {"fmu": fmu, "inputs": ["motor_current", "ambient_temperature"], "outputs": ["winding_temperature"],
             "parameters": list(WINDING_TRUTH), "states": ["winding_temperature"],
             "bounds": {"thermal_resistance": [1e-3, 1.0], "copper_loss_resistance": [0.01, 10.0]}}
    model = FmuModel(fmu, inputs=tuple(entry["inputs"]), outputs=tuple(entry["outputs"]),
                     parameters=tuple(WINDING_TRUTH), states=("winding_temperature",))
    t = np.arange(0.0, 4 * 3600.0, 60.0)
    u = np.column_stack([np.where((t // 3600) % 2 == 0, 12.0, 4.0), np.full(t.size, 298.15)])
    y = model.simulate([[313.15]], [list(WINDING_TRUTH.values())], t, u)[0][:, 0]
    model.close()
    y = y + np.random.default_rng(3).normal(0.0, 0.05, y.size)
    stamps = pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(t, unit="s")
    csv = tmp_path / "winding.csv"
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "I[A]": u[:, 0],
                  "Ta[degC]": u[:, 1] - 273.15, "Tw[K]": y}).to_csv(csv, index=False)
    cfg = compose_config(["calibration.outputs=[winding_temperature]", "calibration.estimator.max_step=60",
                          f"calibration.estimator.parameters=[{','.join(WINDING_TRUTH)}]",
                          "calibration.estimator.initial_states=[winding_temperature]", "calibration.window_h=4",
                          "whatif=speed", "whatif.replications=2", "whatif.horizon_h=0.5", "whatif.warmup_h=0",
                          "whatif.seeds_per_draw=1", "whatif.mser_interval_h=null", "whatif.sample_posterior=false",
                          f"telemetry.path={csv}", "telemetry.timezone=UTC"])
    OmegaConf.update(cfg, "plant.model", entry, merge=False)
    OmegaConf.update(cfg, "plant.motor", {"thermal_resistance": 0.1, "copper_loss_resistance": 1.0}, merge=False)
    OmegaConf.update(cfg, "plant.max_step", 60.0)
    OmegaConf.update(cfg, "line.motor_model", {k: v for k, v in entry.items() if k != "bounds"}, merge=False)
    cfg.telemetry.channels = {
        "motor_current": ChannelConfig(column="I[A]", unit="A", si_unit="A", range=[0, 1000]),
        "ambient_temperature": ChannelConfig(column="Ta[degC]", unit="degC", si_unit="K", range=[-40, 80]),
        "winding_temperature": ChannelConfig(column="Tw[K]", unit="K", si_unit="K", range=[200, 600])}
    job = build_job(cfg, output_dir=tmp_path / "out", tracker=RecordingTracker())
    tracker, text = RecordingTracker(), io.StringIO()
    with JobSession(tracker, OutputSpec(directory=tmp_path / "out", plots=False),
                    Console(file=text, width=200)) as session:
        gated = gate_telemetry(job.telemetry, session)
        step = calibrate(job.calibration, job.plant, gated, session)
        whatif = run_actions(job.whatif, job.plant, step, fork_twin(job.whatif, job.plant, step, gated), session)
    for name, value in WINDING_TRUTH.items():
        assert step.record.parameters[name]["value"] == pytest.approx(value, rel=0.02), name
    assert "drive the line's FMU motors" in text.getvalue()
    trips = whatif.result.kpis.groupby("action")["trips"].mean()
    assert trips["as_is"] >= 2, trips  # the calibrated copper loss, not the FMU's 0.9
    job.plant.model.close()
