"""Out-of-process FMU runs with a wall-clock limit: a hung ``doStep`` or a segfault kills a worker, not the bench.

A vendor FMU runs native code in the calling process; one ``doStep`` can block for ever (fmpy's own ``timeout``
is only checked between steps) and a bad pointer ends the interpreter.  :func:`run_isolated` runs a function in a
fresh worker process (``multiprocessing`` with the *spawn* start method: no inherited locks, threads or loaded
FMUs) and waits at most ``timeout`` seconds of wall-clock time for its result; on expiry the worker is killed and
:class:`FmuTimeoutError` raised, and a worker that dies before answering raises :class:`FmuCrashedError` with its
exit signal.  Errors raised in the worker come back as themselves.

The limit covers the worker's start (importing numpy and fmpy: about a second on a loaded machine) - size it
for the whole run.  :func:`simulate_isolated` is the common case: one FMU from its path, stepped on a fixed grid,
outputs recorded.
"""

from __future__ import annotations

import math
import multiprocessing
import signal

import numpy as np

from sim.exceptions import ConfigurationError
from sim.fmu.errors import FmuCrashedError, FmuTimeoutError

__all__ = ["run_isolated", "simulate_isolated"]


def run_isolated(function, *args, timeout: float, label: str = "", **kwargs):
    """``function(*args, **kwargs)`` in a spawned worker process, killed after *timeout* seconds.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled by reference); its arguments and result must pickle.
    timeout : float
        Wall-clock limit [s] for the whole call, the worker's start included.
    label : str
        What runs, for the error messages (e.g. the FMU's path).

    Raises
    ------
    FmuTimeoutError
        The worker did not answer in time; it was killed.
    FmuCrashedError
        The worker died (segfault, abort, out of memory) before answering.
    """
    if not (isinstance(timeout, (int, float)) and timeout > 0 and math.isfinite(timeout)):
        raise ConfigurationError(f"timeout = {timeout!r} must be a finite positive time [s]; use e.g. 60")
    what = label or getattr(function, "__name__", repr(function))
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_serve, args=(sender, function, args, kwargs), daemon=True,
                         name=f"twinbench-fmu-{what}"[:60])
    worker.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            worker.kill()
            worker.join()
            raise FmuTimeoutError(
                f"{what} did not finish within {timeout} s of wall-clock time; the worker process was killed. A "
                f"doStep may block for ever (a stiff or hung FMU): shorten the run, check the FMU's parameters, or "
                f"raise timeout if the run is just long", str(label))
        try:
            ok, payload = receiver.recv()
        except (EOFError, OSError):
            worker.join(5)
            code = worker.exitcode
            raise FmuCrashedError(
                f"{what} crashed: its worker process died with {_describe_exit(code)} before returning a result. The "
                f"FMU's native code failed (a segfault is typical of a binary built for another platform or tool "
                f"version, or of out-of-range parameters); the workbench itself is unaffected - report it to the FMU's "
                f"vendor with the parameters used", str(label)) from None
    finally:
        receiver.close()
        if worker.is_alive():
            worker.kill()
        worker.join()
    if ok:
        return payload
    raise payload


def _serve(sender, function, args, kwargs) -> None:
    try:
        result = (True, function(*args, **kwargs))
    except BaseException as err:  # noqa: BLE001 - everything goes back to the parent
        result = (False, err)
    try:
        sender.send(result)
    except Exception as err:  # noqa: BLE001 - an unpicklable result or exception
        sender.send((False, RuntimeError(f"the worker's result could not be sent back: {err}")))
    finally:
        sender.close()


def _describe_exit(code) -> str:
    if code is None:
        return "an unknown status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def simulate_isolated(fmu, *, stop_time: float, step: float, timeout: float, start_time: float = 0.0,
                      parameters=None, start_values=None, inputs=None, outputs=None, interface=None) -> dict:
    """Run one FMU out of process on a fixed communication grid and return what it recorded.

    Parameters
    ----------
    fmu : str
        Path of the ``.fmu`` file.
    stop_time, step, start_time : float
        The run [s].
    timeout : float
        Wall-clock limit [s] (see :func:`run_isolated`).
    parameters, start_values : dict, optional
        As :class:`~sim.fmu.FmuComponent`.
    inputs : dict, optional
        input name -> constant value held over the run.
    outputs : sequence of str, optional
        Real outputs to record (default all).

    Returns
    -------
    dict
        ``{"t": ndarray, "<output>": ndarray, ...}``
    """
    return run_isolated(_simulate, str(fmu), stop_time=float(stop_time), step=float(step),
                        start_time=float(start_time), parameters=dict(parameters or {}),
                        start_values=dict(start_values or {}), inputs=dict(inputs or {}),
                        outputs=None if outputs is None else list(outputs), interface=interface,
                        timeout=timeout, label=str(fmu))


def _simulate(path, *, stop_time, step, start_time, parameters, start_values, inputs, outputs, interface) -> dict:
    from sim.fmu.component import FmuComponent

    with FmuComponent(path, parameters=parameters, start_values=start_values, interface=interface) as comp:
        comp.initialize(start_time)
        for name, value in inputs.items():
            comp.set_input(name, value)
        names = list(comp.output_names) if outputs is None else outputs
        cols = [comp.output_names.index(n) for n in names]
        n = max(0, math.ceil((stop_time - start_time) / step - 1e-9))
        t = np.empty(n + 1)
        y = np.empty((n + 1, len(cols)))
        t[0], y[0] = start_time, comp.outputs()[cols]
        for k in range(1, n + 1):
            target = min(start_time + k * step, stop_time)
            comp.step(comp.time, target - comp.time)
            t[k], y[k] = target, comp.outputs()[cols]
    return {"t": t, **{name: y[:, j] for j, name in enumerate(names)}}
