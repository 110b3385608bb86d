"""Simulate a calibrated window: the one way a model is run over a window of telemetry.

The fit's residuals (:class:`calibration.objective.WeightedObjective`), the
shadow replay of the main job (:func:`scenarios.reference.plant.shadow_replay`)
and the registry's prediction (:meth:`scenarios.tracking.registry.CalibratedTwin.predict`)
all call :func:`simulate_window`, so the same window with the same parameters gives
the same numbers on every path (tested bit for bit).

The numerics: fixed-step RK4 with the inputs held from one sample to the next
(zero-order hold), ``ceil(dt / max_step)`` equal sub-steps per sample interval
(:meth:`sim.physics.Model.simulate`); the state at the window end comes from the
same stepping (:func:`calibration._kernels.estimator_kernels` ``final_state``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.exceptions import CalibrationError, ConfigurationError
from sim.physics.integrators import RK4

__all__ = ["WindowSimulation", "simulate_window"]


@dataclass(frozen=True)
class WindowSimulation:
    """Outputs of *m* parameter sets over one window, and their states at its end.

    Attributes
    ----------
    t : ndarray (k,)
        Sample times [s] since the window start.
    outputs : ndarray (m, k, ny)
        Every model output at every sample [SI].
    final_states : ndarray (m, nx) or None
        States at ``t[-1]`` [SI]; None when not asked for.
    output_names, state_names : tuple of str
    """

    t: np.ndarray
    outputs: np.ndarray
    final_states: np.ndarray | None
    output_names: tuple
    state_names: tuple

    def frame(self, member: int = 0, *, index=None) -> pd.DataFrame:
        """The outputs of *member* as a frame (index: *index*, else ``t`` [s])."""
        return pd.DataFrame(self.outputs[member], columns=list(self.output_names),
                            index=pd.Index(self.t, name="t") if index is None else index)

    def final_state(self, member: int = 0) -> dict[str, float]:
        """States of *member* at the window end, name → value [SI]."""
        if self.final_states is None:
            raise CalibrationError("the final state was not computed; call simulate_window(..., final_state=True)")
        return dict(zip(self.state_names, (float(v) for v in self.final_states[member])))


def simulate_window(model, params, data, *, x0=None, max_step: float | None = None,
                    final_state: bool = True) -> WindowSimulation:
    """Run *model* over the window *data* from *x0* with *params*.

    **Arguments:**

    - *model*: a :class:`sim.physics.Model`.
    - *params*: a :class:`~calibration.CalibrationRecord` (its :meth:`~calibration.CalibrationRecord.params`),
      a dict name → value [SI] (spec defaults fill the rest), or an array ``[np]`` / ``[m, np]`` of
      parameter vectors in the spec's order (``m`` members in one kernel call).
    - *data*: a :class:`~calibration.CalibrationData` window (``t`` [s], ``inputs`` [SI]), or a frame
      with a time column (``t`` or ``time``, [s]) and one column per model input [SI].
    - *x0*: states at the window start: a dict (spec defaults fill the rest; with a record, its
      ``initial_state`` fills first), or an array ``[nx]`` / ``[m, nx]``.
    - *max_step*: RK4 step [s]; default the record's, else 1 s.
    - *final_state*: also compute the states at the window end.

    A window with gaps (:attr:`~calibration.CalibrationData.segment_starts`) is run as one window
    here, the inputs held across each gap; the fit restarts every window between gaps from its own
    fitted initial state (``record.window["windows"][k]["initial_state"]``), so to reproduce such a
    fit simulate each of ``data.split()`` from that state.

    **Returns:** a :class:`WindowSimulation`.
    """
    from calibration.record import CalibrationRecord

    spec = model.spec
    record = params if isinstance(params, CalibrationRecord) else None
    if record is not None:
        if record.model != spec.name:
            raise ConfigurationError(f"record {record.record_id} is of model {record.model!r}, not {spec.name!r}; "
                                     f"simulate it with its own model (sim.physics.MODELS[record.model])")
        params = record.params()
        if max_step is None:
            max_step = record.max_step
    p = spec.vector("params", params)[None] if isinstance(params, dict) or params is None else \
        np.atleast_2d(np.asarray(params, dtype=np.float64))
    if isinstance(x0, dict) or x0 is None:
        start = {**(record.initial_state if record is not None else {}), **(x0 or {})}
        x = spec.vector("states", start)[None]
    else:
        x = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    t, u = _grid(spec, data)
    integrator = RK4(max_step=1.0 if max_step is None else float(max_step))
    if x.shape[0] != p.shape[0]:
        if x.shape[0] == 1:
            x = np.repeat(x, p.shape[0], axis=0)
        elif p.shape[0] == 1:
            p = np.repeat(p, x.shape[0], axis=0)
    y = model.simulate(x, p, t, u, integrator=integrator)
    end = None
    if final_state:
        end = np.array(x, dtype=np.float64, copy=True, order="C")
        status = np.full(4, -1, dtype=np.int64)
        from calibration._kernels import estimator_kernels

        estimator_kernels(model).final_state(end, np.ascontiguousarray(p), t, u, float(integrator.max_step), status)
        if status[0] != 0:  # pragma: no cover - simulate() above would have failed first
            raise CalibrationError(f"{spec.name}: member {int(status[1])} diverged before the window end")
    return WindowSimulation(t=t, outputs=y, final_states=end, output_names=spec.names("outputs"),
                            state_names=spec.names("states"))


def _grid(spec, data):
    """Sample times [s] and inputs ``[k, nu]`` [SI] of *data* (a window or a frame)."""
    if isinstance(data, pd.DataFrame):
        time = next((c for c in ("t", "time") if c in data.columns), None)
        missing = [c for c in spec.names("inputs") if c not in data.columns]
        if time is None or missing:
            raise ConfigurationError(f"window frame lacks {(['t'] if time is None else []) + missing}; give a time "
                                     f"column 't' or 'time' [s] and the inputs {list(spec.names('inputs'))} [SI], "
                                     f"got {list(data.columns)}")
        t = data[time].to_numpy(dtype=np.float64)
        u = data[list(spec.names("inputs"))].to_numpy(dtype=np.float64)
    else:
        if tuple(data.input_names) != tuple(spec.names("inputs")):
            raise ConfigurationError(f"window inputs {list(data.input_names)} do not match the model's "
                                     f"{list(spec.names('inputs'))}; cut the window for this model")
        t, u = data.t, data.inputs
    return np.ascontiguousarray(t, dtype=np.float64), np.ascontiguousarray(u, dtype=np.float64)
