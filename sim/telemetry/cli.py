"""``telemetry check FILE --map MAP``: validate a telemetry file without running a twin.

Prints the per-channel counts by gate and the gaps; exits 0 when the file could be
checked (whatever its quality), 2 on file, map or usage errors (a clear message, no
traceback).  Console script: ``telemetry = "sim.telemetry.cli:main"``; also
``python -m sim.telemetry check ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from sim.exceptions import ConfigurationError, TwinbenchError
from sim.telemetry.channels import ChannelMap

__all__ = ["main", "load_map"]

#: Keys of a Hydra telemetry config (conf/telemetry/*.yaml) that are not part of a channel map.
_HYDRA_KEYS = ("defaults", "path")


def load_map(path: str | Path) -> ChannelMap:
    """A channel map from YAML; Hydra-only keys (``defaults``, ``path``) of conf/telemetry files are skipped."""
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigurationError(f"channel map file '{path}' cannot be read ({err.strerror}); fix: check the path"
                                 ) from err
    except yaml.YAMLError as err:
        raise ConfigurationError(f"channel map file '{path}' is not valid YAML: {err}") from err
    if isinstance(d, dict):
        d = {k: v for k, v in d.items() if k not in _HYDRA_KEYS}
    try:
        return ChannelMap.from_dict(d)
    except TwinbenchError as err:
        raise type(err)(f"channel map file '{path}': {err}") from err


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemetry", description="Twinbench telemetry tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a CSV or Parquet file against a channel map")
    check.add_argument("file", help="telemetry file (.csv, or .parquet/.pq/.parq)")
    check.add_argument("--map", required=True, dest="map_path", help="channel map YAML (e.g. conf/telemetry/*.yaml)")
    check.add_argument("--chunksize", type=int, default=None, help="rows per chunk (default 1048576)")
    check.add_argument("--now", default=None, help="time of reading for the future gate (ISO 8601, default: now)")
    check.add_argument("--quarantine", default=None, help="write the quarantine table to this CSV file")
    check.add_argument("--plot", default=None, help="write the data-quality plot to this PNG file")
    check.add_argument("--max-quarantine", type=int, default=100_000,
                       help="quarantine entries kept for --quarantine and the plot (counts stay complete)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 checked, 2 error)."""
    args = _parser().parse_args(argv)
    from sim.telemetry.report import check_file, plot_quality

    try:
        channel_map = load_map(args.map_path)
        now = None if args.now is None else pd.Timestamp(args.now)
        report = check_file(args.file, channel_map, chunksize=args.chunksize, now=now,
                            max_quarantine=args.max_quarantine)
    except (TwinbenchError, ValueError) as err:
        print(f"telemetry check: error: {err}", file=sys.stderr)
        return 2
    print(report.to_text())
    if args.quarantine:
        report.quarantine.to_csv(args.quarantine, index=False)
        print(f"quarantine written to {args.quarantine}")
    if args.plot:
        plot_quality(report, args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
