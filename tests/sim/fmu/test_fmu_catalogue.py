"""`twinbench models`, the config factories and the package's public names."""

import json
import os
import shutil

import pytest

import sim.fmu
from scenarios.models_cli import FMU_PATH_VARIABLE, main
from sim.exceptions import ConfigurationError
from sim.fmu import FmuMaster, component_from_config, master_from_config
from sim.physics import MODELS

pytestmark = pytest.mark.filterwarnings("ignore::sim.fmu.FmuValidationWarning")  # the pythonfmu ramp source


def catalogue_json(capsys, *args):
    main(["--json", *args])
    return json.loads(capsys.readouterr().out)


def test_models_lists_library_models_and_fmus_with_variables_units_causality(fmus, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "plant"
    (folder / "vendor").mkdir(parents=True)
    shutil.copy(fmus["bouncing_ball2"], folder / "vendor")
    shutil.copy(fmus["thermal_mass"], folder)
    monkeypatch.setenv(FMU_PATH_VARIABLE, fmus["feedthrough3"])
    doc = catalogue_json(capsys, "--path", str(folder))
    names = [m["name"] for m in doc["models"]]
    assert set(MODELS) <= set(names) and {"BouncingBall", "ThermalMass", "Feedthrough3"} <= set(names)
    assert doc["failures"] == []
    ball = next(m for m in doc["models"] if m["name"] == "BouncingBall")
    variables = {v["name"]: v for v in ball["variables"]}
    assert (variables["h"]["unit"], variables["h"]["kind"]) == ("m", "state (output)")
    assert variables["g"]["kind"] == "fixed parameter" and variables["e"]["kind"] == "tunable parameter"
    assert ball["interfaces"] == ["ModelExchange"] and ball["fmi_version"] == "2.0"
    heat = {v["name"]: v for v in next(m for m in doc["models"] if m["name"] == "ThermalMass")["variables"]}
    assert heat["heating_power"]["causality"] == "input" and heat["heat_capacity"]["unit"] == "J/K"
    library = [m for m in doc["models"] if m["source"] == "library"]
    assert len(library) == len(MODELS) and all(v["unit"] for m in library for v in m["variables"])


def test_a_broken_fmu_is_listed_with_its_error_and_fails_the_command(fmus, broken, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(fmus["feedthrough3"], folder)
    shutil.copy(broken("wrong_platform"), folder)
    with pytest.raises(SystemExit) as info:
        main(["--json", "--no-library", "--path", str(folder)])
    assert info.value.code == 1
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["models"]] == ["Feedthrough3"]
    assert doc["failures"][0]["error"] == "PlatformError" and "win64" in doc["failures"][0]["message"]


def test_table_output(fmus, capsys):
    main(["--no-library", "--path", fmus["feedthrough3"]])
    out = capsys.readouterr().out
    assert "Feedthrough3  [fmu, FMI 3.0, CoSimulation" in out and "tunable parameter" in out


def test_a_plant_component_entry_pointing_at_an_fmu(fmus, tmp_path):
    shutil.copy(fmus["thermal_mass"], tmp_path / "heater.fmu")
    component = component_from_config({"fmu": "heater.fmu", "parameters": {"heat_capacity": 1500.0}},
                                      name="heater", base_dir=tmp_path)
    assert component.name == "heater" and component.parameters == {"heat_capacity": 1500.0}
    component.initialize()
    assert component.get("heat_capacity") == 1500.0
    component.close()
    with pytest.raises(ConfigurationError, match=r"unknown keys \['paramters'\]"):
        component_from_config({"fmu": "heater.fmu", "paramters": {}}, base_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="'fmu'.*required"):
        component_from_config({"parameters": {}})


def test_a_master_entry(fmus):
    master = master_from_config({"components": {"src": {"fmu": fmus["ramp_source"]},
                                                "ft": {"fmu": fmus["feedthrough3"], "parameters": {"gain": 2.0}}},
                                 "connections": ["src.signal -> ft.u"], "step": 0.01, "algorithm": "gauss-seidel"})
    assert isinstance(master, FmuMaster) and master.algorithm == "gauss-seidel"
    lineage = master.lineage()
    assert lineage["ft.fmu.fmi_version"] == "3.0" and lineage["src.fmu.generation_tool"].startswith("PythonFMU")
    assert lineage["fmu_master.algorithm"] == "gauss-seidel" and len(lineage["ft.fmu.sha256"]) == 64
    result = master.initialize().run(0.05, record=["ft.y"])
    assert result.values["ft.y"][-1] == pytest.approx(2.0 * 0.05)
    master.close()


def test_public_api_is_explicit():
    assert sorted(sim.fmu.__all__) == sorted(set(sim.fmu.__all__))
    assert all(hasattr(sim.fmu, name) for name in sim.fmu.__all__)
    assert os.path.basename(sim.fmu.__file__) == "__init__.py"


def test_twinbench_models_is_dispatched_by_the_twinbench_command(fmus, capsys, monkeypatch):
    from scenarios.cli import main as twinbench

    monkeypatch.setattr("sys.argv", ["twinbench"])
    twinbench(["models", "--json", "--no-library", "--path", fmus["dahlquist2"]])
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["models"]] == ["Dahlquist"]
