"""The ``twinbench`` command: the main job, or one of its subcommands.

    twinbench [overrides...]            # the main job (scenarios.app, a Hydra app)
    twinbench live [overrides...]       # the living twin (scenarios.live.app, a Hydra app)
    twinbench models [--path DIR]       # the model catalogue: library models and FMUs (scenarios.models_cli)
    twinbench telemetry check FILE --map MAP   # data quality of a file (sim.telemetry.cli; also twinbench-telemetry)

Each subcommand is its own program with its own ``--help``; the first argument picks it and is removed from
``sys.argv`` before the subcommand parses the rest (Hydra reads ``sys.argv``).
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["SUBCOMMANDS", "main"]

#: subcommand -> (module, function)
SUBCOMMANDS = {
    "live": ("scenarios.live.app", "main"),
    "models": ("scenarios.models_cli", "main"),
    "telemetry": ("sim.telemetry.cli", "main"),
}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        module, function = SUBCOMMANDS[args[0]]
        sys.argv = [f"twinbench {args[0]}", *args[1:]]
        entry = getattr(importlib.import_module(module), function)
        status = entry(args[1:], prog=f"twinbench {args[0]}") if args[0] == "telemetry" else entry()
        if isinstance(status, int):
            sys.exit(status)
        return
    from scenarios.app import main as job

    sys.argv = ["twinbench", *args]
    job()


if __name__ == "__main__":
    main()
