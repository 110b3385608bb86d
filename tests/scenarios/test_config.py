import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from scenarios.app import build_job
from scenarios.tracking.tracker import NullTracker


def test_default_config_composes_into_typed_objects(compose_config, tmp_path):
    cfg = compose_config()
    assert cfg.calibration.window_h == 24.0
    assert [a.name for a in cfg.whatif.actions] == ["as_is", "filler_plus_5", "filler_plus_10", "filler_max",
                                                    "add_technician", "bigger_buffer"]
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    assert job.telemetry.path.is_file()
    assert job.plant.nameplate["thermal_resistance_housing_ambient"] == 0.06 and job.plant.stations == ("filler",)
    assert job.whatif.line["crew_size"] == 2 and job.whatif.line["policy"]["name"] == "time_based"
    assert job.calibration.calibrator.get_params()["parameters"] == ["thermal_resistance_housing_ambient",
                                                                     "heat_capacity_housing"]
    assert [a.changes for a in job.whatif.actions] == [{}, {"speeds": {"filler": 1.05}}, {"speeds": {"filler": 1.1}},
                                                       {"speeds": {"filler": 1.2}}, {"crew_size": 3},
                                                       {"buffers": {"filler_capper": 2400.0}}]
    # the default guardrails, in display units (trips per week, peak winding 5 K below the trip limit)
    limits = {c.kpi: c for c in job.whatif.constraints}
    assert limits["trips"].max == 1 and limits["trips"].per == 168 * 3600.0 and limits["trips"].judge == "interval"
    assert limits["max_winding_temperature"].below_trip == 5 and limits["stockouts"].max == 0
    assert job.whatif.seeds_per_draw == 2 and job.whatif.risk.insulation_class == "B"
    assert job.whatif.risk.ageing_cost == 0.3 / 3600.0
    # SI inside: the config's hours are seconds in the specs
    w = job.whatif
    assert (w.horizon, w.warmup, w.mser_interval, w.replications, w.crn, w.fork) == \
        (168 * 3600.0, 24 * 3600.0, 4 * 3600.0, 10, True, True)
    assert job.calibration.window == 24 * 3600.0 and w.seed == 2026
    assert job.telemetry.channel_map.names == ("motor_current", "winding_temperature", "ambient_temperature")
    assert job.output.params["calibration.window_h"] == 24.0 and job.output.params["line.crew_size"] == 2
    assert "whatif._target_" not in job.output.params  # the spec factories are not parameters of the run


def test_every_step_group_instantiates_into_its_spec(compose_config):
    from hydra.utils import instantiate

    from scenarios.specs import CalibrationSpec, PlantSpec, TelemetrySpec, WhatIfSpec

    cfg = compose_config(["whatif.horizon_h=2", "calibration.window_h=0.5"])
    assert isinstance(instantiate(cfg.plant), PlantSpec)
    assert isinstance(instantiate(cfg.telemetry, _convert_="all"), TelemetrySpec)
    cal = instantiate(cfg.calibration, _convert_="all")
    assert isinstance(cal, CalibrationSpec) and cal.window == 1800.0 and type(cal.calibrator).__name__ == \
        "LeastSquaresCalibrator"
    w = instantiate(cfg.whatif, line={}, seed=1, _convert_="all")
    assert isinstance(w, WhatIfSpec) and w.horizon == 7200.0 and w.plan().run_length == 7200.0


@pytest.mark.parametrize("override,match", [("calibration.window_h=0", r"calibration.window_h = 0.0 must be > 0"),
                                            ("whatif.ambient=sky", r"whatif.ambient = 'sky' is unknown")])
def test_bad_step_values_fail_as_themselves_naming_the_key(compose_config, tmp_path, override, match):
    from sim.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=match):
        build_job(compose_config([override]), output_dir=tmp_path, tracker=NullTracker())


@pytest.mark.parametrize("override,match", [
    ("whatif.replications=1", r"replications = 1 must be an integer >= 2"),
    ("whatif.horizon_h=-5", r"whatif.horizon_h = -5.0 must be a finite"),
    ("whatif.objective=througput", r"whatif.objective = 'througput' is not a KPI; did you mean 'throughput'"),
    ("whatif.baseline=asis", r"whatif.baseline = 'asis' is not among the actions .*did you mean 'as_is'"),
    ("whatif.seeds_per_draw=10", r"seeds_per_draw = 10 leaves 1 posterior draw for 10 replications"),
    ("whatif.seeds_per_draw=0", r"seeds_per_draw = 0 must be an integer >= 1"),
    ("whatif.min_gain=1.5", r"whatif.min_gain = 1.5 must be a fraction"),
    ("whatif.risk.insulation_class=Z", r"insulation_class = 'Z' is unknown"),
    ("+whatif.constraints=[{kpi:trip,max:1}]", r"constraints\[0\]: constraint kpi = 'trip' is not a KPI; did you mean "
                                               r"'trips'"),
    ("+whatif.constraints=[{kpi:trips}]", r"constraints\[0\]: constraint on 'trips': give exactly one of max, min"),
    ("+whatif.constraints=[{kpi:oee,below_trip:5}]", r"below_trip bounds a temperature KPI"),
    ("+whatif.constraints=[{kpi:trips,max:1,judge:median}]", r"judge = 'median'; use one of"),
    ("+whatif.maintenance_windows=[{day:7}]", r"maintenance_windows\[0\] = day 7, 0 .. 24 h: day must be 0"),
    ("+whatif.constraints=[{kpi:maintenance_outside_windows,max:0}]", r"maintenance_windows is empty"),
])
def test_a_bad_whatif_fails_when_the_job_is_built_before_any_run(compose_config, tmp_path, override, match):
    """The what-if is checked in build_job: before telemetry, calibration or a tracking run (issue 15)."""
    from sim.exceptions import ConfigurationError

    class Recording(NullTracker):
        started: list = []

        def start_run(self, name, **kwargs):  # pragma: no cover - must not be reached
            self.started.append(name)
            return super().start_run(name, **kwargs)

    tracker = Recording()
    with pytest.raises(ConfigurationError, match=match):
        build_job(compose_config([override]), output_dir=tmp_path, tracker=tracker)
    assert tracker.started == [] and not any(tmp_path.iterdir())


@pytest.mark.parametrize("group,option", [("tracking", "none"), ("tracking", "mlflow")])
def test_every_group_option_composes(compose_config, group, option):
    cfg = compose_config([f"{group}={option}"])
    assert cfg[group]["_target_"].startswith("scenarios.tracking.")


@pytest.mark.parametrize("option", ["weekly", "speed", "maintenance"])
def test_every_whatif_option_builds_its_actions_into_lines(compose_config, tmp_path, option):
    cfg = compose_config([f"whatif={option}"])
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    assert job.whatif.actions[0].name == job.whatif.baseline == "as_is" and len(job.whatif.actions) >= 3


def test_overrides_reach_the_job(compose_config, tmp_path):
    cfg = compose_config(["calibration.window_h=12", "whatif.replications=7", "line.crew_size=3",
                          "+line.speeds.capper=1.1", "plant.stations=[filler,capper]"])
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    assert job.calibration.window == 12 * 3600.0 and job.whatif.replications == 7
    assert job.whatif.line["crew_size"] == 3 and job.whatif.line["speeds"] == {"capper": 1.1}
    assert job.plant.stations == ("filler", "capper")


@pytest.mark.parametrize("override,match", [
    ("+whatif.actions.2.speeds.labeller=1.1", r"whatif action 'filler_plus_10': .*unknown station\(s\) \['labeller'\]"),
    ("whatif.actions.4.crew_size=0", r"whatif action 'add_technician': line.crew_size = 0 must be an integer >= 1"),
    ("whatif.actions.5.buffers.filler_capper=-5", r"line.buffers.filler_capper = -5.0 must be a capacity > 0"),
    ("whatif.actions.5.policy.name=yearly", r"unknown maintenance policy 'yearly'; known policies"),
    ("line.policy.name=yearly", r"unknown maintenance policy 'yearly'"),
    ("plant.stations=[labeller]", r"unknown station\(s\) \['labeller'\]"),
])
def test_bad_line_values_fail_when_the_job_is_built_naming_the_value(compose_config, tmp_path, override, match):
    from sim.exceptions import ConfigurationError

    cfg = compose_config([override])
    with pytest.raises(ConfigurationError, match=match):
        build_job(cfg, output_dir=tmp_path, tracker=NullTracker())


def test_unknown_key_fails_naming_the_key(compose_config):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config(["calibration.windw_h=12"])
    assert "windw_h" in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize("override,key", [("line.policy.intervl_h=100", "intervl_h"),
                                          ("whatif.actions.1.sped=1.1", "sped"),
                                          ("whatif.actions.1.policy.nme=run_to_failure", "nme"),
                                          ("whatif.warmup=3", "warmup"),
                                          ("plant.station=filler", "station")])
def test_misspelled_keys_in_line_actions_and_plant_fail(compose_config, override, key):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config([override])
    assert key in str(err.value) + str(err.value.__cause__)


def test_wrong_type_fails_naming_the_value(compose_config):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config(["whatif.replications=many"])
    assert "many" in str(err.value) + str(err.value.__cause__)


def test_reading_an_unknown_key_in_code_fails(compose_config):
    cfg = compose_config()
    with pytest.raises((ConfigKeyError, ConfigAttributeError), match="pork"):
        _ = cfg.plant.pork


def test_calibration_window_by_dates_through_config_reaches_the_fit(compose_config, tmp_path):
    """calibration.start/end (naive: UTC) cut the fitted window; the model is the named library model."""
    import io

    import pandas as pd
    from rich.console import Console

    from scenarios.job import JobSession
    from scenarios.specs import OutputSpec
    from scenarios.steps import calibrate, gate_telemetry

    cfg = compose_config(["calibration.start=2026-07-14T08:00", "calibration.end=2026-07-14T12:00",
                          "calibration.max_gap_s=120", "calibration.register=false", "plots=false"])
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    assert job.calibration.start == pd.Timestamp("2026-07-14 08:00", tz="UTC") and job.calibration.max_gap == 120.0
    assert job.calibration.model == "motor_thermal" and job.plant.model is None
    text = io.StringIO()
    with JobSession(NullTracker(), OutputSpec(directory=tmp_path, plots=False), Console(file=text)) as session:
        step = calibrate(job.calibration, job.plant, gate_telemetry(job.telemetry, session), session)
    assert step.data.start == pd.Timestamp("2026-07-14 08:00", tz="UTC")
    assert step.data.end == pd.Timestamp("2026-07-14 12:00", tz="UTC")
    assert step.record.model == "motor_thermal" and step.replay.index[0] >= step.data.start


def test_a_window_longer_than_the_data_is_printed_as_a_warning(compose_config, tmp_path):
    import io

    from rich.console import Console

    from scenarios.job import JobSession
    from scenarios.specs import OutputSpec
    from scenarios.steps import calibrate, gate_telemetry

    cfg = compose_config(["calibration.start=2026-07-14T18:00", "calibration.window_h=12",
                          "calibration.register=false"])
    job = build_job(cfg, output_dir=tmp_path, tracker=NullTracker())
    text = io.StringIO()
    with JobSession(NullTracker(), OutputSpec(directory=tmp_path, plots=False), Console(file=text, width=300)) as s:
        calibrate(job.calibration, job.plant, gate_telemetry(job.telemetry, s), s)
    said = " ".join(text.getvalue().split())
    assert "warning: the calibration window" in said and "is longer than the data" in said and "rests on 4 h" in said, said[:2000]
