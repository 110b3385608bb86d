"""The thermal mass of ``sources/thermal_mass.py`` as a numba model (kernels must live in an importable module).

C dT/dt = P - (T - T_a) / R, the same equations and names as the FMU, so both run side by side on one clock.
"""

from numba import njit

from sim.physics import Model, ModelSpec, Var

THERMAL_MASS_SPEC = ModelSpec(
    name="thermal_mass_test", version="1", doc="C dT/dt = P - (T - T_a) / R",
    states=(Var("temperature", "K", "temperature of the mass", 293.15, (0.0, 1e4)),),
    inputs=(Var("heating_power", "W", "heating power", 0.0), Var("ambient_temperature", "K", "ambient", 293.15)),
    outputs=(Var("temperature", "K", "temperature of the mass"),),
    params=(Var("heat_capacity", "J/K", "heat capacity", 1000.0, (1.0, 1e6)),
            Var("thermal_resistance", "K/W", "thermal resistance to ambient", 0.1, (1e-4, 100.0))),
)


@njit(cache=True)
def thermal_mass_rhs(x, p, u):
    return ((u[0] - (x[0] - u[1]) / p[1]) / p[0],)


@njit(cache=True)
def thermal_mass_output(x, p, u):
    return (x[0],)


THERMAL_MASS = Model(THERMAL_MASS_SPEC, thermal_mass_rhs, thermal_mass_output)


WINDING_SPEC = ModelSpec(
    name="winding_test", version="1", doc="C dT/dt = R_cu I^2 - (T - T_a) / R",
    states=(Var("winding_temperature", "K", "winding temperature", 313.15, (0.0, 1e4)),),
    inputs=(Var("motor_current", "A", "motor current", 0.0), Var("ambient_temperature", "K", "ambient", 298.15)),
    outputs=(Var("winding_temperature", "K", "winding temperature"),),
    params=(Var("heat_capacity_winding", "J/K", "heat capacity", 20000.0, (1.0, 1e7)),
            Var("thermal_resistance", "K/W", "thermal resistance to ambient", 0.08, (1e-4, 100.0)),
            Var("copper_loss_resistance", "ohm", "copper-loss coefficient", 0.9, (0.0, 100.0))),
)


@njit(cache=True)
def winding_rhs(x, p, u):
    return ((p[2] * u[0] * u[0] - (x[0] - u[1]) / p[1]) / p[0],)


@njit(cache=True)
def winding_output(x, p, u):
    return (x[0],)


#: sources/winding.py (the FMU) as a numba model: the line runs either as its motors
WINDING = Model(WINDING_SPEC, winding_rhs, winding_output)
