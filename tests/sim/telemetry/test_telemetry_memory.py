"""Reading a CSV file streams it (issue 13 item 7): the peak memory follows the result frame, not the file's cells.

The figure itself (``peak_rss_ratio`` for 5 M rows, target <= 1.5) is measured by ``benchmarks/telemetry.py``;
this test reads a 1.5 M-row file in a child process and bounds the same ratio loosely: the fixed costs of a
read (a few chunks, the gates' work memory, allocator pools) weigh more on a smaller file.  Reading the
whole file at once, as ``read_csv`` once did by default, gave a ratio of about 8.5.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyarrow import csv

ROOT = Path(__file__).resolve().parents[3]
CHILD = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from sim.telemetry import ChannelMap, read_csv

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

cmap = ChannelMap.from_dict({"channels": {c: {"column": c, "unit": "A", "si_unit": "A"} for c in ("a", "b", "c")}})
read_csv(sys.argv[3], cmap)
Path("/proc/self/clear_refs").write_text("5")
before = status("VmRSS")
stream = read_csv(sys.argv[2], cmap)
print(json.dumps({"above": status("VmHWM") - before, "frame": int(stream.frame.memory_usage(deep=True).sum()),
                  "rows": stream.rows_read}))
"""


def write_csv(path, rows):
    """*rows* rows at 1 s from 2026-07-14 (ISO stamps with Z, three channels of two-decimal numbers), written by
    pyarrow's CSV writer: about ten times faster than pandas' ``strftime`` + ``to_csv`` for the big file."""
    start = int(pd.Timestamp("2026-07-14", tz="UTC").timestamp())
    naive = pa.array(start + np.arange(rows, dtype=np.int64), type=pa.timestamp("s")).cast(pa.string())
    stamps = pc.binary_join_element_wise(pc.replace_substring(naive, " ", "T", max_replacements=1), "Z", "")  # ISO, Z
    values = np.round(30 + np.random.default_rng(1).standard_normal((rows, 3)), 2)
    table = pa.table({"timestamp": stamps, "a": values[:, 0], "b": values[:, 1], "c": values[:, 2]})
    with open(path, "wb") as handle:
        handle.write(b"timestamp,a,b,c\n")
        csv.write_csv(table, handle, csv.WriteOptions(include_header=False, quoting_style="none"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc/self/clear_refs")
def test_reading_a_csv_needs_memory_for_the_frame_not_for_the_file(tmp_path):
    big, warm = tmp_path / "big.csv", tmp_path / "warm.csv"
    write_csv(big, 1_500_000)
    write_csv(warm, 1000)
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(big), str(warm)], capture_output=True,
                             text=True, check=True, timeout=300)
    except subprocess.CalledProcessError as err:
        if "clear_refs" in err.stderr:
            pytest.skip("/proc/self/clear_refs is not writable here")
        raise
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["rows"] == 1_500_000
    assert got["above"] / got["frame"] < 4.0, got
