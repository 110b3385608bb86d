"""Unit conversion to SI: known values, historian spellings, helpful errors."""

from pathlib import Path

import pytest

import sim.telemetry
from sim.exceptions import ChannelMapError, ConfigurationError, UnitConversionError
from sim.telemetry import ChannelMap, si_converter
from sim.telemetry.units import check_si_unit


def convert(x, unit, si_unit):
    scale, offset = si_converter(unit, si_unit)
    return scale * x + offset


@pytest.mark.parametrize(
    ("x", "unit", "si_unit", "expected"),
    [
        (0.0, "degC", "K", 273.15),
        (0.0, "°C", "K", 273.15),
        (100.0, "celsius", "K", 373.15),
        (212.0, "°F", "K", 373.15),
        (32.0, "degF", "K", 273.15),
        (300.0, "K", "K", 300.0),
        (1.0, "bar", "Pa", 1e5),
        (1.0, "psi", "Pa", 6894.757),
        (1.0, "kPa", "Pa", 1e3),
        (60.0, "l/min", "m**3/s", 1e-3),
        (60.0, "L/min", "m**3/s", 1e-3),
        (3600.0, "m3/h", "m**3/s", 1.0),
        (3600.0, "m³/h", "m^3/s", 1.0),
        (1.0, "gpm", "m**3/s", 6.309e-5),
        (1.0, "hp", "W", 745.7),
        (2.5, "kW", "W", 2500.0),
        (1.0, "in/s", "m/s", 0.0254),
        (4.5, "mm/s", "m/s", 4.5e-3),
        (3600.0, "rpm", "rad/s", 376.99),
        (250.0, "mA", "A", 0.25),
        (50.0, "%", "1", 0.5),
    ],
)
def test_known_conversions(x, unit, si_unit, expected):
    assert convert(x, unit, si_unit) == pytest.approx(expected, rel=1e-4)


def test_temperature_offset_is_exact():
    assert si_converter("degC", "K") == (1.0, 273.15)
    scale, offset = si_converter("degF", "K")
    assert scale == pytest.approx(5 / 9, rel=1e-15)
    assert offset == pytest.approx(255.372222222, rel=1e-12)


def test_converter_is_cached():
    assert si_converter("bar", "Pa") is si_converter("bar", "Pa")


def test_unknown_unit_names_the_unit_and_suggests_spellings():
    with pytest.raises(UnitConversionError) as info:
        si_converter("degreez", "K")
    message = str(info.value)
    assert "'degreez'" in message and "fix" in message and "degC" in message


@pytest.mark.parametrize(("unit", "hint"), [("C", "degC"), ("F", "degF")])
def test_bare_c_and_f_are_coulomb_and_farad(unit, hint):
    with pytest.raises(UnitConversionError) as info:
        si_converter(unit, "K")
    message = str(info.value)
    assert hint in message and "[temperature]" in message and repr(unit) in message


def test_incompatible_dimensions_name_both_units():
    with pytest.raises(UnitConversionError) as info:
        si_converter("bar", "K")
    message = str(info.value)
    assert "'bar'" in message and "'K'" in message and "[temperature]" in message
    assert "[mass]" in message


def test_logarithmic_unit_is_rejected():
    with pytest.raises(UnitConversionError, match="not linear"):
        si_converter("dB", "1")


@pytest.mark.parametrize(("si_unit", "fix"), [("degC", "'K'"), ("bar", "'Pa'"), ("mm/s", "'m/s'"), ("%", "'1'")])
def test_non_si_target_is_rejected_with_the_si_spelling(si_unit, fix):
    with pytest.raises(UnitConversionError) as info:
        check_si_unit(si_unit)
    assert fix in str(info.value)


def test_unit_errors_are_channel_map_errors():
    assert issubclass(UnitConversionError, ChannelMapError)


def test_public_api_is_explicit():
    assert set(sim.telemetry.__all__) == {
        "Channel", "ChannelMap", "TelemetryStream", "read_csv", "replay", "si_converter",
        # recorded and live sources, rules, alignment, real-time clock, data-quality report (issue 5)
        "read_parquet", "read_frame", "read_file", "StuckRule", "SpikeRule", "LiveSource", "LiveTelemetry",
        "MqttSource", "OpcUaSource", "live_replay", "environment", "zero_order_hold", "interpolate_linear",
        "resample", "align", "QualityReport", "quality_report", "check_file", "plot_quality",
        # authenticated live transports and payload identity (issue 13)
        "Secret", "MqttSecurity", "OpcUaSecurity", "PayloadFields",
    }
    for name in sim.telemetry.__all__:
        assert getattr(sim.telemetry, name) is not None


def test_telemetry_is_a_plain_library():
    source = "".join(path.read_text(encoding="utf-8") for path in Path(sim.telemetry.__file__).parent.glob("*.py"))
    for banned in ("hydra", "omegaconf", "mlflow"):
        assert f"import {banned}" not in source and f"from {banned}" not in source


def test_g_is_read_by_the_quantity_of_the_twin_variable():
    """An accelerometer's RMS exported in 'g' is standard gravity, not the gram; a mass channel keeps the gram."""
    assert si_converter("g", "m/s**2") == (9.80665, 0.0)
    assert si_converter("mg", "m/s**2") == pytest.approx((9.80665e-3, 0.0))
    assert si_converter("g", "kg") == pytest.approx((1e-3, 0.0))
    with pytest.raises(UnitConversionError, match=r"'g' \[\[mass\]\] cannot be converted to 'K'.*fix: choose"):
        si_converter("g", "K")
    channel_map = ChannelMap.from_dict({"channels": {"vibration": {"column": "Accelerometer1RMS", "unit": "g",
                                                                   "si_unit": "m/s**2"}}})
    assert channel_map.channels[0].scale_offset == pytest.approx((9.80665, 0.0))


def test_a_hydra_telemetry_config_reads_as_a_channel_map():
    """conf/telemetry/*.yaml carry Hydra keys (defaults, path, _target_): from_dict skips them, as the CLI does."""
    import yaml

    root = Path(__file__).resolve().parents[3]
    d = yaml.safe_load((root / "conf/telemetry/reference.yaml").read_text(encoding="utf-8"))
    assert {"defaults", "path"} <= set(d)
    d["_target_"] = "scenarios.config.telemetry_spec"
    names = [c.name for c in ChannelMap.from_dict(d).channels]
    assert names == ["motor_current", "winding_temperature", "ambient_temperature"]
    with pytest.raises(ConfigurationError, match="'pth' -> did you mean 'path'"):  # other keys are still refused
        ChannelMap.from_dict({**d, "pth": "x.csv"})
