"""Trackers: where runs, parameters, metrics and artifacts go.

A tracker is an injected object chosen in config (``tracking=mlflow`` or
``tracking=none``).  Every call names its run explicitly (no "active run"
global state), so several runs can be open at once and parallel jobs do not
interfere.  MLflow is imported lazily: it costs seconds to import.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from sim.exceptions import ConfigurationError

__all__ = ["Tracker", "NullTracker", "MlflowTracker", "flatten", "absolute_store_uri", "git_commit"]


class Tracker(Protocol):
    def start_run(self, name: str, *, parent: str | None = None, tags: dict | None = None) -> str: ...
    def log_params(self, run: str, params: dict) -> None: ...
    def log_metrics(self, run: str, metrics: dict, step: int | None = None) -> None: ...
    def log_artifact(self, run: str, path, artifact_path: str | None = None) -> None: ...
    def log_text(self, run: str, text: str, name: str) -> None: ...
    def set_tags(self, run: str, tags: dict) -> None: ...
    def end_run(self, run: str, status: str = "FINISHED") -> None: ...


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the Twinbench checkout (a lineage tag), or "unknown" outside a git checkout."""
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

    def __init__(self, **_ignored):
        self._n = 0
        self.uri = None

    def start_run(self, name, *, parent=None, tags=None):
        self._n += 1
        return f"null-{self._n}"

    def log_params(self, run, params):
        pass

    def log_metrics(self, run, metrics, step=None):
        pass

    def log_artifact(self, run, path, artifact_path=None):
        pass

    def log_text(self, run, text, name):
        pass

    def set_tags(self, run, tags):
        pass

    def end_run(self, run, status="FINISHED"):
        pass

    def ui_command(self) -> str:
        return ""


def absolute_store_uri(uri: str, base: str | os.PathLike | None = None) -> str:
    """Make a relative ``sqlite:///rel/path.db`` absolute (against *base* or the working directory).

    Hydra may change the working directory of jobs; a relative sqlite URI would
    then create a new store inside every job directory.
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(base or os.getcwd()) / uri[len(prefix):]
        return prefix + str(path.resolve())
    return uri


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
    """

    def __init__(self, tracking_uri: str = "sqlite:///mlruns/mlflow.db", experiment: str = "twinbench",
                 artifact_location: str | None = None):
        if not experiment:
            raise ConfigurationError("tracking.experiment must be a non-empty name")
        self.uri = absolute_store_uri(tracking_uri)
        self.experiment = experiment
        self.artifact_location = artifact_location
        self._client = None
        self._experiment_id = None

    # ------------------------------------------------------------ connection
    @property
    def client(self):
        if self._client is None:
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            from mlflow.tracking import MlflowClient

            artifact = self.artifact_location
            if self.uri.startswith("sqlite:///"):
                db = Path(self.uri[len("sqlite:///"):])
                db.parent.mkdir(parents=True, exist_ok=True)
                if artifact is None:
                    artifact = (db.parent / "artifacts").resolve().as_uri()
            self._client = MlflowClient(tracking_uri=self.uri)
            try:
                exp = self._client.get_experiment_by_name(self.experiment)
            except Exception as err:  # noqa: BLE001 - report any backend failure the same way
                raise ConfigurationError(
                    f"cannot reach the MLflow tracking store {self.uri!r}: {err}. Check tracking.tracking_uri "
                    f"(a server must be running for http:// URIs), or run with tracking=none") from err
            if exp is None:
                self._experiment_id = self._client.create_experiment(self.experiment, artifact_location=artifact)
            else:
                self._experiment_id = exp.experiment_id
        return self._client

    def ui_command(self) -> str:
        return f"mlflow ui --backend-store-uri {self.uri}"

    # ------------------------------------------------------------------ runs
    def start_run(self, name: str, *, parent: str | None = None, tags: dict | None = None) -> str:
        client = self.client
        all_tags = {"mlflow.runName": name}
        if parent is not None:
            all_tags["mlflow.parentRunId"] = parent
        all_tags.update({k: str(v) for k, v in (tags or {}).items()})
        run = client.create_run(self._experiment_id, run_name=name, tags=all_tags)
        return run.info.run_id

    def log_params(self, run: str, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(str(k)[:250], str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run, params=items[i:i + 100])

    def log_metrics(self, run: str, metrics: dict, step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        items = [Metric(str(k), float(v), stamp, step or 0) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(items), 500):
            self.client.log_batch(run, metrics=items[i:i + 500])

    def log_artifact(self, run: str, path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run, str(path), artifact_path)

    def log_text(self, run: str, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / name
            target.write_text(text, encoding="utf-8")
            self.client.log_artifact(run, str(target))

    def set_tags(self, run: str, tags: dict) -> None:
        for key, value in tags.items():
            self.client.set_tag(run, key, str(value))

    def end_run(self, run: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run, status=status)
