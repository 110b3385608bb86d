"""The data-quality alarm: a burst of quarantined samples raises it and forbids fits on that window."""

import json

import numpy as np
import pytest

from calibration.alarms import QualityMonitor
from sim.exceptions import ConfigurationError


def burst(n=300, start=100, stop=130, channel=1):
    q = np.zeros((n, 3), dtype=bool)
    q[start:stop, channel] = True
    return np.arange(n) * 10.0, q


def test_a_burst_of_quarantined_samples_raises_it_and_fit_is_not_allowed_there():
    t, q = burst()
    mon = QualityMonitor(["current", "pressure", "flow"], window=30, max_fraction=0.2)
    events = mon.update(t, q)
    raised = [e for e in events if e.kind == "raised"]
    assert len(raised) == 1 and raised[0].source == "data_quality"
    assert raised[0].top_channels[0][0] == "pressure"
    assert raised[0].time == t[106]  # 7 of 30 samples > 20 %
    assert not mon.fit_allowed_[0, 100:131].any()
    assert mon.fit_allowed_[0, :100].all() and mon.fit_allowed_[0, -50:].all()
    cleared = [e for e in events if e.kind == "cleared"]
    assert len(cleared) == 1
    assert not mon.fit_allowed(t[50], t[120]) and mon.fit_allowed(t[0], t[99])
    assert mon.fit_allowed(cleared[0].time + 1, t[-1])


def test_scattered_single_quarantines_do_not_raise_it():
    t = np.arange(1000) * 10.0
    q = np.zeros((1000, 3), dtype=bool)
    q[::20, 0] = True  # 5 % of one channel
    mon = QualityMonitor(["a", "b", "c"], window=30, max_fraction=0.2)
    assert mon.update(t, q) == [] and mon.fit_allowed_.all()


@pytest.mark.parametrize("cut", [1, 105, 128, 200])
def test_blocks_and_restarts_do_not_change_the_events(cut):
    t, q = burst()
    whole = QualityMonitor(["a", "b", "c"], window=30).update(t, q)
    mon = QualityMonitor(["a", "b", "c"], window=30)
    first = mon.update(t[:cut], q[:cut])
    mon = QualityMonitor.from_state(json.loads(json.dumps(mon.state_dict())))
    assert first + mon.update(t[cut:], q[cut:]) == whole


def test_bad_flags_are_refused():
    mon = QualityMonitor(["a", "b"], window=10)
    with pytest.raises(ConfigurationError, match="expected"):
        mon.update(np.arange(5.0), np.zeros((5, 3), bool))
    with pytest.raises(ConfigurationError, match="max_fraction"):
        QualityMonitor(["a"], max_fraction=1.5)


def test_a_fleet_flags_only_the_asset_with_the_burst():
    t, q = burst()
    flags = np.stack([np.zeros_like(q), q])
    mon = QualityMonitor(["a", "b", "c"], assets=["P-1", "P-2"], window=30)
    events = mon.update(t, flags)
    assert {e.asset for e in events} == {"P-2"}
    assert mon.fit_allowed_[0].all() and not mon.fit_allowed_[1, 110]
    assert mon.fit_allowed(t[100], t[120], asset="P-1") and not mon.fit_allowed(t[100], t[120], asset="P-2")
