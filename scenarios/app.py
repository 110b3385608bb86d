"""The Hydra entry point: the only place where configuration is read.

    python -m scenarios.app                                  # the reference job
    python -m scenarios.app calibration.window_h=12 whatif.replications=20 line.crew_size=3
    python -m scenarios.app whatif=maintenance                # another what-if (conf/whatif/)
    python -m scenarios.app tracking=none                    # no MLflow
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from scenarios.config import Config, TrackingConfig, check_overrides, discard_run_dir, register_configs
from scenarios.specs import JobSpec, OutputSpec
from scenarios.tracking import lineage
from scenarios.tracking.tracker import flatten, git_commit
from scenarios.whatif.run import line_config_dict
from sim.exceptions import TwinbenchError

__all__ = ["main", "build_job", "print_error", "GROUPS"]

GROUPS = ("plant", "line", "telemetry", "calibration", "whatif", "tracking")
"""The main job's config groups (``whatif=maintenance`` selects a file of ``conf/whatif/``)."""

register_configs()

_FACTORIES = ("plant._target_", "telemetry._target_", "calibration._target_", "whatif._target_")
"""Config keys that name a step's spec factory: not parameters of the run, so not logged."""


def build_job(cfg: DictConfig, *, output_dir: str | Path, tracker=None) -> JobSpec:
    """Turn a composed config into the job's specs: ``instantiate`` each group (its ``_target_`` factory turns the
    config's hours into SI), the tracker too unless one is given.

    Every what-if action is built into a line here, so a bad station, buffer or policy name in
    any action fails before a run is opened.
    """
    from scenarios.reference.line_config import line_spec_from_config

    plant = _instantiate(cfg.plant)
    telemetry = _instantiate(cfg.telemetry)
    calibration = _instantiate(cfg.calibration)
    whatif = _instantiate(cfg.whatif, line=line_config_dict(cfg.line), seed=cfg.seed)
    try:  # the line as it is first: an error in cfg.line is blamed on line.*, not on the first action
        line_spec_from_config(whatif.line, motor_params=_line_motor(plant), motor_stations=plant.stations)
    except TwinbenchError as err:
        raise type(err)(f"line (conf/line/, line.* overrides): {err}") from None
    for action in whatif.actions:
        try:
            line_spec_from_config(action.apply(whatif.line), motor_params=_line_motor(plant),
                                  motor_stations=plant.stations)
        except TwinbenchError as err:
            raise type(err)(f"whatif action {action.name!r}: {err}") from None
    text = OmegaConf.to_yaml(cfg, resolve=True)
    params = {k: v for k, v in flatten(OmegaConf.to_container(cfg, resolve=True)).items() if k not in _FACTORIES}
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())  # runs that tell each other apart
    output = OutputSpec(directory=Path(output_dir), run_name=f"{cfg.run_name}-{stamp}", plots=cfg.plots, progress=cfg.progress,
                        params=params, config_yaml=text,
                        tags={lineage.GIT_COMMIT: git_commit(),
                              lineage.CONFIG_HASH: hashlib.sha256(text.encode()).hexdigest()[:16], lineage.SEED: cfg.seed})
    return JobSpec(plant=plant, telemetry=telemetry, calibration=calibration, whatif=whatif, output=output,
                   tracker=tracker if tracker is not None else instantiate(cfg.tracking))


def _line_motor(plant):
    """The monitored motors' parameters in the line: the nameplate, or the line's own for an FMU plant (whose
    parameters are not the line motor model's)."""
    return None if plant.model is not None else plant.nameplate


def _instantiate(node, **kwargs):
    """``instantiate(node, **kwargs)`` with plain containers; a Twinbench error of the factory is raised as itself
    (Hydra wraps it in an InstantiationException)."""
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while isinstance(cause, InstantiationException):
            cause = cause.__cause__
        if isinstance(cause, TwinbenchError):
            raise cause from None
        raise


def print_error(console, err: BaseException) -> None:
    """Print an error literally: a column name such as ``M1.WindingTemp[degC]`` is not rich markup."""
    from rich.text import Text

    console.print(Text.assemble(("error: ", "bold red"), str(err)), highlight=False, soft_wrap=True)


def main() -> None:
    """Console entry (``twinbench``, ``python -m scenarios.app``): the overrides in ``sys.argv`` are checked against
    the schema first - a misspelled or unknown key fails with "did you mean ..." before Hydra writes anything."""
    try:
        check_overrides(sys.argv[1:], Config, groups=GROUPS, app="twinbench", types={"tracking": TrackingConfig})
    except TwinbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    _main()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _main(cfg: DictConfig) -> None:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the what-if table
        console = Console(width=140)
    run_dir = HydraConfig.get().runtime.output_dir
    output_dir = cfg.output_dir or run_dir
    try:
        spec = build_job(cfg, output_dir=output_dir)  # a config error fails here, before anything runs
    except TwinbenchError as err:
        discard_run_dir(run_dir)  # a failed start leaves no folder holding only app.log
        print_error(console, err)
        sys.exit(2)
    try:
        from scenarios.job import run_reference

        result = run_reference(spec, console=console)
    except TwinbenchError as err:
        print_error(console, err)
        sys.exit(2)
    console.print(f"\nresults: {Path(output_dir).resolve()}", markup=False)
    ui = spec.tracker.ui_command()
    if ui:
        console.print(f"MLflow parent run {result.parent_run} with {len(result.child_runs) - 1} child runs; "
                      f"browse them with:\n  {ui}", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
