"""The living twin: a service that follows the plant on a telemetry source, recalibrates under governance,
raises explained alarms and answers what-ifs from its current state (``twinbench live``).

Import from the modules.
"""

__all__: list[str] = []
