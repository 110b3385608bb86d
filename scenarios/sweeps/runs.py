"""A sweep's runs in the tracking store: connect, find the parent and children, open and close the parent.

Every function takes the tracker (:class:`~scenarios.tracking.tracker.MlflowTracker`) and names its runs
explicitly; queries the :class:`~scenarios.tracking.tracker.Tracker` protocol does not cover (search, reopen)
go through the client the tracker owns (``tracker.client``).  Nothing here creates an MLflow client.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from scenarios.sweeps.lease import LEASE_TAG, Lease, SweepBusyError
from scenarios.tracking.lineage import END_REASON, INVOCATION, RESUMED, ROLE, SWEEP, SWEEP_CONFIG_HASH
from sim.exceptions import ConfigurationError

__all__ = ["SweepError", "SweepBusyError", "SWEEP_TAG", "ROLE_TAG", "HASH_TAG", "INVOCATION_TAG", "store_uri",
           "connect", "check_store", "find_parent", "children", "finished_child", "open_parent", "close_parent"]

# the tag names are defined once, in scenarios.tracking.lineage
SWEEP_TAG, ROLE_TAG, HASH_TAG, INVOCATION_TAG = SWEEP, ROLE, SWEEP_CONFIG_HASH, INVOCATION


class SweepError(ConfigurationError):
    """A sweep that cannot start, or finished with failed configurations (the message says how to fix it)."""


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


def check_store(uri: str, experiment: str) -> None:
    """The checks of :func:`connect` that need no MLflow: a server answers, a sqlite path is absolute."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not experiment:
        raise SweepError("tracking.experiment must be a non-empty name, e.g. tracking.experiment=twinbench-sweeps")
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
    elif uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not db.is_absolute():
            raise SweepError(f"tracking.uri = {uri!r} is relative here; make it absolute (the driver does this with "
                             f"scenarios.sweeps.runs.store_uri) so every job writes to the same store")


def connect(uri: str, experiment: str):
    """``(tracker, experiment_id)`` for *uri*: the tracker creates a sqlite store and the experiment.

    Raises :class:`SweepError` naming the URI when the store cannot be reached.
    """
    check_store(uri, experiment)
    from scenarios.tracking.tracker import MlflowTracker

    tracker = MlflowTracker(tracking_uri=uri, experiment=experiment)
    try:
        exp_id = tracker.experiment_id
    except Exception as err:  # noqa: BLE001 - any backend failure means the same to the user
        raise SweepError(f"cannot open the MLflow tracking store {uri!r}: {err}. Check tracking.uri") from err
    return tracker, exp_id


def _q(value: str) -> str:
    return str(value).replace("'", "\\'")


def _search(tracker, exp_id: str, filt: str, **kwargs) -> list:
    return list(tracker.client.search_runs([exp_id], filt, **kwargs))


def find_parent(tracker, exp_id: str, name: str, *, status: str | None = None):
    """The most recent parent run of sweep *name* (optionally only with *status*), or None."""
    filt = f"tags.`{SWEEP_TAG}` = '{_q(name)}' and tags.`{ROLE_TAG}` = 'parent'"
    if status:
        filt += f" and attributes.status = '{status}'"
    runs = _search(tracker, exp_id, filt, order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def children(tracker, exp_id: str, parent: str, *, status: str | None = None) -> list:
    filt = f"tags.`mlflow.parentRunId` = '{_q(parent)}'"
    if status:
        filt += f" and attributes.status = '{status}'"
    out, token = [], None
    while True:
        page = tracker.client.search_runs([exp_id], filt, max_results=1000, page_token=token)
        out += list(page)
        token = page.token
        if not token:
            return out


def finished_child(tracker, exp_id: str, parent: str, chash: str):
    """A FINISHED child of *parent* with config hash *chash*, or None."""
    filt = (f"tags.`mlflow.parentRunId` = '{_q(parent)}' and tags.`{HASH_TAG}` = '{_q(chash)}' "
            f"and attributes.status = 'FINISHED'")
    runs = _search(tracker, exp_id, filt, max_results=1)
    return runs[0] if runs else None


def _refuse_if_held(tracker, exp_id: str, name: str, lease: Lease) -> list:
    """The RUNNING parents of *name*; :class:`SweepBusyError` when one of them has a live lease not ours."""
    running = _search(tracker, exp_id, f"tags.`{SWEEP_TAG}` = '{_q(name)}' and tags.`{ROLE_TAG}` = 'parent' "
                                       f"and attributes.status = 'RUNNING'", max_results=100)
    for run in running:
        held = Lease.from_tag(run.data.tags.get(LEASE_TAG))
        if held is not None and held.token != lease.token and held.is_live():
            raise SweepBusyError(
                f"sweep {name!r} is being run by {held.holder()}, parent run {run.info.run_id}: a second driver "
                f"would run its configurations again. Wait for it to finish or stop it (Ctrl-C; after a SIGKILL "
                f"its lease goes stale within {3 * held.interval_s:.0f} s), or give this sweep another sweep.name")
    return running


def open_parent(tracker, exp_id: str, name: str, *, resume: bool, params: dict, tags: dict,
                lease: Lease, lock_timeout: float = 60.0) -> tuple[str, bool]:
    """Create the parent run of sweep *name* holding *lease*, or take over the last one (``resume``); returns
    ``(run_id, resumed)``.

    Refuses (:class:`SweepBusyError`) while another driver's lease on a RUNNING parent of *name* is live.
    Taking over marks the runs of that sweep still RUNNING (left by a killed driver) KILLED.  Checking and
    taking the lease happen under the store lock of the sweep (:meth:`MlflowTracker.lock`), so of two drivers
    starting at once the second sees the first one's lease.
    """
    with tracker.lock(f"twinbench.sweep.{name}", timeout=lock_timeout):
        running = _refuse_if_held(tracker, exp_id, name, lease)
        existing = find_parent(tracker, exp_id, name) if resume else None
        if existing is None:
            all_tags = {SWEEP_TAG: name, ROLE_TAG: "parent", LEASE_TAG: lease.to_tag(), **tags}
            run_id = tracker.start_run(name, tags=all_tags)
        else:
            run_id = existing.info.run_id
            tracker.set_tags(run_id, {LEASE_TAG: lease.to_tag()})
    if existing is None:
        tracker.log_params(run_id, {k: str(v) for k, v in params.items()})
        return run_id, False
    for stale in running:
        if stale.info.run_id != run_id:
            close_parent(tracker, exp_id, stale.info.run_id, "KILLED", "its driver's lease went stale")
    for child in children(tracker, exp_id, run_id, status="RUNNING"):
        tracker.end_run(child.info.run_id, status="KILLED")
    tracker.client.update_run(run_id, status="RUNNING")
    count = int(existing.data.tags.get(RESUMED, "0")) + 1
    tracker.set_tags(run_id, {RESUMED: str(count)})
    return run_id, True


def close_parent(tracker, exp_id: str, run_id: str, status: str, reason: str | None = None) -> None:
    """Terminate *run_id* with *status* and its RUNNING children as KILLED, noting *reason*."""
    if reason:
        tracker.set_tags(run_id, {END_REASON: reason[:5000]})
    for child in children(tracker, exp_id, run_id, status="RUNNING"):
        tracker.end_run(child.info.run_id, status="KILLED")
    tracker.end_run(run_id, status=status)
