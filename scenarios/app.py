"""The Hydra entry point: the only place where configuration is read.

    python -m scenarios.app                                  # the reference job
    python -m scenarios.app calibration.window_h=12 whatif.replications=20 line.crew_size=3
    python -m scenarios.app whatif=maintenance                # another what-if (conf/whatif/)
    python -m scenarios.app tracking=none                    # no MLflow
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from scenarios.config import register_configs
from scenarios.job import JobSpec, actions_from, run_reference
from scenarios.tracking.tracker import flatten, git_commit
from scenarios.whatif.run import line_config_dict
from sim.exceptions import TwinbenchError
from sim.telemetry import ChannelMap

__all__ = ["main", "build_job"]

register_configs()


def build_job(cfg: DictConfig, *, output_dir: str | Path, tracker=None) -> JobSpec:
    """Turn a composed config into the typed objects the job takes.

    Every what-if action is built into a line here, so a bad station, buffer or policy name in
    any action fails before a run is opened.
    """
    from scenarios.reference.line_config import line_spec_from_config

    plant_cfg = OmegaConf.to_container(cfg.plant, resolve=True)
    tel = OmegaConf.to_container(cfg.telemetry, resolve=True)
    path = Path(to_absolute_path(tel.pop("path"))) if HydraConfig.initialized() else Path(tel.pop("path")).resolve()
    channel_map = ChannelMap.from_dict(tel)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    text = OmegaConf.to_yaml(cfg, resolve=True)
    w = cfg.whatif
    line = line_config_dict(cfg.line)
    actions = actions_from(OmegaConf.to_container(w.actions, resolve=True))
    stations = tuple(plant_cfg["stations"])
    for action in actions:
        try:
            line_spec_from_config(action.apply(line), motor_params=plant_cfg["motor"], motor_stations=stations)
        except TwinbenchError as err:
            raise type(err)(f"whatif action {action.name!r}: {err}") from None
    return JobSpec(
        telemetry_path=path, channel_map=channel_map, nameplate=dict(plant_cfg["motor"]),
        calibrator=instantiate(cfg.calibration.estimator, _convert_="all"),
        window_h=cfg.calibration.window_h, register_model=cfg.calibration.register, outputs=list(cfg.calibration.outputs), line=line, actions=actions,
        motor_stations=stations, max_step=plant_cfg["max_step"], horizon_h=w.horizon_h, warmup_h=w.warmup_h,
        replications=w.replications, baseline=w.baseline, objective=w.objective, min_gain=w.min_gain,
        confidence=w.confidence, crn=w.crn, sample_posterior=w.sample_posterior, ambient=w.ambient,
        mser_interval_h=w.mser_interval_h, seed=cfg.seed, run_name=cfg.run_name,
        output_dir=Path(output_dir), tracker=tracker if tracker is not None else instantiate(cfg.tracking),
        params=flatten(resolved), config_yaml=text, plots=cfg.plots, progress=cfg.progress,
        tags={"git.commit": git_commit(), "config.hash": hashlib.sha256(text.encode()).hexdigest()[:16],
              "seed": cfg.seed})


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the what-if table
        console = Console(width=140)
    output_dir = cfg.output_dir or HydraConfig.get().runtime.output_dir
    try:
        spec = build_job(cfg, output_dir=output_dir)
        result = run_reference(spec, console=console)
    except TwinbenchError as err:
        console.print(f"[bold red]error:[/bold red] {err}", highlight=False)
        sys.exit(2)
    console.print(f"\nresults: {Path(output_dir).resolve()}")
    ui = spec.tracker.ui_command()
    if ui:
        console.print(f"MLflow parent run {result.parent_run} with {len(result.child_runs) - 1} child runs; "
                      f"browse them with:\n  {ui}", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
