"""The decision step: run every option on the baseline's seeds, score, rank, recommend.

Every option runs replications 0..n-1 with the scenario's root seed, so replication r of
an option and of the baseline share their growth rate, files, durations and per-job noise
wherever the option leaves them alone (common random numbers). Differences between
options are then measured replication by replication, with far less noise than
independent runs would give; ``diff_se_crn`` and ``crn_variance_ratio`` show how much.

Only per-replication criterion values and job counts are kept per option: an option's
monthly tables are dropped as soon as they are summarised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from sim.config.resolve import Resolved
from sim.config.scenario import Scenario
from sim.kernels.rng import Streams
from sim.montecarlo.run import MonteCarloResult, run_monte_carlo

from .criteria import (
    CRITERIA,
    coverage,
    jobs_cube,
    replication_values,
    value_matrix,
)
from .mcda import (
    METHODS,
    SmaaResult,
    double_counting,
    normalise,
    shared_bounds,
    smaa2,
)
from .options import BASELINE, OptionsFile, option_label
from .overlay import apply_option

METHOD_NAMES = ("weighted_sum", "topsis", "smaa")


@dataclass
class ServiceLevelCheck:
    """Each service level against each option: how likely it breaks and by how much."""

    names: list[str]  # levels set, in ``ServiceLevels.limits`` order
    limits: np.ndarray  # levels
    p_break: np.ndarray  # options x levels: share of replications over the limit in the final year
    p_break_any: np.ndarray  # options x levels: the same in the horizon's worst month
    p50: np.ndarray  # options x levels: median final-year measure
    threshold: float

    def broken(self, option: int) -> list[int]:
        """Levels that make option ``option`` infeasible."""
        return [k for k in range(len(self.names)) if self.p_break[option, k] > self.threshold + 1e-12]


def check_service_levels(sc: Scenario, per_option: list[dict[str, np.ndarray]]) -> ServiceLevelCheck | None:
    """The service levels of ``sc`` against each option's per-replication measures."""
    levels = sc.service_levels
    if levels is None:
        return None
    names = list(levels.limits())
    if not names:
        return None
    limits = np.array(list(levels.limits().values()), dtype=float)

    def share_over(when: str) -> np.ndarray:
        return np.array([[float(np.mean(v[f"level.{k}.{when}"] > lim)) for k, lim in zip(names, limits)] for v in per_option])

    p50 = np.array([[float(np.nanpercentile(v[f"level.{k}.final_year"], 50)) if np.isfinite(v[f"level.{k}.final_year"]).any()
                     else np.nan for k in names] for v in per_option])
    return ServiceLevelCheck(names, limits, share_over("final_year"), share_over("any_month"), p50, levels.break_threshold)


@dataclass
class DecisionResult:
    """Everything the outputs are written from."""

    options: list[str]  # baseline first
    labels: dict[str, dict[str, str]]  # lang -> option -> label
    criteria: list[str]
    values: np.ndarray  # options x criteria x replications
    weights: np.ndarray  # criteria (0 = reported, not ranked)
    bounds: np.ndarray  # criteria x 2
    benefit: np.ndarray  # criteria, bool
    p_exceed: np.ndarray  # options (NaN without a budget)
    feasible: np.ndarray  # options, bool
    threshold: float | None
    budget_kg: float | None
    scores: dict[str, np.ndarray]  # method -> options
    smaa: SmaaResult
    ranked: list[str]  # criteria with a positive weight, in the SMAA order
    double_counts: dict[str, list[str]]
    correlation: dict[str, dict[str, float | None]]
    replications: int
    smaa_weights: str = "intervals"  # how SMAA-2 drew the weights: uniform | intervals
    smaa_half_width: float = 0.1
    engines: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    components: np.ndarray | None = None  # options x COMPONENTS x replications, kgCO2e over the horizon
    levels: ServiceLevelCheck | None = None  # None: the scenario sets no service level

    # ---- derived figures ---------------------------------------------------------------
    def index(self, criterion: str) -> int:
        return self.criteria.index(criterion)

    def diffs(self) -> np.ndarray:
        """Option minus baseline, per replication (options x criteria x replications)."""
        return self.values - self.values[:1]

    def diff_se(self) -> np.ndarray:
        """Standard error of the mean difference under common random numbers (options x criteria)."""
        d = self.diffs()
        n = d.shape[2]
        return np.nanstd(d, axis=2, ddof=1) / np.sqrt(n) if n > 1 else np.full(d.shape[:2], np.nan)

    def crn_variance_ratio(self) -> np.ndarray:
        """Var(option - baseline) with CRN over Var with independent seeds (= Var(option) + Var(baseline))."""
        var_d = np.nanvar(self.diffs(), axis=2, ddof=1)
        var = np.nanvar(self.values, axis=2, ddof=1)
        indep = var + var[:1]
        return np.divide(var_d, indep, out=np.full_like(var_d, np.nan), where=indep > 0)

    def best(self, method: str) -> str:
        """Best feasible option by ``method`` (best overall when none is feasible)."""
        s = self.scores[method]
        pool = np.flatnonzero(self.feasible) if self.feasible.any() else np.arange(len(self.options))
        return self.options[int(pool[np.argmax(s[pool])])]


def _summarise(res: Resolved, mc: MonteCarloResult, n: int, spec: OptionsFile, services: list[str],
               languages: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    vals = replication_values(res, mc, n, prices_per_hour=spec.prices_per_hour,
                              saturation_utilisation=spec.saturation_utilisation)
    return vals, jobs_cube(mc, services, languages, n)


def _smaa_of_feasible(norm: np.ndarray, feasible: np.ndarray, rng: np.random.Generator, **kwargs) -> SmaaResult:
    """SMAA-2 over the feasible options only (all of them when none is): an option over
    budget or breaking a service level cannot be recommended, so it must not take the first
    ranks from those that can. Infeasible options' indices are NaN (not ranked)."""
    if feasible.all() or not feasible.any():
        return smaa2(norm, rng, **kwargs)
    idx = np.flatnonzero(feasible)
    sub = smaa2(norm[idx], rng, **kwargs)
    n, k = len(feasible), len(idx)
    acc, se = np.full((n, n), np.nan), np.full((n, n), np.nan)
    acc[idx] = 0.0
    se[idx] = 0.0
    acc[np.ix_(idx, np.arange(k))] = sub.acceptability
    se[np.ix_(idx, np.arange(k))] = sub.acceptability_se
    central = np.full((n, sub.central_weights.shape[1]), np.nan)
    central[idx] = sub.central_weights
    confidence = np.full(n, np.nan)
    confidence[idx] = sub.confidence
    return SmaaResult(acc, se, central, confidence, sub.draws)


#: Emission components of the monthly table, in the order of ``DecisionResult.components``.
COMPONENTS = ("active", "idle", "host", "embodied")


def component_totals(mc: MonteCarloResult, n: int) -> np.ndarray:
    """kgCO2e over the horizon per component (rows, :data:`COMPONENTS`) and replication 0..n-1."""
    m = mc.monthly
    m = m[m["replication"] < n]
    tab = m.groupby(["component", "replication"], observed=True)["co2e_kg"].sum().unstack(fill_value=0.0)
    return tab.reindex(index=list(COMPONENTS), columns=range(n), fill_value=0.0).to_numpy(dtype=float)


def _full_demand(res: Resolved) -> Resolved | None:
    """The baseline with every service on and no volume limit, when it differs from the baseline."""
    sc = res.scenario
    if not sc.workload.limits and all(s.enabled and not s.disabled_languages for s in sc.services.values()):
        return None
    data = sc.model_dump(mode="json", by_alias=True)
    data["workload"]["limits"] = []
    for svc in data["services"].values():
        svc["enabled"], svc["disabled_languages"] = True, []
    return replace(res, scenario=Scenario.model_validate(data))


def evaluate(res: Resolved, spec: OptionsFile, *, baseline_mc: MonteCarloResult | None = None, workers: int = 1,
             engine: str = "auto", progress: bool | None = None, log: Callable[[str], None] = print) -> DecisionResult:
    """Run every option on the baseline's replication seeds and rank them."""
    t0 = time.perf_counter()
    sc = res.scenario
    available = sc.replications
    if baseline_mc is not None:
        available = min(available, int(baseline_mc.replications["replication"].nunique()))
    n = min(spec.replications or available, available)
    services, languages = list(sc.services), list(sc.workload.languages)
    names = [BASELINE] + [o.name for o in spec.options]
    engines: dict[str, str] = {}

    def run(name: str, r: Resolved) -> MonteCarloResult:
        mc = run_monte_carlo(r, replications=n, workers=workers, engine=engine, progress=progress)
        engines[name] = mc.engine
        log(f"decision: {name}: {n} replications in {mc.wall_s:.1f} s ({mc.engine})")
        return mc

    per_option: list[dict[str, np.ndarray]] = []
    jobs: list[np.ndarray] = []
    components: list[np.ndarray] = []
    for name in names:
        r = apply_option(res, spec, name)
        if name == BASELINE and baseline_mc is not None:
            mc = baseline_mc
            engines[name] = mc.engine
        else:
            mc = run(name, r)
        vals, cube = _summarise(r, mc, n, spec, services, languages)
        components.append(component_totals(mc, n))
        per_option.append(vals)
        jobs.append(cube)
        del mc
    full = _full_demand(res)
    requested = jobs[0] if full is None else jobs_cube(run("(full demand)", full), services, languages, n)
    values_m = value_matrix(services, languages, spec.coverage_values.services, spec.coverage_values.languages)
    for vals, cube in zip(per_option, jobs):
        vals["coverage"] = coverage(cube, requested, values_m)

    criteria = list(CRITERIA)
    values = np.stack([np.stack([v[c] for c in criteria]) for v in per_option])  # options x criteria x reps
    benefit = np.array([CRITERIA[c].direction == "benefit" for c in criteria])
    # A draw without a value (no file served in the final year: no latency) counts as the worst seen.
    for j in range(len(criteria)):
        col = values[:, j]
        if np.isnan(col).any():
            finite = col[np.isfinite(col)]
            worst = (finite.min() if benefit[j] else finite.max()) if len(finite) else 0.0
            values[:, j] = np.where(np.isnan(col), worst, col)
    bounds = shared_bounds(values, {criteria.index(c): b for c, b in spec.bounds.items()})
    weights = np.array([spec.weights.get(c, 0.0) for c in criteria])

    budget = sc.carbon.budget
    budget_kg = budget.total_kg if budget else None
    threshold = spec.exceed_threshold if spec.exceed_threshold is not None else (budget.exceed_threshold if budget else None)
    carbon = values[:, criteria.index("carbon")]
    if budget_kg is None:
        p_exceed = np.full(len(names), np.nan)
        feasible = np.ones(len(names), dtype=bool)
    else:
        p_exceed = (carbon > budget_kg).mean(axis=1)
        feasible = p_exceed <= threshold + 1e-12
    levels = check_service_levels(sc, per_option)
    if levels is not None:
        feasible &= np.array([not levels.broken(i) for i in range(len(names))])

    ranked_idx = np.flatnonzero(weights > 0)
    ranked = [criteria[j] for j in ranked_idx]
    w = weights[ranked_idx]
    p50 = np.percentile(values, 50, axis=2)
    scores = {m: METHODS[m](p50[:, ranked_idx], bounds[ranked_idx], benefit[ranked_idx], w) for m in ("weighted_sum", "topsis")}
    norm = normalise(values[:, ranked_idx], bounds[ranked_idx], benefit[ranked_idx])
    rng = Streams(sc.seed, 0).rng("decision", "smaa")
    uniform = spec.smaa.weights == "uniform"
    sm = _smaa_of_feasible(norm, feasible, rng, draws_per_outcome=spec.smaa.draws_per_replication,
                           centre=None if uniform else w, half_width=None if uniform else spec.smaa.half_width)
    scores["smaa"] = sm.acceptability[:, 0]
    flags, corr = double_counting(p50, criteria, benefit, spec.double_count_threshold)
    # Criteria computed from one another double count whatever the options at hand show.
    flags = {c: sorted(set(flags[c]) | set(CRITERIA[c].linked), key=criteria.index) for c in criteria}
    labels = {lang: {nm: option_label(spec, nm, lang) for nm in names} for lang in ("en", "fr")}
    return DecisionResult(
        options=names, labels=labels, criteria=criteria, values=values, weights=weights, bounds=bounds, benefit=benefit,
        p_exceed=p_exceed, feasible=feasible, threshold=threshold, budget_kg=budget_kg, scores=scores, smaa=sm,
        ranked=ranked, double_counts=flags, correlation=corr, replications=n,
        smaa_weights=spec.smaa.weights, smaa_half_width=spec.smaa.half_width, engines=engines,
        wall_s=time.perf_counter() - t0, components=np.stack(components), levels=levels,
    )


# ---- tables ----------------------------------------------------------------------------
