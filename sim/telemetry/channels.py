"""Channel maps: which CSV column feeds which twin variable, in which unit.

A :class:`ChannelMap` is an immutable description of one historian export.  Both
dataclasses validate themselves on construction (units are checked with pint
eagerly), so a map that exists is a map that can be used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.exceptions import ChannelMapError, ConfigurationError, TwinbenchError, UnitConversionError
from sim.telemetry.units import check_si_unit, si_converter

__all__ = ["Channel", "ChannelMap", "SEPARATORS"]

#: Separators that ``separator: auto`` chooses from, in order of preference on ties.
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")

_MAP_KEYS = ("time_column", "timezone", "separator", "decimal", "time_format", "encoding", "channels")
_CHANNEL_KEYS = ("column", "unit", "si_unit", "range", "description")


@dataclass(frozen=True)
class Channel:
    """One telemetry channel mapped onto one twin variable.

    Attributes
    ----------
    name : str
        Twin variable fed by this channel, e.g. ``"winding_temperature"``.
    column : str
        Column of the source CSV file, e.g. ``"M1_Winding_T"``.
    unit : str
        Unit of the source values as the historian writes it, e.g. ``"degC"``.
    si_unit : str
        Coherent SI unit of the twin variable, e.g. ``"K"``.
    valid_range : tuple[float, float] or None
        Inclusive plausible range ``(low, high)`` in the *source* unit, as on the
        datasheet [unit].  Values outside are quarantined as ``out_of_range``.
    description : str
        Free text for reports.
    """

    name: str
    column: str
    unit: str
    si_unit: str
    valid_range: tuple[float, float] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for attr in ("name", "column"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value.strip():
                raise ChannelMapError(
                    f"channel {self.name!r}: {attr} {value!r} must be a non-empty string; "
                    f"fix: give the {attr} as written in the CSV header / twin model"
                )
        where = f"channel {self.name!r} (column {self.column!r})"
        for attr in ("unit", "si_unit"):
            if not isinstance(getattr(self, attr), str):
                raise UnitConversionError(
                    f"{where}: {attr} {getattr(self, attr)!r} is not a string; fix: quote it, e.g. {attr}: \"K\""
                )
        try:
            check_si_unit(self.si_unit)
            si_converter(self.unit, self.si_unit)
        except UnitConversionError as err:
            raise UnitConversionError(f"{where}: {err}") from err
        if self.valid_range is not None:
            object.__setattr__(self, "valid_range", _parse_range(self.valid_range, where, self.unit))

    @property
    def scale_offset(self) -> tuple[float, float]:
        """``(scale, offset)`` with ``si = scale * x + offset`` (cached by :func:`si_converter`)."""
        return si_converter(self.unit, self.si_unit)


def _parse_range(value: Any, where: str, unit: str) -> tuple[float, float]:
    fix = f"fix: write range: [low, high] in {unit}, with low < high"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ChannelMapError(f"{where}: range {value!r} is not a pair [low, high]; {fix}")
    try:
        low, high = float(value[0]), float(value[1])
    except (TypeError, ValueError) as err:
        raise ChannelMapError(f"{where}: range {list(value)!r} is not numeric; {fix}") from err
    if math.isnan(low) or math.isnan(high) or not low < high:
        raise ChannelMapError(f"{where}: range [{low}, {high}] {unit} needs low < high; {fix}")
    return low, high


@dataclass(frozen=True)
class ChannelMap:
    """How one historian CSV export maps onto twin variables.

    Attributes
    ----------
    channels : tuple[Channel, ...]
        The mapped channels; every data column of the file must appear here.
    time_column : str
        Column holding the timestamps.
    timezone : str
        IANA zone applied to naive timestamps (stamps with an offset are converted);
        everything ends in UTC.  Naive stamps in the skipped hour of a DST change are
        quarantined; in the repeated hour they are read as summer time unless that would
        go back in time, then as winter time.  Export with UTC offsets to avoid the guess.
    separator : str
        ``"auto"`` (sniffed from the header among ``,`` ``;`` tab ``|``) or one of those.
    decimal : str
        Decimal mark of the values, ``"."`` or ``","``.
    time_format : str or None
        ``strftime`` format of the stamps; None reads ISO 8601.
    encoding : str
        Text encoding of the file; undecodable bytes become U+FFFD and are quarantined.
    """

    channels: tuple[Channel, ...]
    time_column: str = "timestamp"
    timezone: str = "UTC"
    separator: str = "auto"
    decimal: str = "."
    time_format: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        channels = tuple(self.channels)
        object.__setattr__(self, "channels", channels)
        if not channels or not all(isinstance(c, Channel) for c in channels):
            raise ChannelMapError(
                f"channels {self.channels!r} must be a non-empty sequence of Channel; "
                f"fix: map at least one CSV column to a twin variable"
            )
        for attr in ("name", "column"):
            values = [getattr(c, attr) for c in channels]
            dups = sorted({v for v in values if values.count(v) > 1})
            if dups:
                raise ChannelMapError(f"channel {attr}s {dups} appear more than once; fix: map each {attr} once")
        if self.time_column in {c.column for c in channels}:
            raise ChannelMapError(
                f"time_column {self.time_column!r} is also mapped as a channel column; "
                f"fix: remove that channel or change time_column"
            )
        if self.separator != "auto" and self.separator not in SEPARATORS:
            raise ConfigurationError(
                f"separator {self.separator!r} is not supported; fix: use 'auto' or one of {list(SEPARATORS)}"
            )
        if self.decimal not in (".", ","):
            raise ConfigurationError(f"decimal {self.decimal!r} is not supported; fix: use '.' or ','")
        if self.decimal == self.separator:
            raise ConfigurationError(
                f"decimal and separator are both {self.decimal!r}; fix: set separator: ';' for decimal ','"
            )
        try:
            pd.Timestamp("2024-01-01").tz_localize(self.timezone)
        except Exception as err:
            raise ConfigurationError(
                f"timezone {self.timezone!r} is not a known IANA zone ({err}); "
                f"fix: use a name such as 'UTC' or 'Europe/Berlin'"
            ) from err
        if self.time_format is not None and (not isinstance(self.time_format, str) or "%" not in self.time_format):
            raise ConfigurationError(
                f"time_format {self.time_format!r} is not a strftime format; "
                f"fix: e.g. '%d.%m.%Y %H:%M:%S', or leave it empty for ISO 8601"
            )
        try:
            "".encode(self.encoding)
        except (LookupError, TypeError) as err:
            raise ConfigurationError(
                f"encoding {self.encoding!r} is unknown; fix: use e.g. 'utf-8' or 'cp1252'"
            ) from err

    @property
    def columns(self) -> tuple[str, ...]:
        """Source columns of the channels, in map order."""
        return tuple(c.column for c in self.channels)

    @property
    def names(self) -> tuple[str, ...]:
        """Twin variable names of the channels, in map order."""
        return tuple(c.name for c in self.channels)

    def by_column(self, column: str) -> Channel:
        """The channel fed by *column* (KeyError if none)."""
        for channel in self.channels:
            if channel.column == column:
                return channel
        raise KeyError(column)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChannelMap:
        """Build and validate a map from a plain mapping (YAML / Hydra node).

        Parameters
        ----------
        d : Mapping
            Keys ``time_column``, ``timezone``, ``separator``, ``decimal``, ``time_format``,
            ``encoding`` and ``channels``: ``{name: {column, unit, si_unit, range, description}}``.
        """
        if not isinstance(d, Mapping):
            raise ConfigurationError(f"channel map {d!r} must be a mapping; fix: see ChannelMap.from_dict")
        _reject_unknown(d, _MAP_KEYS, "channel map")
        raw_channels = d.get("channels")
        if not isinstance(raw_channels, Mapping) or not raw_channels:
            raise ConfigurationError(
                f"channel map key 'channels' must be a non-empty mapping name -> {{column, unit, si_unit}}, "
                f"got {raw_channels!r}; fix: e.g. channels: {{motor_current: {{column: M1_Current, unit: A, "
                f"si_unit: A}}}}"
            )
        channels = []
        for name, spec in raw_channels.items():
            where = f"channel {name!r}"
            if not isinstance(spec, Mapping):
                raise ConfigurationError(f"{where}: entry {spec!r} must be a mapping; fix: give column, unit, si_unit")
            _reject_unknown(spec, _CHANNEL_KEYS, where)
            missing = [k for k in ("unit", "si_unit") if k not in spec]
            if missing:
                raise ConfigurationError(f"{where}: missing key(s) {missing}; fix: add e.g. unit: degC, si_unit: K")
            channels.append(
                Channel(
                    name=str(name),
                    column=str(spec.get("column", name)),
                    unit=spec["unit"],
                    si_unit=spec["si_unit"],
                    valid_range=None if spec.get("range") is None else spec["range"],
                    description=str(spec.get("description", "")),
                )
            )
        options = {k: d[k] for k in _MAP_KEYS if k != "channels" and k in d}
        return cls(channels=tuple(channels), **options)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ChannelMap:
        """Read and validate a map from a YAML file (see :meth:`from_dict` for the keys)."""
        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigurationError(
                f"channel map file '{path}' cannot be read ({err.strerror}); fix: check the path"
            ) from err
        except yaml.YAMLError as err:
            raise ConfigurationError(f"channel map file '{path}' is not valid YAML: {err}") from err
        try:
            return cls.from_dict(d)
        except TwinbenchError as err:
            raise type(err)(f"channel map file '{path}': {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that :meth:`from_dict` turns back into an equal map."""
        channels: dict[str, Any] = {}
        for c in self.channels:
            entry: dict[str, Any] = {"column": c.column, "unit": c.unit, "si_unit": c.si_unit}
            if c.valid_range is not None:
                entry["range"] = list(c.valid_range)
            if c.description:
                entry["description"] = c.description
            channels[c.name] = entry
        return {
            "time_column": self.time_column,
            "timezone": self.timezone,
            "separator": self.separator,
            "decimal": self.decimal,
            "time_format": self.time_format,
            "encoding": self.encoding,
            "channels": channels,
        }


def _reject_unknown(d: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {unknown}; fix: use only {list(allowed)}"
            + (" (the valid range is spelled 'range')" if "valid_range" in unknown else "")
        )
