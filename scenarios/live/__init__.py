"""The living twin: a service that follows the plant on a telemetry source, recalibrates under governance,
raises explained alarms and answers what-ifs from its current state (``twinbench live``, docs/live.md).

Modules: ``app`` (the Hydra app), ``config`` (its schema), ``service`` (the loop), ``sources`` (file / MQTT /
OPC UA feeds), ``tracking`` (fleet joint UKF with innovations), ``monitor`` (alarms, recalibration, what-if),
``checkpoint``, ``timeline``, ``shard`` (processes / Ray actors); ``board``, ``http``, ``mqtt_io``, ``audit``,
``governance`` (the service's outside world and its decisions).

Import from the modules.
"""

__all__: list[str] = []
