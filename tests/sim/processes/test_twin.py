"""The reference line as a twin: KPIs, snapshot as plain data, restore = continue, forks, wrong plant."""

import dataclasses
import pickle

import numpy as np
import pytest

from scenarios.reference.line import build_reference_line, change_line, reference_line_spec
from sim.exceptions import ConfigurationError
from sim.processes import FlowBufferParams
from sim.streams import RandomStreams
from sim.line import LineTwin

DAY = 86400.0


def busy_instant(twin, step=120.0, limit=60 * DAY):
    """Run until a repair, a maintenance and a jam are all in progress somewhere (or one of them at least)."""
    while twin.now < limit:
        twin.run(twin.now + step)
        st = twin.stations
        if any(s.repair is not None and s.repair["phase"] == "crew" for s in st) and any(s.jam_end for s in st):
            return
    pytest.fail("no instant with a repair and a jam in progress")


@pytest.fixture(scope="module")
def reference_run():
    """One run of the reference line (streams 1, 0) to 14 days, with snapshots taken on the way at days 1 and 3
    (a snapshot does not disturb the run): the KPI, fork and wrong-plant tests share it."""
    twin = build_reference_line(RandomStreams(1, 0))
    snaps = {}
    for day in (1, 3, 14):
        twin.run(day * DAY)
        snaps[day] = twin.snapshot()
    return twin, snaps


def test_reference_line_kpis(reference_run):
    twin, _ = reference_run
    assert twin.now == 14 * DAY
    k = twin.kpis()
    assert 3.0 < k["throughput"] < 5.0  # bottleneck: filler, 5 bottles/s
    assert 0.5 < k["oee"] < 0.9
    assert k["jams"] > 100 and k["energy_per_unit"] > 0 and k["maintenance_cost"] > 0
    for st in twin.stations:
        a, p, q = (k[f"{st.name}.{x}"] for x in ("availability", "performance", "quality"))
        assert k[f"{st.name}.oee"] == pytest.approx(a * p * q, rel=1e-12)
    assert twin.motors.fleet.n == 4 and len(twin.cosim.components) == 1  # one fleet, one kernel call for all


@pytest.mark.parametrize("when", ["busy", "off_shift"])
def test_snapshot_restore_continues_exactly(when):
    spec = reference_line_spec()
    a = LineTwin(spec, streams=RandomStreams(5, 2))
    if when == "busy":
        busy_instant(a)
    else:
        a.run(13.5 * DAY)  # Sunday noon: line off shift, crew away
        assert all("off_shift" in s.stops for s in a.stations)
    snap = a.snapshot()
    snap = pickle.loads(pickle.dumps(snap))  # plain data
    t1, t2 = snap.time, snap.time + 2 * DAY  # two days of shifts, jams, repairs (off_shift: into Monday's start)
    before = {s.name: (s.failures, s.jams, s.maintenances) for s in a.stations}
    output_at_t1 = a.line.output_now(3)
    a.run(t2)
    b = LineTwin.restore(spec, snap)
    assert b.now == t1
    b.run(t2)
    sa, sb = a.snapshot(), b.snapshot()
    np.testing.assert_allclose(sa.levels, sb.levels, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(sa.physics["motors"].states, sb.physics["motors"].states, rtol=1e-9)
    for x, y, st_b in zip(sa.stations, sb.stations, b.stations):
        assert x.usage == pytest.approx(y.usage, rel=1e-9)
        assert (x.tripped, x.repair is None, x.maintenance is None) == (y.tripped, y.repair is None,
                                                                        y.maintenance is None)
        f0, j0, m0 = before[x.name]
        st_a = a.station(x.name)
        assert (st_a.failures - f0, st_a.jams - j0, st_a.maintenances - m0) == (st_b.failures, st_b.jams,
                                                                               st_b.maintenances)
    assert b.line.output_now(3) == pytest.approx(a.line.output_now(3) - output_at_t1, rel=1e-9)


def test_fork_what_ifs_from_a_snapshot_with_new_streams(reference_run):
    spec = reference_line_spec()
    snap = reference_run[1][3]  # day 3
    slower = change_line(spec, speed={"filler": 0.8}, crew_size=3, buffer_scale=1.5)
    out = {}
    for name, s in (("as_is", spec), ("slower", slower)):
        fork = LineTwin.restore(s, snap, streams=RandomStreams(9, 0))
        fork.run(snap.time + 2 * DAY)
        out[name] = fork.kpis()["throughput"]
    assert out["slower"] < out["as_is"]


def test_a_snapshot_does_not_fit_another_plant(reference_run):
    spec = reference_line_spec()
    snap = reference_run[1][1]  # day 1
    other = dataclasses.replace(spec, stations=spec.stations[:3], buffers=spec.buffers[:2])
    with pytest.raises(ConfigurationError, match="does not fit this plant.*stations"):
        LineTwin.restore(other, snap)
    renamed = dataclasses.replace(spec, buffers=(FlowBufferParams("x", 10.0),) + spec.buffers[1:])
    with pytest.raises(ConfigurationError, match="buffers"):
        LineTwin.restore(renamed, snap)
    tiny = change_line(spec, buffer_scale=1e-6)
    assert max(snap.levels) > 0.01
    with pytest.raises(ConfigurationError, match="enlarge the buffer"):
        LineTwin.restore(tiny, snap, streams=RandomStreams(0))


def test_line_what_if_inputs_are_checked():
    spec = reference_line_spec()
    with pytest.raises(ConfigurationError, match="unknown station"):
        change_line(spec, speed={"labeller": 1.0})
    with pytest.raises(ConfigurationError, match="max_speed"):
        change_line(spec, speed={"filler": 2.0})
    with pytest.raises(ConfigurationError, match="size"):
        LineTwin(change_line(spec, crew_size=0), streams=RandomStreams(0))


def test_filler_pump_part_drives_a_failure_mode_and_maintenance_renews_its_bearing():
    spec = reference_line_spec(pump=True)
    twin = build_reference_line(RandomStreams(2, 0), spec)
    pump = twin.parts["filler_pump"]
    filler = twin.station("filler")
    assert filler.sensors["vibration_rms"] == (pump, 0)
    twin.run(20 * DAY)
    assert pump.output(0, "flow") > 0
    assert [c.mode.name for c in filler.clocks][-1] == "pump_bearing"
    assert filler.read("vibration_rms") == pump.output(0, "vibration_rms")  # what the thinning test reads
    assert filler.maintenances > 0
    # time-based maintenance of the filler reset the pump's bearing wear at the last renewal
    wear_rate = pump.fleet.params[0, pump.fleet.spec.index("params", "bearing_wear_rate")]
    assert pump.output(0, "bearing_wear") < 2.0 * wear_rate * (filler.age + 3 * DAY)
    snap = twin.snapshot()
    assert set(snap.physics) == {"motors", "filler_pump"}
    LineTwin.restore(spec, snap).run(snap.time + DAY)
