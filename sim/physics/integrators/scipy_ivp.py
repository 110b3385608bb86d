"""A route to ``scipy.integrate.solve_ivp`` (BDF, Radau, LSODA ...) for stiff models.

The model's compiled right-hand side is called from scipy's Python loop, one
asset after the other: slower than the compiled integrators, but implicit
methods handle stiffness that would force explicit methods into tiny steps.
The kernels honour the same contract as the compiled ones (see ``base``), so a
fleet switches method by changing one argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from sim.exceptions import ConfigurationError
from sim.physics.integrators.base import Integrator

__all__ = ["SolveIVP"]

_METHODS = ("BDF", "Radau", "LSODA", "RK45", "DOP853", "RK23")


@dataclass(frozen=True)
class SolveIVP(Integrator):
    """``scipy.integrate.solve_ivp`` as an integrator strategy.

    Parameters
    ----------
    method : str
        One of ``BDF``, ``Radau``, ``LSODA``, ``RK45``, ``DOP853``, ``RK23``.
    rtol, atol : float
        Tolerances passed to scipy.
    max_step : float
        Longest step [s].
    """

    method: str = "BDF"
    rtol: float = 1e-6
    atol: float = 1e-9
    max_step: float = math.inf

    name = "solve_ivp"

    def __post_init__(self):
        if self.method not in _METHODS:
            raise ConfigurationError(f"SolveIVP method {self.method!r} unknown; choose one of {_METHODS}")
        if not (self.rtol > 0 and self.atol > 0 and self.max_step > 0):
            raise ConfigurationError("SolveIVP rtol, atol and max_step must be > 0")

    def options(self) -> np.ndarray:
        return np.array([self.rtol, self.atol, min(self.max_step, 1e300)], dtype=np.float64)

    def kernel_key(self):
        return (self.name, self.method)

    def describe(self) -> str:
        return f"SolveIVP(method={self.method!r}, rtol={self.rtol}, atol={self.atol})"

    def kernels(self, model):
        rhs, out = model.rhs, model.output
        method = self.method

        def solve(x0, p, u_of_t, t0, t1, opts, events=()):
            from scipy.integrate import solve_ivp

            def f(t, x):
                return np.asarray(rhs(tuple(x), p, u_of_t(t)), dtype=np.float64)

            sol = solve_ivp(f, (t0, t1), np.asarray(x0, dtype=np.float64), method=method, rtol=opts[0], atol=opts[1],
                            max_step=opts[2], events=list(events) or None, dense_output=False)
            return sol

        def failed(status, report, sol, a, pa, u_of_t, opts):
            # status and report of a failed solve_ivp run (see base): the first non-finite state, or the state with
            # the largest rate relative to its tolerance where the solver gave up
            finite = np.all(np.isfinite(sol.y), axis=0)
            if not finite.all():
                j = int(np.argmin(finite))
                i = int(np.argmin(np.isfinite(sol.y[:, j])))
                status[:3] = (2, a, i)
                report[:] = (sol.y[i, j], sol.t[j], sol.y[i, j - 1] if j else np.nan, sol.t[j - 1] if j else np.nan)
                return float(sol.t[j - 1] if j else sol.t[0])
            xe, te = sol.y[:, -1], float(sol.t[-1])
            rate = np.abs(np.asarray(rhs(tuple(xe), pa, u_of_t(te)), dtype=np.float64))
            i = int(np.argmax(rate / (opts[1] + opts[0] * np.abs(xe))))
            status[:3] = (4, a, i)
            report[:] = (xe[i], te, np.nan, np.nan)
            return te

        def advance(x, p, u, t0, t1, opts, ev_out, ev_level, ev_dir, ev_active, status, report):
            status[:3] = (0, -1, -1)
            if not t1 > t0:
                return t0
            best_t, best_a, best_j = t1, -1, -1
            for a in range(x.shape[0]):
                pa, ua = tuple(p[a]), tuple(u[a])
                evs = []
                for j in range(len(ev_out)):
                    if ev_active[a, j]:
                        def g(t, xx, j=j, pa=pa, ua=ua):
                            return out(tuple(xx), pa, ua)[int(ev_out[j])] - ev_level[j]
                        g.terminal, g.direction = True, float(ev_dir[j])
                        g.index = j
                        evs.append(g)
                sol = solve(x[a], pa, lambda t, ua=ua: ua, t0, t1, opts, evs)
                if sol.status == -1 or not np.all(np.isfinite(sol.y)):
                    return failed(status, report, sol, a, pa, lambda t, ua=ua: ua, opts)
                for k, g in enumerate(evs):
                    if len(sol.t_events[k]) and sol.t_events[k][0] < best_t:
                        best_t, best_a, best_j = float(sol.t_events[k][0]), a, g.index
            for a in range(x.shape[0]):
                sol = solve(x[a], tuple(p[a]), lambda t, ua=tuple(u[a]): ua, t0, best_t, opts)
                x[a] = sol.y[:, -1]
            if best_a >= 0:
                status[:3] = (1, best_a, best_j)
            return best_t

        def simulate(x0, p, t, u, linear, opts, y, status, report):
            status[:3] = (0, -1, -1)
            for a in range(x0.shape[0]):
                x = np.array(x0[a])
                pa = tuple(p[a])
                y[a, 0] = out(tuple(x), pa, tuple(u[0]))
                for j in range(t.size - 1):
                    uj, uj1 = u[j], u[j + 1]
                    if linear:
                        span = t[j + 1] - t[j]

                        def u_of_t(tt, uj=uj, uj1=uj1, tj=t[j], span=span):
                            return tuple(uj + (tt - tj) / span * (uj1 - uj))
                    else:
                        def u_of_t(tt, uj=tuple(uj)):
                            return uj
                    sol = solve(x, pa, u_of_t, t[j], t[j + 1], opts)
                    if sol.status == -1 or not np.all(np.isfinite(sol.y)):
                        failed(status, report, sol, a, pa, u_of_t, opts)
                        return j + 1
                    x = sol.y[:, -1]
                    y[a, j + 1] = out(tuple(x), pa, tuple(uj1))
            return t.size

        return SimpleNamespace(advance=advance, simulate=simulate)
