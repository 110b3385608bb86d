"""Maintenance policies as strategies: registry, time-based, condition-based (physics), predictive."""

import numpy as np
import pytest
from scipy.optimize import brentq

from sim.clock import CoSimulation
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL, Fleet, StateEvent
from sim.processes import (MAINTENANCE_POLICIES, ConditionBased, Constant, Crew, FailureMode, Machine, MachineParams,
                           Predictive, RunToFailure, TimeBased, machine_process, make_policy, start_policy)
from sim.streams import RandomStreams
from tests.oracles import motor_step_response


def run_machine(policy, *, horizon=100_000.0, modes=(), physics=None, renewal_states=None, crew=False):
    cosim = CoSimulation()
    env = cosim.env
    motor = cosim.add_physics(physics) if physics is not None else None
    params = MachineParams("m", cycle_time=Constant(10.0), failure_modes=modes,
                           renewal_states=renewal_states or {})
    m = Machine(env, params, streams=RandomStreams(1), physics=motor, crew=Crew(env, 1) if crew else None)
    env.process(machine_process(env, m))
    start_policy(env, m, policy, RandomStreams(1))
    cosim.run(horizon)
    return m


def test_registry_and_unknown_names():
    assert set(MAINTENANCE_POLICIES) == {"run_to_failure", "time_based", "condition_based", "predictive"}
    assert isinstance(make_policy("time_based", interval=100.0), TimeBased)
    with pytest.raises(ConfigurationError, match="unknown maintenance policy 'time-based'.*time_based"):
        make_policy("time-based", interval=100.0)
    with pytest.raises(ConfigurationError, match="interval"):
        make_policy("time_based", interval=0.0)
    with pytest.raises(ConfigurationError, match="parameters are"):
        make_policy("run_to_failure", interval=5.0)
    with pytest.raises(ConfigurationError, match="either event="):
        ConditionBased(output="vibration_rms")
    with pytest.raises(ConfigurationError, match="callable"):
        Predictive(remaining_life=42.0)
    with pytest.raises(ConfigurationError, match="duration"):
        TimeBased(interval=10.0, duration=-1.0)


def test_time_based_on_operating_age_is_periodic():
    m = run_machine(TimeBased(interval=1000.0, duration=Constant(100.0), cost=5.0), horizon=110_050.0, crew=True)
    assert m.maintenances == 100
    assert m.recorder.durations()["in_maintenance"] == pytest.approx(100 * 100.0)
    assert m.kpis()["maintenance_cost"] == pytest.approx(100 * 5.0)


def test_age_replacement_beats_run_to_failure_for_wear_out():
    wear = FailureMode("wear", scale=2000.0, shape=4.0, repair_time=Constant(500.0))
    rtf = run_machine(RunToFailure(), modes=(wear,), horizon=400_000.0)
    pm = run_machine(TimeBased(interval=800.0, duration=Constant(50.0)), modes=(wear,), horizon=400_000.0)
    assert pm.failures < 0.2 * rtf.failures
    assert pm.kpis()["availability"] > rtf.kpis()["availability"]


def test_condition_based_maintenance_on_a_physics_state_event_resets_the_state():
    hot = StateEvent("hot", "winding_temperature", 330.0, +1)
    fleet = Fleet(MOTOR_THERMAL, states=np.array([300.0, 299.0]), inputs={"motor_current": 35.0}, events=(hot,))
    policy = ConditionBased(event="hot", duration=Constant(100.0))
    m = run_machine(policy, physics=fleet, horizon=20_000.0,
                    renewal_states={"winding_temperature": 300.0, "housing_temperature": 299.0})
    p = MOTOR_THERMAL.spec.vector("params", None)
    # the winding heats to 330 K, 100 s of maintenance (still heating), then reset to 300 K: a fixed cycle
    cross = brentq(lambda t: motor_step_response(p, [300.0, 299.0], 35.0, 298.15, [t])[0, 0] - 330.0, 0, 5000)
    assert m.maintenances == int(20_000.0 // (cross + 100.0))


def test_predictive_policy_asks_the_remaining_life_callable():
    calls = []

    def remaining_life(unit):
        calls.append(unit.age)
        return 5000.0 - unit.age  # a prognosis that knows the life is 5000 s of operation

    policy = Predictive(remaining_life=remaining_life, lead_time=1000.0, check_interval=600.0,
                        duration=Constant(100.0))
    m = run_machine(policy, horizon=41_050.0)
    assert m.maintenances == 10  # at age 4000 every time: cycles of 4000 + 100 s
    assert max(calls) <= 4000.0 + 1e-6
