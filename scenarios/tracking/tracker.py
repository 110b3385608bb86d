"""Trackers: where runs, parameters, metrics and artifacts go - and the one owner of the MLflow client.

A tracker is an injected object chosen in config (``tracking=mlflow`` or ``tracking=none``).  Every call names
its run explicitly (no "active run" global state), so several runs can be open at once and parallel jobs do not
interfere.  MLflow is imported lazily: it costs seconds to import.

:class:`MlflowTracker` is the only code in Twinbench that creates an ``MlflowClient`` (and imports
``mlflow.tracking``); the sweeps and the model registry receive the tracker and use :attr:`MlflowTracker.client`
for the queries the :class:`Tracker` protocol does not cover.  It also

* creates and migrates a new sqlite store under a file lock (``<db>.lock``), once per process, so several
  jobs or sweeps starting on a new store at once do not race in MLflow's migrations;
* checks that a tracking server answers before MLflow's own minutes of retries;
* batches parameters, metrics and tags (:meth:`MlflowTracker.log_params`, :meth:`~MlflowTracker.log_metrics`,
  :meth:`~MlflowTracker.set_tags`: the one batcher);
* gives mutual exclusion per key among the Twinbench processes of one store (:meth:`MlflowTracker.lock`):
  a file lock for sqlite, a lock registered model with a lease for a server.

Tag names are in :mod:`scenarios.tracking.lineage`.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from scenarios.tracking.lineage import LOCK
from sim.exceptions import ConfigurationError

__all__ = ["Tracker", "NullTracker", "MlflowTracker", "TrackingStoreError", "StoreLockError", "StoreLock",
           "as_tracker", "flatten", "absolute_store_uri", "git_commit"]

SQLITE = "sqlite:///"
PARAMS_PER_BATCH, METRICS_PER_BATCH, TAGS_PER_BATCH = 100, 1000, 100  # MLflow's log_batch limits


class TrackingStoreError(ConfigurationError):
    """The tracking store cannot be reached or opened (the message names the URI and the fix)."""


class StoreLockError(TrackingStoreError):
    """A store lock was not acquired in time, or was lost (its lease expired and another process took it)."""


class Tracker(Protocol):
    def start_run(self, name: str, *, parent: str | None = None, tags: dict | None = None,
                  start_time: float | None = None) -> str: ...
    def log_params(self, run: str, params: dict) -> None: ...
    def log_metrics(self, run: str, metrics: dict, step: int | None = None) -> None: ...
    def log_artifact(self, run: str, path, artifact_path: str | None = None) -> None: ...
    def log_text(self, run: str, text: str, name: str) -> None: ...
    def set_tags(self, run: str, tags: dict) -> None: ...
    def end_run(self, run: str, status: str = "FINISHED", end_time: float | None = None) -> None: ...


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the Twinbench checkout (the ``git.commit`` tag), or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flatten(tree, prefix: str = "") -> dict:
    """Flatten nested dicts/lists to ``a.b.0.c`` keys (the form MLflow params want)."""
    out = {}
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, (dict, list, tuple)) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


class NullTracker:
    """Tracks nothing; run ids are local counters.  For notebooks and tests that don't track."""

    uri = None
    client = None
    experiment_id = None

    def __init__(self, **_ignored):
        self._n = 0

    def start_run(self, name, *, parent=None, tags=None, start_time=None):
        self._n += 1
        return f"null-{self._n}"

    def log_params(self, run, params):
        pass

    def log_metrics(self, run, metrics, step=None):
        pass

    def log_artifact(self, run, path, artifact_path=None):
        pass

    def log_artifacts(self, run, folder, artifact_path=None):
        pass

    def log_text(self, run, text, name):
        pass

    def set_tags(self, run, tags):
        pass

    def end_run(self, run, status="FINISHED", end_time=None):
        pass

    def lock(self, key, *, timeout=None):
        return nullcontext(None)

    def ui_command(self) -> str:
        return ""


def absolute_store_uri(uri: str, base: str | os.PathLike | None = None) -> str:
    """Make a relative ``sqlite:///rel/path.db`` absolute (against *base* or the working directory).

    Hydra may change the working directory of jobs; a relative sqlite URI would
    then create a new store inside every job directory.
    """
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        path = Path(base or os.getcwd()) / uri[len(SQLITE):]
        return SQLITE + str(path.resolve())
    return uri


def as_tracker(target, experiment: str = "twinbench"):
    """*target* if it is a tracker with a client, else an :class:`MlflowTracker` on the URI *target*."""
    if isinstance(target, (str, os.PathLike)):
        return MlflowTracker(tracking_uri=str(target), experiment=experiment)
    if getattr(target, "client", None) is None and not isinstance(target, MlflowTracker):
        raise ConfigurationError(f"{type(target).__name__} has no MLflow store; the model registry needs an "
                                 f"MlflowTracker (tracking=mlflow)")
    return target


def _check_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, naming the fix, when an ``http(s)://`` store does not answer (MLflow retries for minutes)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:  # noqa: S310
            response.read()
    except (urllib.error.URLError, OSError, socket.timeout) as err:
        reason = getattr(err, "reason", err)
        raise TrackingStoreError(
            f"cannot reach the MLflow tracking server {uri!r} ({reason}); start it (mlflow server --host 127.0.0.1 "
            f"--port PORT --backend-store-uri sqlite:///<abs path>.db), fix tracking.tracking_uri, or use a local "
            f"store 'sqlite:///<abs path>.db'") from None


class StoreLock:
    """A held :meth:`MlflowTracker.lock`; :meth:`check` raises :class:`StoreLockError` if it was lost."""

    def __init__(self, key: str, check=None):
        self.key = key
        self._check = check

    def check(self) -> None:
        if self._check is not None:
            self._check()


class MlflowTracker:
    """Tracking into an MLflow store through ``MlflowClient`` with explicit run ids.

    Parameters
    ----------
    tracking_uri : str
        ``sqlite:///relative/or//absolute.db``, ``http://host:port`` or any MLflow URI.
    experiment : str
        Experiment name (created on first use).
    artifact_location : str, optional
        Artifact root for a new experiment; default ``<store folder>/artifacts`` for sqlite stores.
    registry_uri : str, optional
        Model-registry store when it differs from the tracking store.
    """

    def __init__(self, tracking_uri: str = "sqlite:///mlruns/mlflow.db", experiment: str = "twinbench",
                 artifact_location: str | None = None, registry_uri: str | None = None):
        if not experiment:
            raise ConfigurationError("tracking.experiment must be a non-empty name")
        self.uri = absolute_store_uri(tracking_uri)
        self.experiment = experiment
        self.artifact_location = artifact_location
        self.registry_uri = absolute_store_uri(registry_uri) if registry_uri else self.uri
        self._client = None
        self._experiment_id = None

    # ------------------------------------------------------------ connection
    @property
    def db_path(self) -> Path | None:
        """The sqlite file of a ``sqlite:///`` store, else None."""
        return Path(self.uri[len(SQLITE):]) if self.uri.startswith(SQLITE) else None

    @property
    def client(self):
        """The ``MlflowClient`` of this store (the only one Twinbench creates); the store and the experiment
        exist once it returns."""
        if self._client is None:
            self._client, self._experiment_id = self._open()
        return self._client

    @property
    def experiment_id(self) -> str:
        """Id of :attr:`experiment` (created on first use)."""
        _ = self.client
        return self._experiment_id

    def _open(self):
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bars in job logs
        if self.uri.startswith(("http://", "https://")):
            _check_server(self.uri)
        from mlflow.tracking import MlflowClient

        db, artifact = self.db_path, self.artifact_location
        try:
            if db is None:
                client = MlflowClient(tracking_uri=self.uri, registry_uri=self.registry_uri)
                return client, self._experiment(client, artifact)
            from filelock import FileLock

            db.parent.mkdir(parents=True, exist_ok=True)
            if artifact is None:
                artifact = (db.parent / "artifacts").resolve().as_uri()
            # MLflow creates the tables and runs the alembic migrations of a new sqlite file in the first
            # process that opens it; two at once crash ('alembic_version', 'duplicate column name').
            with FileLock(f"{db}.lock", timeout=600):
                client = MlflowClient(tracking_uri=self.uri, registry_uri=self.registry_uri)
                client.search_experiments(max_results=1)  # creates and migrates the store
                if self.registry_uri.startswith(SQLITE):
                    client.search_registered_models(max_results=1)
                return client, self._experiment(client, artifact)
        except TrackingStoreError:
            raise
        except Exception as err:  # noqa: BLE001 - report any backend failure the same way
            raise TrackingStoreError(
                f"cannot open the MLflow tracking store {self.uri!r}: {type(err).__name__}: {err}. Check "
                f"tracking.tracking_uri ('sqlite:///<abs path>.db', or http://host:port of a running mlflow "
                f"server), or run with tracking=none") from err

    def _experiment(self, client, artifact) -> str:
        from mlflow.exceptions import MlflowException

        for _ in range(5):
            exp = client.get_experiment_by_name(self.experiment)
            if exp is not None:
                return exp.experiment_id
            try:
                return client.create_experiment(self.experiment, artifact_location=artifact)
            except MlflowException as err:  # another process created it first
                if err.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        raise TrackingStoreError(f"experiment {self.experiment!r} in {self.uri!r} is neither found nor created")

    def ui_command(self) -> str:
        return f"mlflow ui --backend-store-uri {self.uri}"

    # ------------------------------------------------------------------ runs
    def start_run(self, name: str, *, parent: str | None = None, tags: dict | None = None,
                  start_time: float | None = None) -> str:
        """A new run; *start_time*: when the work it records began [s since the epoch] (default: now)."""
        client = self.client
        all_tags = {"mlflow.runName": name}
        if parent is not None:
            all_tags["mlflow.parentRunId"] = parent
        all_tags.update({k: str(v) for k, v in (tags or {}).items()})
        run = client.create_run(self._experiment_id, run_name=name, tags=all_tags,
                                start_time=None if start_time is None else int(round(start_time * 1000)))
        return run.info.run_id

    def log_params(self, run: str, params: dict) -> None:
        """Flattened *params* (nested dicts become ``a.b`` keys), as strings, in batches."""
        from mlflow.entities import Param

        items = [Param(str(k)[:250], str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(run, params=items[i:i + PARAMS_PER_BATCH])

    def log_metrics(self, run: str, metrics: dict, step: int | None = None) -> None:
        """Finite values of *metrics* at *step* (default 0), in batches; None, NaN and infinities are left
        out (MLflow stores no infinite value: keep those in a JSON artifact)."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        items = [Metric(str(k), float(v), stamp, step or 0) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(items), METRICS_PER_BATCH):
            self.client.log_batch(run, metrics=items[i:i + METRICS_PER_BATCH])

    def log_artifact(self, run: str, path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run, str(path), artifact_path)

    def log_artifacts(self, run: str, folder, artifact_path: str | None = None) -> None:
        """Every file under *folder*, under *artifact_path* of *run*."""
        self.client.log_artifacts(run, str(folder), artifact_path)

    def log_text(self, run: str, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / name
            target.write_text(text, encoding="utf-8")
            self.client.log_artifact(run, str(target))

    def set_tags(self, run: str, tags: dict) -> None:
        """*tags* (values as strings) in batches."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        for i in range(0, len(items), TAGS_PER_BATCH):
            self.client.log_batch(run, tags=items[i:i + TAGS_PER_BATCH])

    def end_run(self, run: str, status: str = "FINISHED", end_time: float | None = None) -> None:
        """End *run*; *end_time*: when its work ended [s since the epoch] (default: now)."""
        self.client.set_terminated(run, status=status,
                                   end_time=None if end_time is None else int(round(end_time * 1000)))

    # ------------------------------------------------------------------ locks
    @contextmanager
    def lock(self, key: str, *, timeout: float = 300.0, lease: float = 600.0):
        """Hold the store-wide lock *key* (e.g. a registered-model name) among Twinbench processes.

        * sqlite store: a file lock ``<db>.<key>.lock`` next to the database (released by the OS if the
          process dies);
        * server store: a registered model ``<key>.lock`` created for the duration (creating a registered
          model is atomic on the server: a second create fails), with owner and expiry in the tag
          ``twinbench.lock``; the holder re-reads it after creating it.  A lock whose lease (*lease* seconds)
          expired is taken as left by a dead process and removed.  Guarantee: mutual exclusion as long as a
          holder finishes within its lease; :meth:`StoreLock.check` (called before every write that needs the
          lock) raises :class:`StoreLockError` in a holder whose lock was taken over.

        Yields a :class:`StoreLock`; raises :class:`StoreLockError` after *timeout* seconds of waiting.
        """
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        if self.registry_uri.startswith(SQLITE):
            from filelock import FileLock, Timeout

            _ = self.client  # the store exists (its folder too)
            path = f"{self.registry_uri[len(SQLITE):]}.{safe}.lock"
            held = FileLock(path, timeout=timeout)
            try:
                held.acquire()
            except Timeout:
                raise StoreLockError(f"the lock {key!r} of {self.uri!r} ({path}) was not free within {timeout:g} s; "
                                     f"another Twinbench process holds it") from None
            try:
                yield StoreLock(key)
            finally:
                held.release()
            return
        name = f"{key}.lock"
        owner = self._acquire_model_lock(name, timeout, lease)
        try:
            yield StoreLock(key, lambda: self._check_model_lock(name, owner))
        finally:
            self._release_model_lock(name, owner)

    def _lock_holder(self, name: str) -> dict | None:
        from mlflow.exceptions import MlflowException

        try:
            return json.loads(self.client.get_registered_model(name).tags.get(LOCK) or "{}")
        except MlflowException:
            return None

    def _acquire_model_lock(self, name: str, timeout: float, lease: float) -> str:
        from mlflow.exceptions import MlflowException

        owner = uuid.uuid4().hex
        deadline, delay = time.monotonic() + timeout, 0.05
        while True:
            holder = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(),
                      "expires": time.time() + lease}
            try:
                self.client.create_registered_model(name, tags={LOCK: json.dumps(holder)},
                                                    description="Twinbench store lock (held while a job moves "
                                                                "registry aliases); removed when released")
                if (self._lock_holder(name) or {}).get("owner") == owner:  # re-read after the write
                    return owner
            except MlflowException as err:
                if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                    raise
                current = self._lock_holder(name)
                if current and float(current.get("expires", 0)) < time.time():
                    self._release_model_lock(name, current.get("owner"))  # left by a dead process
                    continue
            if time.monotonic() > deadline:
                raise StoreLockError(f"the lock {name!r} of {self.uri!r} was not free within {timeout:g} s (held by "
                                     f"{self._lock_holder(name)}); if that process is gone, delete the registered "
                                     f"model {name!r}")
            time.sleep(delay * (0.5 + random.random()))
            delay = min(2 * delay, 1.0)

    def _check_model_lock(self, name: str, owner: str) -> None:
        holder = self._lock_holder(name) or {}
        if holder.get("owner") != owner or float(holder.get("expires", 0)) < time.time():
            raise StoreLockError(f"the lock {name!r} of {self.uri!r} was lost (lease expired or taken over: "
                                 f"{holder}); nothing was written after the loss")

    def _release_model_lock(self, name: str, owner: str | None) -> None:
        from mlflow.exceptions import MlflowException

        if (self._lock_holder(name) or {}).get("owner") != owner:
            return
        try:
            self.client.delete_registered_model(name)
        except MlflowException:
            pass
