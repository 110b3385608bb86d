"""The main job: gate telemetry → calibrate → fork the twin → run the what-if → report.

The telemetry is the filler motor's: it calibrates the motor's thermal
parameters, the shadow replay checks them, and the what-if runs the reference
bottling line (:mod:`scenarios.reference.line`) forked from the calibrated twin -
the line at the calibration window's end with the calibrated motor state on the
filler and a posterior draw of its parameters per replication - comparing
actions (line changes) over replications with common random numbers.

:func:`run_reference` is the recipe: each step is a function of its spec
(:mod:`scenarios.specs`) and the steps before it, returning a small dataclass
(:mod:`scenarios.steps`).  ``scenarios.app`` builds the :class:`JobSpec` from
the Hydra config; notebooks and tests call :func:`run_reference` directly.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from scenarios.specs import JobSpec, OutputSpec
from scenarios.steps import (CalibrationStep, ForkStep, ReportStep, TelemetryStep, WhatIfStep, calibrate, fork_twin,
                             gate_telemetry, run_actions, write_report)
from scenarios.tracking import lineage

__all__ = ["JobSpec", "JobResult", "JobSession", "run_reference"]


@dataclass(frozen=True)
class JobResult:
    """Every step's result, the parent run and its children (name -> run id) and the output folder."""

    telemetry: TelemetryStep
    calibration: CalibrationStep
    fork: ForkStep
    whatif: WhatIfStep
    report: ReportStep
    parent_run: str
    child_runs: dict
    output_dir: Path

    @property
    def files(self) -> list:
        """Every file the job wrote."""
        return [*self.telemetry.files, *self.calibration.files, *self.report.files]


def run_reference(spec: JobSpec, *, console=None) -> JobResult:
    """Run the loop once; every run is closed (FINISHED, FAILED or KILLED) whatever happens."""
    with JobSession(spec.tracker, spec.output, console) as session:
        telemetry = gate_telemetry(spec.telemetry, session)
        calibration = calibrate(spec.calibration, spec.plant, telemetry, session,
                                registry_plant=spec.whatif.line.get("name", "reference"))
        fork = fork_twin(spec.whatif, spec.plant, calibration, telemetry)
        whatif = run_actions(spec.whatif, spec.plant, calibration, fork, session)
        report = write_report(spec.whatif, spec.output, spec.plant, telemetry, calibration, fork, whatif, session)
        _print_table(whatif.summary, spec.whatif, console)
        session.say(Text("\n" + whatif.recommendation.text, style="bold"), highlight=False)
        if whatif.record:
            from scenarios.whatif.decision import decision_text

            session.say(decision_text(whatif.record), highlight=False, markup=False)
    return JobResult(telemetry, calibration, fork, whatif, report, session.parent, session.runs, session.out)


class JobSession:
    """The job's parent run and its child runs on one tracker, its output folder and its console.

    A context manager: entering starts the parent run (params, resolved config); leaving
    closes every run still open, ``FINISHED``, or ``FAILED`` (``KILLED`` on Ctrl-C) when the
    job raised.
    """

    def __init__(self, tracker, output: OutputSpec, console=None):
        self.tracker = tracker
        self.output = output
        self.out = Path(output.directory)
        self.plots, self.tags = output.plots, output.tags
        self.console = console
        self.parent = None
        self.runs: dict = {}
        self._open: list = []

    def say(self, *args, **kwargs) -> None:
        """Print to the console; text is printed literally (no rich markup: '[degC]' in a column name stays)."""
        if self.console is not None:
            kwargs.setdefault("markup", False)
            self.console.print(*args, **kwargs)

    def __enter__(self) -> "JobSession":
        self.out.mkdir(parents=True, exist_ok=True)
        self.parent = self.tracker.start_run(self.output.run_name, tags={**self.tags, lineage.ROLE: "parent"})
        self.runs["parent"] = self.parent
        self._open.append(self.parent)
        try:
            self.tracker.log_params(self.parent, self.output.params)
            if self.output.config_yaml:
                (self.out / "config_resolved.yaml").write_text(self.output.config_yaml, encoding="utf-8")
                self.tracker.log_artifact(self.parent, self.out / "config_resolved.yaml")
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, kind, err, tb) -> bool:
        status = "FINISHED" if kind is None else ("KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED")
        for run in reversed(self._open):
            self.tracker.end_run(run, status)
        self._open.clear()
        return False

    def child(self, name: str, *, start_time: float | None = None) -> str:
        """Start the child run *name* (its role: the part before ``:``); *start_time*: when its work began
        [s since the epoch] (default: now)."""
        when = {} if start_time is None else {"start_time": start_time}  # trackers without timing still work
        run = self.tracker.start_run(name, parent=self.parent, tags={lineage.ROLE: name.split(":")[0]}, **when)
        self.runs[name] = run
        self._open.append(run)
        return run

    def close(self, run: str, *, end_time: float | None = None) -> None:
        if end_time is None:
            self.tracker.end_run(run, "FINISHED")
        else:
            self.tracker.end_run(run, "FINISHED", end_time=end_time)
        self._open.remove(run)

    def artifact(self, run: str, path) -> Path:
        """Log the file *path* on *run*; returns the path."""
        self.tracker.log_artifact(run, path)
        return Path(path)

    def with_progress(self, total: int, work):
        """``work(progress)`` with a progress bar over *total* steps if the output asks for one."""
        if not self.output.progress:
            return work(None)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("what-if replications", total=total)
            return work(lambda done, _total: bar.update(task, completed=done))


def _print_table(summary, spec, console):
    if console is None:
        return
    from rich.table import Table

    from scenarios.whatif.report import format_interval
    from sim.kpi import kpi_info

    level = f"{spec.confidence:.0%}"
    table = Table(title=f"What-if on the line: {spec.replications} replications × {spec.horizon / 3600:g} h "
                        f"(mean ± {level} half-width; Δ vs {spec.baseline}, paired)")
    for col in ("KPI", "unit", *dict.fromkeys(summary["action"])):
        table.add_column(col, justify="right" if col not in ("KPI", "unit") else "left")
    shown = ("throughput", "oee", "unplanned_downtime", "trips", "maintenance_cost", "crew_cost",
             "max_winding_temperature", "insulation_ageing", "motor_risk_cost")  # all of them are in report.md
    for kpi in [k for k in dict.fromkeys(summary["kpi"]) if k in shown]:
        info = kpi_info(kpi)
        cells = []
        for action in dict.fromkeys(summary["action"]):
            r = summary[(summary["action"] == action) & (summary["kpi"] == kpi)].iloc[0]
            mean, half = info.to_display(r["mean"]), info.to_display(r["half_width"], difference=True)
            cell = format_interval(mean, half)  # rounded as in report.md
            if action != spec.baseline:
                diff, dhalf = (info.to_display(r[c], difference=True) for c in ("diff", "diff_half_width"))
                cell += f"\nΔ {format_interval(diff, dhalf, sign=True)}"
            cells.append(cell)
        table.add_row(kpi, info.display_unit.label, *cells)
    console.print(table)
