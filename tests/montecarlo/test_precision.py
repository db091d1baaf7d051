"""``--precision``: replications in batches until the horizon emissions' bands are tight."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.config.resolve import load_and_check
from sim.montecarlo import precision
from sim.montecarlo.run import RunExtras, run_monte_carlo
from tests.helpers import scenario_file


def test_order_statistic_interval_by_hand():
    x = np.arange(1.0, 101.0)  # n = 100, q = 0.05: ranks 5 -/+ 1.96 sqrt(4.75) = 0.73 .. 9.27, outward: 1 .. 11
    iv = precision.quantile_interval(x, 0.05)
    assert (iv.low, iv.high) == (1.0, 11.0)
    assert iv.value == pytest.approx(np.percentile(x, 5))
    iv = precision.quantile_interval(x, 0.95)  # ranks 90.73 .. 99.27: 90 .. 101, capped at 100
    assert (iv.low, iv.high) == (90.0, 100.0)


@pytest.mark.parametrize("q", [0.05, 0.95])
def test_quantile_intervals_cover_the_true_quantile(q):
    """95% intervals of the P5 and P95 of 200 exponential draws contain the true quantile
    (-ln(1 - q)) in about 95% of 2,000 samples (order-statistic intervals are conservative)."""
    rng = np.random.default_rng(7)
    truth = -np.log(1 - q)
    hits = sum(
        (iv := precision.quantile_interval(np.sort(rng.exponential(size=200)), q)).low <= truth <= iv.high
        for _ in range(2000))
    assert 0.93 <= hits / 2000 <= 0.99


def test_mean_interval_covers_the_mean():
    rng = np.random.default_rng(8)
    hits = sum((iv := precision.intervals(rng.exponential(size=200))["mean"]).low <= 1.0 <= iv.high for _ in range(2000))
    assert 0.93 <= hits / 2000 <= 0.97


def test_next_count():
    assert precision.next_count(100, 3.0, 5.0, 1000) is None  # met
    assert precision.next_count(1000, 9.0, 5.0, 1000) is None  # at the most allowed
    assert precision.next_count(100, 10.0, 5.0, 1000) == 400  # (10/5)^2 x 100
    assert precision.next_count(100, 5.1, 5.0, 1000) == 150  # at least one step more
    assert precision.next_count(100, 50.0, 5.0, 1000) == 400  # at most four times as many
    assert precision.next_count(200, 10.0, 5.0, 500) == 500  # at most the maximum
    assert precision.first_batch(1000) == 100 and precision.first_batch(40) == 40


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """The default scenario over 6 months: cheap replications."""
    return load_and_check(scenario_file(tmp_path_factory.mktemp("p"), horizon_months=6))


def test_stops_where_its_intervals_say_and_reproducibly(short):
    target, most = 1.0, 600
    serial = run_monte_carlo(short, replications=most, workers=1, progress=False, extras=RunExtras(precision_pct=target))
    totals = serial.replications.sort_values("replication")["co2e_kg"].to_numpy()
    n = len(totals)
    assert serial.meta["precision"]["replications"] == n
    assert list(serial.replications["replication"]) == list(range(n))
    # the checks it made: every one before the last short of the target, the last one met (or at the most)
    checks = [precision.first_batch(most)]
    while (nxt := precision.next_count(checks[-1], precision.reached(totals[: checks[-1]]), target, most)) is not None:
        checks.append(nxt)
    assert checks[-1] == n and len(checks) >= 2
    assert all(precision.reached(totals[:c]) > target for c in checks[:-1])
    assert precision.reached(totals) <= target or n == most
    assert serial.meta["precision"]["reached_pct"] == pytest.approx(precision.reached(totals), abs=1e-3)
    two = run_monte_carlo(short, replications=most, workers=2, progress=False, extras=RunExtras(precision_pct=target))
    assert two.meta["precision"] == serial.meta["precision"]
    assert two.replications.equals(serial.replications)


def test_manifest_and_summary_record_it(tmp_path):
    out = tmp_path / "run"
    path = scenario_file(tmp_path, horizon_months=6)
    result = CliRunner().invoke(main, ["simulate", str(path), "--precision", "50", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    p = manifest["precision"]
    assert manifest["replications"] == p["replications"] == 100  # 50% is met at the minimum
    assert p["met"] and p["reached_pct"] <= 50
    summary = (out / "summary.md").read_text()
    assert "Replications: 100" in summary and "within 50%" in summary
