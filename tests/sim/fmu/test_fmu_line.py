"""An FMU as the line's motors (issue 16: FMU parameters carry into the line): the reference bottling line with
its motors run by a winding FMU (pythonfmu, exact exponential steps) trips, resets and produces as the same line
with the numba model of the same equations; a snapshot of the FMU line restores to the FMU's rounding (an FMU
run restarts its communication grid at the restore time, so the last digits differ: 1e-8 K here, not bit for bit
as the numba line)."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from scenarios.reference.line import reference_line_spec
from sim.exceptions import ConfigurationError
from sim.fmu import model_from_config
from sim.line import LineTwin, line_kpis
from sim.line.spec import MotorPhysics
from sim.streams import RandomStreams
from tests.sim.fmu.thermal_numba import WINDING

pytestmark = pytest.mark.slow
SOURCE = Path(__file__).parent / "sources" / "winding.py"
HOURS = 2.0
#: The what-if and sweep tests run the FMU per member and sample (about 1 ms per FMU reset): a filler with 4.4 times
#: the FMU's copper loss (4.0 instead of 0.9 ohm) trips at about 560 s and again every ~530 s (3 trips in 30 min),
#: so half an hour shows the trips that the nameplate motor does not have.
WHATIF_HOURS = 0.5
HOT = {"copper_loss_resistance": 4.0}


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    """The ``line.motor_model`` entry of the winding FMU (built here)."""
    from pythonfmu.builder import FmuBuilder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = FmuBuilder.build_FMU(SOURCE, dest=tmp_path_factory.mktemp("winding") / "winding.fmu")
    return {"fmu": str(path), "inputs": ["motor_current", "ambient_temperature"],
            "outputs": ["winding_temperature"], "states": ["winding_temperature"]}


@pytest.fixture(scope="module")
def winding(entry):
    model = model_from_config(entry)
    yield model
    model.close()  # free the FMU instances here, not in the interpreter's exit


def _spec(model):
    base = reference_line_spec()
    hot = ({"copper_loss_resistance": 2.0},) * len(base.stations)  # the filler trips every ~16 min of running
    return dataclasses.replace(base, motors=dataclasses.replace(base.motors, model=model, max_step=60.0,
                                                                params=hot))


def _run(spec, until):
    twin = LineTwin(spec, streams=RandomStreams(0, 0))
    twin.run(until)
    return twin


def test_the_fmu_line_trips_and_produces_as_the_numba_line_of_the_same_equations(winding):
    fmu, numba = (_run(_spec(m), HOURS * 3600.0) for m in (winding, WINDING))
    hits = [list(t.motors.history) for t in (fmu, numba)]
    assert len(hits[0]) == len(hits[1]) >= 4  # trips and resets
    for a, b in zip(*hits):
        assert (a.asset, a.event.name) == (b.asset, b.event.name)
        assert a.time == pytest.approx(b.time, abs=1e-2)  # exact steps vs RK4, events located to the clock's tolerance
    np.testing.assert_allclose(fmu.motors.fleet.states, numba.motors.fleet.states, atol=1e-3)
    k_fmu, k_numba = line_kpis(fmu), line_kpis(numba)
    assert k_fmu["trips"] == k_numba["trips"] > 0
    assert k_fmu["output"] == pytest.approx(k_numba["output"], abs=1.0)


def test_a_snapshot_of_the_fmu_line_restores_to_rounding(winding):
    spec = _spec(winding)
    twin = _run(spec, 0.5 * HOURS * 3600.0)
    restored = LineTwin(spec, streams=RandomStreams(0, 0), snapshot=twin.snapshot(), exact=True)
    restored.run(HOURS * 3600.0)
    twin.run(HOURS * 3600.0)
    np.testing.assert_allclose(restored.motors.fleet.states, twin.motors.fleet.states, rtol=0, atol=1e-6)
    after = list(restored.motors.history)
    assert after, "the filler trips again after the snapshot"
    np.testing.assert_allclose([h.time for h in after], [h.time for h in list(twin.motors.history)[-len(after):]],
                               rtol=0, atol=1e-6)


def test_the_line_refuses_a_motor_model_that_is_neither_a_model_nor_an_fmu():
    with pytest.raises(ConfigurationError, match="neither a sim.physics.Model nor an FMU model"):
        MotorPhysics(model="motor_thermal")


def test_a_what_if_runs_the_fmu_motor_through_line_config_alone(entry):
    """``line.motor_model`` (config alone, as in a sweep or the main job's what-if): the FMU drives every station's
    motor; calibrated parameters (``motor_params`` on ``motor_stations``) carry into it: a filler with 4.4 times the
    copper loss trips, the FMU's nameplate one does not."""
    from scenarios.reference.line_config import line_spec_from_config
    from scenarios.whatif.run import Action, run_whatif
    from sim import ReplicationPlan

    line = {"motor_model": entry}
    assert type(line_spec_from_config(line).motors.model).__name__ == "FmuModel"
    plan = ReplicationPlan(replications=2, seed=3, run_length=WHATIF_HOURS * 3600.0, warmup=0.0)
    trips = {}
    for name, params in (("nameplate", None), ("calibrated", HOT)):
        result = run_whatif(line, [Action("as_is")], plan=plan, baseline="as_is", motor_params=params,
                            motor_stations=("filler",))
        trips[name] = result.kpis["trips"].to_numpy()
    assert (trips["nameplate"] == 0).all() and (trips["calibrated"] >= 2).all(), trips


def test_a_motor_fmu_without_the_line_s_variables_is_refused_with_the_fix(entry):
    from scenarios.reference.line_config import line_spec_from_config

    with pytest.raises(ConfigurationError, match=r"no input \['ambient_temperature'\].*motor_model.inputs"):
        line_spec_from_config({"motor_model": {**entry, "inputs": ["motor_current"]}})
    with pytest.raises(ConfigurationError, match=r"unknown name\(s\) \['R_th'\]"):
        line_spec_from_config({"motor_model": entry, "motors": {"filler": {"R_th": 2.0}}})


def test_a_sweep_configuration_runs_the_fmu_motor_through_line_config_alone(entry):
    """A sweep's replications (scenarios.sweeps.job, the function each Hydra job runs) take ``line.motor_model``
    like the what-if: with the hot copper loss the filler trips, with the FMU's own it does not."""
    from scenarios.sweeps.job import replicate_configuration
    from sim import ReplicationPlan

    plan = ReplicationPlan(replications=2, seed=5, run_length=WHATIF_HOURS * 3600.0, warmup=0.0)
    hot = replicate_configuration({"motor_model": entry, "motors": {"filler": HOT}}, plan)
    cool = replicate_configuration({"motor_model": entry}, plan)
    assert (hot["filler.trips"] >= 2).all() and (cool["filler.trips"] == 0).all()
