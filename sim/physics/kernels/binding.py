"""Bind a kernel template to a model: the template's kernels, compiled against the model's ``rhs`` and ``output``.

Why templates: numba links a jitted function that another one calls into the
caller, and can cache the caller (``cache=True``) only when the callee is a
*global* of the caller.  A function passed as an argument or captured in a
closure is a "dynamic global": the caller is compiled again in every process.
An integrator written once for every model therefore needs, per model, a copy
whose globals hold that model's kernels.

A kernel template is a plain, importable module written against the
placeholders of :mod:`sim.physics.kernels.placeholders` (``rhs``, ``output``,
``N_STATES`` ...).  :func:`bind_kernels` gives every function defined in it a
copy (same code object, so tracebacks, coverage and numba's error messages
point into the template) whose globals hold the model's kernels and sizes, and
jit-compiles the copy with the template function's options.  Functions of
other templates that a template calls (``rk4_step``) are bound for the same
model.

Caching: numba caches each copy like any ``cache=True`` function - beside the
template (its ``__pycache__``, or under ``NUMBA_CACHE_DIR`` where the package
folder is read-only, numba's own rule).  The copy's qualified name carries the
model's name and a hash of the sources involved (the template and the modules
its helpers come from, the model's kernel files), so every model has its own
cache entries and editing any of those files gives new ones: numba itself only
watches the template file.  No folder is written by Twinbench, so there is
nothing for an application to configure beyond numba's own setting.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
from pathlib import Path
from types import FunctionType, ModuleType, SimpleNamespace

from numba import njit
from numba.core.dispatcher import Dispatcher

from sim.exceptions import ConfigurationError
from sim.physics.kernels import placeholders

__all__ = ["bind_kernels", "is_kernel_template"]

_SKIPPED_PACKAGES = {"builtins", "math", "numba", "numpy"}


def is_kernel_template(module: ModuleType) -> bool:
    """Whether *module* is a kernel template: it imports the placeholder ``rhs`` or ``output``."""
    return module is not placeholders and (getattr(module, "rhs", None) is placeholders.rhs
                                           or getattr(module, "output", None) is placeholders.output)


def bind_kernels(template: ModuleType, model) -> SimpleNamespace:
    """The kernels of *template* compiled for *model*, as attributes (``.advance``, ``.simulate`` ...).

    Parameters
    ----------
    template : module
        A kernel template (see the module docstring), e.g. :mod:`sim.physics.kernels.rk4`.
    model : sim.physics.Model
        Supplies ``rhs``, ``output`` and the sizes of its ``spec``.

    Notes
    -----
    Binding is cheap (no compilation): numba compiles, or loads from its cache,
    on the first call of each kernel.  :meth:`sim.physics.Model.kernels` keeps the
    bound kernels of each integrator on the model.
    """
    if not is_kernel_template(template):
        raise ConfigurationError(f"{template.__name__} is not a kernel template: a template imports rhs or output "
                                 f"from sim.physics.kernels.placeholders; pass e.g. sim.physics.kernels.rk4")
    return _bind(template, model, {})


def _bind(template: ModuleType, model, bound: dict) -> SimpleNamespace:
    if template.__name__ in bound:
        return bound[template.__name__]
    spec = model.spec
    suffix = f"__{re.sub(r'[^0-9A-Za-z_]', '_', spec.name)}_{_source_hash(template, model)}"
    namespace = dict(vars(template))  # the template's globals (constants, helpers, __builtins__)
    namespace.update(rhs=model.rhs, output=model.output, N_STATES=spec.nx, N_INPUTS=spec.nu, N_OUTPUTS=spec.ny,
                     N_PARAMS=spec.np)
    kernels = SimpleNamespace()
    bound[template.__name__] = kernels
    for name, value in vars(template).items():
        func = _function(value)
        source = sys.modules.get(func.__module__) if func is not None else None
        if source is template:
            namespace[name] = _copy(value, namespace, suffix)
            setattr(kernels, name, namespace[name])
        elif source is not None and is_kernel_template(source):  # a kernel of another template, e.g. rk4_step
            namespace[name] = getattr(_bind(source, model, bound), func.__name__)
    return kernels


def _function(value) -> FunctionType | None:
    """The Python function of a function or numba dispatcher *value* (None for anything else)."""
    func = value.py_func if isinstance(value, Dispatcher) else value
    return func if isinstance(func, FunctionType) else None


def _copy(value, namespace: dict, suffix: str):
    """*value* (a function or dispatcher of the template) with *namespace* as its globals."""
    func = value.py_func if isinstance(value, Dispatcher) else value
    copy = FunctionType(func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__doc__ = func.__doc__
    copy.__qualname__ = func.__qualname__ + suffix  # numba names the cache files after it
    if not isinstance(value, Dispatcher):
        return copy  # a plain helper, or NUMBA_DISABLE_JIT=1 (njit returned the function itself)
    options = {key: option for key, option in value.targetoptions.items() if key != "nopython"}
    return njit(cache=True, locals=dict(value.locals), **options)(copy)


def _source_hash(template: ModuleType, model) -> str:
    """Hash of the files a bound kernel is compiled from, and of the model's kernel names."""
    digest = hashlib.sha256()
    for path in sorted(_template_sources(template, set())):
        digest.update(Path(path).read_bytes())
    for kernel in (model.rhs, model.output):
        func = getattr(kernel, "py_func", kernel)
        digest.update(f"{func.__module__}.{func.__qualname__}".encode())
        try:
            digest.update(Path(inspect.getsourcefile(func)).read_bytes())
        except (OSError, TypeError):  # pragma: no cover - a kernel without a source file (notebook cell)
            digest.update(repr(func).encode())  # unique per process: compiled again in each process
    return digest.hexdigest()[:16]


def _template_sources(module: ModuleType, seen: set) -> set[str]:
    """Source files of *module* and of the modules its function globals come from (templates recursively)."""
    if module.__name__ in seen or not getattr(module, "__file__", None):
        return set()
    seen.add(module.__name__)
    files = {module.__file__}
    for value in vars(module).values():
        func = _function(value)
        source = sys.modules.get(func.__module__) if func is not None else None
        if source is None or source.__name__.split(".")[0] in _SKIPPED_PACKAGES:
            continue
        files |= _template_sources(source, seen) if is_kernel_template(source) else {source.__file__}
    return files
