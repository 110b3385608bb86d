"""The calibrated twin in MLflow's model registry, with ``champion`` / ``challenger`` aliases.

A registered version is an MLflow **pyfunc** model whose artifacts are the
:class:`~calibration.record.CalibrationRecord` (``record.json``) and what is
needed to rebuild the twin (``twin.json``: model name and version from
:data:`sim.physics.MODELS`, every parameter value, the initial states and the
integrator step).  ``predict`` takes a frame with a ``time`` column [s] and one
column per model input (SI) and returns the model outputs (SI) simulated with
the calibrated parameters; the initial states can be overridden per call
through the params ``x0.<state>``.  The files are logged under the
calibration run (``twin/<record_id>``) and registered as a version of
``twinbench.<plant>.<model>``, tagged with the record id, the data window, its
content hash and the git commit.

Life cycle (all through ``MlflowClient`` alias APIs, never the fluent API):

* the first registered version becomes ``champion``; every later one becomes
  ``challenger`` (replacing an unevaluated earlier challenger);
* :meth:`TwinRegistry.evaluate_challenger` runs champion and challenger in
  shadow on the *next* window (data after the challenger's calibration window)
  and promotes the challenger under a :class:`PromotionRule`: **better** means a
  weighted RMSE ``sqrt(mean_c (rmse_c / sigma_c)^2)`` over the measured output
  channels ``c`` (``sigma_c`` the channel's noise level) that is lower than the
  champion's by more than ``margin`` (default 2 %, relative).  Either way the
  ``challenger`` alias is removed and the decision is logged (run metrics, a
  JSON artifact, tags on the version);
* the versions that were champion are kept, in order, in the registered-model
  tag ``twinbench.champion_history``; :meth:`TwinRegistry.rollback` re-points
  ``champion`` to the one before.

Registering a record whose ``record_id`` is registered already returns that
version (a job re-run on the same data adds none).  Loading a version imports
``scenarios.tracking.registry`` (MLflow "models from code": nothing is pickled), so
Twinbench must be installed where a version is loaded.

How the main job calls it (``scenarios/job.py``, after the fit, inside the
calibration step).  The last run's challenger is evaluated first, on the part of
this window after its own window; then this calibration is registered::

    from scenarios.tracking.registry import register_calibration, registered_model_name, shadow_evaluate

    if getattr(tracker, "uri", None):  # NullTracker: no registry
        name = registered_model_name("bottling", MOTOR_THERMAL.spec.name)
        shadow = shadow_evaluate(tracker.uri, name, data, run_id=run)  # None: nothing to evaluate
        version = register_calibration(tracker.uri, run, record, plant="bottling",
                                       max_step=spec.calibrator.max_step, git_commit=spec.tags.get("git.commit"))

``tracking_uri`` is a ``sqlite:///<path>`` store (relative paths are made
absolute) or ``http(s)://host:port`` of an ``mlflow server``.  MLflow is
imported inside the functions: importing this module costs no MLflow import.
The alias updates are not transactional; run one registering job per model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.record import CalibrationRecord
from scenarios.tracking.tracker import absolute_store_uri
from sim.exceptions import ConfigurationError, ModelError, TwinbenchError
from sim.physics import MODELS
from sim.physics.integrators import RK4

__all__ = ["CHALLENGER", "CHAMPION", "CalibratedTwin", "LoadedTwin", "PromotionRule", "RegistryError",
           "ShadowResult", "TwinRegistry", "frame_of", "load_champion", "pyfunc_model", "register_calibration",
           "registered_model_name", "rollback", "shadow_evaluate"]

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "twinbench.champion_history"
TIME_COLUMN = "time"


class RegistryError(TwinbenchError):
    """The model registry cannot do what was asked (unreachable store, missing alias or version ...)."""


def registered_model_name(plant: str, model: str) -> str:
    """``twinbench.<plant>.<model>``, the registered-model name of one twin."""
    for what, value in (("plant", plant), ("model", model)):
        if not value or not all(ch.isalnum() or ch in "_-" for ch in value):
            raise ConfigurationError(f"{what} = {value!r} cannot be part of a registered-model name; "
                                     f"use letters, digits, '_' or '-'")
    return f"twinbench.{plant}.{model}"


# ----------------------------------------------------------------- the twin
@dataclass(frozen=True)
class CalibratedTwin:
    """A physics model with calibrated parameters: what one registered version predicts with.

    Parameters
    ----------
    record : CalibrationRecord
        Names the model (a key of :data:`sim.physics.MODELS`) and holds the parameter values [SI].
    x0 : dict
        Initial states [SI] by name; states not named start at the record's ``final_state``
        (the window end, where the twin continues), then at the spec default.
    max_step : float
        RK4 step [s], the one the calibration used.
    """

    record: CalibrationRecord
    x0: dict = field(default_factory=dict)
    max_step: float = 1.0

    def __post_init__(self):
        rec = self.record
        if rec.model not in MODELS:
            raise ConfigurationError(f"record.model = {rec.model!r} is not in sim.physics.MODELS {sorted(MODELS)}; "
                                     f"register records of library models only, or add the model to MODELS")
        spec = MODELS[rec.model].spec
        if rec.model_version != spec.version:
            raise ConfigurationError(
                f"record of {rec.model!r} version {rec.model_version!r} but this Twinbench has version "
                f"{spec.version!r}; recalibrate with this version or install the matching Twinbench")
        if not rec.parameters:
            raise ConfigurationError(f"record {rec.record_id} has no fitted parameters; register the record of a "
                                     f"fitted calibrator (calibrator.record_)")
        params = spec.vector("params", rec.values())
        spec.check_bounds(params[None])
        spec.check_finite("states", spec.vector("states", {**rec.final_state, **self.x0})[None])
        RK4(max_step=self.max_step)  # validates the step

    @property
    def model(self):
        return MODELS[self.record.model]

    def parameter_vector(self) -> np.ndarray:
        return self.model.spec.vector("params", self.record.values())

    def initial_state(self, override: dict | None = None) -> dict:
        """States [SI]: *override*, else ``x0``, else the record's final state, else the spec defaults."""
        spec = self.model.spec
        values = {**self.record.final_state, **self.x0, **(override or {})}
        return spec.as_dict("states", spec.vector("states", values))

    def predict(self, frame: pd.DataFrame, *, x0: dict | None = None) -> pd.DataFrame:
        """Model outputs [SI] at ``frame[time]`` [s] under the inputs in *frame*, from *x0* at the first time."""
        spec = self.model.spec
        needed = [TIME_COLUMN, *spec.names("inputs")]
        if not isinstance(frame, pd.DataFrame):
            raise ConfigurationError(f"model input must be a DataFrame with the columns {needed}, "
                                     f"got {type(frame).__name__}")
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ConfigurationError(f"model input lacks the columns {missing}; {spec.name} needs {needed} "
                                     f"(time [s], inputs in SI), got {list(frame.columns)}")
        from calibration.window import simulate_window  # the one way a calibrated window is simulated

        run = simulate_window(self.model, self.record, frame[needed], x0=self.initial_state(x0),
                              max_step=self.max_step, final_state=False)
        return run.frame(index=frame.index)

    def to_config(self) -> dict:
        return {"model": self.record.model, "model_version": self.record.model_version,
                "params": self.model.spec.as_dict("params", self.parameter_vector()),
                "x0": self.initial_state(), "integrator": {"name": "RK4", "max_step": self.max_step},
                "inputs": "zoh", "time_column": TIME_COLUMN}

    @classmethod
    def from_config(cls, record: CalibrationRecord, config: dict) -> "CalibratedTwin":
        """The twin of *record* with the initial state and integrator of a :meth:`to_config` dict."""
        if config.get("model") != record.model or config.get("integrator", {}).get("name") != "RK4":
            raise ConfigurationError(f"twin config {config} does not match record {record.record_id} of "
                                     f"{record.model!r} with an RK4 integrator; re-register the calibration")
        return cls(record, x0=config["x0"], max_step=float(config["integrator"]["max_step"]))

    @classmethod
    def from_files(cls, record_path, twin_path) -> "CalibratedTwin":
        config = json.loads(Path(twin_path).read_text(encoding="utf-8"))
        return cls.from_config(CalibrationRecord.from_json(str(record_path)), config)


def frame_of(data) -> pd.DataFrame:
    """The pyfunc input of a :class:`~calibration.data.CalibrationData` window: time [s] and inputs [SI]."""
    cols = {TIME_COLUMN: data.t, **{n: data.inputs[:, j] for j, n in enumerate(data.input_names)}}
    return pd.DataFrame(cols)


def pyfunc_model():
    """A ``mlflow.pyfunc.PythonModel`` that predicts the twin's outputs [SI] from time [s] and inputs [SI].

    Built on call, not at import: subclassing ``PythonModel`` needs ``import mlflow`` (seconds).  Versions
    are saved as MLflow "models from code" (a two-line script calling this), so nothing is pickled.
    """
    import mlflow.pyfunc

    class TwinPyfunc(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.twin = CalibratedTwin.from_files(context.artifacts["record"], context.artifacts["twin"])

        def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
            x0 = {k[3:]: float(v) for k, v in (params or {}).items() if k.startswith("x0.")}
            return self.twin.predict(model_input, x0=x0)

    return TwinPyfunc()


_MODEL_CODE = ("import mlflow.models\nfrom scenarios.tracking.registry import pyfunc_model\n"
               "mlflow.models.set_model(pyfunc_model())\n")


def _save_pyfunc(twin: CalibratedTwin, folder: Path) -> Path:
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    spec = twin.model.spec
    (folder / "files").mkdir(parents=True)
    record_path, twin_path = folder / "files" / "record.json", folder / "files" / "twin.json"
    twin.record.to_json(record_path)
    twin_path.write_text(json.dumps(twin.to_config(), indent=2, sort_keys=True), encoding="utf-8")
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", TIME_COLUMN)] + [ColSpec("double", n) for n in spec.names("inputs")]),
        outputs=Schema([ColSpec("double", n) for n in spec.names("outputs")]),
        params=ParamSchema([ParamSpec(f"x0.{k}", "double", v) for k, v in twin.initial_state().items()]))
    example = pd.DataFrame({TIME_COLUMN: [0.0, 60.0, 120.0],
                            **{v.name: [v.default] * 3 for v in spec.inputs}})
    target = folder / "model"
    code = folder / "files" / "twin_pyfunc.py"
    code.write_text(_MODEL_CODE, encoding="utf-8")
    # explicit requirements: MLflow would otherwise infer them by loading the model in a subprocess (seconds)
    import numba

    requirements = [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}",
                    f"numba=={numba.__version__}"]
    mlflow.pyfunc.save_model(str(target), python_model=str(code),
                             artifacts={"record": str(record_path), "twin": str(twin_path)}, signature=signature,
                             input_example=example, pip_requirements=requirements)
    return target


# ---------------------------------------------------------------- decisions
@dataclass(frozen=True)
class PromotionRule:
    """When a challenger predicts better than the champion.

    ``score = sqrt(mean_c (rmse_c / sigma_c)^2)`` over the measured output channels
    ``c``, with ``rmse_c`` over the samples at ``t >= t_start + burn_in_s`` and
    ``sigma_c`` from *noise_std*, else the challenger's then the champion's record
    (``metrics[c]["noise_std"]``), else 1 (SI unit of the channel).  The challenger
    is promoted iff its score is finite and ``< (1 - margin) * champion score``.

    Parameters
    ----------
    margin : float
        Relative improvement required, in [0, 1).
    burn_in_s : float
        Initial part of the window left out of the RMSE [s] (decay of a wrong initial state).
    noise_std : dict
        channel → noise level [SI].
    """

    margin: float = 0.02
    burn_in_s: float = 0.0
    noise_std: dict = field(default_factory=dict)

    def __post_init__(self):
        if not 0 <= self.margin < 1:
            raise ConfigurationError(f"PromotionRule margin = {self.margin} must lie in [0, 1) (a relative "
                                     f"improvement, e.g. 0.02 for 2 %)")
        if not self.burn_in_s >= 0:
            raise ConfigurationError(f"PromotionRule burn_in_s = {self.burn_in_s} must be >= 0 seconds")

    def sigma(self, channel: str, *records) -> float:
        if channel in self.noise_std:
            return float(self.noise_std[channel])
        for rec in records:
            value = rec.metrics.get(channel, {}).get("noise_std")
            if value is not None and math.isfinite(value) and value > 0:
                return float(value)
        return 1.0

    def score(self, rmse: dict, sigma: dict) -> float:
        return float(np.sqrt(np.mean([(rmse[c] / sigma[c]) ** 2 for c in rmse])))

    def promotes(self, challenger_score: float, champion_score: float) -> bool:
        return math.isfinite(challenger_score) and challenger_score < (1 - self.margin) * champion_score


@dataclass(frozen=True)
class ShadowResult:
    """Outcome of one shadow evaluation: per-channel RMSE [SI], weighted scores and the decision."""

    name: str
    champion: int
    challenger: int
    rmse: dict  # {"champion": {channel: rmse}, "challenger": {...}}
    scores: dict  # {"champion": score, "challenger": score}
    sigma: dict
    promoted: bool
    rule: PromotionRule
    window: dict
    run_id: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LoadedTwin:
    """One registered version: its MLflow ``ModelVersion``, the pyfunc model and the calibration record."""

    version: object
    pyfunc: object
    record: CalibrationRecord


# ------------------------------------------------------------------ registry
class TwinRegistry:
    """One registered twin model (``twinbench.<plant>.<model>``) in an MLflow registry.

    Parameters
    ----------
    tracking_uri : str
        ``sqlite:///<path>`` or ``http(s)://host:port`` of an ``mlflow server``.
    name : str
        Registered-model name, see :func:`registered_model_name`.
    registry_uri : str, optional
        Registry store when it differs from the tracking store.
    """

    def __init__(self, tracking_uri: str, name: str, *, registry_uri: str | None = None):
        self.tracking_uri = tracking_uri
        self.name = name
        self.registry_uri = registry_uri
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = _connect(self.tracking_uri, self.registry_uri)
        return self._client

    # -------------------------------------------------------------- register
    def register(self, run_id: str, record: CalibrationRecord, *, x0: dict | None = None, max_step: float = 1.0,
                 git_commit: str | None = None):
        """Log *record* as a pyfunc model under *run_id* and register it as a new version.

        The first version becomes ``champion``, later ones ``challenger``.  A record whose ``record_id`` is
        registered already returns that version unchanged.  Returns the ``ModelVersion``.
        """
        from mlflow.exceptions import MlflowException

        twin = CalibratedTwin(record, x0=dict(x0 or {}), max_step=max_step)
        if self.name.startswith("twinbench.") and self.name.rsplit(".", 1)[-1] != record.model:
            raise ConfigurationError(f"registered model {self.name!r} holds another model than the record's "
                                     f"{record.model!r}; register it as twinbench.<plant>.{record.model}")
        client = self.client
        same = self._versions(f"tags.`twinbench.record_id` = '{record.record_id}'")
        if same:  # re-running a job on the same data adds no version
            return client.get_model_version(self.name, str(max(int(v.version) for v in same)))
        try:
            run = client.get_run(run_id)
        except MlflowException as err:
            raise RegistryError(f"run {run_id!r} does not exist in {client.tracking_uri}: {err.message}; pass the id "
                                f"of the calibration run (tracker.start_run(...) returns it)") from None
        path = f"twin/{record.record_id}"
        with tempfile.TemporaryDirectory() as tmp:
            client.log_artifacts(run_id, str(_save_pyfunc(twin, Path(tmp))), path)
        try:
            client.create_registered_model(self.name, description=f"Calibrated {record.model} twin (Twinbench)")
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        commit = git_commit or run.data.tags.get("mlflow.source.git.commit", "")
        win = record.window
        tags = {"twinbench.record_id": record.record_id, "twinbench.model": f"{record.model}=={record.model_version}",
                "window.start": win.get("start", ""), "window.end": win.get("end", ""),
                "window.content_hash": win.get("content_hash", ""), "window.source_hash": win.get("source_hash", ""),
                "git_commit": commit, "twinbench.artifact_path": path}
        mv = client.create_model_version(self.name, f"runs:/{run_id}/{path}", run_id=run_id, tags=tags,
                                         description=f"record {record.record_id}: window {win.get('start')} .. "
                                                     f"{win.get('end')}")
        if self._alias(CHAMPION) is None:
            self._set_champion(mv.version)
        else:
            client.set_registered_model_alias(self.name, CHALLENGER, mv.version)
        return client.get_model_version(self.name, mv.version)

    # ------------------------------------------------------------------ read
    def version(self, which="champion"):
        """The ``ModelVersion`` of an alias (``"champion"``) or a version number."""
        from mlflow.exceptions import MlflowException

        is_alias = isinstance(which, str) and not which.isdigit()
        try:
            if is_alias:
                return self.client.get_model_version_by_alias(self.name, which)
            return self.client.get_model_version(self.name, str(which))
        except MlflowException:
            raise RegistryError(f"registered model {self.name!r} has no {'alias' if is_alias else 'version'} "
                                f"{which!r} ({self._known()}); register a calibration first "
                                f"(register_calibration) or pick an existing alias or version") from None

    def load(self, which="champion") -> LoadedTwin:
        """Download and load a version (alias or number): the pyfunc model and its calibration record."""
        import mlflow.pyfunc

        mv = self.version(which)
        path = mv.tags.get("twinbench.artifact_path") or mv.source.split(f"runs:/{mv.run_id}/", 1)[-1]
        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(mv.run_id, path, tmp)
            model = mlflow.pyfunc.load_model(local)
            record = CalibrationRecord.from_json(str(Path(local) / "artifacts" / "record.json"))
        return LoadedTwin(mv, model, record)

    def champion_history(self) -> list[int]:
        """Versions that were champion, oldest first (the last is the current champion)."""
        tags = self.client.get_registered_model(self.name).tags
        return [int(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]

    # ------------------------------------------------------------- decisions
    def evaluate_challenger(self, data, *, rule: PromotionRule | None = None, x0: dict | None = None,
                            run_id: str | None = None) -> ShadowResult:
        """Run champion and challenger in shadow on *data* (a ``CalibrationData`` window after the
        challenger's calibration window); promote the challenger if *rule* says it predicts better.

        Both start from the same state: *x0*, else the measured states at the window start, else the
        challenger's registered initial state.  The comparison goes to *run_id* (or a new ``shadow`` run
        in the challenger's experiment) as metrics ``shadow.<role>.<channel>.rmse``, ``shadow.<role>.score``,
        ``shadow.promoted`` and the artifact ``shadow/v<challenger>.json``.
        """
        rule = rule or PromotionRule()
        champ, chall = self.load(CHAMPION), self.load(CHALLENGER)
        end = chall.record.window.get("end")
        if end is not None and not data.start > pd.Timestamp(end):
            raise ConfigurationError(
                f"the shadow window starts at {data.start}, inside the challenger's (version "
                f"{chall.version.version}) calibration window ending {end}; evaluate on data after {end}")
        spec = MODELS[chall.record.model].spec
        channels = [c for c in data.output_names if c in spec.names("outputs")]
        if not channels:
            raise ConfigurationError(f"the window measures none of the outputs {spec.names('outputs')} of "
                                     f"{spec.name}; include at least one (got {list(data.output_names)})")
        start = {n: float(data.outputs[0, j]) for j, n in enumerate(data.output_names)
                 if n in spec.names("states") and np.isfinite(data.outputs[0, j])}
        common = chall.pyfunc.unwrap_python_model().twin.initial_state({**start, **(x0 or {})})
        params = {f"x0.{k}": v for k, v in common.items()}
        rmse = {role: _shadow_rmse(loaded.pyfunc, params, data, channels, rule.burn_in_s)
                for role, loaded in (("champion", champ), ("challenger", chall))}
        sigma = {c: rule.sigma(c, chall.record, champ.record) for c in channels}
        scores = {role: rule.score(rmse[role], sigma) for role in rmse}
        promoted = rule.promotes(scores["challenger"], scores["champion"])
        window = {"start": str(data.start), "end": str(data.end), "content_hash": data.content_hash, "x0": common}
        result = ShadowResult(self.name, int(champ.version.version), int(chall.version.version), rmse, scores, sigma,
                              promoted, rule, window, self._log_shadow(run_id, chall.version, rmse, scores, promoted))
        decision = "promoted" if result.promoted else "rejected"
        tags = {"shadow.decision": decision, "shadow.champion_version": result.champion,
                "shadow.window_hash": data.content_hash}
        self._write_run(result.run_id, tags, result.to_dict(), f"v{result.challenger}.json")
        for key, value in {**tags, "shadow.score": scores["challenger"], "shadow.champion_score": scores["champion"],
                           "shadow.run_id": result.run_id}.items():
            self.client.set_model_version_tag(self.name, str(result.challenger), key, str(value))
        self.client.delete_registered_model_alias(self.name, CHALLENGER)
        if result.promoted:
            self._set_champion(result.challenger)
        return result

    def promote(self, version) -> object:
        """Make *version* the champion by hand (recorded in the champion history)."""
        mv = self.version(int(version))
        if (cur := self._alias(CHALLENGER)) is not None and cur == str(mv.version):
            self.client.delete_registered_model_alias(self.name, CHALLENGER)
        self._set_champion(mv.version)
        return self.version(CHAMPION)

    def rollback(self):
        """Re-point ``champion`` to the previous champion; returns its ``ModelVersion``."""
        history = self.champion_history()
        current = self._alias(CHAMPION)
        if current is None or not history or int(current) != history[-1]:
            raise RegistryError(f"the champion of {self.name!r} is version {current}, but the champion history "
                                f"{history} ends elsewhere: it was moved outside Twinbench; set it with "
                                f"TwinRegistry.promote(version)")
        if len(history) < 2:
            raise RegistryError(f"{self.name!r} has had one champion only (version {current}); there is no "
                                f"previous champion to roll back to")
        self.client.set_registered_model_alias(self.name, CHAMPION, str(history[-2]))
        self.client.set_model_version_tag(self.name, str(current), "twinbench.rolled_back", "true")
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history[:-1]))
        return self.version(CHAMPION)

    # --------------------------------------------------------------- helpers
    def _alias(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, alias).version)
        except MlflowException:
            return None

    def _known(self) -> str:
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException:
            return "the registered model does not exist"
        aliases = {k: int(v) for k, v in sorted((model.aliases or {}).items())}
        return f"aliases {aliases}, versions {sorted(int(v.version) for v in self._versions())}"

    def _versions(self, condition: str = "") -> list:
        query = f"name = '{self.name}'" + (f" and {condition}" if condition else "")
        return list(self.client.search_model_versions(query))

    def _set_champion(self, version) -> None:
        history = self.champion_history() + [int(version)]
        self.client.set_registered_model_alias(self.name, CHAMPION, str(version))
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history[-200:]))

    def _log_shadow(self, run_id, challenger, rmse, scores, promoted) -> str:
        """Metrics of the comparison on *run_id*, or on a new ``shadow`` run next to the challenger's run."""
        import time

        from mlflow.entities import Metric

        client = self.client
        own = run_id is None
        if own:
            exp = client.get_run(challenger.run_id).info.experiment_id
            run_id = client.create_run(exp, run_name=f"shadow:{self.name}:v{challenger.version}",
                                       tags={"twinbench.role": "shadow"}).info.run_id
        metrics = {f"shadow.{role}.{c}.rmse": v for role, per in rmse.items() for c, v in per.items()}
        metrics.update({f"shadow.{role}.score": s for role, s in scores.items()})
        metrics["shadow.promoted"] = float(promoted)
        stamp = int(time.time() * 1000)
        # MLflow stores no infinite values: a candidate that failed to simulate shows in the JSON artifact only
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items() if math.isfinite(v)])
        if own:
            client.set_terminated(run_id, "FINISHED")
        return run_id

    def _write_run(self, run_id, tags, payload, name) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float), encoding="utf-8")
            self.client.log_artifact(run_id, str(path), "shadow")


def _shadow_rmse(pyfunc, params, data, channels, burn_in_s) -> dict:
    """RMSE [SI] per channel of a pyfunc's predictions on *data* after the burn-in; inf if it cannot simulate."""
    try:
        y = pyfunc.predict(frame_of(data), params=params)
    except ModelError:
        return {c: math.inf for c in channels}
    out = {}
    keep = data.t >= data.t[0] + burn_in_s
    for c in channels:
        meas = data.outputs[:, list(data.output_names).index(c)]
        ok = keep & np.isfinite(meas)
        if not ok.any():
            raise ConfigurationError(f"channel {c!r} has no finite measurement after the burn-in of {burn_in_s} s; "
                                     f"shorten PromotionRule.burn_in_s or evaluate on a longer window")
        out[c] = float(np.sqrt(np.mean((y[c].to_numpy()[ok] - meas[ok]) ** 2)))
    return out


def _connect(tracking_uri: str, registry_uri: str | None):
    """An ``MlflowClient`` on *tracking_uri*; a server URI is checked first (MLflow itself retries for minutes)."""
    uri = absolute_store_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5.0) as response:
                response.read()
        except (urllib.error.URLError, OSError) as err:
            raise RegistryError(
                f"cannot reach the MLflow tracking server {uri!r} ({err}); start it (mlflow server --host "
                f"127.0.0.1 --port PORT --backend-store-uri sqlite:///<abs path>.db) or use a local store "
                f"'sqlite:///<abs path>.db'") from None
    elif uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bars in job logs
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=registry_uri or uri)
        client.search_registered_models(max_results=1)
    except Exception as err:  # noqa: BLE001 - any backend failure means the same to the caller
        raise RegistryError(f"cannot open the MLflow model registry at {registry_uri or uri!r}: {err}; use a "
                            f"'sqlite:///<abs path>.db' store or a running 'mlflow server' URI") from None
    return client


# ----------------------------------------------------------- job functions
def register_calibration(tracking_uri: str, run_id: str, record: CalibrationRecord, *, plant: str = "bottling",
                         x0: dict | None = None, max_step: float = 1.0, git_commit: str | None = None):
    """Register *record* (logged under the calibration run *run_id*) as a version of
    ``twinbench.<plant>.<record.model>``; the first becomes ``champion``, later ones ``challenger``."""
    name = registered_model_name(plant, record.model)
    return TwinRegistry(tracking_uri, name).register(run_id, record, x0=x0, max_step=max_step, git_commit=git_commit)


def shadow_evaluate(tracking_uri: str, name: str, data, *, rule: PromotionRule | None = None,
                    x0: dict | None = None, run_id: str | None = None) -> ShadowResult | None:
    """Evaluate the challenger of *name* on the part of *data* after its calibration window
    (see :meth:`TwinRegistry.evaluate_challenger`).

    Returns None when there is nothing to evaluate: no challenger, or fewer than two samples of *data*
    after the challenger's window (a job re-run on the same telemetry).
    """
    registry = TwinRegistry(tracking_uri, name)
    if registry._alias(CHALLENGER) is None:
        return None
    end = registry.version(CHALLENGER).tags.get("window.end")
    data = _after(data, pd.Timestamp(end)) if end else data
    return None if data is None else registry.evaluate_challenger(data, rule=rule, x0=x0, run_id=run_id)


def _after(data, end: pd.Timestamp):
    """The samples of a ``CalibrationData`` window after *end* (times restarting at 0), or None if < 2."""
    stamps = data.start + pd.to_timedelta(data.t, unit="s")
    idx = np.flatnonzero(stamps > end)
    if idx.size < 2:
        return None
    if idx.size == data.t.size:
        return data
    from calibration.continuous import slice_window

    return slice_window(data, float(data.t[idx[0]]), float(data.t[-1]))


def rollback(tracking_uri: str, name: str):
    """Re-point the champion of *name* to the previous one; returns its ``ModelVersion``."""
    return TwinRegistry(tracking_uri, name).rollback()


def load_champion(tracking_uri: str, name: str) -> LoadedTwin:
    """The champion of *name*: ``.pyfunc`` (an MLflow ``PyFuncModel``), ``.record``, ``.version``."""
    return TwinRegistry(tracking_uri, name).load(CHAMPION)
