"""Generate and import per-model kernel modules so that numba can cache them.

numba cannot cache a function that receives another jitted function as an
argument or closure variable ("dynamic globals").  The integrators are
therefore written once as source templates; for every model a small module is
rendered from the template with the model's right-hand side and output
functions imported as *static* globals, written to a cache folder and
imported.  ``@njit(cache=True)`` then works as for hand-written code, and the
first-compile cost is paid once per machine.

The rendered text embeds a hash of the source files of the model's kernels,
so editing a kernel or a helper it calls produces a new module file (numba
does not track changes in callees).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["kernel_cache_dir", "load_generated_module", "render_helpers"]


def kernel_cache_dir() -> Path:
    """Folder for generated kernel modules: ``$TWINBENCH_KERNEL_DIR`` or the user cache."""
    env = os.environ.get("TWINBENCH_KERNEL_DIR")
    if env:
        path = Path(env)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        path = base / "twinbench" / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _source_of(func) -> str:
    """The whole source file of *func*: kernels call helpers in their module, which numba does not track."""
    py = getattr(func, "py_func", func)
    try:
        return Path(inspect.getsourcefile(py)).read_text(encoding="utf-8")
    except (OSError, TypeError):  # pragma: no cover - functions without a source file
        return repr(py)


def render_helpers(nx: int, n_par: int, nu: int, ny: int, max_terms: int = 7) -> str:
    """Source of small tuple helpers unrolled for the model's sizes.

    Kernels keep states, parameters and inputs of one asset in tuples: they live
    in registers, whereas array views cost reference counting and stores in the
    dependency chain of a step (measured: 4x slower).
    """

    def tup(items):
        items = list(items)
        return "(" + "".join(f"{it}, " for it in items) + ")"

    lines = ["# --- tuple helpers (unrolled for this model) ---"]
    for name, width in (("_lx", nx), ("_lp", n_par), ("_lu", nu)):
        lines += ["@njit(cache=True, inline='always')", f"def {name}(a2d, i):",
                  f"    return {tup(f'a2d[i, {k}]' for k in range(width))}", ""]
    lines += ["@njit(cache=True, inline='always')", "def _sx(a2d, i, xt):"]
    lines += [f"    a2d[i, {k}] = xt[{k}]" for k in range(nx)] + ["", ""]
    lines += ["@njit(cache=True, inline='always')", "def _sy(a3d, i, j, yt):"]
    lines += [f"    a3d[i, j, {k}] = yt[{k}]" for k in range(ny)] + ["", ""]
    lines += ["@njit(cache=True, inline='always')", "def _lerp(u0, u1, w):",
              f"    return {tup(f'u0[{k}] + w * (u1[{k}] - u0[{k}])' for k in range(nu))}", ""]
    lines += ["@njit(cache=True, inline='always')", "def _bad(xt):"]
    lines += [f"    if not math.isfinite(xt[{k}]):\n        return {k}" for k in range(nx)]
    lines += ["    return -1", ""]
    lines += ["@njit(cache=True, inline='always')", "def _norm(e, x0, x1, rtol, atol):", "    s = 0.0"]
    lines += [f"    s += (e[{k}] / (atol + rtol * max(abs(x0[{k}]), abs(x1[{k}])))) ** 2" for k in range(nx)]
    lines += [f"    return math.sqrt(s / {nx})", ""]
    lines += ["@njit(cache=True, inline='always')", "def _zeros():",
              f"    return {tup('0.0' for k in range(nx))}", ""]
    lines += ["@njit(cache=True, inline='always')", "def _sub(a, b):",
              f"    return {tup(f'a[{k}] - b[{k}]' for k in range(nx))}", ""]
    lines += ["@njit(cache=True, inline='always')", "def _dot(a, b):",
              "    return " + " + ".join(f"a[{k}] * b[{k}]" for k in range(nx)), ""]
    for m in range(1, max_terms + 1):
        args = ", ".join(f"c{j}, k{j}" for j in range(m))
        terms = lambda k: " + ".join(f"c{j} * k{j}[{k}]" for j in range(m))
        lines += ["@njit(cache=True, inline='always')", f"def _acc{m}(x, h, {args}):",
                  f"    return {tup(f'x[{k}] + h * ({terms(k)})' for k in range(nx))}", ""]
    return "\n".join(lines) + "\n"


def load_generated_module(template: str, *, tag: str, rhs, output, helpers: str = ""):
    """Render *template* for the kernels *rhs* and *output*, write it and import it.

    The template sees ``{rhs_module}``, ``{rhs_name}``, ``{out_module}``, ``{out_name}``,
    ``{source_hash}`` and ``{helpers}`` (see :func:`render_helpers`).
    """
    digest = hashlib.sha256()
    for f in (rhs, output):
        digest.update(_source_of(f).encode())
    digest.update(template.encode())
    digest.update(helpers.encode())
    source_hash = digest.hexdigest()[:16]
    text = template.format(rhs_module=rhs.__module__, rhs_name=rhs.__name__,
                           out_module=output.__module__, out_name=output.__name__,
                           source_hash=source_hash, helpers=helpers)
    mod_name = f"_twinbench_kernel_{tag}_{source_hash}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    path = kernel_cache_dir() / f"{mod_name}.py"
    if not path.exists() or path.read_text() != text:
        # write atomically: parallel workers may render the same module at once
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module
