"""Build the report of a run folder: ``report.html``, ``report.md`` and ``figures/``
(``report.fr.html``, ``report.fr.md`` and ``figures/*.fr.*`` in French), the exports
``emissions.csv``, ``marginal.csv`` and ``forecast.xlsx``; in a run, the executive summary on top of ``summary.md``.

Only these are written, each atomically (temporary file, then rename): the run's data files
are read and never touched, so a report can be rebuilt at will, in either language.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .charts import figure_file, render_all
from .content import build_content
from .executive import with_executive
from .exports import EMISSIONS_CSV, WORKBOOK, emissions_wide, workbook_bytes
from .html import render_html
from .i18n import Strings
from .marginal import MARGINAL_CSV, marginal_table
from .markdown import render_markdown
from .rundata import RunFolderError, load_run

HTML, MARKDOWN, FIGURES, SUMMARY = "report.html", "report.md", "figures", "summary.md"
REPORT_FILES = [HTML, MARKDOWN, FIGURES + "/"]


def report_names(lang: str) -> tuple[str, str]:
    """(HTML, Markdown) file names in ``lang``: English plain, others with the language
    before the suffix (``report.fr.html``), so that languages sit side by side."""
    if lang == "en":
        return HTML, MARKDOWN
    return HTML.replace(".", f".{lang}."), MARKDOWN.replace(".", f".{lang}.")


def report_files(lang: str) -> list[str]:
    """What :func:`build_report` writes in ``lang``, as listed in the manifest."""
    return [*report_names(lang), EMISSIONS_CSV, MARGINAL_CSV, WORKBOOK, FIGURES + "/"]


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


def build_report(folder: Path | str, lang: str = "en", *, manifest: dict | None = None, summary: bool = False) -> Path:
    """Write the report of the run in ``folder`` in ``lang``; return the path of its HTML file
    (``report.html`` in English, ``report.fr.html`` in French: see :func:`report_names`).

    With ``summary`` (``carbonsim run``), ``summary.md`` gets the executive summary on top of
    the forecast's summary; a rebuild leaves it as the run wrote it.

    Raises :class:`~sim.report.rundata.RunFolderError` for an interrupted or older run.
    ``manifest`` is for ``carbonsim run``, which builds the report before its manifest is written.
    """
    t = Strings(lang)
    run = load_run(folder, manifest=manifest)
    rendered = render_all(run, t)
    periods = run.periods
    period = t("period", start=periods[0], end=periods[-1])
    # marginal emissions per month and group: a file of the run folder and a table of the report
    marginal = marginal_table(run.monthly, run.files, int(run.headline["replications"]), periods) \
        if "component" in run.monthly.columns else None
    content = build_content(run, t, [(r.name, t(f"fig.{r.name}.title", period=period), t(f"fig.{r.name}.alt")) for r in rendered],
                            marginal)
    html = render_html(content, rendered, t, period)
    md = render_markdown(content, rendered, t, period)
    figdir = _own_folder(run.folder, FIGURES)
    keep = set()
    for r in rendered:
        for ext, data in (("png", r.png), ("svg", r.svg)):
            rel = figure_file(r.name, lang, ext)
            atomic_write_bytes(run.folder / rel, data)
            keep.add(Path(rel).name)
    # charts of this language that the run no longer has (another language's are kept)
    for stale in figdir.glob("*"):
        ours = stale.name.count(".") == 1 if lang == "en" else stale.name.endswith((f".{lang}.png", f".{lang}.svg"))
        if stale.suffix in {".png", ".svg"} and ours and stale.name not in keep and not stale.is_symlink() and stale.is_file():
            stale.unlink()
    html_name, md_name = report_names(lang)
    forecast_summary = run.folder / SUMMARY
    if summary and forecast_summary.is_file():
        text = with_executive(forecast_summary.read_text(encoding="utf-8"), content.executive, t)
        atomic_write_bytes(forecast_summary, text.encode("utf-8"))
    wide = emissions_wide(run)
    atomic_write_bytes(run.folder / EMISSIONS_CSV, wide.to_csv(index=False).encode("utf-8"))
    if marginal is not None:
        atomic_write_bytes(run.folder / MARGINAL_CSV, marginal.to_csv(index=False).encode("utf-8"))
    atomic_write_bytes(run.folder / WORKBOOK, workbook_bytes(run, wide, marginal))
    atomic_write_bytes(run.folder / md_name, md.encode("utf-8"))
    atomic_write_bytes(run.folder / html_name, html.encode("utf-8"))
    return run.folder / html_name
