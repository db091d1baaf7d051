"""Build the report of a run folder: ``report.html``, ``report.md`` and ``figures/``.

Only these are written, each atomically (temporary file, then rename): the run's data files
are read and never touched, so a report can be rebuilt at will, in either language.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .charts import render_all
from .content import build_content
from .html import render_html
from .i18n import Strings
from .markdown import render_markdown
from .rundata import RunFolderError, load_run

HTML, MARKDOWN, FIGURES = "report.html", "report.md", "figures"
REPORT_FILES = [HTML, MARKDOWN, FIGURES + "/"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _own_folder(folder: Path, name: str) -> Path:
    """``folder/name`` as a real folder inside ``folder`` (made if missing). A symbolic link
    there is refused: the report would write, and delete stale figures, wherever it points."""
    path = folder / name
    if path.is_symlink():
        raise RunFolderError(folder, [f"{name}/ is a symbolic link (to {os.readlink(path)})"],
                             f"remove the link: the report writes {name}/ only inside the run folder")
    if path.exists() and not path.is_dir():
        raise RunFolderError(folder, [f"{name} is a file, not a folder"], f"remove or rename {name}")
    path.mkdir(exist_ok=True)
    return path


def build_report(folder: Path | str, lang: str = "en", *, manifest: dict | None = None) -> Path:
    """Write the report of the run in ``folder`` in ``lang``; return the path of ``report.html``.

    Raises :class:`~sim.report.rundata.RunFolderError` for an interrupted or older run.
    ``manifest`` is for ``carbonsim run``, which builds the report before its manifest is written.
    """
    t = Strings(lang)
    run = load_run(folder, manifest=manifest)
    rendered = render_all(run, t)
    periods = run.periods
    period = t("period", start=periods[0], end=periods[-1])
    content = build_content(run, t, [(r.name, t(f"fig.{r.name}.title", period=period), t(f"fig.{r.name}.alt")) for r in rendered])
    html = render_html(content, rendered, t, period)
    md = render_markdown(content, rendered, t, period)
    figdir = _own_folder(run.folder, FIGURES)
    keep = set()
    for r in rendered:
        for ext, data in (("png", r.png), ("svg", r.svg)):
            atomic_write_bytes(figdir / f"{r.name}.{ext}", data)
            keep.add(f"{r.name}.{ext}")
    for stale in figdir.glob("*"):
        if stale.suffix in {".png", ".svg"} and stale.name not in keep and not stale.is_symlink() and stale.is_file():
            stale.unlink()
    atomic_write_bytes(run.folder / MARKDOWN, md.encode("utf-8"))
    atomic_write_bytes(run.folder / HTML, html.encode("utf-8"))
    return run.folder / HTML
