"""report.html and report.md: every section in both languages, nothing fetched, the run's numbers."""

from __future__ import annotations

import base64
import json
import re
import shutil
import string
from html.parser import HTMLParser

import pandas as pd
import pytest

from sim.report import build_report
from sim.report.i18n import STRINGS, Strings

SECTIONS = ("executive-summary", "headline", "charts", "fixed-marginal", "frameworks", "capacity", "monthly-table", "decision", "recommendation", "assumptions", "method")
SECTION_KEYS = ("sec.executive", "sec.headline", "sec.charts", "sec.split", "sec.frameworks", "sec.capacity", "sec.table", "sec.decision", "sec.recommendation", "sec.assumptions", "sec.method")
FETCHING_ATTRS = {"src", "href", "srcset", "data", "poster", "action", "xlink:href", "background", "formaction"}


class Page(HTMLParser):
    """The parts of a report page that the tests look at."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.sections: list[str] = []
        self.h2: list[str] = []
        self.figures: dict[str, float] = {}
        self.shown: dict[str, str] = {}
        self.styles: list[str] = []
        self._in: str | None = None
        self._fig: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag in ("h2", "style"):
            self._in = tag
            if tag == "h2":
                self.h2.append("")
        if "data-figure" in a:
            self._fig = a["data-figure"]
            if "data-value" in a:
                self.figures[a["data-figure"]] = float(a["data-value"])

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None
        if tag == "td":
            self._fig = None

    def handle_data(self, data):
        if self._in == "h2":
            self.h2[-1] += data
        elif self._in == "style":
            self.styles.append(data)
        if self._fig:
            self.shown[self._fig] = self.shown.get(self._fig, "") + data


@pytest.fixture(scope="module")
def pages(built_reports) -> dict[str, Page]:
    return {lang: Page(p.read_text(encoding="utf-8")) for lang, p in built_reports.items()}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_section_in_each_language(pages, built_reports, lang):
    page = pages[lang]
    assert page.sections == list(SECTIONS)
    assert page.h2 == [STRINGS[lang][k] for k in SECTION_KEYS]
    assert ("html", {"lang": lang}) in page.tags
    text = built_reports[lang].read_text(encoding="utf-8")
    for key in ("method.p1", "method.p2", "method.p3", "method.p4", "method.p5"):
        assert Page(STRINGS[lang][key]).tags == []  # plain text
        assert STRINGS[lang][key].replace("'", "&#39;") in text


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_nothing_is_fetched_from_the_network(pages, built_reports, lang):
    page = pages[lang]
    assert not [t for t, _ in page.tags if t in {"script", "link", "iframe", "object", "embed", "base"}]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in FETCHING_ATTRS:
                assert value.startswith("data:") or value.startswith("#"), (tag, name, value[:80])
    css = "".join(page.styles)
    assert "url(" not in css and "@import" not in css
    # the recommendation's Markdown link and image became plain text
    text = built_reports[lang].read_text(encoding="utf-8")
    if lang == "en":
        assert "the source (https://example.org/a)" in text and "<a " not in text and "a chart" in text


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_images_are_embedded_figures(pages, built_reports, lang):
    folder = built_reports[lang].parent
    imgs = [a for t, a in pages[lang].tags if t == "img"]
    pngs = sorted(folder.glob("figures/*.png"))
    assert len(imgs) == len(pngs) == 10 and len(list(folder.glob("figures/*.svg"))) == 10
    embedded = {base64.b64decode(a["src"].removeprefix("data:image/png;base64,")) for a in imgs}
    assert embedded == {p.read_bytes() for p in pngs}
    assert all(a.get("alt") for a in imgs)


def _last(bands: pd.DataFrame, metric: str) -> pd.Series:
    b = bands[(bands["metric"] == metric) & (bands["group_by"] == "total")]
    return b[b["month"] == b["month"].max()].iloc[0]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_headline_figures_equal_the_run_files(pages, decided_run, lang):
    fig, shown = pages[lang].figures, pages[lang].shown
    t = Strings(lang)
    bands = pd.read_csv(decided_run / "bands.csv")
    head = json.loads((decided_run / "headline.json").read_text())
    horizon, month = _last(bands, "co2e_kg_cumulative"), _last(bands, "co2e_kg")
    for q in ("p50", "p90"):
        assert fig[f"horizon_co2e_kg.{q}"] == horizon[q]
        assert fig[f"horizon_co2e_kg.{q}"] == pytest.approx(head["horizon_co2e_kg"][q], rel=1e-12)
        assert fig[f"final_month_co2e_kg.{q}"] == month[q]
        assert fig[f"final_year_co2e_kg.{q}"] == head["final_year_co2e_kg"][q]
        assert fig[f"sci.file.{q}"] == head["co2e_g_per_file"][q]
        for unit in ("audio_minute", "article", "response"):
            assert fig[f"sci.{unit}.{q}"] > 0
    assert shown["horizon_co2e_kg.p50"] == t.num(horizon["p50"])
    tot = bands[(bands["metric"] == "co2e_kg") & (bands["group_by"] == "total")]
    for _, r in tot.iterrows():
        assert fig[f"month.{r['month']}.p50"] == r["p50"] and fig[f"month.{r['month']}.p90"] == r["p90"]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_decision_figures_equal_decision_and_ranking_csv(pages, decided_run, lang):
    fig = pages[lang].figures
    dec = pd.read_csv(decided_run / "decision.csv")
    for _, r in dec.iterrows():
        assert fig[f"decision.{r['option']}.{r['criterion']}.p50"] == r["p50"]
        assert fig[f"decision.{r['option']}.p_exceed_budget"] == r["p_exceed_budget"]
    for _, r in pd.read_csv(decided_run / "ranking.csv").iterrows():
        assert fig[f"rank.{r['method']}.{r['option']}"] == r["rank"]


def test_recommendation_in_the_report_language(built_reports):
    assert "Garder <strong>opt-a</strong>" in built_reports["fr"].read_text(encoding="utf-8")
    assert "Keep <strong>opt-a</strong>" in built_reports["en"].read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", ["fr"])  # English: see test_cli's rebuild of the same run
def test_forecast_only_run_says_options_were_not_evaluated(forecast_run, tmp_path, lang):
    folder = tmp_path / "run"
    shutil.copytree(forecast_run, folder)
    page = Page(build_report(folder, lang).read_text(encoding="utf-8"))
    assert page.sections == list(SECTIONS)
    text = (folder / f"report.{lang}.html").read_text(encoding="utf-8")
    assert not (folder / "report.html").exists()  # the French report sits beside an English one, never in its place
    assert STRINGS[lang]["dec.none"].replace("'", "&#39;") in text
    assert not any(k.startswith("decision.") for k in page.figures)
    assert sorted(p.name for p in (folder / "figures").glob("*.png")) == [
        f"{n}.{lang}.png" for n in ("capacity", "components", "cumulative", "fan", "files", "intensity", "stacked", "tornado")]
    md = (folder / f"report.{lang}.md").read_text(encoding="utf-8")
    assert STRINGS[lang]["dec.none"] in md


def test_markdown_summary_carries_the_headline_and_figure_paths(built_reports, decided_run):
    for lang, html_path in built_reports.items():
        md = html_path.with_suffix(".md").read_text(encoding="utf-8")
        t = Strings(lang)
        horizon = _last(pd.read_csv(decided_run / "bands.csv"), "co2e_kg_cumulative")
        assert f"| {t('hl.horizon')} | {t.num(horizon['p50'])} | {t.num(horizon['p90'])} |" in md
        for path in re.findall(r"\]\((figures/[\w.]+)\)", md):
            assert (html_path.parent / path).is_file()
        assert md.count("](figures/") == 10


def test_both_languages_have_the_same_strings_and_placeholders():
    assert STRINGS["en"].keys() == STRINGS["fr"].keys()
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
    for key, en in STRINGS["en"].items():
        assert fields(en) == fields(STRINGS["fr"][key]), key


def test_number_formats():
    assert Strings("en").num(12345.678) == "12,346"
    assert Strings("fr").num(12345.678) == "12\u202f346"
    assert Strings("fr").num(2.4214) == "2,42"
    assert Strings("en").num(0.0) == "0"
    assert Strings("fr").pct(0.1) == "10\u202f%"
    assert Strings("en").likelihood(0.95) == "very likely" and Strings("fr").likelihood(0.05) == "très improbable"
    with pytest.raises(ValueError):
        Strings("de")
