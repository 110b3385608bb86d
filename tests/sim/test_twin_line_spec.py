"""The line twin's inputs are checked where they are built, and its line KPIs hold their identities."""

import dataclasses

import pytest

from scenarios.reference.line import reference_line_spec
from sim import LineTwin, RandomStreams
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL
from sim.processes import FlowBufferParams, TimeBased
from sim.line import AmbientCycle, MotorPhysics

DAY = 86400.0


@pytest.fixture(scope="module")
def spec():
    return reference_line_spec()


@pytest.mark.parametrize("changes,match", [
    ({"crew_size": 0}, r"crew_size = 0 must be an integer >= 1"),
    ({"crew_size": 2.5}, r"crew_size = 2.5"),
    ({"labour_rate": -1.0}, r"labour_rate = -1.0 must be finite and >= 0"),
    ({"crew_rule": "sometimes"}, r"crew_rule = 'sometimes' is unknown; use one of \('wait', 'preempt'\)"),
    ({"policy": "time_based"}, r"policy .* = 'time_based' is not a MaintenancePolicy; build one by name with "
                               r"sim.processes.make_policy"),
    ({"policy": {"labeller": TimeBased(interval=3600.0)}}, r"unknown station\(s\) \['labeller'\]"),
    ({"stations": ()}, r"stations is empty"),
    ({"buffers": ()}, r"4 stations need 3 buffers .* got 0"),
    ({"motors": MotorPhysics(params=({},))}, r"1 parameter sets for 4 stations"),
])
def test_bad_line_specs_name_the_value_and_the_fix(spec, changes, match):
    with pytest.raises(ConfigurationError, match=match):
        dataclasses.replace(spec, **changes)


def test_duplicate_names_are_refused(spec):
    stations = (spec.stations[0], dataclasses.replace(spec.stations[1], name="depalletizer")) + spec.stations[2:]
    with pytest.raises(ConfigurationError, match=r"name\(s\) \['depalletizer'\] appear more than once"):
        dataclasses.replace(spec, stations=stations)


@pytest.mark.parametrize("build,match", [
    (lambda: FlowBufferParams("b", 0.0), r"capacity = 0.0"),
    (lambda: FlowBufferParams("b", -5.0), r"capacity = -5.0"),
    (lambda: MotorPhysics(max_step=0.0), r"max_step = 0.0 must be a finite number > 0 \[s\]"),
    (lambda: MotorPhysics(lookahead=-1.0), r"lookahead = -1.0"),
    (lambda: MotorPhysics(model="motor_thermal"), r"is neither a sim.physics.Model nor an FMU model"),
    (lambda: AmbientCycle(step=0.0), r"step = 0.0 must be a finite number > 0 \[s\]"),
    (lambda: AmbientCycle(amplitude=-2.0), r"amplitude = -2.0 K must be finite, >= 0"),
    (lambda: TimeBased(interval=-3600.0), r"interval = -3600.0 must be a finite time > 0"),
])
def test_negative_or_zero_capacities_and_times_are_refused(build, match):
    with pytest.raises(ConfigurationError, match=match):
        build()


def test_a_snapshot_must_be_a_twin_snapshot_of_the_same_plant(spec):
    twin = LineTwin(spec, streams=RandomStreams(3, 0))
    twin.run(0.5 * DAY)
    fleet_snapshot = twin.motors.fleet.snapshot()
    with pytest.raises(ConfigurationError, match="is not a TwinSnapshot; restore what LineTwin.snapshot"):
        LineTwin.restore(spec, fleet_snapshot)
    with pytest.raises(ConfigurationError, match="LineTwin needs a LineSpec"):
        LineTwin({"stations": []}, streams=RandomStreams(0))
    other_motor = dataclasses.replace(spec, motors=dataclasses.replace(spec.motors, model=dataclasses.replace(
        MOTOR_THERMAL, spec=dataclasses.replace(MOTOR_THERMAL.spec, name="other_motor"))))
    with pytest.raises(ConfigurationError, match="does not fit this plant: its motor model"):
        LineTwin.restore(other_motor, twin.snapshot())


def test_line_kpis_hold_their_identities(spec):
    twin = LineTwin(spec, streams=RandomStreams(7, 0))
    twin.run(7 * DAY)
    k = twin.kpis()
    assert k["oee"] == pytest.approx(k["availability"] * k["performance"] * k["quality"], rel=1e-12)
    assert k["availability"] == k["filler.availability"]  # the bottleneck: 5 bottles/s x 1.2
    assert k["quality"] == pytest.approx((1 - 0.005) * (1 - 0.002), rel=1e-12)  # filler and capper scrap
    # six shifts of 24 h in the week, two technicians at 60 per hour, paid whether busy or not
    assert k["crew_cost"] == pytest.approx(2 * 60.0 * 144.0, rel=1e-9)
    assert k["lead_time"] == pytest.approx(k["wip"] / k["throughput"], rel=1e-12)
