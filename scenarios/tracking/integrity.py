"""The model store is a trust boundary: a registered twin is loaded from checked DATA, never from stored code.

A registered version holds, under ``twin/<record_id>/`` of its calibration run, an MLflow pyfunc folder:
``artifacts/record.json`` (the :class:`~calibration.record.CalibrationRecord`), ``artifacts/twin.json`` (model
name and version, parameters, initial states, integrator step), the two-line models-from-code file
``twin_pyfunc.py`` and ``MLmodel``.  Twinbench itself downloads the two JSON files and ``twin_pyfunc.py`` as
bytes and

* compares their sha256 with the version tag ``twinbench.artifact_sha256`` written at registration;
* requires ``twin_pyfunc.py`` to be byte-for-byte the code this package writes (:data:`MODEL_CODE`) - it is
  never imported or run, but MLflow would run it for anyone who loads the version with ``mlflow.pyfunc``;
* parses the JSON with :func:`json.loads` and checks the schema: keys, types, finite numbers, the model
  and its version in :data:`sim.physics.MODELS`, the parameter and state names of that model, the record id
  (recomputed from the content) equal to the version's tag.

Any failure is a :class:`RegistryIntegrityError` (a :class:`RegistryError`).  No code from the store runs,
whatever the store holds.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from sim.exceptions import TwinbenchError

__all__ = ["RegistryError", "RegistryIntegrityError", "MODEL_CODE", "CODE_FILE", "RECORD_FILE", "TWIN_FILE",
           "CHECKED_FILES", "file_hashes", "check_files", "check_twin_config", "check_record"]

MODEL_CODE = ("import mlflow.models\nfrom scenarios.tracking.registry import pyfunc_model\n"
              "mlflow.models.set_model(pyfunc_model())\n")
CODE_FILE, RECORD_FILE, TWIN_FILE = "twin_pyfunc.py", "artifacts/record.json", "artifacts/twin.json"
CHECKED_FILES = (RECORD_FILE, TWIN_FILE, CODE_FILE)
TWIN_KEYS = {"model", "model_version", "params", "x0", "integrator", "inputs", "time_column"}


class RegistryError(TwinbenchError):
    """The model registry cannot do what was asked (unreachable store, missing alias or version ...)."""


class RegistryIntegrityError(RegistryError):
    """A registered version failed the integrity or schema check (tampered or corrupt files); it was not run."""


def file_hashes(folder: Path) -> dict:
    """``{relative path: sha256 hex}`` of the :data:`CHECKED_FILES` of a saved pyfunc folder."""
    return {name: hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest() for name in CHECKED_FILES}


def check_files(name: str, version, files: dict, expected: str | None) -> None:
    """Raise :class:`RegistryIntegrityError` unless *files* (``{relative path: bytes}``) match the hashes of the
    version tag *expected* (JSON; absent on versions registered before the check) and the code is ours."""
    where = f"{name!r} version {version}"
    if files.get(CODE_FILE) != MODEL_CODE.encode():
        raise RegistryIntegrityError(
            f"{where}: the stored {CODE_FILE} differs from the code Twinbench writes (it was replaced in the store); "
            f"it was not run. Treat the store as compromised: check who can write to it (docs/tracking.md), "
            f"then re-register the calibration")
    if expected:
        try:
            hashes = json.loads(expected)
        except ValueError:
            raise RegistryIntegrityError(f"{where}: the tag twinbench.artifact_sha256 is not JSON") from None
        for path, data in files.items():
            if hashes.get(path) != hashlib.sha256(data).hexdigest():
                raise RegistryIntegrityError(
                    f"{where}: {path} does not match the sha256 recorded at registration (it was changed in the "
                    f"store); it was not used. Re-register the calibration")


def _number(where: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RegistryIntegrityError(f"{where}: {key} = {value!r} must be a finite number")
    return float(value)


def check_twin_config(where: str, config, spec) -> dict:
    """The ``twin.json`` dict *config*, checked against the model *spec*; raises :class:`RegistryIntegrityError`."""
    if not isinstance(config, dict) or set(config) != TWIN_KEYS:
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise RegistryIntegrityError(f"{where}: twin.json must have exactly the keys {sorted(TWIN_KEYS)}, got {got}")
    if config["model"] != spec.name or config["model_version"] != spec.version:
        raise RegistryIntegrityError(f"{where}: twin.json is of {config['model']!r} {config['model_version']!r}, "
                                     f"the record of {spec.name!r} {spec.version!r}")
    for part, names in (("params", spec.names("params")), ("x0", spec.names("states"))):
        values = config[part]
        if not isinstance(values, dict) or not set(values) <= set(names):
            raise RegistryIntegrityError(f"{where}: twin.json {part} must map names of {list(names)} to numbers, "
                                         f"got {values!r:.200}")
        for key, value in values.items():
            _number(where, f"{part}.{key}", value)
    integrator = config["integrator"]
    if not isinstance(integrator, dict) or set(integrator) != {"name", "max_step"} or integrator["name"] != "RK4":
        raise RegistryIntegrityError(f"{where}: twin.json integrator must be {{'name': 'RK4', 'max_step': s}}, "
                                     f"got {integrator!r:.200}")
    if not _number(where, "integrator.max_step", integrator["max_step"]) > 0:
        raise RegistryIntegrityError(f"{where}: integrator.max_step must be > 0 s")
    if config["inputs"] != "zoh" or config["time_column"] != "time":
        raise RegistryIntegrityError(f"{where}: twin.json inputs/time_column must be 'zoh'/'time'")
    return config


def check_record(where: str, data, record_id: str | None):
    """The :class:`~calibration.record.CalibrationRecord` of the ``record.json`` dict *data*: its fields only,
    its id recomputed from the content equal to the one it states and to the version tag *record_id*."""
    from calibration.record import CalibrationRecord

    if not isinstance(data, dict):
        raise RegistryIntegrityError(f"{where}: record.json must hold a JSON object")
    data = dict(data)
    stated = data.pop("record_id", None)
    try:
        record = CalibrationRecord(**data)
        actual = record.record_id
    except (TypeError, ValueError) as err:
        raise RegistryIntegrityError(f"{where}: record.json is not a calibration record ({err})") from None
    if actual != stated or (record_id and actual != record_id):
        raise RegistryIntegrityError(f"{where}: record.json content has id {actual}, but it states {stated} and the "
                                     f"version is tagged {record_id} (it was changed in the store)")
    return record
