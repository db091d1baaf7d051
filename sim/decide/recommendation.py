"""The plain-language recommendation (English and French), with calibrated wording.

Probabilities are worded on the IPCC scale: "virtually certain" >= 99%, "very likely"
>= 90%, "likely" >= 66%, "about as likely as not" >= 33%, "unlikely" >= 10%, "very
unlikely" >= 1%, below that "exceptionally unlikely". Every figure comes from the decision
result; the text only chooses words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .criteria import CRITERIA
from .options import BASELINE

if TYPE_CHECKING:
    from .decision import DecisionResult

_SCALE = (
    (0.99, "virtually certain", "pratiquement certain"),
    (0.90, "very likely", "très probable"),
    (0.66, "likely", "probable"),
    (0.33, "about as likely as not", "à peu près aussi probable qu'improbable"),
    (0.10, "unlikely", "improbable"),
    (0.01, "very unlikely", "très improbable"),
    (0.0, "exceptionally unlikely", "exceptionnellement improbable"),
)

_T = {
    "en": {
        "title": "# Decision: which options to adopt",
        "setup": "{n} options compared with the scenario as it is (`baseline`), on the same {r} Monte Carlo replications "
                 "(common random numbers: each difference is measured replication by replication).",
        "baseline": "Baseline: emissions over the horizon P50 {p50:,.0f} kgCO2e (P95 {p95:,.0f}).",
        "budget": "Exceeding the carbon budget of {b:,.0f} kgCO2e is {word} for the baseline ({p:.0%} of replications); "
                  "options above {t:.0%} are infeasible.",
        "reco": "## Recommendation",
        "method": {"weighted_sum": "Weighted sum", "topsis": "TOPSIS", "smaa": "SMAA-2"},
        "best": "- {method}: **{opt}** ({label}){extra}.",
        "smaa_extra": ", ranked first in {b:.0%} of the draws of outcomes and weights (± {se:.1%}), confidence factor {c:.0%}",
        "agree": "The three methods agree: **{opt}**.",
        "disagree": "The methods do not agree; the choice depends on how much weight each criterion gets (see the SMAA-2 "
                    "acceptabilities below).",
        "none_feasible": "No option is feasible (see the budget, the service levels and the infeasible options below): each "
                         "method's best option is shown regardless, and a stronger change than those listed is needed.",
        "keep": "Keeping the scenario as it is ranks best.",
        "tradeoffs": "## What the top options give up and gain (against the baseline)",
        "emissions": "- emissions over the horizon: {d:+,.0f} kgCO2e (± {se:,.0f}, mean difference and its standard error); "
                     "that it emits less than the baseline is {word} ({p:.0%} of replications)",
        "coverage": "- coverage of the requested work: {c:.0%} (baseline {b:.0%})",
        "latency": "- P95 file latency in the final year: {c} (baseline {b})",
        "cost": "- cost over the horizon (VMs and managed endpoints): {c:,.0f} USD (baseline {b:,.0f})",
        "headroom": "- capacity headroom at the horizon: {c:.0%} (baseline {b:.0%})",
        "infeasible": "## Infeasible options",
        "infeasible_row": "- **{opt}** ({label}): exceeding the budget is {word} ({p:.0%}).",
        "levels": "Service levels: {levels}; options that break one in more than {t:.0%} of replications (final year) "
                  "are infeasible.",
        "level_row": "- **{opt}** ({label}): breaks the {level} level of {limit} in {p:.0%} of replications in the final year "
                     "({pa:.0%} in some month); its median is {value}, {ratio:,.1f}x the level.",
        "level_names": {"p95_file_latency_s": "P95 file latency", "max_utilisation": "pool utilisation"},
        "content_names": {"audio": "audio files", "video": "video files", "text": "text articles"},
        "notes": "## Notes",
        "double": "- {a} and {b} double count (Spearman rho of their medians across options {rho}): together they "
                  "weigh {w:.0%}, more than either weight says.",
        "crn": "- Common random numbers cut the variance of the emission differences to a median {ratio:.1%} of what "
               "independent runs would give.",
        "smaa_note": "- SMAA-2 draws the weights {how}; acceptability = share of draws in which an option has a rank.",
        "uniform": "uniformly over all weightings",
        "intervals": "within ± {hw:.0%} of the given weights",
        "weights": "- Weights: {w}.",
    },
    "fr": {
        "title": "# Décision : quelles options retenir",
        "setup": "{n} options comparées au scénario tel quel (`baseline`), sur les mêmes {r} réplications Monte Carlo "
                 "(nombres aléatoires communs : chaque écart est mesuré réplication par réplication).",
        "baseline": "Référence : émissions sur l'horizon P50 {p50:,.0f} kgCO2e (P95 {p95:,.0f}).",
        "budget": "Le dépassement du budget carbone de {b:,.0f} kgCO2e est {word} pour la référence ({p:.0%} des "
                  "réplications) ; les options au-delà de {t:.0%} sont écartées.",
        "reco": "## Recommandation",
        "method": {"weighted_sum": "Somme pondérée", "topsis": "TOPSIS", "smaa": "SMAA-2"},
        "best": "- {method} : **{opt}** ({label}){extra}.",
        "smaa_extra": ", classée première dans {b:.0%} des tirages des résultats et des poids (± {se:.1%}), facteur de confiance {c:.0%}",
        "agree": "Les trois méthodes concordent : **{opt}**.",
        "disagree": "Les méthodes ne concordent pas ; le choix dépend du poids donné à chaque critère (voir les "
                    "acceptabilités SMAA-2 ci-dessous).",
        "none_feasible": "Aucune option n'est réalisable (voir le budget, les niveaux de service et les options écartées "
                         "ci-dessous) : la meilleure option de chaque méthode est indiquée malgré tout, et il faut un "
                         "changement plus fort que ceux proposés.",
        "keep": "Garder le scénario tel quel arrive en tête.",
        "tradeoffs": "## Ce que les options en tête sacrifient et apportent (par rapport à la référence)",
        "emissions": "- émissions sur l'horizon : {d:+,.0f} kgCO2e (± {se:,.0f}, écart moyen et son erreur type) ; "
                     "qu'elle émette moins que la référence est {word} ({p:.0%} des réplications)",
        "coverage": "- couverture du travail demandé : {c:.0%} (référence {b:.0%})",
        "latency": "- latence P95 par fichier, dernière année : {c} (référence {b})",
        "cost": "- coût sur l'horizon (VM et points d'accès gérés) : {c:,.0f} USD (référence {b:,.0f})",
        "headroom": "- marge de capacité à l'horizon : {c:.0%} (référence {b:.0%})",
        "infeasible": "## Options écartées",
        "infeasible_row": "- **{opt}** ({label}) : le dépassement du budget est {word} ({p:.0%}).",
        "levels": "Niveaux de service : {levels} ; les options qui en franchissent un dans plus de {t:.0%} des réplications "
                  "(dernière année) sont écartées.",
        "level_row": "- **{opt}** ({label}) : franchit le niveau de {level} de {limit} dans {p:.0%} des réplications la "
                     "dernière année ({pa:.0%} sur au moins un mois) ; sa médiane est {value}, {ratio:,.1f} fois le niveau.",
        "level_names": {"p95_file_latency_s": "latence P95 par fichier", "max_utilisation": "utilisation des pools"},
        "content_names": {"audio": "fichiers audio", "video": "fichiers vidéo", "text": "articles"},
        "notes": "## Remarques",
        "double": "- {a} et {b} comptent deux fois le même effet (rho de Spearman de leurs médianes entre options {rho}) : "
                  "ensemble elles pèsent {w:.0%}, plus que chaque poids ne le dit.",
        "crn": "- Les nombres aléatoires communs réduisent la variance des écarts d'émissions à {ratio:.1%} (médiane) de "
               "celle de tirages indépendants.",
        "smaa_note": "- SMAA-2 tire les poids {how} ; acceptabilité = part des tirages où une option occupe un rang.",
        "uniform": "uniformément sur toutes les pondérations",
        "intervals": "à ± {hw:.0%} des poids donnés",
        "weights": "- Poids : {w}.",
    },
}


def likelihood(p: float, lang: str = "en") -> str:
    """Calibrated word for probability ``p`` (IPCC scale)."""
    for floor, en, fr in _SCALE:
        if p >= floor - 1e-12:
            return en if lang == "en" else fr
    return _SCALE[-1][1] if lang == "en" else _SCALE[-1][2]


#: Units of a duration: (name, seconds), the largest first.
DURATION_UNITS = (("h", 3600.0), ("min", 60.0), ("s", 1.0))


def duration_unit(largest_s: float) -> tuple[str, float]:
    """One unit for every duration shown together, chosen from the largest (seconds):
    hours from 2 h, minutes from 2 min, else seconds. Returns (unit, seconds per unit)."""
    if not np.isfinite(largest_s) or largest_s < 120:
        return DURATION_UNITS[2]
    return DURATION_UNITS[0] if largest_s >= 7200 else DURATION_UNITS[1]


def _duration(s: float, lang: str, unit: tuple[str, float] | None = None) -> str:
    """``s`` seconds in ``unit`` (default: chosen from ``s`` itself)."""
    if not np.isfinite(s):
        return "-"
    name, per = unit or duration_unit(s)
    return f"{s / per:,.1f} {name}" if name == "h" else f"{s / per:,.0f} {name}"


def _level(name: str, value: float, lang: str) -> str:
    """A service level's value as people read it: a duration, or a share."""
    return _duration(value, lang) if name.startswith("p95_file_latency_s") else f"{value:.0%}"


def _level_name(name: str, t: dict) -> str:
    """A level's name as people read it; a content type's latency level names its files."""
    base, _, content = name.partition(".")
    return t["level_names"][base] + (f" ({t['content_names'][content]})" if content else "")


def recommendation_markdown(d: "DecisionResult", lang: str = "en") -> str:
    t = _T[lang]
    fr = lang == "fr"

    def num(template: str, **kw) -> str:
        s = template.format(**kw)
        if not fr:
            return s
        # Only numbers change: swap separators inside digit groups.
        out, prev_digit = [], False
        for i, ch in enumerate(s):
            nxt = s[i + 1] if i + 1 < len(s) else ""
            if ch == "," and prev_digit and nxt.isdigit():
                out.append("\u202f")
            elif ch == "." and prev_digit and nxt.isdigit():
                out.append(",")
            else:
                out.append(ch)
            prev_digit = ch.isdigit()
        return "".join(out)

    labels = d.labels[lang]
    jc, jcov, jperf, jcost, jhead = (d.index(c) for c in ("carbon", "coverage", "performance", "cost", "scalability"))
    p50 = np.percentile(d.values, 50, axis=2)
    p95 = np.percentile(d.values, 95, axis=2)
    lines = [t["title"], "", num(t["setup"], n=len(d.options) - 1, r=d.replications), "",
             num(t["baseline"], p50=p50[0, jc], p95=p95[0, jc])]
    if d.budget_kg is not None:
        p = float(d.p_exceed[0])
        lines.append(num(t["budget"], b=d.budget_kg, word=likelihood(p, lang), p=p, t=d.threshold))
    if d.levels is not None:
        said = ", ".join(f"{_level_name(k, t)} {_level(k, lim, lang)}" for k, lim in zip(d.levels.names, d.levels.limits))
        lines.append(num(t["levels"], levels=said, t=d.levels.threshold))
    lines += ["", t["reco"], ""]
    best = {m: d.best(m) for m in ("weighted_sum", "topsis", "smaa")}
    for m, opt in best.items():
        extra = ""
        if m == "smaa":
            i = d.options.index(opt)
            extra = num(t["smaa_extra"], b=d.smaa.acceptability[i, 0], se=d.smaa.acceptability_se[i, 0], c=d.smaa.confidence[i])
        lines.append(t["best"].format(method=t["method"][m], opt=opt, label=labels[opt], extra=extra))
    lines.append("")
    if not d.feasible.any():
        lines += [num(t["none_feasible"], t=d.threshold or 0.0), ""]
    if len(set(best.values())) == 1:
        lines.append(t["agree"].format(opt=next(iter(best.values()))))
        if next(iter(best.values())) == BASELINE:
            lines.append(t["keep"])
    else:
        lines.append(t["disagree"])
    tops = [o for o in dict.fromkeys(best.values()) if o != BASELINE]
    if tops:
        lines += ["", t["tradeoffs"]]
        diffs = d.diffs()
        se = d.diff_se()
        # one unit for every latency, chosen from all options' (as the report's decision matrix does)
        unit = duration_unit(float(np.nanmax(p50[:, jperf])))
        for opt in tops:
            i = d.options.index(opt)
            less = float(np.mean(diffs[i, jc] < 0))
            lines += ["", f"**{opt}** ({labels[opt]})", "",
                      num(t["emissions"], d=diffs[i, jc].mean(), se=se[i, jc], word=likelihood(less, lang), p=less),
                      num(t["coverage"], c=p50[i, jcov], b=p50[0, jcov]),
                      num(t["latency"], c=_duration(p50[i, jperf], lang, unit), b=_duration(p50[0, jperf], lang, unit)),
                      num(t["cost"], c=p50[i, jcost], b=p50[0, jcost]),
                      num(t["headroom"], c=p50[i, jhead], b=p50[0, jhead])]
    infeasible = [i for i in range(len(d.options)) if not d.feasible[i]]
    if infeasible:
        lines += ["", t["infeasible"], ""]
        for i in infeasible:
            p = float(d.p_exceed[i])
            opt = d.options[i]
            if d.threshold is not None and p > d.threshold + 1e-12:
                lines.append(num(t["infeasible_row"], opt=opt, label=labels[opt], word=likelihood(p, lang), p=p))
            for k in d.levels.broken(i) if d.levels is not None else []:
                name, lim, value = d.levels.names[k], float(d.levels.limits[k]), float(d.levels.p50[i, k])
                lines.append(num(t["level_row"], opt=opt, label=labels[opt], level=_level_name(name, t), limit=_level(name, lim, lang),
                                 p=float(d.levels.p_break[i, k]), pa=float(d.levels.p_break_any[i, k]),
                                 value=_level(name, value, lang), ratio=value / lim))
    lines += ["", t["notes"], ""]
    crit_label = {c: (CRITERIA[c].label_fr if fr else CRITERIA[c].label) for c in d.criteria}
    seen = set()
    for a in d.ranked:
        for b in d.double_counts[a]:
            if b in d.ranked and (b, a) not in seen:
                seen.add((a, b))
                w = d.weights[d.index(a)] + d.weights[d.index(b)]
                rho = d.correlation[a][b]
                lines.append(num(t["double"], a=crit_label[a], b=crit_label[b], rho="-" if rho is None else f"{rho:.2f}", w=w))
    ratio = d.crn_variance_ratio()[1:, jc]
    ratio = ratio[np.isfinite(ratio)]
    if len(ratio):
        lines.append(num(t["crn"], ratio=float(np.median(ratio))))
    how = t["uniform"] if d.smaa_weights == "uniform" else num(t["intervals"], hw=d.smaa_half_width)
    lines.append(t["smaa_note"].format(how=how))
    weights = ", ".join(num("{c} {w:.0%}", c=crit_label[c], w=d.weights[d.index(c)]) for c in d.ranked)
    lines.append(t["weights"].format(w=weights))
    return "\n".join(lines) + "\n"
