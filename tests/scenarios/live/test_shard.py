"""Sharding the fleet over processes and Ray actors: the same code, the same per-asset twin."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from scenarios.config import ChannelConfig
from scenarios.live.app import build_service
from scenarios.live.config import register_live_configs
from scenarios.live.shard import run_sharded, shard_assets
from sim.exceptions import ConfigurationError
from tests.helpers import MOTOR_TRUTH, motor_frame

ROOT = Path(__file__).resolve().parents[3]
ASSETS = ["m0", "m1", "m2", "m3"]
VARS = {"motor_current": "A", "ambient_temperature": "K", "winding_temperature": "K"}


def test_shards_are_contiguous_balanced_and_cover_every_asset():
    shards = shard_assets([f"a{i}" for i in range(10)], 3)
    assert shards == [["a0", "a1", "a2", "a3"], ["a4", "a5", "a6"], ["a7", "a8", "a9"]]
    assert shard_assets(["a", "b"], 5) == [["a"], ["b"]]
    with pytest.raises(ConfigurationError, match="positive integer"):
        shard_assets(["a"], 0)


@pytest.fixture(scope="module")
def fleet_cfg(tmp_path_factory):
    """Four motors (tests.helpers.motor_frame, seeds 0-3, thermal truth MOTOR_TRUTH), 3 h at 10 s, one wide CSV."""
    frames = {a: motor_frame(seed, hours=3.0)[0] for seed, a in enumerate(ASSETS)}
    index = frames["m0"].index
    table = {"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for a, f in frames.items():
        for var in VARS:
            table[f"{a}.{var}"] = f[var].to_numpy()
    import pandas as pd

    path = tmp_path_factory.mktemp("fleet") / "fleet.csv"
    pd.DataFrame(table).to_csv(path, index=False)
    register_live_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("live", overrides=["detection.enabled=false", "recalibration.enabled=false",
                                         "whatif_now.final=false", "checkpoint.path=null", "timeline=false"])
    cfg.telemetry.path = str(path)
    cfg.telemetry.timezone = "UTC"
    cfg.telemetry.channels = {}
    with open_dict(cfg):
        for a in ASSETS:
            for v, u in VARS.items():
                cfg.telemetry.channels[f"{a}.{v}"] = ChannelConfig(column=f"{a}.{v}", unit=u, si_unit=u, period=10.0)
    cfg.filter.model = "sim.physics:MOTOR_THERMAL"
    cfg.filter.channels = ["winding_temperature"]
    cfg.filter.parameters = ["thermal_resistance_housing_ambient"]
    cfg.filter.assets = ASSETS
    cfg.filter.prior = {}
    cfg.filter.noise_std = {"winding_temperature": 0.3}
    cfg.filter.state_std = {}
    cfg.filter.initial_state_std = {}
    cfg.filter.max_step = 2.0
    return cfg


@pytest.fixture(scope="module")
def one_process(fleet_cfg):
    service = build_service(fleet_cfg)
    service.run()
    return service


def test_one_process_tracks_every_motor_of_the_fleet(one_process):
    est = one_process.tracker.estimates()["thermal_resistance_housing_ambient"]
    sd = one_process.tracker.std()["thermal_resistance_housing_ambient"]
    truth = MOTOR_TRUTH["thermal_resistance_housing_ambient"]
    assert est.shape == (4,) and np.all(np.abs(est - truth) < 4 * sd + 0.005), (est, sd)
    assert one_process.applied == 3 * 360


@pytest.mark.slow
def test_two_worker_processes_give_the_one_process_twin(fleet_cfg, one_process):
    out = run_sharded(fleet_cfg, workers=2, backend="process")
    assert [s["assets"] for s in out] == [["m0", "m1"], ["m2", "m3"]]
    got = np.concatenate([s["estimates"]["thermal_resistance_housing_ambient"] for s in out])
    np.testing.assert_array_equal(got, one_process.tracker.estimates()["thermal_resistance_housing_ambient"])
    assert all(s["applied"] == one_process.applied for s in out)


@pytest.mark.slow
def test_a_local_ray_cluster_with_two_workers_gives_the_one_process_twin(fleet_cfg, one_process):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = run_sharded(fleet_cfg, workers=2, backend="ray")
    finally:
        ray.shutdown()
    got = np.concatenate([s["estimates"]["thermal_resistance_housing_ambient"] for s in out])
    np.testing.assert_array_equal(got, one_process.tracker.estimates()["thermal_resistance_housing_ambient"])
    assert [s["shard"] for s in out] == [0, 1]
