"""Managed endpoints: EcoLogits' figures per request, the jobs out of the pools' queue,
conservation on what remains, and common random numbers for every other service."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from ecologits.impacts.llm import compute_llm_impacts

from sim.config.endpoints import llm_figures, llm_inputs
from sim.config.errors import ConfigError
from sim.config.resolve import load_and_check
from sim.engine.registry import simpy_engine
from sim.forecast.accounting import J_PER_KWH, grid_by_month
from sim.forecast.managed import (
    MANAGED,
    MANAGED_POOL,
    ManagedJobs,
    draw_rates,
    regroup,
    with_managed_ends,
)
from sim.forecast.replication import run_replication, sample_inputs
from sim.kernels.rng import Streams
from tests.helpers import scenario_dict
from tests.jobhelpers import hand_jobs

MINISTRAL = {"provider": "mistralai", "model": "ministral-8b-2512", "electricity_mix_zone": "SWE",
             "price_usd_per_million": {"input_token": 0.1, "output_token": 0.3}}


def small(months: int = 3, base: float = 120, **services) -> dict:
    """The reference case, small; ``services`` replace the named services' entries."""
    data = scenario_dict("default")
    data["horizon_months"] = months
    data["workload"]["base_files_per_month"] = base
    data["workload"]["languages"]["ar"]["start_month"] = 1
    for name, entry in services.items():
        data["services"][name] = entry
    return data


def generation_managed(endpoint: dict | None = None) -> dict:
    return {"task": "generate", "model": "mistral-7b-q4", "managed": endpoint or MINISTRAL}


def at(affine_end: tuple[float, float], tokens: float) -> float:
    return affine_end[0] + affine_end[1] * tokens


# -- EcoLogits' figures ------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [1.0, 300.0, 1234.5])
@pytest.mark.parametrize("provider,model,zone", [
    ("mistralai", "ministral-8b-2512", "SWE"),  # dense, with throughput and time to first token
    ("mistralai", "mistral-small-2603", "FRA"),  # mixture of experts
    ("mistralai", "mistral-medium-latest", "WOR"),  # size unpublished: a 70-120 B range
    ("anthropic", "claude-haiku-4-5-20251001", "USA"),  # a PUE range
])
def test_per_request_figures_equal_ecologits_compute_llm_impacts(provider, model, zone, tokens):
    inputs = llm_inputs(provider, model, zone)
    ref = compute_llm_impacts(output_token_count=tokens, **inputs)
    fig = llm_figures(provider, model, zone)
    for ours, theirs in ((fig.energy_kwh, ref.energy.value), (fig.usage_kg, ref.usage.gwp.value),
                         (fig.embodied_kg, ref.embodied.gwp.value)):
        low, high = (theirs.min, theirs.max) if hasattr(theirs, "min") else (theirs, theirs)
        assert at(ours.low, tokens) == pytest.approx(low, rel=1e-9)
        assert at(ours.high, tokens) == pytest.approx(high, rel=1e-9)


def test_a_ranged_model_has_a_range_and_a_sized_one_none():
    ranged = llm_figures("mistralai", "mistral-medium-latest", "WOR")
    assert at(ranged.energy_kwh.high, 300) > 1.2 * at(ranged.energy_kwh.low, 300)
    sized = llm_figures("mistralai", "ministral-8b-2512", "SWE")
    assert sized.energy_kwh.low == sized.energy_kwh.high


def test_latency_is_ecologits_throughput_and_time_to_first_token():
    fig = llm_figures("mistralai", "ministral-8b-2512", "SWE")
    inputs = llm_inputs("mistralai", "ministral-8b-2512", "SWE")
    assert at(fig.latency_s.low, 300) == pytest.approx(300 / inputs["tps"] + inputs["ttft"], rel=1e-12)


def test_the_range_maps_to_a_uniform_position_drawn_once_per_replication(write_yaml):
    ranged = dict(MINISTRAL, model="mistral-medium-latest", electricity_mix_zone="WOR")
    res = load_and_check(write_yaml(small(generation=generation_managed(ranged))))
    fig = llm_figures("mistralai", "mistral-medium-latest", "WOR")
    low, high = at(fig.energy_kwh.low, 300) * J_PER_KWH, at(fig.energy_kwh.high, 300) * J_PER_KWH
    n = 4000
    energy = np.array([at(draw_rates(res, Streams(res.scenario.seed, r))["generation"].facility_j, 300) for r in range(n)])
    assert energy.min() >= low and energy.max() <= high
    u = (energy - low) / (high - low)
    # uniform on [0, 1]: mean 1/2 and variance 1/12, within 4 standard errors
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 4 * np.sqrt(1 / 180 / n)
    # embodied off in the scenario: off for the endpoint too, the rest as drawn
    sc = res.scenario
    no_embodied = replace(res, scenario=sc.model_copy(update={"carbon": sc.carbon.model_copy(update={"embodied": False})}))
    off = draw_rates(no_embodied, Streams(sc.seed, 7))["generation"]
    on = draw_rates(res, Streams(sc.seed, 7))["generation"]
    assert off.embodied_kg == (0.0, 0.0) and on.embodied_kg[1] > 0 and off.usage_kg == on.usage_kg
    # the same replication draws the same position
    again = draw_rates(res, Streams(res.scenario.seed, 7))["generation"].facility_j
    assert again == draw_rates(res, Streams(res.scenario.seed, 7))["generation"].facility_j


# -- jobs out of the queue, conservation, common random numbers ------------------------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The small reference case with generation on a pool of its own, and the same with
    generation managed and that pool removed."""
    import yaml

    tmp = tmp_path_factory.mktemp("managed")
    base = small()
    base["pools"]["gen"] = dict(base["pools"]["gpu"])
    base["services"]["generation"]["pool"] = "gen"
    option = small(generation=generation_managed())
    option["services"]["generation"]["keep_alive_s"] = 300
    out = []
    for name, data in (("base", base), ("option", option)):
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        out.append(load_and_check(path))
    return out


def test_a_managed_service_leaves_every_other_draw_unchanged(pair):
    base, option = pair
    for rep in (0, 3):
        a, b = sample_inputs(base, rep), sample_inputs(option, rep)
        assert a.draws.growth_rate == b.draws.growth_rate and a.draws.pue == b.draws.pue
        # the models still on a pool draw the same (the managed model's own draws are not used)
        pooled = {svc.model for svc in option.scenario.services.values() if svc.pool is not None}
        assert {m: a.draws.models[m] for m in pooled} == {m: b.draws.models[m] for m in pooled}
        assert a.draws.pools["gpu"] == b.draws.pools["gpu"]
        np.testing.assert_array_equal(a.files.arrival_s, b.files.arrival_s)
        gen = list(base.scenario.services).index("generation")
        other = a.jobs.service != gen
        for col in ("file", "service", "language", "content", "time_s", "energy_j", "audio_s", "tokens_in", "tokens_out"):
            np.testing.assert_array_equal(getattr(a.jobs, col)[other], getattr(b.jobs, col), err_msg=col)
        # the managed jobs are the baseline's generation jobs, one for one
        np.testing.assert_array_equal(a.jobs.file[~other], b.managed.jobs.file)
        assert not (b.jobs.service == gen).any()


def test_the_pool_left_serves_the_same_jobs_at_the_same_times_and_books_the_same(pair):
    base, option = pair
    a, b = run_replication(base, 2), run_replication(option, 2)
    ma, mb = a.monthly, b.monthly
    assert "gen" not in set(mb["pool"])  # the removed pool books nothing
    keys = ["month", "service", "language", "content_type", "component"]
    gpu_a = ma[ma["pool"] == "gpu"].sort_values(keys).reset_index(drop=True)
    gpu_b = mb[mb["pool"] == "gpu"].sort_values(keys).reset_index(drop=True)
    cols = keys + ["jobs", "busy_s", "energy_kwh", "facility_kwh", "co2e_kg"]
    # generation ran last on its own pool: transcription and translation are untouched
    assert gpu_a[cols].equals(gpu_b[cols])
    managed = mb[mb["component"] == MANAGED]
    assert set(managed["pool"]) == {MANAGED_POOL} and set(managed["service"]) == {"generation"}
    gen_jobs = ma[(ma["component"] == "active") & (ma["service"] == "generation")]["jobs"].sum()
    assert managed["jobs"].sum() == gen_jobs


def test_managed_rows_hold_the_requests_figures_and_parts_sum_to_the_total(pair):
    _, option = pair
    inp = sample_inputs(option, 1)
    t = simpy_engine(inp.for_engine)
    rr = run_replication(option, 1)
    m = rr.monthly
    # the pool's parts: every pool job's energy once, idle and host over provisioned time
    active = m[m.component == "active"]
    assert active.energy_kwh.sum() * J_PER_KWH == pytest.approx(t.energy_j.sum(), rel=1e-12)
    pool = inp.draws.pools["gpu"]
    month_s = np.diff(np.asarray(option.scenario.month_edges_s()))
    idle = m[m.component == "idle"].groupby("month").energy_kwh.sum().to_numpy() * J_PER_KWH
    assert idle == pytest.approx(pool.gpu_idle_power_w * month_s, rel=1e-9)
    # the managed part: EcoLogits' figures of each request, from its output tokens
    rates = draw_rates(option, Streams(option.scenario.seed, 1))["generation"]
    tok = _managed_tokens(option, 1)
    expect_kg = (rates.usage_kg[0] + rates.embodied_kg[0]) * len(tok) + (rates.usage_kg[1] + rates.embodied_kg[1]) * tok.sum()
    assert m[m.component == MANAGED].co2e_kg.sum() == pytest.approx(expect_kg, rel=1e-9)
    assert m[m.component == MANAGED].facility_kwh.sum() * J_PER_KWH == pytest.approx(
        rates.facility_j[0] * len(tok) + rates.facility_j[1] * tok.sum(), rel=1e-9)
    assert m["managed_usd"].sum() == pytest.approx(0.3e-6 * tok.sum() + 0.1e-6 * _managed_tokens(option, 1, "in").sum())
    assert len(inp.managed.jobs) == len(tok)
    # conservation: the pool's emissions are energy x PUE x grid + embodied; the parts sum to the total
    grid = grid_by_month(inp.draws, option.scenario.horizon_months)
    pool_rows = m[m.pool == "gpu"]
    energy = pool_rows[pool_rows.component != "embodied"].groupby("month").energy_kwh.sum().to_numpy()
    emb = pool_rows[pool_rows.component == "embodied"].groupby("month").co2e_kg.sum().to_numpy()
    assert pool_rows.groupby("month").co2e_kg.sum().to_numpy() == pytest.approx(energy * inp.draws.pue * grid / 1000 + emb)
    total = m.groupby("month").co2e_kg.sum()
    assert np.allclose(total, m.groupby(["month", "component"]).co2e_kg.sum().groupby("month").sum())
    assert np.allclose(total, m.groupby(["month", "service"]).co2e_kg.sum().groupby("month").sum())
    assert rr.summary["co2e_kg"] == pytest.approx(m.co2e_kg.sum())


def _managed_tokens(res, rep: int, which: str = "out") -> np.ndarray:
    """The generation jobs' tokens, read from a details table of the same replication."""
    from sim.forecast.epistemic import draw_epistemic
    from sim.forecast.jobs import build_jobs, file_mask
    from sim.forecast.workload import generate_files

    streams = Streams(res.scenario.seed, rep)
    draws = draw_epistemic(res, streams)
    files = generate_files(res.scenario, draws.growth_rate, streams)
    jobs = build_jobs(res, files, file_mask(res, files), draws, streams, True)
    gen = jobs.service == list(res.scenario.services).index("generation")
    return (jobs.tokens_out if which == "out" else jobs.tokens_in)[gen]


def test_the_pools_overheads_follow_the_options_provisioning(write_yaml):
    data = small(generation=generation_managed())
    data["pools"]["gpu"]["sku"] = "Standard_NC4as_T4_v3"
    res = load_and_check(write_yaml(data))
    inp = sample_inputs(res, 0)
    m = run_replication(res, 0).monthly
    month_s = np.diff(np.asarray(res.scenario.month_edges_s()))
    t4 = inp.draws.pools["gpu"]
    assert 8 <= t4.gpu_idle_power_w <= 15  # the T4's idle power, not the A100's
    for comp, watts in (("idle", t4.gpu_idle_power_w), ("host", t4.host_power_w)):
        per_month = m[m.component == comp].groupby("month").energy_kwh.sum().to_numpy() * J_PER_KWH
        assert per_month == pytest.approx(watts * month_s, rel=1e-9)


# -- latency: a managed stage holds its file, not a slot --------------------------------------


def test_regroup_relinks_the_pool_groups_and_splits_managed_latency_before_and_after():
    # service 0 on a pool, service 1 managed. File 0: managed, pool, managed (two jobs), pool;
    # file 1: managed only; file 2: pool only.
    jobs = hand_jobs([[[(1, 0, 1)], [(1, 0, 0)], [(1, 0, 1), (1, 0, 1)], [(2, 0, 0)]], [[(1, 0, 1)]], [[(3, 0, 0)]]],
                     services=("pool", "managed"), pool_of_service=(0, -1))
    on = np.flatnonzero(jobs.service == 1)
    lat = np.array([2.0, 3.0, 5.0, 7.0])  # the managed jobs' latencies, in job order
    zeros = np.zeros(4)
    managed = ManagedJobs(job=on, service=jobs.service[on], language=jobs.language[on], content=jobs.content[on],
                          month=np.zeros(4, np.int64), file=jobs.file[on], it_j=zeros, facility_j=zeros, co2e_kg=zeros,
                          latency_s=lat, usd=zeros)
    r = regroup(jobs, managed, 3)
    assert r.lead_s.tolist() == [2.0, 7.0, 0.0]
    assert r.trail_s.tolist() == [5.0, 0.0, 0.0]  # a stage's jobs run in parallel: its slowest counts
    assert r.has_pool.tolist() == [True, False, True]
    p = r.pool_jobs
    assert p.time_s.tolist() == [1.0, 2.0, 3.0] and p.file.tolist() == [0, 0, 2]
    assert p.group.tolist() == [0, 1, 2] and p.group_first_job.tolist() == [0, 1, 2, 3]
    assert p.group_next.tolist() == [1, -1, -1] and p.group_file.tolist() == [0, 0, 2]


def test_a_managed_last_stage_ends_its_file_its_latency_after_the_stage_before(pair):
    base, option = pair
    a, b = sample_inputs(base, 0), sample_inputs(option, 0)
    ta = simpy_engine(a.for_engine)
    tb = with_managed_ends(simpy_engine(b.for_engine), b.files.arrival_s, b.managed)
    gen = list(base.scenario.services).index("generation")
    on = a.jobs.service == gen
    # in the baseline the generation job is released when the stage before it ends; managed, the
    # file ends the endpoint's latency after that same instant (one generation job per file)
    expect = ta.file_end_s.copy()
    expect[a.jobs.file[on]] = ta.ready_s[on] + b.managed.jobs.latency_s
    np.testing.assert_allclose(tb.file_end_s, expect, rtol=1e-12)
    s = run_replication(option, 0).service_stats
    served = s[(s.service == "generation") & (s.jobs > 0)]
    assert (served.wait_mean_s == 0).all() and served.utilisation.isna().all()


def test_a_managed_first_stage_holds_its_files_release_to_the_pools_by_its_latency(write_yaml):
    per_unit = {"unit": "audio_second", "energy_j": 5.0, "pue": 1.2, "embodied_g": 1e-4,
                "latency_s": {"dist": "uniform", "low": 0.02, "high": 0.08}, "latency_fixed_s": 1.0, "source": "test"}
    entry = {"task": "transcribe", "model": "whisper-large-v3",
             "managed": {"provider": "x", "model": "whisper", "electricity_mix_zone": "FRA", "per_unit": per_unit}}
    res = load_and_check(write_yaml(small(transcription=entry)))
    inp = sample_inputs(res, 0)
    t = simpy_engine(inp.for_engine)
    mj = inp.managed.jobs
    rates = draw_rates(res, Streams(res.scenario.seed, 0))["transcription"]
    np.testing.assert_allclose(mj.latency_s, 1.0 + rates.latency_s[1] * inp.files.duration_s[mj.file], rtol=1e-12)
    first = np.r_[0, np.flatnonzero(np.diff(inp.jobs.file)) + 1]  # each file's first pool job
    f = inp.jobs.file[first]
    lead = np.zeros(len(inp.files))
    lead[mj.file] = mj.latency_s
    np.testing.assert_allclose(t.ready_s[first], inp.files.arrival_s[f] + lead[f], rtol=1e-12)


# -- bad input --------------------------------------------------------------------------------


def test_a_managed_endpoint_with_an_unknown_model_or_zone_is_refused_naming_the_field(write_yaml):
    bad = dict(MINISTRAL, model="mistral-7b-nonexistent", electricity_mix_zone="XXX")
    with pytest.raises(ConfigError) as err:
        load_and_check(write_yaml(small(generation=generation_managed(bad))))
    text = str(err.value)
    assert "services.generation.managed.model" in text and "ministral-8b-2512" in text
    assert "services.generation.managed.electricity_mix_zone" in text


def test_a_managed_transcription_without_sourced_figures_is_refused(write_yaml):
    entry = {"task": "transcribe", "model": "whisper-large-v3", "managed": dict(MINISTRAL)}
    with pytest.raises(ConfigError) as err:
        load_and_check(write_yaml(small(transcription=entry)))
    assert "per_unit" in str(err.value)


def test_a_service_needs_a_pool_or_a_managed_endpoint_not_both(write_yaml):
    entry = dict(generation_managed(), pool="gpu")
    with pytest.raises(ConfigError) as err:
        load_and_check(write_yaml(small(generation=entry)))
    assert "either `pool` or `managed`" in str(err.value)


def test_every_service_managed_needs_no_pool_and_books_only_managed_rows(write_yaml):
    unit = {"unit": "input_token", "energy_j": 0.1, "pue": 1.2, "embodied_g": 1e-4, "latency_s": 0.01, "source": "test"}
    endpoint = {"provider": "x", "model": "y", "electricity_mix_zone": "FRA"}
    data = small(
        transcription={"task": "transcribe", "model": "whisper-large-v3",
                       "managed": dict(endpoint, per_unit=dict(unit, unit="audio_second"))},
        translation={"task": "translate", "model": "nllb-200-1.3b", "managed": dict(endpoint, per_unit=unit)},
        generation=generation_managed())
    data["pools"] = {}
    res = load_and_check(write_yaml(data))
    inp = sample_inputs(res, 0)
    assert len(inp.jobs) == 0 and len(inp.managed.jobs) > 0
    for engine in ("simpy", "fast"):
        rr = run_replication(res, 0, engine=engine)
        assert set(rr.monthly["component"]) == {MANAGED}
        assert rr.summary["co2e_kg"] == pytest.approx(inp.managed.jobs.co2e_kg.sum(), rel=1e-12)
        # a file served by managed endpoints alone ends after their latencies, one stage after the other
        f = rr.service_stats[rr.service_stats.service == "(file)"]
        assert (f[f.jobs > 0].latency_mean_s > 0).all()


def test_no_pool_while_a_service_needs_one_is_refused(write_yaml):
    data = small()
    data["pools"] = {}
    with pytest.raises(ConfigError) as err:
        load_and_check(write_yaml(data))
    assert "`pools` is empty but services ['transcription', 'translation', 'generation'] run on a pool" in str(err.value)


def test_managed_stats_are_numpys_mean_and_p95_per_service_and_month(pair):
    _, option = pair
    inp = sample_inputs(option, 4)
    s = run_replication(option, 4).service_stats
    mj = inp.managed.jobs
    gen = list(option.scenario.services).index("generation")
    for m in range(option.scenario.horizon_months):
        row = s[(s.service == "generation") & (s.month == m)].iloc[0]
        lat = mj.latency_s[(mj.service == gen) & (mj.month == m)]
        assert row.jobs == len(lat) > 0
        assert row.latency_mean_s == pytest.approx(lat.mean(), rel=1e-12)
        assert row.latency_p95_s == pytest.approx(np.percentile(lat, 95), rel=1e-12)
        assert row.wait_mean_s == 0 and np.isnan(row.busy_s) and np.isnan(row.utilisation)
