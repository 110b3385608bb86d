"""What a live run leaves behind: files in its output folder and one MLflow run through the tracker.

:func:`write_results` writes, into the run's output folder:

* ``timeline.csv`` - every timeline event (source time, kind, asset, text, details as JSON);
* ``timeline.txt`` - the timeline as printed;
* ``score.json`` - the living scorer's summary (file replays of the living scenario only);
* ``summary.json`` - samples applied, wall time, reconnects, late rows, the final state's fingerprint.

:func:`log_results` logs the same to a tracker (:class:`scenarios.tracking.tracker.MlflowTracker`, the only
MLflow owner; a ``NullTracker`` logs nothing): one run named ``live-<first stamp>``, tagged with the lineage
tags, the config as parameters, the summary and score as metrics, the files and the audit log as artifacts.
Live governance decisions are in the audit log (hash-chained; ``python -m scenarios.live.audit LOG`` verifies it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scenarios.tracking import lineage

__all__ = ["write_results", "log_results"]


def write_results(folder, service, result, score=None) -> list[Path]:
    """Write the run's timeline, score and summary into *folder*; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    events = sorted(service.timeline.events, key=lambda e: e.time)
    table = pd.DataFrame([{"time": pd.Timestamp(int(e.time), tz="UTC").isoformat(), "kind": e.kind,
                           "asset": e.asset, "text": e.text, "details": json.dumps(e.details, default=str)}
                          for e in events], columns=["time", "kind", "asset", "text", "details"])
    files = [folder / "timeline.csv", folder / "timeline.txt", folder / "summary.json"]
    table.to_csv(files[0], index=False)
    files[1].write_text((service.timeline.render() or "(no events)") + "\n", encoding="utf-8")
    files[2].write_text(json.dumps(summary(service, result), indent=2, default=str) + "\n", encoding="utf-8")
    if score is not None:
        files.append(folder / "score.json")
        files[-1].write_text(json.dumps(score.summary, indent=2, default=str) + "\n", encoding="utf-8")
    return files


def summary(service, result) -> dict:
    """Counts of the run (numbers only, for metrics) and the final state's fingerprint."""
    kinds = pd.Series([e.kind for e in service.timeline.events], dtype=object).value_counts()
    return {"samples_applied": int(service.applied), "samples_applied_this_run": int(result.applied),
            "wall_s": float(result.wall_s), "late_rows": int(result.late),
            "reconnects": int(service.feed.reconnects), "stopped": str(result.stopped),
            "alarms_raised": int(kinds.get("alarm raised", 0)), "promotions": int(kinds.get("promoted", 0)),
            "rejections": int(kinds.get("rejected", 0)), "whatifs": int(kinds.get("what-if", 0)),
            "fingerprint": service.tracker.fingerprint()[:16]}


def log_results(tracker, *, name: str, params: dict, files, audit=None, score=None, service=None, result=None,
                tags: dict | None = None) -> str | None:
    """One tracker run for the live run: params, metrics (summary and score), files and the audit log."""
    run = tracker.start_run(name, tags={lineage.ROLE: "live", **(tags or {})})
    status = "FAILED"
    try:
        tracker.log_params(run, params)
        metrics = {}
        if service is not None and result is not None:
            metrics.update({k: float(v) for k, v in summary(service, result).items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if score is not None:
            metrics.update({f"score.{k}": float(v) for k, v in score.summary.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if metrics:
            tracker.log_metrics(run, metrics)
        for path in files:
            tracker.log_artifact(run, Path(path))
        if audit is not None and Path(audit).exists():
            tracker.log_artifact(run, Path(audit))
        status = "FINISHED"
    finally:
        tracker.end_run(run, status)
    return run
