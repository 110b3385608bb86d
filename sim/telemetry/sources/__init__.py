"""Telemetry sources: where raw rows come from, before the gates.

* :mod:`~sim.telemetry.sources.csv_source` - historian CSV exports, streamed in chunks (``read_csv``);
* :mod:`~sim.telemetry.sources.csv_typed` - value columns of a CSV block parsed by pyarrow, raw text from the
  block's bytes;
* :mod:`~sim.telemetry.sources.files` - Parquet files, pandas DataFrames and ``read_file`` for any file;
* :mod:`~sim.telemetry.sources.live` - live sources fill a thread-safe queue that :class:`LiveTelemetry` gates;
* :mod:`~sim.telemetry.sources.mqtt` and :mod:`~sim.telemetry.sources.opcua` - the MQTT and OPC UA sources.

Every source hands raw rows to :mod:`sim.telemetry.gates`; none converts units or drops a row itself.
"""

from sim.telemetry.sources.csv_source import read_csv
from sim.telemetry.sources.files import read_file, read_frame, read_parquet
from sim.telemetry.sources.live import LiveSource, LiveTelemetry, Secret, live_replay
from sim.telemetry.sources.mqtt import MqttSecurity, MqttSource, PayloadFields
from sim.telemetry.sources.opcua import OpcUaSecurity, OpcUaSource

__all__ = ["LiveSource", "LiveTelemetry", "MqttSecurity", "MqttSource", "OpcUaSecurity", "OpcUaSource", "PayloadFields",
           "Secret", "live_replay", "read_csv", "read_file", "read_frame", "read_parquet"]
