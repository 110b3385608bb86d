"""One FMU as a component: events at analytic times, reset reuse, snapshots with and without FMU state."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.fmu import FmuComponent, MacroStepError, read_fmu
from sim.fmu.master import FmuMaster


def bounce_times(h0, g, e, n):
    """Impact times of a ball dropped from h0 at rest: t1 = sqrt(2 h0 / g), then 2 e^k v1 / g apart."""
    t1 = math.sqrt(2 * h0 / g)
    times = [t1]
    for k in range(1, n):
        times.append(times[-1] + 2 * e ** k * g * t1 / g)
    return np.array(times)


@pytest.mark.parametrize("name, h0, g, e", [("bouncing_ball2", 1.0, 9.81, 0.7), ("bouncing_ball2", 2.0, 1.62, 0.5),
                                             ("bouncing_ball3", 1.0, 9.81, 0.7)])
def test_model_exchange_bouncing_ball_impacts_at_analytic_times(fmus, name, h0, g, e):
    """FMI 2 and FMI 3 Model Exchange: CVode's root finder puts the impacts at the analytic times."""
    with FmuComponent(fmus[name], parameters={"h0": h0, "g": g, "e": e}, tolerance=1e-9) as ball:
        ball.initialize()
        exact = bounce_times(h0, g, e, 4)
        h = 0.05
        while ball.time < exact[-1] + 0.1:
            ball.step(ball.time, h)
        found = np.array(ball.event_times[:4])
        np.testing.assert_allclose(found, exact, rtol=0, atol=1e-6)  # CVode root finding at rtol 1e-9
        # between impacts the height is the free-fall parabola
        assert ball.outputs()[0] >= 0.0


def test_instances_are_reused_across_runs_with_reset(fmus):
    def run(component, gain):
        component.initialize(parameters={"gain": gain})
        out = []
        for k in range(50):
            component.set_inputs([math.sin(0.1 * k)])
            component.step(0.01 * k, 0.01)
            out.append(component.outputs().copy())
        return np.array(out)

    with FmuComponent(fmus["feedthrough3"]) as reused:
        first = run(reused, 2.0)
        other = run(reused, 3.0)
        again = run(reused, 2.0)
        loaded = reused._fmu
        assert reused._fmu is loaded  # the same fmpy object: never loaded twice
    with FmuComponent(fmus["feedthrough3"]) as fresh:
        reference = run(fresh, 2.0)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, reference)
    np.testing.assert_allclose(other[:, 0], 1.5 * first[:, 0])
    # integral of a held input on the 1 ms internal step: exact sum of u * h
    u = np.sin(0.1 * np.arange(50))
    np.testing.assert_allclose(first[:, 1], np.cumsum(u * 0.01), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["thermal_mass", "thermal_mass_nostate", "feedthrough3", "bouncing_ball2",
                                  "bouncing_ball3", "dahlquist2"])
def test_snapshot_restore_continues_identically(fmus, name):
    """get/setFMUstate where the FMU has it, replay from a fresh initialization otherwise: same continuation."""
    with FmuComponent(fmus[name]) as comp:
        comp.initialize()
        assert comp.can_snapshot == (name not in ("thermal_mass_nostate", "dahlquist2"))

        def advance(k0, n):
            values = []
            for k in range(k0, k0 + n):
                if comp.input_names:
                    comp.set_inputs(np.full(len(comp.input_names), 50.0 + k))
                comp.step(comp.time, 0.1)
                values.append(comp.outputs().copy())
            return np.array(values)

        advance(0, 7)
        snap = comp.snapshot()
        ahead = advance(7, 9)
        comp.restore(snap)
        assert comp.time == snap.time
        np.testing.assert_array_equal(advance(7, 9), ahead)
        comp.release(snap)


def test_macro_step_must_be_a_multiple_of_the_fixed_internal_step(fmus):
    comp = FmuComponent(fmus["feedthrough3"])
    with pytest.raises(MacroStepError, match=r"0.0015 s is not a whole multiple.*0.001 s.*use e.g. 0.002 s"):
        FmuMaster([comp], step=0.0015)
    FmuMaster([comp], step=0.005)  # a multiple is fine
    comp.close()


def test_lineage_names_hash_version_guid_and_tool(fmus):
    lineage = read_fmu(fmus["feedthrough3"]).lineage()
    assert lineage["fmu.fmi_version"] == "3.0"
    assert lineage["fmu.guid"] == "{0f3c8d8a-3a49-4b7e-9d1f-feed00000003}"
    assert lineage["fmu.generation_tool"] == "twinbench tests (gcc)"
    assert len(lineage["fmu.sha256"]) == 64 and lineage["fmu.file"] == "feedthrough3.fmu"
    assert read_fmu(fmus["thermal_mass"]).lineage()["fmu.generation_tool"].startswith("PythonFMU")


def test_unit_and_range_come_from_the_declared_type_where_the_variable_has_none(fmus):
    k = read_fmu(fmus["dahlquist2"]).variable("k")
    assert (k.unit, k.min, k.max, k.kind) == ("1/s", 0.0, 1000.0, "tunable parameter")
    with pytest.raises(Exception, match=r"outside its declared range \[0.0, 1000.0\] 1/s"):
        FmuComponent(fmus["dahlquist2"], parameters={"k": -1.0})


def test_c_co_simulation_fmu_is_exact_at_every_communication_point(fmus):
    with FmuComponent(fmus["dahlquist2"], parameters={"k": 2.0, "x0": 3.0}) as comp:
        assert not comp.can_snapshot
        comp.initialize()
        values = [comp.outputs()[0]]
        for k in range(100):
            comp.step(0.01 * k, 0.01)
            values.append(comp.outputs()[0])
        np.testing.assert_allclose(values, 3.0 * np.exp(-2.0 * 0.01 * np.arange(101)), rtol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=st.integers(0, 12), inputs=st.lists(st.floats(-5, 5), min_size=13, max_size=13),
       gain=st.floats(0, 10))
def test_restore_anywhere_continues_like_the_uninterrupted_run(fmus, split, inputs, gain):
    """Property: a snapshot taken after any step, restored after running on, reproduces the run bit for bit."""
    with FmuComponent(fmus["feedthrough3"], parameters={"gain": gain}) as comp:
        comp.initialize()

        def drive(ks):
            out = []
            for k in ks:
                comp.set_inputs([inputs[k]])
                comp.step(comp.time, 0.002)
                out.append(comp.outputs().copy())
            return out

        straight = drive(range(13))
        comp.initialize()
        drive(range(split))
        snap = comp.snapshot()
        drive(range(split, 13))
        comp.restore(snap)
        np.testing.assert_array_equal(drive(range(split, 13)), straight[split:])
        comp.release(snap)
