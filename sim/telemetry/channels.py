"""Channel maps: which column, MQTT topic or OPC UA node feeds which twin variable, in which unit.

A :class:`ChannelMap` is an immutable description of one historian export or live
feed.  Both dataclasses validate themselves on construction (units are checked with
pint eagerly), so a map that exists is a map that can be used.
"""

from __future__ import annotations

import difflib

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.exceptions import ChannelMapError, ConfigurationError, TwinbenchError, UnitConversionError
from sim.telemetry.gates.parse import EPOCH_FORMATS
from sim.telemetry.gates.rules import SpikeRule, StuckRule, finite_number, rule_from
from sim.telemetry.units import check_si_unit, si_converter

__all__ = ["Channel", "ChannelMap", "SEPARATORS", "UNMAPPED", "LAYOUTS"]

#: Separators that ``separator: auto`` chooses from, in order of preference on ties.
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
#: Pseudo-channel of the counts and quarantine for data no channel is mapped to (schema gate).
UNMAPPED = "unmapped"
#: Table layouts: one column per channel, or (time, channel, value) rows.
LAYOUTS = ("wide", "long")

_MAP_KEYS = ("time_column", "timezone", "separator", "decimal", "thousands", "time_format", "encoding", "layout",
             "channel_column", "value_column", "schema", "gap_factor", "future_tolerance", "channels")
#: Keys of a Hydra telemetry config (conf/telemetry/*.yaml) that are not part of the map: skipped by from_dict,
#: so that the same file is a channel map for notebooks, the CLI and the app.
HYDRA_KEYS = ("defaults", "path", "_target_")
_CHANNEL_KEYS = ("column", "unit", "si_unit", "range", "description", "topic", "node", "period", "lateness",
                 "clock_offset", "stuck", "spike")
#: Defaults of the optional map keys; to_dict writes only those that differ.
#: Accepted thousands separators (the last two: no-break and narrow no-break space).
THOUSANDS = (".", ",", " ", "'", "\u00a0", "\u202f")
_MAP_DEFAULTS = {"thousands": None, "layout": "wide", "channel_column": "channel", "value_column": "value", "schema": "strict",
                 "gap_factor": 3.0, "future_tolerance": 300.0}


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
    topic : str or None
        MQTT topic carrying this channel (exact, no wildcards); None if not on MQTT.
    node : str or None
        OPC UA node id carrying this channel, e.g. ``"ns=2;s=M1.Current"``; None if not on OPC UA.
    period : float or None
        Expected sampling period [s]; a pause longer than ``gap_factor * period`` between
        accepted values is reported as a gap.  None: no gap detection.
    lateness : float
        Allowed lateness [s]: a sample up to this much older than the newest one seen is
        still sorted in by the reorder buffer; older ones are quarantined.  0: no reordering.
    clock_offset : float
        How far the device clock runs ahead of UTC [s]; subtracted from every stamp.
    stuck : StuckRule or None
        Stuck-sensor detection; None: off.
    spike : SpikeRule or None
        Spike (Hampel / robust z-score) detection; None: off.
    """

    name: str
    column: str
    unit: str
    si_unit: str
    valid_range: tuple[float, float] | None = None
    description: str = ""
    topic: str | None = None
    node: str | None = None
    period: float | None = None
    lateness: float = 0.0
    clock_offset: float = 0.0
    stuck: StuckRule | None = None
    spike: SpikeRule | None = None

    def __post_init__(self) -> None:
        if self.name == UNMAPPED:
            raise ChannelMapError(
                f"channel name {UNMAPPED!r} is reserved for data that no channel is mapped to; "
                f"fix: choose another name"
            )
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
        for attr in ("topic", "node"):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ChannelMapError(f"{where}: {attr} {value!r} must be a non-empty string or null")
        if self.topic is not None and ("+" in self.topic or "#" in self.topic):
            raise ChannelMapError(
                f"{where}: topic {self.topic!r} contains an MQTT wildcard; fix: map each topic exactly "
                f"(one topic per channel)"
            )
        if self.period is not None:
            object.__setattr__(self, "period", finite_number(
                self.period, f"{where}: period", low=0.0, strict=True, fix="give the sampling period in s, e.g. 10"))
        object.__setattr__(self, "lateness", finite_number(
            self.lateness, f"{where}: lateness", low=0.0, fix="give the allowed lateness in s, e.g. 5 (0: none)"))
        object.__setattr__(self, "clock_offset", finite_number(
            self.clock_offset, f"{where}: clock_offset", fix="give the device clock's lead over UTC in s"))
        object.__setattr__(self, "stuck", rule_from(StuckRule, self.stuck, where))
        object.__setattr__(self, "spike", rule_from(SpikeRule, self.spike, where))

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
    thousands : str or None
        Thousands separator of the values (``"."``, ``","``, ``" "``, ``"'"``, a no-break space), or None
        (default: none).  Only numbers whose separators group exactly three digits are read with it
        (``1.030,5`` with decimal ``","`` is 1030.5); a cell such as ``1.5`` is then unparseable, not 15.
    time_format : str or None
        ``strftime`` format of the stamps; ``"epoch_s"``, ``"epoch_ms"``, ``"epoch_us"`` or ``"epoch_ns"`` for
        numbers since 1970-01-01T00:00:00Z (UTC whatever ``timezone`` says); None reads ISO 8601.
    encoding : str
        Text encoding of the file; undecodable bytes become U+FFFD and are quarantined.
    layout : str
        ``"wide"``: one column per channel (``Channel.column``); ``"long"``: rows of
        (*time_column*, *channel_column*, *value_column*), where the channel cell holds
        ``Channel.column``.
    channel_column, value_column : str
        Column names of the long layout.
    schema : str
        ``"strict"``: unknown or missing columns of a wide file are an error;
        ``"lenient"``: their cells are quarantined by the ``schema`` gate (unknown
        columns under the pseudo-channel ``unmapped``).  Unknown channels of long
        tables and live feeds always go to ``unmapped``.
    gap_factor : float
        A pause longer than ``gap_factor * period`` between accepted values is a gap, > 1.
    future_tolerance : float or None
        Stamps later than now + this are quarantined as ``timestamp_future`` [s]; None: off.
    """

    channels: tuple[Channel, ...]
    time_column: str = "timestamp"
    timezone: str = "UTC"
    separator: str = "auto"
    decimal: str = "."
    time_format: str | None = None
    thousands: str | None = None
    encoding: str = "utf-8"
    layout: str = "wide"
    channel_column: str = "channel"
    value_column: str = "value"
    schema: str = "strict"
    gap_factor: float = 3.0
    future_tolerance: float | None = 300.0

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
        for attr in ("topic", "node"):
            values = [getattr(c, attr) for c in channels if getattr(c, attr) is not None]
            dups = sorted({v for v in values if values.count(v) > 1})
            if dups:
                raise ChannelMapError(f"channel {attr}s {dups} appear more than once; fix: map each {attr} once")
        self._check_layout()
        if self.layout == "wide" and self.time_column in {c.column for c in channels}:
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
        if self.thousands is not None and (self.thousands not in THOUSANDS or self.thousands == self.decimal
                                           or self.thousands == self.separator):
            raise ConfigurationError(
                f"thousands {self.thousands!r} is not a usable thousands separator with decimal {self.decimal!r} "
                f"and separator {self.separator!r}; fix: use one of {list(THOUSANDS)} that differs from both "
                f"(e.g. decimal: ',', thousands: '.', separator: ';' for German exports), or leave it empty"
            )
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
        if self.time_format is not None and self.time_format not in EPOCH_FORMATS and (
                not isinstance(self.time_format, str) or "%" not in self.time_format):
            raise ConfigurationError(
                f"time_format {self.time_format!r} is neither a strftime format nor an epoch format; "
                f"fix: e.g. '%d.%m.%Y %H:%M:%S', one of {sorted(EPOCH_FORMATS)} for numbers since 1970-01-01 UTC, "
                f"or leave it empty for ISO 8601"
            )
        try:
            "".encode(self.encoding)
        except (LookupError, TypeError) as err:
            raise ConfigurationError(
                f"encoding {self.encoding!r} is unknown; fix: use e.g. 'utf-8' or 'cp1252'"
            ) from err

    def _check_layout(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigurationError(f"layout {self.layout!r} is not supported; fix: use one of {list(LAYOUTS)}")
        if self.schema not in ("strict", "lenient"):
            raise ConfigurationError(f"schema {self.schema!r} is not supported; fix: use 'strict' or 'lenient'")
        if self.layout == "long":
            names = [self.time_column, self.channel_column, self.value_column]
            if len(set(names)) != 3 or not all(isinstance(n, str) and n for n in names):
                raise ConfigurationError(
                    f"time_column, channel_column and value_column {names} must be three different names "
                    f"for the long layout; fix: e.g. timestamp, channel, value"
                )
        gap = finite_number(self.gap_factor, "gap_factor", low=1.0, strict=True, fix="e.g. gap_factor: 3")
        object.__setattr__(self, "gap_factor", gap)
        if self.future_tolerance is not None:
            object.__setattr__(self, "future_tolerance", finite_number(
                self.future_tolerance, "future_tolerance", low=0.0, fix="e.g. future_tolerance: 300 (s), or null"))

    @property
    def columns(self) -> tuple[str, ...]:
        """Source columns of the channels, in map order."""
        return tuple(c.column for c in self.channels)

    @property
    def names(self) -> tuple[str, ...]:
        """Twin variable names of the channels, in map order."""
        return tuple(c.name for c in self.channels)

    @property
    def topics(self) -> dict[str, str]:
        """MQTT topic -> channel name, for the channels that have a topic."""
        return {c.topic: c.name for c in self.channels if c.topic is not None}

    @property
    def nodes(self) -> dict[str, str]:
        """OPC UA node id -> channel name, for the channels that have a node."""
        return {c.node: c.name for c in self.channels if c.node is not None}

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
            ``encoding``, ``layout``, ``channel_column``, ``value_column``, ``schema``,
            ``gap_factor``, ``future_tolerance`` and ``channels``: ``{name: {column, unit,
            si_unit, range, description, topic, node, period, lateness, clock_offset, stuck,
            spike}}``.  The Hydra-only keys of ``conf/telemetry/*.yaml`` (``defaults``, ``path``,
            ``_target_``) are skipped, so a telemetry config file reads as a map.
        """
        if not isinstance(d, Mapping):
            raise ConfigurationError(f"channel map {d!r} must be a mapping; fix: see ChannelMap.from_dict")
        d = {k: v for k, v in d.items() if k not in HYDRA_KEYS}
        _reject_unknown(d, _MAP_KEYS, "channel map", known=HYDRA_KEYS)
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
            optional = {k: spec[k] for k in ("topic", "node", "period", "lateness", "clock_offset", "stuck", "spike")
                        if spec.get(k) is not None}
            channels.append(
                Channel(
                    name=str(name),
                    column=str(name if spec.get("column") is None else spec["column"]),
                    unit=spec["unit"],
                    si_unit=spec["si_unit"],
                    valid_range=None if spec.get("range") is None else spec["range"],
                    description=str(spec.get("description", "")),
                    **optional,
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
            for key in ("topic", "node", "period"):
                if getattr(c, key) is not None:
                    entry[key] = getattr(c, key)
            for key in ("lateness", "clock_offset"):
                if getattr(c, key):
                    entry[key] = getattr(c, key)
            for key in ("stuck", "spike"):
                if getattr(c, key) is not None:
                    entry[key] = dataclasses.asdict(getattr(c, key))
            channels[c.name] = entry
        d: dict[str, Any] = {
            "time_column": self.time_column,
            "timezone": self.timezone,
            "separator": self.separator,
            "decimal": self.decimal,
            "time_format": self.time_format,
            "encoding": self.encoding,
        }
        d.update({k: getattr(self, k) for k, v in _MAP_DEFAULTS.items() if getattr(self, k) != v})
        d["channels"] = channels
        return d


def _reject_unknown(d: Mapping[str, Any], allowed: tuple[str, ...], where: str, *, known: tuple[str, ...] = ()
                    ) -> None:
    """Refuse keys outside *allowed*, suggesting the closest of *allowed* + *known* (keys skipped elsewhere)."""
    unknown = [k for k in d if k not in allowed]
    if unknown:
        close = {k: difflib.get_close_matches(str(k), (*allowed, *known), n=1, cutoff=0.6) for k in unknown}
        hints = [f"{k!r} -> did you mean {c[0]!r}?" for k, c in close.items() if c]
        raise ConfigurationError(
            f"{where}: unknown key(s) {unknown}; " + (" ".join(hints) + " " if hints else "")
            + f"fix: use only {list(allowed)}"
            + (" (the valid range is spelled 'range')" if "valid_range" in unknown else "")
        )
