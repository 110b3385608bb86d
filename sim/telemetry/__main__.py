"""``python -m sim.telemetry check FILE --map MAP``."""

import sys

from sim.telemetry.cli import main

sys.exit(main())
