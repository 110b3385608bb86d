"""Thermal mass, FMI 2.0 Co-Simulation through pythonfmu (test FMU of tests/sim/fmu).

C dT/dt = P - (T - T_a) / R.  Each doStep uses the exact solution for inputs held over the step, so the
trajectory at the communication points is exact whatever the step:
T(t + h) = T_inf + (T(t) - T_inf) exp(-h / (R C)),  T_inf = T_a + P R.
"""

import math

from pythonfmu import Fmi2Causality, Fmi2Initial, Fmi2Slave, Fmi2Variability, Real


class ThermalMass(Fmi2Slave):

    author = "twinbench tests"
    description = "lumped thermal mass heated by a power input, losing heat to the ambient"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.heating_power = 0.0
        self.ambient_temperature = 293.15
        self.temperature = 293.15
        self.heat_capacity = 1000.0
        self.thermal_resistance = 0.1
        self.register_variable(Real("heating_power", causality=Fmi2Causality.input,
                                    description="heating power"))
        self.register_variable(Real("ambient_temperature", causality=Fmi2Causality.input,
                                    description="ambient temperature"))
        self.register_variable(Real("temperature", causality=Fmi2Causality.output, initial=Fmi2Initial.exact,
                                    description="temperature of the mass"))
        self.register_variable(Real("heat_capacity", causality=Fmi2Causality.parameter,
                                    variability=Fmi2Variability.tunable, description="heat capacity"))
        self.register_variable(Real("thermal_resistance", causality=Fmi2Causality.parameter,
                                    variability=Fmi2Variability.tunable, description="thermal resistance to ambient"))

    def do_step(self, current_time, step_size):
        steady = self.ambient_temperature + self.heating_power * self.thermal_resistance
        tau = self.thermal_resistance * self.heat_capacity
        self.temperature = steady + (self.temperature - steady) * math.exp(-step_size / tau)
        return True
