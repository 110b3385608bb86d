"""Telemetry: recorded and live sources, channel maps, SI units, quality gates, quarantine, replay.

Every value read ends either in :attr:`TelemetryStream.frame` or in
:attr:`TelemetryStream.quarantine` with a reason: ``accepted + quarantined == read``
per channel, always.
"""

from sim.telemetry.channels import Channel, ChannelMap
from sim.telemetry.align import align, interpolate_linear, resample, zero_order_hold
from sim.telemetry.csv_source import read_csv
from sim.telemetry.live import LiveSource, LiveTelemetry, live_replay
from sim.telemetry.mqtt import MqttSource
from sim.telemetry.opcua import OpcUaSource
from sim.telemetry.replay import environment, replay
from sim.telemetry.report import QualityReport, check_file, plot_quality, quality_report
from sim.telemetry.rules import SpikeRule, StuckRule
from sim.telemetry.sources import read_file, read_frame, read_parquet
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.units import si_converter

__all__ = [
    "Channel",
    "ChannelMap",
    "LiveSource",
    "LiveTelemetry",
    "MqttSource",
    "OpcUaSource",
    "QualityReport",
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
