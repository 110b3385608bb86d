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
``twinbench.<plant>.<model>``, tagged (:mod:`scenarios.tracking.lineage`) with the record id, the data
window, its data hash, the telemetry file hash, the git commit and the sha256 of the files.

Life cycle (all through the tracker's ``MlflowClient``, never the fluent API):

* the first registered version becomes ``champion``; every later one becomes
  ``challenger`` (an undecided earlier challenger is tagged ``superseded``);
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

**Concurrency.**  Several jobs may register and evaluate against one store at once.  Every write that
depends on what it read (a new version, an alias move, the champion history, a decision) happens under the
tracker's lock of the registered model, after re-reading: a record id is registered once; an alias moves only
if it still points where the evaluation read it (compare-and-set; otherwise the result is ``stale`` and
nothing moves); a challenger is decided once.  So every champion after the first was evaluated against the
champion it replaced.  The simulation itself runs outside the lock.

**Trust.**  Loading a version never imports or runs code from the store: the twin is rebuilt from the
checked JSON files (:mod:`scenarios.tracking.integrity`).  A version that fails the checks raises
:class:`RegistryIntegrityError`; in a shadow evaluation it is recorded (``shadow.decision = failed``,
``shadow.error``), the challenger is dropped and the job goes on.

How the main job calls it (``scenarios/job.py``, after the fit, inside the calibration step).  The last
run's challenger is evaluated first, on the part of this window after its own window; then this calibration
is registered::

    from scenarios.tracking.registry import register_calibration, registered_model_name, shadow_evaluate

    if tracker.client is not None:  # NullTracker: no registry
        name = registered_model_name("bottling", MOTOR_THERMAL.spec.name)
        shadow = shadow_evaluate(tracker, name, data, run_id=run)  # None: nothing to evaluate
        version = register_calibration(tracker, run, record, plant="bottling",
                                       max_step=spec.calibrator.max_step, git_commit=spec.tags.get("git.commit"))

*tracker* is an :class:`~scenarios.tracking.tracker.MlflowTracker` (a tracking URI string is still accepted).
MLflow is imported inside the functions: importing this module costs no MLflow import.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.record import CalibrationRecord
from scenarios.tracking.integrity import (CHECKED_FILES, CODE_FILE, MODEL_CODE, RECORD_FILE, TWIN_FILE,
                                          RegistryError, RegistryIntegrityError, check_files, check_record,
                                          check_twin_config, file_hashes)
from scenarios.tracking.lineage import (ARTIFACT_PATH, ARTIFACT_SHA256, CALIBRATION_DATA_HASH, CALIBRATION_RECORD_ID,
                                        CHAMPION_HISTORY, GIT_COMMIT, MODEL, ROLE, ROLLED_BACK, SHADOW_CHAMPION_SCORE,
                                        SHADOW_CHAMPION_VERSION, SHADOW_DATA_HASH, SHADOW_DECISION, SHADOW_ERROR,
                                        SHADOW_RUN_ID, SHADOW_SCORE, SHADOW_SUPERSEDED_BY, TELEMETRY_CONTENT_HASH,
                                        WINDOW_END, WINDOW_START)
from scenarios.tracking.shadow import TIME_COLUMN, PromotionRule, ShadowResult, frame_of, shadow_rmse
from scenarios.tracking.tracker import StoreLockError, as_tracker
from scenarios.tracking.tracker import git_commit as git_commit_of_checkout
from sim.exceptions import ConfigurationError, ModelError, TwinbenchError
from sim.physics import MODELS
from sim.physics.integrators import RK4

__all__ = ["CHALLENGER", "CHAMPION", "CalibratedTwin", "LoadedTwin", "PromotionRule", "RegistryError",
           "RegistryIntegrityError", "ShadowResult", "TwinRegistry", "frame_of", "load_champion", "pyfunc_model",
           "register_calibration", "registered_model_name", "rollback", "shadow_evaluate"]

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = CHAMPION_HISTORY
_MODEL_CODE = MODEL_CODE  # (the name before integrity.py)


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


def pyfunc_model():
    """A ``mlflow.pyfunc.PythonModel`` that predicts the twin's outputs [SI] from time [s] and inputs [SI].

    For MLflow users outside Twinbench (``mlflow.pyfunc.load_model``, ``mlflow models serve``): Twinbench
    itself never loads a version through MLflow (see :mod:`scenarios.tracking.integrity`).  Built on call, not
    at import: subclassing ``PythonModel`` needs ``import mlflow`` (seconds).
    """
    import mlflow.pyfunc

    class TwinPyfunc(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.twin = CalibratedTwin.from_files(context.artifacts["record"], context.artifacts["twin"])

        def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
            x0 = {k[3:]: float(v) for k, v in (params or {}).items() if k.startswith("x0.")}
            return self.twin.predict(model_input, x0=x0)

    return TwinPyfunc()


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
    target = folder / "model"
    code = folder / "files" / CODE_FILE
    code.write_text(MODEL_CODE, encoding="utf-8")
    # explicit requirements: MLflow would otherwise infer them by loading the model in a subprocess (seconds)
    import numba

    requirements = [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}",
                    f"numba=={numba.__version__}"]
    with warnings.catch_warnings():  # no input example: MLflow would load (run) the model to check it
        warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
        mlflow.pyfunc.save_model(str(target), python_model=str(code),
                                 artifacts={"record": str(record_path), "twin": str(twin_path)}, signature=signature,
                                 pip_requirements=requirements)
    return target


@dataclass(frozen=True)
class LoadedTwin:
    """One registered version: its MLflow ``ModelVersion``, the checked calibration record and the twin rebuilt
    from data.  ``predict(frame, params={"x0.<state>": value})`` has the signature of the pyfunc model."""

    version: object
    twin: CalibratedTwin
    record: CalibrationRecord

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        x0 = {k[3:]: float(v) for k, v in (params or {}).items() if k.startswith("x0.")}
        return self.twin.predict(model_input, x0=x0)

    @property
    def pyfunc(self) -> "LoadedTwin":
        """This object (it predicts like the pyfunc model; kept for callers of the pyfunc-based loader)."""
        return self


# ------------------------------------------------------------------ registry
class TwinRegistry:
    """One registered twin model (``twinbench.<plant>.<model>``) in the tracker's MLflow registry.

    Every change of aliases, of the champion history and every new version happens under the tracker's
    lock of this registered model (:meth:`~scenarios.tracking.tracker.MlflowTracker.lock`), after re-reading
    what it depends on: an alias moves only if it still points where the decision was made (compare-and-set),
    a record id is registered once, a challenger is decided once.

    Parameters
    ----------
    tracker : MlflowTracker
        The store (the tracker owns the MLflow client).  A tracking URI is accepted too (a tracker on it is
        made, experiment ``twinbench``), for older callers.
    name : str
        Registered-model name, see :func:`registered_model_name`.
    """

    def __init__(self, tracker, name: str):
        self.tracker = as_tracker(tracker)
        self.name = name
        self._checked = False

    @property
    def tracking_uri(self) -> str:
        return self.tracker.uri

    @property
    def client(self):
        client = self.tracker.client
        if not self._checked:
            try:
                client.search_registered_models(max_results=1)
            except Exception as err:  # noqa: BLE001 - any backend failure means the same to the caller
                raise RegistryError(f"cannot open the MLflow model registry at {self.tracker.registry_uri!r}: {err}; "
                                    f"use a 'sqlite:///<abs path>.db' store or a running 'mlflow server'") from None
            self._checked = True
        return client

    # -------------------------------------------------------------- register
    def register(self, run_id: str, record: CalibrationRecord, *, x0: dict | None = None, max_step: float = 1.0,
                 git_commit: str | None = None):
        """Log *record* as a pyfunc model under *run_id* and register it as a new version.

        The first version becomes ``champion``; a later one becomes ``challenger`` (an undecided earlier
        challenger is tagged ``shadow.decision = superseded``).  A record whose id is registered already returns
        that version unchanged, also when two jobs register it at once.  Returns the ``ModelVersion``.
        """
        from mlflow.exceptions import MlflowException

        twin = CalibratedTwin(record, x0=dict(x0 or {}), max_step=max_step)
        if self.name.startswith("twinbench.") and self.name.rsplit(".", 1)[-1] != record.model:
            raise ConfigurationError(f"registered model {self.name!r} holds another model than the record's "
                                     f"{record.model!r}; register it as twinbench.<plant>.{record.model}")
        client = self.client
        same = self._by_record(record.record_id)
        if same is not None:  # re-running a job on the same data adds no version
            return same
        try:
            run = client.get_run(run_id)
        except MlflowException as err:
            raise RegistryError(f"run {run_id!r} does not exist in {self.tracker.uri}: {err.message}; pass the id "
                                f"of the calibration run (tracker.start_run(...) returns it)") from None
        path = f"twin/{record.record_id}"
        with tempfile.TemporaryDirectory() as tmp:
            folder = _save_pyfunc(twin, Path(tmp))
            hashes = file_hashes(folder)
            self.tracker.log_artifacts(run_id, folder, path)
        win = record.window
        tags = {CALIBRATION_RECORD_ID: record.record_id, MODEL: f"{record.model}=={record.model_version}",
                WINDOW_START: win.get("start", ""), WINDOW_END: win.get("end", ""),
                CALIBRATION_DATA_HASH: win.get("content_hash", ""),
                TELEMETRY_CONTENT_HASH: win.get("source_hash", ""),
                GIT_COMMIT: git_commit or run.data.tags.get(GIT_COMMIT) or git_commit_of_checkout(),
                ARTIFACT_PATH: path, ARTIFACT_SHA256: json.dumps(hashes, sort_keys=True)}
        with self.tracker.lock(self.name) as held:
            same = self._by_record(record.record_id)  # registered by another job since the first look
            if same is not None:
                return same
            try:
                client.create_registered_model(self.name, description=f"Calibrated {record.model} twin (Twinbench)")
            except MlflowException as err:
                if err.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            held.check()
            mv = client.create_model_version(self.name, f"runs:/{run_id}/{path}", run_id=run_id, tags=tags,
                                             description=f"record {record.record_id}: window {win.get('start')} .. "
                                                         f"{win.get('end')}")
            if self._alias(CHAMPION) is None:
                self._set_champion(mv.version)
            else:
                old = self._alias(CHALLENGER)
                if old is not None and not self._decision(old):
                    client.set_model_version_tag(self.name, old, SHADOW_DECISION, "superseded")
                    client.set_model_version_tag(self.name, old, SHADOW_SUPERSEDED_BY, str(mv.version))
                client.set_registered_model_alias(self.name, CHALLENGER, str(mv.version))
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
        """A version (alias or number) rebuilt from its checked DATA files; no stored code is imported or run.

        Raises :class:`RegistryIntegrityError` when the files fail the checks of
        :mod:`scenarios.tracking.integrity` (tampered, corrupt or of another model version).
        """
        mv = self.version(which)
        where = f"{self.name!r} version {mv.version}"
        path = mv.tags.get(ARTIFACT_PATH) or mv.source.split(f"runs:/{mv.run_id}/", 1)[-1]
        files = {}
        with tempfile.TemporaryDirectory() as tmp:
            for rel in CHECKED_FILES:
                try:
                    local = self.client.download_artifacts(mv.run_id, f"{path}/{rel}", tmp)
                except Exception as err:  # noqa: BLE001 - a missing file is a broken version
                    raise RegistryIntegrityError(f"{where}: {path}/{rel} cannot be read from the store ({err})") \
                        from None
                files[rel] = Path(local).read_bytes()
        check_files(self.name, mv.version, files, mv.tags.get(ARTIFACT_SHA256))
        try:
            record = check_record(where, json.loads(files[RECORD_FILE]), mv.tags.get(CALIBRATION_RECORD_ID))
            if record.model not in MODELS:
                raise ConfigurationError(f"record.model {record.model!r} is not in sim.physics.MODELS")
            config = check_twin_config(where, json.loads(files[TWIN_FILE]), MODELS[record.model].spec)
            twin = CalibratedTwin.from_config(record, config)
        except (ValueError, ConfigurationError, ModelError) as err:  # (json errors are ValueErrors)
            if isinstance(err, RegistryIntegrityError):
                raise
            raise RegistryIntegrityError(f"{where}: the stored twin does not pass the schema check: {err}") from None
        return LoadedTwin(mv, twin, record)

    def champion_history(self) -> list[int]:
        """Versions that were champion, oldest first (the last is the current champion)."""
        tags = self.client.get_registered_model(self.name).tags
        return [int(v) for v in json.loads(tags.get(CHAMPION_HISTORY, "[]"))]

    # ------------------------------------------------------------- decisions
    def evaluate_challenger(self, data, *, rule: PromotionRule | None = None, x0: dict | None = None,
                            run_id: str | None = None) -> ShadowResult:
        """Run champion and challenger in shadow on *data* (a ``CalibrationData`` window after the
        challenger's calibration window); promote the challenger if *rule* says it predicts better.

        Both start from the same state: *x0*, else the measured states at the window start, else the
        challenger's registered initial state.  The comparison goes to *run_id* (or a new ``shadow`` run)
        as metrics ``shadow.<role>.<channel>.rmse``, ``shadow.<role>.score``, ``shadow.promoted`` and the
        artifact ``shadow/v<challenger>.json``.

        The aliases are read once; the decision is applied under the lock only if both still point where
        they were read and the challenger is undecided, else the result says ``decision == "stale"`` and
        nothing moves.  A version that fails to load (:class:`RegistryIntegrityError`) makes the decision
        ``failed``: recorded (tags ``shadow.decision``, ``shadow.error``), challenger alias removed, no error
        raised.
        """
        champion, challenger = self._alias(CHAMPION), self._alias(CHALLENGER)
        if champion is None or challenger is None:
            raise RegistryError(f"registered model {self.name!r} has no champion and challenger to compare "
                                f"({self._known()}); register two calibrations first")
        end = self._window_end(challenger)
        if end is not None and not data.start > end:
            raise ConfigurationError(
                f"the shadow window starts at {data.start}, inside the challenger's (version {challenger}) "
                f"calibration window ending {end}; evaluate on data after {end}")
        return self._evaluate(champion, challenger, data, rule or PromotionRule(), x0, run_id)

    def _evaluate(self, champion: str, challenger: str, data, rule, x0, run_id) -> ShadowResult:
        """Score both versions on *data* and commit the decision; a version that cannot be loaded or scored
        (any Twinbench error: integrity, schema, a window without the model's outputs) makes it ``failed``."""
        window = {"start": str(data.start), "end": str(data.end), "content_hash": data.content_hash}
        try:
            result = self._score(champion, challenger, data, rule, x0, window)
        except TwinbenchError as err:
            nan = {"champion": math.nan, "challenger": math.nan}
            result = ShadowResult(self.name, int(champion), int(challenger), {}, nan, {}, False, rule, window,
                                  run_id or "", "failed", f"{type(err).__name__}: {err}")
        return self._commit(result, data, run_id)

    def _score(self, champion: str, challenger: str, data, rule, x0, window) -> ShadowResult:
        champ, chall = self.load(champion), self.load(challenger)
        spec = chall.twin.model.spec
        channels = [c for c in data.output_names if c in spec.names("outputs")]
        if not channels:
            raise ConfigurationError(f"the window measures none of the outputs {spec.names('outputs')} of "
                                     f"{spec.name}; include at least one (got {list(data.output_names)})")
        start = {n: float(data.outputs[0, j]) for j, n in enumerate(data.output_names)
                 if n in spec.names("states") and np.isfinite(data.outputs[0, j])}
        common = chall.twin.initial_state({**start, **(x0 or {})})
        rmse = {role: shadow_rmse(loaded.twin, common, data, channels, rule.burn_in_s)
                for role, loaded in (("champion", champ), ("challenger", chall))}
        sigma = {c: rule.sigma(c, chall.record, champ.record) for c in channels}
        scores = {role: rule.score(rmse[role], sigma) for role in rmse}
        promoted = rule.promotes(scores["challenger"], scores["champion"])
        return ShadowResult(self.name, int(champion), int(challenger), rmse, scores, sigma, promoted, rule,
                            {**window, "x0": common}, "", "promoted" if promoted else "rejected")

    def _commit(self, result: ShadowResult, data, run_id) -> ShadowResult:
        """Log *result* to its run, then apply it under the lock if the aliases are still where it was made."""
        own = run_id is None
        if own:
            run_id = self.tracker.start_run(f"shadow:{self.name}:v{result.challenger}", tags={ROLE: "shadow"})
        metrics = {f"shadow.{role}.{c}.rmse": v for role, per in result.rmse.items() for c, v in per.items()}
        metrics.update({f"shadow.{role}.score": s for role, s in result.scores.items()})
        metrics["shadow.promoted"] = float(result.promoted)
        self.tracker.log_metrics(run_id, metrics)  # (a twin that failed to simulate shows in the JSON only)
        decision, error = result.decision, result.error
        try:
            decision = self._apply(result, data, run_id)
        except StoreLockError as err:  # nothing was moved: the next job evaluates this challenger
            decision, error = "stale", f"StoreLockError: {err}"
        result = dataclasses.replace(result, run_id=run_id, decision=decision, error=error,
                                     promoted=decision == "promoted")
        run_tags = {SHADOW_DECISION: decision, SHADOW_CHAMPION_VERSION: result.champion,
                    SHADOW_DATA_HASH: data.content_hash}
        if result.error:
            run_tags[SHADOW_ERROR] = result.error[:5000]
        self.tracker.set_tags(run_id, run_tags)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"v{result.challenger}.json"
            path.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=float), encoding="utf-8")
            self.tracker.log_artifact(run_id, path, "shadow")
        if own:
            self.tracker.end_run(run_id)
        return result

    def _apply(self, result: ShadowResult, data, run_id) -> str:
        """The decision of *result* applied under the lock if the aliases are where it read them; else "stale"."""
        decision = result.decision
        with self.tracker.lock(self.name) as held:
            if (self._alias(CHAMPION), self._alias(CHALLENGER)) != (str(result.champion), str(result.challenger)) \
                    or self._decision(result.challenger):
                decision = "stale"  # another job decided (or moved the aliases) since they were read
            else:
                held.check()
                tags = {SHADOW_DECISION: decision, SHADOW_CHAMPION_VERSION: result.champion,
                        SHADOW_DATA_HASH: data.content_hash, SHADOW_RUN_ID: run_id}
                if result.error:
                    tags[SHADOW_ERROR] = result.error[:5000]
                else:
                    tags.update({SHADOW_SCORE: result.scores["challenger"],
                                 SHADOW_CHAMPION_SCORE: result.scores["champion"]})
                for key, value in tags.items():
                    self.client.set_model_version_tag(self.name, str(result.challenger), key, str(value))
                self.client.delete_registered_model_alias(self.name, CHALLENGER)
                if decision == "promoted":
                    self._set_champion(result.challenger)
        return decision

    def promote(self, version) -> object:
        """Make *version* the champion by hand (recorded in the champion history)."""
        mv = self.version(int(version))
        with self.tracker.lock(self.name):
            if self._alias(CHALLENGER) == str(mv.version):
                self.client.delete_registered_model_alias(self.name, CHALLENGER)
            self._set_champion(mv.version)
        return self.version(CHAMPION)

    def rollback(self):
        """Re-point ``champion`` to the previous champion; returns its ``ModelVersion``."""
        with self.tracker.lock(self.name):
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
            self.client.set_model_version_tag(self.name, str(current), ROLLED_BACK, "true")
            self.client.set_registered_model_tag(self.name, CHAMPION_HISTORY, json.dumps(history[:-1]))
        return self.version(CHAMPION)

    # --------------------------------------------------------------- helpers
    def _alias(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, alias).version)
        except MlflowException:
            return None

    def _decision(self, version) -> str:
        return self.client.get_model_version(self.name, str(version)).tags.get(SHADOW_DECISION, "")

    def _window_end(self, version) -> pd.Timestamp | None:
        tags = self.client.get_model_version(self.name, str(version)).tags
        end = tags.get(WINDOW_END) or tags.get("window.end")  # (the tag's name before lineage.py)
        return pd.Timestamp(end) if end else None

    def _by_record(self, record_id: str):
        """The version registered for *record_id* (the lowest, should there be several), or None."""
        for tag in (CALIBRATION_RECORD_ID, "twinbench.record_id"):  # (the second: the tag before lineage.py)
            same = self._versions(f"tags.`{tag}` = '{record_id}'")
            if same:
                return min(same, key=lambda v: int(v.version))
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
        """(Under the lock.)"""
        history = self.champion_history() + [int(version)]
        self.client.set_registered_model_alias(self.name, CHAMPION, str(version))
        self.client.set_registered_model_tag(self.name, CHAMPION_HISTORY, json.dumps(history[-200:]))


# ----------------------------------------------------------- job functions
def register_calibration(tracker, run_id: str, record: CalibrationRecord, *, plant: str = "bottling",
                         x0: dict | None = None, max_step: float = 1.0, git_commit: str | None = None):
    """Register *record* (logged under the calibration run *run_id*) as a version of
    ``twinbench.<plant>.<record.model>``; the first becomes ``champion``, later ones ``challenger``.
    *tracker*: the :class:`~scenarios.tracking.tracker.MlflowTracker` (or, for older callers, its URI)."""
    name = registered_model_name(plant, record.model)
    return TwinRegistry(tracker, name).register(run_id, record, x0=x0, max_step=max_step, git_commit=git_commit)


def shadow_evaluate(tracker, name: str, data, *, rule: PromotionRule | None = None,
                    x0: dict | None = None, run_id: str | None = None) -> ShadowResult | None:
    """Evaluate the challenger of *name* on the part of *data* after its calibration window
    (see :meth:`TwinRegistry.evaluate_challenger`).

    Returns None when there is nothing to evaluate: no champion or challenger, a challenger decided already,
    or fewer than two samples of *data* after the challenger's window (a job re-run on the same telemetry).
    Never raises for a version that fails the integrity check: that evaluation is ``failed`` and recorded.
    """
    registry = TwinRegistry(tracker, name)
    champion, challenger = registry._alias(CHAMPION), registry._alias(CHALLENGER)
    if champion is None or challenger is None or registry._decision(challenger):
        return None
    end = registry._window_end(challenger)
    data = _after(data, end) if end is not None else data
    if data is None:
        return None
    return registry._evaluate(champion, challenger, data, rule or PromotionRule(), x0, run_id)


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


def rollback(tracker, name: str):
    """Re-point the champion of *name* to the previous one; returns its ``ModelVersion``."""
    return TwinRegistry(tracker, name).rollback()


def load_champion(tracker, name: str) -> LoadedTwin:
    """The champion of *name*, rebuilt from checked data: ``.twin``, ``.record``, ``.version``, ``.predict``."""
    return TwinRegistry(tracker, name).load(CHAMPION)
