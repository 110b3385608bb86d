"""Out-of-process runs: a hung doStep and a segfault kill a worker, not the test process."""

import time

import numpy as np
import pytest

from sim.fmu import FmuComponent, FmuCrashedError, FmuTimeoutError, FmuVariableError, run_isolated, simulate_isolated


def run_in_process(path, **settings):
    with FmuComponent(path, parameters=settings.get("parameters")) as comp:
        comp.initialize()
        comp.set_input("u", 2.0)
        out = [comp.outputs().copy()]
        for k in range(10):
            comp.step(comp.time, 0.01)
            out.append(comp.outputs().copy())
    return np.array(out)


def test_isolated_run_returns_what_the_in_process_run_gives(fmus):
    result = simulate_isolated(fmus["feedthrough3"], stop_time=0.1, step=0.01, parameters={"gain": 3.0},
                               inputs={"u": 2.0}, timeout=60)
    expected = run_in_process(fmus["feedthrough3"], parameters={"gain": 3.0})
    np.testing.assert_allclose(result["t"], np.linspace(0, 0.1, 11), atol=1e-15)
    np.testing.assert_array_equal(result["y"][1:], expected[1:, 0])
    np.testing.assert_array_equal(result["integral"], expected[:, 1])


@pytest.mark.slow
def test_errors_raised_in_the_worker_come_back_as_themselves(fmus):
    with pytest.raises(FmuVariableError, match="outside its declared range"):
        simulate_isolated(fmus["feedthrough3"], stop_time=0.1, step=0.01, parameters={"gain": 99.0}, timeout=60)


@pytest.mark.slow
def test_a_hung_do_step_is_killed_at_the_wall_clock_limit(fmus):
    started = time.monotonic()
    # 4 s: the spawned worker starts and reaches the hanging doStep at t = 0.05 s in 1-2 s
    with pytest.raises(FmuTimeoutError, match="did not finish within 4 s") as info:
        simulate_isolated(fmus["feedthrough3"], stop_time=1.0, step=0.01, parameters={"hang_time": 0.05},
                          timeout=4)
    assert 4 <= time.monotonic() - started < 26
    assert info.value.path == fmus["feedthrough3"]


@pytest.mark.slow
def test_a_segfault_kills_the_worker_not_the_caller(fmus):
    with pytest.raises(FmuCrashedError, match="SIGSEGV"):
        simulate_isolated(fmus["feedthrough3"], stop_time=1.0, step=0.01, parameters={"crash_time": 0.05},
                          timeout=60)
    assert run_isolated(sum, [1, 2, 3], timeout=60) == 6  # the workbench goes on
