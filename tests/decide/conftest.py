"""Small scenarios and options files for the decision tests, written as real YAML files."""

from __future__ import annotations

import pytest

from tests.helpers import scenario_dict


def small_scenario(**changes) -> dict:
    """The reference case made small: 14 months, ~30 files a month, Arabic from month 2, 8 replications."""
    data = scenario_dict("default")
    data.update(name="small", horizon_months=14, replications=8)
    data["workload"]["base_files_per_month"] = 30
    data["workload"]["languages"]["ar"]["start_month"] = 2
    data["carbon"]["budget"] = {"total_kg": 1000, "exceed_threshold": 0.1}
    data.pop("service_levels", None)  # the budget alone decides feasibility here (levels: test_service_levels.py)
    data.update(changes)
    return data


@pytest.fixture
def small_res(write_yaml):
    from sim.config.resolve import load_and_check

    return load_and_check(write_yaml(small_scenario(), "small.yaml"))
