"""Workload: monthly counts against base x share x growth, start months, profiles."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.resolve import load_and_check
from sim.forecast.workload import ARRIVAL_PROFILES, expected_counts, generate_files
from sim.kernels.rng import Streams
from tests.helpers import scenario_dict


def _counts(res, reps, growth):
    sc = res.scenario
    out = np.zeros((reps, len(sc.workload.languages), sc.horizon_months))
    for r in range(reps):
        f = generate_files(sc, growth, Streams(sc.seed, r))
        np.add.at(out[r], (f.language, f.month), 1)
    return out


@pytest.mark.parametrize("count_model", ["poisson", "negative_binomial"])
def test_expected_arrivals_match_base_share_growth(write_yaml, count_model):
    data = scenario_dict("default")
    data["horizon_months"] = 18
    data["workload"]["count_model"] = count_model
    res = load_and_check(write_yaml(data))
    wl = res.scenario.workload
    growth = 0.06
    reps = 300
    counts = _counts(res, reps, growth)
    for li, (code, lang) in enumerate(wl.languages.items()):
        mean = wl.base_files_per_month * lang.share * (1 + growth) ** np.arange(18)
        mean[: lang.start_month] = 0
        k = wl.dispersion if count_model == "negative_binomial" else np.inf
        var = mean + mean**2 / k
        se = np.sqrt(var / reps)
        observed = counts[:, li, :].mean(axis=0)
        assert np.all(np.abs(observed - mean) <= 4.5 * se + 1e-12), code
        if count_model == "negative_binomial":
            started = mean > 0
            ratio = counts[:, li, started].var(axis=0, ddof=1) / var[started]
            assert 0.7 < ratio.mean() < 1.3
    ar = list(wl.languages).index("ar")
    assert counts[:, ar, : wl.languages["ar"].start_month].sum() == 0


def test_expected_counts_respect_the_cap(write_yaml):
    data = scenario_dict("default")
    data["workload"]["growth"]["cap_files_per_month"] = 800
    res = load_and_check(write_yaml(data))
    e = expected_counts(res.scenario.workload, 36, 0.06)
    total = sum(e.values())
    assert total.max() <= 800 + 1e-9


def test_files_fall_inside_their_month_and_content_follows_the_mix(write_yaml):
    data = scenario_dict("default")
    res = load_and_check(write_yaml(data))
    sc = res.scenario
    f = generate_files(sc, 0.05, Streams(1, 0))
    edges = np.asarray(sc.month_edges_s())
    assert np.all(f.arrival_s >= edges[f.month]) and np.all(f.arrival_s < edges[f.month + 1])
    fr = f.language == list(sc.workload.languages).index("fr")
    share_text = np.mean(f.content[fr] == 2)
    assert share_text == pytest.approx(0.5, abs=0.03)
    text = f.content == 2
    assert f.text_chars[text].min() >= 3000 and f.text_chars[text].max() <= 5000
    assert np.all(f.duration_s[text] == 0)


def test_business_hours_profile_concentrates_arrivals_on_weekday_daytime():
    prof = ARRIVAL_PROFILES["business_hours"]
    u = np.random.default_rng(0).random(100_000)
    t = prof.place(0.0, 31 * 86400.0, 4, u)  # January 2027 starts on a Friday
    hours = (t // 3600).astype(int)
    weekday = (4 + hours // 24) % 7
    hod = hours % 24
    inside = (weekday < 5) & (hod >= 8) & (hod < 18)
    w = prof.hour_weights(4, 31 * 24)
    assert inside.mean() == pytest.approx(w[w > 1].sum() / w.sum(), abs=0.01)


def test_flat_profile_is_uniform():
    t = ARRIVAL_PROFILES["flat"].place(100.0, 1000 * 3600.0, 0, np.random.default_rng(1).random(50_000))
    assert (t.min() >= 100.0) and (t.max() < 100.0 + 1000 * 3600.0)
    assert np.mean(t - 100.0) / (1000 * 3600.0) == pytest.approx(0.5, abs=0.01)


def test_files_come_in_order_of_arrival(write_yaml):
    sc = load_and_check(write_yaml(scenario_dict("default"))).scenario
    f = generate_files(sc, 0.05, Streams(1, 0))
    assert np.all(np.diff(f.arrival_s) >= 0)
    assert len(set(f.language.tolist())) == len(sc.workload.languages)  # languages interleave


@pytest.mark.parametrize("times", [
    np.random.default_rng(2).random(20_000) * 1e8,  # spread out
    np.repeat(np.random.default_rng(3).random(300) * 1e4, 9),  # many ties
    np.array([5.0, 0.0, 5.0, 0.0, 2.5]),
    np.zeros(4),
    np.zeros(0),
])
def test_time_order_is_a_stable_argsort(times):
    from sim.forecast.workload import _time_order

    assert np.array_equal(_time_order(times), np.argsort(times, kind="stable"))


def test_month_0_counts_the_languages_started_and_the_description_says_so():
    """The base counts every language; one that starts later adds its share from its start on."""
    import yaml

    from tests.helpers import CONFIGS

    res = load_and_check(CONFIGS / "default.yaml")
    wl = res.scenario.workload
    counts = expected_counts(wl, 13, 0.0)
    month = {m: sum(c[m] for c in counts.values()) for m in (0, 11, 12)}
    assert month[0] == pytest.approx(450.0) and month[11] == pytest.approx(450.0) and month[12] == pytest.approx(500.0)
    assert counts["ar"][11] == 0 and counts["ar"][12] == pytest.approx(50.0)
    description = yaml.safe_load((CONFIGS / "default.yaml").read_text())["description"]
    assert description.startswith("450 files a month in FR/EN/ES") and "month 12" in description
