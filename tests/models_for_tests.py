"""Small models with known solutions for integrator tests (kernels must live in an importable module)."""

import math

from numba import njit

from sim.physics import Model, ModelSpec, Var

STIFF_SPEC = ModelSpec(
    name="stiff_linear", version="1", doc="x1' = -x1, x2' = -k (x2 - x1): eigenvalues -1 and -k",
    states=(Var("x1", "1", "slow mode", 1.0), Var("x2", "1", "fast mode", 0.0)),
    inputs=(Var("unused", "1", "no input", 0.0),),
    outputs=(Var("x1", "1", "slow mode"), Var("x2", "1", "fast mode")),
    params=(Var("k", "1/s", "fast rate", 1e4, (1e-6, 1e9)),),
)


@njit(cache=True)
def stiff_rhs(x, p, u):
    return (-x[0], -p[0] * (x[1] - x[0]))


@njit(cache=True)
def stiff_output(x, p, u):
    return (x[0], x[1])


STIFF = Model(STIFF_SPEC, stiff_rhs, stiff_output)

BLOWUP_SPEC = ModelSpec(
    name="blowup", version="1", doc="x' = x^2: x(t) = x0 / (1 - x0 t) blows up at t = 1/x0",
    states=(Var("x", "1", "state", 1.0),),
    inputs=(Var("unused", "1", "no input", 0.0),),
    outputs=(Var("x", "1", "state"),),
    params=(Var("unused", "1", "no parameter", 0.0),),
)


@njit(cache=True)
def blowup_rhs(x, p, u):
    return (x[0] * x[0],)


@njit(cache=True)
def blowup_output(x, p, u):
    return (x[0],)


BLOWUP = Model(BLOWUP_SPEC, blowup_rhs, blowup_output)


def tank_level_exact(h0, t, *, area, valve_area, cd, opening=1.0):
    """Level of a draining tank without inflow: (sqrt(h0) - c t)^2 until empty."""
    c = opening * cd * valve_area * math.sqrt(2 * 9.80665) / (2 * area)
    root = max(math.sqrt(h0) - c * t, 0.0)
    return root * root
