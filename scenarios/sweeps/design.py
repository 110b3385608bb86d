"""Sweep designs over declared ranges of any config key: the search space, random and Latin hypercube samples,
and the checks run in the driver before a sweep's parent run is created.

A search space is Hydra's own override syntax, one entry per key::

    line.buffer_scale: interval(0.5, 2.0)          # float in [0.5, 2.0]
    line.policy.interval_h: tag(log, interval(40, 400))   # log-uniform
    line.crew_size: int(interval(1, 3))            # integer in {1, 2, 3}
    line.buffers.filler_capper: range(400, 2001, 400)     # one of 400, 800, ..., 2000
    line.policy.name: choice(time_based, run_to_failure)

``sample_unit`` maps points of the unit hypercube onto it, so random sampling
(``numpy`` uniform) and Latin hypercube sampling (``scipy.stats.qmc``) share
one mapping; Optuna uses the same dimensions through ``suggest_*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenarios.sweeps.runs import SweepError

__all__ = ["Dimension", "parse_space", "sample_unit", "design_points", "check_design", "DESIGNS"]

DESIGNS = ("random", "lhs", "optuna")


@dataclass(frozen=True)
class Dimension:
    """One swept key: ``kind`` is ``float``, ``int`` or ``choice`` (``low``/``high`` bounds or ``choices``)."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple = ()

    def from_unit(self, u: float):
        """The value at position *u* in [0, 1) of this dimension."""
        if self.kind == "choice":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.kind == "int":
            span = int(self.high) - int(self.low) + 1
            return int(self.low) + min(int(u * span), span - 1)
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))


def _format(value) -> str:
    if isinstance(value, float):
        return repr(round(value, 10))
    return str(value)


def parse_space(params: dict) -> list[Dimension]:
    """Dimensions of a search space given as ``{key: "interval(a,b)" | "range(...)" | "choice(...)"}``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import OverrideParseException

    if not params:
        raise SweepError("the design has no parameters: declare at least one range under hydra.sweeper.params, e.g. "
                         "hydra.sweeper.params={line.buffer_scale:'interval(0.5,2)'}")
    parser = OverridesParser.create()
    dims = []
    for key, text in params.items():
        try:
            override = parser.parse_overrides([f"{key}={text}"])[0]
        except OverrideParseException as err:
            raise SweepError(f"hydra.sweeper.params.{key} = {text!r} is not a range: {err}. Use interval(a,b), "
                             f"int(interval(a,b)), tag(log,interval(a,b)), range(a,b[,step]) or choice(x,y,...)")
        value = override.value()
        if isinstance(value, IntervalSweep):
            low, high = value.start, value.end
            if not low < high:
                raise SweepError(f"hydra.sweeper.params.{key} = {text!r}: the interval is empty; its start must "
                                 f"lie below its end")
            log = "log" in value.tags
            if log and low <= 0:
                raise SweepError(f"hydra.sweeper.params.{key} = {text!r}: a log interval needs a start > 0")
            kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
            dims.append(Dimension(key, kind, low, high, log))
        elif isinstance(value, (RangeSweep, ChoiceSweep)):
            choices = tuple(override.sweep_iterator())
            if not choices:
                raise SweepError(f"hydra.sweeper.params.{key} = {text!r} has no values; give at least one")
            dims.append(Dimension(key, "choice", choices=choices))
        else:
            raise SweepError(f"hydra.sweeper.params.{key} = {text!r} is a single value, not a range; put fixed "
                             f"values on the command line or in the experiment file instead")
    return dims


def sample_unit(design: str, n: int, d: int, seed: int) -> np.ndarray:
    """``(n, d)`` points in [0, 1): ``random`` (uniform) or ``lhs`` (Latin hypercube, one point per stratum)."""
    if design == "random":
        return np.random.default_rng(seed).random((n, d))
    if design == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=d, seed=np.random.default_rng(seed)).random(n)
    raise SweepError(f"design {design!r} has no fixed sample; designs are {DESIGNS}")


def design_points(dims: list[Dimension], design: str, n: int, seed: int) -> list[list[str]]:
    """The override lists of a random or Latin hypercube design (``key=value`` per dimension)."""
    u = sample_unit(design, n, len(dims), seed)
    return [[f"{dim.key}={_format(dim.from_unit(x))}" for dim, x in zip(dims, row)] for row in u]


# ------------------------------------------------------------------ driver checks
def _check_key(cfg, key: str, value) -> None:
    from omegaconf import OmegaConf, open_dict

    key = key.lstrip("+")
    if key.startswith(("hydra.", "~")) or "/" in key:
        return
    conf_dir = Path(__file__).resolve().parents[1] / "conf"
    if "." not in key and (conf_dir / key).is_dir():
        return  # a config group (line=..., experiment=...)
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    free = OmegaConf.is_dict(node) and OmegaConf.get_type(node) is dict  # a Dict[str, ...] field takes any key
    if node is None or (OmegaConf.is_dict(node) and leaf not in node and OmegaConf.is_struct(node) and not free):
        raise SweepError(f"override {key}={value}: the config has no key {key!r}. Check the spelling; keys under "
                         f"{parent or 'the root'} are {sorted(node) if node is not None else '(none)'}; add a new "
                         f"key with +{key}=...")
    if key.startswith("line."):
        from scenarios.reference.line_config import line_spec_from_config

        line = OmegaConf.to_container(cfg.line, resolve=True)
        trial = OmegaConf.create(line)
        with open_dict(trial):
            OmegaConf.update(trial, key[len("line."):], value, force_add=True)
        line_spec_from_config(trial)


def check_design(config) -> tuple[int | None, list[str]]:
    """Check a sweep before its parent run exists: keys exist, values build a line, the sweep is not empty.

    Returns the number of configurations (None for adaptive designs: Optuna) and the swept keys.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
    target = sweeper.get("_target_", "")
    params = dict(sweeper.get("params") or {})
    task = list(OmegaConf.to_container(config.hydra.overrides.task))
    parser = OverridesParser.create()
    if target.endswith("TwinbenchSweeper"):
        dims = parse_space(params)
        for dim in dims:
            _check_key(config, dim.key, dim.choices[0] if dim.kind == "choice" else dim.from_unit(0.5))
        for ov in parser.parse_overrides(task):
            if ov.is_sweep_override():
                raise SweepError(f"override {ov.input_line}: the {sweeper.get('design')} design takes its ranges "
                                 f"from hydra.sweeper.params, not from command-line sweeps; write "
                                 f"hydra.sweeper.params.{ov.key_or_group}='{ov.get_value_element_as_str()}'")
        if sweeper.get("design") not in DESIGNS:
            raise SweepError(f"hydra.sweeper.design = {sweeper.get('design')!r}; designs are {DESIGNS} (a grid uses "
                             f"Hydra's basic sweeper: override hydra/sweeper=basic)")
        count = sweeper.get("n_trials") if sweeper.get("design") == "optuna" else sweeper.get("n")
        if not isinstance(count, int) or count < 1:
            name = "n_trials" if sweeper.get("design") == "optuna" else "n"
            raise SweepError(f"hydra.sweeper.{name} = {count!r}: an empty sweep; give a number of configurations "
                             f">= 1, e.g. hydra.sweeper.{name}=8")
        return (None if sweeper.get("design") == "optuna" else count), [d.key.lstrip("+") for d in dims]
    overrides = parser.parse_overrides([f"{k}={v}" for k, v in params.items()] + task)
    total, swept = 1, []
    for ov in overrides:
        if ov.is_sweep_override():
            if not ov.is_discrete_sweep():
                raise SweepError(f"override {ov.input_line}: the grid (basic) sweeper takes lists, range() or "
                                 f"choice(); for interval() use hydra/sweeper=twinbench with design=random|lhs|optuna")
            values = list(ov.sweep_iterator())
            if not values:
                raise SweepError(f"override {ov.input_line} gives no values: an empty sweep. Give at least one "
                                 f"value, e.g. {ov.key_or_group}=1,2")
            total *= len(values)
            swept.append(ov.key_or_group.lstrip("+"))
            _check_key(config, ov.key_or_group, values[0])
        else:
            _check_key(config, ov.key_or_group, ov.value())
    return total, swept
