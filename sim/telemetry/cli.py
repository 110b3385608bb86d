"""``twinbench-telemetry check FILE --map MAP``: validate a telemetry file without running a twin.

Prints the per-channel counts by gate and the gaps, then a one-line summary. Exit status:

* 0 - the file was checked and the quarantined fraction is at most ``--max-quarantined-fraction``
  (default 0.5);
* 1 - the file was checked but more than that fraction of its values was quarantined (the summary line
  says how much, and which channel is worst);
* 2 - file, map or usage errors (a clear message, no traceback).

Console script ``twinbench-telemetry`` (also ``twinbench telemetry ...`` and ``python -m sim.telemetry ...``).
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

def load_map(path: str | Path) -> ChannelMap:
    """A channel map from YAML; Hydra-only keys of conf/telemetry files are skipped (see ``ChannelMap.from_dict``)."""
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigurationError(f"channel map file '{path}' cannot be read ({err.strerror}); fix: check the path"
                                 ) from err
    except yaml.YAMLError as err:
        raise ConfigurationError(f"channel map file '{path}' is not valid YAML: {err}") from err
    try:
        return ChannelMap.from_dict(d)
    except TwinbenchError as err:
        raise type(err)(f"channel map file '{path}': {err}") from err


def _parser(prog: str = "twinbench-telemetry") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Twinbench telemetry tools.")
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
    check.add_argument("--max-quarantined-fraction", type=_fraction, default=0.5, dest="max_fraction",
                       help="exit with status 1 when more than this fraction of the values read is quarantined "
                            "(0..1, default 0.5; 1 never fails)")
    return parser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction in [0, 1] (e.g. 0.05 for 5 %)")
    return value


def summary(report, max_fraction: float) -> tuple[str, bool]:
    """The one-line verdict on a checked file and whether it passes (quarantined fraction <= *max_fraction*)."""
    total = report.counts.loc["TOTAL"]
    read, quarantined = int(total["read"]), int(total["quarantined"])
    fraction = quarantined / read if read else 0.0
    ok = fraction <= max_fraction
    channels = report.counts.drop(index="TOTAL")
    channels = channels[channels["read"] > 0]
    worst = ""
    if len(channels) and quarantined:
        share = channels["quarantined"] / channels["read"]
        name = share.idxmax()
        worst = f"; worst channel {name} ({share[name]:.1%} quarantined)"
    verdict = "OK" if ok else "FAIL"
    return (f"{verdict}: {quarantined} of {read} values quarantined ({fraction:.1%}, limit "
            f"{max_fraction:.1%}){worst}"), ok


def main(argv: Sequence[str] | None = None, *, prog: str = "twinbench-telemetry") -> int:
    """Run the command line; returns the exit status (0 checked and passed, 1 checked but too much quarantined,
    2 error)."""
    args = _parser(prog).parse_args(argv)
    from sim.telemetry.report import check_file, plot_quality

    try:
        channel_map = load_map(args.map_path)
        now = None if args.now is None else pd.Timestamp(args.now)
        report = check_file(args.file, channel_map, chunksize=args.chunksize, now=now,
                            max_quarantine=args.max_quarantine)
    except (TwinbenchError, ValueError) as err:
        print(f"{prog} check: error: {err}", file=sys.stderr)
        return 2
    print(report.to_text())
    if args.quarantine:
        report.quarantine.to_csv(args.quarantine, index=False)
        print(f"quarantine written to {args.quarantine}")
    if args.plot:
        plot_quality(report, args.plot)
        print(f"plot written to {args.plot}")
    line, ok = summary(report, args.max_fraction)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
