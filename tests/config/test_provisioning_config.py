"""Autoscale fields: checked at load with a fix; the fast engine refuses them and auto falls back."""

from __future__ import annotations

import pytest

from sim.config.errors import ConfigError
from sim.config.resolve import load_and_check
from tests.helpers import scenario_dict


def small(**pool) -> dict:
    data = scenario_dict("default")
    data["horizon_months"] = 2
    data["pools"]["gpu"].update(pool)
    return data


@pytest.mark.parametrize("provisioning, instances, message", [
    ({"policy": "autoscale", "max_instances": 2}, 1, "needs `min_instances` and `max_instances`"),
    ({"policy": "autoscale", "min_instances": 3, "max_instances": 2}, 1, "min_instances (3) is above max_instances (2)"),
    ({"policy": "autoscale", "min_instances": 1, "max_instances": 2}, 3, "must lie within min_instances (1) and max_instances (2)"),
    ({"policy": "always_on", "max_instances": 2}, 1, "apply to policy autoscale only"),
    ({"policy": "autoscale", "min_instances": 0, "max_instances": 2, "metric": "utilisation", "threshold": 1.0}, 1,
     "threshold below 1"),
])
def test_autoscale_fields_are_checked_with_a_fix(write_yaml, provisioning, instances, message):
    data = small(provisioning=provisioning, instances=instances)
    with pytest.raises(ConfigError) as info:
        load_and_check(write_yaml(data))
    assert any(message in msg and loc.startswith("pools.gpu") for loc, msg, _ in info.value.problems), str(info.value)


def test_auto_runs_an_autoscaled_pool_on_the_fast_engine(write_yaml):
    from sim.engine.registry import choose_engine, engine_note

    data = small(provisioning={"policy": "autoscale", "min_instances": 0, "max_instances": 2})
    sc = load_and_check(write_yaml(data)).scenario
    assert choose_engine("auto", sc) == "fast" and engine_note("auto", "fast", sc) is None
    assert choose_engine("fast", sc) == "fast" and choose_engine("simpy", sc) == "simpy"
