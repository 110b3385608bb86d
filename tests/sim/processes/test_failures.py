"""Failure modes: Weibull lives, and hazards driven by physics state sampled exactly by thinning."""

import math

import numpy as np
import pytest
import simpy
from scipy import stats
from threadpoolctl import threadpool_limits

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError, SimulationError
from sim.physics import MOTOR_THERMAL, Fleet
from sim.processes import (Constant, ExponentialLink, FailureMode, Machine, MachineParams, PowerLink, Weibull,
                           machine_process)
from sim.streams import RandomStreams
from tests.oracles import motor_step_response

N = 300
SHAPE, SCALE = 1.5, 3000.0
LINK = ExponentialLink("winding_temperature", reference=340.0, doubling=10.0, maximum=400.0)


def first_failures(mode, *, physics=True, current=35.0, horizon=40000.0, seed=5):
    """Operating time to the first failure of N identical machines (never repaired), each on its own motor."""
    cosim = CoSimulation()
    env = cosim.env
    motor = None
    if physics:
        fleet = Fleet(MOTOR_THERMAL, n=N, states=np.array([300.0, 299.0]), inputs={"motor_current": current})
        motor = cosim.add_physics(fleet)
    streams = RandomStreams(seed)
    machines = []
    for k in range(N):
        m = Machine(env, MachineParams(f"m{k}", cycle_time=Constant(1e9), failure_modes=(mode,)), streams=streams,
                    physics=motor, asset=k)
        env.process(machine_process(env, m))
        machines.append(m)
    cosim.run(horizon)
    assert all(m.failures == 1 for m in machines)
    return np.array([m.usage for m in machines]), machines


def test_random_weibull_lives():
    mode = FailureMode("wear", scale=SCALE, shape=SHAPE, repair_time=Constant(1e9))
    t, _ = first_failures(mode, physics=False)
    assert stats.kstest(t, stats.weibull_min(SHAPE, scale=SCALE).cdf).pvalue > 0.01


def test_temperature_driven_hazard_matches_the_integrated_hazard():
    mode = FailureMode("winding", scale=SCALE, shape=SHAPE, repair_time=Constant(1e9), link=LINK)
    t, machines = first_failures(mode)
    # exact: S(t) = exp(-int_0^t m(T_w(s)) h0(s) ds) along the winding temperature of the exact solution
    grid = np.linspace(0.0, 40000.0, 8001)
    p = MOTOR_THERMAL.spec.vector("params", None)
    with threadpool_limits(1):  # 8001 2x2 matrix exponentials: BLAS threads only contend (~4 ms each instead of 0.1)
        t_w = motor_step_response(p, [300.0, 299.0], 35.0, 298.15, grid)[:, 0]
    hazard = 2.0 ** ((t_w - 340.0) / 10.0) * (SHAPE / SCALE) * (grid / SCALE) ** (SHAPE - 1)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (hazard[1:] + hazard[:-1]) * np.diff(grid))])

    def cdf(x):
        return 1.0 - np.exp(-np.interp(x, grid, cum))

    assert stats.kstest(t, cdf).pvalue > 0.01
    # and it is not the unmodulated Weibull: the hot winding shortens lives
    assert stats.kstest(t, stats.weibull_min(SHAPE, scale=SCALE).cdf).pvalue < 1e-6
    clocks = [m.clocks[0] for m in machines]
    assert sum(c.rejected for c in clocks) > 0  # thinning did reject candidates


def test_output_above_the_declared_maximum_is_an_error():
    low = ExponentialLink("winding_temperature", reference=340.0, doubling=10.0, maximum=320.0)
    mode = FailureMode("winding", scale=SCALE, shape=SHAPE, link=low)
    with pytest.raises(SimulationError, match="raise the link's maximum"):
        first_failures(mode)


def test_power_link_and_bounds():
    link = PowerLink("vibration_rms", reference=2e-3, exponent=2.0, maximum=1e-2)
    assert link.multiplier(4e-3) == pytest.approx(4.0) and link.max_multiplier == pytest.approx(25.0)
    mode = FailureMode("bearing", scale=1000.0, shape=2.0, link=link)
    assert mode.bound == pytest.approx(25.0)
    # candidates come from the dominating hazard: H0(a') = H0(a) + E / m_max
    a = mode.next_candidate(100.0, 0.5)
    assert (a / 1000.0) ** 2 == pytest.approx((100.0 / 1000.0) ** 2 + 0.5 / 25.0)


@pytest.mark.parametrize("kwargs,match", [(dict(scale=0.0), "scale"), (dict(scale=-5.0), "scale"),
                                          (dict(scale=100.0, shape=0.0), "shape"),
                                          (dict(scale=100.0, repair_time=-1.0), "repair_time")])
def test_bad_failure_modes_are_named(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        FailureMode("x", **kwargs)


def test_a_physics_driven_mode_needs_a_physics_component():
    mode = FailureMode("winding", scale=SCALE, link=LINK)
    with pytest.raises(ConfigurationError, match="no physics component"):
        Machine(simpy.Environment(), MachineParams("m", cycle_time=1.0, failure_modes=(mode,)),
                streams=RandomStreams(0))
    assert math.isfinite(Weibull(2.0, 10.0).mean)
