"""``twinbench live``: the living twin as a Hydra app (config ``conf/live.yaml``, schema :mod:`scenarios.live.config`).

    twinbench live                                          # the bundled multi-day telemetry, as fast as possible
    twinbench live source.speed=3600                        # ... at 3600 x real time
    twinbench live source.kind=mqtt source.map=conf/telemetry/maps/living_mqtt.yaml
    twinbench live live=smoke                               # a short slice (what make test runs)
    python -m scenarios.live.app checkpoint.path=null       # no checkpoints

SIGINT (Ctrl-C) and SIGTERM stop it after the block in hand, with a final checkpoint; started again it resumes
from that checkpoint (``checkpoint.resume=false`` or another ``checkpoint.path`` starts afresh).  This module is
the only place of the live twin that reads configuration: :func:`build_service` turns a composed config into
the service's typed objects.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from pathlib import Path

import hydra
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from scenarios.live.config import SOURCE_KINDS, register_live_configs
from scenarios.live.service import AssetLayout, LiveService
from scenarios.live.sources import FileFeed, LiveFeed
from scenarios.live.fmu_tracking import tracker_for
from sim.exceptions import ConfigurationError, TwinbenchError

__all__ = ["build_feed", "build_service", "command_handler", "health_monitors", "load_fmu_model", "load_model",
           "main", "start_io", "stop_on_signals"]

register_live_configs()
log = logging.getLogger("twinbench.live")


def load_model(path: str):
    """The :class:`sim.physics.Model` named ``module:attribute`` (e.g. ``sim.physics.filler_drive:FILLER_DRIVE``)."""
    module, _, attribute = str(path).partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        raise ConfigurationError(f"filter.model = {path!r} does not name a model; give module:attribute, e.g. "
                                 f"sim.physics.filler_drive:FILLER_DRIVE") from None


def load_fmu_model(entry):
    """The :class:`sim.fmu.FmuModel` of a ``filter.fmu`` entry (a relative ``fmu`` path is taken from where the
    service was started)."""
    from sim.fmu import FmuError, model_from_config

    entry = OmegaConf.to_container(entry, resolve=True) if isinstance(entry, DictConfig) else dict(entry)
    try:
        return model_from_config(entry, base_dir=_path("."))
    except FmuError as err:
        raise ConfigurationError(f"filter.fmu: {err}") from None


def _path(value) -> Path:
    from hydra.core.hydra_config import HydraConfig

    return Path(to_absolute_path(str(value))) if HydraConfig.initialized() else Path(value).resolve()


def build_feed(cfg: DictConfig):
    """The feed of ``cfg.source`` over the telemetry group's file or channel map."""
    from sim.telemetry import ChannelMap

    src = cfg.source
    if src.kind not in SOURCE_KINDS:
        raise ConfigurationError(f"source.kind = {src.kind!r}: choose one of {list(SOURCE_KINDS)}")
    telemetry = instantiate(cfg.telemetry, _convert_="all")
    if src.kind == "file":
        return FileFeed(telemetry.path, telemetry.channel_map, speed=src.speed)
    channel_map = ChannelMap.from_yaml(_path(src.map)) if src.map else telemetry.channel_map
    delay = tuple(float(v) for v in src.reconnect_delay_s)
    from sim.telemetry import LiveTelemetry, MqttSource, OpcUaSource

    if src.kind == "mqtt":
        keys = channel_map.topics
        source = MqttSource(src.host, src.port, list(keys), client_id=src.client_id, qos=src.qos,
                            reconnect_delay=delay)
    else:
        keys = channel_map.nodes
        source = OpcUaSource(src.url, list(keys), reconnect_delay=delay)
    if not keys:
        raise ConfigurationError(f"source.kind = {src.kind}: the channel map has no "
                                 f"{'topics' if src.kind == 'mqtt' else 'nodes'}; set source.map to a map with them "
                                 f"(e.g. conf/telemetry/maps/living_mqtt.yaml)")
    return LiveFeed(LiveTelemetry(source, channel_map, keys, name=src.kind), linger_s=src.linger_s)


def build_service(cfg: DictConfig, *, board=None, monitors=None) -> LiveService:
    """The live service of a composed ``live`` config (not started)."""
    from calibration import JointUKF

    f = cfg.filter
    model = load_fmu_model(f.fmu) if f.get("fmu") else load_model(f.model)
    feed = build_feed(cfg).start()
    ukf = JointUKF(parameters=tuple(f.parameters), noise_std=dict(f.noise_std) or None,
                   param_walk=float(f.param_walk), state_std=dict(f.state_std) or 0.0,
                   initial_state_std=dict(f.initial_state_std) or 1.0, max_step=float(f.max_step))
    assets = None if f.assets is None else list(f.assets)
    tracker = tracker_for(model, tuple(f.channels), n_assets=1 if assets is None else len(assets), filter=ukf,
                           params=dict(f.prior))
    layout = AssetLayout.from_channels(feed.channels, outputs=tuple(f.channels), inputs=model.spec.names("inputs"),
                                       assets=assets)
    if monitors is None:
        from scenarios.live.monitor import build_monitors

        monitors = build_monitors(cfg, model=model, layout=layout, channel_map=_channel_map(feed),
                                  channels=feed.channels)
        monitors += health_monitors(cfg, monitors, n_assets=len(layout.assets))
    ck = cfg.checkpoint
    return LiveService(feed, tracker, layout, monitors=monitors, board=board,
                       checkpoint_path=None if ck.path is None else _path(ck.path), checkpoint_every=ck.every_rows,
                       block_rows=cfg.block_rows, tick_s=cfg.tick_s, measure_latency=isinstance(feed, LiveFeed),
                       hold_on_alarm=bool(cfg.filter.hold_on_alarm))


def health_monitors(cfg: DictConfig, monitors, *, n_assets: int = 1) -> list:
    """The parameter tracks and the remaining-life prognosis the config asks for (after *monitors*: the alarm and
    recalibration monitors the prognosis reads)."""
    from scenarios.live.monitor import AlarmMonitor, RecalibrationMonitor
    from scenarios.live.prognosis import RulMonitor, TrackMonitor

    out: list = []
    alarms = next((m for m in monitors if isinstance(m, AlarmMonitor)), None)
    recal = next((m for m in monitors if isinstance(m, RecalibrationMonitor)), None)
    if cfg.tracks.enabled:
        out.append(TrackMonitor(tuple(cfg.tracks.states), z=cfg.tracks.z, alarms=alarms,
                                fault_parameters=tuple(cfg.tracks.fault_parameters) if recal is not None else (),
                                asset_name="twin" if recal is None else recal.asset))
    pg = cfg.prognosis
    if pg.enabled and alarms is not None and recal is not None and n_assets == 1:
        hour = 3600 * 1_000_000_000
        out.append(RulMonitor(alarms, recal, every_ns=int(pg.every_h * hour), horizon_s=pg.horizon_h * 3600.0,
                              n_samples=pg.n_samples, level=pg.level, duty_ns=int(pg.duty_h * hour),
                              max_step=cfg.recalibration.max_step, seed=cfg.seed, asset=recal.asset))
    return out


def _channel_map(feed):
    return getattr(feed, "channel_map", None) or getattr(getattr(feed, "live", None), "map", None)


def command_handler(service: LiveService):
    """The service's operator-command callback (HTTP and MQTT): ``ack``/``shelve`` on the board, ``whatif`` runs
    a what-if from now at the next block, ``approve`` goes to the governor; ``setpoint`` is refused (advisory)."""
    from scenarios.live.board import CommandRefused
    from scenarios.live.monitor import RecalibrationMonitor, WhatIfMonitor

    def handle(command):
        if command.verb in ("ack", "shelve"):
            return service.board.apply_command(command)
        if command.verb == "whatif":
            monitor = next((m for m in service.monitors if isinstance(m, WhatIfMonitor)), None)
            if monitor is None:
                raise CommandRefused("what-ifs are off in this service (whatif_now); fix: start it with "
                                     "whatif_now.final=true")
            monitor.request()
            return {"requested": True}
        if command.verb == "approve":
            monitor = next((m for m in service.monitors if isinstance(m, RecalibrationMonitor)), None)
            if monitor is None:
                raise CommandRefused("no governed recalibration runs in this service")
            return monitor.governor.handle_command({"verb": "approve", **command.args, "approver": command.user,
                                                    "token": command.token or ""})
        raise CommandRefused(f"{command.verb}: the twin is advisory; it does not write to the plant")

    return handle


def start_io(cfg: DictConfig, service: LiveService) -> list:
    """The HTTP server and the MQTT publisher / command client the config enables, started; returns them (each
    has ``stop()``)."""
    started = []
    handler = command_handler(service)
    if cfg.http.enabled:
        from scenarios.live.http import LiveHttpServer

        server = LiveHttpServer.from_config(service.board, OmegaConf.to_container(cfg.http, resolve=True),
                                            on_command=handler, logger=log).start()
        print(f"live page: {server.url}/", flush=True)
        started.append(server)
    if cfg.mqtt_out.enabled:
        from scenarios.live.mqtt_io import MqttCommands, MqttPublisher

        settings = OmegaConf.to_container(cfg.mqtt_out, resolve=True)
        publisher = MqttPublisher.from_config(settings).start().attach(service.board)
        service.on_publish.append(lambda svc: [publisher.publish_board(svc.board, a) for a in svc.layout.assets])
        started.append(publisher)
        started.append(MqttCommands.from_config(settings, handler=handler, board=service.board, logger=log).start())
    return started


def score_against_living_truth(service: LiveService):
    """The living scorer's verdict on the timeline when the feed is the bundled living telemetry (else None)."""
    from scenarios.reference.living import LIVING_PATH, clean_days, truth_events
    from scenarios.reference.living_score import score_living

    path = getattr(service.feed, "path", None)
    if path is None or Path(path).resolve() != LIVING_PATH.resolve() or service.last_stamp < 0:
        return None
    alarms, diagnoses, recalibrations = service.timeline.tables()
    import pandas as pd

    from scenarios.live.prognosis import TrackMonitor
    from scenarios.reference.living import truth_parameters

    tracks = next((m.table() for m in service.monitors if isinstance(m, TrackMonitor)), None)
    return score_living(alarms, diagnoses, recalibrations, truth_events(), clean_days=clean_days(),
                        record_end=pd.Timestamp(service.last_stamp, tz="UTC"), tracks=tracks,
                        truth=None if tracks is None else truth_parameters())


def stop_on_signals(stop: threading.Event):
    """Set *stop* on SIGINT and SIGTERM (the loop then ends after its block, with a final checkpoint); returns the
    previous handlers."""
    def handler(signum, frame):
        log.info("signal %s: stopping after the current block", signal.Signals(signum).name)
        stop.set()

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}


def main() -> None:
    """Console entry (``twinbench live``): the overrides in ``sys.argv`` are checked against the schema first - a
    misspelled or unknown key fails with "did you mean ..." before Hydra writes anything."""
    from scenarios.config import check_overrides
    from scenarios.live.config import LiveConfig

    try:
        check_overrides(sys.argv[1:], LiveConfig, groups=("telemetry", "line", "whatif", "tracking", "live"),
                        app="twinbench live")
    except TwinbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    _main()


@hydra.main(version_base="1.3", config_path="../../conf", config_name="live")
def _main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    stop_on_signals(stop)
    from scenarios.live.board import LiveBoard

    io = []
    try:
        service = build_service(cfg, board=LiveBoard())
        resumed = cfg.checkpoint.resume and service.resume()
        io = start_io(cfg, service)
        print(f"twinbench live: {type(service.feed).__name__} with {len(service.feed.channels)} channels, "
              f"{len(service.layout.assets)} asset(s); " + (f"resumed at {service.applied} samples applied"
                                                             if resumed else "fresh start"), flush=True)
        result = service.run(stop, max_rows=cfg.max_rows, idle_timeout_s=cfg.source.idle_timeout_s)
    except TwinbenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        for part in reversed(io):
            part.stop()
    if cfg.timeline:
        print("\nTimeline", flush=True)
        print(service.timeline.render() or "(no events)", flush=True)
    score = None
    if cfg.score and cfg.source.kind == "file":
        score = score_against_living_truth(service)
        if score is not None:
            print("\nScore against the living scenario's truth (scenarios.reference.living_score)", flush=True)
            print("  " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in score.summary.items()), flush=True)
    print(f"\nstopped ({result.stopped}): {result.applied} samples applied in {result.wall_s:.2f} s this run, "
          f"{service.applied} in all; {result.late} late rows dropped; {service.feed.reconnects} reconnects; "
          f"final checkpoint: {service.checkpoint_path}", flush=True)
    print(f"final state: {service.tracker.fingerprint()[:16]} applied={service.applied} "
          f"stamp_sum={service.stamp_sum}", flush=True)
    _record(cfg, service, result, score)


def _record(cfg: DictConfig, service, result, score) -> None:
    """The run's files in Hydra's output folder and one tracker run (``tracking=none``: files only)."""
    from hydra.core.hydra_config import HydraConfig

    from scenarios.live.results import log_results, write_results
    from scenarios.tracking import lineage
    from scenarios.tracking.tracker import flatten, git_commit

    folder = Path(HydraConfig.get().runtime.output_dir)
    files = write_results(folder, service, result, score)
    tracker = instantiate(cfg.tracking)
    params = flatten(OmegaConf.to_container(cfg, resolve=True))
    params = {k: v for k, v in params.items() if not k.startswith("tracking.")}
    audit = cfg.recalibration.audit and _path(cfg.recalibration.audit)
    first = service.timeline.events[0].time if service.timeline.events else 0
    import pandas as pd

    name = "live-" + pd.Timestamp(int(first), tz="UTC").strftime("%Y%m%d-%H%M%S")
    try:
        run = log_results(tracker, name=name, params=params, files=files, audit=audit, score=score,
                          service=service, result=result, tags={lineage.GIT_COMMIT: git_commit()})
    except TwinbenchError as err:
        print(f"warning: the run was not logged to the tracker: {err}", file=sys.stderr, flush=True)
        return
    print(f"results: {folder}", flush=True)
    ui = tracker.ui_command() if hasattr(tracker, "ui_command") else None
    if ui and run and not str(run).startswith("null-"):
        print(f"MLflow run {run} ({name}); browse it with:\n  {ui}", flush=True)


if __name__ == "__main__":
    main()
