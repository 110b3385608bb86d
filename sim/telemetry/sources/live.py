"""Live telemetry: sources fill a thread-safe queue; :class:`LiveTelemetry` gates what arrives.

A live source (MQTT, OPC UA) runs its network client in its own thread and queues
each received message (:meth:`LiveSource.deliver`).  :class:`LiveTelemetry` drains the
queue in batches through the same :class:`~sim.telemetry.gates.pipeline.ChannelGates` as
files, and :func:`live_replay` is the SimPy process that does so on the simulation clock.

Redeliveries.  MQTT QoS 1 delivers "at least once" and an OPC UA server re-reports its
current values after a resubscribe, so a message can arrive twice.  Only a *true*
redelivery - provably the same message again - is recognized, never two samples that
merely look alike (a constant reading is many samples):

* the transport says so: see :mod:`~sim.telemetry.sources.mqtt` (DUP flag and packet id)
  and :mod:`~sim.telemetry.sources.opcua` (node, source timestamp, value and status);
* or the message identifies its sample (its *message key*, e.g. an MQTT payload with a
  source stamp, or a sequence number and a publisher session) and a delivery with the
  same key was already read (within the last ``history`` keys).  A message without such
  an identity has key None and is never taken for a redelivery.

A redelivery is not dropped silently: :meth:`LiveSource.drain` returns it with its reason
in :attr:`LiveRecord.redelivery`, and :class:`LiveTelemetry` reads it and quarantines it
under the gate ``redelivery``, so that ``accepted + quarantined == read`` holds per
channel and ``read`` counts every delivery (``LiveSource.received``).

Secrets (passwords of the MQTT broker or the OPC UA server) enter as :class:`Secret`
references - an environment variable or a file - resolved only when connecting; no
configuration, ``repr`` or ``to_dict`` holds their value.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Mapping
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sim.exceptions import ConfigurationError
from sim.telemetry import gates
from sim.telemetry.channels import ChannelMap
from sim.telemetry.gates.collect import Collector, new_gates
from sim.telemetry.gates import NAT
from sim.telemetry.gates.parse import REDELIVERY
from sim.telemetry.gates.pipeline import NS, SampleBatch
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.gates.tables import future_limit

__all__ = ["LiveRecord", "LiveSource", "LiveTelemetry", "Secret", "live_replay", "secret_from", "security_from"]


@dataclass(frozen=True)
class Secret:
    """Where a secret (a password) is kept: an environment variable or a file, never its value.

    The value is read by :meth:`reveal` when a source connects; ``repr``, ``str`` and
    :meth:`to_dict` show only the reference, so configurations can be logged and tracked.

    Parameters
    ----------
    env : str, optional
        Name of the environment variable, e.g. ``"TWINBENCH_MQTT_PASSWORD"``.
    file : str, optional
        Path of a file holding the secret (a trailing newline is removed), e.g.
        ``"/run/secrets/mqtt_password"``.  Exactly one of *env* and *file*.
    """

    env: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise ConfigurationError(
                f"a Secret needs exactly one of env and file (got env={self.env!r}, file={self.file!r}); fix: "
                f"Secret(env='TWINBENCH_MQTT_PASSWORD') or Secret(file='/run/secrets/mqtt_password')")
        for name in ("env", "file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"Secret {name} must be a non-empty string, got a {type(value).__name__}")

    def reveal(self, what: str = "secret") -> str:
        """The secret's value; *what* names it in errors (which never contain the value)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigurationError(
                    f"{what}: environment variable {self.env} is not set; fix: export {self.env}=... before "
                    f"starting the twin (or use a file: {what}_file)")
            return value
        try:
            return Path(self.file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as err:
            raise ConfigurationError(
                f"{what}: cannot read secret file {self.file} ({err.strerror}); fix: create it, readable by the "
                f"twin only, or use an environment variable: {what}_env") from None

    def to_dict(self) -> dict[str, str]:
        """The reference as a config mapping, e.g. ``{"env": "TWINBENCH_MQTT_PASSWORD"}``."""
        return {"env": self.env} if self.env is not None else {"file": self.file}


def secret_from(config: Mapping[str, Any], key: str, *, where: str) -> Secret | None:
    """The :class:`Secret` that *config* references as ``<key>_env`` or ``<key>_file`` (None if neither).

    A literal ``<key>`` is refused: configurations are logged and tracked (MLflow params).
    """
    if key in config:
        raise ConfigurationError(
            f"{where}.{key}: a literal {key} in the configuration is refused (configurations are logged and "
            f"tracked); fix: put it in an environment variable and set {key}_env: TWINBENCH_{where.upper()}_"
            f"{key.upper()}, or in a file and set {key}_file: /run/secrets/{where}_{key}")
    env, file = config.get(f"{key}_env"), config.get(f"{key}_file")
    if env is None and file is None:
        return None
    if env is not None and file is not None:
        raise ConfigurationError(f"{where}: give one of {key}_env and {key}_file, not both")
    return Secret(env=env, file=file)


def security_from(cls, config: Mapping[str, Any], *, where: str):
    """A transport's security settings *cls* (a dataclass with a ``password`` :class:`Secret` field) from a
    config mapping: its fields, with ``password_env`` or ``password_file`` (a literal ``password`` is refused);
    unknown keys fail, naming the known ones."""
    config = dict(config)
    password = secret_from(config, "password", where=where)
    config.pop("password_env", None), config.pop("password_file", None)
    known = {f.name for f in dataclasses.fields(cls)} - {"password"}
    unknown = sorted(set(config) - known)
    if unknown:
        allowed = sorted(known | {"password_env", "password_file"})
        raise ConfigurationError(f"{where} security: unknown key(s) {unknown}; fix: use {allowed}")
    return cls(**config, password=password)

class LiveRecord(NamedTuple):
    """One received message, decoded as far as the transport allows.

    Attributes
    ----------
    key : str
        MQTT topic or OPC UA node id.
    time : object
        Source stamp: ISO 8601 text, Unix time [s], a datetime (naive = UTC), or None
        to use the arrival time.
    value : object
        The value: a number, text (parsed by the value gates) or None (missing).
    arrival_ns : int
        Wall-clock arrival time [UTC ns].
    raw : str
        The payload as received, for the quarantine.
    problem : str
        Non-empty when the payload could not be decoded (quarantined as ``unparseable``).
    redelivery : str
        Non-empty when the message is a redelivery of one already read: why (quarantined as
        ``redelivery``; it wins over *problem*).
    """

    key: str
    time: Any
    value: Any
    arrival_ns: int
    raw: str
    problem: str = ""
    redelivery: str = ""


class LiveSource:
    """Base of live sources: a thread-safe queue of :class:`LiveRecord` and redelivery recognition.

    Parameters
    ----------
    history : int
        Message keys remembered to recognize a redelivery (see the module docstring).
    """

    def __init__(self, *, history: int = 1 << 17):
        self.history = history
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._seen: dict[Any, None] = {}
        self._lock = threading.Lock()
        self.received = 0  # deliveries drained, redeliveries included (the n-th is row n of LiveTelemetry)
        self.redelivered = 0  # deliveries of a message already read (quarantined as 'redelivery')

    @property
    def keys(self) -> tuple[str, ...]:  # pragma: no cover - every source overrides it
        """Topics or node ids this source receives."""
        raise NotImplementedError

    def start(self) -> LiveSource:  # pragma: no cover - every source overrides it
        """Connect and start receiving in a background thread; returns self."""
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - every source overrides it
        """Disconnect and stop the background thread (records already queued stay)."""
        raise NotImplementedError

    def __enter__(self) -> LiveSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def queued(self) -> int:
        """Deliveries waiting to be drained."""
        return self._queue.qsize()

    def deliver(self, record: LiveRecord, message_key: Any) -> None:
        """Queue a received message (any thread).

        *message_key* identifies the message (hashable), or is None when nothing identifies it: a
        later delivery with the same key is a redelivery, one with key None never is.
        """
        self._queue.put((record, message_key))

    def deliver_raw(self, item: Any) -> None:
        """Queue an undecoded message (any thread); :meth:`decode` turns it into ``(record, key)`` when drained.

        Network threads should do as little as possible under the GIL: decoding in the
        consumer's thread keeps the receiving loop fast.
        """
        self._queue.put(item)

    def decode(self, item: Any) -> tuple[LiveRecord, Any]:
        """``(record, message key)`` of an item queued by :meth:`deliver_raw` (the record's ``redelivery``
        set where the transport itself recognizes one)."""
        return item

    def repeat_reason(self, record: LiveRecord, first: int) -> str:
        """Why *record*, whose message key delivery *first* already had, is a redelivery."""
        return f"repeats delivery {first} (same message key {record.key!r}); a message is read once"

    def drain(self, max_records: int | None = None) -> list[LiveRecord]:
        """Take up to *max_records* queued messages (all by default) without waiting, in arrival order.

        Redeliveries are returned too, with their reason in ``redelivery`` (and counted in
        :attr:`redelivered`): they are read and quarantined, never silently gone.
        """
        out: list[LiveRecord] = []
        get, decode, seen = self._queue.get_nowait, self.decode, self._seen
        with self._lock:
            while max_records is None or len(out) < max_records:
                try:
                    item = get()
                except queue.Empty:
                    break
                record, key = item if isinstance(item, tuple) and isinstance(item[0], LiveRecord) else decode(item)
                self.received += 1
                if not record.redelivery and key is not None:
                    first = seen.get(key)
                    if first is None:
                        seen[key] = self.received
                    else:
                        record = record._replace(redelivery=self.repeat_reason(record, first))
                if record.redelivery:
                    self.redelivered += 1
                out.append(record)
            while len(seen) > self.history:
                del seen[next(iter(seen))]
        return out


_NS_LOW, _NS_HIGH = float(pd.Timestamp.min.value), float(pd.Timestamp.max.value)  # [ns] (as floats, as compared)


def _stamps(records: list[LiveRecord], channel_map: ChannelMap, zone: gates.ZoneForm | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """UTC ns of the message stamps (arrival time where a message has none) and notes where unparseable."""
    k = len(records)
    stamps = np.full(k, NAT, dtype=np.int64)
    notes = np.full(k, "", dtype=object)
    text: list[int] = []
    numeric: list[int] = []
    seconds: list[float] = []
    for j, r in enumerate(records):
        t = r.time
        if t is None:
            stamps[j] = r.arrival_ns
        elif isinstance(t, (int, float)) and not isinstance(t, bool):
            numeric.append(j)
            try:
                seconds.append(float(t))
            except OverflowError:  # an integer beyond the float range
                seconds.append(np.inf)
        elif isinstance(t, dt.datetime):
            try:
                stamp = pd.Timestamp(t)
                stamps[j] = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).value
            except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
                notes[j] = "the datetime is outside the years 1677 to 2262"
        elif isinstance(t, str):
            text.append(j)
        else:
            notes[j] = f"a {type(t).__name__} is not a timestamp; expected ISO 8601 text or Unix time in seconds"
    if numeric:  # Unix time [s], converted for all messages at once
        with np.errstate(over="ignore", invalid="ignore"):
            ns = np.asarray(seconds) * 1e9
        ok = np.isfinite(ns) & (ns > _NS_LOW) & (ns < _NS_HIGH)
        index = np.asarray(numeric)
        stamps[index[ok]] = ns[ok].astype(np.int64)
        notes[index[~ok]] = "not a Unix time in seconds (years 1677 to 2262)"
    if text:
        parsed = gates.parse_times(pd.Series([records[j].time for j in text], dtype=object),
                                   timezone=channel_map.timezone, time_format=channel_map.time_format, zone=zone)
        stamps[text], notes[text] = parsed.first, parsed.note
    return stamps, notes


def _values(records: list[LiveRecord], channel_map: ChannelMap, valid_range) -> tuple[np.ndarray, np.ndarray]:
    """Values [source unit] and value-gate codes of the messages (numbers directly, text parsed)."""
    k = len(records)
    values = np.full(k, np.nan)
    codes = np.zeros(k, dtype=np.int8)
    numeric: list[int] = []
    text: list[int] = []
    for j, r in enumerate(records):
        v = r.value
        if isinstance(v, bool) or isinstance(v, (dict, list)):
            codes[j] = gates.UNPARSEABLE
        elif isinstance(v, (int, float)):
            numeric.append(j)
            try:
                values[j] = float(v)
            except OverflowError:  # an integer beyond the float range
                values[j] = np.inf
        else:
            text.append(j)
    if numeric:
        values[numeric], codes[numeric] = gates.numeric_value_gates(values[numeric], valid_range=valid_range)
    if text:
        cells = pd.Series(["" if records[j].value is None else str(records[j].value) for j in text], dtype=object)
        values[text], codes[text] = gates.value_gates(cells, decimal=channel_map.decimal, valid_range=valid_range,
                                                             thousands=channel_map.thousands)
    return values, codes


class LiveTelemetry:
    """The gates over a live source: :meth:`poll` turns queued messages into clean SI samples.

    Parameters
    ----------
    source : LiveSource
        Where messages come from; its ``keys`` are looked up in *keys*.
    channel_map : ChannelMap
        The map (units, ranges, rules).
    keys : Mapping[str, str]
        Source key (topic / node id) -> channel name, e.g. ``channel_map.topics``.
    name : str
        Source name for reports.
    """

    def __init__(self, source: LiveSource, channel_map: ChannelMap, keys: Mapping[str, str], *, name: str = "live"):
        unknown = sorted(set(keys.values()) - set(channel_map.names))
        if unknown:
            raise ConfigurationError(f"keys map to unknown channel(s) {unknown}; fix: use {list(channel_map.names)}")
        self.source, self.map, self.keys, self.name = source, channel_map, dict(keys), name
        self.gates = new_gates(channel_map)
        self.collector = Collector(channel_map)
        self.rows = 0
        self.zones: dict[str, gates.ZoneForm] = {}  # per channel: its text stamps are naive or carry offsets,
        # the first one decides (as a file's time column does)
        self.lock = threading.Lock()

    def start(self) -> LiveTelemetry:
        """Start the source; returns self."""
        self.source.start()
        return self

    def stop(self) -> list[tuple[int, str, float]]:
        """Stop the source, gate what is still queued and flush the reorder buffers; returns those samples."""
        self.source.stop()
        samples = self.poll()
        with self.lock:
            for name, g in self.gates.items():
                samples += self._take(name, g.flush())
        samples.sort(key=lambda s: s[0])
        return samples

    def poll(self, max_records: int | None = None, *, now: pd.Timestamp | None = None
             ) -> list[tuple[int, str, float]]:
        """Gate the queued messages; returns released samples ``(stamp [UTC ns], channel, value [SI])`` in time order.

        Parameters
        ----------
        max_records : int, optional
            Take at most this many messages.
        now : pandas.Timestamp, optional
            Time of reading for the future gate (wall clock by default).
        """
        records = self.source.drain(max_records)
        if not records:
            return []
        with self.lock:
            return self._gate(records, future_limit(self.map, now))

    def _gate(self, records: list[LiveRecord], limit: int | None) -> list[tuple[int, str, float]]:
        m = self.map
        n = len(records)
        rows = np.arange(self.rows + 1, self.rows + n + 1, dtype=np.int64)
        self.rows += n
        names = [self.keys.get(r.key) for r in records]
        samples: list[tuple[int, str, float]] = []
        lost = [i for i, name in enumerate(names) if name is None]
        if lost:
            self.collector.add_unmapped(
                rows[lost], np.array([str(records[i].time) for i in lost], dtype=object),
                np.array([records[i].arrival_ns for i in lost], dtype=np.int64),
                np.array([records[i].raw for i in lost], dtype=object),
                np.array([f"key {records[i].key!r} is not mapped to a channel; fix: add it (topic/node) to the "
                          f"channel map" for i in lost], dtype=object))
        by_channel: dict[str, list[int]] = {}  # one pass over the messages, not one per channel
        for i, name in enumerate(names):
            if name is not None:
                by_channel.setdefault(name, []).append(i)
        for channel in m.channels:
            sel = by_channel.get(channel.name)
            if not sel:
                continue
            picked = [records[i] for i in sel]
            stamps, notes = _stamps(picked, m, self.zones.setdefault(channel.name, gates.ZoneForm()))
            tcodes = np.where(stamps == NAT, gates.UNPARSEABLE_TIME, 0).astype(np.int8)
            values, vcodes = _values(picked, m, channel.valid_range)
            for j, r in enumerate(picked):  # decided by the source: quarantined at once, outside the time order
                if r.redelivery:  # (its stamp, for the quarantine, where it has one)
                    stamps[j] = r.arrival_ns if stamps[j] == NAT or r.problem else stamps[j]
                    tcodes[j], notes[j] = REDELIVERY, f"{channel.name}: {r.redelivery}"
                elif r.problem:  # undecodable payload
                    stamps[j], tcodes[j], notes[j] = r.arrival_ns, gates.UNPARSEABLE, f"{channel.name}: {r.problem}"
            batch = SampleBatch(stamps, tcodes, notes, values, vcodes, rows[sel],
                                np.array(["" if r.time is None else str(r.time) for r in picked], dtype=object),
                                np.array([r.raw for r in picked], dtype=object))
            samples += self._take(channel.name, self.gates[channel.name].process(batch, now_ns=limit))
        samples.sort(key=lambda s: s[0])
        return samples

    def _take(self, name: str, result) -> list[tuple[int, str, float]]:
        self.collector.add(name, result)
        ok = ~np.isnan(result.values)
        return list(zip(result.stamps[ok].tolist(), [name] * int(ok.sum()), result.values[ok].tolist()))

    @property
    def pending(self) -> int:
        """Samples held in the reorder buffers."""
        return sum(g.pending for g in self.gates.values())

    def stream(self) -> TelemetryStream:
        """Everything gated so far as a long-layout stream (after :meth:`stop`, the identity holds exactly)."""
        with self.lock:
            stream = self.collector.finish(self.gates, rows_read=self.rows, source=self.name,
                                           content_hash="", layout="long")
        return stream


def live_replay(env: Any, live: LiveTelemetry, on_sample: Callable[[float, dict[str, float]], None], *,
                poll_interval: float = 1.0, t0: pd.Timestamp | None = None,
                until: Callable[[], bool] | None = None) -> Generator[Any, Any, None]:
    """SimPy process that polls a live feed every *poll_interval* and delivers clean samples.

    Use it with ``simpy.rt.RealtimeEnvironment`` (see :func:`sim.telemetry.replay.environment`)
    so that the simulation clock follows the wall clock; the model code is the same as
    for :func:`~sim.telemetry.replay.replay`.

    Parameters
    ----------
    env : simpy.Environment
        The environment.
    live : LiveTelemetry
        A started live feed.
    on_sample : callable
        Called as ``on_sample(t, {channel: value})`` [s since *t0*, SI units] once per
        message stamp, in time order within each poll.
    poll_interval : float
        Simulated seconds between polls, > 0.
    t0 : pandas.Timestamp, optional
        Stamp that simulation time ``env.now`` = 0 stands for [UTC]; default: the wall
        clock when the process starts, minus ``env.now``.
    until : callable, optional
        The process ends after a poll for which ``until()`` is true (default: never).
    """
    if not (isinstance(poll_interval, (int, float)) and np.isfinite(poll_interval) and poll_interval > 0):
        raise ConfigurationError(f"poll_interval {poll_interval!r} must be a positive number of seconds")
    origin = (time.time_ns() - int(env.now * NS)) if t0 is None else pd.Timestamp(t0).value
    while True:
        yield env.timeout(poll_interval)
        grouped: dict[int, dict[str, float]] = {}
        for stamp, name, value in live.poll():
            grouped.setdefault(stamp, {})[name] = value
        for stamp in sorted(grouped):
            on_sample((stamp - origin) / NS, grouped[stamp])
        if until is not None and until():
            return
