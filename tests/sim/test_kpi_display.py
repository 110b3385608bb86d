"""Display units at the write boundary: metric names carry the unit and tell every KPI apart, long and wide KPI
tables convert with the catalogue's one affine map per unit (differences without the °C offset)."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from sim.exceptions import ConfigurationError
from sim.kpi import (DIFFERENCE_COLUMNS, KPIS, VALUE_COLUMNS, UnknownKPIError, display_columns, display_name,
                     display_table, kpi_info)

MLFLOW_NAME = re.compile(r"^[/\w.\- ]+$")  # mlflow.utils.validation: alphanumerics, _ - . space /
STATIONS = ("", "filler.", "capper.", "line 2/filler.", "a.b.")


def test_display_names_of_the_brief():
    assert display_name("throughput") == "throughput_units_per_h"
    assert display_name("max_winding_temperature") == "max_winding_temperature_degC"
    assert display_name("unplanned_downtime") == "unplanned_downtime_h"
    assert display_name("loss_of_life") == "loss_of_life_pct"
    assert display_name("energy_per_unit") == "energy_per_unit_Wh_per_unit"
    assert display_name("oee") == "oee" and display_name("objective") == "objective"  # no unit: the bare name
    assert display_name("filler.mtbf") == "filler.mtbf_h"


def test_display_names_are_valid_mlflow_names_and_injective_over_the_catalogue_and_stations():
    names = [f"{s}{k}" for s in STATIONS for k in KPIS]
    shown = [display_name(n) for n in names]
    assert all(MLFLOW_NAME.match(n) for n in shown), [n for n in shown if not MLFLOW_NAME.match(n)]
    assert len(set(shown)) == len(names)  # injective
    for name, out in zip(names, shown):
        info = kpi_info(name)
        unit = info.display_unit
        assert out.startswith(name)  # the station and the KPI stay readable
        if unit.label == "-":
            assert out == name
        else:  # the unit is named, built from its ASCII spelling
            assert out == f"{name}_{unit.ascii.replace('/', '_per_')}"
            # a name with a unit is never a KPI's own name: SI and display tables are told apart
            with pytest.raises(UnknownKPIError):
                kpi_info(out)


def test_a_station_name_mlflow_cannot_store_and_an_unknown_kpi_are_named():
    with pytest.raises(ConfigurationError, match=r"filler#1\.throughput_units_per_h.*rename the station"):
        display_name("filler#1.throughput")
    with pytest.raises(UnknownKPIError, match="throughputt"):
        display_name("throughputt")


def _summary() -> pd.DataFrame:
    """A what-if summary [SI]: two actions x (throughput, max winding temperature, downtime, OEE, loss of life)."""
    rows = []
    for action, shift in (("as_is", 0.0), ("faster", 1.0)):
        for kpi, mean, half in (("throughput", 4.5, 0.02), ("max_winding_temperature", 400.0, 1.5),
                                ("unplanned_downtime", 7200.0, 900.0), ("oee", 0.8, 0.01),
                                ("loss_of_life", 1e-4, 2e-5)):
            d = shift * half * 3
            rows.append({"action": action, "kpi": kpi, "n": 5, "mean": mean + d, "half_width": half,
                         "low": mean + d - half, "high": mean + d + half, "diff": d, "diff_half_width": half / 2,
                         "diff_low": d - half / 2, "diff_high": d + half / 2, "p_low": mean - 2 * half,
                         "p_high": mean + 2 * half, "sd_param": half / 3, "sd_run": half / 4})
    return pd.DataFrame(rows)


def test_long_table_converts_values_with_the_offset_and_differences_without():
    si = _summary()
    shown = display_table(si)
    assert list(shown.columns) == ["action", "kpi", "unit", *si.columns[2:]]
    assert list(shown["unit"].iloc[:5]) == ["units/h", "°C", "h", "-", "%"]
    pd.testing.assert_frame_equal(si, _summary())  # the input stays SI
    for (_, a), (_, b) in zip(si.iterrows(), shown.iterrows()):
        info = kpi_info(a["kpi"])
        u = info.display_unit
        scale, offset = float(u.scale), u.offset
        for col in VALUE_COLUMNS:
            assert b[col] == pytest.approx(a[col] * scale + offset, rel=1e-15)
        for col in DIFFERENCE_COLUMNS:
            assert b[col] == pytest.approx(a[col] * scale, rel=1e-15, abs=0.0)
        assert b["n"] == a["n"] and b["action"] == a["action"]
    hot = shown[(shown.kpi == "max_winding_temperature") & (shown.action == "faster")].iloc[0]
    assert hot["mean"] == pytest.approx(400.0 + 4.5 - 273.15)  # 131.35 °C
    assert hot["diff"] == pytest.approx(4.5) and hot["half_width"] == pytest.approx(1.5)  # kelvin-sized
    assert hot["diff_low"] == pytest.approx(4.5 - 0.75)  # not 4.5 - 0.75 - 273.15
    tput = shown[(shown.kpi == "throughput") & (shown.action == "as_is")].iloc[0]
    assert tput["mean"] == 4.5 * 3600 and tput["half_width"] == 0.02 * 3600  # one exact operation each


def test_long_table_refuses_to_convert_twice_and_names_a_missing_kpi_column():
    shown = display_table(_summary())
    with pytest.raises(ConfigurationError, match="already has a 'unit' column"):
        display_table(shown)
    with pytest.raises(ConfigurationError, match="no column 'kpi'"):
        display_table(_summary().rename(columns={"kpi": "name"}))
    assert display_table(_summary().rename(columns={"kpi": "name"}), kpi_column="name")["unit"].iloc[1] == "°C"
    with pytest.raises(UnknownKPIError, match="speed"):
        display_table(pd.DataFrame({"kpi": ["speed"], "mean": [1.0]}))


def test_station_rows_convert_like_their_kpi():
    si = pd.DataFrame({"kpi": ["filler.mtbf", "capper.throughput"], "mean": [7200.0, 5.0], "half_width": [360.0, 0.1]})
    shown = display_table(si)
    assert list(shown["unit"]) == ["h", "units/h"]
    assert list(shown["mean"]) == [2.0, 18000.0] and list(shown["half_width"]) == [0.1, 360.0]


def test_wide_table_renames_and_converts_kpi_columns_only_and_is_idempotent():
    rng = np.random.default_rng(1)
    si = pd.DataFrame({"action": ["a", "a", "b"], "replication": [0, 1, 0], "draw": [0, 1, 0],
                       "throughput": rng.uniform(4, 5, 3), "oee": rng.uniform(0.7, 0.9, 3),
                       "max_winding_temperature": rng.uniform(380, 420, 3), "filler.mttr": rng.uniform(600, 900, 3)})
    shown = display_columns(si)
    assert list(shown.columns) == ["action", "replication", "draw", "throughput_units_per_h", "oee",
                                   "max_winding_temperature_degC", "filler.mttr_h"]
    np.testing.assert_array_equal(shown["throughput_units_per_h"], si["throughput"] * 3600)
    np.testing.assert_array_equal(shown["max_winding_temperature_degC"], si["max_winding_temperature"] - 273.15)
    np.testing.assert_array_equal(shown["filler.mttr_h"], si["filler.mttr"] / 3600)
    np.testing.assert_array_equal(shown["oee"], si["oee"])
    assert list(shown["action"]) == ["a", "a", "b"]
    pd.testing.assert_frame_equal(display_columns(shown), shown)  # already in display units: unchanged
    both = si.assign(throughput_units_per_h=1.0)
    with pytest.raises(ConfigurationError, match="both 'throughput'"):
        display_columns(both)


@pytest.mark.parametrize("name", list(KPIS))
def test_every_catalogue_kpi_round_trips_through_the_wide_table(name):
    info = kpi_info(name)
    si = pd.DataFrame({name: [0.0, 1.0, 3600.0, 273.15]})
    shown = display_columns(si)[display_name(name)].to_numpy()
    u = info.display_unit
    back = (shown - u.offset) * u.scale.denominator / u.scale.numerator
    np.testing.assert_allclose(back, si[name].to_numpy(), rtol=1e-15, atol=1e-12)
    assert math.isclose(shown[2], float(info.to_display(3600.0)), rel_tol=0, abs_tol=0)
