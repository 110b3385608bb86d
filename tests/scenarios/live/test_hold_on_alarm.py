"""Held parameters (issue 14): while an alarm says a fault acts, the live filter keeps following the states but does
not learn the fault into its tracked parameters (a Schmidt-Kalman consider update, calibration.JointUKF.step's
``held``; the live service holds an asset's parameters while one of its alarms is up)."""

import numpy as np
import pytest

from calibration import JointUKF
from scenarios.live.service import LiveService
from scenarios.live.tracking import FleetTracker
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL
from tests.helpers import MOTOR_TRUTH, motor_frame

R_HA = "thermal_resistance_housing_ambient"
NS = 1_000_000_000


@pytest.fixture(scope="module")
def drifting():
    """Ten hours of a motor at 10 s (truth R_ha 0.075 K/W); from hour 6 its winding sensor drifts by +1 K/h."""
    frame, x0 = motor_frame(seed=5, hours=10.0)
    t = (frame.index - frame.index[0]).total_seconds().to_numpy()
    y = frame["winding_temperature"].to_numpy() + np.clip(t - 6 * 3600.0, 0.0, None) / 3600.0
    stamps = frame.index.as_unit("ns").asi8
    U = frame[["motor_current", "ambient_temperature"]].to_numpy()[:, None, :]
    return stamps, y[:, None, None], U, int(np.searchsorted(t, 6 * 3600.0)), x0


def tracker(x0):
    ukf = JointUKF(parameters=(R_HA,), noise_std={"winding_temperature": 0.3}, state_std=0.002, max_step=10.0,
                   initial_state_std={"winding_temperature": 0.5, "housing_temperature": 2.0})
    return FleetTracker(MOTOR_THERMAL, ("winding_temperature",), filter=ukf,
                        params={**MOTOR_TRUTH, R_HA: 0.07}, x0=dict(zip(("winding_temperature",
                                                                            "housing_temperature"), x0)))


def run(data, hold):
    """Filter the six healthy hours, then the four drifting ones with the parameter held or not."""
    stamps, Y, U, cut, x0 = data
    tr = tracker(x0)
    tr.update(stamps[:cut], Y[:cut], U[:cut])
    before = (tr.estimates()[R_HA][0], tr.std()[R_HA][0])
    inn = tr.update(stamps[cut:], Y[cut:], U[cut:], held=[True] if hold else None)
    return tr, before, inn


def test_a_held_parameter_stays_at_the_truth_while_the_sensor_drifts(drifting):
    held, (v0, s0), inn = run(drifting, hold=True)
    free, (w0, _), free_inn = run(drifting, hold=False)
    assert v0 == w0 and abs(v0 - MOTOR_TRUTH[R_HA]) < 1.96 * s0  # six healthy hours: the prior 0.07 -> the truth
    # held: the estimate does not move (the unscented predict's weighted mean of sigma points with weights ~1e6
    # rounds: measured 1e-9 K/W, a thousandth of its spread), the spread grows by the random walk only, the truth
    # stays inside
    assert np.abs(inn.params[:, 0, 0] - v0).max() < 1e-3 * s0
    walk = (1e-6 * v0) ** 2 * 4 * 3600.0
    assert held.std()[R_HA][0] ** 2 == pytest.approx(s0 ** 2 + walk, rel=1e-6)
    assert abs(held.estimates()[R_HA][0] - MOTOR_TRUTH[R_HA]) < 1.96 * held.std()[R_HA][0]
    # not held: the filter explains the drifting reading by a warmer motor, i.e. a larger R_ha, far out of its interval
    assert (free.estimates()[R_HA][0] - MOTOR_TRUTH[R_HA]) > 5 * free.std()[R_HA][0]
    # the states are still tracked: the held filter's winding state follows the drifting reading to within a few
    # noise levels, and what it cannot follow stays in the residuals, where an alarm sees it (the free filter
    # hides part of the drift in R_ha)
    stamps, Y, U, cut, _ = drifting
    assert abs(held.states()[0, 0] - Y[-1, 0, 0]) < 1.5
    last_hour = slice(-360, None)
    assert np.mean(inn.normalized[last_hour]) > np.mean(free_inn.normalized[last_hour]) + 0.3


def test_held_takes_one_bool_per_asset(drifting):
    stamps, Y, U, cut, x0 = drifting
    tr = tracker(x0)
    tr.update(stamps[:10], Y[:10], U[:10], held=np.array([False]))
    with pytest.raises(ConfigurationError, match="one bool per asset"):
        tr.update(stamps[10:20], Y[10:20], U[10:20], held=[True, False])
    with pytest.raises(ConfigurationError, match="one bool per asset"):
        tr.update(stamps[10:20], Y[10:20], U[10:20], held=[0.5])


class _Alarms:
    """A monitor with an alarm up for the named assets (the protocol LiveService reads: ``active(asset)``)."""

    def __init__(self, up):
        self.up = set(up)

    def active(self, asset):
        return asset in self.up

    def on_block(self, *args):
        pass


def test_the_service_holds_the_assets_with_an_alarm_up():
    from scenarios.live.service import AssetLayout

    layout = AssetLayout(assets=("a", "b", "c"), outputs=np.zeros((3, 1), dtype=np.int64),
                         inputs=np.zeros((3, 2), dtype=np.int64))
    service = LiveService(feed=None, tracker=FleetTracker(MOTOR_THERMAL, ("winding_temperature",), n_assets=3),
                          layout=layout, monitors=[_Alarms({"b"})], hold_on_alarm=True)
    assert service.held().tolist() == [False, True, False]
    service.monitors = [_Alarms(())]
    assert service.held() is None
    service.monitors, service.hold_on_alarm = [_Alarms({"a"})], False
    assert service.held() is None
    assert LiveService(feed=None, tracker=service.tracker, layout=layout).hold_on_alarm is False  # the default
