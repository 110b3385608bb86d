"""The reference plant: a bottling line with a monitored filler motor, as code, as configuration and as data.

* :mod:`~scenarios.reference.line` - the line (depalletizer → filler → capper → packer) built from engine parts;
* :mod:`~scenarios.reference.line_config` - the line as Hydra configuration (``conf/line/``) and its builder;
* :mod:`~scenarios.reference.plant` - the monitored motor's station, shadow replay and the ambient cycle;
* :mod:`~scenarios.reference.telemetry` - the generator of the bundled telemetry (``data/``) from a hidden truth;
* :mod:`~scenarios.reference.faults` and :mod:`~scenarios.reference.diagnosis` - the filler drive's fault
  scenarios (fouling, ambient load, sensor drift) and the hypotheses that tell them apart.
"""

from scenarios.reference.line import build_reference_line, reference_line_spec
from scenarios.reference.line_config import LineConfig, line_spec_from_config
from scenarios.reference.plant import Plant, ambient_cycle, run_plant, shadow_replay
from scenarios.reference.telemetry import REFERENCE_PATH, generate_reference_telemetry

__all__ = ["LineConfig", "Plant", "REFERENCE_PATH", "ambient_cycle", "build_reference_line",
           "generate_reference_telemetry", "line_spec_from_config", "reference_line_spec", "run_plant",
           "shadow_replay"]
