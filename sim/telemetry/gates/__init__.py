"""The data-quality gates: every raw sample is accepted or quarantined with a reason.

This package owns the gate codes and the rules that decide them:

* :mod:`~sim.telemetry.gates.parse` - the gate codes (``GATES``; a code is the gate's index + 1) and the
  vectorized parsers of timestamps and values, with the reason texts of rejected cells; its module
  comment states the one parsing rule of time text, and :class:`ZoneForm` keeps a column's stamps
  either naive or with offsets;
* :mod:`~sim.telemetry.gates.rules` - per-channel stuck-sensor and spike settings;
* :mod:`~sim.telemetry.gates.pipeline` - :class:`ChannelGates`, the per-channel state carried from batch to
  batch (time order, reorder buffer, stuck sensors, spikes, gaps), with the compiled passes in ``_passes``;
* :mod:`~sim.telemetry.gates.tables` - table chunks (CSV, Parquet, DataFrame; wide or long) through the gates;
* :mod:`~sim.telemetry.gates.collect` and :mod:`~sim.telemetry.gates.quarantine` - what the gates release,
  collected into a :class:`~sim.telemetry.stream.TelemetryStream` and its quarantine.

``from sim.telemetry import gates`` gives the codes and parsers (``gates.DUPLICATE``, ``gates.parse_times``).
"""

from sim.telemetry.gates.parse import (DUPLICATE, FUTURE, GATES, MISSING, MISSING_TOKENS, NAT, NON_FINITE,
                                       NON_MONOTONIC, OUT_OF_RANGE, SCHEMA, SPIKE, STUCK, TIME_GATES, UNPARSEABLE,
                                       TIME_WORDS, UNPARSEABLE_TIME, VALUE_GATES, ParsedTimes, ZoneForm, localize,
                                       numeric_value_gates, parse_times, resolve_ambiguous, time_reason, value_gates,
                                       value_reason, why_not_a_stamp)

__all__ = [
    "DUPLICATE",
    "FUTURE",
    "GATES",
    "MISSING",
    "MISSING_TOKENS",
    "NAT",
    "NON_FINITE",
    "NON_MONOTONIC",
    "OUT_OF_RANGE",
    "SCHEMA",
    "SPIKE",
    "STUCK",
    "TIME_GATES",
    "TIME_WORDS",
    "UNPARSEABLE",
    "UNPARSEABLE_TIME",
    "VALUE_GATES",
    "ParsedTimes",
    "ZoneForm",
    "localize",
    "numeric_value_gates",
    "parse_times",
    "resolve_ambiguous",
    "time_reason",
    "value_gates",
    "value_reason",
    "why_not_a_stamp",
]
