import os

import pytest

# keep generated kernel modules and MLflow noise inside the test session's reach
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


@pytest.fixture
def compose_config():
    """Compose the real Hydra config with overrides (no Hydra app context, no chdir)."""
    from hydra import compose, initialize_config_dir

    from scenarios.config import register_configs

    register_configs()
    conf_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")

    def _compose(overrides=()):
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    return _compose


def pytest_collection_modifyitems(session, config, items):
    """Run the most expensive test files first: with ``pytest -n 2 --dist loadfile`` the workers take whole files
    in collection order, so a long file collected last (the docs tutorials sort after ``tests/sim``) leaves the
    other worker idle at the end.  Files are ordered by their number of ``slow`` tests, most first (longest
    processing time first); ties and the tests inside a file keep the collection order, which is the same in
    every worker."""
    weight, first = {}, {}
    for i, item in enumerate(items):
        path = str(item.path)
        first.setdefault(path, i)
        weight[path] = weight.get(path, 0) + (1 if item.get_closest_marker("slow") is not None else 0)
    items.sort(key=lambda item: (-weight[str(item.path)], first[str(item.path)]))
