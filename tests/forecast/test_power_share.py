"""Jobs running together on one GPU share its power headroom: the card's summed draw never
passes its limit, in both engines, and energy is conserved."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.resolve import load_and_check
from sim.engine.registry import get_engine
from sim.forecast.power import power_limits, shares_of, slot_shares, stretch_to_share
from sim.forecast.replication import sample_inputs, services_of
from tests.helpers import scenario_dict, set_dotted


def _scenario(write_yaml, **changes):
    busy = {"horizon_months": 1, "workload.base_files_per_month": 40000, "pools.gpu.instances": 2}
    return load_and_check(write_yaml(set_dotted(scenario_dict("default"), {**busy, **changes})))


def _peak_power(start: np.ndarray, end: np.ndarray, power: np.ndarray, gpu: np.ndarray) -> tuple[float, int]:
    """Per GPU, the largest summed power of jobs running at one instant, and the most jobs
    at once (a job holds [start, end); at equal times ends come before starts)."""
    top, most = 0.0, 0
    for g in np.unique(gpu):
        on = gpu == g
        t = np.concatenate([start[on], end[on]])
        step = np.concatenate([power[on], -power[on]])
        count = np.concatenate([np.ones(on.sum()), -np.ones(on.sum())])
        order = np.lexsort((step > 0, t))  # at one instant, ends (negative steps) first
        top = max(top, np.cumsum(step[order]).max())
        most = max(most, int(np.cumsum(count[order]).max()))
    return top, most


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_concurrent_jobs_never_draw_more_than_the_card(write_yaml, engine):
    res = _scenario(write_yaml)
    inp = sample_inputs(res, 0, details=False)
    t = get_engine(engine)(inp.for_engine)
    headroom = min(x.watts for x in power_limits(res, {n: p.gpu_idle_power_w for n, p in inp.draws.pools.items()}).values())
    power = t.energy_j / t.service_s  # each job's mean power above idle, its model load included
    gpu = t.gpu.astype(np.int64) + 1000 * inp.jobs.pool.astype(np.int64)
    top, most = _peak_power(t.start_s, t.end_s, power, gpu)
    assert most == res.scenario.pools["gpu"].slots_per_gpu  # the card does run its four slots at once
    assert top <= headroom * (1 + 1e-9)
    assert top > 0.75 * headroom  # near the limit at times: the bound is what holds it


def test_without_the_share_the_drawn_powers_would_pass_the_card(write_yaml):
    res = _scenario(write_yaml)
    inp = sample_inputs(res, 0, details=False)
    shares = shares_of(res, inp.draws)
    headroom = shares * res.scenario.pools["gpu"].slots_per_gpu
    # some jobs run exactly at their share: their drawn power was above it, and four of
    # them together would draw more than the card's headroom
    at_share = np.isclose(inp.jobs.energy_j / inp.jobs.time_s, shares[inp.jobs.service], rtol=1e-12)
    assert at_share.any() and not at_share.all()
    assert (inp.jobs.energy_j <= shares[inp.jobs.service] * inp.jobs.time_s * (1 + 1e-12)).all()
    assert np.isfinite(headroom).all()


def test_energy_is_kept_and_only_time_stretches():
    time_s = np.array([10.0, 10.0, 1.0, 0.0])
    energy_j = np.array([500.0, 1000.0, 0.0, 62.0])
    share = np.array([62.0, 62.0, 62.0, np.inf])
    kept = energy_j.copy()
    stretch_to_share(time_s, energy_j, share)
    np.testing.assert_array_equal(energy_j, kept)
    # 50 W fits; 100 W runs at 62 W for 1000/62 s; no energy keeps its time; no bound keeps 0
    np.testing.assert_array_equal(time_s, [10.0, 1000.0 / 62.0, 1.0, 0.0])


def test_one_slot_per_gpu_gets_the_whole_headroom_and_no_job_stretches(write_yaml):
    res = _scenario(write_yaml, **{"pools.gpu.slots_per_gpu": 1})
    d = sample_inputs(res, 0, details=False)
    limits = power_limits(res, {n: p.gpu_idle_power_w for n, p in d.draws.pools.items()})
    np.testing.assert_array_equal(shares_of(res, d.draws), [limits[m].watts for m in
                                                            ("whisper-large-v3", "nllb-200-1.3b", "mistral-7b-q4")])
    # the draws are coherent with the whole card (``feasible_draws``), so nothing reached it
    assert (d.jobs.energy_j < shares_of(res, d.draws)[d.jobs.service] * d.jobs.time_s).all()


def test_the_share_divides_the_headroom_by_the_slots_and_spares_managed_and_host_metered(write_yaml):
    res = _scenario(write_yaml)
    idle = {"gpu": 50.0}
    sku = res.skus.skus["Standard_NC24ads_A100_v4"]
    np.testing.assert_allclose(slot_shares(res, idle), (sku.gpu_max_power_w - 50.0) * sku.gpu_fraction / 4)


def test_a_cold_load_is_stretched_too(write_yaml):
    res = _scenario(write_yaml)
    d = sample_inputs(res, 0, details=False).draws
    shares = shares_of(res, d)
    for spec, share, name in zip(services_of(res, d), shares, res.scenario.services):
        model = d.models[{"transcription": "whisper-large-v3", "translation": "nllb-200-1.3b",
                          "generation": "mistral-7b-q4"}[name]]
        assert spec.load_energy_j == model.load_energy_j
        assert spec.load_time_s == max(model.load_time_s, model.load_energy_j / share)
