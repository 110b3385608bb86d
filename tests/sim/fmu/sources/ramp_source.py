"""Ramp source, FMI 2.0 Co-Simulation through pythonfmu (test FMU of tests/sim/fmu): signal = slope * time."""

from pythonfmu import Fmi2Causality, Fmi2Slave, Fmi2Variability, Real


class RampSource(Fmi2Slave):

    author = "twinbench tests"
    description = "signal = slope * t"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.signal = 0.0
        self.slope = 1.0
        self.register_variable(Real("signal", causality=Fmi2Causality.output, description="slope times time"))
        self.register_variable(Real("slope", causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable,
                                    description="slope"))

    def do_step(self, current_time, step_size):
        self.signal = self.slope * (current_time + step_size)
        return True
