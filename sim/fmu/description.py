"""What an FMU is, read once: interfaces, variables classified by causality and variability, lineage.

:func:`read_fmu` turns a ``.fmu`` file (or an extracted FMU folder) into an :class:`FmuDescription` or raises the
one error of :mod:`sim.fmu.errors` that names what is broken and the fix.  The checks run in the order a user
would fix them: the file exists and is a ZIP archive, it holds ``modelDescription.xml``, the XML follows the FMI
schema, the FMU has a binary for this platform, the binary of every declared interface is there.  Instantiation
problems (a GUID / instantiation token that does not match the binary) appear only when an instance is created
(:mod:`sim.fmu.component`).

:func:`catalogue` lists the FMUs in folders for ``twinbench models``.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sim.fmu.errors import (BinaryMissingError, FmuValidationWarning, FmuVariableError, ModelDescriptionMissingError,
                            NotAnFmuError, PlatformError, SchemaInvalidError, UnsupportedInterfaceError)

__all__ = ["FmuVariable", "FmuDescription", "read_fmu", "catalogue", "INTERFACES", "REAL_TYPES"]

INTERFACES = ("CoSimulation", "ModelExchange")
"""The FMI interfaces the workbench runs (Scheduled Execution is not supported)."""

REAL_TYPES = ("Real", "Float64", "Float32")
"""FMI types handled as floating point [FMI 2, FMI 3, FMI 3]."""

_FIX_BROKEN = "ask the vendor for a new export, or re-export the model from its tool"


@dataclass(frozen=True)
class FmuVariable:
    """One variable of an FMU, as its model description declares it.

    Attributes
    ----------
    name : str
        Variable name (``der(h)``, ``heating_power``).
    value_reference : int
        The FMI value reference.
    type : str
        FMI type (``Real``/``Integer``/``Boolean``/``String`` in FMI 2, ``Float64``, ``Int32`` ... in FMI 3).
    causality : str
        ``parameter``, ``calculatedParameter``, ``input``, ``output``, ``local``, ``independent``,
        ``structuralParameter``.
    variability : str
        ``constant``, ``fixed``, ``tunable``, ``discrete``, ``continuous``.
    initial : str or None
        ``exact``, ``approx``, ``calculated`` (None where the description leaves it out).
    unit : str
        Unit as declared ("" if none).
    start : float, int, bool, str or None
        Start value.
    min, max : float
        Declared range [unit]; -inf / inf where none is declared.
    description : str
    state : bool
        True for a continuous state (a derivative refers to it).
    """

    name: str
    value_reference: int
    type: str
    causality: str
    variability: str
    initial: str | None
    unit: str
    start: object
    min: float
    max: float
    description: str
    state: bool = False

    @property
    def kind(self) -> str:
        """One word for catalogues and checks: input, output, fixed/tunable parameter, state, local ..."""
        if self.causality == "parameter":
            return f"{self.variability} parameter"
        if self.state:
            return f"state ({self.causality})" if self.causality == "output" else "state"
        return self.causality

    @property
    def is_real(self) -> bool:
        return self.type in REAL_TYPES

    def settable_before_init(self) -> bool:
        """Whether a value may be set between instantiation and initialization (start values, parameters)."""
        if self.variability == "constant" or self.causality in ("calculatedParameter", "independent"):
            return False
        return self.causality in ("parameter", "input", "structuralParameter") or self.initial in ("exact", "approx")

    def check_value(self, value, path: str = "") -> float:
        """*value* as the variable's Python type after the type and ``[min, max]`` checks; raise FmuVariableError."""
        if self.type in ("Boolean",):
            return bool(value)
        if self.type in ("String",):
            return str(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FmuVariableError(f"{Path(path).name}: variable {self.name!r} is of type {self.type}; got "
                                   f"{value!r}, which is not a number - pass a number", path) from None
        if self.is_real:
            if not math.isfinite(number):
                raise FmuVariableError(f"{Path(path).name}: variable {self.name!r} = {number} is not finite; pass a "
                                       f"finite value [{self.unit or '1'}]", path)
        elif number != int(number):
            raise FmuVariableError(f"{Path(path).name}: variable {self.name!r} is of type {self.type}; got {value!r}, "
                                   f"which is not a whole number - pass an integer", path)
        if not self.min <= number <= self.max:
            raise FmuVariableError(
                f"{Path(path).name}: variable {self.name!r} = {number} {self.unit} lies outside its declared range "
                f"[{self.min}, {self.max}] {self.unit}; pass a value inside the range the FMU declares", path)
        return number if self.is_real else int(number)


@dataclass(frozen=True)
class FmuDescription:
    """An FMU's model description, classified for the workbench.

    Attributes
    ----------
    path : str
        The ``.fmu`` file or extracted folder.
    sha256 : str
        SHA-256 of the file's bytes (of ``modelDescription.xml`` for a folder): the lineage hash.
    fmi_version : str
    model_name : str
    guid : str
        GUID (FMI 2) or instantiation token (FMI 3).
    generation_tool : str
    interfaces : tuple of str
        The interfaces the FMU offers, of :data:`INTERFACES`.
    model_identifiers : dict
        interface -> model identifier (the shared library's name).
    can_get_set_state : dict
        interface -> whether ``get/setFMUstate`` is offered.
    can_handle_variable_step : bool
        Co-Simulation: whether the communication step may change.
    fixed_internal_step : float or None
        FMI 3 Co-Simulation: the declared fixed internal step [s]; macro steps must be multiples of it.
    default_experiment : dict
        ``start_time``, ``stop_time``, ``step_size``, ``tolerance`` (None where not declared).
    variables : tuple of FmuVariable
    feedthrough : dict
        output name -> names of the inputs it depends on directly (all inputs where the description
        declares no dependencies, as the standard requires).
    n_states, n_event_indicators : int
    platforms : tuple of str
        Platforms the FMU has binaries (or sources) for.
    problems : tuple of str
        What ``fmpy.validation.validate_fmu`` found (empty for a clean FMU).
    """

    path: str
    sha256: str
    fmi_version: str
    model_name: str
    guid: str
    generation_tool: str
    interfaces: tuple
    model_identifiers: dict
    can_get_set_state: dict
    can_handle_variable_step: bool
    fixed_internal_step: float | None
    default_experiment: dict
    variables: tuple
    feedthrough: dict
    n_states: int
    n_event_indicators: int
    platforms: tuple
    problems: tuple = ()
    model_description: object = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ lookups
    def variable(self, name: str) -> FmuVariable:
        """The variable called *name*; :class:`FmuVariableError` lists the known ones otherwise."""
        for v in self.variables:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variables if v.causality != "local")
        raise FmuVariableError(f"{Path(self.path).name} has no variable {name!r}; its inputs, outputs and "
                               f"parameters: {known}", self.path)

    def names(self, causality: str, *, real_only: bool = False) -> tuple:
        """Names of the variables of *causality* (``parameter`` also covers both variabilities)."""
        return tuple(v.name for v in self.variables if v.causality == causality and (v.is_real or not real_only))

    @property
    def inputs(self) -> tuple:
        return self.names("input")

    @property
    def outputs(self) -> tuple:
        return self.names("output")

    @property
    def parameters(self) -> tuple:
        return self.names("parameter")

    def interface(self, requested: str | None = None) -> str:
        """The interface to run: *requested* if offered, else Co-Simulation when offered, else Model Exchange."""
        if requested is None:
            return "CoSimulation" if "CoSimulation" in self.interfaces else self.interfaces[0]
        if requested not in INTERFACES:
            raise UnsupportedInterfaceError(f"interface = {requested!r} is not one the workbench runs; choose one of "
                                            f"{list(INTERFACES)}", self.path)
        if requested not in self.interfaces:
            raise UnsupportedInterfaceError(
                f"{Path(self.path).name} offers {list(self.interfaces)}, not {requested}; use interface="
                f"{self.interfaces[0]!r} or export the model for {requested}", self.path)
        return requested

    def lineage(self) -> dict:
        """Run parameters that identify this FMU exactly (log them with the run)."""
        return {"fmu.file": Path(self.path).name, "fmu.sha256": self.sha256, "fmu.fmi_version": self.fmi_version,
                "fmu.guid": self.guid, "fmu.generation_tool": self.generation_tool, "fmu.model_name": self.model_name}

    def to_dict(self) -> dict:
        """A JSON-ready summary for catalogues: identity, interfaces and the non-local variables."""
        return {
            "name": self.model_name, "source": "fmu", "path": self.path, "fmi_version": self.fmi_version,
            "guid": self.guid, "generation_tool": self.generation_tool, "sha256": self.sha256,
            "interfaces": list(self.interfaces), "platforms": list(self.platforms),
            "can_get_set_state": dict(self.can_get_set_state), "fixed_internal_step": self.fixed_internal_step,
            "problems": list(self.problems),
            "variables": [{"name": v.name, "kind": v.kind, "causality": v.causality, "variability": v.variability,
                           "type": v.type, "unit": v.unit, "start": v.start,
                           "min": None if math.isinf(v.min) else v.min, "max": None if math.isinf(v.max) else v.max,
                           "description": v.description}
                          for v in self.variables if v.causality != "local" or v.state],
        }


# ---------------------------------------------------------------------- reading
def read_fmu(path, *, strict: bool = False) -> FmuDescription:
    """Read and check the FMU at *path* (a ``.fmu`` file or an extracted folder).

    Parameters
    ----------
    path : str or Path
    strict : bool
        Raise :class:`SchemaInvalidError` for the problems ``fmpy.validation.validate_fmu`` reports (model
        structure, units ...); by default they are kept in ``problems`` and warned about
        (:class:`FmuValidationWarning`), since many exporting tools get them slightly wrong.

    Raises
    ------
    NotAnFmuError, ModelDescriptionMissingError, SchemaInvalidError, PlatformError, BinaryMissingError,
    UnsupportedInterfaceError
    """
    import fmpy
    from fmpy.model_description import read_model_description

    path = os.fspath(path)
    name = Path(path).name
    if not os.path.exists(path):
        raise NotAnFmuError(f"{path}: no such file; give the path of a .fmu file (or of an extracted FMU folder)",
                            path)
    if os.path.isdir(path):
        names = [os.path.relpath(os.path.join(d, f), path).replace(os.sep, "/")
                 for d, _, files in os.walk(path) for f in files]
    else:
        if not zipfile.is_zipfile(path):
            raise NotAnFmuError(f"{name} is not an FMU: an FMU is a ZIP archive with modelDescription.xml at its "
                                f"root, and this file is no ZIP archive; check the path, or re-download the file if "
                                f"it was truncated", path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    if "modelDescription.xml" not in names:
        raise ModelDescriptionMissingError(
            f"{name} holds no modelDescription.xml at its root (found: {sorted(names)[:8]}); an FMU needs one - zip "
            f"the FMU's folder contents, not the folder itself, or {_FIX_BROKEN}", path)
    version = _peek_version(path)
    if not (version.startswith("2.") or version.startswith("3.")):
        raise UnsupportedInterfaceError(f"{name} is an FMI {version or '(no fmiVersion)'} FMU; the workbench runs FMI "
                                        f"2.0 and 3.0 - re-export the model as FMI 2.0 or 3.0", path)
    try:
        md = read_model_description(path, validate=True)
    except Exception as err:  # lxml syntax errors, fmpy's ValidationError, KeyError for missing attributes
        detail = "; ".join(str(p) for p in getattr(err, "problems", ()) or [err])
        raise SchemaInvalidError(f"{name}: modelDescription.xml is not a valid FMI model description ({detail}); "
                                 f"{_FIX_BROKEN}", path) from err
    interfaces = tuple(i for i, part in (("CoSimulation", md.coSimulation), ("ModelExchange", md.modelExchange))
                       if part is not None)
    if not interfaces:
        raise UnsupportedInterfaceError(f"{name} offers neither Co-Simulation nor Model Exchange (Scheduled "
                                        f"Execution only?); export it for Co-Simulation or Model Exchange", path)
    platforms = tuple(fmpy.supported_platforms(path))
    _check_binaries(path, name, names, md, interfaces, platforms)
    problems = ()
    if not os.path.isdir(path):
        from fmpy.validation import validate_fmu

        problems = tuple(str(p) for p in validate_fmu(path))
    if problems:
        message = f"{name}: validate_fmu reports {list(problems)}"
        if strict:
            raise SchemaInvalidError(f"{message}; {_FIX_BROKEN}, or read it with strict=False to run it anyway", path)
        warnings.warn(f"{message}; it is run anyway (read_fmu(strict=True) refuses such FMUs)", FmuValidationWarning,
                      stacklevel=2)
    return _describe(path, md, interfaces, platforms, problems)


def _peek_version(path) -> str:
    """The ``fmiVersion`` attribute of the description's root ("" if unreadable: the schema check reports it)."""
    import xml.etree.ElementTree as ET

    try:
        if os.path.isdir(path):
            with open(os.path.join(path, "modelDescription.xml"), "rb") as handle:
                data = handle.read()
        else:
            with zipfile.ZipFile(path) as archive:
                data = archive.read("modelDescription.xml")
        for _event, element in ET.iterparse(io.BytesIO(data), events=("start",)):
            return str(element.get("fmiVersion", ""))
    except (ET.ParseError, OSError, KeyError):
        return "2.0"  # let read_model_description report what is wrong
    return ""


def _check_binaries(path, name, names, md, interfaces, platforms) -> None:
    import fmpy

    here = fmpy.platform
    if here not in platforms:
        if not platforms:
            raise BinaryMissingError(f"{name} holds no binary for any platform and no C sources (binaries/ is "
                                     f"empty or missing); {_FIX_BROKEN} with binaries for {here}", path)
        raise PlatformError(f"{name} has binaries for {list(platforms)} but not for this platform ({here}, "
                            f"{fmpy.platform_tuple}); export it for {here} from the modelling tool", path, platforms)
    folder = f"binaries/{fmpy.platform_tuple}" if str(md.fmiVersion).startswith("3.") else f"binaries/{here}"
    for interface in interfaces:
        part = md.coSimulation if interface == "CoSimulation" else md.modelExchange
        library = f"{folder}/{part.modelIdentifier}{fmpy.sharedLibraryExtension}"
        if library not in names:
            present = sorted(n for n in names if n.startswith("binaries/"))
            raise BinaryMissingError(
                f"{name} declares {interface} with modelIdentifier {part.modelIdentifier!r}, but its shared library "
                f"{library} is missing (binaries present: {present}); {_FIX_BROKEN}, or fix modelIdentifier", path)


def _number(text, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _start(var):
    if var.start is None:
        return None
    if var.type in REAL_TYPES:
        return _number(var.start, math.nan)
    if var.type == "Boolean":
        return str(var.start).lower() in ("true", "1")
    if var.type == "String":
        return str(var.start)
    return int(_number(var.start, 0))


def _describe(path, md, interfaces, platforms, problems) -> FmuDescription:
    states = {id(v.derivative) for v in md.modelVariables if getattr(v, "derivative", None) is not None}
    def declared(v, attribute):  # the variable's own attribute, else its declared type's
        own = getattr(v, attribute, None)
        return own if own not in (None, "") else getattr(getattr(v, "declaredType", None), attribute, None)

    variables = tuple(
        FmuVariable(name=v.name, value_reference=int(v.valueReference), type=str(v.type), causality=str(v.causality),
                    variability=str(v.variability), initial=v.initial, unit=str(declared(v, "unit") or ""),
                    start=_start(v), min=_number(declared(v, "min"), -math.inf),
                    max=_number(declared(v, "max"), math.inf), description=str(v.description or ""),
                    state=id(v) in states)
        for v in md.modelVariables)
    inputs = tuple(v.name for v in variables if v.causality == "input")
    feedthrough = {}
    for unknown in md.outputs:
        deps = unknown.dependencies
        feedthrough[unknown.variable.name] = inputs if deps is None else tuple(d.name for d in deps if d.name in inputs)
    for v in variables:  # outputs the ModelStructure forgot: assume the worst, as the standard says
        if v.causality == "output" and v.name not in feedthrough:
            feedthrough[v.name] = inputs
    cs, me = md.coSimulation, md.modelExchange
    de = md.defaultExperiment
    experiment = {key: (None if de is None else _number(getattr(de, attr), None))
                  for key, attr in (("start_time", "startTime"), ("stop_time", "stopTime"), ("step_size", "stepSize"),
                                    ("tolerance", "tolerance"))}
    fixed = _number(getattr(cs, "fixedInternalStepSize", None), None) if cs is not None else None
    return FmuDescription(
        path=str(path), sha256=_sha256(path), fmi_version=str(md.fmiVersion), model_name=str(md.modelName),
        guid=str(md.guid), generation_tool=str(md.generationTool or ""), interfaces=interfaces,
        model_identifiers={i: (cs if i == "CoSimulation" else me).modelIdentifier for i in interfaces},
        can_get_set_state={i: bool((cs if i == "CoSimulation" else me).canGetAndSetFMUstate) for i in interfaces},
        can_handle_variable_step=bool(getattr(cs, "canHandleVariableCommunicationStepSize", False)) if cs else True,
        fixed_internal_step=fixed, default_experiment=experiment, variables=variables, feedthrough=feedthrough,
        n_states=int(md.numberOfContinuousStates or 0), n_event_indicators=int(md.numberOfEventIndicators or 0),
        platforms=platforms, problems=problems, model_description=md)


def _sha256(path) -> str:
    target = os.path.join(path, "modelDescription.xml") if os.path.isdir(path) else path
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------- catalogue
def catalogue(paths) -> tuple[list[dict], list[dict]]:
    """The FMUs found in *paths* (folders searched recursively for ``*.fmu``, or ``.fmu`` files).

    Returns ``(entries, failures)``: one :meth:`FmuDescription.to_dict` per readable FMU, and
    ``{"path", "error", "message"}`` per FMU that could not be read (a broken FMU does not hide the others).
    """
    files: list[str] = []
    for given in paths:
        given = os.fspath(given)
        if os.path.isdir(given):
            files.extend(str(p) for p in sorted(Path(given).rglob("*.fmu")))
        else:
            files.append(given)
    entries, failures = [], []
    from sim.fmu.errors import FmuError

    for file in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FmuValidationWarning)
                entries.append(read_fmu(file).to_dict())
        except FmuError as err:
            failures.append({"path": file, "error": type(err).__name__, "message": str(err)})
    return entries, failures
