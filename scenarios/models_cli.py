"""``twinbench models``: one catalogue of the library's models and the FMUs on a path.

    twinbench models                          # the library (sim.physics.MODELS) and FMUs on $TWINBENCH_FMU_PATH
    twinbench models --path plant/fmus        # ... and the FMUs under plant/fmus (searched recursively)
    twinbench models --path a.fmu --json      # machine-readable: one JSON document on stdout

Each entry lists the variables with their unit and causality (state, input, output, parameter - for FMUs with
their variability).  An FMU that cannot be read is listed with its error and the fix; it does not hide the others,
and the exit status is 1 if any was broken.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

__all__ = ["FMU_PATH_VARIABLE", "library_entries", "main"]

FMU_PATH_VARIABLE = "TWINBENCH_FMU_PATH"
"""Environment variable with folders (separated by ``os.pathsep``) searched for FMUs besides ``--path``."""


def library_entries() -> list[dict]:
    """One catalogue entry per model of :data:`sim.physics.MODELS`."""
    from sim.physics import MODELS

    entries = []
    for name, model in MODELS.items():
        spec = model.spec
        variables = []
        for kind, causality in (("states", "state"), ("inputs", "input"), ("outputs", "output"),
                                ("params", "parameter")):
            for var in getattr(spec, kind):
                lo, hi = var.bounds
                variables.append({"name": var.name, "kind": causality, "causality": causality, "unit": var.unit,
                                  "start": None if math.isnan(var.default) else var.default,
                                  "min": None if math.isinf(lo) else lo, "max": None if math.isinf(hi) else hi,
                                  "description": var.doc})
        entries.append({"name": name, "source": "library", "version": spec.version, "doc": spec.doc,
                        "variables": variables})
    return entries


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twinbench models", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", action="append", default=[], metavar="DIR",
                        help=f"folder (searched recursively) or .fmu file; repeatable; also ${FMU_PATH_VARIABLE}")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--no-library", action="store_true", help="list only FMUs")
    return parser


def _table(entry: dict) -> str:
    head = f"{entry['name']}  [{entry['source']}"
    if entry["source"] == "fmu":
        head += f", FMI {entry['fmi_version']}, {'/'.join(entry['interfaces'])}, {entry['path']}"
    lines = [head + "]"]
    rows = [(v["name"], v["kind"], v["unit"] or "-", "" if v.get("start") is None else f"{v['start']:g}"
             if isinstance(v.get("start"), float) else str(v.get("start"))) for v in entry["variables"]]
    widths = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(("variable", "kind", "unit"))]
    lines.append(f"  {'variable':<{widths[0]}}  {'kind':<{widths[1]}}  {'unit':<{widths[2]}}  start")
    lines += [f"  {n:<{widths[0]}}  {k:<{widths[1]}}  {u:<{widths[2]}}  {s}" for n, k, u, s in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    paths = list(args.path) + [p for p in os.environ.get(FMU_PATH_VARIABLE, "").split(os.pathsep) if p]
    from sim.fmu import catalogue

    fmus, failures = catalogue(paths)
    entries = ([] if args.no_library else library_entries()) + fmus
    if args.json:
        print(json.dumps({"models": entries, "failures": failures}, indent=1, default=str))
    else:
        print("\n\n".join(_table(e) for e in entries))
        for failure in failures:
            print(f"\n{failure['path']}: {failure['error']}: {failure['message']}", file=sys.stderr)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
