"""The calibrated twin in a real MLflow model registry (sqlite store; one test against `mlflow server`)."""

import dataclasses
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, CalibrationRecord, LeastSquaresCalibrator
from scenarios.tracking.registry import (CHALLENGER, CHAMPION, CalibratedTwin, PromotionRule, RegistryError, TwinRegistry,
                                frame_of, load_champion, register_calibration, registered_model_name, rollback,
                                shadow_evaluate)
from scenarios.tracking.tracker import MlflowTracker, TrackingStoreError
from sim.exceptions import ConfigurationError, ParameterBoundsError
from sim.physics import MODELS, MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC
from tests.helpers import MOTOR_TRUTH as TRUTH, mlflow_template_store
from tests.helpers import mlflow_server
from tests.helpers import motor_frame as synthetic_frame

ROOT = Path(__file__).resolve().parents[2]
WRONG = {"thermal_resistance_housing_ambient": 0.05, "heat_capacity_housing": 35000.0}


@pytest.fixture(scope="module")
def windows():
    """A 9 h synthetic motor: calibrate on the first 6 h, shadow-evaluate on the 3 h after."""
    frame, _ = synthetic_frame(seed=3, hours=9.0)
    split = frame.index[0] + pd.Timedelta(hours=6)
    fit_data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"], end=split)
    next_data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"],
                                           start=split + pd.Timedelta(seconds=1))
    cal = LeastSquaresCalibrator(list(TRUTH)).fit(MOTOR_THERMAL, fit_data)
    wrong = dataclasses.replace(cal.record_, parameters={
        k: {**v, "value": WRONG[k]} for k, v in cal.record_.parameters.items()})
    return cal, fit_data, next_data, wrong


@pytest.fixture(scope="module")
def all_data():
    frame, _ = synthetic_frame(seed=3, hours=9.0)
    return CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"])


def same_predictions(record, tag):
    """Another record (another record_id) with the same parameters."""
    return dataclasses.replace(record, method=f"{record.method} [{tag}]")


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    """One sqlite store per module (a copy of the template); each test uses its own registered model."""
    tmp = tmp_path_factory.mktemp("registry")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp / "mlflow.db")
    return MlflowTracker(tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="registry")


@pytest.fixture
def plant(request):
    return request.node.name.replace("test_", "").replace("[", "-").replace("]", "")[:60]


def register(tracker, plant, record, **kw):
    run = tracker.start_run("calibration")
    tracker.end_run(run)  # as in the main job, the calibration run is closed before the registration
    return register_calibration(tracker, run, record, plant=plant, **kw)


def test_pyfunc_prediction_equals_direct_simulation(tracker, plant, windows, tmp_path):
    cal, data, _, _ = windows
    mv = register(tracker, plant, cal.record_, x0=cal.initial_state_, git_commit="abc123")
    loaded = load_champion(tracker, registered_model_name(plant, "motor_thermal"))
    assert loaded.record == cal.record_ and int(loaded.version.version) == int(mv.version)
    assert mv.tags["calibration.record_id"] == cal.record_.record_id
    assert mv.tags["calibration.data_hash"] == data.content_hash and mv.tags["git.commit"] == "abc123"
    assert mv.tags["calibration.window_start"] == "2026-06-01T00:00:00+00:00"
    params = SPEC.vector("params", cal.record_.values())
    direct = MOTOR_THERMAL.simulate(SPEC.vector("states", cal.initial_state_), params, data.t, data.inputs)[0]
    predicted = loaded.pyfunc.predict(frame_of(data))
    assert list(predicted.columns) == list(SPEC.names("outputs"))
    np.testing.assert_allclose(predicted.to_numpy(), direct, rtol=0, atol=1e-9)
    # the initial state is a per-call param of the signature
    x0 = {**cal.initial_state_, "housing_temperature": 330.0}
    direct = MOTOR_THERMAL.simulate(SPEC.vector("states", x0), params, data.t, data.inputs)[0]
    predicted = loaded.pyfunc.predict(frame_of(data), params={"x0.housing_temperature": 330.0})
    np.testing.assert_allclose(predicted.to_numpy(), direct, rtol=0, atol=1e-9)
    # the stored MLmodel keeps the pyfunc signature for MLflow users (parsed as YAML here, never loaded)
    from mlflow.models import Model

    local = tracker.client.download_artifacts(mv.run_id, f"twin/{cal.record_.record_id}/MLmodel", str(tmp_path))
    inputs = Model.load(local).signature.inputs.input_names()
    assert inputs == ["time", "motor_current", "ambient_temperature"]


def test_versions_increment_and_the_first_becomes_champion(tracker, plant, windows):
    cal, _, _, wrong = windows
    versions = [register(tracker, plant, rec) for rec in (cal.record_, wrong, same_predictions(wrong, "copy"))]
    assert [int(v.version) for v in versions] == [1, 2, 3]
    # the same record again (a job re-run on the same data) adds no version
    assert int(register(tracker, plant, wrong).version) == 2
    assert versions[0].aliases == [CHAMPION] and versions[1].aliases == [CHALLENGER]
    registry = TwinRegistry(tracker, registered_model_name(plant, "motor_thermal"))
    # a newer calibration replaces an unevaluated challenger
    assert int(registry.version(CHAMPION).version) == 1 and int(registry.version(CHALLENGER).version) == 3
    assert registry.champion_history() == [1]


def shadow_run_metrics(tracker, result):
    return tracker.client.get_run(result.run_id).data


def test_a_better_challenger_is_promoted_and_the_comparison_logged(tracker, plant, windows):
    cal, _, next_data, wrong = windows
    register(tracker, plant, wrong)
    register(tracker, plant, cal.record_)
    name = registered_model_name(plant, "motor_thermal")
    result = shadow_evaluate(tracker, name, next_data)
    assert result.promoted and result.champion == 1 and result.challenger == 2
    assert result.scores["challenger"] < 0.98 * result.scores["champion"]
    # the true model predicts to the noise level (0.3 K) on unseen data
    assert result.rmse["challenger"]["winding_temperature"] == pytest.approx(0.3, rel=0.2)
    registry = TwinRegistry(tracker, name)
    assert int(registry.version(CHAMPION).version) == 2 and registry.champion_history() == [1, 2]
    with pytest.raises(RegistryError, match="no alias 'challenger'"):
        registry.version(CHALLENGER)
    assert registry.version(2).tags["shadow.decision"] == "promoted"
    data = shadow_run_metrics(tracker, result)
    assert data.metrics["shadow.promoted"] == 1.0
    assert data.metrics["shadow.champion.winding_temperature.rmse"] == result.rmse["champion"]["winding_temperature"]
    assert data.tags["shadow.data_hash"] == next_data.content_hash
    files = [f.path for f in tracker.client.list_artifacts(result.run_id, "shadow")]
    assert files == ["shadow/v2.json"]


def test_a_worse_or_equal_challenger_is_not_promoted(tracker, plant, windows, all_data):
    cal, _, next_data, wrong = windows
    register(tracker, plant, cal.record_)
    register(tracker, plant, wrong)
    name = registered_model_name(plant, "motor_thermal")
    run = tracker.start_run("next calibration")
    result = shadow_evaluate(tracker, name, next_data, run_id=run)
    assert not result.promoted and result.scores["challenger"] > result.scores["champion"]
    assert result.run_id == run and shadow_run_metrics(tracker, result).metrics["shadow.promoted"] == 0.0
    assert tracker.client.get_run(run).info.status == "RUNNING"  # a given run is left open for its owner
    registry = TwinRegistry(tracker, name)
    assert int(registry.version(CHAMPION).version) == 1 and registry.version(2).tags["shadow.decision"] == "rejected"
    assert shadow_evaluate(tracker, name, next_data) is None  # nothing left to evaluate
    # equal predictions are not "better": the margin must be beaten.  Only the data after the
    # challenger's window count.
    register(tracker, plant, same_predictions(cal.record_, "copy"))
    result = shadow_evaluate(tracker, name, all_data, rule=PromotionRule(margin=0.0))
    assert result.scores["challenger"] == result.scores["champion"] and not result.promoted
    assert result.window["start"] == str(next_data.start) and result.window["content_hash"] == next_data.content_hash


def test_rollback_restores_the_previous_champion(tracker, plant, windows):
    cal, _, next_data, wrong = windows
    register(tracker, plant, wrong)
    register(tracker, plant, cal.record_)
    name = registered_model_name(plant, "motor_thermal")
    assert shadow_evaluate(tracker, name, next_data).promoted
    mv = rollback(tracker, name)
    assert int(mv.version) == 1 and mv.aliases == [CHAMPION]
    registry = TwinRegistry(tracker, name)
    assert registry.champion_history() == [1] and registry.version(2).tags["twinbench.rolled_back"] == "true"
    assert registry.load(CHAMPION).record == wrong
    with pytest.raises(RegistryError, match="one champion only"):
        rollback(tracker, name)
    # a champion moved by hand (outside the history) is not rolled back blindly
    tracker.client.set_registered_model_alias(name, CHAMPION, "2")
    with pytest.raises(RegistryError, match=r"history \[1\] ends elsewhere.*promote\(version\)"):
        rollback(tracker, name)
    assert int(registry.promote(2).version) == 2 and registry.champion_history() == [1, 2]


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_every_library_model_rebuilds_from_its_record(model_name):
    spec = MODELS[model_name].spec
    first = spec.params[0].name
    record = CalibrationRecord(
        model=model_name, model_version=spec.version, parameters={first: {"value": spec.params[0].default}},
        fixed_parameters={}, covariance=[[0.0]], parameter_names=[first], confidence=0.95, metrics={},
        window={}, initial_state={}, final_state={}, method="by hand")
    twin = CalibratedTwin.from_config(record, json.loads(json.dumps(CalibratedTwin(record).to_config())))
    t = np.arange(0.0, 60.0, 5.0)
    u = np.tile(spec.vector("inputs"), (t.size, 1))
    frame = pd.DataFrame({"time": t, **{n: u[:, j] for j, n in enumerate(spec.names("inputs"))}})
    direct = MODELS[model_name].simulate(spec.vector("states"), spec.vector("params"), t, u)[0]
    np.testing.assert_allclose(twin.predict(frame).to_numpy(), direct, rtol=0, atol=1e-9)


# ------------------------------------------------------------------ bad input
def test_records_that_cannot_rebuild_a_twin_are_explained(windows):
    cal, *_ = windows
    with pytest.raises(ConfigurationError, match=r"'warp_drive' is not in sim.physics.MODELS.*motor_thermal"):
        CalibratedTwin(dataclasses.replace(cal.record_, model="warp_drive"))
    with pytest.raises(ConfigurationError, match="has no fitted parameters.*calibrator.record_"):
        CalibratedTwin(dataclasses.replace(cal.record_, parameters={}))
    with pytest.raises(ConfigurationError, match="version '0.1'.*recalibrate"):
        CalibratedTwin(dataclasses.replace(cal.record_, model_version="0.1"))
    with pytest.raises(ParameterBoundsError, match="heat_capacity_housing"):
        CalibratedTwin(dataclasses.replace(cal.record_, parameters={
            "heat_capacity_housing": {"value": -1.0}}))
    with pytest.raises(ConfigurationError, match=r"lacks the columns \['ambient_temperature'\]"):
        CalibratedTwin(cal.record_).predict(pd.DataFrame({"time": [0.0, 1.0], "motor_current": [1.0, 1.0]}))
    with pytest.raises(ConfigurationError, match="'bottling line' cannot be part"):
        registered_model_name("bottling line", "motor_thermal")


def test_missing_aliases_runs_and_overlapping_windows_are_explained(tracker, plant, windows):
    cal, fit_data, _, wrong = windows
    name = registered_model_name(plant, "motor_thermal")
    with pytest.raises(RegistryError, match=rf"{name}' has no alias 'champion' \(the registered model does not"):
        load_champion(tracker, name)
    with pytest.raises(RegistryError, match="run 'no-such-run' does not exist.*calibration run"):
        register_calibration(tracker, "no-such-run", cal.record_, plant=plant)
    register(tracker, plant, cal.record_)
    register(tracker, plant, wrong)
    registry = TwinRegistry(tracker, name)
    with pytest.raises(RegistryError, match=r"no alias 'staging' \(aliases \{'challenger': 2, 'champion': 1\}"):
        registry.load("staging")
    with pytest.raises(RegistryError, match=r"no version 7 .*versions \[1, 2\]"):
        registry.version(7)
    with pytest.raises(ConfigurationError, match="inside the challenger's .* calibration window.*evaluate on data"):
        registry.evaluate_challenger(fit_data)
    assert shadow_evaluate(tracker, name, fit_data) is None  # no data after the challenger's window


def test_an_unreachable_tracking_server_is_named_with_the_fix(windows):
    cal, *_ = windows
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(TrackingStoreError, match=rf"cannot reach the MLflow tracking server 'http://127.0.0.1:{port}'"
                                            r".*mlflow server"):
        register_calibration(f"http://127.0.0.1:{port}", "run", cal.record_)
    assert time.perf_counter() - t0 < 10.0


def test_a_store_without_a_model_registry_is_named_with_the_fix(tmp_path, windows):
    cal, *_ = windows
    with pytest.raises((RegistryError, TrackingStoreError),
                       match=r"cannot open the MLflow (model registry at|tracking store) 'file://.*sqlite:///"):
        register_calibration(tmp_path.as_uri(), "run", cal.record_)


def test_importing_the_registry_does_not_import_mlflow():
    code = "import sys, scenarios.tracking.registry; sys.exit(1 if 'mlflow' in sys.modules else 0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


# ---------------------------------------------------------------- real server
@pytest.mark.slow
def test_champion_challenger_against_a_real_mlflow_server(tmp_path, tmp_path_factory, windows):
    cal, _, next_data, wrong = windows
    shutil.copyfile(mlflow_template_store(tmp_path_factory), tmp_path / "server.db")  # the server starts on it migrated
    with mlflow_server(tmp_path) as uri:
        tracker = MlflowTracker(tracking_uri=uri, experiment="registry")
        register(tracker, "server", wrong)
        mv = register(tracker, "server", cal.record_)
        assert int(mv.version) == 2 and mv.aliases == [CHALLENGER]
        name = registered_model_name("server", "motor_thermal")
        assert shadow_evaluate(tracker, name, next_data).promoted
        loaded = load_champion(tracker, name)
        assert loaded.record == cal.record_
        assert json.loads(TwinRegistry(tracker, name).client.get_registered_model(name)
                          .tags["twinbench.champion_history"]) == [1, 2]
