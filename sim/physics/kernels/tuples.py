"""Small tuple helpers for kernels, written out element by element for the tuple's width.

Kernels keep the states, parameters and inputs of one asset in tuples: they live
in registers, whereas array views cost reference counting and stores in the
dependency chain of a step (measured: 4x slower).  numba has no elementwise
tuple arithmetic, and a loop that rebuilds a tuple element by element keeps it
in memory (also measured: 4-5x slower on the pump fleet).  Each helper is
therefore a plain Python function (what runs under ``NUMBA_DISABLE_JIT=1``) and
a numba ``@overload`` that numba types once per tuple width with the element
loop written out, e.g. for width 2::

    combine1(x, h, c0, k0)  ->  (x[0] + h * (c0 * k0[0]), x[1] + h * (c0 * k0[1]))

Both forms do the same floating-point operations in the same order, so jitted
and pure-Python runs agree bit for bit.
"""

from __future__ import annotations

import math

from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import overload

__all__ = ["combine1", "combine2", "combine3", "combine4", "combine5", "combine6", "combine7", "difference", "dot",
           "error_norm", "first_nonfinite", "interpolate", "largest_error_share", "load_row", "select", "store_row",
           "store_sample", "zeros_like"]


def _written_out(params: str, n: int, *, before: tuple[str, ...] = (), lines: tuple[str, ...] = (), element: str = "",
                 result: str = ""):
    """A function of *params*: the *before* lines, then *lines* for k = 0 .. n-1, then returns the tuple of
    *element* for k = 0 .. n-1 or else *result*.

    ``{k}`` in the texts is the element index, ``{n}`` the width.
    """
    body = list(before) + [line.format(k=k, n=n) for k in range(n) for line in lines]
    if element:
        body.append("return (" + "".join(element.format(k=k) + ", " for k in range(n)) + ")")
    elif result:
        body.append("return " + result.format(n=n))
    namespace = {"math": math}
    exec(f"def written_out({params}):\n" + "".join(f"    {line}\n" for line in body or ["pass"]),  # noqa: S102
         namespace)
    return namespace["written_out"]


def _width(values) -> int:
    if not isinstance(values, types.BaseTuple):
        raise TypingError(f"expected a tuple of floats, got {values}")
    return len(values)


# ----------------------------------------------------------------------------------------- arrays <-> tuples
def load_row(array, i, width):
    """``(array[i, 0], ..., array[i, width - 1])``; *width* must be a compile-time constant (a global)."""
    return tuple(array[i, k] for k in range(width))


@overload(load_row, prefer_literal=True, inline="always")
def _load_row(array, i, width):
    if not isinstance(width, types.IntegerLiteral):
        raise TypingError(f"load_row needs a compile-time width (a module global such as N_STATES), got {width}")
    return _written_out("array, i, width", width.literal_value, element="array[i, {k}]")


def store_row(array, i, values):
    """``array[i, k] = values[k]`` for every element of the tuple *values*."""
    for k, value in enumerate(values):
        array[i, k] = value


@overload(store_row, inline="always")
def _store_row(array, i, values):
    return _written_out("array, i, values", _width(values), lines=("array[i, {k}] = values[{k}]",))


def store_sample(array, i, j, values):
    """``array[i, j, k] = values[k]`` for every element of the tuple *values*."""
    for k, value in enumerate(values):
        array[i, j, k] = value


@overload(store_sample, inline="always")
def _store_sample(array, i, j, values):
    return _written_out("array, i, j, values", _width(values), lines=("array[i, j, {k}] = values[{k}]",))


# ----------------------------------------------------------------------------------------- arithmetic
def interpolate(u0, u1, w):
    """``u0 + w (u1 - u0)`` elementwise: inputs at the fraction *w* of a sample interval."""
    return tuple(a + w * (b - a) for a, b in zip(u0, u1))


@overload(interpolate, inline="always")
def _interpolate(u0, u1, w):
    return _written_out("u0, u1, w", _width(u0), element="u0[{k}] + w * (u1[{k}] - u0[{k}])")


def zeros_like(values):
    """A tuple of zeros as wide as *values*."""
    return tuple(0.0 for _ in values)


@overload(zeros_like, inline="always")
def _zeros_like(values):
    return _written_out("values", _width(values), element="0.0")


def difference(a, b):
    """``a - b`` elementwise."""
    return tuple(x - y for x, y in zip(a, b))


@overload(difference, inline="always")
def _difference(a, b):
    return _written_out("a, b", _width(a), element="a[{k}] - b[{k}]")


def dot(a, b):
    """``a[0] b[0] + a[1] b[1] + ...``, summed left to right."""
    total = a[0] * b[0]
    for k in range(1, len(a)):
        total = total + a[k] * b[k]
    return total


@overload(dot, inline="always")
def _dot(a, b):
    n = _width(a)
    return _written_out("a, b", n, result=" + ".join(f"a[{k}] * b[{k}]" for k in range(n)))


def first_nonfinite(values):
    """Index of the first NaN or infinite element of *values*, -1 if all are finite."""
    for k, value in enumerate(values):
        if not math.isfinite(value):
            return k
    return -1


@overload(first_nonfinite, inline="always")
def _first_nonfinite(values):
    return _written_out("values", _width(values), lines=("if not math.isfinite(values[{k}]):",
                                                         "    return {k}"), result="-1")


def error_norm(e, x0, x1, rtol, atol):
    """RMS over the elements of ``e / (atol + rtol max(|x0|, |x1|))``: an embedded error estimate in tolerances."""
    total = 0.0
    for k in range(len(e)):
        total += (e[k] / (atol + rtol * max(abs(x0[k]), abs(x1[k])))) ** 2
    return math.sqrt(total / len(e))


@overload(error_norm, inline="always")
def _error_norm(e, x0, x1, rtol, atol):
    return _written_out("e, x0, x1, rtol, atol", _width(e), before=("total = 0.0",),
                        lines=("total += (e[{k}] / (atol + rtol * max(abs(x0[{k}]), abs(x1[{k}])))) ** 2",),
                        result="math.sqrt(total / {n})")


@njit(cache=True)
def largest_error_share(e, x0, x1, rtol, atol):
    """Index of the element with the largest share in :func:`error_norm` (a NaN share counts as largest); -1 if
    every share is zero.  For error reports only: a plain loop, not written out."""
    best = -1
    largest = 0.0
    for k in range(len(e)):
        share = abs(e[k]) / (atol + rtol * max(abs(x0[k]), abs(x1[k])))
        if math.isnan(share):
            return k
        if share > largest:
            largest = share
            best = k
    return best


# ----------------------------------------------------------------------------------------- Runge-Kutta stages
def _combine(x, h, coefficients, rates):
    """``x + h (c0 k0 + c1 k1 + ...)`` elementwise, the bracket summed left to right."""
    out = []
    for k in range(len(x)):
        total = coefficients[0] * rates[0][k]
        for c, rate in zip(coefficients[1:], rates[1:]):
            total = total + c * rate[k]
        out.append(x[k] + h * total)
    return tuple(out)


def _combined(x, m):
    """The numba form of ``combine<m>`` for the tuple type *x*."""
    args = ", ".join(f"c{j}, k{j}" for j in range(m))
    total = " + ".join(f"c{j} * k{j}[{{k}}]" for j in range(m))
    return _written_out(f"x, h, {args}", _width(x), element="x[{k}] + h * (" + total + ")")


def combine1(x, h, c0, k0):
    """``x + h c0 k0`` elementwise (a Runge-Kutta stage)."""
    return _combine(x, h, (c0,), (k0,))


def combine2(x, h, c0, k0, c1, k1):
    """``x + h (c0 k0 + c1 k1)`` elementwise."""
    return _combine(x, h, (c0, c1), (k0, k1))


def combine3(x, h, c0, k0, c1, k1, c2, k2):
    """``x + h (c0 k0 + c1 k1 + c2 k2)`` elementwise."""
    return _combine(x, h, (c0, c1, c2), (k0, k1, k2))


def combine4(x, h, c0, k0, c1, k1, c2, k2, c3, k3):
    """``x + h (c0 k0 + ... + c3 k3)`` elementwise."""
    return _combine(x, h, (c0, c1, c2, c3), (k0, k1, k2, k3))


def combine5(x, h, c0, k0, c1, k1, c2, k2, c3, k3, c4, k4):
    """``x + h (c0 k0 + ... + c4 k4)`` elementwise."""
    return _combine(x, h, (c0, c1, c2, c3, c4), (k0, k1, k2, k3, k4))


def combine6(x, h, c0, k0, c1, k1, c2, k2, c3, k3, c4, k4, c5, k5):
    """``x + h (c0 k0 + ... + c5 k5)`` elementwise."""
    return _combine(x, h, (c0, c1, c2, c3, c4, c5), (k0, k1, k2, k3, k4, k5))


def combine7(x, h, c0, k0, c1, k1, c2, k2, c3, k3, c4, k4, c5, k5, c6, k6):
    """``x + h (c0 k0 + ... + c6 k6)`` elementwise."""
    return _combine(x, h, (c0, c1, c2, c3, c4, c5, c6), (k0, k1, k2, k3, k4, k5, k6))


@overload(combine1, inline="always")
def _combine1(x, h, c0, k0):
    return _combined(x, 1)


@overload(combine2, inline="always")
def _combine2(x, h, c0, k0, c1, k1):
    return _combined(x, 2)


@overload(combine3, inline="always")
def _combine3(x, h, c0, k0, c1, k1, c2, k2):
    return _combined(x, 3)


@overload(combine4, inline="always")
def _combine4(x, h, c0, k0, c1, k1, c2, k2, c3, k3):
    return _combined(x, 4)


@overload(combine5, inline="always")
def _combine5(x, h, c0, k0, c1, k1, c2, k2, c3, k3, c4, k4):
    return _combined(x, 5)


@overload(combine6, inline="always")
def _combine6(x, h, c0, k0, c1, k1, c2, k2, c3, k3, c4, k4, c5, k5):
    return _combined(x, 6)


@overload(combine7, inline="always")
def _combine7(x, h, c0, k0, c1, k1, c2, k2, c3, k3, c4, k4, c5, k5, c6, k6):
    return _combined(x, 7)


# ----------------------------------------------------------------------------------------- composition
def select(values, indices):
    """``(values[indices[0]], values[indices[1]], ...)``: a part of a tuple picked by positions.

    *indices* is a tuple of ints fixed at import (a module global), e.g. where a
    composed model keeps the states of one of its parts.
    """
    return tuple(values[i] for i in indices)


@overload(select, inline="always")
def _select(values, indices):
    return _written_out("values, indices", _width(indices), element="values[indices[{k}]]")
