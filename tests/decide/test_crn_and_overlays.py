"""Common random numbers across options, and what deactivating or capping does to the outputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.decide.criteria import jobs_cube, replication_values, value_matrix
from sim.decide.decision import evaluate
from sim.decide.loading import load_options
from sim.decide.overlay import apply_option
from sim.forecast.replication import run_replication
from sim.montecarlo.run import run_monte_carlo

from .conftest import small_scenario


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("crn")


@pytest.fixture(scope="module")
def res(tmp):
    path = tmp / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario()))
    return load_and_check(path)


def options(res, tmp, body: dict, name: str = "options.yaml"):
    path = tmp / name
    path.write_text(yaml.safe_dump({"schema_version": 1, **body}))
    return load_options(path, res)


def test_an_option_identical_to_the_baseline_differs_by_exactly_zero_in_every_replication(res, tmp):
    spec = options(res, tmp, {"replications": 4, "options": [
        {"name": "nothing"},
        {"name": "same-value", "set": {"services.generation.keep_alive_s": 300}},  # the base value
    ]})
    d = evaluate(res, spec, workers=1, log=lambda m: None)
    assert d.values.shape == (3, len(d.criteria), 4)
    assert np.all(d.diffs() == 0.0)
    assert np.all(d.diff_se() == 0.0)


def test_crn_variance_of_a_difference_is_much_smaller_than_with_independent_seeds(res, tmp):
    spec = options(res, tmp, {"options": [{"name": "turbo", "models": {"transcription": "whisper-large-v3-turbo"}}]})
    n = 10
    opt = apply_option(res, spec, "turbo")
    indep = replace(opt, scenario=opt.scenario.model_copy(update={"seed": opt.scenario.seed + 1}))

    def carbon(r):
        return replication_values(r, run_monte_carlo(r, replications=n), n)["carbon"]

    base = carbon(res)
    var_crn = np.var(carbon(opt) - base, ddof=1)
    var_indep = np.var(carbon(indep) - base, ddof=1)
    assert var_crn < 0.05 * var_indep, (var_crn, var_indep)


def test_deactivating_a_service_removes_its_energy_and_its_coverage(res, tmp):
    spec = options(res, tmp, {
        "replications": 3,
        "coverage_values": {"services": {"generation": 0.5}, "languages": {"ar": 2.0}},
        "options": [{"name": "no-generation", "deactivate": [{"service": "generation"}]}],
    })
    n = 3
    base_mc = run_monte_carlo(res, replications=n)
    opt_mc = run_monte_carlo(apply_option(res, spec, "no-generation"), replications=n)
    gen = opt_mc.monthly[opt_mc.monthly["service"] == "generation"]
    assert gen["energy_kwh"].sum() == 0.0 and gen["co2e_kg"].sum() == 0.0  # no active share, no idle share
    assert base_mc.monthly.loc[base_mc.monthly["service"] == "generation", "energy_kwh"].sum() > 0

    def active(mc, svc):
        a = mc.monthly[(mc.monthly["component"] == "active") & (mc.monthly["service"] == svc)]
        return a.groupby("replication")["energy_kwh"].sum().to_numpy()

    for svc in ("transcription", "translation"):  # untouched services run the very same jobs
        np.testing.assert_allclose(active(opt_mc, svc), active(base_mc, svc), rtol=1e-12)

    d = evaluate(res, spec, baseline_mc=base_mc, workers=1, log=lambda m: None)
    services, langs = list(res.scenario.services), list(res.scenario.workload.languages)
    jobs = jobs_cube(base_mc, services, langs, n)
    v = value_matrix(services, langs, {"generation": 0.5}, {"ar": 2.0})
    g = services.index("generation")
    expected = 1.0 - (jobs[:, g] * v[g]).sum(axis=1) / (jobs * v).sum(axis=(1, 2))
    np.testing.assert_allclose(d.values[1, d.index("coverage")], expected, rtol=1e-12)
    assert np.all(d.values[0, d.index("coverage")] == 1.0)
    assert np.all(d.diffs()[1, d.index("energy")] < 0)


def test_deactivating_one_language_removes_that_language_only(res, tmp):
    spec = options(res, tmp, {"options": [{"name": "no-ar-tr", "deactivate": [{"service": "transcription", "languages": ["ar"]}]}]})
    mc = run_monte_carlo(apply_option(res, spec, "no-ar-tr"), replications=2)
    a = mc.monthly[mc.monthly["component"] == "active"]
    assert a[(a["service"] == "transcription") & (a["language"] == "ar")]["jobs"].sum() == 0
    assert a[(a["service"] == "transcription") & (a["language"] == "fr")]["jobs"].sum() > 0
    # Arabic articles are still translated: only media needs a transcript first
    ar_tl = a[(a["service"] == "translation") & (a["language"] == "ar")]
    assert set(ar_tl["content_type"]) == {"text"}


@pytest.fixture(scope="module")
def resident(tmp):
    """Models stay loaded and grid intensity is flat: then fewer files can only mean less energy.

    (With a keep-alive, removing a file can open an idle gap that unloads a model and costs a
    cold load later; with a grid trend, a shorter queue can move a job into an earlier month.)
    """
    data = small_scenario(replications=1)
    data["services"]["generation"]["keep_alive_s"] = None
    data["carbon"]["grid_trend_per_year"] = 0.0
    path = tmp / "resident.yaml"
    path.write_text(yaml.safe_dump(data))
    r = load_and_check(path)
    return r, float(run_replication(r, 0).summary["co2e_kg"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cap=st.one_of(st.none(), st.integers(0, 40)),
    share=st.floats(0.0, 1.0),
    langs=st.one_of(st.none(), st.lists(st.sampled_from(["fr", "en", "es", "ar"]), min_size=1, unique=True)),
    types=st.one_of(st.none(), st.lists(st.sampled_from(["audio", "video", "text"]), min_size=1, unique=True)),
)
def test_capping_or_reducing_volume_never_increases_emissions(resident, tmp, cap, share, langs, types):
    r, base = resident
    if cap is None and share == 0.0:
        share = 0.5
    change = {"reduce_share": share, "cap_files_per_month": cap, "languages": langs, "content_types": types}
    spec = options(r, tmp, {"options": [{"name": "less", "volume": [change]}]}, name="volume.yaml")
    co2e = float(run_replication(apply_option(r, spec, "less"), 0).summary["co2e_kg"])
    assert co2e <= base * (1 + 1e-12)


def test_coverage_counts_against_full_demand_when_the_baseline_already_limits_volume(tmp):
    data = small_scenario()
    data["workload"]["limits"] = [{"languages": ["fr"], "reduce_share": 0.5}]
    path = tmp / "limited.yaml"
    path.write_text(yaml.safe_dump(data))
    r = load_and_check(path)
    spec = options(r, tmp, {"replications": 2, "options": [{"name": "nothing"}]}, name="limited_options.yaml")
    d = evaluate(r, spec, workers=1, log=lambda m: None)
    cov = d.values[:, d.index("coverage")]
    assert np.all(cov < 1.0) and np.all(cov > 0.5)
    assert np.array_equal(cov[0], cov[1])


def test_saving_by_component_adds_up_to_the_carbon_difference(res, tmp):
    """Each option's difference per emission component, replication by replication, sums to
    its carbon criterion's difference; a batch window saves provisioned (idle, host,
    embodied) emissions, while switching generation off saves active ones and no embodied."""
    from sim.decide.decision import COMPONENTS
    from sim.decide.outputs import component_table

    spec = options(res, tmp, {"replications": 3, "options": [
        {"name": "night", "batch_window": {"hours": [22, 6]}},
        {"name": "no-gen", "deactivate": [{"service": "generation"}]},
    ]}, "components.yaml")
    d = evaluate(res, spec, workers=1, log=lambda m: None)
    jc = d.criteria.index("carbon")
    np.testing.assert_allclose(d.components.sum(axis=1), d.values[:, jc, :], rtol=1e-9)
    tab = component_table(d).set_index(["option", "component"])
    diff = d.components - d.components[:1]
    for i, opt in enumerate(d.options):
        for k, comp in enumerate(COMPONENTS):
            assert tab.loc[(opt, comp), "diff_mean"] == pytest.approx(diff[i, k].mean(), abs=1e-12)
    assert tab.loc[("night", "embodied"), "diff_mean"] < 0 and tab.loc[("night", "idle"), "diff_mean"] < 0
    assert tab.loc[("no-gen", "active"), "diff_mean"] < 0
    assert tab.loc[("no-gen", "embodied"), "diff_mean"] == pytest.approx(0.0, abs=1e-9)
