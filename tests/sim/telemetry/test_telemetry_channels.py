"""Channel maps: construction, validation, YAML and round trip."""

import dataclasses

import pytest

from sim.exceptions import ChannelMapError, ConfigurationError, UnitConversionError
from sim.telemetry import Channel, ChannelMap

MAP = {
    "time_column": "timestamp",
    "timezone": "Europe/Berlin",
    "separator": "auto",
    "decimal": ".",
    "channels": {
        "motor_current": {"column": "M1_Current", "unit": "A", "si_unit": "A", "range": [0, 200],
                          "description": "station 1 motor current"},
        "winding_temperature": {"column": "M1_Winding_T", "unit": "degC", "si_unit": "K", "range": [-40, 250]},
        "pump_flow": {"column": "P1_Flow", "unit": "m³/h", "si_unit": "m**3/s"},
    },
}


def test_from_dict_builds_channels_in_order():
    channel_map = ChannelMap.from_dict(MAP)
    assert channel_map.names == ("motor_current", "winding_temperature", "pump_flow")
    assert channel_map.columns == ("M1_Current", "M1_Winding_T", "P1_Flow")
    current = channel_map.channels[0]
    assert current == Channel("motor_current", "M1_Current", "A", "A", (0.0, 200.0), "station 1 motor current")
    assert channel_map.by_column("M1_Winding_T").scale_offset == (1.0, 273.15)
    assert channel_map.timezone == "Europe/Berlin"


def test_round_trip_through_dict_and_yaml(tmp_path):
    channel_map = ChannelMap.from_dict(MAP)
    assert ChannelMap.from_dict(channel_map.to_dict()) == channel_map
    import yaml

    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(channel_map.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert ChannelMap.from_yaml(path) == channel_map


def test_channels_are_immutable():
    channel_map = ChannelMap.from_dict(MAP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        channel_map.timezone = "UTC"  # type: ignore[misc]


def test_unknown_key_lists_the_allowed_ones():
    with pytest.raises(ConfigurationError) as info:
        ChannelMap.from_dict({**MAP, "time_zone": "UTC"})
    assert "'time_zone'" in str(info.value) and "'timezone'" in str(info.value)


def test_unknown_channel_key_points_to_range():
    bad = {"channels": {"x": {"column": "X", "unit": "A", "si_unit": "A", "valid_range": [0, 1]}}}
    with pytest.raises(ConfigurationError) as info:
        ChannelMap.from_dict(bad)
    assert "'valid_range'" in str(info.value) and "'range'" in str(info.value)


@pytest.mark.parametrize("bad_range", [[5, 5], [10, 0], [0], "0..10", [0, "high"]])
def test_range_must_be_increasing_pair(bad_range):
    bad = {"channels": {"x": {"column": "X", "unit": "A", "si_unit": "A", "range": bad_range}}}
    with pytest.raises(ChannelMapError, match="range"):
        ChannelMap.from_dict(bad)


def test_units_are_checked_eagerly_with_channel_and_column():
    bad = {"channels": {"winding_temperature": {"column": "M1_Winding_T", "unit": "C", "si_unit": "K"}}}
    with pytest.raises(UnitConversionError) as info:
        ChannelMap.from_dict(bad)
    message = str(info.value)
    assert "winding_temperature" in message and "M1_Winding_T" in message and "degC" in message


def test_si_unit_must_be_si():
    bad = {"channels": {"t": {"column": "T", "unit": "degC", "si_unit": "degC"}}}
    with pytest.raises(UnitConversionError, match="set si_unit to 'K'"):
        ChannelMap.from_dict(bad)


def test_yaml_errors_name_the_yaml_file(tmp_path):
    path = tmp_path / "plant_map.yaml"
    path.write_text("channels:\n  winding_temperature: {column: M1_Winding_T, unit: C, si_unit: K}\n")
    with pytest.raises(UnitConversionError) as info:
        ChannelMap.from_yaml(path)
    message = str(info.value)
    assert "plant_map.yaml" in message and "M1_Winding_T" in message and "degC" in message


def test_missing_yaml_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="nowhere.yaml"):
        ChannelMap.from_yaml(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize(
    ("option", "value"),
    [("separator", ":"), ("decimal", ";"), ("timezone", "Mars/Olympus"), ("time_format", "dd.mm.yyyy"),
     ("encoding", "klingon")],
)
def test_bad_options_are_configuration_errors(option, value):
    with pytest.raises(ConfigurationError, match=option if option != "time_format" else "strftime"):
        ChannelMap.from_dict({**MAP, option: value})


def test_decimal_comma_needs_another_separator():
    with pytest.raises(ConfigurationError, match="separator: ';'"):
        ChannelMap.from_dict({**MAP, "separator": ",", "decimal": ","})


def test_duplicate_columns_and_time_column_clash():
    a = Channel("a", "X", "A", "A")
    with pytest.raises(ChannelMapError, match="more than once"):
        ChannelMap((a, Channel("b", "X", "A", "A")))
    with pytest.raises(ChannelMapError, match="time_column"):
        ChannelMap((a,), time_column="X")
    with pytest.raises(ChannelMapError, match="at least one"):
        ChannelMap(())
