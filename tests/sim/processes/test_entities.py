"""Per-entity parts and random durations: buffers block and starve, samplers keep streams in order."""

import math

import numpy as np
import pytest
import simpy

from sim.exceptions import ConfigurationError
from sim.processes import (Constant, Entity, EntityBuffer, Exponential, LogNormal, Normal, Sampler, Uniform, Weibull,
                           as_distribution)
from sim.streams import RandomStreams


def test_sampler_draws_in_stream_order_and_restores_exactly():
    dist = Exponential(2.0)
    s = Sampler(dist, RandomStreams(4)("x"), block=7)
    values = [s() for _ in range(20)]
    assert values == pytest.approx(RandomStreams(4)("x").exponential(2.0, 21)[:20].tolist())
    state = s.state()
    ahead = [s() for _ in range(10)]
    t = Sampler(dist, RandomStreams(99)("y"), block=7)
    t.set_state(state)
    assert [t() for _ in range(10)] == ahead


def test_named_streams_do_not_depend_on_creation_order():
    a = RandomStreams(1, 3)
    first = a("arrivals").random(3)
    b = RandomStreams(1, 3)
    b("repairs")
    assert np.array_equal(b("arrivals").random(3), first)
    assert not np.array_equal(RandomStreams(1, 4)("arrivals").random(3), first)


@pytest.mark.parametrize("make,match", [(lambda: Exponential(0.0), "mean"), (lambda: Exponential(-1.0), "mean"),
                                        (lambda: Normal(5.0, -1.0), "sd"), (lambda: LogNormal(-2.0, 0.5), "mean"),
                                        (lambda: Uniform(3.0, 1.0), "low <= high"),
                                        (lambda: Weibull(0.0, 1.0), "shape"),
                                        (lambda: Constant(-1.0), "value"), (lambda: as_distribution(0.0), "> 0"),
                                        (lambda: as_distribution("fast"), "neither")])
def test_bad_durations_are_named(make, match):
    with pytest.raises(ConfigurationError, match=match):
        make()


def test_buffer_blocks_when_full_and_hands_over_to_a_waiting_taker():
    env = simpy.Environment()
    buf = EntityBuffer(env, 2)
    assert buf.put(Entity(0, 0.0)) is None and buf.put(Entity(1, 0.0)) is None
    blocked = buf.put(Entity(2, 0.0))
    assert blocked is not None and not blocked.triggered and len(buf) == 2
    assert buf.take().id == 0 and blocked.triggered and [e.id for e in buf.items] == [1, 2]
    assert buf.take().id == 1 and buf.take().id == 2 and buf.take() is None
    getter = buf.get()
    assert buf.put(Entity(3, 0.0)) is None and getter.triggered and getter.value.id == 3
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigurationError, match="capacity"):
            EntityBuffer(env, bad)
    assert EntityBuffer(env, math.inf).capacity == math.inf
