"""The local worker processes of a sweep: one :class:`ReplicationPool` object, owned by whoever runs the jobs.

The ``twinbench`` launcher (``hydra_plugins/twinbench_launcher``) makes one pool per sweep and hands it to
every job it runs, so the jobs share the workers, and it queues the replications of the next job on it
while one runs (:meth:`ReplicationPool.submit`); a job collects exactly those futures when its arguments
match (:meth:`ReplicationPool.replicate`).  A job run by any other launcher makes its own pool for its own
replications and closes it.  Nothing here is process-global: two pools in one process are independent.

Workers die with the process that started them.  A driver killed with SIGKILL cannot stop its pool, so each
worker asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and, on
other systems, watches its parent's pid from a thread.  Replication *r* uses ``RandomStreams(seed, r)``
whichever worker runs it, so the table is the same for any number of workers.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable

from sim.exceptions import ConfigurationError

__all__ = ["ReplicationPool", "die_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Worker initializer: end this process as soon as *parent_pid* (the driver that started it) is gone.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); elsewhere a daemon thread
    polls the parent pid every *poll_s* seconds.  Either way a worker the driver can no longer use (it was
    killed with SIGKILL, it crashed) does not live on holding its memory.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)
    if armed:
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="twinbench-parent-watch", daemon=True).start()


def _warm() -> int:
    import scenarios.reference.line_config  # noqa: F401 - what a replication imports
    import sim.line  # noqa: F401

    return os.getpid()


class ReplicationPool:
    """Local worker processes (a loky executor) and the replications queued on them ahead of their job.

    Use it as a context manager, or call :meth:`close`.  The executor starts on :meth:`start` or the first
    submission, with as many processes as asked; asking for another size stops it and starts a new one.
    """

    def __init__(self) -> None:
        self.workers = 0
        self._executor = None
        self._queued: dict[str, list] = {}  # key of (configuration, plan, scenario) -> futures, replication order

    # ------------------------------------------------------------------ processes
    def start(self, workers: int):
        """The executor with *workers* processes, started now (they import the model meanwhile)."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 2:
            raise ConfigurationError(f"a replication pool needs workers >= 2, got {workers!r} (1: replicate in "
                                     f"the job's own process)")
        if self._executor is not None and self.workers == workers:
            return self._executor
        self.close()
        from joblib.externals.loky import ProcessPoolExecutor

        threads = str(max(1, (os.cpu_count() or 1) // workers))  # as joblib: no oversubscription by BLAS/OpenMP
        env = {v: threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}
        self._executor = ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent,
                                             initargs=(os.getpid(),), env=env)
        self.workers = workers
        for _ in range(workers):
            self._executor.submit(_warm)
        return self._executor

    def pids(self) -> list[int]:
        """Process ids of the running workers (empty when not started)."""
        if self._executor is None:
            return []
        return sorted(getattr(self._executor, "_processes", {}) or {})

    def close(self, *, kill: bool = False) -> None:
        """Cancel what is queued and stop the workers (*kill*: running replications too, at once)."""
        self.release()
        if self._executor is not None:
            executor, self._executor, self.workers = self._executor, None, 0
            executor.shutdown(wait=not kill, kill_workers=kill)

    def __enter__(self) -> "ReplicationPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(kill=exc_type is not None)

    # ------------------------------------------------------------------ work
    @staticmethod
    def _key(line_cfg: dict, motor_params, plan, scenario: int) -> str:
        """What identifies a configuration's replications: its canonical JSON."""
        import json
        from dataclasses import asdict

        return json.dumps({"line": line_cfg, "motors": motor_params, "plan": asdict(plan), "scenario": scenario},
                          sort_keys=True, default=str, separators=(",", ":"))

    def _submit(self, fn, line_cfg, motor_params, plan, scenario, workers) -> list:
        executor = self.start(workers)
        return [executor.submit(fn, line_cfg, motor_params, plan, r, scenario) for r in range(plan.replications)]

    def submit(self, fn, line_cfg: dict, plan, *, workers: int, motor_params: dict | None = None,
               scenario: int = 0) -> Callable[[], None]:
        """Queue ``fn(line_cfg, motor_params, plan, r, scenario)`` for every replication *r*, for a later
        :meth:`replicate` with the same arguments; returns the function that cancels those no job took."""
        key = self._key(line_cfg, motor_params, plan, scenario)
        if key not in self._queued:
            self._queued[key] = self._submit(fn, line_cfg, motor_params, plan, scenario, workers)
        return lambda: self.release(key)

    def queued(self) -> int:
        """Number of configurations queued and not yet taken."""
        return len(self._queued)

    def replicate(self, fn, line_cfg: dict, plan, *, workers: int, motor_params: dict | None = None,
                  scenario: int = 0, progress: Callable[[int, int], None] | None = None) -> list[dict]:
        """``fn(...)`` of every replication, in replication order: the queued futures of these arguments when
        there are (run on this pool's workers), new ones otherwise.  Ctrl-C kills the workers."""
        from concurrent.futures import as_completed

        futures = self._queued.pop(self._key(line_cfg, motor_params, plan, scenario), None)
        if futures is None or self.workers != workers:
            for f in futures or ():
                f.cancel()
            futures = self._submit(fn, line_cfg, motor_params, plan, scenario, workers)
        try:
            for done, _ in enumerate(as_completed(futures), start=1):
                if progress is not None:
                    progress(done, plan.replications)
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            self.close(kill=True)  # running replications too: the user wants the sweep to stop now
            raise
        finally:
            for f in futures:
                f.cancel()

    def release(self, key: str | None = None) -> None:
        """Cancel the queued replications of *key* (of every configuration when None) that no job has taken."""
        for k in [key] if key is not None else list(self._queued):
            for f in self._queued.pop(k, ()):
                f.cancel()
