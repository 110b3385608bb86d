"""Where a sweep's motor parameters come from: the registry's champion, a record file, or the nameplate.

The tag names a child run carries for it, and the words the sweep report uses.  No Hydra here, and no import of
the sweep's steps, lineage or report (they import this).
"""

from __future__ import annotations

from pathlib import Path

from scenarios.tracking.lineage import CALIBRATION_NOTE, CALIBRATION_RECORD_ID, CALIBRATION_SOURCE, CALIBRATION_VERSION
from sim.exceptions import ConfigurationError

__all__ = ["CALIBRATION_SOURCE", "CALIBRATION_VERSION", "CALIBRATION_NOTE", "MOTOR_MODEL", "record_file",
           "champion_record", "describe_calibration"]


MOTOR_MODEL = "motor_thermal"


def record_file(value: str, cwd: str):
    """The ``CalibrationRecord`` of the JSON file *value* (relative to *cwd*)."""
    from calibration.record import CalibrationRecord

    path = Path(value) if Path(value).is_absolute() else Path(cwd) / value
    if not path.is_file():
        raise ConfigurationError(f"calibration.record = {value!r}: no such file ({path}); give "
                                 f"the path of a CalibrationRecord JSON or null")
    return CalibrationRecord.from_json(str(path))


def champion_record(tracker, name: str):
    """``(record, version)`` of the champion of *name* in *tracker*'s store, or ``(None, reason)``."""
    from scenarios.tracking.registry import RegistryError, TwinRegistry

    registry = TwinRegistry(tracker, name)
    try:
        loaded = registry.load("champion")
    except RegistryError as err:  # no such model or no champion alias (an integrity error is raised as itself)
        if type(err) is not RegistryError:
            raise
        return None, f"no champion of {name} in {tracker.uri}"
    return loaded.record, str(loaded.version.version)


def describe_calibration(tags: dict) -> str:
    """The calibration a configuration ran on, in words, from its lineage tags."""
    source = tags.get(CALIBRATION_SOURCE, "nameplate")
    if source == "champion":
        return f"champion {tags.get(CALIBRATION_VERSION)} (record {tags.get(CALIBRATION_RECORD_ID)})"
    if source == "record":
        return f"record {tags.get(CALIBRATION_RECORD_ID)} (file)"
    note = tags.get(CALIBRATION_NOTE)
    return "nameplate motor parameters" + (f" ({note})" if note else "")
