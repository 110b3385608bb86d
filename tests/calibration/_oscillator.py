"""A lightly damped oscillator: the textbook multimodal calibration problem (its frequency)."""

import math

from numba import njit

from sim.physics import Model, ModelSpec, Var

OSCILLATOR_SPEC = ModelSpec(
    name="test_oscillator",
    version="1.0",
    doc="Mass-spring-damper, unit mass: x'' = -w^2 x - 2 zeta w x' + f.",
    states=(Var("position", "m", "Displacement", 1.0, (-1e3, 1e3)),
            Var("velocity", "m/s", "Velocity", 0.0, (-1e3, 1e3))),
    inputs=(Var("force", "N", "Force per unit mass", 0.0, (-1e3, 1e3)),),
    outputs=(Var("position", "m", "Displacement"),
             Var("root_position", "m^0.5", "sqrt(position): undefined for negative positions")),
    params=(Var("natural_frequency", "rad/s", "Undamped natural frequency", 1.0, (1e-3, 100.0)),
            Var("damping_ratio", "1", "Damping ratio", 0.05, (0.0, 10.0))),
)


@njit(cache=True)
def oscillator_rhs(x, p, u):
    return (x[1], -p[0] * p[0] * x[0] - 2.0 * p[1] * p[0] * x[1] + u[0])


@njit(cache=True)
def oscillator_output(x, p, u):
    return (x[0], math.sqrt(x[0]) if x[0] >= 0.0 else math.nan)


OSCILLATOR = Model(OSCILLATOR_SPEC, oscillator_rhs, oscillator_output)
