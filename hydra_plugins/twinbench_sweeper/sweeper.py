"""A Hydra sweeper for designs over declared ranges: random, Latin hypercube (scipy.stats.qmc), Optuna.

Why our own plugin rather than ``hydra-optuna-sweeper``: that plugin (1.3.0) pins ``optuna<3`` (2.10, whose
sqlite storage breaks on SQLAlchemy 2 and whose import takes 4 s) and offers no random/LHS designs.  Here
one small sweeper maps a unit hypercube onto the ranges (random, LHS) and drives current Optuna through its
ask/tell interface, so trials run as ordinary Hydra jobs on whatever launcher is configured (basic, joblib,
Ray) and the job, not the sweeper, does the tracking.  The design itself lives in ``scenarios.sweeps.design``.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.twinbench_sweeper.config import TwinbenchSweeperConf  # noqa: F401 - registers the config

log = logging.getLogger(__name__)


class TwinbenchSweeper(Sweeper):
    def __init__(self, design: str, n: int, n_trials: int, batch_size: Optional[int], seed: int, params: dict,
                 direction: Optional[str] = None):
        self.design = design
        self.n = n
        self.n_trials = n_trials
        self.batch_size = batch_size
        self.seed = seed
        self.params = dict(params or {})
        self.direction = direction
        self.config: Optional[DictConfig] = None
        self.launcher = None
        self.hydra_context: Optional[HydraContext] = None
        self.results: list = []

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)

    # ------------------------------------------------------------------ launching
    def _launch(self, batch: List[List[str]], fixed: List[str], start: int) -> list:
        jobs = [fixed + overrides for overrides in batch]
        self.validate_batch_is_legal(jobs)
        returns = self.launcher.launch(jobs, initial_job_idx=start)
        out = []
        for overrides, ret in zip(batch, returns):
            try:
                value = ret.return_value
            except Exception as err:  # noqa: BLE001 - a failed configuration; the others go on
                log.error("configuration %s failed: %s", " ".join(overrides), err)
                value = None
            out.append(value)
        self.results += list(zip(batch, out))
        return out

    def sweep(self, arguments: List[str]) -> Any:
        from pathlib import Path

        from scenarios.sweeps.design import parse_space

        assert self.config is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        dims = parse_space(self.params)
        fixed = list(arguments)
        hold, close = getattr(self.launcher, "hold_open", None), getattr(self.launcher, "close", None)
        if hold is not None and close is not None:  # a launcher that owns workers keeps them between batches
            hold()
            try:
                return self._sweep(dims, fixed)
            finally:
                close()
        return self._sweep(dims, fixed)

    def _sweep(self, dims, fixed: List[str]) -> Any:
        from scenarios.sweeps.design import design_points

        if self.design in ("random", "lhs"):
            points = design_points(dims, self.design, int(self.n), int(self.seed))
            size = int(self.batch_size) if self.batch_size else len(points)
            for start in range(0, len(points), size):
                self._launch(points[start:start + size], fixed, start)
            return self.results
        if self.design == "optuna":
            return self._optuna(dims, fixed)
        raise ValueError(f"hydra.sweeper.design = {self.design!r}; designs are random, lhs, optuna")

    def _optuna(self, dims, fixed):
        import optuna

        from scenarios.sweeps.design import _format

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = self.direction or OmegaConf.select(self.config, "objective.direction", default="maximize")

        # constraints reach the sampler through Trial.set_constraint (optuna >= 5) or constraints_func (older)
        modern = hasattr(optuna.trial.Trial, "set_constraint")
        has_constraints = bool(OmegaConf.select(self.config, "objective.upper", default={}) or
                               OmegaConf.select(self.config, "objective.lower", default={}))
        kwargs = {}
        if has_constraints and not modern:
            kwargs["constraints_func"] = lambda trial: trial.user_attrs.get("constraints", [])
        sampler = optuna.samplers.TPESampler(seed=int(self.seed), n_startup_trials=min(8, max(2, int(self.n_trials) // 3)),
                                             **kwargs)
        study = optuna.create_study(direction=direction, sampler=sampler)
        done = 0
        size = max(1, int(self.batch_size or 1))
        while done < int(self.n_trials):
            trials = [study.ask() for _ in range(min(size, int(self.n_trials) - done))]
            batch = []
            for trial in trials:
                overrides = []
                for dim in dims:
                    if dim.kind == "choice":
                        value = trial.suggest_categorical(dim.key, list(dim.choices))
                    elif dim.kind == "int":
                        value = trial.suggest_int(dim.key, int(dim.low), int(dim.high), log=dim.log)
                    else:
                        value = trial.suggest_float(dim.key, float(dim.low), float(dim.high), log=dim.log)
                    overrides.append(f"{dim.key}={_format(value)}")
                batch.append(overrides)
            values = self._launch(batch, fixed, done)
            for trial, value in zip(trials, values):
                if not value or value.get("objective") is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                values_c = list(value.get("constraints") or [])
                trial.set_user_attr("constraints", values_c)
                if modern:
                    for i, c in enumerate(values_c):
                        trial.set_constraint(f"c{i}", float(c))
                study.tell(trial, float(value["objective"]))
            done += len(trials)
        try:
            best = study.best_trial
            log.info("best trial %d: objective %.6g with %s", best.number, best.value, best.params)
        except ValueError:
            log.warning("no trial finished")
        self.study = study
        return self.results
