"""Generate and import per-model kernel modules so that numba can cache them.

numba cannot cache a function that receives another jitted function as an
argument or closure variable ("dynamic globals").  The integrators are
therefore written once as source templates; for every model a small module is
rendered from the template with the model's right-hand side and output
functions imported as *static* globals, written to a cache folder and
imported.  ``@njit(cache=True)`` then works as for hand-written code, and the
first-compile cost is paid once per machine.

The rendered text embeds a hash of the model's kernel source, so editing a
kernel produces a new module file (numba does not track changes in callees).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["kernel_cache_dir", "load_generated_module"]


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
    py = getattr(func, "py_func", func)
    try:
        return inspect.getsource(py)
    except (OSError, TypeError):  # pragma: no cover - functions without source
        return repr(py)


def load_generated_module(template: str, *, tag: str, rhs, output):
    """Render *template* for the kernels *rhs* and *output*, write it and import it.

    The template sees ``{rhs_module}``, ``{rhs_name}``, ``{out_module}``, ``{out_name}``
    and ``{source_hash}``.
    """
    digest = hashlib.sha256()
    for f in (rhs, output):
        digest.update(_source_of(f).encode())
    digest.update(template.encode())
    source_hash = digest.hexdigest()[:16]
    text = template.format(rhs_module=rhs.__module__, rhs_name=rhs.__name__,
                           out_module=output.__module__, out_name=output.__name__,
                           source_hash=source_hash)
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
