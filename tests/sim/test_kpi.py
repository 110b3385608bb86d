"""Streaming statistics and KPI definitions: exact against brute force, memory flat in run length; the KPI
catalogue: every KPI a line reports is in it, and its unit conversions are pint's, exactly rounded."""

import math
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pint
import pytest
import simpy

from sim.exceptions import ConfigurationError
from sim.kpi import (KPIS, MACHINE_STATES, UNITS, StateRecorder, Tally, TimeAverage, UnknownKPIError, is_better,
                     kpi_info, machine_kpis, rank, to_display)


def test_tally_matches_numpy():
    x = np.random.default_rng(3).lognormal(size=10_001)
    t = Tally()
    for v in x:
        t.add(float(v))
    assert t.n == x.size and t.value() == pytest.approx(x.mean(), rel=1e-12)
    assert t.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
    assert (t.min, t.max) == (x.min(), x.max())
    t.reset()
    assert math.isnan(t.value()) and math.isnan(t.variance)


def test_time_average_and_state_shares_against_brute_force():
    env = simpy.Environment()
    level = TimeAverage(env)
    rec = StateRecorder(env, MACHINE_STATES, "running")
    rng = np.random.default_rng(5)
    steps = rng.exponential(1.0, 2000)
    values = rng.integers(0, 10, 2000)
    shares = rng.uniform(0, 1, 2000)

    def proc(env):
        for dt, v, s in zip(steps, values, shares):
            level.set(float(v))
            rec.set_shares("running", float(s), "starved")
            yield env.timeout(float(dt))

    env.process(proc(env))
    env.run()
    assert level.value() == pytest.approx(np.sum(values * steps) / steps.sum(), rel=1e-12)
    d = rec.durations()
    assert d["running"] == pytest.approx(np.sum(shares * steps), rel=1e-12)
    assert d["starved"] == pytest.approx(np.sum((1 - shares) * steps), rel=1e-12)
    assert sum(d.values()) == pytest.approx(rec.observed, rel=1e-12)


def test_memory_is_flat_in_run_length():
    env = simpy.Environment()
    rec = StateRecorder(env, MACHINE_STATES, "running")
    level, tally = TimeAverage(env), Tally()

    def proc(env, n):
        for k in range(n):
            rec.set(MACHINE_STATES[k % 4])
            level.add(1 if k % 2 else -1)
            tally.add(float(k))
            yield env.timeout(1.0)

    def size():
        return sum(sys.getsizeof(o) for o in (rec.time_in, rec.entries, rec.__dict__, level, tally))

    env.process(proc(env, 100))
    env.run()
    small = size()
    env.process(proc(env, 100_000))
    env.run()
    assert size() == small


def test_oee_is_a_times_p_times_q_and_definitions_hold():
    d = {"running": 600.0, "starved": 50.0, "jammed": 30.0, "down": 40.0, "in_repair": 60.0,
         "in_maintenance": 20.0, "off_shift": 200.0}
    k = machine_kpis(d, output=2800.0, good=2750.0, ideal_rate=5.0, failures=2, energy=1e6, maintenance_cost=10.0)
    planned = 1000.0 - 200.0
    operating = planned - 120.0
    assert k["availability"] == pytest.approx(operating / planned)
    assert k["performance"] == pytest.approx(2800.0 / (5.0 * operating))
    assert k["quality"] == pytest.approx(2750.0 / 2800.0)
    assert k["oee"] == pytest.approx(k["availability"] * k["performance"] * k["quality"])
    assert k["oee"] == pytest.approx(2750.0 / (5.0 * planned))
    assert k["mtbf"] == pytest.approx(operating / 2) and k["mttr"] == pytest.approx(50.0)
    assert k["unplanned_downtime"] == pytest.approx(100.0) and k["energy_per_unit"] == pytest.approx(1e6 / 2800)


def test_unknown_state_is_named():
    env = simpy.Environment()
    with pytest.raises(ConfigurationError, match="'broken'"):
        StateRecorder(env, MACHINE_STATES, "broken")
    rec = StateRecorder(env, MACHINE_STATES, "idle")
    with pytest.raises(ConfigurationError, match="allowed states"):
        rec.set("sleeping")


# ------------------------------------------------------------------------------------------ the KPI catalogue
SI_VALUES = [0.0, 1.0, -2.5, 1e-7, 0.1, 3600.0, 7200.0, 12345.678, 293.15, 373.15, 1e9]


@pytest.fixture(scope="module")
def ureg():
    return pint.UnitRegistry()


@pytest.mark.parametrize("name", list(KPIS))
def test_display_conversion_is_pints(name, ureg):
    info = KPIS[name]
    si, shown = ureg.parse_units(info.si_unit.pint), ureg.parse_units(info.display_unit.pint)
    for x in SI_VALUES:
        expected = ureg.Quantity(x, si).to(shown).magnitude
        assert to_display(name, x) == pytest.approx(expected, rel=1e-13, abs=1e-12)
        delta = expected - ureg.Quantity(0.0, si).to(shown).magnitude  # a difference has no offset
        assert to_display(name, x, difference=True) == pytest.approx(delta, rel=1e-13, abs=1e-12)
    arr = np.array(SI_VALUES)
    np.testing.assert_array_equal(to_display(name, arr), [to_display(name, x) for x in SI_VALUES])
    pd.testing.assert_series_equal(to_display(name, pd.Series(arr)), pd.Series(to_display(name, arr)))


@pytest.mark.parametrize("label", list(UNITS))
def test_every_conversion_is_one_correctly_rounded_operation(label):
    unit = UNITS[label]
    assert unit.scale == 1 or unit.offset == 0.0  # so one rounding gives the exact result, rounded
    assert 1 in (unit.scale.numerator, unit.scale.denominator)
    info = next((k for k in KPIS.values() if k.display_unit is unit or k.si_unit is unit), None)
    if info is None or info.display_unit is not unit:
        return
    for x in SI_VALUES:
        exact = Fraction(x) * unit.scale + Fraction(unit.offset)
        assert to_display(info.name, x) == float(exact)


def test_kelvin_shows_in_celsius_and_seconds_in_hours():
    assert to_display("max_winding_temperature", 273.15) == 0.0
    assert to_display("max_winding_temperature", 10.0, difference=True) == 10.0
    assert KPIS["max_winding_temperature"].display_unit.ascii == "degC"
    assert to_display("unplanned_downtime", 5400.0) == 1.5
    assert to_display("filler.throughput", 0.5) == 1800.0
    assert to_display("energy_per_unit", 36.0) == 0.01


def test_station_kpis_resolve_by_their_last_part_and_unknown_ones_name_the_catalogue():
    assert kpi_info("filler.mtbf") is KPIS["mtbf"]
    assert kpi_info("line.filler.jams") is KPIS["jams"]
    with pytest.raises(UnknownKPIError, match=r"unknown KPI 'filler\.speed'.*throughput, oee") as err:
        kpi_info("filler.speed")
    assert isinstance(err.value, ConfigurationError)
    with pytest.raises(UnknownKPIError, match="'bogus'"):
        to_display("bogus", 1.0)


@pytest.mark.parametrize("name", [*KPIS, "filler.trips", "capper.mtbf"])
def test_rank_and_is_better_put_the_best_first_for_every_kpi(name):
    info = kpi_info(name)
    good, bad = (5.0, 2.0) if info.direction == "more" else (2.0, 5.0)
    values = pd.Series({"worse": bad, "nan": math.nan, "best": good, "middle": 3.5})
    assert list(rank(values, name).index) == ["best", "middle", "worse", "nan"]
    frame = values.rename("v").reset_index()
    assert list(rank(frame, name, column="v")["index"]) == ["best", "middle", "worse", "nan"]
    assert is_better(name, good, bad) and not is_better(name, bad, good) and not is_better(name, good, good)
    flipped = "less" if info.direction == "more" else "more"
    assert list(rank(values, name, direction=flipped).index)[0] == "worse"


def test_catalogue_directions_and_definitions():
    assert {k for k, v in KPIS.items() if v.direction == "less"} >= {
        "crew_cost", "maintenance_cost", "unplanned_downtime", "failures", "trips", "jams", "energy_per_unit",
        "lead_time", "wip", "mttr", "max_winding_temperature"}
    assert {k for k, v in KPIS.items() if v.direction == "more"} >= {
        "throughput", "output", "oee", "availability", "performance", "quality", "mtbf", "objective"}
    assert all(v.definition and "\n" not in v.definition for v in KPIS.values())
    with pytest.raises(TypeError):
        KPIS["oee"] = KPIS["throughput"]  # read-only: no module state to mutate
    with pytest.raises(ConfigurationError, match="direction 'up'"):
        rank(pd.Series([1.0]), "oee", direction="up")


def test_every_kpi_of_a_short_line_run_is_in_the_catalogue():
    from scenarios.reference.line import reference_line_spec
    from sim import LineTwin, RandomStreams

    twin = LineTwin(reference_line_spec(), streams=RandomStreams(11, 0))
    twin.run(4 * 3600.0)
    kpis = twin.kpis()
    assert {"throughput", "crew_cost", "crew_utilisation", "filler.mtbf"} <= set(kpis)
    missing = []
    for name in kpis:
        try:
            kpi_info(name)
        except UnknownKPIError:
            missing.append(name)
    assert not missing, f"KPIs without a catalogue entry (add them to sim.kpi.KPIS): {missing}"
    assert all(n in KPIS for n in kpis if "." not in n)  # line KPIs by their own name, not a station's


# ------------------------------------------------------------------------------------ insulation ageing
def test_insulation_ageing_follows_the_10_kelvin_rule_exactly():
    from sim.line.kpis import INSULATION_CLASSES, InsulationAgeing, ageing_factor, insulation_ageing

    hour = 3600.0
    b = INSULATION_CLASSES["B"]
    assert b == 403.15 and INSULATION_CLASSES["F"] - b == 25.0
    assert ageing_factor(b, b) == 1.0 and ageing_factor(b + 10.0, b) == 2.0 and ageing_factor(b - 20.0, b) == 0.25
    # an hour at the class temperature ages an hour; 10 K hotter two hours; a linear ramp integrates exactly
    assert insulation_ageing([0.0, hour], [b, b]) == hour
    assert insulation_ageing([0.0, hour], [b + 10.0] * 2) == 2 * hour
    t = np.linspace(0.0, hour, 20001)
    ramp = b - 10.0 + 20.0 * t / hour  # 10 K below to 10 K above: integral of 2^(x/10) over [-10, 10] K
    exact = hour * (2.0 - 0.5) / math.log(2.0) / 2.0
    assert insulation_ageing(t, ramp) == pytest.approx(exact, rel=1e-8)
    assert insulation_ageing(t, ramp, insulation_class="F") == pytest.approx(exact * 2.0 ** -2.5, rel=1e-8)
    acc = InsulationAgeing("B")
    for ti, ri in zip(t, ramp):
        acc.add(ti, ri)
    assert acc.value() == pytest.approx(insulation_ageing(t, ramp), rel=1e-12) and acc.peak == ramp.max()
    acc.reset()
    assert acc.value() == 0.0
    with pytest.raises(ConfigurationError, match="insulation class 'Z' is unknown"):
        InsulationAgeing("Z")
    with pytest.raises(ConfigurationError, match="must be non-decreasing"):
        insulation_ageing([1.0, 0.0], [b, b])


def test_loss_of_life_shows_in_percent():
    assert KPIS["loss_of_life"].display_unit.label == "%" and to_display("loss_of_life", 0.0125) == 1.25
    assert to_display("insulation_ageing", 7200.0) == 2.0 and KPIS["motor_risk_cost"].direction == "less"
