import hashlib

import numpy as np
import pytest

from scenarios.reference.telemetry import COLUMNS, REFERENCE_PATH, TRUTH, write_reference_telemetry


@pytest.mark.slow
def test_bundled_telemetry_is_exactly_what_the_generator_writes(tmp_path):
    digest = write_reference_telemetry(tmp_path / "again.csv")
    assert digest == hashlib.sha256(REFERENCE_PATH.read_bytes()).hexdigest(), (
        "the committed reference telemetry differs from the generator's output; regenerate it with "
        "`python -m scenarios.reference.telemetry` and commit the file")


def test_truth_differs_from_the_twins_nameplate(compose_config):
    cfg = compose_config()
    for name, true in TRUTH.motor_params.items():
        assert abs(cfg.plant.motor[name] / true - 1) > 0.1, name
    header = REFERENCE_PATH.read_text().splitlines()[0].split(",")
    assert header == ["timestamp", *COLUMNS.values()]
    assert np.isclose(TRUTH.period, 10.0)
