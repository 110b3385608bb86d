"""The live loop on a recorded file: tracking with innovations, residual statistics, resume, late rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from scenarios.live.app import build_service
from scenarios.live.config import register_live_configs
from scenarios.live.service import AssetLayout
from scenarios.live.sources import Block
from scenarios.reference.faults import FaultScenario, generate_fault_telemetry
from sim.exceptions import ConfigurationError

CONF = str(Path(__file__).resolve().parents[3] / "conf")
HOURS = 6.0


@pytest.fixture(scope="module")
def healthy_csv(tmp_path_factory):
    """Six hours of the healthy filler drive at 10 s (2160 rows, a duplicated row and bad cells for the gates)."""
    path = tmp_path_factory.mktemp("live") / "drive.csv"
    generate_fault_telemetry(FaultScenario(effect="none", hours=HOURS, seed=3)).to_csv(path, index=False)
    return path


def live_cfg(csv, *overrides):
    register_live_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("live", overrides=[f"telemetry.path={csv}", "telemetry.channels.flow.period=10",
                                          *overrides])


def service(csv, *overrides):
    return build_service(live_cfg(csv, "checkpoint.path=null", *overrides), monitors=[])


def test_innovations_are_standard_normal_on_a_healthy_drive(healthy_csv):
    s = service(healthy_csv)
    result = s.run()
    assert result.stopped == "end of source" and result.applied == s.feed.rows == 2160
    table = s.stats.table(s.layout.assets, s.tracker.channels)
    assert [r["channel"] for r in table] == ["flow", "discharge_pressure", "motor_current", "winding_temperature",
                                               "vibration_rms"]
    for row in table:
        assert row["samples"] >= 2150
        assert abs(row["z_mean"]) < 0.15, row  # residual / expected spread: centred ...
        assert 0.85 < row["z_rms"] < 1.15, row  # ... with unit spread: the spread is the filter's own S


def test_the_filter_recovers_a_wrong_prior_of_the_thermal_resistance(healthy_csv):
    s = service(healthy_csv, "+filter.prior.thermal_resistance_housing_ambient=0.09")
    s.run()
    truth = 0.06  # the drive's spec default (FaultScenario changes only pump parameters)
    est, sd = s.tracker.estimates()["thermal_resistance_housing_ambient"][0], \
        s.tracker.std()["thermal_resistance_housing_ambient"][0]
    assert abs(est - truth) < 0.1 * truth and abs(est - truth) < 4 * sd


def test_blocks_of_any_size_give_the_same_twin(healthy_csv):
    a, b = service(healthy_csv, "block_rows=1000"), service(healthy_csv, "block_rows=7")
    a.run(), b.run()
    assert a.tracker.fingerprint() == b.tracker.fingerprint()
    assert (a.applied, a.stamp_sum) == (b.applied, b.stamp_sum)


def test_a_stopped_and_resumed_run_ends_in_the_uninterrupted_state(healthy_csv, tmp_path):
    whole = service(healthy_csv)
    whole.run()
    ckpt = tmp_path / "live.ckpt"
    first = build_service(live_cfg(healthy_csv, f"checkpoint.path={ckpt}", "checkpoint.every_rows=100"), monitors=[])
    assert not first.resume()
    assert first.run(max_rows=777).stopped == "max_rows"
    second = build_service(live_cfg(healthy_csv, f"checkpoint.path={ckpt}"), monitors=[])
    assert second.resume() and second.applied == 777 and second.position == {"row": 777}
    second.run()
    assert second.applied == whole.applied == 2160
    assert second.stamp_sum == whole.stamp_sum
    assert second.tracker.fingerprint() == whole.tracker.fingerprint()
    np.testing.assert_array_equal(second.stats.count, whole.stats.count)


def test_rows_at_or_before_the_last_applied_stamp_are_dropped_not_applied(healthy_csv):
    s = service(healthy_csv)
    s.run(max_rows=50)
    before, fp = s.applied, s.tracker.fingerprint()
    stale = Block(np.array([s.last_stamp - 10**10, s.last_stamp]), np.zeros((2, len(s.feed.channels))), {"row": 50})
    assert s.step(stale) is None
    assert s.late == 2 and s.applied == before and s.tracker.fingerprint() == fp


def test_a_layout_names_a_missing_input_channel():
    with pytest.raises(ConfigurationError, match="no channel 'M7.ambient_temperature'"):
        AssetLayout.from_channels(["M7.motor_current", "M7.winding_temperature"], outputs=["winding_temperature"],
                                  inputs=["motor_current", "ambient_temperature"], assets=["M7"])


def test_an_unknown_config_key_fails_at_composition(healthy_csv):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="bogus"):
        live_cfg(healthy_csv, "source.bogus=1")


def test_the_timeline_gives_the_living_scorer_its_tables():
    from scenarios.live.timeline import Timeline

    tl = Timeline()
    h = 3600 * 10**9
    t0 = 1_784_520_000 * 10**9
    tl.add(t0 + 3 * h, "alarm raised", "low", asset="twin", alarm="twin/statistic/1", onset=t0 + 2 * h)
    tl.add(t0 + 4 * h, "diagnosis", "strainer", asset="twin", best="strainer_fouling")
    tl.add(t0 + 1 * h, "promoted", "first champion: ...", asset="twin")
    tl.add(t0 + 6 * h, "promoted", "challenger promoted", asset="twin")
    tl.add(t0 + 7 * h, "alarm cleared", "ok", asset="twin", alarm="twin/statistic/1", onset=t0 + 2 * h)
    alarms, diagnoses, recal = tl.tables()
    assert alarms.to_dict("records") == [{"raised": pd.Timestamp(t0 + 3 * h, tz="UTC"),
                                          "cleared": pd.Timestamp(t0 + 7 * h, tz="UTC"),
                                          "estimated_onset": pd.Timestamp(t0 + 2 * h, tz="UTC"), "asset": "twin"}]
    assert diagnoses["hypothesis"].tolist() == ["strainer_fouling"]
    assert recal["time"].tolist() == [pd.Timestamp(t0 + 6 * h, tz="UTC")]  # the first champion is no recalibration
    assert tl.render().splitlines()[0].endswith("first champion: ...")  # in source-time order


def test_filter_hold_on_alarm_reaches_the_service_from_config(healthy_csv):
    assert service(healthy_csv).hold_on_alarm is False  # advisory default: the filter learns as before
    held = service(healthy_csv, "filter.hold_on_alarm=true")
    assert held.hold_on_alarm is True and held.held() is None  # no monitor, no alarm up: nothing held
