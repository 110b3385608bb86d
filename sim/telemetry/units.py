"""Unit conversion from historian spellings to SI, computed once with pint.

Every telemetry conversion in Twinbench is affine, ``si = scale * x + offset``
(offset is non-zero only for temperatures in °C or °F).  :func:`si_converter`
asks pint for the two coefficients once per unit pair and caches them; the hot
path then multiplies arrays.  This module is the only place in ``sim/`` that
knows about non-SI units (STYLE rule 6).
"""

from __future__ import annotations

import difflib
import math
import re
from functools import lru_cache

import pint

from sim.exceptions import UnitConversionError

__all__ = ["si_converter", "check_si_unit", "normalize_unit", "KNOWN_SPELLINGS"]

#: Historian spellings that pint does not read as intended, mapped to pint syntax.
_ALIASES: dict[str, str] = {
    "°C": "degC",
    "ºC": "degC",  # masculine ordinal indicator, a frequent stand-in for the degree sign
    "deg C": "degC",
    "°F": "degF",
    "ºF": "degF",
    "deg F": "degF",
    "gpm": "gallon/minute",  # pint's `gallon` is the US liquid gallon
    "GPM": "gallon/minute",
    "rpm": "revolution/minute",
    "RPM": "revolution/minute",
    "1/min": "1/minute",
    "%": "percent",
    "-": "dimensionless",
    "": "dimensionless",
}

#: Spellings we document and test; used for suggestions in error messages.
KNOWN_SPELLINGS: tuple[str, ...] = (
    "°C", "degC", "celsius", "°F", "degF", "K", "A", "mA", "kW", "W", "hp", "bar", "psi",
    "kPa", "Pa", "m3/h", "m³/h", "m3/s", "l/min", "L/min", "gpm", "mm/s", "in/s", "m/s", "rpm",
    "rad/s", "Hz", "%", "1", "V", "kV", "kWh", "s", "min", "h", "kg", "kg/h", "t/h",
)

#: Units pint reads as something else than a historian usually means.
_TRAPS: dict[str, str] = {
    "C": "a bare 'C' is the coulomb (electric charge) in pint; write 'degC' for degrees Celsius",
    "F": "a bare 'F' is the farad (capacitance) in pint; write 'degF' for degrees Fahrenheit",
}

#: Spellings whose meaning depends on the quantity of the twin variable: for each, the dimension of the
#: target and the pint unit meant.  A vibration export writes an accelerometer's RMS in ``g`` (standard
#: gravity), which pint reads as the gram; the channel's SI unit (``m/s**2``) settles it.
_BY_QUANTITY: dict[str, dict[str, str]] = {
    "g": {"[length] / [time] ** 2": "standard_gravity", "[mass]": "gram"},
    "mg": {"[length] / [time] ** 2": "millistandard_gravity", "[mass]": "milligram"},
    "G": {"[length] / [time] ** 2": "standard_gravity"},
    "gn": {"[length] / [time] ** 2": "standard_gravity"},
}

# "m3/h" -> "m**3/h": a digit glued to a unit symbol is an exponent in historian exports.
_GLUED_EXPONENT = re.compile(r"(?<=[A-Za-z])([23])(?![\d.])")


@lru_cache(maxsize=1)
def _registry() -> pint.UnitRegistry:
    """The shared, immutable unit registry (built once, on first use)."""
    return pint.UnitRegistry()


def normalize_unit(unit: str) -> str:
    """Translate a historian unit spelling into pint syntax.

    Parameters
    ----------
    unit : str
        Unit as written in the historian or datasheet, e.g. ``"°C"``, ``"m3/h"``, ``"gpm"``.

    Returns
    -------
    str
        An expression pint parses with the intended meaning.
    """
    if not isinstance(unit, str):
        raise UnitConversionError(
            f"unit {unit!r} is a {type(unit).__name__}, not a string; "
            f"fix: quote it in the channel map, e.g. unit: \"degC\""
        )
    text = unit.strip()
    if text in _ALIASES:
        return _ALIASES[text]
    text = text.replace("°C", "degC").replace("°F", "degF").replace("ºC", "degC")
    return _GLUED_EXPONENT.sub(r"**\1", text)


def _suggest(unit: str) -> str:
    close = difflib.get_close_matches(unit.strip(), KNOWN_SPELLINGS, n=3, cutoff=0.5)
    near = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    return f"{near}accepted spellings include {', '.join(KNOWN_SPELLINGS)}"


def _parse(unit: str) -> pint.Unit:
    ureg = _registry()
    text = normalize_unit(unit)
    try:
        return ureg.parse_units(text)
    except pint.UndefinedUnitError as err:
        raise UnitConversionError(
            f"unit {unit!r} is unknown to pint ({err}); fix: {_suggest(unit)}"
        ) from err
    except Exception as err:  # pint raises several syntax errors from its tokenizer
        raise UnitConversionError(
            f"unit {unit!r} cannot be parsed ({type(err).__name__}: {err}); fix: {_suggest(unit)}"
        ) from err


def _dimensions(unit: pint.Unit) -> str:
    dims = str(unit.dimensionality)
    return "dimensionless" if dims in ("", "dimensionless") else dims


def _as_delta(unit: pint.Unit) -> pint.Unit:
    """*unit* with every offset unit (degC, degF) replaced by its delta unit."""
    ureg = _registry()
    parts = []
    for name, exponent in pint.util.to_units_container(unit, ureg).items():
        is_offset = ureg.Quantity(0.0, name).to_base_units().magnitude != 0.0
        if is_offset and "delta_" + name not in ureg:
            raise UnitConversionError(
                f"unit {name!r} is not linear (logarithmic units such as dB are not supported); "
                f"fix: record the channel in a linear unit, e.g. W instead of dBm"
            )
        parts.append(f"({'delta_' + name if is_offset else name})**{exponent}")
    return ureg.parse_units(" * ".join(parts)) if parts else unit


@lru_cache(maxsize=512)
def si_converter(unit: str, si_unit: str) -> tuple[float, float]:
    """Coefficients of the affine map from *unit* to *si_unit*.

    Parameters
    ----------
    unit : str
        Source unit as written by the historian, e.g. ``"degC"``, ``"bar"``, ``"l/min"``.
    si_unit : str
        Target unit of the twin variable, e.g. ``"K"``, ``"Pa"``, ``"m**3/s"``.

    Returns
    -------
    tuple[float, float]
        ``(scale, offset)`` such that ``si = scale * x + offset``.

    Raises
    ------
    UnitConversionError
        If a unit is unknown, the dimensions differ, or the map is not affine (e.g. dB).
    """
    target = _parse(si_unit)
    meanings = _BY_QUANTITY.get(unit.strip()) if isinstance(unit, str) else None
    if meanings and _dimensions(target) in meanings:
        source = _parse(meanings[_dimensions(target)])
    else:
        source = _parse(unit)
    ureg = _registry()
    try:
        offset = float(ureg.Quantity(0.0, source).to(target).magnitude)
        # The scale comes from the delta units (delta_degF -> K = 5/9), which avoids the
        # cancellation of f(1) - f(0) when the offset is large.
        scale = float(ureg.Quantity(1.0, _as_delta(source)).to(_as_delta(target)).magnitude)
        thousand = float(ureg.Quantity(1000.0, source).to(target).magnitude)
    except pint.DimensionalityError as err:
        hint = next((_TRAPS[u.strip()] for u in (unit, si_unit) if u.strip() in _TRAPS), None)
        fix = hint or f"choose a source unit of dimension {_dimensions(target)} or change si_unit"
        raise UnitConversionError(
            f"unit {unit!r} [{_dimensions(source)}] cannot be converted to {si_unit!r} "
            f"[{_dimensions(target)}]: the dimensions differ; fix: {fix}"
        ) from err
    except UnitConversionError:
        raise
    except Exception as err:  # e.g. OffsetUnitCalculusError for offset units in products
        raise UnitConversionError(
            f"unit {unit!r} cannot be converted to {si_unit!r} ({type(err).__name__}: {err}); "
            f"fix: use a linear unit; temperature differences and rates are written "
            f"'delta_degC' or 'delta_degC/min'"
        ) from err
    if not (math.isfinite(scale) and math.isfinite(offset)) or scale == 0.0 or not math.isclose(
        thousand, 1000.0 * scale + offset, rel_tol=1e-9, abs_tol=1e-9
    ):
        raise UnitConversionError(
            f"unit {unit!r} -> {si_unit!r} is not an affine conversion (scale {scale}, offset {offset}); "
            f"fix: record the channel in a linear unit (logarithmic units such as dB are not supported)"
        )
    return scale, offset


@lru_cache(maxsize=256)
def check_si_unit(si_unit: str) -> None:
    """Raise unless *si_unit* is a coherent SI unit (scale 1, offset 0 to base units).

    Parameters
    ----------
    si_unit : str
        Unit of a twin variable, e.g. ``"K"``, ``"Pa"``, ``"m**3/s"``, ``"rad/s"``, ``"1"``.

    Raises
    ------
    UnitConversionError
        If *si_unit* is unknown or not coherent SI (``"degC"``, ``"bar"``, ``"mm/s"`` ...).
    """
    parsed = _parse(si_unit)
    base = _registry().Quantity(1.0, parsed).to_base_units()
    zero = _registry().Quantity(0.0, parsed).to_base_units().magnitude
    if not (math.isclose(base.magnitude, 1.0, rel_tol=1e-12) and zero == 0.0):
        raise UnitConversionError(
            f"si_unit {si_unit!r} is not a coherent SI unit (1 {si_unit} = {base:~P}); twin variables are "
            f"stored in SI (STYLE rule 6); fix: set si_unit to {_coherent_name(parsed)!r}"
        )


#: Preferred names of coherent SI units, tried in order when suggesting a fix.
_COHERENT = ("K", "Pa", "W", "J", "N", "V", "A", "Hz", "rad/s", "m**3/s", "m/s", "m/s**2", "kg/s",
             "kg/m**3", "m", "m**2", "m**3", "kg", "s", "ohm", "1")


def _coherent_name(unit: pint.Unit) -> str:
    for name in _COHERENT:
        if _registry().parse_units(name).dimensionality == unit.dimensionality:
            return name
    return format(_registry().Quantity(1.0, unit).to_base_units().units, "~C") or "1"
