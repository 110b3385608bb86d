"""Checkpoints of the living twin: the source position and every piece of state, stored atomically together.

Exactly-once *effect* on an at-least-once source (see ``../shared/notes/live-twin.md``): the position of the
last applied input is stored in the same file as the state it produced, written to a temporary file in the
same folder, flushed and fsync'ed, then renamed over the previous checkpoint (``os.replace`` is atomic on
POSIX), and the folder is fsync'ed so the rename itself survives a power loss.  A process killed at any point
leaves either the previous checkpoint or the new one, never a mix.  On restart the service loads it and skips
every input at or before the stored position: inputs applied after the checkpoint but before the kill were
applied to a state that died with the process, so they are applied again to the restored state - once.

Positions: a file replay stores its row offset in the gated stream; a live source stores, per publisher key
(MQTT topic / OPC UA node), the source stamp of the last applied sample (and the sequence id where the payload
has one).

The file is a pickle of a plain dict (numpy arrays and the tracker pickle); it holds the format version, so
a checkpoint of another format is refused with an error instead of being misread.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.exceptions import ConfigurationError, TwinbenchError

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "load_checkpoint", "save_checkpoint"]

#: Format version written into every checkpoint.
FORMAT = 1


class CheckpointError(TwinbenchError):
    """A checkpoint file that cannot be read back (corrupt, another format, another twin)."""


@dataclass
class Checkpoint:
    """Everything the live service needs to resume.

    Attributes
    ----------
    position : dict
        Source position: ``{"row": n}`` for a file, ``{"stamps": {key: last stamp [UTC ns]}}`` for a live source.
    tracker : object
        The :class:`~scenarios.live.tracking.FleetTracker` (pickled without its compiled kernels).
    applied : int
        Samples (stamps) applied to the twin so far.
    stamp_sum : int
        Sum of the applied stamps modulo 2**63 [ns]: with ``applied`` it tells a lost or twice-applied sample.
    last_stamp : int
        Stamp of the last applied sample [UTC ns] (-1: none).
    detector : dict
        Detector and alarm-logic state (``state_dict()``).
    governor : dict
        Governance state (champion, challenger, decisions; ``state_dict()``).
    board : dict
        Board counters.
    timeline : list
        Timeline events so far.
    extra : dict
        Anything else a component wants back (e.g. the drift detectors, the pending recalibration).
    """

    position: dict = field(default_factory=dict)
    tracker: Any = None
    applied: int = 0
    stamp_sum: int = 0
    last_stamp: int = -1
    detector: dict = field(default_factory=dict)
    governor: dict = field(default_factory=dict)
    board: dict = field(default_factory=dict)
    timeline: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write *checkpoint* to *path* atomically (temporary file, fsync, rename, fsync of the folder).

    Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, **checkpoint.__dict__}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint | None:
    """The checkpoint at *path*, or None when there is none yet.

    Raises
    ------
    CheckpointError
        The file is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.exists():
        return None
    if path.is_dir():
        raise ConfigurationError(f"checkpoint.path = {str(path)!r} is a folder; give a file name, e.g. "
                                 f"{str(path / 'live.ckpt')!r}")
    try:
        with path.open("rb") as handle:
            payload = pickle.load(handle)  # noqa: S301 - our own file, written by save_checkpoint
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: {err}); it is not a "
                              f"live-twin checkpoint or it was written by incompatible code; move it away to start "
                              f"from the beginning of the source") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} has format {found!r}, this code reads format {FORMAT}; "
                              f"move it away to start from the beginning of the source")
    payload.pop("format")
    known = set(Checkpoint.__dataclass_fields__)
    return Checkpoint(**{k: v for k, v in payload.items() if k in known})
