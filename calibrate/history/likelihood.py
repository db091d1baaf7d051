"""Maximum-likelihood fit of the simulator's count model to monthly counts.

The simulator draws language ``l``'s files in month ``m`` as Poisson or negative binomial
(size ``k``: variance = mean + mean**2/k) around ``base * share_l * (1 + rate)**m``, from the
language's start month on. On the log scale that mean is ``c_l + g*m`` with
``c_l = log(base * share_l)`` and ``g = log(1 + rate)``: a log-linear model with one
intercept per language and a common slope, fitted here by maximum likelihood
(``scipy.optimize``, analytic gradients). Cells before a language's start hold no
information and are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from scipy.special import digamma, gammaln

# Bounds of log k: k from 0.05 (wildly overdispersed) to 1e6 (Poisson to the data's eye).
LOG_K_BOUNDS = (math.log(0.05), math.log(1e6))
# Where the profile of g is followed before an end is called open: rates from -86% to +639%.
G_SEARCH = 2.0


@dataclass(frozen=True)
class Segment:
    """Counts of consecutive months: ``y[l, m]``, ``active[l, m]`` (from the language's start
    on), and ``t[m]`` the months' positions on the fitted time axis (months)."""

    y: np.ndarray
    active: np.ndarray
    t: np.ndarray

    @property
    def n_languages(self) -> int:
        return self.y.shape[0]


@dataclass(frozen=True)
class Fit:
    """A fitted segment: ``c[l]`` log mean at ``t = 0``, ``g`` = log(1 + rate) per month,
    ``k`` the negative binomial size (``math.inf``: Poisson), the maximised log-likelihood."""

    c: np.ndarray
    g: float
    k: float
    loglik: float

    @property
    def n_params(self) -> int:
        return len(self.c) + 1 + (0 if math.isinf(self.k) else 1)  # k counts once estimated

    def mean(self, t: np.ndarray) -> np.ndarray:
        """Expected files per language (rows) at months ``t`` (columns)."""
        return np.exp(self.c[:, None] + self.g * np.asarray(t, dtype=float)[None, :])

    def variance(self, mean: np.ndarray) -> np.ndarray:
        return mean if math.isinf(self.k) else mean + mean**2 / self.k


def _loglik_terms(seg: Segment, c: np.ndarray, g: float, k: float) -> tuple[float, np.ndarray, float]:
    """Log-likelihood, its derivative in each cell's log mean, and in log k (0 for Poisson)."""
    eta = c[:, None] + g * seg.t[None, :]
    mu = np.exp(eta)
    y, a = seg.y, seg.active
    if math.isinf(k):
        ll = np.where(a, y * eta - mu - gammaln(y + 1), 0.0).sum()
        return float(ll), np.where(a, y - mu, 0.0), 0.0
    log_k_mu = np.log(k + mu)
    ll = gammaln(y + k) - gammaln(k) - gammaln(y + 1) + k * (math.log(k) - log_k_mu) + y * (eta - log_k_mu)
    d_eta = k * (y - mu) / (k + mu)
    d_logk = k * (digamma(y + k) - digamma(k) + math.log(k) - log_k_mu + 1.0 - (y + k) / (k + mu))
    return float(np.where(a, ll, 0.0).sum()), np.where(a, d_eta, 0.0), float(np.where(a, d_logk, 0.0).sum())


def _start(seg: Segment, g: float) -> np.ndarray:
    """Each language's intercept given slope ``g`` (exact for Poisson, a start otherwise)."""
    weight = np.where(seg.active, np.exp(g * seg.t[None, :]), 0.0).sum(axis=1)
    total = np.where(seg.active, seg.y, 0).sum(axis=1)
    return np.log(np.maximum(total, 0.5) / weight)


def _initial_g(seg: Segment) -> float:
    """Slope of log(total + 0.5) on t over months where every language has started."""
    total = np.where(seg.active, seg.y, 0).sum(axis=0)
    if len(seg.t) < 2:
        return 0.0
    return float(np.polyfit(seg.t, np.log(total + 0.5), 1)[0])


def fit_segment(seg: Segment, k_fixed: float | None = None, g_fixed: float | None = None, warm: Fit | None = None) -> Fit:
    """Maximum-likelihood fit of ``seg``. ``k_fixed`` holds the dispersion (``math.inf``:
    Poisson), ``g_fixed`` the slope (the profile); what is not held is estimated.

    The optimiser works on time centred on the segment's middle, where the intercepts and
    the slope are nearly uncorrelated (from a month 0 far outside the data, they are not,
    and it converges many times slower); the fit is returned on ``seg``'s own axis."""
    shift = float(seg.t.mean())
    if shift != 0.0:
        centred = Segment(seg.y, seg.active, seg.t - shift)
        warm_c = None if warm is None else Fit(warm.c + warm.g * shift, warm.g, warm.k, warm.loglik)
        f = fit_segment(centred, k_fixed, g_fixed, warm_c)
        return Fit(f.c - f.g * shift, f.g, f.k, f.loglik)
    n_l = seg.n_languages
    g0 = g_fixed if g_fixed is not None else (warm.g if warm else _initial_g(seg))
    c0 = warm.c if warm is not None else _start(seg, g0)
    if k_fixed is not None and math.isinf(k_fixed) and g_fixed is not None:  # Poisson: closed form
        c = _start(seg, g_fixed)
        return Fit(c, g_fixed, math.inf, _loglik_terms(seg, c, g_fixed, math.inf)[0])
    free_g, free_k = g_fixed is None, k_fixed is None
    x0 = list(c0) + ([g0] if free_g else [])
    bounds: list[tuple[float | None, float | None]] = [(None, None)] * n_l + ([(-G_SEARCH * 2, G_SEARCH * 2)] if free_g else [])
    if free_k:
        k0 = warm.k if warm is not None and not math.isinf(warm.k) else 10.0
        x0.append(float(np.clip(math.log(k0), *LOG_K_BOUNDS)))
        bounds.append(LOG_K_BOUNDS)

    def unpack(x):
        c = np.asarray(x[:n_l])
        g = float(x[n_l]) if free_g else float(g_fixed)
        k = math.exp(x[-1]) if free_k else float(k_fixed)
        return c, g, k

    def negative(x):
        c, g, k = unpack(x)
        ll, d_eta, d_logk = _loglik_terms(seg, c, g, k)
        grad = list(d_eta.sum(axis=1))
        if free_g:
            grad.append(float((d_eta * seg.t[None, :]).sum()))
        if free_k:
            grad.append(d_logk)
        return -ll, -np.asarray(grad)

    # TNC rather than L-BFGS-B: the latter's BLAS calls on these few parameters spin up
    # threads and ran ten times slower on a shared machine.
    res = optimize.minimize(negative, np.asarray(x0, dtype=float), jac=True, method="TNC", bounds=bounds,
                            options={"maxfun": 2000, "ftol": 1e-12, "gtol": 1e-8})
    c, g, k = unpack(res.x)
    return Fit(c, g, k, -float(res.fun))


def _information_logdet(seg: Segment, fit: Fit) -> float:
    """log det of the mean parameters' (intercepts, slope) Fisher information at ``fit``."""
    mu = fit.mean(seg.t)
    w = np.where(seg.active, mu / (1.0 + mu / fit.k), 0.0)
    n_l = seg.n_languages
    info = np.zeros((n_l + 1, n_l + 1))
    info[np.arange(n_l), np.arange(n_l)] = w.sum(axis=1)
    info[:n_l, n_l] = info[n_l, :n_l] = (w * seg.t[None, :]).sum(axis=1)
    info[n_l, n_l] = (w * seg.t[None, :] ** 2).sum()
    sign, logdet = np.linalg.slogdet(info)
    return float(logdet) if sign > 0 else math.inf


def cox_reid_k(seg: Segment, warm: Fit) -> float:
    """The dispersion maximising the Cox-Reid adjusted profile likelihood,
    ``max over (c, g) of loglik - 0.5 log det(information)``: the plain maximum-likelihood k
    is biased high in short histories (variance too small, rate intervals too narrow)."""
    def negative(log_k: float) -> float:
        f = fit_segment(seg, k_fixed=math.exp(log_k), warm=warm)
        return -(f.loglik - 0.5 * _information_logdet(seg, f))

    res = optimize.minimize_scalar(negative, bounds=LOG_K_BOUNDS, method="bounded", options={"xatol": 1e-3})
    return math.exp(float(res.x))


def fit_count_model(seg: Segment, alpha: float = 0.05) -> tuple[Fit, float]:
    """The negative binomial fit with its dispersion by Cox-Reid, and the p-value of the
    likelihood-ratio test of Poisson against it (Poisson is on the boundary k = inf: the
    statistic is half chi2(0), half chi2(1)). Poisson is the count model to use when the
    test does not reject it at ``alpha``; the returned fit keeps the estimated k either way,
    so that the rate's interval does not shrink on a test that failed to see the spread."""
    pois = fit_segment(seg, k_fixed=math.inf)
    ml = fit_segment(seg, warm=pois)
    lr = max(0.0, 2.0 * (ml.loglik - pois.loglik))
    p = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
    k = cox_reid_k(seg, ml)
    if k >= math.exp(LOG_K_BOUNDS[1]) * 0.999:
        return pois, p
    return fit_segment(seg, k_fixed=k, warm=ml), p


def profile_interval(seg: Segment, best: Fit, level: float = 0.90) -> tuple[float | None, float | None]:
    """Profile-likelihood interval of ``g`` at ``level``: where twice the log-likelihood
    drop, maximising over the intercepts with k held at ``best.k``, reaches the F(1, n - p)
    quantile (n cells, p parameters; chi2(1) for Poisson): the F quantile widens the interval
    for the dispersion estimated from few cells. An end that is not reached within
    +-G_SEARCH of the estimate is open (None)."""
    poisson = math.isinf(best.k)
    resid_df = int(seg.active.sum()) - best.n_params
    target = float(stats.chi2.ppf(level, 1)) if poisson else float(stats.f.ppf(level, 1, max(resid_df, 1)))

    def drop(g: float) -> float:
        prof = fit_segment(seg, k_fixed=best.k, g_fixed=g, warm=best)
        return 2.0 * (best.loglik - prof.loglik) - target

    se = wald_se(seg, best)
    step = max(1.7 * se, 1e-3) if math.isfinite(se) else 0.1  # about where a quadratic profile crosses 90%
    ends: list[float | None] = []
    for sign in (-1.0, 1.0):
        inner, outer = best.g, best.g + sign * step
        while drop(outer) < 0:
            inner, outer = outer, best.g + 2.0 * (outer - best.g)
            if abs(outer - best.g) > G_SEARCH:
                outer = None
                break
        if outer is None:
            ends.append(None)
            continue
        ends.append(float(optimize.brentq(drop, min(inner, outer), max(inner, outer), xtol=1e-6)))
    return ends[0], ends[1]


def wald_se(seg: Segment, best: Fit) -> float:
    """Standard error of ``g`` from the Fisher information of the mean parameters (weights
    mu*k/(k+mu), mu for Poisson), the intercepts profiled out: where the interval search starts."""
    mu = best.mean(seg.t)
    w = np.where(seg.active, mu if math.isinf(best.k) else mu * best.k / (best.k + mu), 0.0)
    # information block of (c, g); the Schur complement gives g's variance
    w_l = w.sum(axis=1)
    wt_l = (w * seg.t[None, :]).sum(axis=1)
    wtt = float((w * seg.t[None, :] ** 2).sum())
    info_g = wtt - float((wt_l**2 / np.maximum(w_l, 1e-300)).sum())
    return 1.0 / math.sqrt(info_g) if info_g > 0 else math.inf
