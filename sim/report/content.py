"""What the report says, in one language, independent of its format (HTML or Markdown).

Every number shown keeps its exact value beside its formatted text (``Cell.value``) so that
the HTML carries it in a ``data-value`` attribute and tests can compare it with the run's
files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .decision_charts import shown_values
from .executive import Executive, executive_summary, page_seconds_unit
from .figures import market_totals, quantiles, sci_per_unit
from .i18n import Strings
from .managed import managed_section
from .rundata import RunData

METHOD_ORDER = ("weighted_sum", "topsis", "smaa")


@dataclass(frozen=True)
class Cell:
    """A number as shown (``text``) and as computed (``value``); ``key`` names it for tests."""

    text: str
    value: float | None = None
    key: str | None = None


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell | str]]
    caption: str = ""


@dataclass
class Content:
    """The report, section by section."""

    lang: str
    title: str
    subtitle: str
    headline: Table
    headline_notes: list[str]
    monthly: list[Table]
    decision: Table | None
    ranking: Table | None
    decision_note: str
    recommendation_md: str
    assumptions: Table
    method: list[str]
    figures: list[tuple[str, str, str]] = field(default_factory=list)  # (name, title, alt)
    executive: Executive = field(default_factory=lambda: Executive([]))
    split: list[Table] = field(default_factory=list)  # fixed versus marginal: monthly, then by grouping
    saving: Table | None = None  # each option's difference to the baseline by component
    frameworks: Table | None = None  # GHG Protocol, ESRS E1-6, SCI
    capacity: Table | None = None  # per month and pool, from capacity.csv
    managed_title: str = ""
    managed: list[str] = field(default_factory=list)  # paragraphs (sim.report.managed); none without managed options


def _cell(t: Strings, value: float | None, key: str | None = None, digits: int | None = None) -> Cell:
    v = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return Cell(t.num(v, digits), v, key)


def _final(run: RunData, metric: str) -> pd.Series:
    b = run.band(metric)
    return b[b["month"] == b["month"].max()].iloc[0]


def capacity_notes(capacity: dict, t: Strings) -> list[str]:
    """Per pool (headline.json's ``capacity``): when it first gets 80% busy, what its final
    month needs with autoscaling, and a saturating pool said in plain words with its fix."""
    notes = []
    for pool, e in capacity.items():
        m = e["first_busy_month"]
        if m["p10"] is None:
            notes.append(t("hl.cap_calm", pool=pool))
        else:
            notes.append(t("hl.cap_busy", pool=pool, **{k: v or t("hl.cap_never") for k, v in m.items()}))
        if e["policy"] == "autoscale":
            i = e["final_instances"]
            notes.append(t("hl.cap_autoscale", pool=pool, p50=t.num(i["p50"], 2), p90=t.num(i["p90"], 2)))
        elif e["saturates"]:
            notes.append(t("hl.cap_saturates", pool=pool, u=t.pct(e["final_utilisation"]["p50"]), n=e["instances_needed"]))
    return notes


def headline_table(run: RunData, t: Strings) -> tuple[Table, list[str]]:
    """Headline figures: emissions over the horizon, final year and month, SCI per unit."""
    h = run.headline
    n = int(h["replications"])
    horizon, last = _final(run, "co2e_kg_cumulative"), _final(run, "co2e_kg")
    rows: list[list[Cell | str]] = [
        [t("hl.horizon"), _cell(t, horizon["p50"], "horizon_co2e_kg.p50"), _cell(t, horizon["p90"], "horizon_co2e_kg.p90")],
        [t("hl.final_year"), _cell(t, h["final_year_co2e_kg"]["p50"], "final_year_co2e_kg.p50"),
         _cell(t, h["final_year_co2e_kg"]["p90"], "final_year_co2e_kg.p90")],
        [t("hl.final_month", period=str(last["period"])), _cell(t, last["p50"], "final_month_co2e_kg.p50"),
         _cell(t, last["p90"], "final_month_co2e_kg.p90")],
    ]
    market = market_totals(run.monthly, n)
    if market is not None:
        rows.append([t("hl.market"), _cell(t, market["p50"], "market_co2e_kg.p50"), _cell(t, market["p90"], "market_co2e_kg.p90")])
    rows.append([t("hl.per_file"), _cell(t, h["co2e_g_per_file"]["p50"], "sci.file.p50"),
                 _cell(t, h["co2e_g_per_file"]["p90"], "sci.file.p90")])
    for fu in sci_per_unit(run.monthly, run.files, run.config, n):
        rows.append([t(f"hl.per_{fu.key}"), _cell(t, fu.g_per_unit["p50"], f"sci.{fu.key}.p50"),
                     _cell(t, fu.g_per_unit["p90"], f"sci.{fu.key}.p90")])
    notes = []
    budget, p = h.get("budget_kg"), h.get("p_exceed_budget")
    if budget is not None and p is not None:
        notes.append(t("hl.budget", budget=t.num(budget), p=t.pct(p), words=t.likelihood(p)))
        thr = ((run.config.get("carbon") or {}).get("budget") or {}).get("exceed_threshold")
        if thr is not None:
            notes.append(t("hl.budget_risk_over" if p > thr else "hl.budget_risk_ok", thr=t.pct(thr)))
    else:
        notes.append(t("hl.no_budget"))
    shares = h.get("component_share") or {}
    if shares:
        ordered = sorted(shares.items(), key=lambda kv: -kv[1])
        notes.append(t("hl.components", shares=", ".join(f"{t.component(k)} {t.pct(v)}" for k, v in ordered),
                       top=t.component(ordered[0][0])))
    notes += capacity_notes(h.get("capacity") or {}, t)
    return Table([t("hl.figure"), "P50", "P90"], rows), notes


def monthly_tables(run: RunData, t: Strings) -> list[Table]:
    """P50 and P90 by month: total, cumulative, files; then by service and by language."""
    tot, cum, files = run.band("co2e_kg"), run.band("co2e_kg_cumulative"), run.band("files_served")
    rows = []
    for (_, a), (_, c), (_, f) in zip(tot.iterrows(), cum.iterrows(), files.iterrows()):
        m = int(a["month"])
        rows.append([str(a["period"]), _cell(t, a["p50"], f"month.{m}.p50"), _cell(t, a["p90"], f"month.{m}.p90"),
                     _cell(t, c["p50"], f"cumulative.{m}.p50"), _cell(t, c["p90"], f"cumulative.{m}.p90"),
                     _cell(t, f["p50"], f"files.{m}.p50", 0)])
    out = [Table([t("tbl.month"), f"{t('tbl.monthly')} P50", f"{t('tbl.monthly')} P90", f"{t('tbl.cumulative')} P50",
                  f"{t('tbl.cumulative')} P90", f"{t('tbl.files')} P50"], rows)]
    for by in ("service", "language"):
        b = run.band("co2e_kg", by)
        groups = [g for g in dict.fromkeys(b["group"]) if (b.loc[b["group"] == g, "p90"].abs() > 0).any()]
        wide = b.set_index(["month", "group"])
        rows = []
        for m, period in enumerate(run.periods):
            row: list[Cell | str] = [period]
            for g in groups:
                r = wide.loc[(m, g)]
                row.append(Cell(f"{t.num(r['p50'])} / {t.num(r['p90'])}", float(r["p50"]), f"{by}.{g}.{m}.p50"))
            rows.append(row)
        out.append(Table([t("tbl.month")] + [t.group(by, g) for g in groups], rows, t(f"tbl.by_{by}")))
    return out


def smaa_mean_rank(smaa: pd.DataFrame) -> pd.DataFrame:
    """SMAA-2 ranks from the rank acceptabilities: the expected rank (sum of rank x its
    acceptability), ties broken by the first-rank acceptability. ``ranking.csv`` ranks by
    the first-rank acceptability alone, which ties every option never ranked first.

    Columns: ``option, mean_rank, first, rank`` (1 = best).
    """
    sm = smaa.assign(option=smaa["option"].astype(str), w=smaa["rank"] * smaa["acceptability"])
    tab = sm.groupby("option", sort=False).agg(mean_rank=("w", lambda s: s.sum(min_count=1)))  # NaN: not ranked
    tab["first"] = sm[sm["rank"] == 1].set_index("option")["acceptability"].reindex(tab.index).fillna(0.0)
    tab = tab.sort_values(["mean_rank", "first"], ascending=[True, False])
    tab["rank"] = np.arange(1, len(tab) + 1)
    return tab.reset_index()


def decision_tables(run: RunData, t: Strings) -> tuple[Table | None, Table | None, str]:
    """The decision matrix (P50 per option and criterion) and the ranks per method."""
    if run.decision is None:
        return None, None, t("dec.none")
    m = run.decision.matrix.copy()
    m["shown"], m["shown_unit"] = shown_values(m, page_seconds_unit(run))
    info = run.decision.info
    crits = list(dict.fromkeys(m["criterion"]))
    first = m.drop_duplicates("criterion").set_index("criterion")
    opts = list(dict.fromkeys([str(o) for o in info.get("options", []) if str(o) in set(m["option"])] + list(m["option"])))
    cell = m.set_index(["option", "criterion"])
    # Option labels per language (`labels_fr`); without them another language shows the names alone.
    labels = (info.get(f"labels_{t.lang}") or (info.get("labels") if t.lang == "en" else None)) or {}
    rows = []
    for o in opts:
        feasible = bool(str(cell.loc[(o, crits[0]), "feasible"]).lower() in {"true", "1", "1.0"})
        name = o if feasible else f"{o} ({t('dec.infeasible')})"
        row: list[Cell | str] = [f"{name} – {labels[o]}" if labels.get(o) and labels[o] != o else name]
        # the budget's probability first, where it cannot scroll out of sight
        pe = float(cell.loc[(o, crits[0]), "p_exceed_budget"]) if "p_exceed_budget" in cell.columns else float("nan")
        row.append(Cell(t.pct(pe) if math.isfinite(pe) else "–", pe if math.isfinite(pe) else None, f"decision.{o}.p_exceed_budget"))
        for c in crits:
            if (o, c) in cell.index:
                # the text in the page's unit; the value as in decision.csv
                row.append(Cell(t.num(float(cell.loc[(o, c), "shown"])), float(cell.loc[(o, c), "p50"]), f"decision.{o}.{c}.p50"))
            else:
                row.append("–")
        rows.append(row)
    header = [t("dec.option"), t("dec.p_exceed")] + [f"{c} ({first.loc[c, 'shown_unit']}) [{t.num(float(first.loc[c, 'weight']), 2)}]"
                                                     for c in crits]
    matrix = Table(header, rows, t("dec.matrix"))
    rk = run.decision.ranking
    methods = [mt for mt in METHOD_ORDER if mt in set(rk["method"])] + [mt for mt in dict.fromkeys(rk["method"]) if mt not in METHOD_ORDER]
    by = rk.set_index(["method", "option"])
    smaa = smaa_mean_rank(run.decision.smaa).set_index("option") if run.decision.smaa is not None else None

    def rank_cell(mt: str, o: str) -> Cell | str:
        if (mt, o) in by.index:
            return Cell(str(int(by.loc[(mt, o), "rank"])), float(by.loc[(mt, o), "rank"]), f"rank.{mt}.{o}")
        return "–"

    def mean_rank_cell(o: str) -> Cell | str:
        if o not in smaa.index:
            return "–"
        r = smaa.loc[o]
        return Cell(t("dec.smaa_rank", rank=int(r["rank"]), mean=t.num(float(r["mean_rank"]), 1), first=t.pct(float(r["first"]))),
                    float(r["rank"]), f"rank.smaa_mean.{o}")

    header = [t("dec.option")] + [t("dec.smaa_first") if mt == "smaa" and smaa is not None else _method(t, mt) for mt in methods]
    rank_rows = [[o] + [rank_cell(mt, o) for mt in methods] for o in opts]
    if smaa is not None:
        header.append(t("dec.smaa_mean"))
        for row, o in zip(rank_rows, opts):
            row.append(mean_rank_cell(o))
    ranking = Table(header, rank_rows, t("dec.ranking") + (" " + t("dec.smaa_how") if smaa is not None else ""))
    best = {mt: str(rk[(rk["method"] == mt)].sort_values("rank").iloc[0]["option"]) for mt in methods}
    listing = ", ".join(f"{_method(t, mt)} → {o}" for mt, o in best.items())
    note = t("dec.agree", best=next(iter(best.values()))) if len(set(best.values())) == 1 else t("dec.disagree", best=listing)
    return matrix, ranking, " ".join([note] + baseline_note(run, t))


def baseline_note(run: RunData, t: Strings) -> list[str]:
    """Why the decision's baseline may differ from the headline: it is measured on the
    replications the options share (common random numbers), fewer than the forecast's."""
    n_forecast = int(run.headline.get("replications", 0))
    n_decision = int(run.decision.info.get("replications", n_forecast) or n_forecast)
    if n_decision >= n_forecast:
        return []
    m = run.decision.matrix
    base = str(run.decision.info.get("baseline", "baseline"))
    rows = m[(m["option"].astype(str) == base) & (m["criterion"] == "carbon")]
    if rows.empty:
        return []
    return [t("dec.baseline_note", n=n_decision, total=n_forecast, dec=t.num(float(rows["p50"].iloc[0])),
              head=t.num(float(run.headline["horizon_co2e_kg"]["p50"])))]


def _method(t: Strings, method: str) -> str:
    return t(f"dec.method.{method}") if t.has(f"dec.method.{method}") else method


def recommendation(run: RunData, t: Strings) -> str:
    if run.decision is None:
        return ""
    rec = run.decision.recommendation
    return rec.get(t.lang) or rec.get("en") or next(iter(rec.values()), "")


def _drawn(run: RunData, t: Strings, col: str, digits: int | None = None) -> str | None:
    if col not in run.replications.columns:
        return None
    q = quantiles(run.replications[col].to_numpy(dtype=float))
    return t("as.drawn", p5=t.num(q["p5"], digits), p50=t.num(q["p50"], digits), p95=t.num(q["p95"], digits))


def region_source(run: RunData, what: str = "region") -> str | None:
    """Where the region's grid intensity (``region``) or PUE (``pue``) comes from, as the run's
    manifest records it; the PUE falls back to the region's source in older runs."""
    sources = run.manifest.get("carbon_sources") or {}
    recorded = sources.get(what) or sources.get("region")
    return str(recorded) if recorded else None


def assumptions_table(run: RunData, t: Strings) -> Table:
    """Priors or calibration with provenance, grid and PUE with sources, market basis, pools."""
    man, cfg = run.manifest, run.config
    cal = man.get("calibration") or {}
    carbon = cfg.get("carbon") or {}
    rows: list[list[Cell | str]] = []
    if cal:
        rows.append([t("as.calibration"), t("as.calibration_value", name=cal.get("name", "?"), method=cal.get("method", "?"),
                                              date=cal.get("date") or "–", samples=cal.get("samples", "–")),
                     str(cal.get("path", ""))])
        for model, src in (cal.get("models") or {}).items():
            rows.append([t("as.model", model=model), "", str(src)])
    hourly = (man.get("carbon_sources") or {}).get("grid_profile")
    if hourly:
        rows.append([t("as.grid_profile"), t("as.grid_profile_value"), str(hourly)])
    for key, col, digits, field_, what in (("as.grid", "grid_g_per_kwh", 1, "grid_intensity_g_per_kwh", "region"),
                                           ("as.pue", "pue", 3, "pue", "pue")):
        if hourly and key == "as.grid":
            continue  # the profile sets the intensity: the yearly figure drawn is not used
        drawn = _drawn(run, t, col, digits)
        src = region_source(run, what) or t("as.region_unknown")
        if drawn:
            # A value set in the scenario overrides the region's.
            rows.append([t(key), drawn, f"config.resolved.yaml (carbon.{field_})" if carbon.get(field_) is not None else src])
    for key, col, digits in (("as.trend", "grid_trend_per_year", 3), ("as.growth", "growth_rate", 3)):
        drawn = _drawn(run, t, col, digits)
        if drawn:
            rows.append([t(key), drawn, "config.resolved.yaml"])
    market = carbon.get("market_intensity_g_per_kwh")
    rows.append([t("as.market"), _drawn(run, t, "market_g_per_kwh") or (str(market) if market is not None else t("as.market_none")),
                 "config.resolved.yaml" if market is not None else ""])
    rows.append([t("as.embodied"), t("as.embodied_on") if carbon.get("embodied", True) else t("as.embodied_off"), "config.resolved.yaml"])
    for name, pool in (cfg.get("pools") or {}).items():
        prov = pool.get("provisioning") or {}
        policy = prov.get("policy", "?")
        if policy == "autoscale":
            policy += f" {prov.get('min_instances')}-{prov.get('max_instances')}"
        if policy == "scheduled" and prov.get("hours"):
            policy += f" {prov['hours'][0]}-{prov['hours'][1]} h" + (" Mon-Fri" if prov.get("weekdays_only") else "")
        rows.append([t("as.pools", pool=name), t("as.pools_value", instances=pool.get("instances", 1), sku=pool.get("sku", "?"),
                                                  slots=pool.get("slots_per_gpu", 1), policy=policy), "config.resolved.yaml"])
    rows.append([t("as.engine"), t("as.engine_value", engine=man.get("engine", "?"), seed=man.get("seed", cfg.get("seed", "?")),
                                    n=run.headline.get("replications"), version=(man.get("packages") or {}).get("carbonsim", "?")),
                 "manifest.json"])
    return Table([t("as.item"), t("as.value"), t("as.source")], rows)


def build_content(run: RunData, t: Strings, figures: list[tuple[str, str, str]],
                  marginal: pd.DataFrame | None = None) -> Content:
    periods = run.periods
    cfg = run.config
    head, notes = headline_table(run, t)
    matrix, ranking, note = decision_tables(run, t)
    managed_title, managed = managed_section(run, t.lang)
    method = [t("method.p1"), t("method.p2"), t("method.p3"), t("method.p4"), t("method.p5"), t("method.probability")]
    return Content(
        lang=t.lang,
        title=t("title", name=cfg.get("name", "?")),
        subtitle=t("subtitle", months=len(periods), start=periods[0], end=periods[-1], region=cfg.get("region", "?"),
                   n=run.headline.get("replications"), run=run.folder.name.removeprefix(".").removesuffix(".partial")),
        headline=head, headline_notes=notes, monthly=monthly_tables(run, t), decision=matrix, ranking=ranking,
        decision_note=note, recommendation_md=recommendation(run, t), assumptions=assumptions_table(run, t),
        method=method, figures=figures, executive=executive_summary(run, t), **split_parts(run, t, marginal),
        capacity=capacity_part(run, t),
        managed_title=managed_title, managed=managed,
    )


def capacity_part(run: RunData, t: Strings) -> Table | None:
    from .capacity import capacity_table  # it builds on this module's records

    return capacity_table(run, t)


def split_parts(run: RunData, t: Strings, marginal: pd.DataFrame | None = None) -> dict:
    """The fixed-versus-marginal tables, when the run's monthly table has its components
    (``marginal``: ``marginal.csv``'s table when it has been computed already)."""
    # these build on this module's records
    from .frameworks import frameworks_table
    from .split_content import allocation_tables, marginal_by_group_table, saving_table, split_monthly_table

    if "component" not in run.monthly.columns:
        return {}
    split = [split_monthly_table(run, t), marginal_by_group_table(run, t, marginal)] + allocation_tables(run, t)
    return {"split": split, "saving": saving_table(run, t),
            "frameworks": frameworks_table(run, t)}


