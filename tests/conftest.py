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
