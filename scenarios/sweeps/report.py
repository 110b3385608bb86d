"""The comparison report of a sweep, built from the tracking store alone (never from a sweep's memory).

For the finished children of a sweep's parent run (one per configuration:
the latest run of each config hash): a ranking by a chosen KPI with its
Student-t interval (a share of replications such as ``failure_probability``:
its Wilson interval, and Newcombe's for differences), paired differences to a
baseline configuration over the
per-replication KPI tables (replication r of every configuration shares its
random numbers, so the pairs differ by the configuration only), a Pareto plot
of two KPIs and the KPI distributions.  Written as Markdown, HTML, CSV and
PNG, and logged to the parent run under ``report/``.  Every number is in the
display unit of the KPI catalogue (:data:`sim.kpi.KPIS`: units/h, h, °C): the
children's ``replications.csv`` already are (columns named with their unit,
``throughput_units_per_h``); a table an older Twinbench wrote in SI (columns
named after the KPI) is converted when it is read.

    twinbench-sweep report SWEEP [--kpi oee] [--pareto maintenance_cost oee] [--baseline JOB|NAME|HASH]
    twinbench-sweep report --list
"""

from __future__ import annotations

import argparse
import html
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from scenarios.sweeps.sources import describe_calibration
from scenarios.sweeps.runs import HASH_TAG, ROLE_TAG, SWEEP_TAG, SweepError, children, connect, find_parent, store_uri
from scenarios.tracking.lineage import BEST
from scenarios.whatif.constraints import (is_binomial, paired_proportion_difference, proportion_difference,
                                          wilson_interval)
from sim.kpi import KPIS, UnknownKPIError, display_columns, display_name, kpi_info, rank
from sim.replications import paired_difference, t_interval

__all__ = ["SweepData", "load_sweep", "calibration_text", "kpi_values", "ranking", "differences", "with_units",
           "pareto_front", "write_report", "report_cli"]


def _better(kpi: str, objective_direction: str = "maximize") -> str:
    """``"more"`` or ``"less"`` is better for *kpi*: the catalogue's (:data:`sim.kpi.KPIS`), and for the objective
    the sweep's objective.direction."""
    if kpi == "objective":
        return "less" if objective_direction == "minimize" else "more"
    return kpi_info(kpi).direction


def _maximize(kpi: str, objective_direction: str = "maximize") -> bool:
    return _better(kpi, objective_direction) == "more"


@dataclass
class SweepData:
    """A sweep as stored: the parent run, one row per configuration (``runs``) and their replication tables."""

    parent: object
    runs: pd.DataFrame  # index run_id; columns name, config_hash, job, seed, n, crn, metrics.*, params.*
    replications: dict  # run_id -> DataFrame (one row per replication; display units, columns display_name(kpi))

    @property
    def sweep_id(self) -> str:
        return self.parent.info.run_id


def resolve_parent(tracker, exp_id: str, sweep: str):
    """The parent run for *sweep* (a parent run id or a sweep name); :class:`SweepError` when there is none."""
    client = tracker.client
    try:
        run = client.get_run(sweep)
        if run.data.tags.get(ROLE_TAG) == "parent":
            return run
    except Exception:  # noqa: BLE001 - not a run id: try it as a name
        pass
    run = find_parent(tracker, exp_id, sweep)
    if run is not None:
        return run
    known = sorted({r.data.tags.get(SWEEP_TAG, "?") for r in client.search_runs(
        [exp_id], f"tags.`{ROLE_TAG}` = 'parent'", max_results=200)})
    raise SweepError(f"no sweep {sweep!r} in this store: it is neither a parent run id nor a sweep name. Known "
                     f"sweeps: {known or 'none'}; list them with `twinbench-sweep report --list` (and check "
                     f"--tracking-uri / --experiment)")


def load_sweep(tracker, sweep: str, *, experiment_id: str | None = None) -> SweepData:
    """Read the finished configurations of *sweep* and their per-replication tables from the store (through
    *tracker*, an :class:`~scenarios.tracking.tracker.MlflowTracker`)."""
    client = tracker.client
    if experiment_id is None:
        try:
            experiment_id = client.get_run(sweep).info.experiment_id
        except Exception:  # noqa: BLE001
            raise SweepError(f"no run {sweep!r} in this store; pass a parent run id, or a sweep name together with "
                             f"experiment_id") from None
    parent = resolve_parent(tracker, experiment_id, sweep)
    rows, tables = [], {}
    for run in sorted(children(tracker, parent.info.experiment_id, parent.info.run_id, status="FINISHED"),
                      key=lambda r: r.info.start_time):
        tags = run.data.tags
        row = {"run_id": run.info.run_id, "name": run.info.run_name, "config_hash": tags.get(HASH_TAG),
               "job": int(tags.get("hydra.job.num", -1)), "seed": tags.get("seed"), "crn": tags.get("crn"),
               "start_time": run.info.start_time, "calibration": describe_calibration(tags)}
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        rows.append(row)
    if not rows:
        raise SweepError(f"sweep {parent.data.tags.get(SWEEP_TAG)!r} (parent run {parent.info.run_id}) has no "
                         f"finished configuration yet; run the sweep (again) to complete it")
    runs = pd.DataFrame(rows).drop_duplicates("config_hash", keep="last").set_index("run_id")
    with tempfile.TemporaryDirectory() as tmp:
        for run_id in runs.index:
            path = client.download_artifacts(run_id, "replications.csv", tmp)
            tables[run_id] = display_columns(pd.read_csv(path, index_col="replication"))  # SI of old stores too
    return SweepData(parent, runs, tables)


def _direction(data: SweepData) -> str:
    col = "params.objective.direction"
    return str(data.runs[col].iloc[0]) if col in data.runs else "maximize"


def _kpis(table: pd.DataFrame) -> list:
    """The line KPIs a replication table (display or SI columns) holds, by catalogue name."""
    return sorted(k for k in KPIS if display_name(k) in table.columns or k in table.columns)


def kpi_values(table: pd.DataFrame, kpi: str) -> pd.Series:
    """KPI *kpi* (a catalogue name, ``<station>.<kpi>`` too) of a replication table, in its display unit:
    the column :func:`~sim.kpi.display_name` of it, or the SI column *kpi* converted (a table built in SI).
    :class:`~scenarios.sweeps.runs.SweepError` names the KPIs the table has when it has not this one."""
    try:
        shown = display_name(kpi)
    except UnknownKPIError:
        shown = None
    if shown is not None and shown in table.columns:
        return table[shown].astype(float)
    if shown is not None and kpi in table.columns:
        return kpi_info(kpi).to_display(table[kpi].astype(float))
    raise SweepError(f"unknown KPI {kpi!r}; KPIs of this sweep are {_kpis(table)} (and <station>.<kpi>)")


def _unit(kpi: str) -> str:
    return kpi_info(kpi).display_unit.label


def _display_scale(kpi: str) -> float:
    """Display value of a share of 1 (a binomial KPI shown in %: 100)."""
    return float(kpi_info(kpi).to_display(1.0, difference=True))


def ranking(data: SweepData, kpi: str) -> pd.DataFrame:
    """Configurations ranked by *kpi* (best first): mean, 95 % (plan) interval, n, from the replication tables,
    in the KPI's display unit (the ``unit`` column); ``interval`` says which: ``t`` (Student) or ``wilson``
    (a share of replications, :func:`~scenarios.whatif.constraints.is_binomial`)."""
    rows = []
    for run_id, run in data.runs.iterrows():
        values = kpi_values(data.replications[run_id], kpi)
        confidence = float(run.get("params.replications.confidence", 0.95))
        if is_binomial(kpi):  # a share: Wilson's interval (never zero width at 0 of n), not Student's t
            scale = _display_scale(kpi)
            outcomes = values.to_numpy(float) / scale
            outcomes = outcomes[np.isfinite(outcomes)]
            bad = outcomes[(outcomes != 0.0) & (outcomes != 1.0)]
            if bad.size or not outcomes.size:
                raise SweepError(f"{kpi} of {run['name']!r}: a share of replications needs one outcome per "
                                 f"replication, 0 or {scale:g} {_unit(kpi)}; the table holds "
                                 f"{(bad[:3] * scale).tolist() if bad.size else 'no finite value'}")
            low, high = wilson_interval(int(outcomes.sum()), outcomes.size, confidence)
            mean, low, high, n = outcomes.mean() * scale, low * scale, high * scale, outcomes.size
            half, interval = (high - low) / 2.0, "wilson"
        else:
            iv = t_interval(values.to_numpy(), confidence)
            mean, low, high, half, n, interval = iv.mean, iv.low, iv.high, iv.half_width, iv.n, "t"
        rows.append({"run_id": run_id, "name": run["name"], "job": run["job"], "config_hash": run["config_hash"],
                     "kpi": kpi, "unit": _unit(kpi), "mean": mean, "low": low, "high": high,
                     "half_width": half, "n": n, "confidence": confidence, "interval": interval})
    out = rank(pd.DataFrame(rows), kpi, column="mean", direction=_better(kpi, _direction(data)))
    out.insert(0, "rank", range(1, len(out) + 1))
    return out.reset_index(drop=True)


def _baseline(data: SweepData, baseline) -> str:
    runs = data.runs
    if baseline is None or str(baseline) == "":
        return runs["job"].idxmin()
    b = str(baseline)
    # exact matches first: a job number such as "0" is also the prefix of any config hash starting with 0
    # (one configuration in 16), which made the baseline depend on the hashes
    prefix = runs["config_hash"].astype(str).str.startswith(b) if len(b) >= 6 else np.zeros(len(runs), bool)
    for mask in (runs.index == b, runs["name"] == b, runs["job"].astype(str) == b, prefix):
        hit = runs.index[np.asarray(mask)]
        if len(hit):
            return hit[0]
    raise SweepError(f"baseline {baseline!r} matches no finished configuration; give a run name, config hash or "
                     f"job number, e.g. one of {list(runs['name'])[:5]}")


def _welch(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float]:
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if va + vb > 0 else 1.0
    return float(a.mean() - b.mean()), float(stdtrit(df, 0.5 + confidence / 2) * math.sqrt(va + vb))


def differences(data: SweepData, kpi: str, baseline=None) -> pd.DataFrame:
    """Each configuration minus the baseline on *kpi*: paired over replications when they share seeds (CRN); in
    the KPI's display unit (a difference: °C differences are kelvin-sized, no offset)."""
    base_id = _baseline(data, baseline)
    base = data.runs.loc[base_id]
    b = kpi_values(data.replications[base_id], kpi)
    rows = []
    for run_id, run in data.runs.iterrows():
        if run_id == base_id:
            continue
        a = kpi_values(data.replications[run_id], kpi)
        confidence = float(run.get("params.replications.confidence", 0.95))
        paired = (run["seed"] == base["seed"] and str(run["crn"]) == "True" and str(base["crn"]) == "True"
                  and list(a.index) == list(b.index))
        if is_binomial(kpi):  # Newcombe's score intervals (asymmetric; half_width is half their width)
            scale = _display_scale(kpi)
            pair = paired_proportion_difference if paired else proportion_difference
            diff, low, high = (v * scale for v in pair(a.to_numpy(float) / scale, b.to_numpy(float) / scale,
                                                       confidence))
            half = (high - low) / 2.0
        else:
            if paired:
                iv = paired_difference(a.to_numpy(), b.to_numpy(), confidence)
                diff, half = iv.mean, iv.half_width
            else:
                diff, half = _welch(a.to_numpy(float), b.to_numpy(float), confidence)
            low, high = diff - half, diff + half
        rows.append({"run_id": run_id, "name": run["name"], "baseline": base["name"], "kpi": kpi, "unit": _unit(kpi),
                     "diff": diff, "low": low, "high": high, "half_width": half, "paired": paired,
                     "significant": bool(np.isfinite(low) and (low > 0 or high < 0))})
    return pd.DataFrame(rows, columns=["run_id", "name", "baseline", "kpi", "unit", "diff", "low", "high",
                                       "half_width", "paired", "significant"])


def pareto_front(x: np.ndarray, y: np.ndarray, *, maximize_x: bool, maximize_y: bool) -> np.ndarray:
    """Boolean mask of the points no other point dominates (at least as good in both, better in one)."""
    sx = np.asarray(x, float) * (1 if maximize_x else -1)
    sy = np.asarray(y, float) * (1 if maximize_y else -1)
    mask = np.ones(sx.size, bool)
    for i in range(sx.size):
        dominated = (sx >= sx[i]) & (sy >= sy[i]) & ((sx > sx[i]) | (sy > sy[i]))
        mask[i] = not dominated.any()
    return mask


def _axis_label(kpi: str, direction: str) -> str:
    """``kpi [display unit] (more is better)`` for a KPI of the catalogue (or just its name)."""
    try:
        unit = f" [{kpi_info(kpi).display_unit.label}]"
    except Exception:  # noqa: BLE001 - not a catalogue KPI (a custom objective): no unit to show
        unit = ""
    return f"{kpi}{unit} ({'more' if _maximize(kpi, direction) else 'less'} is better)"


def pareto_figure(x, ex, y, ey, names, front, xlabel: str, ylabel: str):
    """The Pareto figure: every configuration with its intervals, the front (*front*: mask of non-dominated
    points) drawn as one line (``gid="pareto-front"``) through its points in x order and labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x, y, front = np.asarray(x, float), np.asarray(y, float), np.asarray(front, bool)
    fig = Figure(figsize=(7.5, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.errorbar(x, y, xerr=ex, yerr=ey, fmt="o", color="0.6", ecolor="0.8",
                label="configuration (mean ± 95 % interval)")
    order = np.argsort(x[front])
    ax.plot(x[front][order], y[front][order], "o-", color="tab:red", ms=7, label=f"Pareto front ({front.sum()})",
            gid="pareto-front")
    for xi, yi, name, f in zip(x, y, names, front):
        if f:
            ax.annotate(str(name)[:40], (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _plots(data: SweepData, kpi: str, pareto: list, folder: Path, rank: pd.DataFrame) -> list[Path]:
    """``pareto.png`` (every configuration with its intervals, the Pareto front drawn and labelled) and
    ``distributions.png`` (the ranking KPI per replication, by configuration name), in display units.
    matplotlib's object API: no pyplot, no global backend switch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    direction = _direction(data)
    xk, yk = pareto
    pts = []
    for run_id in data.runs.index:
        t = data.replications[run_id]
        try:
            vx, vy = kpi_values(t, xk), kpi_values(t, yk)
        except SweepError as err:
            raise SweepError(f"report.pareto: {err}") from None
        ix, iy = t_interval(vx.to_numpy()), t_interval(vy.to_numpy())
        pts.append((ix.mean, ix.half_width, iy.mean, iy.half_width, data.runs.loc[run_id, "name"]))
    x, ex, y, ey, names = map(np.array, zip(*pts))  # display units (dominance is the same as in SI)
    front = pareto_front(x, y, maximize_x=_maximize(xk, direction), maximize_y=_maximize(yk, direction))
    ex, ey = np.nan_to_num(ex), np.nan_to_num(ey)
    fig = pareto_figure(x, ex, y, ey, names, front, _axis_label(xk, direction), _axis_label(yk, direction))
    pareto_png = folder / "pareto.png"
    fig.savefig(pareto_png, dpi=110)

    labels = [str(n) for n in rank["name"]]
    fig = Figure(figsize=(max(6.0, 0.6 * len(rank) + 2), 5.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    values = [kpi_values(data.replications[r], kpi).to_numpy() for r in rank["run_id"]]
    ax.boxplot(values)
    for i, v in enumerate(values, start=1):
        ax.plot(np.full(v.size, i) + np.linspace(-0.12, 0.12, v.size), v, ".", alpha=0.6, color="tab:blue")
    ax.set_xticks(range(1, len(values) + 1), [lab if len(lab) <= 28 else lab[:27] + "…" for lab in labels],
                  fontsize=7, rotation=30, ha="right")
    ax.set_xlabel("configuration (ranked best first)")
    ax.set_ylabel(_axis_label(kpi, direction) + " per replication")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    dist_png = folder / "distributions.png"
    fig.savefig(dist_png, dpi=110)
    return [pareto_png, dist_png]


def calibration_text(data: SweepData) -> str:
    """Which calibration (or the nameplate) the sweep's configurations ran on, from their tags."""
    if "calibration" not in data.runs:
        return "not recorded"
    used = list(dict.fromkeys(data.runs["calibration"]))
    if len(used) == 1:
        return f"{used[0]} (every configuration)"
    return "; ".join(f"{c} ({', '.join(data.runs.loc[data.runs['calibration'] == c, 'name'])})" for c in used)


def with_units(df: pd.DataFrame, columns=("mean", "low", "high", "diff", "half_width")) -> pd.DataFrame:
    """*df* (a :func:`ranking` or :func:`differences` table) for reading: its *columns* headed with the display
    unit (``mean [units/h]``), the ``kpi``/``unit`` columns then dropped (a KPI without a unit keeps bare
    headers)."""
    units = set(df["unit"]) if "unit" in df.columns else set()
    unit = units.pop() if len(units) == 1 else "-"
    out = df.drop(columns=[c for c in ("kpi", "unit") if c in df.columns])
    if unit == "-":
        return out
    return out.rename(columns={c: f"{c} [{unit}]" for c in columns if c in out.columns})


def _md_table(df: pd.DataFrame) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.5g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(tracker, sweep: str, *, kpi: str = "oee", pareto=("maintenance_cost", "oee"), baseline=None,
                 out_dir=None, log: bool = True) -> dict:
    """Build the report of *sweep* (parent run id or name) from the store; write it to *out_dir* (a temporary
    folder when None) and, with *log*, to the parent run under ``report/``.  Returns the tables and paths."""
    data = load_sweep(tracker, sweep)
    pareto = list(pareto)
    if len(pareto) != 2:
        raise SweepError(f"report.pareto = {pareto!r} must name two KPIs, e.g. [maintenance_cost, oee]")
    rank = ranking(data, kpi)
    diffs = differences(data, kpi, baseline)
    keep = tempfile.TemporaryDirectory() if out_dir is None else None
    folder = Path(keep.name if keep is not None else out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    result = None
    try:
        pngs = _plots(data, kpi, pareto, folder, rank)
        rank.to_csv(folder / "ranking.csv", index=False)
        diffs.to_csv(folder / "differences.csv", index=False)
        name = data.parent.data.tags.get(SWEEP_TAG, data.sweep_id)
        conf = f"{rank['confidence'].iloc[0]:.0%}"
        base_name = diffs["baseline"].iloc[0] if len(diffs) else rank["name"].iloc[0]
        unit = _unit(kpi)
        in_unit = "" if unit == "-" else f" in {unit}"
        md = [f"# Sweep report: {name}", "",
              f"Parent run `{data.sweep_id}`, {len(rank)} configuration(s), {int(rank['n'].max())} replications "
              f"each. Ranking KPI **{kpi}**{in_unit} ({'more' if _maximize(kpi, _direction(data)) else 'less'} "
              f"is better), {conf} {'Wilson (a share of replications)' if is_binomial(kpi) else 'Student-t'} "
              f"intervals over replications.", "",
              f"Calibration: {calibration_text(data)}.", "",
              "## Ranking", "", _md_table(with_units(rank[["rank", "job", "name", "unit", "mean", "low", "high",
                                                          "n"]])), "",
              f"## Differences to the baseline `{base_name}`", "",
              "Paired over replications (common random numbers) where the configurations share seeds; an interval "
              "that excludes 0 is a real difference at this confidence.", "",
              _md_table(with_units(diffs[["name", "unit", "diff", "low", "high", "paired", "significant"]]))
              if len(diffs) else
              "(only one configuration)", "",
              f"## Pareto front: {pareto[0]} vs {pareto[1]}", "", "![pareto](pareto.png)", "",
              f"## Distributions of {kpi}", "", "![distributions](distributions.png)", ""]
        (folder / "report.md").write_text("\n".join(md), encoding="utf-8")
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep report: {html.escape(name)}"
                f"</title><style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}table{{border-collapse:"
                f"collapse;font-size:90%}}td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>"
                f"<h1>Sweep report: {html.escape(name)}</h1><p>Parent run <code>{data.sweep_id}</code>; ranking "
                f"KPI <b>{html.escape(kpi)}</b>{html.escape(in_unit)}, {conf} intervals.</p><p>Calibration: "
                f"{html.escape(calibration_text(data))}.</p><h2>Ranking</h2>"
                f"{with_units(rank.drop(columns=['run_id'])).to_html(index=False, float_format=lambda v: f'{v:.5g}')}"
                f"<h2>Differences to the baseline {html.escape(str(base_name))}</h2>"
                f"{with_units(diffs.drop(columns=['run_id'])).to_html(index=False, float_format=lambda v: f'{v:.5g}')}"
                f"<h2>Pareto front</h2><img src='pareto.png'><h2>Distributions</h2><img src='distributions.png'>"
                f"</body></html>")
        (folder / "report.html").write_text(page, encoding="utf-8")
        if log:
            tracker.log_artifacts(data.sweep_id, folder, "report")
            best = rank.iloc[0]
            unit = "" if best["unit"] == "-" else f" {best['unit']}"
            tracker.set_tags(data.sweep_id, {BEST: f"{best['name']} ({kpi} {best['mean']:.6g}{unit})"})
        result = {"ranking": rank, "differences": diffs, "data": data, "folder": folder,
                  "files": sorted(p.name for p in folder.iterdir()), "pngs": pngs}
    finally:
        if keep is not None:
            keep.cleanup()
            if result is not None:
                result["folder"] = None
    return result


def report_cli(args: list[str]) -> int:
    """``twinbench-sweep report``: rebuild the report of a past sweep (exit status 0, or 2 with a message)."""
    parser = argparse.ArgumentParser(prog="twinbench-sweep report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", nargs="?", help="parent run id or sweep name")
    parser.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db")
    parser.add_argument("--experiment", default="twinbench-sweeps")
    parser.add_argument("--kpi", default="oee")
    parser.add_argument("--pareto", nargs=2, default=["maintenance_cost", "oee"], metavar=("X", "Y"))
    parser.add_argument("--baseline", default=None, help="run name, config hash or job number (default: job 0)")
    parser.add_argument("--out", default=None, help="folder for report.md/html and PNGs (default reports/<sweep>)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report to the parent run")
    parser.add_argument("--list", action="store_true", help="list the sweeps in the store")
    opts = parser.parse_args(args)
    try:
        tracker, exp_id = connect(store_uri(opts.tracking_uri), opts.experiment)
        if opts.list:
            for run in tracker.client.search_runs([exp_id], f"tags.`{ROLE_TAG}` = 'parent'", max_results=1000):
                print(f"{run.info.run_id}  {run.info.status:9s}  {run.data.tags.get(SWEEP_TAG)}")
            return 0
        if not opts.sweep:
            raise SweepError("name the sweep: twinbench-sweep report SWEEP_ID_OR_NAME (see --list)")
        parent = resolve_parent(tracker, exp_id, opts.sweep)
        out = Path(opts.out or Path("reports") / parent.data.tags.get(SWEEP_TAG, parent.info.run_id))
        res = write_report(tracker, parent.info.run_id, kpi=opts.kpi, pareto=opts.pareto, baseline=opts.baseline,
                           out_dir=out, log=not opts.no_log)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(_md_table(with_units(res["ranking"][["rank", "job", "name", "unit", "mean", "low", "high", "n"]])))
    print(f"\nreport: {out.resolve() / 'report.md'} (and report.html, pareto.png, distributions.png)")
    return 0
