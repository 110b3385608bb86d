"""FMUs from plain configuration: what a plant component entry pointing at a ``.fmu`` becomes.

The configuration layer (``scenarios/``) reads YAML and hands plain dicts here; nothing in this module knows Hydra.
A component entry::

    heater:
      fmu: models/thermal_mass.fmu     # path; relative paths resolve against base_dir
      interface: CoSimulation          # optional: CoSimulation | ModelExchange
      parameters: {heat_capacity: 1500.0}
      start_values: {temperature: 300.0}
      tolerance: 1.0e-6                # optional
      max_step: .inf                   # optional, Model Exchange

and, for calibration and sweeps, a model entry (:func:`model_from_config`) with ``fmu``, ``inputs``, ``outputs``,
``parameters``, ``states`` and ``bounds``.  A master entry (:func:`master_from_config`) holds ``components``
(name -> component entry), ``connections`` (``"a.y -> b.u"`` strings), ``step`` [s] and ``algorithm``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sim.exceptions import ConfigurationError

__all__ = ["component_from_config", "model_from_config", "master_from_config", "COMPONENT_KEYS", "MODEL_KEYS"]

COMPONENT_KEYS = ("fmu", "name", "interface", "parameters", "start_values", "tolerance", "max_step")
MODEL_KEYS = ("fmu", "interface", "inputs", "outputs", "parameters", "states", "bounds")
MASTER_KEYS = ("components", "connections", "step", "algorithm", "start_time")


def _plain(cfg, allowed, what: str) -> dict:
    if not isinstance(cfg, Mapping):
        raise ConfigurationError(f"{what} must be a mapping with the keys {list(allowed)}, got {type(cfg).__name__}")
    cfg = dict(cfg)
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ConfigurationError(f"{what}: unknown keys {unknown}; allowed: {list(allowed)}")
    if "fmu" in allowed and not cfg.get("fmu"):
        raise ConfigurationError(f"{what}: 'fmu' (the path of the .fmu file) is required")
    return cfg


def _path(path, base_dir) -> str:
    path = os.path.expanduser(os.fspath(path))
    if base_dir is not None and not os.path.isabs(path):
        path = os.path.join(os.fspath(base_dir), path)
    return path


def _dict(value) -> dict:
    return {str(k): v for k, v in dict(value or {}).items()}


def component_from_config(cfg, *, name: str = "", base_dir=None):
    """An :class:`~sim.fmu.FmuComponent` from a component entry (see the module docstring); not initialized."""
    from sim.fmu.component import FmuComponent

    cfg = _plain(cfg, COMPONENT_KEYS, "fmu component")
    kwargs = {"name": str(cfg.get("name") or name), "interface": cfg.get("interface"),
              "parameters": _dict(cfg.get("parameters")), "start_values": _dict(cfg.get("start_values")),
              "tolerance": cfg.get("tolerance")}
    if cfg.get("max_step") is not None:
        kwargs["max_step"] = float(cfg["max_step"])
    return FmuComponent(_path(cfg["fmu"], base_dir), **kwargs)


def model_from_config(cfg, *, base_dir=None):
    """An :class:`~sim.fmu.model.FmuModel` (for calibrators and sweeps) from a model entry."""
    from sim.fmu.model import FmuModel

    cfg = _plain(cfg, MODEL_KEYS, "fmu model")

    def names(key):
        value = cfg.get(key)
        return None if value is None else tuple(str(v) for v in value)

    bounds = {str(k): (float(v[0]), float(v[1])) for k, v in dict(cfg.get("bounds") or {}).items()}
    return FmuModel(_path(cfg["fmu"], base_dir), inputs=names("inputs"), outputs=names("outputs"),
                    parameters=names("parameters"), states=names("states") or (), bounds=bounds,
                    interface=cfg.get("interface"))


def master_from_config(cfg, *, base_dir=None):
    """An :class:`~sim.fmu.FmuMaster` of the components and connections of a master entry; not initialized."""
    from sim.fmu.master import FmuMaster

    cfg = _plain(cfg, MASTER_KEYS, "fmu master")
    components = cfg.get("components") or {}
    if not isinstance(components, Mapping) or not components:
        raise ConfigurationError("fmu master: 'components' must map names to component entries (at least one)")
    if "step" not in cfg:
        raise ConfigurationError("fmu master: 'step' (the macro step [s]) is required")
    comps = [component_from_config(entry, name=str(key), base_dir=base_dir) for key, entry in components.items()]
    return FmuMaster(comps, list(cfg.get("connections") or ()), step=float(cfg["step"]),
                     algorithm=str(cfg.get("algorithm", "jacobi")), start_time=float(cfg.get("start_time", 0.0)))
