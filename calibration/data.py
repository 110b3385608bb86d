"""Calibration data: a window of telemetry laid out for a model (inputs, measured outputs)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics.spec import ModelSpec

__all__ = ["CalibrationData"]


@dataclass(frozen=True)
class CalibrationData:
    """Inputs and measurements of one window, on the model's variable order.

    Attributes
    ----------
    t : ndarray (k,)
        Sample times [s] since the window start.
    inputs : ndarray (k, nu)
        Model inputs in SI, held from ``t[j]`` to ``t[j+1]`` (zero-order hold).
    outputs : ndarray (k, m)
        Measured outputs in SI; NaN where no accepted value exists.
    input_names, output_names : tuple of str
        Model variable names of the columns.
    start, end : pandas.Timestamp
        UTC time of the first and last sample.
    source_hash : str
        Content hash of the telemetry the window was cut from ("" if unknown).
    n_filled : int
        Number of input values carried forward over quarantined gaps.
    """

    t: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    source_hash: str = ""
    n_filled: int = 0

    @property
    def content_hash(self) -> str:
        """sha256 over times, inputs and outputs: identifies the exact data a fit used."""
        h = hashlib.sha256()
        for arr in (self.t, self.inputs, self.outputs):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        h.update(("|".join(self.input_names) + "/" + "|".join(self.output_names)).encode())
        return h.hexdigest()

    @property
    def n_observations(self) -> int:
        return int(np.isfinite(self.outputs).sum())

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, spec: ModelSpec, *, outputs, source_hash: str = "",
                   start=None, end=None) -> "CalibrationData":
        """Cut ``[start, end]`` out of a wide SI frame (UTC DatetimeIndex, one column per variable).

        Columns must be named after the model's inputs and the chosen outputs.
        Quarantined input values (NaN) are carried forward from the last accepted
        value; rows before every input has a value are dropped.
        """
        outputs = tuple(outputs)
        if not outputs:
            raise ConfigurationError("choose at least one measured output to calibrate against")
        for name in outputs:
            spec.index("outputs", name)
        needed = list(spec.names("inputs")) + list(outputs)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise CalibrationError(
                f"telemetry lacks the channels {missing} that model {spec.name!r} needs; map them in the "
                f"channel map (available channels: {list(frame.columns)})")
        window = frame.loc[start:end] if (start is not None or end is not None) else frame
        if window.empty:
            raise CalibrationError(f"the calibration window [{start}, {end}] holds no telemetry rows; "
                                   f"the data cover {frame.index.min()} .. {frame.index.max()}")
        inputs = window[list(spec.names("inputs"))]
        filled = inputs.ffill()
        first = filled.notna().all(axis=1)
        if not first.any():
            raise CalibrationError(f"no row of the window has a value for every input {list(spec.names('inputs'))}; "
                                   f"every value may have been quarantined - see the data-quality report")
        keep = first.cumsum() > 0
        filled = filled[keep]
        n_filled = int(inputs[keep].isna().sum().sum())
        meas = window.loc[keep, list(outputs)]
        index = filled.index
        t = (index - index[0]).total_seconds().to_numpy(dtype=np.float64)
        return cls(t=t, inputs=filled.to_numpy(dtype=np.float64), outputs=meas.to_numpy(dtype=np.float64),
                   input_names=spec.names("inputs"), output_names=outputs, start=index[0], end=index[-1],
                   source_hash=source_hash, n_filled=n_filled)
