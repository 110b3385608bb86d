import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from scenarios.app import build_job
from scenarios.tracking import NullTracker


def test_default_config_composes_into_typed_objects(compose_config, tmp_path):
    cfg = compose_config()
    assert cfg.calibration.window_h == 24.0
    assert [a.name for a in cfg.whatif.actions] == ["as_is", "speed_up"]
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    assert job.telemetry_path.is_file()
    assert job.plant.station.trip_temperature == 393.15
    assert job.calibrator.get_params()["parameters"] == ["thermal_resistance_housing_ambient",
                                                         "heat_capacity_housing"]
    assert [a.changes for a in job.actions] == [{}, {"speed": 1.15}]
    assert job.channel_map.names == ("motor_current", "winding_temperature", "ambient_temperature")
    assert job.params["calibration.window_h"] == 24.0


@pytest.mark.parametrize("group,option", [("tracking", "none"), ("tracking", "mlflow")])
def test_every_group_option_composes(compose_config, group, option):
    cfg = compose_config([f"{group}={option}"])
    assert cfg[group]["_target_"].startswith("scenarios.tracking.")


def test_overrides_reach_the_job(compose_config, tmp_path):
    cfg = compose_config(["calibration.window_h=12", "whatif.replications=7", "plant.station.speed=0.9"])
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    assert job.window_h == 12 and job.replications == 7 and job.plant.station.speed == 0.9


def test_unknown_key_fails_naming_the_key(compose_config):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config(["calibration.windw_h=12"])
    assert "windw_h" in str(err.value) + str(err.value.__cause__)


def test_misspelled_key_in_a_station_fails(compose_config):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config(["plant.station.mean_time_between_jam=100"])
    assert "mean_time_between_jam" in str(err.value) + str(err.value.__cause__)


def test_wrong_type_fails_naming_the_value(compose_config):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config(["whatif.replications=many"])
    assert "many" in str(err.value) + str(err.value.__cause__)


def test_reading_an_unknown_key_in_code_fails(compose_config):
    cfg = compose_config()
    with pytest.raises((ConfigKeyError, ConfigAttributeError), match="pork"):
        _ = cfg.plant.pork
