"""The model store is a trust boundary (issue 13 item 4): a tampered version runs no code and stops no job."""

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator
from scenarios.tracking.registry import (CHALLENGER, CHAMPION, RegistryError, RegistryIntegrityError, TwinRegistry,
                                         register_calibration, registered_model_name, shadow_evaluate)
from scenarios.tracking.tracker import MlflowTracker
from sim.physics import MOTOR_THERMAL, MOTOR_THERMAL_SPEC as SPEC
from tests.helpers import MOTOR_TRUTH, mlflow_template_store, motor_frame

WRONG = {"thermal_resistance_housing_ambient": 0.05, "heat_capacity_housing": 35000.0}


@pytest.fixture(scope="module")
def windows():
    frame, _ = motor_frame(seed=3, hours=9.0)
    split = frame.index[0] + pd.Timedelta(hours=6)
    fit_data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"], end=split)
    next_data = CalibrationData.from_frame(frame, SPEC, outputs=["winding_temperature"],
                                           start=split + pd.Timedelta(seconds=1))
    good = LeastSquaresCalibrator(list(MOTOR_TRUTH)).fit(MOTOR_THERMAL, fit_data).record_
    wrong = dataclasses.replace(good, parameters={k: {**v, "value": WRONG[k]} for k, v in good.parameters.items()})
    return good, wrong, next_data


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    shutil.copyfile(mlflow_template_store(tmp_path_factory), folder / "mlflow.db")
    return MlflowTracker(tracking_uri=f"sqlite:///{folder}/mlflow.db", experiment="integrity")


@pytest.fixture
def plant(request):
    return request.node.name.replace("test_", "")[:40]


def register(tracker, plant, record):
    run = tracker.start_run("calibration")
    tracker.end_run(run)
    return register_calibration(tracker.uri, run, record, plant=plant)


def stored(tracker, mv, rel: str) -> Path:
    """The file *rel* of version *mv* in the store's artifact folder (a local folder for sqlite stores)."""
    root = tracker.client.get_run(mv.run_id).info.artifact_uri
    return Path(unquote(urlparse(root).path)) / f"twin/{mv.tags.get('calibration.record_id') or mv.tags['twinbench.record_id']}" / rel


def test_replaced_model_code_is_never_run_and_the_job_goes_on(tracker, plant, windows, tmp_path):
    good, wrong, next_data = windows
    register(tracker, plant, wrong)
    mv = register(tracker, plant, good)  # the challenger, better than the champion
    marker = tmp_path / "pwned"
    code = stored(tracker, mv, "twin_pyfunc.py")
    original = code.read_text(encoding="utf-8")
    code.write_text(f"open({str(marker)!r}, 'w').write('code from the store ran')\n" + original, encoding="utf-8")
    name = registered_model_name(plant, "motor_thermal")

    result = shadow_evaluate(tracker.uri, name, next_data)  # does not raise: the job goes on

    assert not marker.exists(), "code from the model store was executed"
    assert result.decision == "failed" and not result.promoted
    assert "twin_pyfunc.py differs from the code Twinbench writes" in result.error
    registry = TwinRegistry(tracker, name)
    tags = registry.version(int(mv.version)).tags
    assert tags["shadow.decision"] == "failed" and "was not run" in tags["shadow.error"]
    assert int(registry.version(CHAMPION).version) == 1  # the champion stays
    with pytest.raises(RegistryError, match="no alias 'challenger'"):  # the tampered challenger is dropped
        registry.version(CHALLENGER)
    with pytest.raises(RegistryIntegrityError, match=r"version 2: the stored twin_pyfunc.py differs"):
        registry.load(int(mv.version))
    assert not marker.exists()
    # the next calibration registers and is evaluated as usual
    third = register(tracker, plant, dataclasses.replace(good, method="next"))
    assert third.aliases == [CHALLENGER]
    assert shadow_evaluate(tracker.uri, name, next_data).decision in ("promoted", "rejected")


def test_changed_parameters_in_the_stored_data_are_refused(tracker, plant, windows):
    good, wrong, next_data = windows
    register(tracker, plant, good)
    mv = register(tracker, plant, wrong)
    name = registered_model_name(plant, "motor_thermal")
    twin_json = stored(tracker, mv, "artifacts/twin.json")
    config = json.loads(twin_json.read_text())
    config["params"]["heat_capacity_housing"] = 52000.0  # make the wrong challenger look right
    twin_json.write_text(json.dumps(config))
    with pytest.raises(RegistryIntegrityError, match="artifacts/twin.json does not match the sha256"):
        TwinRegistry(tracker, name).load(int(mv.version))
    # with the recorded hash updated too, the record (its id is a hash of its content) still disagrees
    record_json = stored(tracker, mv, "artifacts/record.json")
    record = json.loads(record_json.read_text())
    record["parameters"]["heat_capacity_housing"]["value"] = 52000.0
    record_json.write_text(json.dumps(record))
    hashes = {rel: hashlib.sha256(stored(tracker, mv, rel).read_bytes()).hexdigest()
              for rel in ("artifacts/record.json", "artifacts/twin.json", "twin_pyfunc.py")}
    tracker.client.set_model_version_tag(name, mv.version, "twinbench.artifact_sha256", json.dumps(hashes))
    with pytest.raises(RegistryIntegrityError, match=r"record.json content has id .*\(it was changed in the store\)"):
        TwinRegistry(tracker, name).load(int(mv.version))
    result = shadow_evaluate(tracker, name, next_data)
    assert result.decision == "failed" and int(TwinRegistry(tracker, name).version(CHAMPION).version) == 1


def test_a_twin_json_outside_the_schema_is_refused(tracker, plant, windows):
    good, *_ = windows
    mv = register(tracker, plant, good)
    name = registered_model_name(plant, "motor_thermal")
    twin_json = stored(tracker, mv, "artifacts/twin.json")
    config = json.loads(twin_json.read_text())
    config["integrator"] = {"name": "RK4", "max_step": "__import__('os').system('true')"}
    twin_json.write_text(json.dumps(config))
    hashes = json.loads(mv.tags["twinbench.artifact_sha256"])
    hashes["artifacts/twin.json"] = hashlib.sha256(twin_json.read_bytes()).hexdigest()
    tracker.client.set_model_version_tag(name, mv.version, "twinbench.artifact_sha256", json.dumps(hashes))
    with pytest.raises(RegistryIntegrityError, match="integrator.max_step = .* must be a finite number"):
        TwinRegistry(tracker, name).load(CHAMPION)
