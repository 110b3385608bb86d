"""TelemetryStream.window / summary / check_accounting and replay on the SimPy clock."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import simpy
import simpy.rt

from sim.exceptions import ConfigurationError, DataQualityWarning, TelemetryError
from sim.telemetry import ChannelMap, TelemetryStream, read_csv, replay

MAP = ChannelMap.from_dict({
    "channels": {
        "motor_current": {"column": "I", "unit": "mA", "si_unit": "A", "range": [0, 5000]},
        "pump_flow": {"column": "Q", "unit": "l/min", "si_unit": "m**3/s"},
    },
})
ROWS = [
    "2024-05-01T00:00:00Z,1000,60",   # 1   t = 0 s
    "2024-05-01T00:00:10Z,1100,",     # 2   t = 10, flow missing
    "garbage,1,1",                    # 3   unparseable stamp
    "2024-05-01T00:00:05Z,1,1",       # 4   non-monotonic, stamp at 5 s
    "2024-05-01T00:00:20Z,x,x",       # 5   t = 20, nothing valid
    "2024-05-01T00:00:30Z,1300,120",  # 6   t = 30
    "2024-05-01T00:00:30Z,1,1",       # 7   duplicate at 30 s
    "2024-05-01T00:01:00Z,9999,180",  # 8   t = 60, current out of range
]


@pytest.fixture
def stream(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("timestamp,I,Q\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return read_csv(path, MAP)


def identity_holds(counts):
    return bool((counts["accepted"] + counts["quarantined"] == counts["read"]).all())


def test_seconds_and_values(stream):
    assert list(stream.seconds) == [0.0, 10.0, 20.0, 30.0, 60.0]
    assert stream.frame["motor_current"].tolist()[:2] == [1.0, 1.1]
    assert stream.frame["pump_flow"].iloc[0] == pytest.approx(1e-3)


def test_window_keeps_the_identity_and_restricts_consistently(stream):
    window = stream.window(5.0, 30.0)  # [5, 30): stamps 10 and 20, late row at 5 s
    assert list(window.frame.index.strftime("%S")) == ["10", "20"]
    assert window.t0 == pd.Timestamp("2024-05-01T00:00:10Z")
    assert list(window.seconds) == [0.0, 10.0]
    assert identity_holds(window.counts)
    assert window.rows_read == 3
    assert set(window.quarantine["row"]) == {2, 4, 5}
    assert window.counts.loc["motor_current", "timestamp_non_monotonic"] == 1
    assert window.counts.loc["pump_flow", "missing"] == 1
    window.check_accounting()
    assert window.content_hash == stream.content_hash and window.source == stream.source


def test_window_covering_everything_drops_only_unparseable_stamps(stream):
    window = stream.window(0.0, 1e9)
    pd.testing.assert_frame_equal(window.frame, stream.frame)
    assert window.rows_read == stream.rows_read - 1
    assert window.counts.loc["TOTAL", "timestamp_unparseable"] == 0
    assert identity_holds(window.counts)


def test_empty_window_and_bad_bounds(stream):
    empty = stream.window(61.0, 100.0)
    assert empty.frame.empty and empty.t0 is None and empty.rows_read == 0 and identity_holds(empty.counts)
    with pytest.raises(ConfigurationError, match="start_s < end_s"):
        stream.window(10.0, 10.0)


def test_check_accounting_catches_a_lost_value(stream):
    broken = dataclasses.replace(stream, frame=stream.frame.iloc[1:])
    broken = dataclasses.replace(broken, counts=broken.counts.assign(
        accepted=broken.frame.notna().sum().reindex(broken.counts.index, fill_value=0)))
    with pytest.raises(TelemetryError, match="lost values"):
        broken.check_accounting()


def test_summary_mentions_source_and_gates(stream):
    text = stream.summary()
    assert "line.csv" in text and "timestamp_duplicate" in text and "out_of_range" in text
    assert "non_finite" not in text  # only gates that fired
    assert len(text.splitlines()) < 12


def test_stream_attributes_are_documented():
    doc = TelemetryStream.__doc__
    for field in dataclasses.fields(TelemetryStream):
        assert field.name in doc


def test_replay_delivers_samples_at_their_simulated_times(stream):
    env = simpy.Environment()
    samples = []

    def on_sample(t, values):
        samples.append((env.now, t, values))

    env.process(replay(env, stream, on_sample))
    env.run()
    assert [(now, t) for now, t, _ in samples] == [(0, 0.0), (10, 10.0), (30, 30.0), (60, 60.0)]
    assert samples[1][2] == {"motor_current": pytest.approx(1.1)}  # NaN flow skipped
    assert samples[3][2] == {"pump_flow": pytest.approx(3e-3)}  # out-of-range current skipped
    assert all(not np.isnan(v) for _, _, values in samples for v in values.values())


def test_replay_a_channel_subset_alongside_another_process(stream):
    env = simpy.Environment()
    log = []

    def ticker(env):
        while True:
            log.append(("tick", env.now))
            yield env.timeout(25)

    env.process(ticker(env))
    env.process(replay(env, stream, lambda t, v: log.append(("flow", t, v)), channels=["pump_flow"]))
    env.run(until=61)
    assert [entry for entry in log if entry[0] == "flow"] == [
        ("flow", 0.0, {"pump_flow": pytest.approx(1e-3)}),
        ("flow", 30.0, {"pump_flow": pytest.approx(2e-3)}),
        ("flow", 60.0, {"pump_flow": pytest.approx(3e-3)}),
    ]


def test_replay_refuses_a_clock_past_the_first_sample(stream):
    env = simpy.Environment(initial_time=5)
    env.process(replay(env, stream, lambda t, v: None))
    with pytest.raises(ConfigurationError, match="already past the first sample"):
        env.run()


def test_replay_unknown_channel(stream):
    env = simpy.Environment()
    env.process(replay(env, stream, lambda t, v: None, channels=["vibration"]))
    with pytest.raises(ConfigurationError, match="'vibration'"):
        env.run()


def test_replay_runs_unchanged_in_real_time(stream):
    env = simpy.rt.RealtimeEnvironment(factor=1e-4, strict=False)
    times = []
    env.process(replay(env, stream, lambda t, v: times.append(env.now)))
    env.run()
    assert times == [0, 10, 30, 60]
