"""Structured JSON logs of a live-twin service: one JSON object per line (python-json-logger).

Each service instance configures its *own* named logger (``twinbench.live.<name>``); the root logger and other
libraries' loggers are left as they are, and the logger does not propagate to the root, so two services in one
process (or a test next to a service) keep their logs apart::

    log = service_logger("line1", stream=sys.stderr, static={"site": "plant-a"})
    log_event(log, "alarm_raised", asset="M1", alarm=7, severity="high")
    # {"time": "2026-12-03T12:40:01.123456+00:00", "level": "INFO", "logger": "twinbench.live.line1",
    #  "message": "alarm_raised", "service": "line1", "site": "plant-a", "event": "alarm_raised",
    #  "asset": "M1", "alarm": 7, "severity": "high"}

Fields: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, ``service``, the static fields, then the
event's own (``event``, ``asset`` and whatever else was passed).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["LOGGER_PREFIX", "log_board_events", "log_event", "service_logger"]

#: Loggers of live services are named ``LOGGER_PREFIX + name``.
LOGGER_PREFIX = "twinbench.live."


class _Formatter(JsonFormatter):
    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["time"] = dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat()
        log_record["level"] = record.levelname
        log_record["logger"] = record.name


class _Handler(logging.StreamHandler):
    """Marks the handler this module installed, so a second call replaces it instead of adding another."""


def service_logger(name: str, *, stream: IO[str] | None = None, level: int | str = logging.INFO,
                   static: Mapping[str, Any] | None = None) -> logging.Logger:
    """The JSON logger of service *name* (``twinbench.live.<name>``), writing one object per line to *stream*.

    Parameters
    ----------
    name : str
        The service instance's name (also logged as ``service``).
    stream : file-like, optional
        Where the lines go (default ``sys.stderr``).
    level : int or str
        The logger's level.
    static : mapping, optional
        Fields added to every line (e.g. ``{"site": "plant-a"}``).

    Returns
    -------
    logging.Logger
        Configured idempotently: calling again replaces this module's handler, never stacks a second one.
        ``propagate`` is off, so nothing reaches the root logger's handlers.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"service name {name!r} must be non-empty text; fix: e.g. service_logger('line1')")
    logger = logging.getLogger(LOGGER_PREFIX + name)
    for handler in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(handler)
        handler.close()
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_Formatter(static_fields={"service": name, **dict(static or {})},
                                    json_ensure_ascii=False))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event: message and field ``event`` are *event*; *fields* (``asset``, ``reason`` ...) are added.

    Field names that clash with a ``logging.LogRecord`` attribute (``name``, ``msg``, ``args`` ...) are logged
    with a trailing underscore (``name_``) instead of failing.
    """
    reserved = _RESERVED
    extra = {"event": event}
    extra.update({(k + "_" if k in reserved else k): v for k, v in fields.items()})
    logger.log(level, event, extra=extra)


def log_board_events(board, logger: logging.Logger) -> None:
    """Log every alarm event, recommendation, governance decision and calibration change of a
    :class:`~scenarios.live.board.LiveBoard` as it happens.

    Events: ``alarm_raised``, ``alarm_updated``, ``alarm_acknowledged``, ``alarm_cleared``, ``alarm_shelved``
    (level WARNING for a raise of severity high or critical), ``advice``, ``decision``, ``calibration``; the
    fields are the board's (``asset``, ``id``, ``severity``, ``explanation`` ...).
    """
    def listener(kind: str, data: dict) -> None:
        fields = {k: v for k, v in data.items() if k != "event"}
        event = f"alarm_{data.get('event', 'event')}" if kind == "alarm" else kind
        level = logging.WARNING if event == "alarm_raised" and data.get("severity") in ("high", "critical") \
            else logging.INFO
        log_event(logger, event, level=level, **fields)

    board.subscribe(listener)


_RESERVED = frozenset(vars(logging.LogRecord("n", 0, "p", 0, "m", (), None))) | {"message", "asctime"}
