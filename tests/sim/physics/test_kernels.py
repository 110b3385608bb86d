"""Kernel templates: bound per model, cached by numba per model, tuple helpers equal to their Python forms."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import config, njit

from sim.exceptions import ConfigurationError, ModelError
from sim.physics import TANK, Model, bind_kernels
from sim.physics.kernels import dopri5, is_kernel_template, placeholders, rk4, tuples
from tests.models_for_tests import BLOWUP, blowup_output, blowup_rhs

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[3]
WIDTH = 3
PICK = (2, 0)


def test_bound_kernels_run_the_template_code_with_the_model_kernels():
    bound = bind_kernels(rk4, TANK)
    advance = getattr(bound.advance, "py_func", bound.advance)
    template = getattr(rk4.advance, "py_func", rk4.advance)
    assert advance.__code__ is template.__code__  # tracebacks and coverage point into the template
    assert advance.__globals__["rhs"] is TANK.rhs and advance.__globals__["N_STATES"] == TANK.spec.nx
    assert rk4.rhs is placeholders.rhs  # the template itself stays unbound
    assert "tank" in advance.__qualname__


def test_each_model_gets_its_own_cache_name():
    same_spec_other_kernels = Model(TANK.spec, blowup_rhs, blowup_output)
    names = {getattr(k, "py_func", k).__qualname__
             for k in (bind_kernels(rk4, TANK).advance, bind_kernels(rk4, BLOWUP).advance,
                       bind_kernels(rk4, same_spec_other_kernels).advance)}
    assert len(names) == 3


def test_a_template_calling_another_template_gets_that_one_bound_too():
    from calibration import _kernels as estimators

    bound = bind_kernels(estimators, TANK)
    final_state = getattr(bound.final_state, "py_func", bound.final_state)
    step = final_state.__globals__["rk4_step"]
    assert getattr(step, "py_func", step).__globals__["rhs"] is TANK.rhs


def test_only_templates_can_be_bound_and_an_unbound_template_says_how_to_bind():
    assert is_kernel_template(rk4) and is_kernel_template(dopri5) and not is_kernel_template(tuples)
    with pytest.raises(ConfigurationError, match="not a kernel template.*placeholders"):
        bind_kernels(tuples, TANK)
    with pytest.raises(ModelError, match="bind_kernels"):
        placeholders.rhs((1.0,), (0.0,), (0.0,))


@njit(cache=True)
def _helpers(a, x, k, bad):
    row = tuples.load_row(a, 1, WIDTH)
    tuples.store_row(a, 0, tuples.combine2(row, 0.5, 2.0, x, -1.0, k))
    return (row, tuples.select(row, PICK), tuples.interpolate(x, k, 0.25), tuples.difference(x, k), tuples.dot(x, k),
            tuples.error_norm(x, x, k, 1e-3, 1e-6), tuples.first_nonfinite(x), tuples.first_nonfinite(bad),
            tuples.zeros_like(x), tuples.combine7(x, 0.1, 1.0, k, 2.0, k, 3.0, k, 4.0, k, 5.0, k, 6.0, k, 7.0, k))


def _flat(values):
    return np.array([v for item in values for v in (item if isinstance(item, tuple) else (item,))], dtype=np.float64)


def test_tuple_helpers_compiled_equal_their_python_forms_bit_for_bit():
    x, k, bad = (1.0, -2.5, 3.25), (0.1, 0.2, -7.0), (0.0, np.inf, np.nan)
    a_jit, a_py = np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3)
    got = _helpers(a_jit, x, k, bad)
    ref = getattr(_helpers, "py_func", _helpers)(a_py, x, k, bad)
    np.testing.assert_array_equal(_flat(got).view(np.int64), _flat(ref).view(np.int64))
    np.testing.assert_array_equal(a_jit, a_py)
    assert got[0] == (3.0, 4.0, 5.0) and got[1] == (5.0, 3.0) and got[6] == -1 and got[7] == 1


@pytest.mark.slow
@pytest.mark.skipif(config.DISABLE_JIT, reason="numba's cache is only used with the JIT")
def test_a_second_process_loads_the_bound_kernels_from_numba_cache(tmp_path):
    script = (
        "import json\n"
        "from sim.physics import TANK, Fleet\n"
        "from tests.models_for_tests import BLOWUP\n"
        "out = {}\n"
        "for model, x0 in ((TANK, [2.0, 0.0]), (BLOWUP, [0.1])):\n"
        "    fleet = Fleet(model, states=x0)\n"
        "    fleet.advance(1.0)\n"
        "    stats = model.kernels(fleet.integrator).advance.stats\n"
        "    out[model.spec.name] = [sum(stats.cache_hits.values()), sum(stats.cache_misses.values()),\n"
        "                            fleet.states.tolist()]\n"
        "print(json.dumps(out))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                                      text=True, check=True).stdout) for _ in range(2)]
    for name in ("tank", "blowup"):
        assert runs[0][name][:2] == [0, 1]  # compiled and written into the empty cache
        assert runs[1][name][:2] == [1, 0]  # loaded: no compilation in the second process
        assert runs[1][name][2] == runs[0][name][2]
