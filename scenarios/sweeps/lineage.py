"""Sweep lineage in MLflow: the parent run of a sweep, its child runs, resuming, closing.

The parent is created in the *driver* by :class:`SweepLineage` (a Hydra
callback, ``on_multirun_start``) before any job runs, so the sqlite store and
the experiment exist before parallel writers appear (creating a fresh store
from several processes races, see the notes).  Jobs find their parent by tag
(``twinbench.sweep`` + ``twinbench.role = parent``, status RUNNING) on the
tracking store itself, which works on every launcher, including Ray workers
that do not inherit the driver's environment.

Every call names its run (``MlflowClient`` with explicit ids, no fluent
"active run").  A parent is never left RUNNING by a process that ends:
``on_multirun_end`` closes it FINISHED (or FAILED when a configuration
failed), and :func:`close_open_parents` - called by the command-line wrapper,
on SIGTERM and at exit - closes whatever is still open as KILLED (Ctrl-C) or
FAILED.  A process killed with SIGKILL cannot close anything; the next run of
the same sweep marks its stale RUNNING runs KILLED before resuming.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from sim.exceptions import ConfigurationError

__all__ = ["SweepError", "SweepLineage", "connect", "find_parent", "open_parent", "finished_child",
           "close_open_parents", "store_uri", "SWEEP_TAG", "ROLE_TAG", "HASH_TAG"]

SWEEP_TAG = "twinbench.sweep"
ROLE_TAG = "twinbench.role"
HASH_TAG = "twinbench.config_hash"
INVOCATION_TAG = "twinbench.invocation"


class SweepError(ConfigurationError):
    """A sweep that cannot start, or finished with failed configurations (the message says how to fix it)."""


# parent run id -> (client, invocation start [ms]); process-level on purpose: the exit hooks need it
_OPEN_PARENTS: dict = {}
_OPENING: list = []  # threads creating a parent run (see SweepLineage)


def store_uri(uri: str, base: str | os.PathLike | None = None) -> str:
    """Absolute form of a relative ``sqlite:///`` URI (against *base* or the working directory)."""
    from scenarios.tracking.tracker import absolute_store_uri

    return absolute_store_uri(uri, base)


def _check_server(uri: str, timeout: float = 5.0) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            if resp.status != 200:
                raise OSError(f"HTTP {resp.status}")
    except (urllib.error.URLError, OSError, socket.timeout) as err:
        reason = getattr(err, "reason", err)
        raise SweepError(
            f"cannot reach the MLflow tracking server {uri!r} ({reason}). Start it (e.g. `mlflow server --host "
            f"127.0.0.1 --port PORT --backend-store-uri sqlite:///PATH.db`), fix tracking.uri, or use a local "
            f"store: tracking.uri=sqlite:///mlruns/mlflow.db") from None


def connect(uri: str, experiment: str):
    """``(client, experiment_id)`` for *uri*; creates a sqlite store (and its artifact folder) and the experiment.

    Raises :class:`SweepError` naming the URI when the store cannot be reached.
    """
    artifact = _check_store(uri, experiment)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            exp_id = client.create_experiment(experiment, artifact_location=artifact)
        else:
            exp_id = exp.experiment_id
    except Exception as err:  # noqa: BLE001 - any backend failure means the same to the user
        raise SweepError(f"cannot open the MLflow tracking store {uri!r}: {err}. Check tracking.uri") from err
    return client, exp_id


def _check_store(uri: str, experiment: str):
    """The checks of :func:`connect` that need no MLflow (a server answers, a sqlite path is absolute); returns
    the artifact location of a new experiment in a sqlite store (None otherwise)."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not experiment:
        raise SweepError("tracking.experiment must be a non-empty name, e.g. tracking.experiment=twinbench-sweeps")
    artifact = None
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
    elif uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not db.is_absolute():
            raise SweepError(f"tracking.uri = {uri!r} is relative here; make it absolute (the driver does this with "
                             f"scenarios.sweeps.lineage.store_uri) so every job writes to the same store")
        db.parent.mkdir(parents=True, exist_ok=True)
        artifact = (db.parent / "artifacts").resolve().as_uri()
    return artifact


def _q(value: str) -> str:
    return str(value).replace("'", "\\'")


def find_parent(client, exp_id: str, name: str, *, status: str | None = None):
    """The most recent parent run of sweep *name* (optionally only with *status*), or None."""
    filt = f"tags.`{SWEEP_TAG}` = '{_q(name)}' and tags.`{ROLE_TAG}` = 'parent'"
    if status:
        filt += f" and attributes.status = '{status}'"
    runs = client.search_runs([exp_id], filt, order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def children(client, exp_id: str, parent: str, *, status: str | None = None) -> list:
    filt = f"tags.`mlflow.parentRunId` = '{_q(parent)}'"
    if status:
        filt += f" and attributes.status = '{status}'"
    out, token = [], None
    while True:
        page = client.search_runs([exp_id], filt, max_results=1000, page_token=token)
        out += list(page)
        token = page.token
        if not token:
            return out


def finished_child(client, exp_id: str, parent: str, chash: str):
    """A FINISHED child of *parent* with config hash *chash*, or None."""
    filt = (f"tags.`mlflow.parentRunId` = '{_q(parent)}' and tags.`{HASH_TAG}` = '{_q(chash)}' "
            f"and attributes.status = 'FINISHED'")
    runs = client.search_runs([exp_id], filt, max_results=1)
    return runs[0] if runs else None


def open_parent(client, exp_id: str, name: str, *, resume: bool, params: dict, tags: dict) -> tuple[str, bool]:
    """Create the parent run of sweep *name*, or reopen the last one (``resume``); returns ``(run_id, resumed)``.

    Reopening first marks runs of that sweep still RUNNING (left by a killed process) as KILLED.
    """
    from mlflow.entities import Param

    existing = find_parent(client, exp_id, name) if resume else None
    if existing is not None:
        run_id = existing.info.run_id
        for child in children(client, exp_id, run_id, status="RUNNING"):
            client.set_terminated(child.info.run_id, status="KILLED")
        client.update_run(run_id, status="RUNNING")
        count = int(existing.data.tags.get("twinbench.resumed", "0")) + 1
        client.set_tag(run_id, "twinbench.resumed", str(count))
        return run_id, True
    all_tags = {SWEEP_TAG: name, ROLE_TAG: "parent", "mlflow.runName": name, **{k: str(v) for k, v in tags.items()}}
    run = client.create_run(exp_id, run_name=name, tags=all_tags)
    items = [Param(str(k)[:250], str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=items[i:i + 100])
    return run.info.run_id, False


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


def close_open_parents(status: str = "FAILED", reason: str | None = None) -> list[str]:
    """Terminate every parent this process opened and has not closed (exit hooks); returns their ids."""
    while _OPENING:  # a parent being created in the background is closed too, not left RUNNING
        _OPENING.pop().join(timeout=60)
    closed = []
    for run_id, (client, _) in list(_OPEN_PARENTS.items()):
        _OPEN_PARENTS.pop(run_id, None)
        try:
            if reason:
                client.set_tag(run_id, "twinbench.end_reason", reason[:5000])
            for child in children(client, client.get_run(run_id).info.experiment_id, run_id, status="RUNNING"):
                client.set_terminated(child.info.run_id, status="KILLED")
            client.set_terminated(run_id, status=status)
            closed.append(run_id)
        except Exception:  # noqa: BLE001 - best effort at exit; the next run of the sweep cleans up
            pass
    return closed


def _on_sigterm(signum, frame):  # pragma: no cover - exercised by the process tests only
    close_open_parents("KILLED", reason="terminated by signal SIGTERM")
    raise SystemExit(128 + signum)


atexit.register(close_open_parents, "FAILED", "the sweep process ended before the sweep finished")


def _handle_sigterm() -> None:
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        pass


# launchers that run every job in this process, after the callbacks' on_job_start
_IN_PROCESS_LAUNCHERS = ("hydra._internal.core_plugins.basic_launcher.BasicLauncher",
                         "hydra_plugins.twinbench_launcher.launcher.TwinbenchLauncher")


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


def _stop(err: Exception, what: str, code: int = 2):
    """Close the open parents as FAILED and stop the sweep: a configuration error with its own message,
    anything else as ``what: error``."""
    close_open_parents("FAILED", reason=f"{what}: {err}")
    _fail(err if isinstance(err, ConfigurationError) else SweepError(f"{what}: {type(err).__name__}: {err}"), code)


def _fail(err: Exception, code: int = 2):
    """Hydra turns a callback's exceptions into warnings and goes on; a sweep that cannot start must stop."""
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/bold red] {err}", highlight=False, soft_wrap=True)
    raise SystemExit(code) from err


def _print_ranking(report: dict, kpi: str, folder: Path, top: int = 5) -> None:
    """The best configurations with their intervals, and where the full report is."""
    from rich.console import Console

    console = Console()
    rank = report["ranking"]
    console.print(f"\nranking by {kpi} ({len(rank)} configurations, {rank['confidence'].iloc[0]:.0%} intervals):",
                  highlight=False)
    for _, row in rank.head(top).iterrows():
        console.print(f"  {int(row['rank']):>3}. {row['name']}: {row['mean']:.5g} [{row['low']:.5g}, "
                      f"{row['high']:.5g}]", highlight=False)
    console.print(f"report: {folder / 'report.md'} (also logged to the parent run under report/)", highlight=False,
                  soft_wrap=True)


class SweepLineage(Callback):
    """Hydra callback: the sweep's parent run (``on_multirun_start``) and its closing and report (``on_multirun_end``).

    Errors stop the sweep with a message (``SystemExit``): Hydra would only warn about a callback's exception.

    The design and the store are checked before ``on_multirun_start`` returns.  When the jobs run in this
    process (basic and ``twinbench`` launchers), the parent run itself - importing MLflow (~2 s), opening the
    store, creating the run - is made on a background thread while Hydra composes the jobs and the launcher
    queues the first replications, and the first job waits for it in ``on_job_start``: every child still finds
    its parent, and a failure still stops the sweep before any job.  Other launchers get it made before
    ``on_multirun_start`` returns.
    """

    _opening = None  # (thread creating the parent run, event set once it exists or failed) until waited for
    _error = None

    def on_multirun_start(self, config, **kwargs) -> None:
        try:
            self._start(config)
        except Exception as err:  # noqa: BLE001 - Hydra would only warn and run the jobs without a parent
            _stop(err, "the sweep could not start")

    def on_job_start(self, config, **kwargs) -> None:
        if self._opening is not None:
            self._wait_opened()

    def _wait_opened(self) -> None:
        (_, opened), self._opening = self._opening, None
        opened.wait()
        err, self._error = self._error, None
        try:
            if err is not None:
                raise err
            self._opened()
        except Exception as err:  # noqa: BLE001
            _stop(err, "the sweep could not start")

    def on_multirun_end(self, config, **kwargs) -> None:
        if self._opening is not None:  # no job ran
            self._wait_opened()
        try:
            self._end(config)
        except SweepError as err:
            _fail(err, 1)
        except Exception as err:  # noqa: BLE001
            _stop(err, "closing the sweep failed", 1)

    def _start(self, config) -> None:
        from omegaconf import OmegaConf

        from scenarios.sweeps.design import check_design

        n_jobs, swept = check_design(config)
        uri = store_uri(config.tracking.uri, config.hydra.runtime.cwd)
        experiment = config.tracking.experiment
        _check_store(uri, experiment)
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
        from scenarios.sweeps.cli import git_commit

        tags = {"git.commit": git_commit(), "sweep.dir": str(Path(hydra.sweep.dir).resolve()),
                "launcher": OmegaConf.to_container(hydra.launcher).get("_target_", "")}
        invocation = int(time.time() * 1000)
        name, resume = str(config.sweep.name), bool(config.sweep.resume)
        self.uri, self._name, self._n_jobs = uri, name, n_jobs

        def open_():  # plain values only: it may run on a thread
            client, exp_id = connect(uri, experiment)
            run_id, resumed = open_parent(client, exp_id, name, resume=resume, params=params, tags=tags)
            _OPEN_PARENTS[run_id] = (client, invocation)  # closed by the exit hooks from here on
            client.set_tag(run_id, INVOCATION_TAG, str(invocation))
            client.set_tag(run_id, "twinbench.swept_keys", json.dumps(swept))
            self.parent, self.client, self.exp_id, self._resumed = run_id, client, exp_id, resumed

        _handle_sigterm()
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
        _OPENING.append(self._opening[0])
        self._opening[0].start()

    def _opened(self) -> None:
        """The parent exists: tell the jobs of this process (environment) and the user."""
        os.environ["TWINBENCH_SWEEP_PARENT"] = json.dumps({"uri": self.uri, "name": self._name,
                                                           "run_id": self.parent})
        from rich.console import Console

        Console(stderr=True).print(
            f"sweep [bold]{self._name}[/bold]: {'resumed' if self._resumed else 'new'} parent run {self.parent} in "
            f"{self.uri}" + (f", {self._n_jobs} configuration(s)" if self._n_jobs is not None else ""),
            highlight=False)

    def _end(self, config) -> None:
        client, run_id = self.client, self.parent
        _, invocation = _OPEN_PARENTS.get(run_id, (None, 0))
        failed = [c for c in children(client, self.exp_id, run_id, status="FAILED")
                  if int(c.data.tags.get(INVOCATION_TAG, "0") or 0) >= invocation
                  or (c.info.start_time or 0) >= invocation]
        report_error = None
        if config.report.enabled:
            try:
                from scenarios.sweeps.report import write_report

                folder = Path(config.hydra.sweep.dir).resolve() / "report"
                report = write_report(client, run_id, kpi=config.report.kpi, pareto=list(config.report.pareto),
                                      baseline=config.report.baseline, out_dir=folder, log=True)
                _print_ranking(report, config.report.kpi, folder)
            except Exception as err:  # noqa: BLE001 - the sweep's runs are intact; report later
                report_error = err
                client.set_tag(run_id, "twinbench.report_error", str(err)[:5000])
        _OPEN_PARENTS.pop(run_id, None)
        if failed:
            names = ", ".join(c.info.run_name for c in failed)
            client.set_tag(run_id, "twinbench.end_reason", f"{len(failed)} configuration(s) failed: {names}")
            client.set_terminated(run_id, status="FAILED")
            raise SweepError(f"{len(failed)} configuration(s) of sweep {config.sweep.name!r} failed: {names} (see "
                             f"the tag twinbench.error of each child run). Fix the cause and run the same command "
                             f"again: finished configurations are skipped, only these run again")
        client.set_terminated(run_id, status="FINISHED")
        if report_error is not None:
            from rich.console import Console

            Console(stderr=True).print(f"[yellow]report not written:[/yellow] {report_error}; rebuild it with "
                                       f"`twinbench-sweep report {run_id}`", highlight=False)
