"""Streamed replications: block by block, the whole replication's tables, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication
from sim.forecast.stream import run_streamed
from sim.forecast.tables import Table
from tests.helpers import ROOT, scenario_file


def assert_same_tables(a: Table, b: Table) -> None:
    assert list(a.columns) == list(b.columns) and a.labels == b.labels
    for name in a.columns:
        x, y = a.columns[name], b.columns[name]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)  # NaN where NaN, else bit for bit


def assert_streamed_is_whole(res, replication: int, block_files: int, engine: str = "fast", loop: bool = False):
    """The streamed replication's tables are the whole one's (run by ``engine``), bit for bit."""
    whole = run_replication(res, replication, engine, stream=False)
    got = run_streamed(res, replication, block_files=block_files, loop=loop, backlog_blocks=np.inf)
    assert got is not None, "a tie: the replication runs whole"
    assert_same_tables(got.monthly, whole.monthly_table)
    assert_same_tables(got.stats, whole.stats_table)
    assert_same_tables(got.files, whole.files_table)
    assert_same_tables(got.capacity, whole.capacity_table)
    assert (got.n_jobs, got.events, got.n_files) == (whole.jobs, whole.events, whole.summary["files"])
    return got


@pytest.fixture(scope="module")
def default():
    return load_and_check(ROOT / "configs" / "default.yaml")


@pytest.mark.parametrize("block_files", [97, 1_000, 20_000])
def test_default_streamed_equals_whole_whatever_the_blocks(default, block_files):
    for r in range(3):
        got = assert_streamed_is_whole(default, r, block_files)
        assert got.blocks >= got.n_files / (2 * block_files)


def test_a_replication_within_one_block_runs_whole(default):
    assert run_streamed(default, 0, block_files=10**9) is None


def test_boundaries_in_a_busy_queue_carry_files_on(tmp_path):
    """One slot and three times the volume: blocks end while groups of their files are
    still to be released (a backlog); those files are carried into the next blocks, and
    the tables stay whole's."""
    res = load_and_check(scenario_file(tmp_path, horizon_months=4, **{
        "pools.gpu.slots_per_gpu": 1, "workload.base_files_per_month": 1500}))
    carried = 0
    for r in range(2):
        carried += assert_streamed_is_whole(res, r, 60).carried
    assert carried > 0


def test_a_keep_alive_spanning_boundaries(tmp_path):
    """An hour's keep-alive on every service: whether a model is still loaded at a block's
    first job depends on ends in the blocks before (carried per GPU and service)."""
    res = load_and_check(scenario_file(tmp_path, horizon_months=6, **{
        "services.transcription.keep_alive_s": 3600, "services.translation.keep_alive_s": 3600,
        "services.generation.keep_alive_s": 3600, "pools.gpu.instances": 3}))
    for r in range(2):
        got = assert_streamed_is_whole(res, r, 40)
        assert got.blocks > 50
    whole = run_replication(res, 0, "fast", stream=False)
    cold = whole.stats_table.columns["cold_starts"].sum()
    assert 0 < cold < whole.jobs * 0.9  # models do stay loaded across gaps, and are reloaded


def test_two_pools_streamed_with_their_capacity_rows(tmp_path):
    """Generation on a pool of its own: the capacity rows (per pool: waits, busy time, work
    released, the latencies of the files that used it) are the whole replication's."""
    res = load_and_check(scenario_file(tmp_path, horizon_months=4, **{
        "pools.gen": {"sku": "Standard_NC24ads_A100_v4", "instances": 1, "slots_per_gpu": 1,
                      "provisioning": {"policy": "always_on"}},
        "services.generation.pool": "gen", "workload.base_files_per_month": 1500}))
    for r in range(2):
        got = assert_streamed_is_whole(res, r, 150)
        cap = got.capacity.columns
        assert got.capacity.labels["pool"] == ("gpu", "gen")
        lat = cap["latency_p95_s"].reshape(2, -1)
        assert np.isfinite(lat).all() and (lat[0] != lat[1]).any()  # each pool its own files' latencies


@settings(max_examples=40, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slots=st.integers(1, 4), instances=st.integers(1, 3), base=st.sampled_from([50, 300, 1500]),
       keep_alive=st.sampled_from([None, 0, 60, 3600]), months=st.integers(1, 4), block=st.integers(1, 400),
       seed=st.integers(0, 2**31))
def test_hypothesis_scenarios_streamed_equal_whole(tmp_path_factory, slots, instances, base, keep_alive, months, block,
                                                   seed):
    path = scenario_file(tmp_path_factory.mktemp("h"), horizon_months=months, seed=seed, **{
        "pools.gpu.slots_per_gpu": slots, "pools.gpu.instances": instances, "workload.base_files_per_month": base,
        "services.generation.keep_alive_s": keep_alive})
    res = load_and_check(path)
    whole = run_replication(res, 0, "fast", stream=False)
    got = run_streamed(res, 0, block_files=block)
    if got is None:  # one block, a tie or a queue that does not empty: the replication runs whole
        assert_same_tables(run_replication(res, 0, "fast", stream=True).monthly_table, whole.monthly_table)
        return
    assert_same_tables(got.monthly, whole.monthly_table)
    assert_same_tables(got.stats, whole.stats_table)
    assert_same_tables(got.files, whole.files_table)
    assert_same_tables(got.capacity, whole.capacity_table)
    assert got.events == whole.events
