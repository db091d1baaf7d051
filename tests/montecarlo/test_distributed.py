"""Replications on a Dask cluster give the local run's tables exactly, even when a worker dies.

The cluster is a ``LocalCluster`` of two worker processes on loopback. A worker plugin
kills its own process the first time a chunk starts executing (a flag file makes it happen
once over the whole cluster); Dask reschedules the lost chunk and the tables must still
equal the serial run's.
"""

from __future__ import annotations

import os
import sys

import cloudpickle
import pandas as pd
import pytest
import yaml

pytest.importorskip("dask.distributed")
from dask.distributed import Client, LocalCluster, WorkerPlugin  # noqa: E402

from sim.config.resolve import load_and_check  # noqa: E402
from sim.montecarlo.run import run_monte_carlo  # noqa: E402
from tests.helpers import scenario_dict  # noqa: E402

TABLES = ("monthly", "service_stats", "files", "replications")

# Worker processes cannot import this test module: ship the plugin class by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class KillOnce(WorkerPlugin):
    """Exit the worker process when a task starts executing, the first time only (cluster-wide)."""

    def __init__(self, flag: str):
        self.flag = flag

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "carbonsim-chunk" in str(key):
            try:
                fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(key).encode())
            os.close(fd)
            os._exit(1)


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    data = scenario_dict("default")
    data["horizon_months"] = 3
    path = tmp_path_factory.mktemp("dask") / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_and_check(path)


@pytest.fixture(scope="module")
def local(res):
    return run_monte_carlo(res, replications=8, workers=1, progress=False)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as c:
        yield c


def assert_same(a, b) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert (a.engine, a.jobs, a.events) == (b.engine, b.jobs, b.events)


@pytest.mark.timeout(180)
def test_scheduler_address_gives_the_local_tables(res, local, cluster):
    remote = run_monte_carlo(res, replications=8, progress=False, scheduler=cluster.scheduler_address)
    assert remote.meta["executor"] == "dask"
    assert_same(remote, local)


@pytest.mark.timeout(180)
def test_a_worker_lost_mid_run_is_retried_and_the_tables_are_unchanged(res, local, cluster, tmp_path):
    flag = tmp_path / "killed"
    with Client(cluster) as client:
        client.register_plugin(KillOnce(str(flag)), name="kill-once")
        try:
            remote = run_monte_carlo(res, replications=8, progress=False, scheduler=cluster.scheduler_address)
        finally:
            client.unregister_worker_plugin("kill-once")
        client.wait_for_workers(2, timeout=60)
    assert flag.exists(), "no worker was killed: the test did not exercise a loss"
    assert_same(remote, local)


@pytest.mark.timeout(180)
def test_dask_local_starts_its_own_cluster(res, local):
    remote = run_monte_carlo(res, replications=8, progress=False, dask_local=2)
    assert remote.meta["scheduler"] == "LocalCluster(2)"
    assert_same(remote, local)


@pytest.mark.timeout(300)
def test_precision_and_job_records_on_dask_are_the_local_ones(res, cluster, tmp_path):
    """Batches until the bands are tight, and the first replications' job records, give on
    Dask what they give here: the same count, the same tables, the same jobs.parquet."""
    from sim.montecarlo.run import RunExtras

    extras = {where: RunExtras(precision_pct=0.5, keep_jobs=2, jobs_path=tmp_path / f"{where}.parquet")
              for where in ("here", "dask")}
    here = run_monte_carlo(res, replications=300, workers=1, progress=False, extras=extras["here"])
    there = run_monte_carlo(res, replications=300, progress=False, scheduler=cluster.scheduler_address,
                            extras=extras["dask"])
    assert here.meta["precision"] == there.meta["precision"]
    assert here.meta["precision"]["replications"] > 100  # it ran more than one batch
    assert_same(there, here)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "here.parquet"), pd.read_parquet(tmp_path / "dask.parquet"),
                                  check_exact=True)
