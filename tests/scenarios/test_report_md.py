"""The what-if report as a story: meaningful digits, replications enough for the claims, horizon effects,
embedded figures, and its self-contained HTML twin.  The horizon and report tests run a real (small) what-if."""

from __future__ import annotations

import base64
import math
import re
import types
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from scenarios.whatif.decision import Decision, decide
from scenarios.whatif.report import (FIGURES, figures_in, format_interval, format_significant, horizon_notes,
                                     precision_notes, replications_needed, report_markdown, round_interval,
                                     summarize, summary_markdown)
from sim.exceptions import ConfigurationError

HOUR = 3600.0


# ----------------------------------------------------------------------------- meaningful digits
def _decimals(text: str) -> int:
    mantissa = text.split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _parse(text: str) -> float:
    return float(text.replace(",", ""))


def _unit(text: str) -> float:
    """The value of one unit in the last place shown."""
    power = int(text.split("e")[1]) if "e" in text else 0
    return 10.0 ** (power - _decimals(text))


magnitudes = st.builds(lambda m, e: m * 10.0 ** e, st.floats(1.0, 9.999), st.integers(-14, 9))
values = st.one_of(magnitudes, magnitudes.map(lambda x: -x), st.just(0.0),
                   st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False))
half_widths = st.one_of(magnitudes, st.just(0.0))


@settings(max_examples=400, deadline=None)
@given(values, half_widths, st.booleans())
def test_a_mean_never_shows_more_decimals_than_its_half_width(value, half, sign):
    shown, shown_half = round_interval(value, half, sign=sign)
    assert "e+" not in shown + shown_half and "nan" not in shown + shown_half
    if shown_half == "0":  # deterministic (or rounding noise of one): the value alone, 4 significant digits
        assert half <= 1e-9 * abs(value) or half == 0
        assert shown == format_significant(value, sign=sign)
        return
    assert _decimals(shown) <= _decimals(shown_half)
    assert ("e" in shown) == ("e" in shown_half)
    # the half-width to 2 significant digits: within 5 % (half a unit of the second digit) and exactly 2 digits
    # when it has decimals (from 100 on its integer part is shown whole)
    assert abs(_parse(shown_half) - half) <= 0.05 * half * (1 + 1e-9)
    digits = re.sub(r"[^0-9]", "", shown_half.split("e")[0]).lstrip("0")
    if _decimals(shown_half) > 0:
        assert len(digits) == 2
    # the value rounded to the half-width's decimal place: within half a unit of the last place shown
    assert abs(_parse(shown) - value) <= _unit(shown) / 2 * (1 + 1e-6) + 1e-9 * abs(value)
    assert shown.startswith("+") == (sign and _parse(shown) > 0) or _parse(shown) == 0
    assert not re.match(r"^-[0.,]*(e|$)", shown)  # no "-0.00"


@pytest.mark.parametrize("value, half, sign, text", [
    (14647.3, 91.2, False, "14,647 ± 91"),
    (16144.4, 123.4, False, "16,144 ± 120"),
    (857.1, 86.9, True, "+857 ± 87"),
    (0.80101, 0.00351, False, "0.8010 ± 0.0035"),
    (0.25, 3.2, False, "0.2 ± 3.2"),  # half to even: 0.25 -> 0.2
    (99.6, 99.6, False, "100 ± 100"),  # 99.6 rounds up into the next decade: one decimal fewer
    (0.0996, 0.0996, False, "0.10 ± 0.10"),
    (17303.0, 0.0, False, "17,303 ± 0"),
    (3.0, 0.0, True, "+3 ± 0"),
    (1000.0, 1e-7, False, "1,000 ± 0"),  # 1e-10 of the value: rounding noise of a deterministic result
    (-0.0004, 0.03, True, "0.000 ± 0.030"),
    (1.23e-9, 4.5e-11, False, "1,230e-12 ± 45e-12"),
    (float("nan"), 1.0, False, "nan ± 1"),
    (5.0, float("nan"), False, "5 ± nan"),
])
def test_intervals_read_as_a_person_writes_them(value, half, sign, text):
    assert format_interval(value, half, sign=sign) == text


def test_significant_digits_without_exponents_and_bad_digits_named():
    assert [format_significant(x, 2) for x in (157.4, 0.0035, 2132.4, 120.0, -0.00001)] == \
        ["160", "0.0035", "2,132", "120", "-0.00001"]
    assert format_significant(17303.3) == "17,303" and format_significant(0.8067) == "0.8067"
    with pytest.raises(ConfigurationError, match=r"digits = 0 must be an integer >= 1"):
        format_significant(1.0, 0)
    with pytest.raises(ConfigurationError, match=r"digits = 1.5"):
        round_interval(1.0, 0.1, digits=1.5)


def test_the_kpi_table_has_no_exponents_and_shows_an_asymmetric_interval_as_its_bounds():
    summary = pd.DataFrame([
        {"action": "a", "kpi": "throughput", "mean": 4.0, "half_width": 120 / 3600, "diff": 0.0,
         "diff_half_width": 0.0, "low": 4.0 - 120 / 3600, "high": 4.0 + 120 / 3600, "interval": "t"},
        {"action": "b", "kpi": "throughput", "mean": 4.5, "half_width": 0.01, "diff": 0.5, "diff_half_width": 0.1,
         "low": 4.49, "high": 4.51, "interval": "t"},
        {"action": "b", "kpi": "failure_probability", "mean": 0.0, "half_width": 0.0, "diff": 0.0,
         "diff_half_width": 0.0, "low": 0.0, "high": 0.2775, "interval": "wilson"}])
    table = summary_markdown(summary, baseline="a", currency="EUR")
    assert "| a | throughput | units/h | 14,400 ± 120 | — |" in table
    assert "| b | throughput | units/h | 16,200 ± 36 | +1,800 ± 360 |" in table
    assert "| b | failure_probability | % | 0 [0, 28] |" in table
    assert not re.search(r"\de[+-]\d", table)


# ----------------------------------------------------------------------------- replications needed
def _oracle(n, half, target, confidence):
    """Smallest m >= 2 whose t half-width (same standard deviation) is at most *target* (but for rounding), by
    trying every m up to the plain scaling's answer."""
    q = 0.5 + confidence / 2
    sd = half * math.sqrt(n) / student_t.ppf(q, n - 1)
    m = np.arange(2, max(n, math.ceil(n * (half / target) ** 2)) + 2)
    ok = student_t.ppf(q, m - 1) * sd / np.sqrt(m) <= target * (1 + 1e-9)
    return int(m[np.argmax(ok)])


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.floats(0.01, 100.0), st.floats(0.05, 1.0), st.sampled_from([0.9, 0.95, 0.99]))
def test_replications_needed_scale_as_one_over_root_n_with_the_t_quantile(n, half, ratio, confidence):
    target = half * ratio  # a target at most the half-width now: more replications, up to 400x
    plain = replications_needed(n, half, target)
    assert plain == max(2, math.ceil(n * (half / target) ** 2 - 1e-9))
    needed = replications_needed(n, half, target, confidence=confidence)
    assert needed == _oracle(n, half, target, confidence)
    assert needed <= max(plain, n)  # the t quantile shrinks as n grows: never more than the plain scaling


def test_replications_needed_refuses_what_it_cannot_scale():
    assert replications_needed(4, 0.0, 1.0, confidence=0.95) == 2  # a zero half-width needs nothing more
    for args, words in [((1, 1.0, 1.0), r"n = 1 must be an integer >= 2"),
                        ((4, -1.0, 1.0), r"half_width = -1.0 must be finite"),
                        ((4, 1.0, 0.0), r"target = 0.0 must be a finite half-width > 0")]:
        with pytest.raises(ConfigurationError, match=words):
            replications_needed(*args)


def _kpis(n: int, diffs: dict, *, seeds_per_draw: int = 1, sd: float = 1.0) -> pd.DataFrame:
    """Replications of throughput [1/s]: a baseline 'as_is' and actions offset by *diffs*, common noise + a
    little own noise (paired)."""
    rng = np.random.default_rng(7)
    common = rng.normal(5.0, sd, n)
    rows = []
    for action, diff in {"as_is": 0.0, **diffs}.items():
        own = rng.normal(0.0, sd, n) if action != "as_is" else np.zeros(n)
        for r in range(n):
            rows.append({"action": action, "replication": r, "draw": r // seeds_per_draw,
                         "throughput": common[r] + diff + own[r]})
    return pd.DataFrame(rows)


def test_a_marginal_gain_says_how_many_replications_would_resolve_it():
    kpis = _kpis(4, {"fast": 1.9, "other": 3.0, "weak": 0.4})
    summary = summarize(kpis, baseline="as_is", kpi_names=["throughput"])
    rows = summary.set_index("action")
    d, hw = rows.at["fast", "diff"], rows.at["fast", "diff_half_width"]
    assert d - hw > 0 and hw > d / 2  # significant, only marginally (the data above are made so)
    assert rows.at["other", "diff"] > 2 * rows.at["other", "diff_half_width"]  # clearly significant
    dw, hww = rows.at["weak", "diff"], rows.at["weak", "diff_half_width"]
    assert abs(dw) < hww  # not significant
    rec = Decision("fast", "Recommend 'fast'", candidates=("fast", "other"), best_value="weak",
                   objective="throughput", baseline="as_is", min_gain=0.0)
    notes = precision_notes(summary, kpis, rec, objective="throughput", baseline="as_is", confidence=0.95)
    assert len(notes) == 3
    assert notes[0].startswith("The recommended 'fast' changes throughput by +") and "only marginally" in notes[0]
    assert f"About {_oracle(4, hw, d / 2, 0.95)} replications (now 4)" in notes[0]
    assert notes[1].startswith("The highest expected value 'weak'") and "not significant" in notes[1]
    assert f"about {_oracle(4, hww, abs(dw), 0.95)} replications (now 4)" in notes[1]
    assert "rest on few replications: 4 replications" in notes[2] and "3.18" in notes[2]
    assert not any("'other'" in n for n in notes)  # the runner-up's gain is clear: nothing to warn about


def test_a_half_width_above_min_gain_and_draws_count_as_the_units_of_the_interval():
    kpis = _kpis(8, {"fast": 2.0}, seeds_per_draw=2, sd=0.5)
    summary = summarize(kpis, baseline="as_is", kpi_names=["throughput"])
    row = summary[summary["action"] == "fast"].iloc[0]
    base = summary[summary["action"] == "as_is"].iloc[0]["mean"]
    min_gain = 0.5 * row["diff_half_width"] / base  # the half-width is twice the smallest gain that counts
    rec = Decision("fast", "Recommend 'fast'", objective="throughput", baseline="as_is", min_gain=min_gain)
    notes = precision_notes(summary, kpis, rec, objective="throughput", baseline="as_is", min_gain=min_gain)
    above = [n for n in notes if "larger than the min_gain" in n]
    assert len(above) == 1
    need = 2 * _oracle(4, row["diff_half_width"], min_gain * base, 0.95)  # 4 draws of 2 seeds each
    assert f"About {need} replications (now 8: 4 posterior draws × 2 seeds)" in above[0]
    assert any("4 posterior draws (2 seeds each" in n for n in notes)


def test_enough_replications_and_a_clear_gain_warn_of_nothing():
    kpis = _kpis(12, {"fast": 3.0}, sd=0.1)
    summary = summarize(kpis, baseline="as_is", kpi_names=["throughput"])
    rec = Decision("fast", "Recommend 'fast'", objective="throughput", baseline="as_is")
    assert precision_notes(summary, kpis, rec, objective="throughput", baseline="as_is") == []


# ----------------------------------------------------------------------------- a real what-if, its report
@pytest.fixture(scope="module")
def whatif():
    """A small what-if on the reference line: maintenance every 6 h falls due within the 12 h horizon (2 h warm-up),
    the default every 160 h does not, and run-to-failure never."""
    from scenarios.reference.line_config import LineConfig
    from scenarios.whatif.run import Action, run_whatif
    from sim import ReplicationPlan

    actions = [Action("as_is", description="<b>as</b> it is"),
               Action("every_6h", changes={"policy": {"interval_h": 6.0}}),
               Action("run_to_failure", changes={"policy": {"name": "run_to_failure"}})]
    plan = ReplicationPlan(replications=3, seed=5, run_length=12 * HOUR, warmup=2 * HOUR)
    result = run_whatif(LineConfig(), actions, plan=plan, baseline="as_is")
    summary = summarize(result.kpis, baseline="as_is")
    return result, summary


def _maintenances(kpis, action):
    rows = kpis[kpis["action"] == action]
    return rows[[c for c in rows.columns if c.endswith(".maintenances")]].sum(axis=1)


def test_the_horizon_section_says_which_maintenance_falls_due_within_it(whatif):
    result, summary = whatif
    notes = horizon_notes(result, summary, baseline="as_is", objective="throughput")
    assert notes[0].startswith("The KPIs are measured over the 12 h horizon") and "2 h warm-up" in notes[0]
    assert "14% of the 14 h simulated" in notes[0]
    totals = next(n for n in notes if n.startswith("Counts, costs and durations"))
    assert "not per week" in totals and "168 h / 12 h = 14" in totals
    as_is = next(n for n in notes if n.startswith("'as_is'"))
    assert "never falls due within the 14 h simulated" in as_is and "160 h" in as_is
    every = next(n for n in notes if n.startswith("'every_6h'"))
    done = _maintenances(result.kpis, "every_6h")
    assert "can fall due up to 2 times per unit within the horizon, the first at 4 h into it" in every
    assert "ends 2 h after the last one" in every
    assert f"counted: {format_significant(done.mean(), 2)} planned maintenance(s) per replication" in every
    assert done.mean() > 0 and _maintenances(result.kpis, "as_is").sum() == 0
    pair = next(n for n in notes
                if n.startswith("'every_6h' against 'as_is': 2 against 0 planned maintenance(s) per unit can fall"))
    assert "before the next maintenance of 'as_is' is due (at 160 h of operating time, 146 h after" in pair
    assert any(n.startswith("'run_to_failure' and 'as_is' differ in maintenance policy") and "cannot show" in n
               for n in notes)
    failures = result.kpis.loc[result.kpis["action"] == "as_is", "failures"]
    rare = next(n for n in notes if n.startswith("Failures are rare within 12 h" if failures.mean() < 1 else
                                                 "Failures within 12 h"))
    assert f"({int(failures.sum())} in 3 replications)" in rare and "filler.valve" in rare
    assert any("shorter than the daily ambient cycle" in n for n in notes)
    # against a baseline that is maintained within the horizon, run-to-failure's deferred wear is named
    other = horizon_notes(result, summary, baseline="every_6h")
    rtf = next(n for n in other if n.startswith("'run_to_failure' against 'every_6h': 0 against 2"))
    assert "'run_to_failure' has no planned maintenance" in rtf and "after the horizon are not counted" in rtf


def test_the_report_tells_the_story_in_order_with_its_figures(whatif, tmp_path):
    result, summary = whatif
    dec = decide(summary, objective="throughput", baseline="as_is", min_gain=0.005, kpis=result.kpis)
    record = types.SimpleNamespace(parameters={"heat_capacity_housing": {"value": 52000.0}},
                                   window={"start": "t0", "end": "t1", "content_hash": "0123456789abcdef"},
                                   record_id="rec1")
    for name in ("whatif.png", "calibration.png"):
        (tmp_path / name).write_bytes(b"png")
    figures = figures_in(tmp_path)
    assert figures == ("whatif.png", "calibration.png")  # FIGURES order, only those there
    text = report_markdown("small", dec, summary, result, record, baseline="as_is", figures=figures,
                           decision="Decision: keep", currency="EUR")
    order = ["## Recommendation", "](whatif.png)", "## Enough replications?", "## Decision record",
             "## KPIs of the line", "## Horizon", "## What-if set-up", "## Calibration", "](calibration.png)"]
    positions = [text.index(key) for key in order]
    assert positions == sorted(positions)
    assert f"![{FIGURES['whatif.png']}](whatif.png)" in text
    verdict = dec.text.splitlines()
    assert f"{verdict[0]}\n\n- {verdict[1]}" in text  # the verdict, then its reasons as a list
    assert "whatif_differences.png" not in text and "data_quality.png" not in text
    assert "rest on few replications: 3 replications" in text
    assert "| as_is | crew_cost | EUR |" in text and "costs in EUR per run" in text
    assert not re.search(r"\de[+-]\d", text.split("## Calibration")[0])


# ----------------------------------------------------------------------------- the HTML twin
class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_html_twin_is_self_contained(whatif, tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from scenarios.whatif.html import write_html_report

    result, summary = whatif
    fig = Figure(figsize=(2, 1))  # a real PNG, small (the figure itself is tested in test_plots.py)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [1, 0])
    png = tmp_path / "whatif_differences.png"
    fig.savefig(png, dpi=40)
    dec = decide(summary, objective="throughput", baseline="as_is", kpis=result.kpis)
    record = types.SimpleNamespace(parameters={}, window={"start": "t0", "end": "t1", "content_hash": "ab" * 8},
                                   record_id="rec1")
    text = report_markdown("small", dec, summary, result, record, baseline="as_is", figures=figures_in(tmp_path))
    text += "\n\n![elsewhere](https://example.com/x.png) <script>alert(1)</script>\n"
    path = write_html_report(text, tmp_path)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    parser = _Elements()
    parser.feed(page)
    tags = parser.tags
    images = [a for t, a in tags if t == "img"]
    assert len(images) == 1 and images[0]["alt"] == FIGURES["whatif_differences.png"]
    head, data = images[0]["src"].split(",", 1)
    assert head == "data:image/png;base64" and base64.b64decode(data) == png.read_bytes()
    # nothing fetched from anywhere: no scripts, style sheets, frames; no URL in any src
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
    assert all(a["src"].startswith("data:") for t, a in tags if "src" in a)
    assert "figure not included: elsewhere" in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;as&lt;/b&gt; it is" in page  # raw HTML of a description is text, not markup
    # the tables: the KPI table (a row per action and KPI) and the actions'
    assert [t for t, _ in tags].count("table") == 2
    assert [t for t, _ in tags].count("tr") == (len(summary) + 1) + (len(result.actions) + 1)
    assert "<title>Twinbench report: small</title>" in page


def test_the_html_twin_names_a_missing_folder(tmp_path):
    from scenarios.whatif.html import report_html

    with pytest.raises(ConfigurationError, match=r"report folder .*nowhere.* does not exist"):
        report_html("# r", tmp_path / "nowhere")
