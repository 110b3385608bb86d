r"""Threshold events of fleets: the time at which each sample of a fleet crosses a failure threshold.

Prognosis in progpy's vocabulary: a *threshold* is a :class:`~sim.physics.StateEvent`
on a model output (impeller wear >= 0.5, vibration >= 7 mm/s); the *event state*
is the health left before it, 1 (healthy) down to 0 (threshold met); the *time
of event* (ToE) is when the threshold is met.  A remaining-useful-life
distribution is the distribution of the times of event of many samples (parameter
draws x process-noise streams), each run as one member of a fleet ``x[n, nx]``.

:func:`time_of_event` runs all samples in **one** compiled call, parallel over
samples (numba ``prange``).  Each sample takes fixed RK4 steps of *max_step*
from ``t = 0`` to the *horizon* (a bounded loop: every sample terminates) and
adds Gaussian process noise after each step (Euler-Maruyama)::

    x_{k+1} = RK4(x_k, h) + sigma * sqrt(h) * z_k,      z_k ~ N(0, I)

with ``sigma`` the noise intensity per state [unit/sqrt(s)].  The crossing time
inside a step is interpolated linearly in the event function
``g = y[out] - level``.  A sample whose threshold is not met by the horizon is
*censored*: its time is ``inf`` and :attr:`EventTimes.censored` says so.

Determinism: every sample draws its noise from its own counter-based stream
(SplitMix64 seeded by ``numpy.random.SeedSequence(seed)``), so the numbers do
not depend on the number of threads or on how ``prange`` splits the samples.

This module is also a kernel template (:mod:`sim.physics.kernels`): its
``_time_of_event`` kernel is bound per model; :class:`PrognosisRK4` is the
strategy whose :meth:`~sim.physics.Model.kernels` hold the bound copy.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from sim.exceptions import ConfigurationError, DivergenceError, ModelError
from sim.physics.fleet import StateEvent
from sim.physics.integrators.base import Integrator
from sim.physics.kernels import bind_kernels
from sim.physics.kernels.events import crossed
from sim.physics.kernels.placeholders import N_INPUTS, N_PARAMS, N_STATES, output
from sim.physics.kernels.rk4 import rk4_step, step_count
from sim.physics.kernels.tuples import combine1, first_nonfinite, load_row
from sim.physics.model import Model

__all__ = ["EventTimes", "PrognosisRK4", "event_state", "sample_seeds", "time_of_event",
           "CROSSED", "CENSORED", "DIVERGED", "MET_AT_START"]

#: Per-sample, per-event outcome codes of :attr:`EventTimes.status`.
CENSORED, CROSSED, MET_AT_START, DIVERGED = 0, 1, 2, 3

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO53 = 1.0 / 9007199254740992.0
_NOISE_BLOCK = 64  # steps whose normals are drawn at once (an even count: Box-Muller gives pairs)


# ------------------------------------------------------------------------------------------------ kernels
@njit(cache=True, inline="always")
def _splitmix64(state):
    """The next ``(state, output)`` of SplitMix64 (Steele, Lea & Flood 2014): a 64-bit counter-based stream."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _uniform(state):
    """A uniform number in (0, 1] from the stream *state*: ``(state, u)``."""
    state, z = _splitmix64(state)
    return state, ((z >> _S11) + np.uint64(1)) * _TWO53


@njit(cache=True)
def _standard_normal(state, out):
    """Fill *out* with standard normal numbers (Box-Muller) from the stream *state*; returns the new state."""
    k = 0
    n = out.shape[0]
    while k < n:
        state, u1 = _uniform(state)
        state, u2 = _uniform(state)
        r = math.sqrt(-2.0 * math.log(u1))
        out[k] = r * math.cos(2.0 * math.pi * u2)
        if k + 1 < n:
            out[k + 1] = r * math.sin(2.0 * math.pi * u2)
        k += 2
    return state


@njit(cache=True, parallel=True)
def _time_of_event(x0, p, u, sigma, noisy_states, seeds, ev_out, ev_level, ev_dir, horizon, max_step, toe, status,
                   x_end):
    """Times of event ``toe[n, m]`` [s] of *n* samples for *m* thresholds, one ``prange`` iteration per sample.

    ``status[i, j]``: 0 censored at the horizon (``toe = inf``), 1 crossed, 2
    met at the start (``toe = 0``), 3 the states became non-finite (``toe = nan``).
    ``x_end[i]`` is the state where sample *i* stopped (all events met, the horizon
    or the last finite state).  Noise is drawn for the states *noisy_states* only.
    """
    n = x0.shape[0]
    m = ev_out.shape[0]
    n_steps = step_count(0.0, horizon, max_step)
    n_noisy = noisy_states.shape[0]
    for i in prange(n):
        x = load_row(x0, i, N_STATES)
        pa = load_row(p, i, N_PARAMS)
        ua = load_row(u, i, N_INPUTS)
        g = np.empty(m)
        noise = np.zeros((1, N_STATES))
        draws = np.empty(_NOISE_BLOCK * n_noisy)  # normals for _NOISE_BLOCK steps at a time (Box-Muller pairs)
        used = draws.shape[0]
        state = seeds[i]
        y = output(x, pa, ua)
        left = 0
        for j in range(m):
            g[j] = y[ev_out[j]] - ev_level[j]
            toe[i, j] = math.inf
            status[i, j] = 0
            met = g[j] >= 0.0 if ev_dir[j] > 0 else (g[j] <= 0.0 if ev_dir[j] < 0 else g[j] == 0.0)
            if met:
                toe[i, j] = 0.0
                status[i, j] = 2
            else:
                left += 1
        for k in range(n_steps):
            if left == 0:
                break
            t = k * max_step  # not a running sum: no drift over millions of steps
            h = max_step if k < n_steps - 1 else horizon - t
            xt = rk4_step(x, pa, ua, ua, ua, h)
            if n_noisy > 0:
                if used == draws.shape[0]:
                    state = _standard_normal(state, draws)
                    used = 0
                for q in range(n_noisy):
                    noise[0, noisy_states[q]] = draws[used + q] * sigma[i, noisy_states[q]]
                used += n_noisy
                xt = combine1(xt, math.sqrt(h), 1.0, load_row(noise, 0, N_STATES))
            if first_nonfinite(xt) >= 0:
                for j in range(m):
                    if status[i, j] == 0:
                        toe[i, j] = math.nan
                        status[i, j] = 3
                left = 0
                break
            y = output(xt, pa, ua)
            for j in range(m):
                if status[i, j] != 0:
                    continue
                g1 = y[ev_out[j]] - ev_level[j]
                if crossed(g[j], g1, ev_dir[j]):
                    frac = g[j] / (g[j] - g1) if g[j] != g1 else 1.0
                    toe[i, j] = t + min(max(frac, 0.0), 1.0) * h
                    status[i, j] = 1
                    left -= 1
                g[j] = g1
            x = xt
        for s in range(N_STATES):
            x_end[i, s] = x[s]


# ------------------------------------------------------------------------------------------------ strategy
@dataclass(frozen=True)
class PrognosisRK4(Integrator):
    """Fixed-step RK4 with additive process noise, for times of event (see the module docstring).

    Parameters
    ----------
    max_step : float
        Step [s]; also the resolution of the sample paths (crossings are
        interpolated inside a step).
    """

    max_step: float = 1.0

    name = "prognosis_rk4"

    def __post_init__(self):
        if not (isinstance(self.max_step, numbers.Real) and math.isfinite(self.max_step) and self.max_step > 0):
            raise ConfigurationError(f"PrognosisRK4 max_step = {self.max_step!r} must be a finite positive time [s]; "
                                     f"pass e.g. PrognosisRK4(max_step=1.0)")

    def options(self) -> np.ndarray:
        return np.array([self.max_step], dtype=np.float64)

    def kernels(self, model):
        """The ``_time_of_event`` kernel of this module bound to *model* (compiled on first use, cached by numba)."""
        import sim.physics.prognostics as template

        return bind_kernels(template, model)


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class EventTimes:
    """Times of event of *n* samples for *m* thresholds, from the prediction start (``t = 0``).

    Attributes
    ----------
    times : ndarray (n, m)
        Time of event [s] after the start; ``inf`` where censored (not met by
        the horizon), ``nan`` where the sample diverged.
    status : ndarray (n, m) of int8
        :data:`CENSORED`, :data:`CROSSED`, :data:`MET_AT_START` or :data:`DIVERGED`.
    events : tuple of StateEvent
        The thresholds, in column order.
    horizon : float
        Prediction horizon [s].
    final_states : ndarray (n, nx)
        States where each sample stopped.
    """

    times: np.ndarray
    status: np.ndarray
    events: tuple
    horizon: float
    final_states: np.ndarray

    @property
    def censored(self) -> np.ndarray:
        """``[n, m]`` True where the threshold was not met by the horizon."""
        return self.status == CENSORED

    @property
    def first(self) -> np.ndarray:
        """``[n]`` time of the first event of each sample [s] (the system's end of life): min over thresholds."""
        return np.min(np.where(np.isnan(self.times), np.inf, self.times), axis=1)

    def column(self, event: str | int) -> np.ndarray:
        """Times of event [s] of one threshold, by name or position."""
        return self.times[:, self.index(event)]

    def index(self, event: str | int) -> int:
        if isinstance(event, (int, np.integer)):
            if not 0 <= event < len(self.events):
                raise ConfigurationError(f"event index {event} out of range: there are {len(self.events)} thresholds")
            return int(event)
        for j, e in enumerate(self.events):
            if e.name == event:
                return j
        raise ConfigurationError(f"no threshold named {event!r}; known: {[e.name for e in self.events]}")


def sample_seeds(seed, n: int) -> np.ndarray:
    """*n* 64-bit stream seeds for the samples, from ``numpy.random.SeedSequence(seed)``.

    Sample *i* always gets seed *i* of this list, whatever the thread count.
    """
    if not isinstance(seed, np.random.SeedSequence):
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ConfigurationError(f"seed = {seed!r} must be a whole number >= 0 or a numpy SeedSequence")
        seed = np.random.SeedSequence(int(seed))
    return seed.generate_state(int(n), dtype=np.uint64)


def event_state(value, event: StateEvent, healthy: float) -> np.ndarray:
    """progpy's event state of *value* for *event*: 1 at the *healthy* value, 0 at the threshold, clipped to [0, 1].

    Parameters
    ----------
    value : float or array
        The watched output [its unit].
    event : StateEvent
        The threshold (``level``).
    healthy : float
        Output of a new asset [its unit]; must differ from ``event.level``.
    """
    if not math.isfinite(healthy) or healthy == event.level:
        raise ConfigurationError(f"event {event.name!r}: healthy = {healthy!r} must be finite and differ from the "
                                 f"threshold {event.level}; pass the output of a new asset")
    return np.clip((event.level - np.asarray(value, dtype=float)) / (event.level - healthy), 0.0, 1.0)


def time_of_event(model: Model, states, params, events, *, horizon: float, inputs=None, max_step: float = 1.0,
                  process_noise=None, seed=0, stepper: PrognosisRK4 | None = None) -> EventTimes:
    """Times at which each of *n* samples meets each threshold, in one parallel compiled call.

    Parameters
    ----------
    model : Model
        The physics model.
    states : array (n, nx) or (nx,) or name → value mapping
        States at the prediction start; one row for all samples or one per sample.
    params : array (n, np) or (np,) or name → value mapping
        Parameters per sample (e.g. posterior draws), or one row for all.
    events : StateEvent or sequence of StateEvent
        Thresholds on outputs (one failure mode each).
    horizon : float
        How far to look [s]; samples not failed by then are censored.
    inputs : array (n, nu) or (nu,) or mapping, optional
        Future inputs, held constant (defaults of the spec where omitted).
    max_step : float
        RK4 step [s].
    process_noise : array (nx,) or (n, nx) or mapping, optional
        Noise intensity per state [unit/sqrt(s)]; None for none.
    seed : int or SeedSequence
        Seed of the per-sample noise streams (see :func:`sample_seeds`).
    stepper : PrognosisRK4, optional
        Strategy whose kernels to use (default ``PrognosisRK4(max_step)``).

    Returns
    -------
    EventTimes
    """
    spec = model.spec
    events = (events,) if isinstance(events, StateEvent) else tuple(events)
    if not events or not all(isinstance(e, StateEvent) for e in events):
        raise ConfigurationError(f"events = {events!r}: give one or more StateEvent thresholds, e.g. "
                                 f"StateEvent('impeller_worn', 'impeller_wear', 0.5, +1)")
    if not (isinstance(horizon, numbers.Real) and math.isfinite(horizon) and horizon > 0):
        raise ConfigurationError(f"horizon = {horizon!r} must be a finite time > 0 [s]")
    stepper = stepper or PrognosisRK4(max_step=max_step)
    if horizon / stepper.max_step > 1e9:
        raise ConfigurationError(f"horizon {horizon} s over max_step {stepper.max_step} s is "
                                 f"{horizon / stepper.max_step:.3g} steps per sample (over 1e9); lengthen the step")
    n = max((np.atleast_2d(a).shape[0] for a in (states, params, inputs, process_noise)
             if a is not None and not isinstance(a, dict)), default=1)
    x, p, u = model.fleet_arrays(n, states=states, params=params, inputs=inputs)
    if process_noise is None:
        sigma = np.zeros((1, spec.nx))
    elif isinstance(process_noise, dict):
        sigma = np.zeros((1, spec.nx))
        for name, value in process_noise.items():
            sigma[0, spec.index("states", name)] = float(value)
    else:
        sigma = np.ascontiguousarray(np.atleast_2d(np.asarray(process_noise, dtype=np.float64)))
        if sigma.shape[1] != spec.nx or sigma.shape[0] not in (1, n):
            raise ModelError(f"{spec.name}: process_noise must have shape ({spec.nx},) or ({n}, {spec.nx}) (order "
                             f"{spec.names('states')}), got {np.shape(process_noise)}")
    sigma = np.ascontiguousarray(np.broadcast_to(sigma, (n, spec.nx)))
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise ConfigurationError(f"{spec.name}: process_noise {sigma.tolist()} must be finite and >= 0 "
                                 f"[unit/sqrt(s)]")
    spec.check_finite("states", x)
    spec.check_bounds(p)
    spec.check_inputs(u)
    ev_out = np.array([spec.index("outputs", e.output) for e in events], dtype=np.int64)
    ev_level = np.array([e.level for e in events], dtype=np.float64)
    ev_dir = np.array([e.direction for e in events], dtype=np.int64)
    seeds = sample_seeds(seed, n)
    toe = np.empty((n, len(events)))
    status = np.empty((n, len(events)), dtype=np.int8)
    x_end = np.empty_like(x)
    kernels = model.kernels(stepper)
    noisy_states = np.flatnonzero(np.any(sigma != 0.0, axis=0)).astype(np.int64)
    # chunks of samples handed out as threads free up: samples stop at their crossing, so their costs differ
    # (and a thread of a loaded machine may lag); the chunking cannot change the numbers (one stream per sample)
    with np.errstate(over="ignore"), numba.parallel_chunksize(max(1, n // 64)):  # SplitMix64 wraps on purpose
        kernels._time_of_event(x, p, u, sigma, noisy_states, seeds, ev_out, ev_level, ev_dir, float(horizon),
                               float(stepper.max_step), toe, status, x_end)
    if np.any(status == DIVERGED):
        a, j = map(int, np.argwhere(status == DIVERGED)[0])
        raise DivergenceError(
            f"{spec.name}: sample {a} became non-finite before meeting threshold {events[j].name!r}; its parameters "
            f"{spec.as_dict('params', p[a])} make the model unstable, or max_step = {stepper.max_step} s is too "
            f"long for RK4 - shorten the step", asset=a, variable="", value=math.nan, time=math.nan,
            last_finite_value=math.nan, last_finite_time=math.nan)
    return EventTimes(times=toe, status=status, events=events, horizon=float(horizon), final_states=x_end)
