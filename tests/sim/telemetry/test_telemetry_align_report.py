"""Alignment helpers, the real-time clock, the data-quality report and plot, the `telemetry check` command."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simpy
import simpy.rt

from sim.exceptions import ConfigurationError, DataQualityWarning
from sim.telemetry import (
    ChannelMap, align, check_file, environment, interpolate_linear, plot_quality, quality_report, read_csv,
    read_frame, replay, resample, zero_order_hold,
)
from sim.telemetry.cli import main

ROOT = Path(__file__).resolve().parents[3]
SECONDS = pd.DataFrame({"a": [0.0, 10.0, np.nan, 30.0], "b": [1.0, np.nan, 3.0, np.nan]}, index=[0.0, 10.0, 20.0, 30.0])


def test_zero_order_hold_uses_the_last_value_of_each_column():
    held = zero_order_hold(SECONDS, [-1.0, 0.0, 5.0, 25.0, 40.0])
    assert held["a"].tolist()[1:] == [0.0, 0.0, 10.0, 30.0] and np.isnan(held["a"].iloc[0])
    assert held["b"].tolist()[1:] == [1.0, 1.0, 3.0, 3.0]
    assert zero_order_hold(SECONDS, [25.0, 40.0], max_age=12)["b"].tolist()[0] == 3.0
    assert np.isnan(zero_order_hold(SECONDS, [40.0], max_age=12)["b"].iloc[0])


def test_linear_interpolation_never_extrapolates_and_respects_max_gap():
    out = interpolate_linear(SECONDS, [5.0, 20.0, 31.0])
    assert out["a"].tolist()[:2] == [5.0, 20.0] and np.isnan(out["a"].iloc[2])
    assert out["b"].iloc[0] == 1.5
    assert np.isnan(interpolate_linear(SECONDS, [25.0], max_gap=15)["a"].iloc[0])  # 10 -> 30 is 20 s apart
    assert interpolate_linear(SECONDS, [10.0], max_gap=15)["a"].iloc[0] == 10.0  # a sample itself is kept


def test_resample_on_datetimes_and_align_model_with_measurements():
    index = pd.date_range("2024-01-01", periods=7, freq="5s", tz="UTC")
    measured = pd.DataFrame({"t": [0.0, 5, 10, 15, 20, 25, 30]}, index=index)
    mean = resample(measured, 10.0)
    assert mean["t"].tolist() == [2.5, 12.5, 22.5, 30.0] and mean.index[1] == index[2]
    assert resample(measured, 10.0, how="hold")["t"].tolist() == [0.0, 10.0, 20.0, 30.0]
    model = pd.DataFrame({"t": [1.0, 8.0]}, index=index[0] + pd.to_timedelta([2.5, 7.5], unit="s"))
    pairs = align(model, measured)
    assert pairs.columns.tolist() == ["t", "t_measured", "t_residual"]
    assert pairs["t_measured"].tolist() == [2.5, 7.5] and pairs["t_residual"].tolist() == [1.5, -0.5]
    with pytest.raises(ConfigurationError, match="different kinds"):
        zero_order_hold(measured, [1.0])
    with pytest.raises(ConfigurationError, match="share no name"):
        align(model.rename(columns={"t": "x"}), measured)


def test_environment_is_fast_or_real_time_and_replay_runs_in_both(tmp_path):
    assert type(environment()) is simpy.Environment
    rt = environment(speed=1000.0)
    assert isinstance(rt, simpy.rt.RealtimeEnvironment) and rt.factor == pytest.approx(1e-3)
    with pytest.raises(ConfigurationError, match="speed"):
        environment(speed=0)
    channel_map = ChannelMap.from_dict({"channels": {"x": {"column": "X", "unit": "A", "si_unit": "A"}}})
    frame = pd.DataFrame({"X": [1.0, 2.0, 3.0]}, index=pd.date_range("2024-01-01", periods=3, freq="1s", tz="UTC"))
    stream = read_frame(frame, channel_map)
    for env in (environment(), environment(speed=100.0)):
        seen = []
        env.process(replay(env, stream, lambda t, v: seen.append((env.now, v["x"]))))
        env.run()
        assert seen == [(0, 1.0), (1, 2.0), (2, 3.0)]


@pytest.fixture
def defect_file(tmp_path):
    path = tmp_path / "line.csv"
    rows = ["2024-01-01T00:00:00Z,1,20", "2024-01-01T00:00:10Z,2,20", "2024-01-01T00:01:40Z,900,20",
            "2024-01-01T00:01:50Z,3,x", "2024-01-01T00:01:50Z,3,20", "2024-01-01T00:02:00Z,4,20"]
    path.write_text("timestamp,I,T\n" + "\n".join(rows) + "\n", encoding="utf-8")
    map_path = tmp_path / "map.yaml"
    map_path.write_text(
        "channels:\n  motor_current: {column: I, unit: A, si_unit: A, range: [0, 200], period: 10}\n"
        "  winding_temperature: {column: T, unit: degC, si_unit: K, period: 10}\n", encoding="utf-8")
    return path, map_path


def test_report_counts_gaps_timeline_and_plot(defect_file, tmp_path):
    path, map_path = defect_file
    channel_map = ChannelMap.from_yaml(map_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        stream = read_csv(path, channel_map)
    report = quality_report(stream)
    checked = check_file(path, channel_map, chunksize=2)  # streaming: same counts and gaps, no values kept
    pd.testing.assert_frame_equal(report.counts, checked.counts)
    pd.testing.assert_frame_equal(report.gaps, checked.gaps)
    assert (checked.start, checked.end) == (report.start, report.end)
    assert report.gaps["duration_s"].tolist() == [100.0, 90.0]  # current 10 -> 110 s; temperature 10 -> 100 s
    kinds = report.timeline()["kind"].tolist()
    assert kinds.count("gap") == 2 and "out_of_range" in kinds and "timestamp_duplicate" in kinds
    metrics = report.metrics()
    assert metrics["motor_current.out_of_range"] == 1.0 and metrics["motor_current.gaps"] == 1.0
    assert "gaps: motor_current 1 (longest 100 s)" in report.to_text()
    png = plot_quality(stream, tmp_path / "quality.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert check_file(path, channel_map, max_quarantine=1).quarantined_total == 4


def test_check_command_prints_counts_and_fails_cleanly(defect_file, tmp_path, capsys):
    path, map_path = defect_file
    assert main(["check", str(path), "--map", str(map_path), "--plot", str(tmp_path / "q.png"),
                 "--quarantine", str(tmp_path / "q.csv")]) == 0
    out = capsys.readouterr().out
    assert "out_of_range" in out and "motor_current" in out and (tmp_path / "q.png").exists()
    assert len(pd.read_csv(tmp_path / "q.csv")) == 4
    assert main(["check", str(tmp_path / "nowhere.csv"), "--map", str(map_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert main(["check", str(path), "--map", str(tmp_path / "nomap.yaml")]) == 2
    assert "nomap.yaml" in capsys.readouterr().err


def test_check_command_exits_1_when_too_much_is_quarantined(defect_file, tmp_path, capsys):
    """A file whose every value is quarantined is not 'checked, fine': exit 1 with a one-line verdict."""
    path, map_path = defect_file
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,I,T\n" + "\n".join(f"2024-01-01T00:00:{10 * k:02d}Z,999,x" for k in range(5)) + "\n",
                   encoding="utf-8")
    assert main(["check", str(bad), "--map", str(map_path)]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("FAIL: 10 of 10 values quarantined (100.0%, limit 50.0%)"), last
    # 4 of 12 values of the defect file are quarantined: fine at the default limit, not at 10 %
    assert main(["check", str(path), "--map", str(map_path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("OK: 4 of 12 values quarantined")
    assert main(["check", str(path), "--map", str(map_path), "--max-quarantined-fraction", "0.1"]) == 1
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["check", str(path), "--map", str(map_path), "--max-quarantined-fraction", "5"])
    assert "not a fraction in [0, 1]" in capsys.readouterr().err


def test_check_command_reads_the_reference_hydra_config_and_the_example_maps(capsys):
    assert main(["check", str(ROOT / "scenarios/reference/data/reference_telemetry.csv"),
                 "--map", str(ROOT / "conf/telemetry/reference.yaml")]) == 0
    assert "ambient_temperature" in capsys.readouterr().out
    for path in sorted((ROOT / "conf/telemetry/maps").glob("*.yaml")):
        assert len(ChannelMap.from_yaml(path).channels) >= 4, path
