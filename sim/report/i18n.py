"""Words and number formats of the report, in English and French.

Every string the report or its charts show comes from :data:`STRINGS`; both languages have
the same keys (tested). Numbers follow each language's conventions (``1,234.5`` and
``1 234,5``).
"""

from __future__ import annotations

import math

LANGS = ("en", "fr")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Carbon footprint forecast: {name}",
        "subtitle": "{months} months from {start} to {end}, Azure region {region}, {n} Monte Carlo replications, generated from run {run}.",
        # sections
        "sec.headline": "Headline figures",
        "sec.charts": "Forecast",
        "sec.table": "Emissions by month (P50 and P90)",
        "sec.decision": "Options evaluated",
        "sec.recommendation": "Recommendation",
        "sec.assumptions": "Assumptions",
        "sec.method": "Method",
        # headline
        "hl.figure": "Figure",
        "hl.horizon": "Emissions over the horizon (kgCO₂e)",
        "hl.final_year": "Emissions in the final 12 months (kgCO₂e)",
        "hl.final_month": "Monthly emissions in the final month, {period} (kgCO₂e)",
        "hl.market": "Emissions over the horizon, market-based (kgCO₂e)",
        "hl.per_file": "SCI per file served (gCO₂e/file)",
        "hl.per_audio_minute": "SCI per audio-minute transcribed (gCO₂e/min)",
        "hl.per_article": "SCI per article translated (gCO₂e/article)",
        "hl.per_response": "SCI per generated response (gCO₂e/response)",
        "hl.budget": "Over the horizon the emissions budget is {budget} kgCO₂e. The probability of exceeding it is {p} ({words}).",
        "hl.budget_risk_over": "This is above the tolerated risk of {thr}.",
        "hl.budget_risk_ok": "This is within the tolerated risk of {thr}.",
        "hl.no_budget": "No carbon budget is configured.",
        "hl.components": "Share of emissions by component over the horizon: {shares}. {top} dominates.",
        "hl.cap_busy": "Pool {pool} first passes 80% utilisation in {p10} (P10), {p50} (P50), {p90} (P90).",
        "hl.cap_calm": "Pool {pool} stays below 80% utilisation over the whole horizon in 90% of replications.",
        "hl.cap_never": "not within the horizon",
        "hl.cap_autoscale": "With autoscaling, pool {pool} needs {p50} instances on average in the final month (P90 {p90}).",
        "hl.cap_saturates": "Pool {pool} cannot keep up: in the final month its GPUs would be busy {u} of the time, and queues "
                            "grow without end. Fix: autoscale it, give it {n} instances, or cap the volume.",
        # likelihood words (IPCC calibrated language)
        "ipcc.virtually_certain": "virtually certain",
        "ipcc.very_likely": "very likely",
        "ipcc.likely": "likely",
        "ipcc.about_as_likely": "about as likely as not",
        "ipcc.unlikely": "unlikely",
        "ipcc.very_unlikely": "very unlikely",
        "ipcc.exceptionally_unlikely": "exceptionally unlikely",
        # table
        "tbl.show": "Show the table",
        "tbl.month": "Month",
        "tbl.monthly": "Monthly (kgCO₂e)",
        "tbl.cumulative": "Cumulative (kgCO₂e)",
        "tbl.files": "Files served",
        "tbl.by_service": "By service, monthly kgCO₂e (P50 / P90)",
        "tbl.by_language": "By language, monthly kgCO₂e (P50 / P90)",
        # decision
        "dec.none": "The options were not evaluated in this run (forecast only). Run `carbonsim run` to evaluate them.",
        "dec.matrix": "Decision matrix: median (P50) of each criterion; colour = normalised score, 1 = best. Weights in brackets.",
        "dec.option": "Option",
        "dec.infeasible": "infeasible",
        "dec.ranking": "Rank by method",
        "dec.method.weighted_sum": "Weighted sum",
        "dec.method.topsis": "TOPSIS",
        "dec.method.smaa": "SMAA-2",
        "dec.agree": "The methods agree on the best option: {best}.",
        "dec.disagree": "The methods do not agree on the best option: {best}.",
        "dec.p_exceed": "P(exceed budget)",
        "rec.none": "No recommendation was written for this run.",
        # assumptions
        "as.item": "Item",
        "as.value": "Value",
        "as.source": "Source",
        "as.calibration": "Calibration profile",
        "as.calibration_value": "{name} (method {method}, {date}, {samples} samples)",
        "as.model": "Model {model}",
        "as.grid": "Grid intensity, location-based (gCO₂e/kWh)",
        "as.trend": "Grid intensity trend (per year)",
        "as.pue": "PUE",
        "as.growth": "Volume growth (per month)",
        "as.market": "Market-based factor",
        "as.market_none": "not configured: figures are location-based only",
        "as.embodied": "Embodied emissions",
        "as.embodied_on": "included (amortised over provisioned time)",
        "as.embodied_off": "not included",
        "as.drawn": "drawn per replication: P5 {p5}, P50 {p50}, P95 {p95}",
        "as.region": "Region {region}",
        "as.region_unknown": "region catalogue not found; values above are those drawn in the run",
        "as.pools": "Pool {pool}",
        "as.pools_value": "{instances} x {sku}, {slots} slot(s) per GPU, {policy}",
        "as.engine": "Simulation",
        "as.engine_value": "engine {engine}, seed {seed}, {n} replications, carbonsim {version}",
        # method
        "method.p1": "Each replication draws the uncertain inputs once (growth of the volume, energy coefficients of each model, idle and host power, PUE, grid intensity and its trend, embodied emissions), then simulates every file and job of the horizon in a discrete-event model of the GPU pools (queues, model loading and keep-alive, provisioning schedule). The bands are quantiles over the replications: P50 is the median, P5-P95 holds 90% of the outcomes.",
        "method.p2": "Energy is accounted per pool: the idle power of GPUs and host over all provisioned time, plus each job's energy above idle, times the PUE, times the location-based grid intensity of the month. Embodied emissions of the hardware are amortised over the provisioned time (the M term of the Green Software Foundation's SCI, ISO/IEC 21031). Idle, host and embodied emissions are allocated to services, languages and content types in proportion to their busy time, so the parts add up to the total.",
        "method.p3": "SCI per functional unit divides all emissions allocated to the services of a task by their work: audio minutes transcribed, articles (text files) translated, responses generated. The ratio is taken per replication, then summarised.",
        "method.p4": "The tornado chart is a variance-based sensitivity analysis over the Monte Carlo draws: a linear model of horizon emissions on every input drawn per replication is fitted by least squares; each bar is an input's slope applied between its P10 and its P90, and the percentage beside its name is its share of the variance (squared standardised regression coefficient). It needs more replications than drawn inputs.",
        "method.p5": "The options are overlays on the scenario, simulated with the same random numbers as the baseline (common random numbers), so their differences are due to the option, not to chance. They are ranked by weighted sum, TOPSIS and SMAA-2 (rank acceptability under uncertainty of outcomes and weights), with criteria normalised on fixed bounds across options and draws.",
        "method.probability": "Probabilities are worded after the IPCC's calibrated language: likely means at least 66%, very likely at least 90%.",
        # charts
        "period": "{start} to {end}",
        "fig.fan.title": "Monthly emissions (kgCO₂e), {period}",
        "fig.fan.alt": "Fan chart of monthly emissions with P5-P95 and P25-P75 bands and the median.",
        "fig.cumulative.title": "Cumulative emissions (kgCO₂e) and probability of exceeding the budget, {period}",
        "fig.cumulative.alt": "Cumulative emissions with bands, the budget line and the probability of exceeding it by month.",
        "fig.cumulative.note": "P(exceed budget) over the horizon: {p} ({words})",
        "fig.stacked.title": "Median monthly emissions by service and by language (kgCO₂e), {period}",
        "fig.stacked.alt": "Stacked medians of monthly emissions by service and by language.",
        "fig.components.title": "Energy and emissions by component, {period}",
        "fig.components.alt": "Median facility energy by component per month, and each component's share of emissions.",
        "fig.files.title": "Files served per month by language, {period}",
        "fig.files.alt": "Files served per month by language, median with P5-P95 band.",
        "fig.decision.title": "Decision matrix: P50 of each criterion, coloured by normalised score",
        "fig.decision.alt": "Heat table of options against criteria.",
        "fig.smaa.title": "SMAA-2 rank acceptability of each option (% of draws)",
        "fig.smaa.alt": "Stacked bars of the share of draws in which each option takes each rank.",
        "fig.tornado.title": "Inputs that drive emissions over the horizon (kgCO₂e), {period}",
        "fig.tornado.alt": "Tornado chart: swing in horizon emissions when each input moves from its P10 to its P90, with its share of the variance.",
        "fig.tornado.none": "Too few replications to estimate the drivers (more replications than drawn inputs are needed).",
        "ax.kg_month": "kgCO₂e per month",
        "ax.kg": "kgCO₂e",
        "ax.kwh_month": "facility kWh per month (median)",
        "ax.share": "share of emissions",
        "ax.files_month": "files per month",
        "ax.p_exceed": "P(cumulative > budget)",
        "ax.acceptability": "share of draws",
        "ax.swing": "change in horizon emissions vs the median {centre} kgCO₂e",
        "leg.p5_p95": "P5-P95",
        "leg.p25_p75": "P25-P75",
        "leg.median": "median (P50)",
        "leg.budget_month": "budget spread evenly ({v} kgCO₂e/month)",
        "leg.budget": "budget ({v} kgCO₂e)",
        "leg.p_exceed": "P(exceed budget)",
        "leg.requested": "requested, all languages (median)",
        "leg.low": "input at its P10",
        "leg.high": "input at its P90",
        "leg.rank": "rank {r}",
        "sub.service": "by service",
        "sub.language": "by language",
        "sub.energy": "energy per month (median)",
        "sub.share": "emissions over the horizon",
        "sub.files_bands": "lines: median (P50); shaded: P5-P95",
        "component.active": "active (jobs)",
        "component.idle": "idle GPU",
        "component.host": "host (CPU, memory)",
        "component.embodied": "embodied",
        "unused": "(unused capacity)",
        "lang.fr": "French",
        "lang.en": "English",
        "lang.es": "Spanish",
        "lang.ar": "Arabic",
        "lang.de": "German",
        "lang.it": "Italian",
        "lang.pt": "Portuguese",
    },
    "fr": {
        "title": "Prévision de l'empreinte carbone : {name}",
        "subtitle": "{months} mois de {start} à {end}, région Azure {region}, {n} réplications Monte-Carlo, produit à partir du run {run}.",
        "sec.headline": "Chiffres clés",
        "sec.charts": "Prévision",
        "sec.table": "Émissions par mois (P50 et P90)",
        "sec.decision": "Options évaluées",
        "sec.recommendation": "Recommandation",
        "sec.assumptions": "Hypothèses",
        "sec.method": "Méthode",
        "hl.figure": "Indicateur",
        "hl.horizon": "Émissions sur l'horizon (kgCO₂e)",
        "hl.final_year": "Émissions des 12 derniers mois (kgCO₂e)",
        "hl.final_month": "Émissions mensuelles du dernier mois, {period} (kgCO₂e)",
        "hl.market": "Émissions sur l'horizon, méthode fondée sur le marché (kgCO₂e)",
        "hl.per_file": "SCI par fichier servi (gCO₂e/fichier)",
        "hl.per_audio_minute": "SCI par minute d'audio transcrite (gCO₂e/min)",
        "hl.per_article": "SCI par article traduit (gCO₂e/article)",
        "hl.per_response": "SCI par réponse générée (gCO₂e/réponse)",
        "hl.budget": "Le budget d'émissions sur l'horizon est de {budget} kgCO₂e. La probabilité de le dépasser est de {p} ({words}).",
        "hl.budget_risk_over": "C'est au-dessus du risque toléré de {thr}.",
        "hl.budget_risk_ok": "C'est dans la limite du risque toléré de {thr}.",
        "hl.no_budget": "Aucun budget carbone n'est configuré.",
        "hl.components": "Part des émissions par composante sur l'horizon : {shares}. La composante « {top} » domine.",
        "hl.cap_busy": "Le pool {pool} dépasse 80 % d'utilisation pour la première fois en {p10} (P10), {p50} (P50), {p90} (P90).",
        "hl.cap_calm": "Le pool {pool} reste sous 80 % d'utilisation sur tout l'horizon dans 90 % des réplications.",
        "hl.cap_never": "pas avant la fin de l'horizon",
        "hl.cap_autoscale": "Avec la mise à l'échelle automatique, le pool {pool} demande {p50} instances en moyenne le dernier "
                            "mois (P90 {p90}).",
        "hl.cap_saturates": "Le pool {pool} ne suit pas : le dernier mois, ses GPU seraient occupés {u} du temps et les files "
                            "d'attente grandissent sans fin. Solutions : la mise à l'échelle automatique, {n} instances, ou "
                            "un plafond de volume.",
        "ipcc.virtually_certain": "pratiquement certain",
        "ipcc.very_likely": "très probable",
        "ipcc.likely": "probable",
        "ipcc.about_as_likely": "à peu près aussi probable qu'improbable",
        "ipcc.unlikely": "improbable",
        "ipcc.very_unlikely": "très improbable",
        "ipcc.exceptionally_unlikely": "exceptionnellement improbable",
        "tbl.show": "Afficher le tableau",
        "tbl.month": "Mois",
        "tbl.monthly": "Mensuel (kgCO₂e)",
        "tbl.cumulative": "Cumulé (kgCO₂e)",
        "tbl.files": "Fichiers servis",
        "tbl.by_service": "Par service, kgCO₂e mensuels (P50 / P90)",
        "tbl.by_language": "Par langue, kgCO₂e mensuels (P50 / P90)",
        "dec.none": "Les options n'ont pas été évaluées dans ce run (prévision seule). Lancez `carbonsim run` pour les évaluer.",
        "dec.matrix": "Matrice de décision : médiane (P50) de chaque critère ; couleur = score normalisé, 1 = meilleur. Poids entre crochets.",
        "dec.option": "Option",
        "dec.infeasible": "non réalisable",
        "dec.ranking": "Rang selon la méthode",
        "dec.method.weighted_sum": "Somme pondérée",
        "dec.method.topsis": "TOPSIS",
        "dec.method.smaa": "SMAA-2",
        "dec.agree": "Les méthodes s'accordent sur la meilleure option : {best}.",
        "dec.disagree": "Les méthodes ne s'accordent pas sur la meilleure option : {best}.",
        "dec.p_exceed": "P(dépassement du budget)",
        "rec.none": "Aucune recommandation n'a été rédigée pour ce run.",
        "as.item": "Élément",
        "as.value": "Valeur",
        "as.source": "Source",
        "as.calibration": "Profil de calibration",
        "as.calibration_value": "{name} (méthode {method}, {date}, {samples} mesures)",
        "as.model": "Modèle {model}",
        "as.grid": "Intensité carbone du réseau, méthode fondée sur la localisation (gCO₂e/kWh)",
        "as.trend": "Tendance de l'intensité du réseau (par an)",
        "as.pue": "PUE",
        "as.growth": "Croissance du volume (par mois)",
        "as.market": "Facteur fondé sur le marché",
        "as.market_none": "non configuré : chiffres fondés sur la localisation uniquement",
        "as.embodied": "Émissions intrinsèques (fabrication)",
        "as.embodied_on": "incluses (amorties sur la durée provisionnée)",
        "as.embodied_off": "non incluses",
        "as.drawn": "tiré à chaque réplication : P5 {p5}, P50 {p50}, P95 {p95}",
        "as.region": "Région {region}",
        "as.region_unknown": "catalogue des régions introuvable ; les valeurs ci-dessus sont celles tirées pendant le run",
        "as.pools": "Pool {pool}",
        "as.pools_value": "{instances} x {sku}, {slots} emplacement(s) par GPU, {policy}",
        "as.engine": "Simulation",
        "as.engine_value": "moteur {engine}, graine {seed}, {n} réplications, carbonsim {version}",
        "method.p1": "Chaque réplication tire une fois les entrées incertaines (croissance du volume, coefficients d'énergie de chaque modèle, puissance au repos et de l'hôte, PUE, intensité du réseau et sa tendance, émissions intrinsèques), puis simule chaque fichier et chaque tâche de l'horizon dans un modèle à événements discrets des pools de GPU (files d'attente, chargement et maintien des modèles en mémoire, plages de provisionnement). Les bandes sont des quantiles sur les réplications : P50 est la médiane, P5-P95 contient 90 % des résultats.",
        "method.p2": "L'énergie est comptée par pool : la puissance au repos des GPU et de l'hôte sur toute la durée provisionnée, plus l'énergie de chaque tâche au-delà du repos, multipliée par le PUE puis par l'intensité carbone du réseau du mois (méthode fondée sur la localisation). Les émissions intrinsèques du matériel sont amorties sur la durée provisionnée (terme M du SCI de la Green Software Foundation, ISO/IEC 21031). Les émissions au repos, de l'hôte et intrinsèques sont réparties entre services, langues et types de contenu au prorata de leur temps d'occupation : les parties s'additionnent au total.",
        "method.p3": "Le SCI par unité fonctionnelle divise toutes les émissions attribuées aux services d'une tâche par leur travail : minutes d'audio transcrites, articles (fichiers texte) traduits, réponses générées. Le rapport est calculé par réplication, puis résumé.",
        "method.p4": "Le diagramme en tornade est une analyse de sensibilité fondée sur la variance des tirages Monte-Carlo : un modèle linéaire des émissions de l'horizon sur toutes les entrées tirées à chaque réplication est ajusté par moindres carrés ; chaque barre est la pente d'une entrée appliquée entre son P10 et son P90, et le pourcentage à côté de son nom est sa part de la variance (carré du coefficient de régression standardisé). Il faut plus de réplications que d'entrées tirées.",
        "method.p5": "Les options sont des variantes du scénario, simulées avec les mêmes nombres aléatoires que la référence (nombres aléatoires communs) : leurs écarts viennent de l'option, pas du hasard. Elles sont classées par somme pondérée, TOPSIS et SMAA-2 (acceptabilité des rangs sous l'incertitude des résultats et des poids), avec des critères normalisés sur des bornes fixes communes à toutes les options et à tous les tirages.",
        "method.probability": "Les probabilités suivent le langage calibré du GIEC : probable signifie au moins 66 %, très probable au moins 90 %.",
        "period": "{start} à {end}",
        "fig.fan.title": "Émissions mensuelles (kgCO₂e), {period}",
        "fig.fan.alt": "Graphique en éventail des émissions mensuelles avec les bandes P5-P95 et P25-P75 et la médiane.",
        "fig.cumulative.title": "Émissions cumulées (kgCO₂e) et probabilité de dépasser le budget, {period}",
        "fig.cumulative.alt": "Émissions cumulées avec bandes, le budget et la probabilité de le dépasser par mois.",
        "fig.cumulative.note": "P(dépassement du budget) sur l'horizon : {p} ({words})",
        "fig.stacked.title": "Émissions mensuelles médianes par service et par langue (kgCO₂e), {period}",
        "fig.stacked.alt": "Médianes empilées des émissions mensuelles par service et par langue.",
        "fig.components.title": "Énergie et émissions par composante, {period}",
        "fig.components.alt": "Énergie médiane du centre de données par composante et par mois, et part de chaque composante dans les émissions.",
        "fig.files.title": "Fichiers servis par mois et par langue, {period}",
        "fig.files.alt": "Fichiers servis par mois et par langue, médiane et bande P5-P95.",
        "fig.decision.title": "Matrice de décision : P50 de chaque critère, coloré selon le score normalisé",
        "fig.decision.alt": "Tableau coloré des options selon les critères.",
        "fig.smaa.title": "Acceptabilité des rangs SMAA-2 de chaque option (% des tirages)",
        "fig.smaa.alt": "Barres empilées de la part des tirages où chaque option occupe chaque rang.",
        "fig.tornado.title": "Entrées qui déterminent les émissions sur l'horizon (kgCO₂e), {period}",
        "fig.tornado.alt": "Diagramme en tornade : écart des émissions de l'horizon quand chaque entrée passe de son P10 à son P90.",
        "fig.tornado.none": "Trop peu de réplications pour estimer les facteurs déterminants (il en faut plus que d'entrées tirées).",
        "ax.kg_month": "kgCO₂e par mois",
        "ax.kg": "kgCO₂e",
        "ax.kwh_month": "kWh du centre de données par mois (médiane)",
        "ax.share": "part des émissions",
        "ax.files_month": "fichiers par mois",
        "ax.p_exceed": "P(cumul > budget)",
        "ax.acceptability": "part des tirages",
        "ax.swing": "écart des émissions de l'horizon par rapport à la médiane {centre} kgCO₂e",
        "leg.p5_p95": "P5-P95",
        "leg.p25_p75": "P25-P75",
        "leg.median": "médiane (P50)",
        "leg.budget_month": "budget réparti uniformément ({v} kgCO₂e/mois)",
        "leg.budget": "budget ({v} kgCO₂e)",
        "leg.p_exceed": "P(dépassement du budget)",
        "leg.requested": "demandés, toutes langues (médiane)",
        "leg.low": "entrée à son P10",
        "leg.high": "entrée à son P90",
        "leg.rank": "rang {r}",
        "sub.service": "par service",
        "sub.language": "par langue",
        "sub.energy": "énergie par mois (médiane)",
        "sub.share": "émissions sur l'horizon",
        "sub.files_bands": "lignes : médiane (P50) ; zones : P5-P95",
        "component.active": "actif (tâches)",
        "component.idle": "GPU au repos",
        "component.host": "hôte (CPU, mémoire)",
        "component.embodied": "intrinsèque",
        "unused": "(capacité inutilisée)",
        "lang.fr": "français",
        "lang.en": "anglais",
        "lang.es": "espagnol",
        "lang.ar": "arabe",
        "lang.de": "allemand",
        "lang.it": "italien",
        "lang.pt": "portugais",
    },
}

# IPCC AR6 calibrated likelihood: (lower bound of the probability, key), checked top down.
_IPCC = ((0.99, "virtually_certain"), (0.90, "very_likely"), (0.66, "likely"), (0.33, "about_as_likely"),
         (0.10, "unlikely"), (0.01, "very_unlikely"), (0.0, "exceptionally_unlikely"))


class Strings:
    """Lookup and number formatting for one language."""

    def __init__(self, lang: str):
        if lang not in STRINGS:
            raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGS)}")
        self.lang = lang
        self._s = STRINGS[lang]

    def __call__(self, key: str, **kw: object) -> str:
        text = self._s[key]
        return text.format(**kw) if kw else text

    def has(self, key: str) -> bool:
        return key in self._s

    def language(self, code: str) -> str:
        return self._s.get(f"lang.{code}", code)

    def component(self, name: str) -> str:
        return self._s.get(f"component.{name}", name)

    def group(self, by: str, name: str) -> str:
        """Display name of a group of ``bands.csv`` (a language code becomes its name)."""
        if name == "(unused)":
            return self("unused")
        if by == "language":
            return self.language(name)
        if by == "component":
            return self.component(name)
        return name

    def likelihood(self, p: float) -> str:
        for low, key in _IPCC:
            if p >= low:
                return self(f"ipcc.{key}")
        return self("ipcc.exceptionally_unlikely")

    def num(self, x: float | None, digits: int | None = None) -> str:
        """``x`` with thousands separators; ``digits`` decimals, or chosen by magnitude."""
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return "–"
        if digits is None and x == 0:
            digits = 0
        if digits is None:
            ax = abs(x)
            digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
        s = f"{x:,.{digits}f}"
        if self.lang == "fr":
            s = s.replace(",", "\u202f").replace(".", ",")
        return s

    def pct(self, p: float | None) -> str:
        if p is None or not math.isfinite(p):
            return "–"
        s = f"{p * 100:.0f}"
        return f"{s}\u202f%" if self.lang == "fr" else f"{s}%"
