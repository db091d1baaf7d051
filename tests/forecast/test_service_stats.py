"""Service statistics and the monthly cube: the compiled kernels against plain numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.config.scenario import CONTENT_TYPES
from sim.engine.registry import fast_engine
from sim.forecast.accounting import monthly_records
from sim.forecast.replication import sample_inputs, service_stats
from sim.forecast.statistics import _p
from tests.helpers import scenario_dict


@pytest.fixture(scope="module")
def replication(tmp_path_factory):
    """Three months of the default scenario with a second, scheduled pool (generation)."""
    data = scenario_dict("default")
    data["horizon_months"] = 3
    data["workload"]["base_files_per_month"] = 600
    data["pools"]["night"] = {"sku": data["pools"]["gpu"]["sku"], "instances": 1, "slots_per_gpu": 2,
                              "provisioning": {"policy": "scheduled", "hours": [22, 6]}}
    data["services"]["generation"]["pool"] = "night"
    path = tmp_path_factory.mktemp("stats") / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    res = load_and_check(path)
    inp = sample_inputs(res, 0)
    return res, inp, fast_engine(inp.for_engine)


def _month(t, edges):
    return np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)


# -- percentiles -------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 3000), st.sampled_from(["normal", "mostly zeros", "few values", "sorted", "reversed"]),
    st.sampled_from([0, 5, 50, 95, 99.5, 100]), st.integers(0, 2**32 - 1),
)
def test_percentile_kernel_equals_numpy(n, kind, pct, seed):
    """Past 64 values the kernel selects by sampled pivots: ties, runs and orders must not matter."""
    rng = np.random.default_rng(seed)
    a = {
        "normal": lambda: rng.standard_normal(n),
        "mostly zeros": lambda: np.where(rng.random(n) < 0.97, 0.0, rng.exponential(size=n)),  # like waits
        "few values": lambda: rng.integers(0, 3, n).astype(float),
        "sorted": lambda: np.sort(rng.standard_normal(n)),
        "reversed": lambda: np.sort(rng.standard_normal(n))[::-1],
    }[kind]()
    before = a.copy()
    assert _p(a, pct) == np.percentile(a, pct)
    assert np.array_equal(a, before)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60), st.sampled_from([5, 50, 90, 95]))
def test_percentile_of_short_lists_equals_numpy(values, pct):
    a = np.asarray(values)
    assert _p(a.copy(), pct) == float(np.percentile(a, pct))


@pytest.mark.parametrize("values", [[], [3.0], [2.0, 1.0]])
def test_percentile_of_tiny_cells(values):
    a = np.asarray(values, dtype=float)
    if len(a):
        assert _p(a, 95) == np.percentile(a, 95)
    else:
        assert np.isnan(_p(a, 95))


# -- whole tables ------------------------------------------------------------------------------------


def test_service_stats_equal_numpy_over_boolean_masks(replication):
    """Every cell as numpy computes it over a mask: sums and means in numpy's order, bit for bit."""
    res, inp, t = replication
    sc = res.scenario
    out = service_stats(res, inp, t, 7)
    edges = np.asarray(sc.month_edges_s())
    month = _month(t.start_s, edges)
    rows = iter(out.itertuples(index=False))
    for si, name in enumerate(inp.jobs.services):
        for m in range(sc.horizon_months):
            row = next(rows)
            sel = (inp.jobs.service == si) & (month == m)
            wait, latency = (t.start_s - t.ready_s)[sel], (t.end_s - t.ready_s)[sel]
            assert (row.replication, row.month, row.service, row.jobs) == (7, m, name, sel.sum())
            assert row.busy_s == pytest.approx(t.service_s[sel].sum(), rel=1e-12) and row.cold_starts == t.cold[sel].sum()
            if sel.any():
                assert row.wait_mean_s == pytest.approx(wait.mean(), rel=1e-12) and row.wait_p95_s == np.percentile(wait, 95)
                assert row.latency_mean_s == pytest.approx(latency.mean(), rel=1e-12)
                assert row.latency_p95_s == np.percentile(latency, 95)
            else:
                assert np.isnan([row.wait_mean_s, row.wait_p95_s, row.latency_mean_s, row.latency_p95_s]).all()
    lat = t.file_end_s - inp.files.arrival_s
    # every file's latency, then each content type's files'
    for name, of_type in [("(file)", np.ones(len(lat), bool))] + [
            (f"(file) {c}", inp.files.content == k) for k, c in enumerate(CONTENT_TYPES)]:
        for m in range(sc.horizon_months):
            row = next(rows)
            sel = (inp.files.month == m) & ~np.isnan(lat) & of_type
            assert (row.month, row.service, row.jobs) == (m, name, sel.sum())
            assert sel.sum() > 0  # three months of the reference mix: every type arrives every month
            assert row.latency_mean_s == pytest.approx(lat[sel].mean(), rel=1e-12)
            assert row.latency_p95_s == np.percentile(lat[sel], 95)
            assert np.isnan([row.busy_s, row.utilisation, row.wait_mean_s, row.wait_p95_s]).all()
    assert next(rows, None) is None
    files = out[out["service"].astype(str).str.startswith("(file) ")].groupby("month")["jobs"].sum()
    np.testing.assert_array_equal(files.to_numpy(), out[out["service"] == "(file)"]["jobs"].to_numpy())  # types partition the files


def test_active_rows_equal_bincount(replication):
    """The cube sums jobs in job order, as ``np.bincount`` does: the same numbers, bit for bit."""
    res, inp, t = replication
    sc, jobs = res.scenario, inp.jobs
    m = monthly_records(sc, jobs, t, inp.draws, inp.accounting, 0)
    active = m[m.component == "active"]
    n_l, n_c, n_s = len(sc.workload.languages), len(CONTENT_TYPES), len(jobs.services)
    month = _month(t.start_s, np.asarray(sc.month_edges_s()))
    key = ((month * n_s + jobs.service) * n_l + jobs.language) * n_c + jobs.content
    size = sc.horizon_months * n_s * n_l * n_c
    cells = np.flatnonzero(np.bincount(key, minlength=size))
    assert np.array_equal(active.jobs.to_numpy(), np.bincount(key, minlength=size)[cells].astype(float))
    for col, w in (("busy_s", t.service_s), ("audio_s", jobs.audio_s)):
        assert np.array_equal(active[col].to_numpy(), np.bincount(key, weights=w, minlength=size)[cells])
    langs = np.asarray(list(sc.workload.languages))
    assert list(active.language) == list(langs[np.unravel_index(cells, (sc.horizon_months, n_s, n_l, n_c))[2]])
    assert set(m.pool) == {"gpu", "night"}
    pd.testing.assert_frame_equal(
        monthly_records(sc, jobs, t, inp.draws, inp.accounting, 0, categorical=True).astype({c: str for c in (
            "pool", "service", "language", "content_type", "component")}), m)
