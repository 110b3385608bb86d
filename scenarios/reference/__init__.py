"""The reference plant: a bottling line with a monitored filler motor, as code, as configuration and as data.

* :mod:`~scenarios.reference.line` - the line (depalletizer → filler → capper → packer) built from engine parts;
* :mod:`~scenarios.reference.line_config` - the line as Hydra configuration (``conf/line/``) and its builder;
* :mod:`~scenarios.reference.plant` - the monitored motor's station, shadow replay and the ambient cycle;
* :mod:`~scenarios.reference.telemetry` - the generator of the bundled telemetry (``data/``) from a hidden truth;
* :mod:`~scenarios.reference.faults` and :mod:`~scenarios.reference.diagnosis` - the filler drive's fault
  scenarios (fouling, ambient load, sensor drift) and the hypotheses that tell them apart.
"""

import importlib

#: Public name -> module that defines it; imported on first use (PEP 562), so that reading the configuration
#: (scenarios.config imports scenarios.reference.line_config) does not import the plant, calibration and scipy.
_WHERE = {
    "LineConfig": "line_config", "line_spec_from_config": "line_config",
    "build_reference_line": "line", "reference_line_spec": "line",
    "Plant": "plant", "ambient_cycle": "plant", "run_plant": "plant", "shadow_replay": "plant",
    "REFERENCE_PATH": "telemetry", "generate_reference_telemetry": "telemetry",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"scenarios.reference.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'scenarios.reference' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
