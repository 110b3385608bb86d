"""Sweep lineage in MLflow: the parent run of a sweep, its child runs, resuming, closing, who runs it.

The parent is created in the *driver* by :class:`SweepLineage` (a Hydra
callback, ``on_multirun_start``) before any job runs, so the sqlite store and
the experiment exist before parallel writers appear (creating a fresh store
from several processes races, see the notes).  The callback object owns that
parent for the sweep: its id, its lease (:mod:`~scenarios.sweeps.lease`: host,
pid and a heartbeat renewed while the driver runs, so a second driver of the
same sweep refuses) and its closing.  The ``twinbench`` launcher hands the id
to each job in its config (``sweep.parent``); jobs of other launchers find the
parent by tag on the store (``twinbench.sweep`` + ``twinbench.role = parent``,
status RUNNING), which works where the driver's memory does not (Ray workers).

All MLflow access goes through the tracker (:class:`~scenarios.tracking.tracker.MlflowTracker`)
with explicit run ids.  A parent is never left RUNNING by a process that ends:
``on_multirun_end`` closes it FINISHED (or FAILED when a configuration failed),
the launcher reports an interrupted sweep (``on_multirun_abort``: KILLED), and
an exit hook the callback registers for the duration of the sweep closes it
FAILED.  A process killed with SIGKILL cannot close anything; its lease goes
stale and the next run of the same sweep takes it over, marking the stale
RUNNING runs KILLED before resuming.
"""

from __future__ import annotations

import atexit
import json
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from rich.markup import escape

from scenarios.sweeps.lease import Lease, LeaseKeeper, SweepBusyError
from scenarios.sweeps.runs import (HASH_TAG, INVOCATION_TAG, ROLE_TAG, SWEEP_TAG, SweepError, check_store, children,
                                   close_parent, connect, find_parent, finished_child, open_parent, store_uri)
from scenarios.tracking.lineage import GIT_COMMIT, REPORT_ERROR, SWEPT_KEYS
from sim.exceptions import ConfigurationError

__all__ = ["SweepError", "SweepBusyError", "SweepLineage", "connect", "find_parent", "open_parent", "finished_child",
           "children", "close_parent", "store_uri", "deferred_interrupts", "job_counter", "SWEEP_TAG", "ROLE_TAG",
           "HASH_TAG", "INVOCATION_TAG", "JOBS_TAG"]

#: Tag of the parent run: the number of jobs of the sweep's latest invocation ("adaptive" for Optuna).  The
#: parent's ``sweep.jobs`` param is written once, when the parent is created; a resumed sweep may be extended
#: (more values, a larger design), and MLflow params cannot change, so the count of each invocation is a tag.
JOBS_TAG = "twinbench.sweep.jobs"

_BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# launchers that run every job in this process, after the callbacks' on_job_start
_IN_PROCESS_LAUNCHERS = ("hydra._internal.core_plugins.basic_launcher.BasicLauncher",
                         "hydra_plugins.twinbench_launcher.launcher.TwinbenchLauncher")


@contextmanager
def deferred_interrupts():
    """Hold Ctrl-C until the block ends (it is raised right after it).

    An interrupt in the middle of a write to the tracking store leaves that connection in an open
    transaction, and every later write of the process - closing the runs as KILLED - then waits on its lock.
    The block swaps in a SIGINT handler that only notes the signal: blocking the signal in the main thread
    (``pthread_sigmask``) is not enough, the kernel then hands it to another thread (a worker pool's, the
    parent run's) and Python still raises it in the main thread, inside the write.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            if callable(previous):
                previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


def _fail(err: Exception, code: int = 2):
    """Hydra turns a callback's exceptions into warnings and goes on; a sweep that cannot start must stop."""
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/bold red] {escape(str(err))}", highlight=False, soft_wrap=True)
    raise SystemExit(code) from err


def job_counter(parent, job_num: int) -> str:
    """``"job k/n"``: job *job_num* (0-based, Hydra's ``job.num``) of the *n* jobs of this invocation of the sweep.

    *n* is the parent run's :data:`JOBS_TAG` (written by each invocation, so an extended sweep counts its new
    total), else its ``sweep.jobs`` param (a parent made before the tag existed); ``"job k"`` when the design is
    adaptive (Optuna) or there is no parent.
    """
    total = None
    if parent is not None:
        total = parent.data.tags.get(JOBS_TAG) or parent.data.params.get("sweep.jobs")
    k = int(job_num) + 1
    return f"job {k}/{total}" if total and str(total).isdigit() else f"job {k}"


def _print_ranking(report: dict, kpi: str, folder: Path, top: int = 5) -> None:
    """The best *top* configurations with their intervals, how many more the report ranks, and where it is."""
    from rich.console import Console

    console = Console()
    rank = report["ranking"]
    console.print(f"\nranking by {kpi} ({len(rank)} configurations, {rank['confidence'].iloc[0]:.0%} intervals):",
                  highlight=False, markup=False)
    for _, row in rank.head(top).iterrows():
        unit = "" if row.get("unit", "-") == "-" else f" {row['unit']}"
        console.print(f"  {int(row['rank']):>3}. {row['name']}: {row['mean']:.5g} [{row['low']:.5g}, "
                      f"{row['high']:.5g}]{unit}", highlight=False, markup=False)
    if len(rank) > top:
        console.print(f"  ...and {len(rank) - top} more (all {len(rank)} in the report)", highlight=False,
                      markup=False)
    console.print(f"report: {folder / 'report.md'} (also logged to the parent run under report/)", highlight=False,
                  soft_wrap=True, markup=False)


class SweepLineage(Callback):
    """Hydra callback that owns the sweep's parent run: opens it with a lease (``on_multirun_start``), hands its
    id to the jobs (:meth:`prepare_job`), closes it and writes the report (``on_multirun_end``), or closes it
    KILLED when the launcher reports an interruption (:meth:`on_multirun_abort`).

    Errors stop the sweep with a message (``SystemExit``): Hydra would only warn about a callback's exception.

    The design and the store are checked before ``on_multirun_start`` returns.  When the jobs run in this
    process (basic and ``twinbench`` launchers), the parent run itself - importing MLflow (~2 s), opening the
    store, taking the lease, creating the run - is made on a background thread while Hydra composes the jobs
    and the launcher queues the first replications, and the first job waits for it (:meth:`prepare_job` or
    ``on_job_start``): every child still finds its parent, and a failure (another driver holds the sweep)
    still stops the sweep before any job.  Other launchers get it made before ``on_multirun_start`` returns.

    While the parent is open the callback holds, and undoes when it closes it: the lease's heartbeat thread,
    an exit hook (the parent is closed FAILED if the process ends without closing it) and a SIGTERM handler
    (SIGTERM ends the sweep like Ctrl-C, as KILLED).
    """

    def __init__(self) -> None:
        self.parent: str | None = None
        self.tracker = None
        self.exp_id: str | None = None
        self.uri: str | None = None
        self._name = self._n_jobs = self._resumed = None
        self._invocation = 0
        self._opening: tuple[threading.Thread, threading.Event] | None = None
        self._error: BaseException | None = None
        self._keeper: LeaseKeeper | None = None
        self._previous_sigterm = None
        self._exit_hook = None
        self._signal_reason: str | None = None

    def __getstate__(self) -> dict:
        """What a copy of the callback takes along (Ray pickles Hydra's callbacks for its workers): the plain
        values; the tracker, the lease's thread, the exit hook and the signal handler stay with the driver."""
        state = dict(self.__dict__)
        state.update(tracker=None, _opening=None, _error=None, _keeper=None, _previous_sigterm=None,
                     _exit_hook=None)
        return state

    # ------------------------------------------------------------------ Hydra's hooks
    def on_multirun_start(self, config, **kwargs) -> None:
        try:
            self._start(config)
        except Exception as err:  # noqa: BLE001 - Hydra would only warn and run the jobs without a parent
            self._stop(err, "the sweep could not start")

    def prepare_job(self, config) -> None:
        """Called by the ``twinbench`` launcher before it runs a job: the job's config gets the parent run id
        (``sweep.parent``), so the job need not look it up."""
        from omegaconf import open_dict

        self.on_job_start(config)
        with open_dict(config):
            config.sweep.parent = self.parent

    def on_job_start(self, config, **kwargs) -> None:
        if self._opening is not None:
            self._wait_opened()

    def on_multirun_end(self, config, **kwargs) -> None:
        if self._opening is not None:  # no job ran
            self._wait_opened()
        try:
            self._end(config)
        except SweepError as err:
            _fail(err, 1)
        except Exception as err:  # noqa: BLE001
            self._stop(err, "closing the sweep failed", 1)

    def on_launch_end(self, config, job_returns) -> None:
        """Called by the ``twinbench`` launcher after each batch.  Hydra's basic sweeper raises the error of the
        first failed job once the batch is back, so the sweep ends there without ``on_multirun_end``: the
        parent is closed FAILED now, naming the failed configurations."""
        from hydra.core.utils import JobStatus
        from omegaconf import OmegaConf

        if OmegaConf.select(config, "hydra.sweeper._target_", default="") != _BASIC_SWEEPER:
            return
        failed = [" ".join(r.overrides or []) for r in job_returns if r.status == JobStatus.FAILED]
        if failed:
            self.close("FAILED", f"{len(failed)} configuration(s) failed: {'; '.join(failed)}"[:5000])

    def on_multirun_abort(self, config=None, *, status: str = "KILLED", reason: str = "interrupted") -> None:
        """The sweep stops before its end (Ctrl-C, SIGTERM, an error in the launcher): close the parent with
        *status* and its running children as KILLED (a SIGTERM that stopped it is named as the reason)."""
        if self._signal_reason:
            status, reason = "KILLED", self._signal_reason
        self.close(status, reason)

    # ------------------------------------------------------------------ the parent run
    def close(self, status: str, reason: str | None = None) -> str | None:
        """Terminate the parent if this callback still holds it open; returns its id (None if nothing to do)."""
        if self._opening is not None:  # a parent being created in the background is closed too
            self._opening[0].join(timeout=60)
            self._opening = None
        run_id, self.parent = self.parent, None
        self._release()
        if run_id is None:
            return None
        try:
            close_parent(self.tracker, self.exp_id, run_id, status, reason)
        except Exception:  # noqa: BLE001 - best effort; the lease goes stale and the next run cleans up
            return None
        return run_id

    def _hold(self) -> None:
        """Undone by :meth:`_release`: exit hook and SIGTERM handler, for as long as the parent is open."""
        self._exit_hook = lambda: (self.close("KILLED", self._signal_reason) if self._signal_reason else
                                   self.close("FAILED", "the sweep process ended before the sweep finished"))
        atexit.register(self._exit_hook)
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                    self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
            except ValueError:
                pass

    def _release(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _on_sigterm(self, signum, frame):  # pragma: no cover - exercised by the process tests only
        self._signal_reason = "terminated by signal SIGTERM"
        raise SystemExit(128 + signum)

    def _stop(self, err: Exception, what: str, code: int = 2):
        """Close the parent as FAILED and stop the sweep: a configuration error with its own message,
        anything else as ``what: error``."""
        self.close("FAILED", f"{what}: {err}")
        _fail(err if isinstance(err, ConfigurationError) else SweepError(f"{what}: {type(err).__name__}: {err}"),
              code)

    def _wait_opened(self) -> None:
        (_, opened), self._opening = self._opening, None
        opened.wait()
        err, self._error = self._error, None
        try:
            if err is not None:
                raise err
            self._opened()
        except Exception as err:  # noqa: BLE001
            self._stop(err, "the sweep could not start")

    def _start(self, config) -> None:
        from omegaconf import OmegaConf

        from scenarios.sweeps.design import check_design
        from scenarios.tracking.tracker import git_commit

        n_jobs, swept = check_design(config)
        uri = store_uri(config.tracking.uri, config.hydra.runtime.cwd)
        experiment = config.tracking.experiment
        check_store(uri, experiment)
        lease = Lease.mine(float(config.sweep.heartbeat_s))
        hydra = config.hydra
        sweeper = OmegaConf.to_container(hydra.sweeper, resolve=False)
        params = {"sweep.name": config.sweep.name, "sweeper": sweeper.get("_target_", ""),
                  "sweep.jobs": n_jobs if n_jobs is not None else "adaptive",
                  "sweep.overrides": " ".join(OmegaConf.to_container(hydra.overrides.task)) or "(none)"}
        for key, value in (sweeper.get("params") or {}).items():
            params[f"design.{key.lstrip('+')}"] = value
        for key in ("design", "n", "seed", "n_trials", "batch_size"):
            if key in sweeper:
                params[f"design.{key}"] = sweeper[key]
        tags = {GIT_COMMIT: git_commit(), "sweep.dir": str(Path(hydra.sweep.dir).resolve()),
                "launcher": OmegaConf.to_container(hydra.launcher).get("_target_", "")}
        self._invocation = int(time.time() * 1000)
        name, resume = str(config.sweep.name), bool(config.sweep.resume)
        self.uri, self._name, self._n_jobs = uri, name, n_jobs

        def open_():  # plain values only: it may run on a thread
            tracker, exp_id = connect(uri, experiment)
            run_id, resumed = open_parent(tracker, exp_id, name, resume=resume, params=params, tags=tags,
                                          lease=lease)
            self.tracker, self.exp_id, self.parent, self._resumed = tracker, exp_id, run_id, resumed
            self._keeper = LeaseKeeper(tracker, run_id, lease).start()
            tracker.set_tags(run_id, {INVOCATION_TAG: str(self._invocation), SWEPT_KEYS: json.dumps(swept),
                                      JOBS_TAG: str(n_jobs) if n_jobs is not None else "adaptive"})

        self._hold()
        if tags["launcher"] not in _IN_PROCESS_LAUNCHERS:
            open_()
            self._opened()
            return

        report = bool(config.report.enabled)
        opened = threading.Event()

        def background():
            try:
                open_()
            except BaseException as err:  # noqa: BLE001 - raised in the main thread by _wait_opened
                self._error = err
                return
            finally:
                opened.set()
            if report:  # what the report imports, while the jobs run rather than after them (~0.5 s)
                try:
                    import matplotlib.backends.backend_agg  # noqa: F401
                    import matplotlib.figure  # noqa: F401

                    import scenarios.sweeps.report  # noqa: F401
                except ImportError:  # the report says so itself
                    pass

        self._opening = (threading.Thread(target=background, name="twinbench-parent-run", daemon=True), opened)
        self._opening[0].start()

    def _opened(self) -> None:
        """The parent exists: tell the user."""
        from rich.console import Console

        Console(stderr=True).print(
            f"sweep [bold]{escape(self._name)}[/bold]: {'resumed' if self._resumed else 'new'} parent run "
            f"{self.parent} in {escape(str(self.uri))}"
            + (f", {self._n_jobs} configuration(s)" if self._n_jobs is not None else ""),
            highlight=False)

    def _end(self, config) -> None:
        tracker, run_id, invocation = self.tracker, self.parent, self._invocation
        if run_id is None:
            return
        failed = [c for c in children(tracker, self.exp_id, run_id, status="FAILED")
                  if int(c.data.tags.get(INVOCATION_TAG, "0") or 0) >= invocation
                  or (c.info.start_time or 0) >= invocation]
        report_error = None
        if config.report.enabled:
            try:
                from scenarios.sweeps.report import write_report

                folder = Path(config.hydra.sweep.dir).resolve() / "report"
                report = write_report(tracker, run_id, kpi=config.report.kpi, pareto=list(config.report.pareto),
                                      baseline=config.report.baseline, out_dir=folder, log=True)
                _print_ranking(report, config.report.kpi, folder)
            except Exception as err:  # noqa: BLE001 - the sweep's runs are intact; report later
                report_error = err
                tracker.set_tags(run_id, {REPORT_ERROR: str(err)[:5000]})
        if failed:
            names = ", ".join(c.info.run_name for c in failed)
            self.close("FAILED", f"{len(failed)} configuration(s) failed: {names}")
            raise SweepError(f"{len(failed)} configuration(s) of sweep {config.sweep.name!r} failed: {names} (see "
                             f"the tag twinbench.error of each child run). Fix the cause and run the same command "
                             f"again: finished configurations are skipped, only these run again")
        self.close("FINISHED")
        if report_error is not None:
            from rich.console import Console

            Console(stderr=True).print(f"[yellow]report not written:[/yellow] {escape(str(report_error))}; rebuild it "
                                       f"with `twinbench-sweep report {run_id}`", highlight=False)
