"""Test FMUs, built once per session into a temporary folder (never into the source tree).

* ``bouncing_ball2.fmu`` - FMI 2.0 Model Exchange, compiled with gcc from ``sources/bouncing_ball2.c`` against the
  FMI headers fmpy ships (``fmpy/c-code``); state events, get/setFMUstate.
* ``feedthrough3.fmu`` - FMI 3.0 Co-Simulation from ``sources/feedthrough3.c`` (+ ``fmi3_stubs.c``): y = gain u
  (direct feedthrough), an integral (no feedthrough), fixed internal step 1 ms, hang / crash on request.
* ``bouncing_ball3.fmu`` - the same ball as FMI 3.0 Model Exchange (``sources/bouncing_ball3.c`` + the stubs).
* ``dahlquist2.fmu`` - FMI 2.0 Co-Simulation from ``sources/dahlquist2.c``: x' = -k x stepped exactly, no FMU state.
* ``thermal_mass.fmu`` / ``thermal_mass_nostate.fmu`` - FMI 2.0 Co-Simulation built by pythonfmu from
  ``sources/thermal_mass.py``, with and without get/setFMUstate; units and ranges added to the description.
* ``ramp_source.fmu`` - FMI 2.0 Co-Simulation by pythonfmu: signal = slope t.
"""

import pathlib
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
import zipfile

import fmpy
import pytest

SOURCES = pathlib.Path(__file__).resolve().parent / "sources"
HEADERS = pathlib.Path(fmpy.__file__).resolve().parent / "c-code"

THERMAL_UNITS = {"heating_power": ("W", None, None), "ambient_temperature": ("K", None, None),
                 "temperature": ("K", "0", "10000"), "heat_capacity": ("J/K", "1", "1000000"),
                 "thermal_resistance": ("K/W", "0.0001", "100")}


def _gcc(folder: pathlib.Path, name: str, sources, platform_dir: str, defines=()) -> pathlib.Path:
    root = folder / name
    binaries = root / "binaries" / platform_dir
    binaries.mkdir(parents=True)
    library = binaries / f"{name}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", *defines, f"-I{HEADERS}", "-o", str(library),
                    *[str(SOURCES / s) for s in sources], "-lm"], check=True, capture_output=True, timeout=120)
    shutil.copy(SOURCES / f"{name}.xml", root / "modelDescription.xml")
    return _zip(root, folder / f"{name}.fmu")


def _zip(root: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return target


def _add_units(fmu: pathlib.Path, units: dict) -> None:
    """Write unit / min / max into a pythonfmu description (pythonfmu's Real has no such attributes)."""
    with zipfile.ZipFile(fmu) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    root = ET.fromstring(entries["modelDescription.xml"])
    definitions = ET.Element("UnitDefinitions")
    for unit in sorted({u for u, _lo, _hi in units.values()}):
        ET.SubElement(definitions, "Unit", name=unit)
    position = [child.tag for child in root].index("ModelVariables")
    root.insert(position - 1 if root[position - 1].tag == "LogCategories" else position, definitions)
    for var in root.iter("ScalarVariable"):
        if var.get("name") in units:
            unit, lo, hi = units[var.get("name")]
            real = var.find("Real")
            real.set("unit", unit)
            if lo is not None:
                real.set("min", lo)
                real.set("max", hi)
    entries["modelDescription.xml"] = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    with zipfile.ZipFile(fmu, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.fixture(scope="session")
def fmus(tmp_path_factory):
    """name -> path of every test FMU (see the module docstring)."""
    from pythonfmu.builder import FmuBuilder

    folder = tmp_path_factory.mktemp("fmus")
    out = {
        "bouncing_ball2": _gcc(folder, "bouncing_ball2", ["bouncing_ball2.c"], "linux64"),
        "feedthrough3": _gcc(folder, "feedthrough3", ["feedthrough3.c", "fmi3_stubs.c"], "x86_64-linux"),
        "dahlquist2": _gcc(folder, "dahlquist2", ["dahlquist2.c"], "linux64"),
        "bouncing_ball3": _gcc(folder, "bouncing_ball3", ["bouncing_ball3.c", "fmi3_stubs.c"], "x86_64-linux",
                               ["-DFMU_MODEL_EXCHANGE"]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, script, options in (("thermal_mass", "thermal_mass.py", {"canGetAndSetFMUstate": True}),
                                      ("thermal_mass_nostate", "thermal_mass.py", {}),
                                      ("ramp_source", "ramp_source.py", {})):
            out[name] = FmuBuilder.build_FMU(SOURCES / script, dest=folder / f"{name}.fmu", **options)
    _add_units(out["thermal_mass"], THERMAL_UNITS)
    _add_units(out["thermal_mass_nostate"], THERMAL_UNITS)
    return {k: str(v) for k, v in out.items()}


@pytest.fixture()
def broken(tmp_path, fmus):
    """A factory: ``broken(kind)`` -> path of an FMU broken in one way (built from the good test FMUs)."""

    def rewrite(source, target, *, drop=(), replace=None):
        with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
            for name in archive.namelist():
                if any(name.startswith(d) for d in drop):
                    continue
                data = archive.read(name)
                if replace and name == "modelDescription.xml":
                    data = replace(data)
                out.writestr(name, data)
        return str(target)

    def make(kind: str) -> str:
        target = tmp_path / f"{kind}.fmu"
        if kind == "not_a_zip":
            target.write_text("this is a text file, not an FMU\n")
            return str(target)
        if kind == "no_description":
            return rewrite(fmus["bouncing_ball2"], target, drop=("modelDescription.xml",))
        if kind == "schema_invalid":
            return rewrite(fmus["bouncing_ball2"], target,
                           replace=lambda d: d.replace(b'valueReference="1"', b'valueReference="one"'))
        if kind == "wrong_platform":
            return rewrite(fmus["thermal_mass"], target, drop=("binaries/linux64",))
        if kind == "missing_binary":
            return rewrite(fmus["bouncing_ball2"], target,
                           replace=lambda d: d.replace(b'modelIdentifier="bouncing_ball2"',
                                                       b'modelIdentifier="bouncing_ball_v2"'))
        if kind == "no_binaries":
            return rewrite(fmus["bouncing_ball2"], target, drop=("binaries/",))
        if kind == "guid_mismatch":
            return rewrite(fmus["bouncing_ball2"], target,
                           replace=lambda d: d.replace(b"{5d1c6c3e-1b5e-4b43-9a1e-0bb0b0ba1102}",
                                                       b"{00000000-0000-0000-0000-000000000000}"))
        if kind == "fmi1":
            return rewrite(fmus["bouncing_ball2"], target, replace=lambda d: d.replace(b'fmiVersion="2.0"',
                                                                                      b'fmiVersion="1.0"'))
        raise ValueError(kind)

    return make
