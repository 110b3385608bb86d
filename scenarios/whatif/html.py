"""The report's HTML twin: one self-contained file, next to ``report.md``.

The Markdown of :func:`scenarios.whatif.report.report_markdown` is rendered by markdown-it-py (CommonMark with
GitHub tables; installed with rich, a runtime dependency), with raw HTML in the text escaped rather than passed
through.  Every image the Markdown links to (``![caption](whatif.png)``, relative to the report's folder) is
inlined as a base64 ``data:`` URI, so the file opens anywhere, offline, and can be mailed on its own; an image
that is missing, or that points anywhere but the folder, is replaced by its caption and a note.  No script,
font or style sheet is fetched: the style is inline.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path, PurePosixPath

from sim.exceptions import ConfigurationError

__all__ = ["report_html", "write_html_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #1b1f24; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; }
th { background: #f6f8fa; } td { font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fbfcfd; }
pre { background: #f6f8fa; padding: .8rem; white-space: pre-wrap; font-size: .85rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
img { max-width: 100%; height: auto; display: block; margin: 1rem 0; }
.missing { color: #9a6700; font-style: italic; }
"""


def _local(src: str, folder: Path) -> Path | None:
    """The file *src* names inside *folder*, or None for a URL, an absolute path or a path out of the folder."""
    if not src or ":" in src.split("/", 1)[0] or src.startswith(("/", "\\", "//")):
        return None
    rel = PurePosixPath(src)
    if any(part == ".." for part in rel.parts):
        return None
    path = folder / Path(*rel.parts)
    return path if path.is_file() else None


def _renderer(folder: Path):
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules["image"]

    def image(renderer, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        path = _local(src, folder)
        if path is None:
            caption = html.escape(token.content or src)
            return (f'<span class="missing">[figure not included: {caption} ({html.escape(src)} is not a file '
                    f'in the report\'s folder)]</span>')
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        token.attrSet("src", f"data:{mime};base64,{data}")
        return default_image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    return md


def report_html(markdown_text: str, folder, *, title: str | None = None) -> str:
    """*markdown_text* (a report) as one self-contained HTML page: tables as HTML tables, the images it links to
    in *folder* inlined as ``data:`` URIs, no network resources.

    Parameters
    ----------
    markdown_text : str
        The report's Markdown (:func:`scenarios.whatif.report.report_markdown`).
    folder : str or Path
        The folder the Markdown's relative image links resolve in (the report's output folder).
    title : str, optional
        The page title; default: the first ``# heading`` of the text, else ``Twinbench report``.

    Returns
    -------
    str
        The HTML document.
    """
    if not isinstance(markdown_text, str):
        raise ConfigurationError(f"markdown_text must be the report's text (a str), got {type(markdown_text).__name__}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigurationError(f"report folder {str(folder)!r} does not exist; give the folder report.md and its "
                                 f"figures are written to")
    if title is None:
        first = next((line[2:].strip() for line in markdown_text.splitlines() if line.startswith("# ")), "")
        title = first or "Twinbench report"
    body = _renderer(folder).render(markdown_text)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def write_html_report(markdown_text: str, folder, *, name: str = "report.html") -> Path:
    """Write :func:`report_html` of *markdown_text* as *name* (``report.html``) into *folder*; returns its path."""
    path = Path(folder) / name
    path.write_text(report_html(markdown_text, folder), encoding="utf-8")
    return path
