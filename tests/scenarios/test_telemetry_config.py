"""The Hydra telemetry schema accepts every channel-map key, and nothing else."""

import dataclasses

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from scenarios.config import ChannelConfig, TelemetryConfig
from sim.telemetry import ChannelMap, SpikeRule, StuckRule
from sim.telemetry import channels as channel_module


def names(cls):
    return {f.name for f in dataclasses.fields(cls)}


def test_schema_has_exactly_the_keys_the_channel_map_accepts():
    assert names(TelemetryConfig) - {"path", "_target_"} == set(channel_module._MAP_KEYS)  # + the spec factory
    assert names(ChannelConfig) == set(channel_module._CHANNEL_KEYS)
    assert names(ChannelConfig.StuckRule) == names(StuckRule)
    assert names(ChannelConfig.SpikeRule) == names(SpikeRule)


def test_a_telemetry_config_with_every_key_builds_its_channel_map(compose_config):
    cfg = compose_config(["telemetry=reference_gated", "telemetry.channels.ambient_temperature.clock_offset=-1.5",
                          "telemetry.channels.ambient_temperature.topic=hall/ambient",
                          "telemetry.channels.ambient_temperature.node='ns=2;s=Hall.Ambient'"])
    tel = OmegaConf.to_container(cfg.telemetry, resolve=True)
    for key in channel_module._MAP_KEYS:
        assert key in tel, key
    for key in channel_module._CHANNEL_KEYS:
        assert key in tel["channels"]["motor_current"], key
    tel.pop("path"), tel.pop("_target_")  # the file and the spec factory; the rest is the channel map
    channel_map = ChannelMap.from_dict(tel)
    assert channel_map.timezone == "Europe/Berlin" and channel_map.gap_factor == 3.0
    assert (channel_map.layout, channel_map.schema, channel_map.future_tolerance) == ("wide", "strict", 300.0)
    current, winding, ambient = channel_map.channels
    assert current.column == "M1.Current[A]" and current.valid_range == (0.0, 200.0)
    assert (current.period, current.lateness, current.topic, current.node) == (10.0, 20.0, None, None)
    assert current.stuck == StuckRule(samples=360) and current.spike == SpikeRule(11, 6.0, 5.0)
    assert ambient.stuck is None and ambient.spike.min_deviation == 2.0
    assert (ambient.clock_offset, ambient.topic, ambient.node) == (-1.5, "hall/ambient", "ns=2;s=Hall.Ambient")
    assert ChannelMap.from_dict(channel_map.to_dict()) == channel_map


def test_a_channel_without_column_takes_its_name(compose_config):
    cfg = compose_config(["telemetry=reference_gated", "telemetry.channels.motor_current.column=null"])
    tel = OmegaConf.to_container(cfg.telemetry, resolve=True)
    tel.pop("path"), tel.pop("_target_")
    assert ChannelMap.from_dict(tel).channels[0].column == "motor_current"


@pytest.mark.parametrize("override,key", [
    ("telemetry.gap_factr=2", "gap_factr"),
    ("telemetry.channels.motor_current.valid_range=[0,1]", "valid_range"),
    ("telemetry.channels.motor_current.stuck.sample=3", "sample"),
    ("telemetry.channels.motor_current.spike.windows=3", "windows"),
])
def test_an_unknown_override_fails_naming_it(compose_config, override, key):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(["telemetry=reference_gated", override])
    assert key in f"{info.value} {info.value.__cause__}"


@pytest.mark.parametrize("where,key", [("", "gap_factr"), ("channels.x.", "clock_ofset"),
                                       ("channels.x.spike.", "treshold")])
def test_an_unknown_key_in_a_telemetry_yaml_fails_naming_it(tmp_path, where, key):
    from hydra import compose, initialize_config_dir

    from scenarios.config import register_configs

    register_configs()
    body = {"path": "x.csv", "channels": {"x": {"unit": "A", "si_unit": "A", "spike": {"window": 5}}}}
    node = body
    for part in where.split(".")[:-1]:
        node = node[part]
    node[key] = 1
    (tmp_path / "telemetry").mkdir()
    (tmp_path / "telemetry" / "bad.yaml").write_text(
        "defaults:\n  - telemetry_schema\n  - _self_\n" + OmegaConf.to_yaml(OmegaConf.create(body)), encoding="utf-8")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        with pytest.raises(ConfigCompositionException) as info:
            compose(config_name="telemetry/bad")
    assert key in f"{info.value} {info.value.__cause__}"


def test_a_bad_value_fails_naming_the_key(compose_config):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(["telemetry=reference_gated", "telemetry.channels.motor_current.lateness=soon"])
    assert "lateness" in f"{info.value} {info.value.__cause__}"
