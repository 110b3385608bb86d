"""SimPy building blocks: generator functions and small state-holding classes.

* flow material (high-speed lines): :class:`FlowLine`, :class:`FlowStation`, :class:`FlowBufferParams`,
  processes in :mod:`sim.processes.flowprocs`;
* per-entity material (slow processes, queueing checks): :class:`Entity`, :class:`EntityBuffer`
  (capacity 0: a direct coupling; ``overflow="lose"``: a loss system), :func:`source`, :class:`Sink`,
  :class:`Machine`, :func:`machine_process` - a complete example in ``docs/processes.md``;
* failures, crews, shifts, spares, maintenance: :class:`FailureMode` (any life distribution, e.g.
  ``FailureMode("bearing", Weibull(shape, scale))``; physics-driven through
  :class:`ExponentialLink` / :class:`PowerLink`), :class:`Crew`, :class:`ShiftCalendar`,
  :class:`SpareParts`, maintenance policies by name in :data:`MAINTENANCE_POLICIES`;
* random durations: :class:`Exponential`, :class:`Normal`, ... drawn through a :class:`Sampler`;
* the foundation's single motor-driven station: :class:`Station`, :func:`station_process`;
* waiting for a threshold crossing rather than a met threshold: :func:`sim.processes.thresholds.wait_for_crossing`.
"""

from sim.processes.crew import PRIORITIES, Crew, Job, side_work
from sim.processes.distributions import (Constant, Distribution, Exponential, LogNormal, Normal, Sampler, Uniform,
                                         Weibull, as_distribution)
from sim.processes.entities import Entity, EntityBuffer, Sink, SystemStats, source
from sim.processes.failures import ExponentialLink, FailureClock, FailureMode, PowerLink
from sim.processes.flowline import FlowBufferParams, FlowLine
from sim.processes.flowprocs import line_calendar, start_station
from sim.processes.flowstation import STOP_REASONS, FlowStation, FlowStationParams, MotorLoad
from sim.processes.inputs import input_profile
from sim.processes.machine import Machine, MachineParams, MaintenanceOrder, machine_process
from sim.processes.maintenance import (MAINTENANCE_POLICIES, ConditionBased, MaintenancePolicy, Predictive,
                                       RulPredictive, RunToFailure, TimeBased, make_policy, start_policy)
from sim.processes.shifts import ShiftCalendar, calendar_process, crew_calendar
from sim.processes.spares import SpareParts
from sim.processes.station import STATION_STATES, Station, StationParams, motor_events, station_process
from sim.processes.thresholds import wait_for_crossing

__all__ = [
    "MAINTENANCE_POLICIES", "PRIORITIES", "STATION_STATES", "STOP_REASONS", "ConditionBased", "Constant", "Crew",
    "Distribution", "Entity", "EntityBuffer", "Exponential", "ExponentialLink", "FailureClock", "FailureMode",
    "FlowBufferParams", "FlowLine", "FlowStation", "FlowStationParams", "Job", "LogNormal", "Machine",
    "MachineParams", "MaintenanceOrder", "MaintenancePolicy", "MotorLoad", "Normal", "PowerLink", "Predictive",
    "RulPredictive", "RunToFailure", "Sampler", "ShiftCalendar", "Sink", "SpareParts", "Station", "StationParams",
    "SystemStats", "TimeBased", "Uniform", "Weibull", "as_distribution", "calendar_process", "crew_calendar",
    "input_profile", "line_calendar", "machine_process", "make_policy", "motor_events", "side_work", "source",
    "start_policy", "start_station", "station_process", "wait_for_crossing",
]
