"""The master: Jacobi's one-step delay and Gauss-Seidel's none, loops reported, FMUs on the SimPy clock."""

import math

import numpy as np
import pytest
import simpy

from sim.clock import CoSimulation
from sim.fmu import AlgebraicLoopError, Connection, FmuComponent, FmuMaster, FmuVariableError
from sim.physics import RK4, Fleet
from tests.sim.fmu.thermal_numba import THERMAL_MASS

pytestmark = pytest.mark.filterwarnings("ignore::sim.fmu.FmuValidationWarning")  # the pythonfmu ramp source


def chain(fmus, algorithm, step=0.01):
    return FmuMaster([FmuComponent(fmus["ramp_source"], name="src", parameters={"slope": 2.0}),
                      FmuComponent(fmus["feedthrough3"], name="ft")],
                     ["src.signal -> ft.u"], step=step, algorithm=algorithm)


def test_feedthrough_chain_jacobi_lags_one_step_gauss_seidel_none(fmus):
    results = {}
    for algorithm in ("jacobi", "gauss-seidel"):
        master = chain(fmus, algorithm).initialize()
        results[algorithm] = master.run(0.5, record=["src.signal", "ft.y", "ft.integral"])
        master.close()
    jac, gs = results["jacobi"], results["gauss-seidel"]
    x = 2.0 * jac.t
    np.testing.assert_allclose(jac.values["src.signal"], x, atol=1e-12)
    # Jacobi: y(t_k+1) = u(t_k) = x(t_k) - the documented one-step delay
    np.testing.assert_allclose(jac.values["ft.y"][1:], x[:-1], atol=1e-12)
    assert np.max(np.abs(jac.values["ft.y"][1:] - x[1:])) == pytest.approx(2.0 * 0.01)
    # Gauss-Seidel: y(t_k) = x(t_k)
    np.testing.assert_allclose(gs.values["ft.y"], x, atol=1e-12)
    # the integral sees the held input: a left Riemann sum (Jacobi) vs a right one (Gauss-Seidel)
    np.testing.assert_allclose(jac.values["ft.integral"][-1], np.sum(x[:-1] * 0.01), rtol=1e-12)
    np.testing.assert_allclose(gs.values["ft.integral"][-1], np.sum(x[1:] * 0.01), rtol=1e-12)


def test_algebraic_loop_through_feedthrough_is_reported(fmus):
    a, b = FmuComponent(fmus["feedthrough3"], name="a"), FmuComponent(fmus["feedthrough3"], name="b")
    for algorithm in ("jacobi", "gauss-seidel"):
        with pytest.raises(AlgebraicLoopError, match="algebraic loop") as info:
            FmuMaster([a, b], ["a.y -> b.u", "b.y -> a.u"], step=0.01, algorithm=algorithm)
        assert set(info.value.cycle) == {"a.y", "a.u", "b.y", "b.u"}


def test_a_loop_without_feedthrough_is_cut_at_the_state_and_ordered(fmus):
    a, b = FmuComponent(fmus["feedthrough3"], name="a"), FmuComponent(fmus["feedthrough3"], name="b")
    master = FmuMaster([b, a], ["a.y -> b.u", "b.integral -> a.u"], step=0.01, algorithm="gauss-seidel")
    assert master.delayed == (Connection("b.integral", "a.u"),)
    assert [master.components[k].name for k in master.order] == ["a", "b"]  # a feeds b through feedthrough


def test_connections_are_checked(fmus):
    src, ft = FmuComponent(fmus["ramp_source"], name="src"), FmuComponent(fmus["feedthrough3"], name="ft")
    with pytest.raises(FmuVariableError, match="'gain' is a tunable parameter of ft, not a real input"):
        FmuMaster([src, ft], ["src.signal -> ft.gain"], step=0.01)
    with pytest.raises(FmuVariableError, match="'u' is a input of ft, not a real output"):
        FmuMaster([src, ft], ["ft.u -> ft.u"], step=0.01)
    with pytest.raises(Exception, match="fed twice"):
        FmuMaster([src, ft], ["src.signal -> ft.u", ("ft.integral", "ft.u")], step=0.01)


def test_thermal_fmu_and_numba_model_follow_one_trajectory_on_one_clock(fmus):
    """Same equations, same clock, same input changes: the FMU (exact per step) and RK4 agree to RK4's error."""
    env = simpy.Environment()
    cosim = CoSimulation(env)
    physics = cosim.add_physics(Fleet(THERMAL_MASS, integrator=RK4(max_step=1.0)), name="numba")
    master = FmuMaster([FmuComponent(fmus["thermal_mass"], name="fmu")], step=5.0).initialize()
    master.attach(cosim)
    samples = []

    def operator(env):
        for power in (120.0, 0.0, 60.0):
            physics.set_input(0, "heating_power", power)
            master.set_input("fmu.heating_power", power)
            for _ in range(30):
                yield env.timeout(5.0)
                samples.append((env.now, physics.output(0, "temperature"), master.output("fmu.temperature")))

    env.process(operator(env))
    cosim.run(until=451.0)
    t, numba, fmu = np.array(samples).T
    assert t[-1] == pytest.approx(450.0) and numba.max() > 300.0
    np.testing.assert_allclose(fmu, numba, rtol=0, atol=1e-6)  # RK4 at 1 s on tau = 100 s: ~1e-8 K


@pytest.mark.parametrize("name, atol", [("thermal_mass", 1e-6), ("thermal_mass_nostate", 0.05)])
def test_fmu_in_the_loop_trips_a_simpy_process_at_the_analytic_time(fmus, name, atol):
    """Heating until a trip level: located by re-stepping from a snapshot (FMU state), else interpolated."""
    power, resistance, capacity, ambient, trip = 100.0, 0.1, 1000.0, 293.15, 300.0
    tau = resistance * capacity
    exact = -tau * math.log(1 - (trip - ambient) / (power * resistance))
    env = simpy.Environment()
    master = FmuMaster([FmuComponent(fmus[name], name="motor")], step=2.0).initialize()
    master.attach(env)
    log = {}

    def guard(env):
        master.set_input("motor.heating_power", power)
        log["event"] = yield master.wait_for("motor.temperature", trip)
        log["now"] = env.now
        master.set_input("motor.heating_power", 0.0)  # trip: heating off
        yield env.timeout(50.0)
        log["after"] = master.output("motor.temperature")

    env.process(guard(env))
    env.run(until=300.0)
    assert log["now"] == pytest.approx(exact, abs=atol) and log["event"] == log["now"]
    assert log["after"] < trip  # cooling after the trip
    if name == "thermal_mass":
        assert master.components[0].time >= 298.0  # stepping went on after the located crossing


def test_a_falling_model_exchange_ball_fires_at_the_analytic_crossing(fmus):
    """Model Exchange on the clock: the crossing is located by re-stepping CVode from FMU states."""
    env = simpy.Environment()
    master = FmuMaster([FmuComponent(fmus["bouncing_ball3"], name="ball", tolerance=1e-10)], step=0.1).initialize()
    master.attach(env)
    seen = []

    def watcher(env):
        for level, direction in ((0.5, -1), (0.2, -1), (0.3, +1)):  # each armed below its level: not yet met
            seen.append((yield master.wait_for("ball.h", level, direction)))

    env.process(watcher(env))
    env.run(until=2.0)
    g, e = 9.81, 0.7
    def falls_to(level):  # h = 1 - g t^2 / 2
        return math.sqrt(2 * (1 - level) / g)

    t1 = falls_to(0.0)
    v = e * g * t1  # after the first impact h = v s - g s^2 / 2 rises through 0.3
    t_up = t1 + (v - math.sqrt(v * v - 2 * g * 0.3)) / g
    np.testing.assert_allclose(seen, [falls_to(0.5), falls_to(0.2), t_up], atol=1e-6)


def test_running_in_pieces_equals_running_at_once(fmus):
    """Chunk invariance: run(a) then run(b) gives the values of run(b) at the same communication points."""
    whole = chain(fmus, "jacobi").initialize()
    once = whole.run(0.3, record=["ft.y", "ft.integral"])
    pieces = chain(fmus, "jacobi").initialize()
    first = pieces.run(0.1, record=["ft.y", "ft.integral"])
    rest = pieces.run(0.3, record=["ft.y", "ft.integral"])
    for name in ("ft.y", "ft.integral"):
        joined = np.concatenate([first.values[name], rest.values[name][1:]])
        np.testing.assert_allclose(joined, once.values[name], rtol=1e-12, atol=1e-15)
    with pytest.raises(Exception, match="not a whole multiple"):
        pieces.run(0.3055)  # a last step of 0.5 ms: below feedthrough3's 1 ms internal step
    whole.close()
    pieces.close()
