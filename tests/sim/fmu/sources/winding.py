"""A first-order motor winding as a pythonfmu co-simulation FMU (exact exponential step), for the line test:
C dT/dt = R_cu I^2 - (T - T_a) / R; the same equations as tests/sim/fmu/thermal_numba.py WINDING."""

import math
from pythonfmu import Fmi2Causality, Fmi2Initial, Fmi2Slave, Fmi2Variability, Real


class Winding(Fmi2Slave):
    description = "first-order winding: C dT/dt = Rcu I^2 - (T - Ta) / R"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.motor_current = 0.0
        self.ambient_temperature = 298.15
        self.winding_temperature = 313.15
        self.heat_capacity_winding = 20000.0
        self.thermal_resistance = 0.08
        self.copper_loss_resistance = 0.9
        self.register_variable(Real("motor_current", causality=Fmi2Causality.input))
        self.register_variable(Real("ambient_temperature", causality=Fmi2Causality.input))
        self.register_variable(Real("winding_temperature", causality=Fmi2Causality.output, initial=Fmi2Initial.exact))
        for n in ("heat_capacity_winding", "thermal_resistance", "copper_loss_resistance"):
            self.register_variable(Real(n, causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable))

    def do_step(self, t, h):
        steady = self.ambient_temperature + self.copper_loss_resistance * self.motor_current ** 2 * self.thermal_resistance
        tau = self.thermal_resistance * self.heat_capacity_winding
        self.winding_temperature = steady + (self.winding_temperature - steady) * math.exp(-h / tau)
        return True
