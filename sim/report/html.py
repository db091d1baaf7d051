"""``report.html``: one self-contained file (inline CSS, images as data URIs, no script,
nothing fetched from the network) that can be mailed and opened in any browser."""

from __future__ import annotations

import base64
from importlib import metadata
from importlib.resources import files

import jinja2
from markdown_it import MarkdownIt
from markdown_it.token import Token

from .charts import Rendered, figure_file
from .content import Content
from .i18n import Strings

DECISION_CHARTS = ("decision", "smaa")
OWN_SECTION = ("capacity",)  # charts shown in their own section


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: files("sim.report").joinpath("data", name).read_text(encoding="utf-8")),
        autoescape=True, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True,
    )
    env.filters["repr"] = lambda v: repr(float(v))
    return env


def _unlink(children: list[Token]) -> list[Token]:
    """Inline tokens with links turned into ``text (address)`` and images into their alt text."""
    out: list[Token] = []
    href: list[str] = []
    for tok in children:
        if tok.type == "link_open":
            # an autolink's text already is its address
            href.append("" if tok.markup == "autolink" else str(tok.attrGet("href") or ""))
        elif tok.type == "link_close":
            address = href.pop() if href else ""
            if address:
                out.append(Token("text", "", 0, content=f" ({address})"))
        elif tok.type == "image":
            out.append(Token("text", "", 0, content=tok.content))
        else:
            out.append(tok)
    return out


def markdown_to_html(text: str) -> str:
    """Render Markdown with raw HTML escaped and nothing a browser would fetch.

    Links become their text followed by the address in plain text; images become their alt
    text. Headings move down two levels to sit under the report's own ``h2``.
    """
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            tok.tag = f"h{min(6, int(tok.tag[1]) + 2)}"
        if tok.children:
            tok.children = _unlink(tok.children)
    return md.renderer.render(tokens, md.options, {})


def _figure_view(r: Rendered, t: Strings, period: str) -> dict:
    return {"name": r.name, "b64": base64.b64encode(r.png).decode("ascii"), "file": f"{figure_file(r.name, t.lang, 'png')}, {figure_file(r.name, t.lang, 'svg')}",
            "alt": t(f"fig.{r.name}.alt"), "title": t(f"fig.{r.name}.title", period=period)}


def render_html(content: Content, rendered: list[Rendered], t: Strings, period: str) -> str:
    """The report as one HTML document."""
    views = [_figure_view(r, t, period) for r in rendered]
    try:
        version = metadata.version("carbonsim")
    except metadata.PackageNotFoundError:
        version = "?"
    return _env().get_template("report.html.j2").render(
        c=content, t=t, version=version,
        forecast_figures=[v for v in views if v["name"] not in DECISION_CHARTS + OWN_SECTION],
        capacity_figures=[v for v in views if v["name"] in OWN_SECTION],
        decision_figures=[v for v in views if v["name"] in DECISION_CHARTS],
        recommendation_html=markdown_to_html(content.recommendation_md) if content.recommendation_md.strip() else "",
    )
