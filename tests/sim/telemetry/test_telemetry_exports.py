"""What historians write that ISO-and-plain-number readers refuse: epoch stamps (s, ms) and grouped numbers
such as German ``1.030,5`` - read exactly, and everything that only looks like them quarantined with a reason."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.exceptions import ConfigurationError
from sim.telemetry import ChannelMap, read_csv, read_frame

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def _map(**options):
    return ChannelMap.from_dict({"time_column": "t", **options,
                                 "channels": {"x": {"unit": "kW", "si_unit": "W", "period": 10}}})


@pytest.mark.parametrize("fmt, scale", [("epoch_s", 1), ("epoch_ms", 1000)])
def test_epoch_stamps_in_a_csv_are_utc_whatever_the_zone(tmp_path, fmt, scale):
    path = tmp_path / "e.csv"
    stamps = [1704067200 * scale, 1704067210 * scale, "abc", 1704067220 * scale, "", 10**21]
    path.write_text("t,x\n" + "\n".join(f"{s},{k}" for k, s in enumerate(stamps)) + "\n", encoding="utf-8")
    stream = read_csv(path, _map(time_format=fmt, timezone="America/New_York"))
    assert stream.frame.index.tolist() == [T0, T0 + pd.Timedelta(seconds=10), T0 + pd.Timedelta(seconds=20)]
    assert stream.frame["x"].tolist() == [0.0, 1000.0, 3000.0]
    q = stream.quarantine
    assert q["time_raw"].tolist() == ["abc", "", str(10**21)]
    assert (q["gate"] == "timestamp_unparseable").all()
    assert f"since 1970-01-01T00:00:00Z (time_format '{fmt}')" in q["reason"].iloc[0]
    counts = stream.counts.loc["x"]
    assert counts["accepted"] + counts["quarantined"] == counts["read"] == 6


def test_epoch_numbers_in_a_frame_use_the_format_unit_exactly():
    frame = pd.DataFrame({"t": [1704067200123, 1704067210456], "x": [1.0, 2.0]})
    stream = read_frame(frame, _map(time_format="epoch_ms"))
    assert stream.frame.index.tolist() == [T0 + pd.Timedelta(milliseconds=123), T0 + pd.Timedelta(seconds=10.456)]
    seconds = read_frame(frame.assign(t=frame["t"] // 1000), _map())  # numbers without a format: seconds
    assert seconds.frame.index.tolist() == [T0, T0 + pd.Timedelta(seconds=10)]


def test_german_export_with_thousands_separator(tmp_path):
    path = tmp_path / "de.csv"
    cells = ["1.030,5", "999,25", "12.345.678,0", "-2.000", "1.5", "1.0300,5", "1,030.5"]
    path.write_text("t;x\n" + "\n".join(f"2024-01-01T00:{k:02d}:00Z;{c}" for k, c in enumerate(cells)) + "\n",
                    encoding="utf-8")
    stream = read_csv(path, _map(decimal=",", thousands=".", separator=";"))
    assert stream.frame["x"].dropna().tolist() == [1030500.0, 999250.0, 12345678000.0, -2000000.0]
    assert stream.quarantine["raw_value"].tolist() == ["1.5", "1.0300,5", "1,030.5"]  # not 15, 10300.5, 1.03
    assert (stream.quarantine["gate"] == "unparseable").all()


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12), st.integers(0, 99),
       st.sampled_from([(",", "."), (".", ","), (",", " "), (".", "'")]))
def test_any_grouped_number_reads_as_its_value(whole, cents, marks):
    decimal, thousands = marks
    text = f"{abs(whole):,}".replace(",", "\x00").replace("\x00", thousands)
    cell = ("-" if whole < 0 else "") + text + f"{decimal}{cents:02d}"
    from sim.telemetry.gates import value_gates

    values, codes = value_gates(pd.Series([cell]), decimal=decimal, valid_range=None, thousands=thousands)
    assert codes[0] == 0, cell
    assert values[0] == pytest.approx((abs(whole) + cents / 100) * (-1 if whole < 0 else 1), rel=1e-15), cell


@pytest.mark.parametrize("options, match", [
    ({"decimal": ",", "thousands": ","}, "differs from both"),
    ({"thousands": ";", "separator": ";"}, "not a usable thousands separator"),
    ({"thousands": "_"}, "not a usable thousands separator"),
    ({"time_format": "epoch_minutes"}, "neither a strftime format nor an epoch format"),
])
def test_bad_export_options_are_refused_with_the_fix(options, match):
    with pytest.raises(ConfigurationError, match=match):
        _map(**options)
