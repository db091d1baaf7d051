"""The executive summary: what a reader gets in ten seconds (how much, what drives it, what
to do, how sure), in a few sentences.

Every number comes from the run's files; :class:`Executive` keeps each one's exact value
under a key beside the sentences, so that tests compare them with those files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.decide.criteria import CRITERIA
from sim.decide.recommendation import duration_unit

from .i18n import Strings
from .rundata import RunData
from .split import MARGINAL, PROVISIONED, monthly_split

#: A criterion counts as given up when the option is worse than the baseline by more than this share.
GIVE_UP_TOLERANCE = 0.01


@dataclass
class Executive:
    """Sentences of the summary and the exact value of each number they show."""

    sentences: list[str]
    values: dict[str, float] = field(default_factory=dict)


def share_text(t: Strings, share: float) -> str:
    """A share as a percentage, with one decimal under 1% and over 99%, so that a small share
    never reads 0% and a large one never 100%."""
    if 0 < share < 0.01 or 0.99 < share < 1:
        return t.pct(share, 1)
    return t.pct(share)


def pools_text(config: dict) -> str:
    """``1 x Standard_NC24ads_A100_v4`` for each pool of the resolved config."""
    return ", ".join(f"{p.get('instances', 1)} x {p.get('sku', '?')}" for p in (config.get("pools") or {}).values())


def recommended(run: RunData) -> str | None:
    """The option the methods agree on, else SMAA-2's best (robust to the weights); None without a decision."""
    if run.decision is None:
        return None
    best = run.decision.info.get("best") or {}
    if not best:
        return None
    values = list(best.values())
    return str(values[0]) if len(set(values)) == 1 else str(best.get("smaa", values[0]))


def criterion_label(t: Strings, name: str, fallback: str) -> str:
    crit = CRITERIA.get(name)
    if crit is None:
        return fallback
    return crit.label_fr if t.lang == "fr" else crit.label


def quantity_text(t: Strings, value: float, unit: str, seconds_unit: tuple[str, float]) -> str:
    """A criterion's value with its unit; durations in the page's unit, shares as percentages."""
    if unit == "s":
        name, per = seconds_unit
        return f"{t.num(value / per)} {name}"
    if unit == "share":
        return t.pct(value)
    return f"{t.num(value)} {unit}"


def page_seconds_unit(run: RunData) -> tuple[str, float]:
    """The one unit of every duration (latency) shown in the report, from the largest."""
    if run.decision is None:
        return duration_unit(float("nan"))
    m = run.decision.matrix
    secs = m.loc[m["unit"] == "s", "p50"].to_numpy(dtype=float)
    return duration_unit(float(np.nanmax(secs)) if secs.size and np.isfinite(secs).any() else float("nan"))


def gives_up(run: RunData, t: Strings, option: str) -> list[str]:
    """Criteria on which ``option``'s median is worse than the baseline's, worded with both values."""
    m = run.decision.matrix
    base = str(run.decision.info.get("baseline", "baseline"))
    cell = m.set_index(["option", "criterion"])
    unit = page_seconds_unit(run)
    out = []
    for crit in dict.fromkeys(m["criterion"]):
        if (option, crit) not in cell.index or (base, crit) not in cell.index:
            continue
        row, b = cell.loc[(option, crit)], float(cell.loc[(base, crit), "p50"])
        v = float(row["p50"])
        worse = v - b if row["direction"] == "cost" else b - v
        if worse > GIVE_UP_TOLERANCE * max(abs(b), 1e-12):
            out.append(t("ex.worse", criterion=criterion_label(t, crit, crit), value=quantity_text(t, v, row["unit"], unit),
                         base=quantity_text(t, b, row["unit"], unit)))
    return out


def _p_less(run: RunData, option: str) -> float | None:
    """Share of replications in which ``option`` emits less than the baseline over the horizon."""
    reps = run.decision.replications if run.decision is not None else None
    if reps is None:
        return None
    rows = reps[(reps["option"].astype(str) == option) & (reps["criterion"] == "carbon")]
    return float((rows["diff"] < 0).mean()) if len(rows) else None


def _saving_source(run: RunData, t: Strings, ex: Executive, option: str) -> None:
    """How much of ``option``'s saving is embodied emissions, when most of it is: booked over
    fewer provisioned hours, not less hardware made."""
    comp = run.decision.components
    if comp is None:
        return
    rows = comp[comp["option"].astype(str) == option].set_index("component")["diff_mean"]
    total = float(rows.sum())
    if total >= 0 or "embodied" not in rows.index:
        return
    share = float(rows["embodied"]) / total
    ex.values["reco.embodied_share"] = share
    if share >= 0.5:
        ex.sentences.append(t("ex.embodied", share=share_text(t, share)))


def _first_rank_share(run: RunData, option: str) -> float | None:
    sm = run.decision.smaa if run.decision is not None else None
    if sm is None:
        return None
    rows = sm[(sm["option"].astype(str) == option) & (sm["rank"] == 1)]
    return float(rows["acceptability"].iloc[0]) if len(rows) else None


def _forecast_sentences(run: RunData, t: Strings, ex: Executive) -> None:
    h, periods = run.headline, run.periods
    total = h["horizon_co2e_kg"]
    ex.values.update({"horizon.p50": total["p50"], "horizon.p5": total["p5"], "horizon.p95": total["p95"]})
    ex.sentences.append(t("ex.total", months=len(periods), start=periods[0], end=periods[-1], p50=t.num(total["p50"]),
                          p5=t.num(total["p5"]), p95=t.num(total["p95"])))
    share = h.get("component_share") or {}
    if share:
        prov = sum(share.get(c, 0.0) for c in PROVISIONED)
        active = sum(share.get(c, 0.0) for c in MARGINAL)
        ex.values.update({"share.provisioned": prov, "share.active": active})
        parts = ", ".join(f"{t.component(c)} {share_text(t, share.get(c, 0.0))}"
                          for c in sorted(PROVISIONED, key=lambda c: -share.get(c, 0.0)))
        ex.sentences.append(t("ex.driver", prov=share_text(t, prov), pools=pools_text(run.config), parts=parts,
                              active=share_text(t, active)))
    if {"component", "co2e_kg"} <= set(run.monthly.columns):
        split = monthly_split(run.monthly, run.files, int(h["replications"]), len(periods))
        avg = split[split["quantity"] == "average_g_per_file"].sort_values("month")["p50"].to_numpy()
        marg = split[split["quantity"] == "marginal_g_per_file"].sort_values("month")["p50"].to_numpy()
        if np.isfinite(avg[[0, -1]]).all():
            ex.values.update({"per_file.first": float(avg[0]), "per_file.last": float(avg[-1]),
                              "marginal_per_file.last": float(marg[-1])})
            ex.sentences.append(t("ex.per_file", first=t.num(avg[0]), last=t.num(avg[-1]), start=periods[0],
                                  end=periods[-1], marginal=t.num(marg[-1])))


def _decision_sentences(run: RunData, t: Strings, ex: Executive) -> None:
    opt = recommended(run)
    if opt is None:
        ex.sentences.append(t("ex.no_decision"))
        return
    info, m = run.decision.info, run.decision.matrix
    base = str(info.get("baseline", "baseline"))
    labels = (info.get(f"labels_{t.lang}") or info.get("labels") or {})
    if opt == base:
        ex.sentences.append(t("ex.keep"))
    else:
        carbon = m[m["criterion"] == "carbon"].set_index("option")
        saving = float(carbon.loc[base, "p50"] - carbon.loc[opt, "p50"]) if {base, opt} <= set(carbon.index) else float("nan")
        rel = saving / float(carbon.loc[base, "p50"]) if np.isfinite(saving) and carbon.loc[base, "p50"] else float("nan")
        ex.values.update({"reco.saving_kg": saving, "reco.saving_share": rel})
        ex.sentences.append(t("ex.reco", opt=opt, label=labels.get(opt, opt), saving=t.num(saving), pct=t.pct(rel)))
        _saving_source(run, t, ex, opt)
        p = _p_less(run, opt)
        if p is not None:
            ex.values["reco.p_less"] = p
            ex.sentences.append(t("ex.p_less", p=t.pct(p), words=t.likelihood(p)))
        lost = gives_up(run, t, opt)
        ex.sentences.append(t("ex.gives_up", items="; ".join(lost)) if lost else t("ex.gives_nothing"))
    b1 = _first_rank_share(run, opt)
    agree = len(set((info.get("best") or {}).values())) == 1
    if b1 is not None:
        ex.values["reco.smaa_first"] = b1
    key = "ex.agree" if agree else "ex.disagree"
    ex.sentences.append(t(key, b1=t.pct(b1) if b1 is not None else "–"))


def executive_summary(run: RunData, t: Strings) -> Executive:
    """The summary's sentences in ``t``'s language, with the values they show."""
    ex = Executive([])
    _forecast_sentences(run, t, ex)
    h = run.headline
    if h.get("budget_kg") is not None and h.get("p_exceed_budget") is not None:
        p = float(h["p_exceed_budget"])
        ex.values.update({"budget_kg": float(h["budget_kg"]), "p_exceed_budget": p})
        ex.sentences.append(t("ex.budget", budget=t.num(h["budget_kg"]), p=t.pct(p), words=t.likelihood(p)))
    _decision_sentences(run, t, ex)
    ex.values = {k: float(v) for k, v in ex.values.items() if v is not None and np.isfinite(v)}
    return ex


def executive_markdown(ex: Executive, t: Strings) -> str:
    """The summary as a Markdown section (for ``report.md`` and ``summary.md``)."""
    return f"## {t('sec.executive')}\n\n" + " ".join(ex.sentences) + "\n"


#: Marks around the executive summary in ``summary.md``, so that a rebuilt report replaces it.
MARK_OPEN, MARK_CLOSE = "<!-- executive-summary -->", "<!-- /executive-summary -->"


def with_executive(summary: str, ex: Executive, t: Strings) -> str:
    """``summary`` (the forecast's ``summary.md``) with this executive summary on top, in place
    of one written before."""
    if MARK_OPEN in summary and MARK_CLOSE in summary:
        summary = summary[summary.index(MARK_CLOSE) + len(MARK_CLOSE):].lstrip("\n")
    return f"{MARK_OPEN}\n{executive_markdown(ex, t)}{MARK_CLOSE}\n\n{summary}"

