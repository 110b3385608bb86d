"""Beyond one process: the fleet's assets sharded over worker processes or Ray actors, with the same code.

One live service tracks N assets in one process through the fleet kernels (:class:`FleetTracker`).  When that
is not enough, :func:`run_sharded` splits the asset list into contiguous shards (:func:`shard_assets`) and
runs, per shard, the *same* ``live`` config with ``filter.assets`` set to the shard's assets and its own
checkpoint file (``<path>.shard<k>``) - in a process pool (``backend="process"``) or in Ray actors
(``backend="ray"``, :class:`ShardWorker`; start the cluster with ``ray.init(...)`` or let this call start a local
one).  Every worker reads the source and lays out only its assets' channels, so the shards share nothing and
each asset's filter does exactly what it does in one process: a sharded fleet ends in the same per-asset
states and estimates as the unsharded one.

Each worker returns a small summary (:func:`run_shard`): assets, samples applied, the tracked parameter
estimates and standard deviations per asset, the filter fingerprint, the timeline and the wall time.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from omegaconf import DictConfig, OmegaConf

from sim.exceptions import ConfigurationError

__all__ = ["ShardWorker", "run_shard", "run_sharded", "shard_assets"]

BACKENDS = ("process", "ray")


def shard_assets(assets, n_shards: int) -> list[list[str]]:
    """*assets* cut into *n_shards* contiguous shards whose sizes differ by at most one."""
    assets = [str(a) for a in assets]
    if int(n_shards) != n_shards or n_shards < 1:
        raise ConfigurationError(f"shard.workers = {n_shards!r} must be a positive integer")
    n = min(int(n_shards), len(assets)) or 1
    size, extra = divmod(len(assets), n)
    out, start = [], 0
    for k in range(n):
        stop = start + size + (1 if k < extra else 0)
        out.append(assets[start:stop])
        start = stop
    return out


def _shard_config(config: dict, assets, shard: int) -> DictConfig:
    from scenarios.live.config import register_live_configs

    register_live_configs()
    cfg = OmegaConf.create(config)
    cfg.filter.assets = list(assets)
    if cfg.checkpoint.path is not None:
        cfg.checkpoint.path = f"{cfg.checkpoint.path}.shard{shard}"
    return cfg


def run_shard(config: dict, assets, shard: int, max_rows: int | None = None) -> dict:
    """Run the live service of *config* (a plain, resolved ``live`` config) for *assets*; returns its summary."""
    from scenarios.live.app import build_service

    cfg = _shard_config(config, assets, shard)
    service = build_service(cfg)
    if cfg.checkpoint.resume:
        service.resume()
    t0 = time.perf_counter()
    result = service.run(max_rows=max_rows if max_rows is not None else cfg.max_rows)
    tr = service.tracker
    return {"shard": shard, "assets": list(service.layout.assets), "applied": service.applied,
            "estimates": {k: v.tolist() for k, v in tr.estimates().items()},
            "std": {k: v.tolist() for k, v in tr.std().items()}, "fingerprint": tr.fingerprint(),
            "timeline": service.timeline.state_dict(), "wall_s": time.perf_counter() - t0, "stopped": result.stopped}


class ShardWorker:
    """A shard as a Ray actor (``ray.remote(ShardWorker)``): the same :func:`run_shard`."""

    def __init__(self, config: dict, assets, shard: int):
        self.config, self.assets, self.shard = config, list(assets), int(shard)

    def run(self, max_rows: int | None = None) -> dict:
        return run_shard(self.config, self.assets, self.shard, max_rows)


def run_sharded(cfg: DictConfig, *, workers: int, backend: str = "process", max_rows: int | None = None
                ) -> list[dict]:
    """Run ``cfg``'s fleet (``filter.assets``) in *workers* shards on *backend*; summaries in shard order."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"shard.backend = {backend!r}: choose one of {list(BACKENDS)}")
    if not cfg.filter.assets:
        raise ConfigurationError("sharding needs a fleet: set filter.assets to the asset names (channels "
                                 "<asset>.<variable>)")
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("hydra", None)
    shards = shard_assets(cfg.filter.assets, workers)
    if backend == "process":
        with ProcessPoolExecutor(max_workers=len(shards), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_shard, config, assets, k, max_rows) for k, assets in enumerate(shards)]
            return [f.result() for f in futures]
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=len(shards), include_dashboard=False, log_to_driver=False)
    actor = ray.remote(ShardWorker)
    actors = [actor.remote(config, assets, k) for k, assets in enumerate(shards)]
    return ray.get([a.run.remote(max_rows) for a in actors])
