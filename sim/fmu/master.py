"""The co-simulation master for FMUs: fixed macro step, Jacobi or Gauss-Seidel, loops reported, on a SimPy clock.

Values move between FMUs only at communication points.  **Jacobi** (the default) reads every output at ``t``,
sets every input, then steps every FMU from ``t`` to ``t + h``: the FMUs are independent within a step (they could
run in separate processes), and a connection through a direct-feedthrough output shows the documented one-step
delay (``y(t + h) = u(t)`` for ``y = u``).  **Gauss-Seidel** steps the FMUs in the order of the connection graph
and hands each the outputs its sources have just computed at ``t + h``: no delay along the order.  A cycle of the
connection graph that is not an algebraic loop is cut at a connection from an output without feedthrough (that
connection is delayed; listed in :attr:`FmuMaster.delayed`).

An **algebraic loop** - a cycle of connections and direct-feedthrough dependencies (declared in each FMU's
``ModelStructure``; an output without declared dependencies depends on every input, as the standard says) - has no
explicit solution with either scheme; it is reported (:class:`AlgebraicLoopError`, naming the cycle) when the
master is built, instead of being silently mis-solved with a delay.

The macro step must be an integer multiple of each FMI 3 FMU's ``fixedInternalStepSize``.

On a SimPy clock (:meth:`FmuMaster.attach`) the macro step from ``t`` runs at the end of the instant ``t`` (after
every process active at ``t`` has set its inputs, as :mod:`sim.clock` advances physics), so a process that reads
an output at a communication point sees the value there.  :meth:`FmuMaster.wait_for` returns a SimPy event that
fires when an output crosses a level: the crossing is located inside the macro step by re-stepping from a
snapshot (Illinois' regula falsi, to ``time_tolerance``) when every FMU can save its state and take variable
steps, else by linear interpolation between the communication points.
"""

from __future__ import annotations

import graphlib
import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.exceptions import ConfigurationError
from sim.fmu.errors import AlgebraicLoopError, FmuVariableError, MacroStepError

__all__ = ["Connection", "FmuMaster", "MasterResult", "ALGORITHMS"]

ALGORITHMS = ("jacobi", "gauss-seidel")
END_OF_INSTANT = 2  # as sim.clock.END_OF_INSTANT: after URGENT (0) and NORMAL (1) events of the same time


@dataclass(frozen=True)
class Connection:
    """``source`` output feeds ``target`` input, both written ``component.variable``."""

    source: str
    target: str

    @classmethod
    def parse(cls, given) -> "Connection":
        """From a Connection, a ``(source, target)`` pair, a mapping or ``"a.y -> b.u"``."""
        if isinstance(given, Connection):
            return given
        if isinstance(given, str) and "->" in given:
            source, target = (part.strip() for part in given.split("->", 1))
            return cls(source, target)
        if isinstance(given, dict):
            return cls(str(given["source"]), str(given["target"]))
        try:
            source, target = given
        except (TypeError, ValueError):
            raise ConfigurationError(f"connection {given!r}: write it as 'a.y -> b.u', (source, target) or "
                                     f"{{source: a.y, target: b.u}}") from None
        return cls(str(source), str(target))


@dataclass
class MasterResult:
    """Recorded values at the communication points.

    Attributes
    ----------
    t : ndarray (k,)
        Times [s].
    values : dict
        ``component.variable`` -> ndarray (k,) [the variable's unit].
    """

    t: np.ndarray
    values: dict = field(default_factory=dict)

    def frame(self):
        """The values as a pandas frame indexed by ``t`` [s]."""
        import pandas as pd

        return pd.DataFrame(self.values, index=pd.Index(self.t, name="t"))


class _EndOfInstant(simpy.Event):
    """A wake-up *delay* seconds ahead at end-of-instant priority (built as SimPy builds its own Timeout)."""

    def __init__(self, env, delay: float):
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, END_OF_INSTANT, delay)


class _Watch:
    __slots__ = ("comp", "out", "level", "direction", "event", "name")

    def __init__(self, comp, out, level, direction, event, name):
        self.comp, self.out, self.level, self.direction = comp, out, level, direction
        self.event, self.name = event, name

    def crossed(self, before: float, after: float) -> bool:
        g0, g1 = before - self.level, after - self.level
        if self.direction > 0:
            return g0 < 0 <= g1
        if self.direction < 0:
            return g0 > 0 >= g1
        return (g0 < 0 <= g1) or (g0 > 0 >= g1)


class FmuMaster:
    """Steps connected :class:`~sim.fmu.component.FmuComponent` objects on one macro step.

    Parameters
    ----------
    components : sequence of FmuComponent
        Unique names.
    connections : sequence
        :class:`Connection` objects or anything :meth:`Connection.parse` reads.
    step : float
        Macro (communication) step [s].
    algorithm : {"jacobi", "gauss-seidel"}
    start_time : float
        [s]
    time_tolerance : float
        Width [s] to which :meth:`wait_for` locates a crossing (when re-stepping is possible).
    """

    def __init__(self, components, connections=(), *, step: float, algorithm: str = "jacobi",
                 start_time: float = 0.0, time_tolerance: float = 1e-9):
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(f"algorithm = {algorithm!r}: choose one of {list(ALGORITHMS)}")
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise MacroStepError(f"step = {step!r} must be a finite positive time [s]; use e.g. 0.01")
        self.components = list(components)
        names = [c.name for c in self.components]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"component names must be unique, got {names}; pass name= to FmuComponent")
        self._index = {c.name: k for k, c in enumerate(self.components)}
        self.step_size = float(step)
        self.algorithm = algorithm
        self.start_time = float(start_time)
        self.time = float(start_time)
        self.time_tolerance = float(time_tolerance)
        self.connections = tuple(Connection.parse(c) for c in connections)
        for comp in self.components:
            _check_macro_step(comp, self.step_size)
        self._links: list = []
        for conn in self.connections:
            self._links.append(self._resolve(conn))
        self._check_algebraic_loops()
        self.delayed: tuple = ()
        self.order = self._gauss_seidel_order() if algorithm == "gauss-seidel" else tuple(range(len(names)))
        self._inbound = {k: [ln for ln in self._links if ln[2] == k] for k in range(len(self.components))}
        self._y = [np.zeros(len(c.output_names)) for c in self.components]
        self._watches: list[_Watch] = []
        self.env = None

    # --------------------------------------------------------------- building
    def component(self, name: str):
        """The component called *name*."""
        try:
            return self.components[self._index[name]]
        except KeyError:
            raise ConfigurationError(f"no FMU component named {name!r}; components: {list(self._index)}") from None

    def _split(self, qualified: str):
        comp_name, dot, var = qualified.partition(".")
        if not dot:
            raise ConfigurationError(f"{qualified!r}: write a variable as component.variable")
        return self._index.get(comp_name, None), comp_name, var

    def _resolve(self, conn: Connection):
        k_src, src_name, out = self._split(conn.source)
        k_dst, dst_name, inp = self._split(conn.target)
        for k, name in ((k_src, src_name), (k_dst, dst_name)):
            if k is None:
                raise ConfigurationError(f"connection {conn.source} -> {conn.target}: no component {name!r}; "
                                         f"components: {list(self._index)}")
        src, dst = self.components[k_src], self.components[k_dst]
        if out not in src.output_names:
            kind = src.description.variable(out).kind
            raise FmuVariableError(f"connection {conn.source} -> {conn.target}: {out!r} is a {kind} of {src.name}, "
                                   f"not a real output; outputs: {list(src.output_names)}", src.path)
        if inp not in dst.input_names:
            kind = dst.description.variable(inp).kind
            raise FmuVariableError(f"connection {conn.source} -> {conn.target}: {inp!r} is a {kind} of {dst.name}, "
                                   f"not a real input; inputs: {list(dst.input_names)}", dst.path)
        i_in = dst.input_names.index(inp)
        taken = [c for c, ln in zip(self.connections, self._links) if ln[2:] == (k_dst, i_in)]
        if taken:
            raise ConfigurationError(f"input {conn.target} is fed twice ({taken[0].source} and {conn.source}); an "
                                     f"input takes one source")
        return (k_src, src.output_names.index(out), k_dst, i_in)

    def _check_algebraic_loops(self) -> None:
        graph: dict[str, set] = {}
        for conn in self.connections:
            graph.setdefault(conn.target, set()).add(conn.source)
        for comp in self.components:
            for out, ins in comp.description.feedthrough.items():
                graph.setdefault(f"{comp.name}.{out}", set()).update(f"{comp.name}.{i}" for i in ins)
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as err:
            cycle = tuple(err.args[1])
            raise AlgebraicLoopError(
                f"algebraic loop through direct feedthrough: {' -> '.join(cycle)}. Neither Jacobi nor "
                f"Gauss-Seidel solves it (each would add a delay); break it with an FMU that has no feedthrough on "
                f"that path (a filter or a state), or export the coupled models as one FMU", "", cycle) from None

    def _gauss_seidel_order(self) -> tuple:
        edges = {}
        for (k_src, _o, k_dst, i_in), conn in zip(self._links, self.connections):
            if k_src != k_dst:
                edges.setdefault((k_src, k_dst), []).append((i_in, conn))
        delayed = []
        while True:
            graph = {k: set() for k in range(len(self.components))}
            for (k_src, k_dst) in edges:
                graph[k_dst].add(k_src)
            try:
                order = tuple(graphlib.TopologicalSorter(graph).static_order())
                break
            except graphlib.CycleError as err:
                cycle = list(err.args[1])
                pairs = [(cycle[j + 1], cycle[j]) for j in range(len(cycle) - 1)]  # (source, target) on the cycle
                pairs = [p for p in pairs if p in edges] or [p for p in edges if p[0] in cycle and p[1] in cycle]
                cut = next((p for p in pairs if not self._feeds_through(p)), pairs[0])
                delayed.extend(conn for _i, conn in edges.pop(cut))
        self.delayed = tuple(delayed)
        return order

    def _feeds_through(self, pair) -> bool:
        """Whether an output the source sends along *pair* depends directly on the source's inputs.

        A cycle is cut preferably at an output without feedthrough (a state-like output): its value at ``t`` is
        what the standard's own ordering would use, so the delay there costs least.
        """
        comp = self.components[pair[0]]
        used = {comp.output_names[ln[1]] for ln in self._links if (ln[0], ln[2]) == pair}
        return any(comp.description.feedthrough.get(name) for name in used)

    # ---------------------------------------------------------------- running
    def initialize(self, parameters=None, *, start_time: float | None = None) -> "FmuMaster":
        """Initialize (or reset and re-initialize) every component; *parameters*: component -> {name: value}.

        Connected inputs get their sources' initial outputs before the first step, component by component in
        the Gauss-Seidel order (index order for Jacobi), so initial feedthrough outputs are consistent along it.
        """
        parameters = dict(parameters or {})
        unknown = set(parameters) - set(self._index)
        if unknown:
            raise ConfigurationError(f"parameters for unknown components {sorted(unknown)}; components: "
                                     f"{list(self._index)}")
        self.time = self.start_time if start_time is None else float(start_time)
        for k, comp in enumerate(self.components):
            comp.initialize(self.time, parameters=parameters.get(comp.name))
            self._y[k][:] = comp.outputs()
        for k in self._order_all():
            self._feed(k)
            self._y[k][:] = self.components[k].outputs()
        return self

    def _order_all(self):
        return self.order if self.algorithm == "gauss-seidel" else range(len(self.components))

    def _feed(self, k: int) -> None:
        links = self._inbound[k]
        if links:
            comp = self.components[k]
            u = comp._in
            for k_src, o, _k, i in links:
                u[i] = self._y[k_src][o]
            comp.set_inputs(u)

    def step(self, size: float | None = None) -> None:
        """One macro step of *size* [s] (default the master's step) from :attr:`time`."""
        h = self.step_size if size is None else size
        t = self.time
        comps, y = self.components, self._y
        if self.algorithm == "jacobi":
            for k in range(len(comps)):
                self._feed(k)
            for comp in comps:
                comp.step(t, h)
            for k, comp in enumerate(comps):
                y[k][:] = comp.outputs()
        else:
            for k in self.order:
                self._feed(k)
                comps[k].step(t, h)
                y[k][:] = comps[k].outputs()
        self.time = t + h

    def run(self, until: float, *, record=()) -> MasterResult:
        """Step to *until* [s] (the last step shortened to land on it); record ``component.output`` names."""
        picks = [self._output_index(name) for name in record]
        n = max(0, math.ceil((until - self.time) / self.step_size - 1e-9))
        last = (until - self.time) - (n - 1) * self.step_size
        if n and not math.isclose(last, self.step_size, rel_tol=1e-9):
            for comp in self.components:  # the shortened last step must suit fixed internal steps too
                _check_macro_step(comp, last)
        t = np.empty(n + 1)
        out = np.empty((n + 1, len(picks)))
        t[0] = self.time
        for j, (k, o) in enumerate(picks):
            out[0, j] = self._y[k][o]
        start = self.time
        for s in range(1, n + 1):
            target = min(start + s * self.step_size, until)
            self.step(target - self.time)
            self.time = target
            t[s] = target
            for j, (k, o) in enumerate(picks):
                out[s, j] = self._y[k][o]
        return MasterResult(t=t, values={name: out[:, j].copy() for j, name in enumerate(record)})

    def _output_index(self, qualified: str):
        k, comp_name, var = self._split(qualified)
        if k is None or var not in self.components[k].output_names:
            raise ConfigurationError(f"{qualified!r} is not a real output of a component; components: "
                                     f"{ {c.name: list(c.output_names) for c in self.components} }")
        return k, self.components[k].output_names.index(var)

    def output(self, qualified: str) -> float:
        """The value of output ``component.output`` at the last communication point."""
        k, o = self._output_index(qualified)
        return float(self._y[k][o])

    def set_input(self, qualified: str, value: float) -> None:
        """Set an unconnected input ``component.input``; held from the next macro step on."""
        k, _name, var = self._split(qualified)
        if any(ln[2] == k and self.components[k].input_names[ln[3]] == var for ln in self._links):
            raise ConfigurationError(f"{qualified} is fed by a connection; set only unconnected inputs")
        self.component(_name).set_input(var, value)

    def snapshot(self) -> tuple:
        """Every component's :class:`~sim.fmu.component.FmuSnapshot` and the master's time."""
        return self.time, tuple(c.snapshot() for c in self.components), tuple(y.copy() for y in self._y)

    def restore(self, snapshot) -> None:
        """Return every component to *snapshot* (from :meth:`snapshot`)."""
        time, snaps, ys = snapshot
        for comp, snap, y_old, y in zip(self.components, snaps, ys, self._y):
            comp.restore(snap)
            y[:] = y_old
        self.time = time

    def release(self, snapshot) -> None:
        """Free the FMU states a :meth:`snapshot` holds."""
        for comp, snap in zip(self.components, snapshot[1]):
            comp.release(snap)

    def lineage(self) -> dict:
        """Run parameters identifying every FMU (``<component>.fmu.sha256`` ...) and the master's settings."""
        out = {"fmu_master.algorithm": self.algorithm, "fmu_master.step": self.step_size}
        for comp in self.components:
            out.update({f"{comp.name}.{k}": v for k, v in comp.description.lineage().items()})
        return out

    def close(self) -> None:
        """Free every component's instance."""
        for comp in self.components:
            comp.close()

    # -------------------------------------------------------------- the clock
    def attach(self, clock) -> simpy.Process:
        """Run on *clock* (a :class:`sim.clock.CoSimulation` or a ``simpy.Environment``) from its current time.

        The master must be initialized; it steps at the end of each instant on its macro-step grid.
        """
        env = getattr(clock, "env", clock)
        if not math.isclose(env.now, self.time, rel_tol=0, abs_tol=1e-12 * max(1.0, abs(self.time))):
            raise ConfigurationError(f"the master stands at t = {self.time} s but the clock at {env.now} s; "
                                     f"initialize(start_time=env.now) first")
        self.env = env
        return env.process(self._clock_process(env))

    def wait_for(self, qualified: str, level: float, direction: int = 1) -> simpy.Event:
        """A SimPy event that succeeds (with the crossing time [s]) when output *qualified* crosses *level*.

        *direction*: +1 rising, -1 falling, 0 both.  Needs :meth:`attach` first.  As in :mod:`sim.clock`, the
        level is checked when armed: a rising (falling) watch whose output is already at or above (below) the
        level succeeds at once.
        """
        if self.env is None:
            raise ConfigurationError("attach the master to a clock (master.attach(env)) before wait_for")
        if direction not in (-1, 0, 1):
            raise ConfigurationError(f"direction = {direction!r} must be -1, 0 or +1")
        k, o = self._output_index(qualified)
        event = self.env.event()
        value, level = float(self._y[k][o]), float(level)
        if (direction >= 0 and value >= level and direction != 0) or (direction < 0 and value <= level):
            event.succeed(self.env.now)  # the level is already met: level-checked when armed, as sim.clock does
            return event
        self._watches.append(_Watch(k, o, level, direction, event, qualified))
        return event

    def _can_restep(self) -> bool:
        return all(c.can_snapshot and (c.description.can_handle_variable_step or c.interface == "ModelExchange")
                   for c in self.components)

    def _clock_process(self, env):
        yield _EndOfInstant(env, 0.0)  # let every process active at the start set its inputs first
        grid = 0
        start = self.time
        while True:
            target = start + (grid + 1) * self.step_size
            t0 = self.time
            watches = [w for w in self._watches if not w.event.triggered]
            if not watches:
                self.step(target - t0)
                self.time = target
                grid += 1
                yield _EndOfInstant(env, target - env.now)
                continue
            before = [self._y[w.comp][w.out] for w in watches]
            snap = self.snapshot() if self._can_restep() else None
            self.step(target - t0)
            self.time = target
            hits = [(w, b) for w, b in zip(watches, before) if w.crossed(b, self._y[w.comp][w.out])]
            if not hits:
                if snap is not None:
                    self.release(snap)
                grid += 1
                yield _EndOfInstant(env, target - env.now)
                continue
            t_hit, fired = self._locate(hits, t0, target, snap)
            if snap is not None:
                self.release(snap)
            yield env.timeout(t_hit - env.now)
            for w in fired:
                self._watches.remove(w)
                w.event.succeed(env.now)
            if self.time >= target:
                grid += 1
            yield _EndOfInstant(env, self.time - env.now)

    def _locate(self, hits, t0: float, t1: float, snap):
        """The earliest crossing time in ``(t0, t1]`` and the watches that fire there; components end there."""
        def g(w):
            return self._y[w.comp][w.out] - w.level

        if snap is None:  # interpolate between the communication points; the FMUs stay at t1
            times = []
            for w, before in hits:
                g0, g1 = before - w.level, g(w)
                times.append(t0 + (t1 - t0) * (g0 / (g0 - g1)) if g0 != g1 else t1)
            first = min(times)
            return first, [w for (w, _b), tt in zip(hits, times) if tt == first]
        first_w, before = hits[0]
        lo, hi = t0, t1
        g_lo, g_hi = before - first_w.level, g(first_w)
        side = 0
        for _ in range(100):
            if hi - lo <= self.time_tolerance:
                break
            mid = (lo * g_hi - hi * g_lo) / (g_hi - g_lo) if g_hi != g_lo else 0.5 * (lo + hi)
            if not lo < mid < hi:
                mid = 0.5 * (lo + hi)
            mid = self._admissible(t0, mid, hi)
            if mid >= hi:
                break
            self.restore(snap)
            self.step(mid - t0)
            self.time = mid
            crossed = [w for w, b in hits if w.crossed(b, self._y[w.comp][w.out])]
            if crossed:
                first_w, hi, g_hi = crossed[0], mid, g(crossed[0])
                if side == -1:
                    g_lo *= 0.5
                side = -1
            else:
                lo, g_lo = mid, g(first_w)
                if side == 1:
                    g_hi *= 0.5
                side = 1
        self.restore(snap)
        self.step(hi - t0)
        self.time = hi
        fired = [w for w, b in hits if w.crossed(b, self._y[w.comp][w.out])]
        return hi, fired

    def _admissible(self, t0: float, t: float, hi: float) -> float:
        """*t* moved onto every FMI 3 FMU's fixed internal step grid (rounded up), at most *hi*."""
        for comp in self.components:
            fixed = comp.description.fixed_internal_step
            if fixed and comp.interface == "CoSimulation":
                t = t0 + math.ceil((t - t0) / fixed - 1e-9) * fixed
        return min(t, hi)


def _check_macro_step(comp, step: float) -> None:
    d = comp.description
    fixed = d.fixed_internal_step
    if comp.interface == "CoSimulation" and fixed:
        ratio = step / fixed
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio) or round(ratio) < 1:
            raise MacroStepError(
                f"{comp.name}: the macro step {step} s is not a whole multiple of the FMU's fixed internal step "
                f"{fixed} s ({d.path}); use e.g. {max(1, round(ratio)) * fixed:g} s", d.path)
