"""A flow-line twin: stations, buffers, crew, spares, policies, shifts and physics on one clock.

* :mod:`~sim.line.spec` - :class:`LineSpec` and its parts (motors, ambient, spares, physics parts): plain data;
* :mod:`~sim.line.twin` - :class:`LineTwin` builds a spec on a :class:`~sim.clock.CoSimulation`, runs it, and
  takes and restores snapshots (what-if forks start from a restored twin);
* :mod:`~sim.line.kpis` - the line's KPIs from its time-weighted records;
* :mod:`~sim.line.snapshot` - :class:`TwinSnapshot`, the whole twin at one instant as plain data.
"""

from sim.line.kpis import line_kpis
from sim.line.snapshot import TwinSnapshot
from sim.line.spec import CREW_RULES, AmbientCycle, LineSpec, MotorPhysics, PhysicsPart, SpareSpec
from sim.line.twin import LineTwin

__all__ = ["CREW_RULES", "AmbientCycle", "LineSpec", "LineTwin", "MotorPhysics", "PhysicsPart", "SpareSpec",
           "TwinSnapshot", "line_kpis"]
