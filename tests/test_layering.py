"""The architecture as tests: imports point one way, no module imports itself back, public APIs are documented.

sim/ and calibration/ are plain libraries (no Hydra, OmegaConf or MLflow); no two modules of the project import
each other, however indirectly; every package's ``__all__`` is the list ``docs/architecture.md`` documents.
"""

import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = {"hydra", "omegaconf", "mlflow", "scenarios"}
PROJECT = ("sim", "calibration", "scenarios", "hydra_plugins")
#: Every package of the project (a folder with an __init__.py): each must be in the Public API table.
PACKAGES = sorted(".".join(init.parent.relative_to(ROOT).parts) for top in ("sim", "calibration", "scenarios")
                  for init in (ROOT / top).rglob("__init__.py") if "__pycache__" not in init.parts)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (lazy imports in functions count too).

    ``from package import name`` points at the submodule *name* when there is one, else at the package.  The
    implicit import of a module's parent packages is not an edge: a package that re-exports its submodules does
    not make a cycle with them.
    """
    files = {_module_name(p): p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py")}

    def known(name: str):
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges |= {known(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                edges |= {known(f"{base}.{a.name}") if f"{base}.{a.name}" in files else known(base)
                          for a in node.names}
        graph[module] = edges - {None, module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize("package,forbidden", [("sim", FORBIDDEN | {"calibration"}), ("calibration", FORBIDDEN)])
def test_engine_packages_do_not_import_the_application_layer(package, forbidden):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in forbidden]
    assert not offenders, offenders


def test_importing_the_engine_loads_no_hydra_or_mlflow():
    code = ("import sys, sim, sim.physics, sim.telemetry, sim.processes, sim.clock, calibration; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'hydra', 'omegaconf', 'mlflow'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("module", PACKAGES)
def test_public_api_is_explicit(module):
    mod = __import__(module, fromlist=["__all__"])
    assert sorted(mod.__all__) == sorted(set(mod.__all__))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name} but the module has no such attribute"


def test_no_two_modules_import_each_other_even_indirectly():
    found = cycles(import_graph())
    assert not found, "import cycles (each list imports itself back): " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def documented_api() -> dict[str, list[str]]:
    """The public names per package from the 'Public API' section of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    api = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z_.]+)` \| (.*) \|$", line.strip())
        if m:
            api[m.group(1)] = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", m.group(2))
    return api


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_exports_what_the_architecture_documents(package):
    documented = documented_api()
    assert package in documented, f"docs/architecture.md 'Public API' has no row for {package}"
    mod = __import__(package, fromlist=["__all__"])
    assert sorted(mod.__all__) == sorted(documented[package]), (
        f"{package}.__all__ differs from docs/architecture.md: only in code "
        f"{sorted(set(mod.__all__) - set(documented[package]))}, only in the docs "
        f"{sorted(set(documented[package]) - set(mod.__all__))}")
    assert (mod.__doc__ or "").strip(), f"{package} has no docstring saying what it owns"


def test_no_test_module_imports_another():
    """Shared test helpers live in tests/helpers.py, helper modules or conftest fixtures, never in a test_*.py."""
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")]
    assert not offenders, offenders
