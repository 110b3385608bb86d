"""The documentation site builds with warnings as errors, and every command the docs mark runnable runs.

A runnable command is a ```bash block preceded by the line ``<!-- test -->`` (or ``<!-- test: requires X, Y -->``,
X and Y being programs or Python modules the block needs; without them the page is skipped, saying which) in
README.md or docs/**/*.md.  The
blocks of one page run in order, in one test, from the project folder (later blocks use the files earlier ones
wrote; scratch files go to ``outputs/``, which git ignores), with the project's environment first on PATH, as a
reader who activated it would run them.  A ```text block preceded by ``<!-- output -->`` right after a runnable
block is what the page says the command prints: each of its lines must appear in the output (whitespace ignored,
so a table or a line wrapped by the terminal still matches).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
TEST_MARK = "<!-- test -->"
_TEST_LINE = re.compile(r"<!-- test(?::\s*requires\s+(?P<requires>[^>]*?))?\s*-->")
OUTPUT_MARK = "<!-- output -->"
BLOCK_TIMEOUT_S = 600


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    expected: list[str] = field(default_factory=list)
    requires: tuple[str, ...] = ()


def _fenced(lines: list[str], start: int) -> tuple[str, str, int]:
    """The info string and body of the fenced block opening at *start*, and the index after its closing fence."""
    opening = lines[start].strip()
    fence = re.match(r"`{3,}", opening).group(0)
    info = opening[len(fence):].strip()
    body = []
    i = start + 1
    while i < len(lines) and not lines[i].strip().startswith(fence):
        body.append(lines[i])
        i += 1
    if i == len(lines):
        raise AssertionError(f"{lines[start]!r} opened at line {start + 1} is never closed")
    return info, "\n".join(body), i + 1


def _next_nonblank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def runnable_blocks(page: Path) -> list[Block]:
    """The blocks of *page* marked runnable, in page order, with the output the page shows for them."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        marker = _TEST_LINE.fullmatch(lines[i].strip())
        if marker is None:
            i += 1
            continue
        j = _next_nonblank(lines, i + 1)
        where = f"{page.relative_to(ROOT)}:{i + 1}"
        if j == len(lines) or not lines[j].strip().startswith("```"):
            raise AssertionError(f"{where}: {TEST_MARK} must be followed by a ```bash block")
        info, code, after = _fenced(lines, j)
        if info != "bash":
            raise AssertionError(f"{where}: {TEST_MARK} marks a ```{info} block; only ```bash blocks are run")
        requires = tuple(r.strip() for r in (marker["requires"] or "").split(",") if r.strip())
        block = Block(page, j + 1, code, requires=requires)
        k = _next_nonblank(lines, after)
        if k < len(lines) and lines[k].strip() == OUTPUT_MARK:
            m = _next_nonblank(lines, k + 1)
            _, shown, after = _fenced(lines, m)
            block.expected = [line for line in shown.splitlines() if line.strip()]
        blocks.append(block)
        i = after
    return blocks


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


RUNNABLE = [(page, blocks) for page in PAGES if (blocks := runnable_blocks(page))]


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    return [p for item in nav for p in _nav_pages(item)]


def _mkdocs_config() -> dict:
    # mkdocs.yml may use !!python tags in other projects; ours is plain YAML
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------------- fast
def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    nav = _nav_pages(_mkdocs_config()["nav"])
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert not sorted(set(nav) - pages), f"nav entries without a page: {sorted(set(nav) - pages)}"
    missing = sorted(pages - set(nav))
    assert not missing, f"pages not in the nav of mkdocs.yml (add them, or the strict build fails): {missing}"


def test_the_docs_mark_runnable_commands_on_every_tutorial():
    tutorials = sorted((DOCS / "tutorials").glob("*.md"))
    assert tutorials
    without = [p.name for p in tutorials if not runnable_blocks(p)]
    assert not without, f"tutorials without a runnable (<!-- test -->) command: {without}"


def test_output_blocks_follow_a_runnable_command():
    """An <!-- output --> block that no test compares would silently go stale."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        compared = sum(1 for b in runnable_blocks(page) if b.expected)
        assert text.count(OUTPUT_MARK) == compared, f"{page.relative_to(ROOT)}: an {OUTPUT_MARK} block does not " \
                                                     f"directly follow a {TEST_MARK} ```bash block"


def test_notebooks_find_the_config_through_the_package_and_show_figures_inline():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        source = path.read_text(encoding="utf-8")
        assert "../conf" not in source, f"{path.name} reads ../conf: find conf/ through the installed package"
        assert "cwd().parent" not in source, f"{path.name} depends on the folder it is started in"
        assert "matplotlib.use(" not in source, f"{path.name} switches the backend: figures must show inline"


# ------------------------------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    """``mkdocs build --strict`` (as ``make docs``): broken links, unknown pages and docstring warnings fail."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True,
                          timeout=300)
    warnings = [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert done.returncode == 0 and not warnings, "\n".join(warnings) or done.stderr[-3000:]
    assert (tmp_path / "site" / "tutorials" / "first-twin" / "index.html").exists()


def _available(name: str) -> bool:
    """A program on PATH (or in /usr/sbin, where Debian puts mosquitto) or an importable Python module."""
    return bool(shutil.which(name) or Path("/usr/sbin", name).exists() or importlib.util.find_spec(name))


@pytest.mark.slow
@pytest.mark.parametrize("page,blocks", RUNNABLE, ids=[p.relative_to(ROOT).as_posix() for p, _ in RUNNABLE])
def test_the_commands_of_a_page_run(page, blocks):
    missing = sorted({r for b in blocks for r in b.requires if not _available(r)})
    if missing:
        pytest.skip(f"{page.relative_to(ROOT)} needs {missing}: pip install -e '.[notebooks]' / apt-get install ...")
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", ""), "/usr/sbin"]),
           "COLUMNS": "160"}
    for block in blocks:
        where = f"{page.relative_to(ROOT)}:{block.line}"
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{where} exited with {done.returncode}:\n{block.code}\n---\n{output[-4000:]}"
        printed = _squash(output)
        stale = [line for line in block.expected if _squash(line) not in printed]
        assert not stale, f"{where}: the page shows lines the command no longer prints:\n" + "\n".join(stale) + \
                          f"\n--- it printed:\n{output[-4000:]}"
