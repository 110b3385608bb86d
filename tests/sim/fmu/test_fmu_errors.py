"""Each broken-FMU case raises its own error type, naming the file and the fix; settings are checked before a run."""

import pytest

from sim.exceptions import ConfigurationError, TwinbenchError
from sim.fmu import (BinaryMissingError, FmuComponent, FmuError, FmuVariableError, InstantiationError,
                     ModelDescriptionMissingError, NotAnFmuError, PlatformError, SchemaInvalidError,
                     UnsupportedInterfaceError, read_fmu)

CASES = [
    ("not_a_zip", NotAnFmuError, "no ZIP archive"),
    ("no_description", ModelDescriptionMissingError, "no modelDescription.xml"),
    ("schema_invalid", SchemaInvalidError, "valueReference"),
    ("wrong_platform", PlatformError, "['win64']"),
    ("missing_binary", BinaryMissingError, "bouncing_ball_v2.so is missing"),
    ("no_binaries", BinaryMissingError, "no binary for any platform"),
    ("fmi1", UnsupportedInterfaceError, "FMI 1.0"),
]


@pytest.mark.parametrize("kind, error, detail", CASES)
def test_each_broken_fmu_raises_its_own_error_naming_file_and_fix(broken, kind, error, detail):
    path = broken(kind)
    with pytest.raises(error) as info:
        read_fmu(path)
    message = str(info.value)
    assert f"{kind}.fmu" in message and detail in message
    assert any(word in message for word in ("export", "check the path", "zip the"))  # the fix
    assert info.value.path == path and isinstance(info.value, TwinbenchError)
    others = {e for _k, e, _d in CASES if e is not error} | {InstantiationError}
    assert not isinstance(info.value, tuple(others))


def test_missing_file_is_not_an_fmu(tmp_path):
    with pytest.raises(NotAnFmuError, match="no such file"):
        read_fmu(tmp_path / "absent.fmu")


def test_wrong_platform_lists_what_the_fmu_has(broken):
    with pytest.raises(PlatformError) as info:
        read_fmu(broken("wrong_platform"))
    assert info.value.platforms == ("win64",)


def test_guid_mismatch_fails_at_instantiation(broken):
    component = FmuComponent(broken("guid_mismatch"))  # the description alone reads fine
    with pytest.raises(InstantiationError, match="GUID") as info:
        component.initialize()
    assert "guid_mismatch.fmu" in str(info.value) and "re-export" in str(info.value)
    component.close()


def test_unsupported_interface_names_what_the_fmu_offers(fmus):
    with pytest.raises(UnsupportedInterfaceError, match=r"offers \['CoSimulation'\], not ModelExchange"):
        FmuComponent(fmus["thermal_mass"], interface="ModelExchange")


@pytest.mark.parametrize("settings, match", [
    ({"parameters": {"heat_capcity": 10.0}}, "no variable 'heat_capcity'.*heat_capacity"),
    ({"parameters": {"heat_capacity": 0.0}}, r"outside its declared range \[1.0, 1000000.0\] J/K"),
    ({"parameters": {"heat_capacity": "much"}}, "not a number"),
    ({"parameters": {"heat_capacity": float("nan")}}, "not finite"),
    ({"parameters": {"temperature": 300.0}}, "not a parameter"),
])
def test_parameters_are_checked_before_any_run(fmus, settings, match):
    with pytest.raises(FmuVariableError, match=match) as info:
        FmuComponent(fmus["thermal_mass"], **settings)
    assert isinstance(info.value, ConfigurationError) and isinstance(info.value, FmuError)


def test_fixed_parameters_change_only_through_reinitialization(fmus):
    with FmuComponent(fmus["bouncing_ball2"]) as ball:
        ball.initialize()
        with pytest.raises(FmuVariableError, match="fixed parameter.*initialize"):
            ball.set_parameter("g", 1.62)
        ball.set_parameter("e", 0.5)  # tunable: fine between steps
        ball.initialize(parameters={"g": 1.62, "h0": 2.0})  # fixed: reset + re-initialization
        assert ball.get("g") == 1.62 and ball.get("h") == 2.0 and ball.get("e") == 0.7
