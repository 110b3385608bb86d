"""Monitors of the living twin: what runs on every block after the filter (see :func:`build_monitors`)."""

from __future__ import annotations

__all__ = ["build_monitors"]


def build_monitors(cfg, *, model, layout, channel_map=None) -> list:
    """The monitors a ``live`` config asks for."""
    return []
