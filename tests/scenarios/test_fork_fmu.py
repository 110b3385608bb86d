"""The what-if forks from the calibrated state when the line's motors are an FMU (line.motor_model), as it does
for the numba motors: the monitored motor starts from the calibrated final state at the window end, the others
from their start values, and the forked FMU line evolves as the numba line of the same equations forked alike."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from scenarios.reference.line import reference_line_spec
from scenarios.whatif.fork import calibrated_snapshot
from sim.exceptions import ConfigurationError
from sim.line import LineTwin
from sim.streams import RandomStreams
from tests.sim.fmu.thermal_numba import WINDING

SOURCE = Path(__file__).resolve().parents[1] / "sim" / "fmu" / "sources" / "winding.py"


@pytest.fixture(scope="module")
def winding(tmp_path_factory):
    pytest.importorskip("pythonfmu")
    from pythonfmu.builder import FmuBuilder

    from sim.fmu import model_from_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = FmuBuilder.build_FMU(SOURCE, dest=tmp_path_factory.mktemp("winding") / "winding.fmu")
    model = model_from_config({"fmu": str(path), "inputs": ["motor_current", "ambient_temperature"],
                               "outputs": ["winding_temperature"], "states": ["winding_temperature"]})
    yield model
    model.close()


def _spec(model):
    base = reference_line_spec()
    return dataclasses.replace(base, motors=dataclasses.replace(base.motors, model=model, max_step=60.0))


def test_the_fmu_line_forks_from_the_calibrated_state(winding):
    hot, time = 360.0, 3 * 86400.0 + 10 * 3600.0  # Thursday 10:00 on the line clock
    twins = []
    for model in (winding, WINDING):
        spec = _spec(model)
        snap = calibrated_snapshot(spec, states={"winding_temperature": hot}, stations=["filler"], time=time)
        twin = LineTwin.restore(spec, snap, streams=RandomStreams(4, 0))
        names = [s.name for s in spec.stations]
        start = twin.motors.fleet.states[:, 0].copy()
        assert start[names.index("filler")] == hot
        others = np.delete(start, names.index("filler"))
        np.testing.assert_array_equal(others, model.spec.vector("states", None)[0])  # start values
        assert twin.now == time and twin.motors.fleet.time == time
        twin.run(time + 1800.0)
        twins.append(twin)
    fmu, numba = twins
    np.testing.assert_allclose(fmu.motors.fleet.states, numba.motors.fleet.states, atol=1e-3)
    spec = _spec(winding)  # the same fork without the calibrated state: the filler ends elsewhere
    cold = LineTwin.restore(spec, calibrated_snapshot(spec, states={}, stations=["filler"], time=time),
                            streams=RandomStreams(4, 0))
    cold.run(time + 1800.0)
    filler = [s.name for s in spec.stations].index("filler")
    assert fmu.motors.fleet.states[filler, 0] - cold.motors.fleet.states[filler, 0] > 5.0


def test_a_state_the_fmu_motor_does_not_have_is_refused(winding):
    with pytest.raises(ConfigurationError, match="housing_temperature"):
        calibrated_snapshot(_spec(winding), states={"housing_temperature": 330.0}, stations=["filler"])
