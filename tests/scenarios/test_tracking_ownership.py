"""One owner of MLflow (issue 12): only the tracker creates an MLflow client; lineage tags are defined once."""

import ast
import re
from pathlib import Path

import scenarios.tracking.lineage as lineage

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("scenarios", "sim", "calibration", "hydra_plugins")
OWNER = Path("scenarios/tracking/tracker.py")


def client_references(path: Path) -> list[str]:
    """Lines of *path* that import ``mlflow.tracking`` or name ``MlflowClient`` in code (not in text)."""
    text = path.read_text(encoding="utf-8")
    if "mlflow" not in text and "MlflowClient" not in text:  # no form below can occur: skip parsing the file
        return []
    tree = ast.parse(text, filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad = [a.name for a in node.names if a.name.startswith("mlflow.tracking")]
        elif isinstance(node, ast.ImportFrom):
            bad = ([node.module] if (node.module or "").startswith("mlflow.tracking") else []) + \
                  [a.name for a in node.names if a.name == "MlflowClient"]
        elif isinstance(node, ast.Name):
            bad = [node.id] if node.id == "MlflowClient" else []
        elif isinstance(node, ast.Attribute):
            bad = [node.attr] if node.attr == "MlflowClient" or (node.attr == "tracking" and _is_mlflow(node.value)) \
                else []
        else:
            bad = []
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        found += [f"{where}:{node.lineno}: {name}" for name in bad]
    return found


def _is_mlflow(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "mlflow"


def test_only_the_tracker_creates_an_mlflow_client():
    offenders = []
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT) != OWNER:
                offenders += client_references(path)
    assert not offenders, ("only scenarios/tracking/tracker.py may import mlflow.tracking or use MlflowClient; "
                           "take the client from the tracker (tracker.client): " + "; ".join(offenders))


def test_the_ownership_check_sees_every_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import mlflow.tracking\nfrom mlflow.tracking import MlflowClient\nfrom mlflow import MlflowClient\n"
                      "import mlflow\nc = mlflow.tracking.MlflowClient()\nd = mlflow.MlflowClient()\n"
                      "text = 'MlflowClient in a string is fine'\n", encoding="utf-8")
    lines = [int(hit.split(":")[1]) for hit in client_references(sample)]
    assert sorted(set(lines)) == [1, 2, 3, 5, 6]


def test_every_lineage_tag_has_one_name_and_one_row_in_the_table():
    names = {k: v for k, v in vars(lineage).items() if k.isupper() and isinstance(v, str)}
    assert len(set(names.values())) == len(names), "two constants with one tag name"
    assert set(lineage.ALL_TAGS) == set(names.values())
    rows = set(re.findall(r"^``([a-z0-9_.]+)``\s", lineage.__doc__, flags=re.M))
    assert rows == set(names.values()), (f"tags without a row: {set(names.values()) - rows}; rows without a "
                                         f"constant: {rows - set(names.values())}")


def test_tag_names_are_not_retyped_in_the_tracking_package():
    """The tracking package itself uses the constants (other packages: see the report of issue 12)."""
    retyped = []
    for path in sorted((ROOT / "scenarios" / "tracking").glob("*.py")):
        if path.name == "lineage.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in lineage.ALL_TAGS and node.value != "seed":
                retyped.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not retyped, retyped


def test_the_telemetry_content_hash_is_the_sha256_of_the_file_bytes(tmp_path):
    import hashlib

    from sim.telemetry.sources.csv_source import file_sha256

    path = tmp_path / "t.csv"
    path.write_bytes(b"time,x\n2026-01-01T00:00:00Z,1\n")
    assert lineage.content_hash(path) == lineage.content_hash(str(path)) == file_sha256(path) \
        == hashlib.sha256(path.read_bytes()).hexdigest()
