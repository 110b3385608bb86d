"""Lineage tag names: every tag Twinbench writes to the tracking store, defined once, each with one meaning.

Import the constants, never retype the strings: a tag that means two things cannot be searched for one.

===============================  ===========  =========================================================================
tag                              on           meaning (value)
===============================  ===========  =========================================================================
``git.commit``                   run, version the commit of the Twinbench checkout that wrote it (``git rev-parse HEAD``;
                                              ``unknown`` outside a checkout), :func:`~scenarios.tracking.tracker.git_commit`
``config.hash``                  run          16 hex digits of sha256 over the main job's resolved configuration (YAML text)
``seed``                         run          the root random seed of the run (an integer)
``telemetry.content_hash``       run, version 64 hex digits: sha256 of the telemetry **file's bytes**,
                                              :func:`content_hash` (= ``TelemetryStream.content_hash`` of a file source)
``calibration.record_id``        run, version ``CalibrationRecord.record_id`` of the calibration the run used or registered
``calibration.data_hash``        run, version 64 hex digits: ``CalibrationData.content_hash``, sha256 over the fit window's
                                              times, inputs, outputs and channel names (the exact data a fit used)
``calibration.window_start``     version      first time stamp of the fit window (ISO 8601)
``calibration.source``           run          where a sweep child's motor parameters came from: ``champion``, ``record``
                                              or ``nameplate``
``calibration.version``          run          the registered model and version of that champion (``<name> v<version>``)
``calibration.note``             run          why a champion sweep ran on the nameplate (no champion registered)
``calibration.window_end``       version      last time stamp of the fit window (ISO 8601); shadow evaluation uses
                                              only data after it
``twinbench.role``               run          what a run is: ``parent`` (a sweep), ``child`` (a sweep
                                              configuration), ``shadow`` (a champion/challenger comparison),
                                              ``governance`` (the live twin's governor decisions), ``live`` (a
                                              twinbench live run: timeline, score, audit log)
``twinbench.sweep``              run          the sweep name (``sweep.name``) of a sweep's parent and children
``twinbench.config_hash``        run          16 hex digits of sha256 over the canonical JSON of the parts of a sweep
                                              configuration that determine its results (resume skips finished ones)
``twinbench.invocation``         run          start of the sweep command that wrote the run [ms since the epoch]
``twinbench.lease``              run          JSON lease of a sweep parent: host, pid, heartbeat (one driver per sweep)
``twinbench.swept_keys``         run          JSON list of the config keys a sweep varies
``twinbench.resumed``            run          how often a sweep parent was resumed (an integer)
``twinbench.end_reason``         run          why a sweep parent ended other than FINISHED (text)
``twinbench.error``              run          why a run FAILED (text, at most 5000 characters)
``twinbench.report_error``       run          why the sweep report could not be written (text)
``twinbench.best``               run          the best configuration of a sweep report (text)
``registry.model``               run          registered-model name the calibration run registered to
``registry.version``             run          the version number it registered (or found registered)
``twinbench.model``              version      ``<model>==<spec version>`` of :data:`sim.physics.MODELS` the twin rebuilds
``twinbench.artifact_path``      version      artifact path of the version's files under its run (``twin/<record_id>``)
``twinbench.artifact_sha256``    version      JSON ``{file: sha256}`` of ``record.json``, ``twin.json`` and the
                                              pyfunc code file, checked on every load (a trust-boundary check)
``shadow.decision``              version, run ``promoted`` | ``rejected`` | ``failed`` (could not be evaluated) |
                                              ``superseded`` (a newer challenger replaced it unevaluated);
                                              written once per version; on a run also ``stale`` (another job
                                              decided first or the aliases moved: nothing was changed)
``shadow.champion_version``      version, run the champion version the challenger was compared with
``shadow.data_hash``             version, run ``CalibrationData.content_hash`` of the shadow window
``shadow.score``                 version      the challenger's weighted RMSE score (dimensionless)
``shadow.champion_score``        version      the champion's score on the same window
``shadow.run_id``                version      the run that holds the comparison (metrics and JSON artifact)
``shadow.error``                 version, run why an evaluation failed (``failed``), text
``shadow.superseded_by``         version      the version that replaced this unevaluated challenger
``twinbench.rolled_back``        version      ``true`` on a champion that was rolled back
``twinbench.champion_history``   model        JSON list of the versions that were champion, oldest first
``twinbench.lock``               model        owner and expiry of the registry lock of a server store (a model
                                              named ``<model>.lock``, see :meth:`MlflowTracker.lock`)
``twinbench.audit.head_seq``     run          seq of the last audit entry mirrored (scenarios.live.audit.mlflow_mirror)
``twinbench.audit.head_hash``    run          hash of that entry: the audit chain's anchor outside the machine
``twinbench.audit.last_action``  run          action of that entry (e.g. promoted, command_refused)
===============================  ===========  =========================================================================

``on``: run (a tracking run), version (a registered model version), model (a registered model).
"""

from __future__ import annotations

__all__ = ["GIT_COMMIT", "CONFIG_HASH", "SEED", "TELEMETRY_CONTENT_HASH", "CALIBRATION_RECORD_ID",
           "CALIBRATION_DATA_HASH", "WINDOW_START", "WINDOW_END", "CALIBRATION_SOURCE",
           "CALIBRATION_VERSION", "CALIBRATION_NOTE", "ROLE", "SWEEP", "SWEEP_CONFIG_HASH",
           "INVOCATION", "LEASE", "SWEPT_KEYS", "RESUMED", "END_REASON", "ERROR", "REPORT_ERROR", "BEST",
           "REGISTRY_MODEL", "REGISTRY_VERSION", "MODEL", "ARTIFACT_PATH", "ARTIFACT_SHA256", "SHADOW_DECISION",
           "SHADOW_CHAMPION_VERSION", "SHADOW_DATA_HASH", "SHADOW_SCORE", "SHADOW_CHAMPION_SCORE", "SHADOW_RUN_ID",
           "SHADOW_ERROR", "SHADOW_SUPERSEDED_BY", "ROLLED_BACK", "CHAMPION_HISTORY", "LOCK", "AUDIT_HEAD_SEQ",
           "AUDIT_HEAD_HASH", "AUDIT_LAST_ACTION", "ALL_TAGS",
           "content_hash"]

GIT_COMMIT = "git.commit"
CONFIG_HASH = "config.hash"
SEED = "seed"
TELEMETRY_CONTENT_HASH = "telemetry.content_hash"
CALIBRATION_RECORD_ID = "calibration.record_id"
CALIBRATION_DATA_HASH = "calibration.data_hash"
WINDOW_START = "calibration.window_start"
WINDOW_END = "calibration.window_end"
CALIBRATION_SOURCE = "calibration.source"
CALIBRATION_VERSION = "calibration.version"
CALIBRATION_NOTE = "calibration.note"
ROLE = "twinbench.role"
SWEEP = "twinbench.sweep"
SWEEP_CONFIG_HASH = "twinbench.config_hash"
INVOCATION = "twinbench.invocation"
LEASE = "twinbench.lease"
SWEPT_KEYS = "twinbench.swept_keys"
RESUMED = "twinbench.resumed"
END_REASON = "twinbench.end_reason"
ERROR = "twinbench.error"
REPORT_ERROR = "twinbench.report_error"
BEST = "twinbench.best"
REGISTRY_MODEL = "registry.model"
REGISTRY_VERSION = "registry.version"
MODEL = "twinbench.model"
ARTIFACT_PATH = "twinbench.artifact_path"
ARTIFACT_SHA256 = "twinbench.artifact_sha256"
SHADOW_DECISION = "shadow.decision"
SHADOW_CHAMPION_VERSION = "shadow.champion_version"
SHADOW_DATA_HASH = "shadow.data_hash"
SHADOW_SCORE = "shadow.score"
SHADOW_CHAMPION_SCORE = "shadow.champion_score"
SHADOW_RUN_ID = "shadow.run_id"
SHADOW_ERROR = "shadow.error"
SHADOW_SUPERSEDED_BY = "shadow.superseded_by"
ROLLED_BACK = "twinbench.rolled_back"
CHAMPION_HISTORY = "twinbench.champion_history"
LOCK = "twinbench.lock"
AUDIT_HEAD_SEQ = "twinbench.audit.head_seq"
AUDIT_HEAD_HASH = "twinbench.audit.head_hash"
AUDIT_LAST_ACTION = "twinbench.audit.last_action"

ALL_TAGS = tuple(value for key, value in dict(globals()).items() if key.isupper() and isinstance(value, str))


def content_hash(path) -> str:
    """The ``telemetry.content_hash`` of a telemetry file: sha256 of its bytes, 64 hex digits.

    The one file hash of Twinbench: it is :func:`sim.telemetry.sources.csv_source.file_sha256`, the hash a
    file source puts in ``TelemetryStream.content_hash``.  Raises ``TelemetryFileError`` for a missing,
    unreadable or empty file.
    """
    from pathlib import Path

    from sim.telemetry.sources.csv_source import file_sha256

    return file_sha256(Path(path))
