"""The decision: which action, under which guardrails, against which alternatives - and its record.

:func:`decide` turns a what-if summary (:func:`scenarios.whatif.report.summarize`) into a :class:`Decision`:

1. **Guardrails.**  Every action is judged against every :class:`~scenarios.whatif.constraints.Constraint`
   on its interval (not its mean).  An action that violates one is never recommended; the report names the
   constraint(s) that exclude it.  P(failure before the horizon) (``failure_probability``, a share of the
   replications) is judged on the upper bound of its Wilson interval
   (:func:`scenarios.whatif.constraints.with_binomial`), so a few failure-free replications do not prove a
   small probability: the verdict says how many would.
2. **Candidates.**  A feasible action other than the baseline is a candidate when its paired gain in the
   objective over the baseline is significant (the interval lies on the good side of zero) and at least
   ``min_gain`` of the baseline's mean.
3. **Risk.**  Actions are ordered by motor risk: the mean ``motor_risk_cost`` (trips and insulation ageing,
   in currency), ties by the peak winding temperature, then the baseline first.  A riskier candidate is
   chosen over a safer one only if its paired gain over it is significant and at least ``min_gain``; the
   chosen action is the candidate with the highest expected objective that beats every safer candidate so.
4. **Verdict.**  ``recommend`` (a candidate wins), ``keep`` (no action improves the objective), ``no clear
   winner`` (a gain exists but is insignificant or below ``min_gain``, or the action with the highest
   expected value does not clearly beat a safer one: the safer one is chosen), ``no feasible action``
   (every action violates a guardrail: nothing is recommended).

The decision record (:func:`decision_record`) holds the action, the alternatives, the KPI deltas with their
intervals, every constraint checked, the assumptions, the calibration record id and the data window; the job
prints it and logs it to the tracker.  The action with the highest expected value is always shown next to the
safest one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from scenarios.whatif.constraints import Verdict, binding, evaluate, is_binomial, with_binomial
from scenarios.whatif.report import REPORT_KPIS, Recommendation, _fmt_half, _num, summarize
from sim.exceptions import ConfigurationError
from sim.kpi import kpi_info

__all__ = ["STATUSES", "RISK_KPIS", "Decision", "decide", "decide_whatif", "decision_record", "decision_text"]

STATUSES = ("recommend", "keep", "no clear winner", "no feasible action")

RISK_KPIS = ("motor_risk_cost", "trips", "max_winding_temperature", "failure_probability")
"""How risky an action is, compared in this order (the first the summary has decides; ties go on)."""


@dataclass(frozen=True)
class Decision(Recommendation):
    """A :class:`~scenarios.whatif.report.Recommendation` with the reasoning behind it.

    Attributes
    ----------
    action : str or None
        The action to take (the baseline when keeping it; None when no action is feasible).
    text : str
        The explanation: verdict, gain with its interval, trade-offs, excluded actions and why.
    status : str
        One of :data:`STATUSES`.
    objective, baseline : str
    best_value : str or None
        The feasible action with the highest expected objective.
    safest : str or None
        The feasible action with the least motor risk.
    feasible : tuple of str
    excluded : dict
        action -> the violated :class:`~scenarios.whatif.constraints.Verdict` s, worst first.
    verdicts : tuple of Verdict
        Every action against every constraint.
    candidates : tuple of str
        Feasible actions with a significant gain of at least ``min_gain`` over the baseline.
    """

    status: str = "keep"
    objective: str = "throughput"
    baseline: str = "as_is"
    best_value: str | None = None
    safest: str | None = None
    feasible: tuple = ()
    excluded: dict = field(default_factory=dict)
    verdicts: tuple = ()
    candidates: tuple = ()
    min_gain: float = 0.0
    confidence: float = 0.95


def _risk_key(summary: pd.DataFrame, order: list, baseline: str):
    means = summary.pivot_table(index="action", columns="kpi", values="mean", sort=False)
    kpis = [k for k in RISK_KPIS if k in means.columns]

    def key(action):
        return (*(float(means.at[action, k]) if math.isfinite(means.at[action, k]) else math.inf for k in kpis),
                action != baseline, order.index(action))

    return key


def _gain(kpis: pd.DataFrame | None, summary: pd.DataFrame, a: str, b: str, objective: str,
          confidence: float) -> dict:
    """Paired gain of *a* over *b* in *objective* (SI): diff, low, high and b's mean."""
    if kpis is not None:
        both = kpis[kpis["action"].isin([a, b])]
        pair = summarize(both, baseline=b, confidence=confidence, kpi_names=[objective])
        if is_binomial(objective):  # a share of replications: Newcombe's paired interval, not a t-interval
            pair = with_binomial(pair, both, baseline=b, confidence=confidence)
    else:  # only the baseline pairs are known
        pair = summary
    row = pair[(pair["action"] == a) & (pair["kpi"] == objective)].iloc[0]
    ref = pair[(pair["action"] == b) & (pair["kpi"] == objective)].iloc[0]
    return {"diff": float(row["diff"]), "low": float(row["diff_low"]), "high": float(row["diff_high"]),
            "half": float(row["diff_half_width"]), "ref": float(ref["mean"])}


def _clear(g: dict, sign: int, min_gain: float) -> tuple[bool, str]:
    """Is gain *g* significant and at least *min_gain* of the reference? And why not, in words."""
    significant = g["low"] * sign > 0 and g["high"] * sign > 0
    big = g["diff"] * sign >= min_gain * abs(g["ref"])
    if significant and big:
        return True, ""
    rel = g["diff"] / g["ref"] if g["ref"] else math.nan
    why = []
    if not significant:
        why.append("not significant")
    if not big:
        why.append(f"below the min_gain of {min_gain:.1%}")
    return False, f"{rel:+.2%} ({' and '.join(why)})"


def decide_whatif(result, spec):
    """A what-if's *result* judged as the main job and the live twin judge it (*spec*: a
    :class:`scenarios.specs.WhatIfSpec`): the summary of the report's KPIs, the objective and the guardrails'
    KPIs; the guardrails' verdicts on their intervals; the decision.  Returns ``(summary, verdicts, decision,
    trip_temperature)``."""
    names = [k for k in REPORT_KPIS if k in result.kpis.columns]
    names += [k for k in dict.fromkeys([spec.objective, *(c.kpi for c in spec.constraints)]) if k not in names]
    summary = summarize(result.kpis, baseline=spec.baseline, confidence=spec.confidence, kpi_names=names)
    trip = result.specs[spec.baseline].motors.trip_temperature
    verdicts = evaluate(spec.constraints, summary, horizon=spec.horizon, trip_temperature=trip,
                        confidence=spec.confidence)
    rec = decide(summary, objective=spec.objective, baseline=spec.baseline, verdicts=verdicts,
                 min_gain=spec.min_gain, confidence=spec.confidence, kpis=result.kpis)
    return summary, verdicts, rec, trip


def decide(summary: pd.DataFrame, *, objective: str, baseline: str, verdicts=(), min_gain: float = 0.0,
           confidence: float = 0.95, kpis: pd.DataFrame | None = None) -> Decision:
    """The decision of a what-if (see the module docstring).

    Parameters
    ----------
    summary : DataFrame
        :func:`~scenarios.whatif.report.summarize` of the replications (SI).
    objective, baseline : str
    verdicts : sequence of Verdict
        :func:`scenarios.whatif.constraints.evaluate` of the guardrails on *summary*.
    min_gain : float
        Smallest gain that counts, a fraction of the reference action's mean [-].
    confidence : float
    kpis : DataFrame, optional
        The replications (one row per action and replication), to pair any two actions; without them only
        gains over the baseline are known and a riskier action is never chosen over a safer non-baseline one.
    """
    if objective not in set(summary["kpi"]):
        raise ConfigurationError(f"objective KPI {objective!r} unknown; choose one of {sorted(set(summary['kpi']))}")
    if not 0 <= min_gain < 1:
        raise ConfigurationError(f"min_gain = {min_gain!r} must be a fraction in [0, 1) of the reference mean")
    info = kpi_info(objective)
    sign = info.sign
    order = list(dict.fromkeys(summary["action"]))
    if baseline not in order:
        raise ConfigurationError(f"baseline {baseline!r} is not among the actions {order}")
    verdicts = tuple(verdicts)
    excluded = {a: [v for v in binding(verdicts, a) if not v.ok] for a in order}
    excluded = {a: v for a, v in excluded.items() if v}
    feasible = [a for a in order if a not in excluded]
    obj = summary[summary["kpi"] == objective].set_index("action")
    risk = _risk_key(summary, order, baseline)
    common = dict(objective=objective, baseline=baseline, excluded=excluded, verdicts=verdicts, min_gain=min_gain,
                  confidence=confidence, feasible=tuple(feasible))
    level = f"{confidence:.0%}"
    lines: list = []
    if not feasible:
        lines.append(f"No feasible action: every action violates a guardrail, so none is recommended "
                     f"({level} intervals).")
        lines += _excluded_lines(excluded, order)
        return Decision(None, "\n".join(lines), status="no feasible action", **common)
    safest = min(feasible, key=risk)
    best_value = sorted(feasible, key=lambda a: (-sign * float(obj.at[a, "mean"]), risk(a)))[0]
    base_ok = baseline in feasible
    gains, reasons = {}, {}
    for a in feasible:
        if a == baseline:
            continue
        if base_ok:
            g = _gain(kpis, summary, a, baseline, objective, confidence)
            gains[a] = g
            ok, why = _clear(g, sign, min_gain)
            if not ok:
                reasons[a] = why
    candidates = [a for a in feasible if a != baseline and a not in reasons]
    candidates.sort(key=lambda a: (-sign * float(obj.at[a, "mean"]), risk(a)))
    choice, status, lost = None, "keep", {}
    for a in candidates:
        safer = [b for b in candidates if risk(b) < risk(a)]
        beaten = {}
        for b in safer:
            if kpis is None:
                beaten[b] = "no paired replications to compare the two"
                continue
            ok, why = _clear(_gain(kpis, summary, a, b, objective, confidence), sign, min_gain)
            if not ok:
                beaten[b] = why
        if not beaten:
            choice = a
            break
        lost[a] = beaten
    if choice is None:
        choice = baseline if base_ok else safest
        if any(sign * gains[a]["diff"] > 0 for a in gains):
            status = "no clear winner"
        elif not base_ok:
            status = "recommend"
    else:
        status = "recommend" if not lost else "no clear winner"
    # ------------------------------------------------------------------ the text
    unit = info.display_unit.label
    if status == "recommend" and choice != baseline:
        g = gains.get(choice)
        gain = (f": {objective} {_num(info.to_display(g['diff'], difference=True), 3, sign=True)} ± "
                f"{_fmt_half(info.to_display(g['half'], difference=True), 1.0)} {unit} over '{baseline}' "
                f"({g['diff'] / g['ref']:+.1%})" if g else f" (the baseline '{baseline}' is excluded)")
        lines.append(f"Recommend '{choice}'{gain}, {level} paired interval, within every guardrail.")
    elif status == "no clear winner" and lost:
        top = next(iter(lost))
        why = "; ".join(f"over the safer '{b}' its gain is {w}" for b, w in lost[top].items())
        lines.append(f"No clear winner: '{top}' has the highest expected {objective} of the candidates, but it "
                     f"is riskier and {why}. Choose the safer '{choice}'.")
    elif status == "no clear winner":
        why = "; ".join(f"'{a}' {w}" for a, w in reasons.items() if sign * gains[a]["diff"] > 0)
        lines.append(f"No clear winner: keep '{choice}'. No feasible action improves {objective} by a significant "
                     f"{min_gain:.1%} or more over '{baseline}' ({level} paired intervals): {why}.")
    else:
        lines.append(f"Keep '{choice}': no feasible action improves {objective} over '{baseline}' "
                     f"({level} paired intervals).")
    lines.append(f"Highest expected {objective} within the guardrails: '{best_value}' "
                 f"({_num(info.to_display(float(obj.at[best_value, 'mean'])))} {unit}); safest: '{safest}'"
                 + _risk_text(summary, safest) + ".")
    lines += _excluded_lines(excluded, order)
    return Decision(choice, "\n".join(lines), status=status, best_value=best_value, safest=safest,
                    candidates=tuple(candidates), **common)


def _risk_text(summary: pd.DataFrame, action: str) -> str:
    parts = []
    for kpi in RISK_KPIS:
        row = summary[(summary["action"] == action) & (summary["kpi"] == kpi)]
        if not row.empty:
            info = kpi_info(kpi)
            unit = "" if info.display_unit.label == "-" else f" {info.display_unit.label}"
            parts.append(f"{kpi} {_num(info.to_display(float(row['mean'].iloc[0])))}{unit}")
    return f" ({', '.join(parts)})" if parts else ""


def _excluded_lines(excluded: dict, order: list) -> list:
    return [f"'{a}' is excluded: " + "; ".join(v.text for v in excluded[a]) + "."
            for a in order if a in excluded]


def _delta_rows(summary: pd.DataFrame, action: str) -> dict:
    out = {}
    for _, r in summary[summary["action"] == action].iterrows():
        info = kpi_info(r["kpi"])
        out[r["kpi"]] = {"unit": info.display_unit.label,
                         "mean": _f(info.to_display(r["mean"])),
                         "low": _f(info.to_display(r.get("low", math.nan))),
                         "high": _f(info.to_display(r.get("high", math.nan))),
                         "interval": r.get("interval") if isinstance(r.get("interval"), str) else "t",
                         "half_width": _f(info.to_display(r["half_width"], difference=True)),
                         "diff": _f(info.to_display(r["diff"], difference=True)),
                         "diff_low": _f(info.to_display(r["diff_low"], difference=True)),
                         "diff_high": _f(info.to_display(r["diff_high"], difference=True)),
                         "sd_param": _f(info.to_display(r.get("sd_param", math.nan), difference=True)),
                         "sd_run": _f(info.to_display(r.get("sd_run", math.nan), difference=True))}
    return out


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _f(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def decision_record(decision: Decision, summary: pd.DataFrame, *, assumptions=(), calibration: dict | None = None,
                    setup: dict | None = None) -> dict:
    """The decision as plain data (JSON): action, status, alternatives with their KPI deltas and intervals
    (display units) and the constraints that bind, every constraint checked, the highest expected value next
    to the safest, the assumptions, the calibration (record id, data window) and the what-if set-up."""
    def verdict(v: Verdict) -> dict:
        return {"constraint": v.constraint, "kpi": v.kpi, "value": _f(v.value), "bound": _f(v.bound),
                "unit": v.unit, "ok": v.ok, "margin": _f(v.margin), "note": getattr(v, "note", "")}

    alternatives = []
    for a in dict.fromkeys(summary["action"]):
        alternatives.append({
            "action": a, "feasible": a in decision.feasible, "candidate": a in decision.candidates,
            "binding": [verdict(v) for v in (decision.excluded.get(a)
                                             or binding(decision.verdicts, a))],
            "kpis": _delta_rows(summary, a)})
    return {"action": decision.action, "status": decision.status, "objective": decision.objective,
            "baseline": decision.baseline, "min_gain": decision.min_gain, "confidence": decision.confidence,
            "highest_expected_value": decision.best_value, "safest": decision.safest,
            "text": decision.text, "alternatives": alternatives,
            "constraints": [{"action": v.action, **verdict(v)} for v in decision.verdicts],
            "assumptions": list(assumptions), "calibration": dict(calibration or {}), "setup": dict(setup or {})}


def decision_text(record: dict) -> str:
    """The decision record as text for the console and the report (Markdown)."""
    obj = record["objective"]
    lines = [f"Decision: {record['status']}" + (f" -> '{record['action']}'" if record["action"] else ""),
             f"  highest expected value: {record['highest_expected_value']}   safest: {record['safest']}"]
    for alt in record["alternatives"]:
        k = alt["kpis"].get(obj, {})
        state = "feasible" if alt["feasible"] else "EXCLUDED"
        bind = alt["binding"][0] if alt["binding"] else None
        unit = "" if not bind or bind["unit"] == "-" else f" {bind['unit']}"
        bind_text = (f"; {'binds' if not alt['feasible'] else 'closest limit'}: {bind['constraint']} "
                     f"({_num(_nan(bind['value']))} vs {_num(_nan(bind['bound']))}{unit})" if bind else "")
        diff = "" if alt["action"] == record["baseline"] else (
            f", Δ {_num(_nan(k.get('diff')), 3, sign=True)} [{_num(_nan(k.get('diff_low')), 3)}, "
            f"{_num(_nan(k.get('diff_high')), 3)}]")
        risk = alt["kpis"].get("motor_risk_cost", {}).get("mean")
        fail = alt["kpis"].get("failure_probability")
        fail_text = (f"; P(failure) {_num(_nan(fail.get('mean')), 3)} [{_num(_nan(fail.get('low')), 3)}, "
                     f"{_num(_nan(fail.get('high')), 3)}] {fail.get('unit', '')}"
                     + (" (Wilson)" if fail.get("interval") == "wilson" else "") if fail else "")
        lines.append(f"  - {alt['action']}: {state}; {obj} {_num(_nan(k.get('mean')))} {k.get('unit', '')}"
                     f"{diff}" + (f"; motor risk cost {_num(risk)}" if risk is not None else "") + fail_text
                     + bind_text)
    checked = sorted({c["constraint"] for c in record["constraints"]})
    lines.append(f"  constraints checked: {', '.join(checked) if checked else 'none'}")
    cal = record.get("calibration") or {}
    if cal:
        lines.append(f"  calibration record {cal.get('record_id')}, data window {cal.get('window_start')} .. "
                     f"{cal.get('window_end')}")
    for a in record.get("assumptions", []):
        lines.append(f"  assumption: {a}")
    return "\n".join(lines)
