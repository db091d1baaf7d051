"""``report.md``: the report's summary in Markdown, for pasting into other documents.

Same content as the HTML (headline figures, budget, decision, recommendation, assumptions);
figures are referenced by their relative path in the run folder.
"""

from __future__ import annotations

import re

from .charts import Rendered, figure_file
from .content import Content, Table
from .executive import executive_markdown
from .i18n import Strings


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(tb: Table) -> list[str]:
    rows = ["| " + " | ".join(_esc(h) for h in tb.header) + " |",
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(tb.header))) + "|"]
    for row in tb.rows:
        rows.append("| " + " | ".join(_esc(getattr(c, "text", c)) for c in row) + " |")
    return ([f"*{_esc(tb.caption)}*", ""] if tb.caption else []) + rows + [""]


def _demote(md: str, levels: int = 2) -> str:
    """Move Markdown ATX headings down so they sit under this summary's own sections."""
    return re.sub(r"^(#{1,6})(\s)", lambda m: "#" * min(6, len(m.group(1)) + levels) + m.group(2), md, flags=re.M)


def render_markdown(c: Content, rendered: list[Rendered], t: Strings, period: str) -> str:
    out = [f"# {c.title}", "", c.subtitle, "", executive_markdown(c.executive, t), f"## {t('sec.headline')}", ""]
    out += md_table(c.headline)
    out += [n + "\n" for n in c.headline_notes]
    out += [f"## {t('sec.charts')}", ""]
    for r in rendered:
        out += [f"![{t(f'fig.{r.name}.title', period=period)}]({figure_file(r.name, t.lang, 'png')})", ""]
    if c.split:
        out += [f"## {t('sec.split')}", "", t("split.intro"), ""]
        for tb in c.split:
            out += md_table(tb)
    if c.frameworks is not None:
        out += [f"## {t('sec.frameworks')}", ""] + md_table(c.frameworks) + [t("fw.note"), ""]
    out += [f"## {t('sec.capacity')}", ""] + (md_table(c.capacity) if c.capacity is not None else [t("cap.none"), ""])
    out += [f"## {t('sec.table')}", ""] + md_table(c.monthly[0])
    out += [f"## {t('sec.decision')}", ""]
    if c.decision is not None:
        out += md_table(c.decision)
        if c.saving is not None:
            out += md_table(c.saving) + [t("split.embodied_note"), ""]
        out += md_table(c.ranking)
    out += [c.decision_note, ""]
    if c.recommendation_md.strip():
        out += [f"## {t('sec.recommendation')}", "", _demote(c.recommendation_md.strip()), ""]
    if c.managed:
        out += [f"## {c.managed_title}", ""] + [p + "\n" for p in c.managed]
    out += [f"## {t('sec.assumptions')}", ""] + md_table(c.assumptions)
    out += [f"## {t('sec.method')}", ""] + [p + "\n" for p in c.method]
    return "\n".join(out).rstrip() + "\n"
