"""FMU parameters calibrated by the same LeastSquaresCalibrator as the numba models; FmuModel is model-shaped."""

import pickle

import numpy as np
import pandas as pd
import pytest

from calibration import CalibrationData, LeastSquaresCalibrator, simulate_window
from sim.exceptions import ParameterBoundsError
from sim.fmu import FmuModel, FmuRunError, model_from_config

TRUTH = {"heat_capacity": 1500.0, "thermal_resistance": 0.08}
INPUTS = ("heating_power", "ambient_temperature")


def thermal_model(path):
    return FmuModel(path, inputs=INPUTS, outputs=("temperature",), parameters=tuple(TRUTH), states=("temperature",))


def window(model, seed):
    t = np.arange(0.0, 1200.0, 10.0)
    u = np.column_stack([np.where(t < 600, 100.0, 20.0), np.full(t.size, 293.15)])
    y = model.simulate([[293.15]], [[TRUTH["heat_capacity"], TRUTH["thermal_resistance"]]], t, u)[0]
    noisy = y + np.random.default_rng(seed).normal(0.0, 0.02, y.shape)
    start = pd.Timestamp("2026-06-01", tz="UTC")
    return CalibrationData(t=t, inputs=u, outputs=noisy, input_names=INPUTS, output_names=("temperature",),
                           start=start, end=start + pd.Timedelta(seconds=float(t[-1])))


def test_least_squares_recovers_fmu_parameters_within_their_intervals(fmus):
    model = thermal_model(fmus["thermal_mass"])
    data = window(model, seed=3)
    fit = LeastSquaresCalibrator(parameters=tuple(TRUTH), initial_states=(), max_step=10.0).fit(
        model, data, params={"heat_capacity": 900.0, "thermal_resistance": 0.15}, x0={"temperature": 293.15})
    for name, value in TRUTH.items():
        low, high = fit.intervals_[name]
        assert low < value < high, (name, fit.params_[name], fit.intervals_[name])
        assert abs(fit.params_[name] / value - 1) < 0.01
    assert fit.record_.model == "fmu:ThermalMass" and fit.record_.model_version == model.description.sha256[:12]
    # the final state is the FMU's temperature at the window end, as simulate_window gives it
    end = simulate_window(model, fit.record_, data, x0={"temperature": 293.15}, max_step=10.0).final_state()
    assert fit.final_state_["temperature"] == pytest.approx(end["temperature"], abs=1e-9)


def test_fmu_model_spec_carries_units_bounds_and_defaults(fmus):
    spec = thermal_model(fmus["thermal_mass"]).spec
    var = spec.var("params", "heat_capacity")
    assert (var.unit, var.bounds, var.default) == ("J/K", (1.0, 1e6), 1000.0)
    assert spec.names("inputs") == INPUTS and spec.var("states", "temperature").unit == "K"
    with pytest.raises(ParameterBoundsError, match="heat_capacity"):
        thermal_model(fmus["thermal_mass"]).simulate([[293.15]], [[0.5, 0.1]], np.arange(3.0), np.zeros((3, 2)))


def test_members_are_runs_of_one_reused_instance_and_match_one_by_one(fmus):
    model = thermal_model(fmus["thermal_mass"])
    t, u = np.arange(0.0, 300.0, 10.0), np.column_stack([np.full(30, 80.0), np.full(30, 290.0)])
    params = np.array([[1000.0, 0.1], [2000.0, 0.05], [500.0, 0.2]])
    together = model.simulate([[300.0]], params, t, u)
    component = model.component
    alone = np.stack([model.simulate([[300.0]], p[None], t, u)[0] for p in params])
    assert model.component is component
    np.testing.assert_array_equal(together, alone)
    clone = pickle.loads(pickle.dumps(model))  # for process pools: the worker loads its own instance
    np.testing.assert_array_equal(clone.simulate([[300.0]], params, t, u), together)
    clone.close()
    model.close()


def test_a_failing_member_is_named(fmus):
    model = FmuModel(fmus["feedthrough3"], parameters=("gain",), bounds={"gain": (-1.0, 10.0)})
    with pytest.raises(FmuRunError, match="member 1") as info:
        model.simulate(np.zeros((2, 0)), [[1.0], [-0.5]], np.arange(3.0) * 0.01, np.ones((3, 1)))
    assert info.value.asset == 1  # FMU range [0, 10]: the component rejects -0.5 before the run
    model.close()


def test_model_from_config(fmus, tmp_path):
    model = model_from_config({"fmu": fmus["thermal_mass"], "inputs": list(INPUTS), "outputs": ["temperature"],
                               "parameters": ["heat_capacity"], "bounds": {"heat_capacity": [10, 1e4]}})
    assert model.spec.var("params", "heat_capacity").bounds == (10.0, 1e4)
    assert model.spec.names("params") == ("heat_capacity",)
