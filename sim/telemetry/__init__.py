"""Telemetry: read historian files, map channels, convert to SI, gate, quarantine, replay.

Every value read ends either in :attr:`TelemetryStream.frame` or in
:attr:`TelemetryStream.quarantine` with a reason: ``accepted + quarantined == read``
per channel, always.
"""

from sim.telemetry.channels import Channel, ChannelMap
from sim.telemetry.csv_source import read_csv
from sim.telemetry.replay import replay
from sim.telemetry.stream import TelemetryStream
from sim.telemetry.units import si_converter

__all__ = ["Channel", "ChannelMap", "TelemetryStream", "read_csv", "replay", "si_converter"]
