"""Time-dependent forcing (issue 17): the documented pattern - a clock state - against the exact solution.

Kernels see states, parameters and inputs, not the time.  A model whose right-hand side depends on time
explicitly carries the time as a state with ``d(clock)/dt = 1`` (set to the start time [s] in the initial
states): every integrator then evaluates the forcing at its exact stage times, so the forcing is as accurate as
the integrator; fleets, state events, snapshots and calibration windows need nothing special.  The alternative,
sampling the forcing into an input and interpolating it (``inputs="linear"``), is second order in the sample
spacing whatever the integrator (shown below).  See docs/models.md, "Time-dependent forcing".
"""

import math

import numpy as np
import pytest
from numba import njit
from scipy.optimize import brentq

from sim.physics import RK4, DormandPrince, Fleet, Model, ModelSpec, StateEvent, Var

FORCED_LAG_SPEC = ModelSpec(
    name="forced_lag", version="1", doc="First-order lag driven by A sin(omega t) plus an input",
    states=(Var("response", "K", "Lagging temperature", 0.0, (-1e6, 1e6), "y"),
            Var("clock", "s", "Time, as a state: d(clock)/dt = 1", 0.0, (-1e12, 1e12), "tau")),
    inputs=(Var("sampled_forcing", "K", "Forcing given as samples (0 when the clock drives it)", 0.0,
                (-1e6, 1e6), "u"),),
    outputs=(Var("response", "K", "Lagging temperature", symbol="y"),
             Var("forcing", "K", "A sin(omega tau) + u", symbol="f")),
    params=(Var("amplitude", "K", "Amplitude of the clock-driven forcing", 10.0, (-1e6, 1e6), "A"),
            Var("angular_frequency", "rad/s", "Angular frequency of the forcing", 2 * math.pi / 600.0,
                (0.0, 1e3), "omega"),
            Var("time_constant", "s", "Time constant of the lag", 60.0, (1e-6, 1e9), "T")),
)


@njit(cache=True)
def forced_lag_rhs(x, p, u):
    forcing = p[0] * math.sin(p[1] * x[1]) + u[0]
    return ((forcing - x[0]) / p[2], 1.0)


@njit(cache=True)
def forced_lag_output(x, p, u):
    return (x[0], p[0] * math.sin(p[1] * x[1]) + u[0])


FORCED_LAG = Model(FORCED_LAG_SPEC, forced_lag_rhs, forced_lag_output)
A, W, T = 10.0, 2 * math.pi / 600.0, 60.0


def exact(t, y0=0.0, t0=0.0):
    """y(t) of T y' = A sin(w t) - y, y(t0) = y0."""
    wt = W * T
    particular = lambda s: A / (1 + wt ** 2) * (np.sin(W * s) - wt * np.cos(W * s))  # noqa: E731
    return particular(t) + (y0 - particular(t0)) * np.exp(-(np.asarray(t) - t0) / T)


@pytest.mark.parametrize("integrator, tol", [(RK4(max_step=2.0), 1e-7), (DormandPrince(rtol=1e-10, atol=1e-10),
                                                                          1e-7)])
def test_clock_state_forcing_matches_the_exact_solution(integrator, tol):
    t = np.arange(0.0, 3600.0, 30.0)
    y = FORCED_LAG.simulate([0.0, 0.0], FORCED_LAG_SPEC.vector("params"), t, np.zeros((t.size, 1)),
                            integrator=integrator)[0]
    np.testing.assert_allclose(y[:, 0], exact(t), rtol=0, atol=tol)
    np.testing.assert_allclose(y[:, 1], A * np.sin(W * t), rtol=0, atol=1e-9)  # the forcing output


def test_a_window_that_starts_later_starts_its_clock_there():
    t0 = 12345.0
    t = np.arange(0.0, 1800.0, 30.0)  # sample times relative to the window start; the clock carries t0
    y = FORCED_LAG.simulate([1.0, t0], FORCED_LAG_SPEC.vector("params"), t, np.zeros((t.size, 1)))[0]
    np.testing.assert_allclose(y[:, 0], exact(t0 + t, y0=1.0, t0=t0), rtol=0, atol=1e-7)


def test_fleet_locates_a_state_event_of_the_forced_response_and_restores_the_clock():
    level = 5.0
    fleet = Fleet(FORCED_LAG, states=np.array([0.0, 0.0]), events=(StateEvent("warm", "response", level, +1),))
    snap = fleet.snapshot()
    hit = fleet.advance(3600.0)
    root = brentq(lambda s: exact(s) - level, 1.0, 200.0, xtol=1e-10)  # the first crossing (the peak is at 201 s)
    assert hit is not None and hit.time == pytest.approx(root, abs=1e-6)
    assert fleet.states[0, 1] == pytest.approx(hit.time, abs=1e-9)  # the clock is the time
    fleet.restore(snap)
    assert fleet.advance(3600.0).time == hit.time  # a restored fleet replays the same forcing


def test_sampled_forcing_is_only_second_order_in_the_sample_spacing():
    """The same forcing as samples, linearly interpolated: error ~ spacing^2, far above the clock pattern's."""
    params = FORCED_LAG_SPEC.vector("params", {"amplitude": 0.0})
    errors = []
    for spacing in (60.0, 30.0, 15.0):
        t = np.arange(0.0, 3600.0 + spacing / 2, spacing)
        u = (A * np.sin(W * t))[:, None]
        y = FORCED_LAG.simulate([0.0, 0.0], params, t, u, inputs="linear", integrator=RK4(max_step=1.0))[0]
        errors.append(np.abs(y[:, 0] - exact(t)).max())
    order = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(order - 2.0) < 0.2), (errors, order)
    assert errors[-1] > 1e3 * 1e-7  # still far from the clock pattern's 1e-7 K at 15 s samples
