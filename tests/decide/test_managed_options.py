"""The shipped managed options, and a decision that compares them under common random numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.config.resolve import load_and_check
from sim.decide.decision import evaluate
from sim.decide.loading import load_options
from sim.decide.managed import provenance_by_option, vm_per_job_g
from sim.decide.overlay import apply_option
from tests.helpers import CONFIGS

from .conftest import small_scenario

MANAGED_OPTIONS = ("managed-generation", "managed-transcription-generation", "managed-generation-t4")


@pytest.fixture(scope="module")
def shipped():
    res = load_and_check(CONFIGS / "default.yaml")
    return res, load_options(CONFIGS / "options" / "default.yaml", res)


def test_the_shipped_managed_options_move_what_they_say(shipped):
    res, spec = shipped
    sc = {n: apply_option(res, spec, n).scenario for n in MANAGED_OPTIONS}
    gen = sc["managed-generation"].services["generation"]
    assert gen.pool is None and gen.managed.provider == "mistralai" and gen.managed.per_unit is None
    both = sc["managed-transcription-generation"].services
    assert both["transcription"].managed.per_unit.source and both["generation"].managed is not None
    assert both["translation"].pool == "gpu"  # no sourced figure for a managed translation
    mixed = sc["managed-generation-t4"]
    assert mixed.pools["gpu"].sku == "Standard_NC4as_T4_v3" and mixed.services["transcription"].pool == "gpu"
    assert mixed.services["generation"].managed is not None


def test_provenance_names_the_ecologits_version_model_and_zone(shipped):
    res, spec = shipped
    prov = provenance_by_option(res, spec)
    assert set(prov) == set(MANAGED_OPTIONS)
    gen = prov["managed-generation"]["generation"]
    from importlib.metadata import version

    assert gen["ecologits_version"] == version("ecologits")
    assert (gen["model"], gen["electricity_mix_zone"], gen["batch_size"]) == ("ministral-8b-2512", "SWE", 64)
    assert "source" in prov["managed-transcription-generation"]["transcription"]
    # each option's own prices, though the EcoLogits figures behind them are shared
    assert gen["price_usd_per_million"] == {"input_token": 0.1, "output_token": 0.1}
    prices = spec.option("managed-generation").managed["generation"].price_usd_per_million
    prices["output_token"] = 9.0
    try:
        again = provenance_by_option(res, spec)
    finally:
        prices["output_token"] = 0.1
    assert again["managed-generation"]["generation"]["price_usd_per_million"]["output_token"] == 9.0
    assert gen["price_usd_per_million"]["output_token"] == 0.1


def test_a_decision_with_managed_options_keeps_coverage_and_prices_the_requests(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario(horizon_months=4)))
    res = load_and_check(path)
    opts = tmp_path / "options.yaml"
    ministral = {"provider": "mistralai", "model": "ministral-8b-2512", "electricity_mix_zone": "SWE",
                 "price_usd_per_million": {"output_token": 1000.0}}
    opts.write_text(yaml.safe_dump({"schema_version": 1, "replications": 3, "options": [
        {"name": "gen-out", "managed": {"generation": ministral}},
        {"name": "gen-out-free", "managed": {"generation": {**ministral, "price_usd_per_million": {}}}},
    ]}))
    d = evaluate(res, load_options(opts, res), workers=1, log=lambda m: None)
    v = {name: d.values[i] for i, name in enumerate(d.options)}
    c = {name: i for i, name in enumerate(d.criteria)}
    # every generation request is still served: by the endpoint instead of the pool
    assert np.all(v["gen-out"][c["coverage"]] == v["baseline"][c["coverage"]])
    # the VM is the same: the cost differs by the requests' price alone, which is positive
    extra = v["gen-out"][c["cost"]] - v["gen-out-free"][c["cost"]]
    assert np.all(extra > 0) and np.all(v["gen-out-free"][c["cost"]] == v["baseline"][c["cost"]])
    # the same draws whatever the price: the emissions are equal option to option
    np.testing.assert_array_equal(v["gen-out"][c["carbon"]], v["gen-out-free"][c["carbon"]])


def monthly() -> pd.DataFrame:
    """Two replications; generation: 10 then 20 jobs, active 1 g then 4 g, idle 9 g then 16 g."""
    rows = []
    for rep, jobs, active, idle in ((0, 10, 0.001, 0.009), (1, 20, 0.004, 0.016)):
        rows += [{"replication": rep, "service": "generation", "component": "active", "jobs": jobs, "co2e_kg": active},
                 {"replication": rep, "service": "generation", "component": "idle", "jobs": 0, "co2e_kg": idle},
                 {"replication": rep, "service": "generation", "component": "managed", "jobs": 3, "co2e_kg": 7.0},
                 {"replication": rep, "service": "(unused)", "component": "idle", "jobs": 0, "co2e_kg": 5.0}]
    return pd.DataFrame(rows)


def test_vm_per_job_is_the_services_whole_share_and_its_own_work_per_job():
    whole, own = vm_per_job_g(monthly(), "generation")
    # per replication: whole 1.0 and 1.0 g/job, own 0.1 and 0.2 g/job; the P50 of two is their mean
    assert whole == pytest.approx(1.0) and own == pytest.approx(0.15)
    assert vm_per_job_g(monthly(), "translation") is None


def test_removing_a_pool_a_service_still_uses_is_refused_naming_the_option(tmp_path):
    from sim.config.errors import ConfigError

    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario()))
    res = load_and_check(path)
    opts = tmp_path / "options.yaml"
    opts.write_text(yaml.safe_dump({"schema_version": 1, "options": [
        {"name": "gen-out-no-vm", "remove_pools": ["gpu"],
         "managed": {"generation": {"provider": "mistralai", "model": "ministral-8b-2512", "electricity_mix_zone": "SWE"}}},
    ]}))
    with pytest.raises(ConfigError) as err:
        load_options(opts, res)
    text = str(err.value)
    assert "options.0(gen-out-no-vm)" in text and "`pools` is empty but services ['transcription', 'translation']" in text


def test_a_managed_option_is_checked_naming_the_option_and_field(tmp_path):
    from sim.config.errors import ConfigError

    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario()))
    res = load_and_check(path)
    opts = tmp_path / "options.yaml"
    opts.write_text(yaml.safe_dump({"schema_version": 1, "options": [{"name": "bad", "managed": {
        "transcription": {"provider": "mistralai", "model": "ministral-8b-2512", "electricity_mix_zone": "SWE"},
        "generation": {"provider": "mistralai", "model": "mistral-7b", "electricity_mix_zone": "SWE"},
        "ocr": {"provider": "mistralai", "model": "ministral-8b-2512", "electricity_mix_zone": "SWE"},
    }}]}))
    with pytest.raises(ConfigError) as err:
        load_options(opts, res)
    text = str(err.value)
    assert "options.0(bad).managed.transcription.per_unit" in text
    assert "options.0(bad).managed.generation.model" in text and "ministral-8b-2512" in text
    assert "options.0(bad).managed.ocr: unknown service `ocr`" in text
