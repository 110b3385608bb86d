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
