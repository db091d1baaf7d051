"""The growth fit recovers what carbonsim's own workload model drew."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibrate.history.counts import CountTable, HistoryError
from calibrate.history.growth import fit_growth, residual_rows

from .history_helpers import draw, with_jump, workload

RATE = 0.059


def _covers(gf, rate: float) -> bool:
    lo, hi = gf.rate_interval
    return lo is not None and hi is not None and lo <= rate <= hi


def test_interval_coverage_near_nominal_over_many_seeds():
    """90% profile-likelihood intervals from 150 histories of 12 months (negative binomial,
    k = 50, the reference workload) contain the true rate about 90% of the time. The
    binomial sd of the share over 150 draws is 2.4 points."""
    wl = workload(dispersion=50.0)
    hits = [_covers(fit_growth(draw(wl, 12, RATE, seed), "2027-01", detect_break=False), RATE) for seed in range(150)]
    assert 0.85 <= np.mean(hits) <= 0.95


def test_estimates_recover_base_rate_shares_and_dispersion():
    """24 months: rate, base at month 0, shares, dispersion and the late start all recovered."""
    wl = workload(dispersion=50.0)
    gf = fit_growth(draw(wl, 24, RATE, seed=7), reference_month="2026-01", detect_break=False)
    assert gf.rate == pytest.approx(RATE, abs=0.006)
    assert gf.base_files_per_month == pytest.approx(500, rel=0.08)
    for code, lang in wl.languages.items():
        assert gf.shares[code] == pytest.approx(lang.share, abs=0.03)
    assert gf.start_months == {code: lang.start_month for code, lang in wl.languages.items()}
    assert gf.count_model == "negative_binomial"
    assert 20 < gf.fit.k < 150


def test_poisson_history_is_fitted_as_poisson():
    gf = fit_growth(draw(workload(count_model="poisson", dispersion=None), 18, RATE, seed=3), detect_break=False)
    assert gf.count_model == "poisson"
    assert _covers(gf, RATE)


def test_short_history_gives_a_wide_interval():
    """4 months bound the rate far less than 24: the interval is many times wider, still
    contains the truth, and a two-month history is refused."""
    wl = workload(dispersion=50.0)
    long = fit_growth(draw(wl, 24, RATE, seed=11), detect_break=False)
    short = fit_growth(draw(wl, 4, RATE, seed=11), detect_break=False)
    width = [gf.rate_interval[1] - gf.rate_interval[0] for gf in (long, short)]
    assert width[1] > 5 * width[0]
    assert _covers(short, RATE)
    with pytest.raises(HistoryError, match="at least 3"):
        fit_growth(draw(wl, 2, RATE, seed=11))


def test_one_month_with_wild_dispersion_leaves_an_end_open():
    """Three months of very overdispersed counts cannot bound the rate: an end stays open
    rather than pretending."""
    table = CountTable(("2026-01", "2026-02", "2026-03"), ("fr",), np.array([[3, 40, 1]]), "hand")
    gf = fit_growth(table, detect_break=False)
    lo, hi = gf.rate_interval
    assert lo is None or hi is None or hi - lo > 1.0


def test_break_detected_and_future_fitted_from_it():
    """The level doubles at month 12 of 24: the test finds it within a month and the rate is
    fitted on the months after; without the jump no break is found."""
    wl = workload(dispersion=50.0)
    base = draw(wl, 24, RATE, seed=5)
    jumped = with_jump(base, 12, 2.0, seed=6)
    gf = fit_growth(jumped)
    assert gf.break_month in {jumped.months[i] for i in (11, 12, 13)}
    assert gf.break_test.p_value < 0.001
    assert _covers(gf, RATE)
    assert fit_growth(base).break_month is None


def test_declared_break_starts_the_fit():
    gf = fit_growth(draw(workload(dispersion=50.0), 12, RATE, seed=2), declared_break="2026-07")
    assert gf.fit_from == "2026-07" and gf.break_month == "2026-07"
    assert residual_rows(gf)[0]["month"] == "2026-07"
    with pytest.raises(HistoryError, match="--break 2027-05"):
        fit_growth(draw(workload(), 12, RATE, seed=2), declared_break="2027-05")


def test_reference_month_moves_the_base_by_the_rate():
    """The base at a month-0 six months later is the earlier one times (1 + rate)**6."""
    table = draw(workload(dispersion=50.0), 12, RATE, seed=9)
    a = fit_growth(table, "2026-07", detect_break=False)
    b = fit_growth(table, "2027-01", detect_break=False)
    assert b.base_files_per_month == pytest.approx(a.base_files_per_month * (1 + a.rate) ** 6, rel=1e-4)
    assert b.rate == pytest.approx(a.rate, abs=1e-6)


def test_residuals_sum_observed_and_expected():
    table = draw(workload(dispersion=50.0), 12, RATE, seed=4)
    gf = fit_growth(table, detect_break=False)
    rows = residual_rows(gf)
    assert [r["observed"] for r in rows] == list(table.files.sum(axis=0))
    # the fitted means reproduce each language's total (score equation of its intercept)
    assert sum(r["expected"] for r in rows) == pytest.approx(table.files.sum(), rel=0.02)
    assert all(math.isfinite(r["pearson"]) for r in rows)
