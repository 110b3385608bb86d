"""Model Exchange: integrate an ME FMU to each communication point with fmpy's CVode, events handled.

The loop is the one of the FMI standard (and of ``fmpy.simulation.simulateME``), cut at communication points so
that a master can exchange values between steps: integrate to the next communication point or time event; at a
state event (CVode's root finder locates the zero crossing of an event indicator to its tolerance), a time event
or a step event, enter event mode, iterate the discrete states, and restart CVode from the new continuous states.
The inputs are held over the step (zero-order hold), as a Co-Simulation FMU holds them.  Event times are kept in
:attr:`FmuComponent.event_times`.
"""

from __future__ import annotations

import math

from sim.fmu.errors import FmuStepError

__all__ = ["ExchangeStepper"]


class _HeldInputs:
    """What fmpy's CVode calls as ``input.apply(t)``: the inputs are held by the component, nothing to do."""

    @staticmethod
    def apply(time, continuous=True, discrete=True, after_event=False):
        return None


class ExchangeStepper:
    """Advances one initialized ME instance (an :class:`~sim.fmu.component.FmuComponent`) in time.

    Parameters
    ----------
    component : FmuComponent
        An ME component just out of initialization mode.
    start_time : float
        Its time [s].
    """

    def __init__(self, component, start_time: float):
        self.component = component
        fmu = component._fmu
        d = component.description
        self.fmu = fmu
        self.fmi3 = component.fmi3
        self.nx = d.n_states
        self.nz = d.n_event_indicators
        md = d.model_description
        self.needs_completed = bool(getattr(md.modelExchange, "needsCompletedIntegratorStep", True))
        self.next_event = math.inf
        self._event_update(start_time, initial=True)
        fmu.enterContinuousTimeMode()
        from fmpy.sundials import CVodeSolver

        self.solver = CVodeSolver(
            nx=self.nx, nz=self.nz, get_x=fmu.getContinuousStates, set_x=fmu.setContinuousStates,
            get_dx=fmu.getContinuousStateDerivatives if self.fmi3 else fmu.getDerivatives,
            get_z=fmu.getEventIndicators, get_nominals=fmu.getNominalsOfContinuousStates, set_time=fmu.setTime,
            input=_HeldInputs(), startTime=start_time, maxStep=component.max_step,
            relativeTolerance=component.tolerance, maxNumSteps=100_000)
        self.time = start_time

    def restart(self, time: float, next_event: float | None = None) -> None:
        """Continue from the FMU's current continuous states at *time* (after ``setFMUstate``, with the time event
        the FMU had announced then)."""
        self.time = time
        if next_event is not None:
            self.next_event = next_event
        self.fmu.setTime(time)
        self.solver.reset(time)

    def advance(self, target: float) -> None:
        """Integrate to *target* [s], handling every event on the way."""
        time = self.time
        fmu = self.fmu
        while time < target and not math.isclose(time, target, rel_tol=0, abs_tol=1e-13 * max(1.0, abs(target))):
            stop = min(target, self.next_event)
            try:
                state_event, _roots, time = self.solver.step(time, stop)
            except RuntimeError as err:
                raise FmuStepError(f"{self.component.name}: CVode failed at t = {time} s ({err}); the model may be "
                                   f"stiff or singular there - check its parameters or loosen tolerance "
                                   f"(now {self.component.tolerance})", self.component.path) from err
            fmu.setTime(time)
            step_event = terminate = False
            if self.needs_completed:
                step_event, terminate = fmu.completedIntegratorStep()
            if terminate:
                raise FmuStepError(f"{self.component.name}: the FMU asked to terminate at t = {time} s",
                                   self.component.path)
            time_event = math.isclose(time, self.next_event, rel_tol=0, abs_tol=1e-13 * max(1.0, abs(time)))
            if state_event or time_event or step_event:
                self.component.event_times.append(float(time))
                fmu.enterEventMode()
                self._event_update(time)
                fmu.enterContinuousTimeMode()
                self.solver.reset(time)
        self.time = target
        fmu.setTime(target)

    def _event_update(self, time: float, initial: bool = False) -> None:
        update = self.fmu.updateDiscreteStates if self.fmi3 else self.fmu.newDiscreteStates
        needed, terminate = True, False
        defined, next_time = False, math.inf
        while needed and not terminate:
            needed, terminate, _nominals, _values, defined, next_time = update()
        if terminate:
            raise FmuStepError(f"{self.component.name}: the FMU asked to terminate at t = {time} s"
                               f"{' (initial event update)' if initial else ''}", self.component.path)
        self.next_event = float(next_time) if defined else math.inf
