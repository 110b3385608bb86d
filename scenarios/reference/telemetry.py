"""Generate the bundled reference telemetry from a "truth" plant the twin does not know.

The truth is the reference plant with a motor that cools worse than its
nameplate says (fouled fins: higher housing-to-ambient resistance, larger
housing heat capacity than assumed).  The file is written as a plant
historian would: local time with a UTC offset, the ambient sensor in °F,
rounded values, measurement noise - and a handful of defects that the
telemetry gates must catch (unparseable and empty cells, duplicated and
out-of-order rows, a broken timestamp).

Deterministic: the same truth and seed give a byte-identical file::

    python -m scenarios.reference.telemetry --out scenarios/reference/data/reference_telemetry.csv
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scenarios.reference.plant import AmbientProfile, Plant, run_plant
from sim.processes import StationParams
from sim.streams import RandomStreams

__all__ = ["ReferenceTruth", "TRUTH", "generate_reference_telemetry", "write_reference_telemetry",
           "REFERENCE_PATH", "COLUMNS"]

REFERENCE_PATH = Path(__file__).with_name("data") / "reference_telemetry.csv"
COLUMNS = {"motor_current": "M1.Current[A]", "winding_temperature": "M1.WindingTemp[degC]",
           "ambient_temperature": "Hall.AmbientTemp[degF]"}


@dataclass(frozen=True)
class ReferenceTruth:
    """The hidden truth behind the bundled telemetry."""

    motor_params: dict = field(default_factory=lambda: {
        "thermal_resistance_housing_ambient": 0.072,  # nameplate 0.06 K/W: fouled cooling fins
        "heat_capacity_housing": 52000.0,  # nameplate 40000 J/K
    })
    station: StationParams = field(default_factory=lambda: StationParams(
        name="filler", rate=5.0, speed=1.0, mean_time_between_jams=1800.0, mean_jam_clear_time=120.0,
        mean_time_to_failure=172800.0, mean_repair_time=2700.0, repair_time_cv=0.5, current_no_load=10.0,
        current_full_load=30.0, trip_temperature=393.15, reset_temperature=373.15))
    start: str = "2026-07-14T00:00:00+02:00"  # local plant time (CEST)
    hours: float = 24.0
    period: float = 10.0  # historian sampling period [s]
    ambient_mean_c: float = 27.0  # [°C]
    ambient_amplitude_c: float = 7.0  # daily swing [°C], peak at 15:00 local
    noise_current: float = 0.15  # [A]
    noise_winding_c: float = 0.3  # [K]
    noise_ambient_f: float = 0.3  # [°F]
    seed: int = 20260714


TRUTH = ReferenceTruth()


def _ambient_truth(truth: ReferenceTruth, rng) -> AmbientProfile:
    t = np.arange(0.0, truth.hours * 3600.0 + 60.0, 60.0)
    hour = t / 3600.0
    ar = np.zeros(t.size)
    shocks = rng.normal(0.0, 0.15, t.size)
    for j in range(1, t.size):
        ar[j] = 0.98 * ar[j - 1] + shocks[j]
    celsius = truth.ambient_mean_c + truth.ambient_amplitude_c * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + ar
    return AmbientProfile(t, celsius + 273.15)


def generate_reference_telemetry(truth: ReferenceTruth = TRUTH) -> pd.DataFrame:
    """The telemetry table as strings, exactly as written to the CSV file."""
    rng = np.random.default_rng(truth.seed)
    ambient = _ambient_truth(truth, rng)
    plant = Plant(station=truth.station, motor_params=truth.motor_params)
    x0 = {"winding_temperature": 301.0, "housing_temperature": 300.5}
    run = run_plant(plant, horizon=truth.hours * 3600.0 + truth.period, streams=RandomStreams(truth.seed, 0), x0=x0,
                    ambient=ambient, trace_step=truth.period)
    trace = run.trace.iloc[: int(round(truth.hours * 3600.0 / truth.period))]
    t = trace["t"].to_numpy()
    amb_k = ambient.values[np.searchsorted(ambient.times, t, side="right") - 1]
    n = t.size
    current = np.clip(trace["motor_current"].to_numpy() + rng.normal(0, truth.noise_current, n), 0.0, None)
    winding_c = trace["winding_temperature"].to_numpy() - 273.15 + rng.normal(0, truth.noise_winding_c, n)
    ambient_f = (amb_k - 273.15) * 9.0 / 5.0 + 32.0 + rng.normal(0, truth.noise_ambient_f, n)
    stamps = pd.Timestamp(truth.start) + pd.to_timedelta(t, unit="s")
    table = pd.DataFrame({
        "timestamp": [s.isoformat() for s in stamps],
        COLUMNS["motor_current"]: [f"{v:.2f}" for v in current],
        COLUMNS["winding_temperature"]: [f"{v:.1f}" for v in winding_c],
        COLUMNS["ambient_temperature"]: [f"{v:.1f}" for v in ambient_f],
    })
    return _inject_defects(table, np.random.default_rng(truth.seed + 1))


def _inject_defects(table: pd.DataFrame, rng) -> pd.DataFrame:
    """Historian defects: bad cells, double writes, late rows, a corrupt timestamp."""
    table = table.copy()
    n = len(table)
    cols = list(table.columns[1:])
    for text in ["ERR", "---", "#VALUE!", "1.2.3", "ERR", "---", "overflow", "ERR", "n/a?", "---"]:
        table.iat[int(rng.integers(10, n - 10)), 1 + int(rng.integers(0, len(cols)))] = text
    for _ in range(8):
        table.iat[int(rng.integers(10, n - 10)), 1 + int(rng.integers(0, len(cols)))] = ""
    table.iat[int(rng.integers(10, n - 10)), 0] = "2026-07-14T25:61:00+02:00"
    rows = list(range(n))
    for pos in sorted(rng.choice(np.arange(20, n - 20), size=6, replace=False), reverse=True):
        rows.insert(int(pos) + 1, int(pos))  # double write
    for pos in rng.choice(np.arange(20, n - 40), size=4, replace=False):
        i = rows.index(int(pos))
        rows.insert(i + 3, rows.pop(i))  # arrives three rows late
    return table.iloc[rows].reset_index(drop=True)


def write_reference_telemetry(path=REFERENCE_PATH, truth: ReferenceTruth = TRUTH) -> str:
    """Write the file and return its sha256."""
    table = generate_reference_telemetry(truth)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = table.to_csv(index=False, lineterminator="\n")
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REFERENCE_PATH), help="CSV file to write")
    args = parser.parse_args(argv)
    digest = write_reference_telemetry(args.out)
    print(f"wrote {args.out} (sha256 {digest})")


if __name__ == "__main__":
    main()
