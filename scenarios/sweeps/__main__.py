"""``python -m scenarios.sweeps``: the ``twinbench-sweep`` command."""

from scenarios.sweeps.cli import main

main()
