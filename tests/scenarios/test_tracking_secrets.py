"""No secret reaches the tracking store or the resolved config: configurations hold references only (issue 13)."""

import shutil
import sqlite3

from omegaconf import OmegaConf

from scenarios.tracking.tracker import MlflowTracker, flatten
from sim.telemetry import MqttSecurity, OpcUaSecurity
from tests.helpers import mlflow_template_store

SECRET = "s3cr3t-Tw1nbench-7f9c"


def test_a_password_given_by_reference_is_usable_but_never_logged_or_resolved(tmp_path, tmp_path_factory,
                                                                           monkeypatch):
    monkeypatch.setenv("TWINBENCH_MQTT_PASSWORD", SECRET)
    secret_file = tmp_path / "opcua_password"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    config = OmegaConf.create({
        "telemetry": {
            "mqtt": {"tls": True, "username": "twin", "password_env": "TWINBENCH_MQTT_PASSWORD"},
            "opcua": {"username": "twin", "password_file": str(secret_file)},
        },
        "seed": 7,
    })
    mqtt = MqttSecurity.from_dict(OmegaConf.to_container(config.telemetry.mqtt, resolve=True))
    opcua = OpcUaSecurity.from_dict(OmegaConf.to_container(config.telemetry.opcua, resolve=True))
    assert mqtt.password.reveal("mqtt.password") == SECRET  # the source can connect with it
    assert opcua.password.reveal("opcua.password") == SECRET

    resolved = OmegaConf.to_yaml(config, resolve=True)
    params = {**flatten(OmegaConf.to_container(config, resolve=True)),
              **{f"mqtt.{k}": v for k, v in flatten(mqtt.redacted()).items()},
              **{f"opcua.{k}": v for k, v in flatten(opcua.redacted()).items()}}
    db = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template_store(tmp_path_factory), db)
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{db}")
    run = tracker.start_run("secrets")
    tracker.log_params(run, params)
    tracker.log_text(run, resolved, "config_resolved.yaml")
    tracker.end_run(run, "FINISHED")

    assert SECRET not in resolved
    assert SECRET not in repr(mqtt) + repr(opcua) + str(params)
    stored = tracker.client.get_run(run).data.params
    assert stored["telemetry.mqtt.password_env"] == "TWINBENCH_MQTT_PASSWORD"
    assert SECRET not in str(stored)
    with sqlite3.connect(db) as con:  # nothing in any table of the store
        for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
            for row in con.execute(f'select * from "{table}"'):
                assert SECRET not in str(row), table
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != secret_file:
            assert SECRET.encode() not in path.read_bytes(), path
