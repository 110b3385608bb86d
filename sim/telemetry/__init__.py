"""Telemetry: recorded and live sources, channel maps, SI units, quality gates, quarantine, replay.

Every value read ends either in :attr:`TelemetryStream.frame` or in
:attr:`TelemetryStream.quarantine` with a reason: ``accepted + quarantined == read``
per channel, always.

The package reads in the order a value travels:

* :mod:`~sim.telemetry.channels` (with :mod:`~sim.telemetry.units`) - the channel map: which column, topic or
  node feeds which twin variable, in which unit, with which valid range;
* :mod:`~sim.telemetry.sources` - files (CSV, Parquet, DataFrame) and live transports (MQTT, OPC UA);
* :mod:`~sim.telemetry.gates` - parsing, time order, duplicates, gaps, stuck sensors, spikes, range; quarantine;
* :mod:`~sim.telemetry.stream` - the validated SI :class:`TelemetryStream` the gates produce;
* :mod:`~sim.telemetry.replay` and :mod:`~sim.telemetry.align` - the stream on the simulation clock, and on
  the times of model outputs; :mod:`~sim.telemetry.report` - the data-quality report.
"""

from sim.telemetry.channels import Channel, ChannelMap
from sim.telemetry.align import align, interpolate_linear, resample, zero_order_hold
from sim.telemetry.sources.csv_source import read_csv
from sim.telemetry.sources.live import LiveSource, LiveTelemetry, Secret, live_replay
from sim.telemetry.sources.mqtt import MqttSecurity, MqttSource, PayloadFields
from sim.telemetry.sources.opcua import OpcUaSecurity, OpcUaSource
from sim.telemetry.replay import environment, replay
from sim.telemetry.report import QualityReport, check_file, plot_quality, quality_report
from sim.telemetry.gates.rules import SpikeRule, StuckRule
from sim.telemetry.sources.files import read_file, read_frame, read_parquet
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.units import si_converter

__all__ = [
    "Channel",
    "ChannelMap",
    "LiveSource",
    "LiveTelemetry",
    "MqttSecurity",
    "MqttSource",
    "OpcUaSecurity",
    "OpcUaSource",
    "PayloadFields",
    "QualityReport",
    "Secret",
    "SpikeRule",
    "StuckRule",
    "TelemetryStream",
    "align",
    "check_file",
    "environment",
    "interpolate_linear",
    "live_replay",
    "plot_quality",
    "quality_report",
    "read_csv",
    "read_file",
    "read_frame",
    "read_parquet",
    "replay",
    "resample",
    "si_converter",
    "zero_order_hold",
]
