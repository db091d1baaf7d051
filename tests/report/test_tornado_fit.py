"""Every epistemic draw is a column of replications.csv, and the tornado's linear fit explains the variance."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.config.resolve import load_and_check
from sim.montecarlo.run import run_chunk
from sim.report.figures import drawn_inputs, linear_fit, tornado
from tests.helpers import CONFIGS


@pytest.fixture(scope="module")
def replications() -> pd.DataFrame:
    res = load_and_check(CONFIGS / "default.yaml")
    return pd.DataFrame(run_chunk(res, "fast", list(range(60))).summaries)


def test_every_epistemic_draw_is_a_column(replications):
    cols = set(replications.columns)
    for name in ("pool.gpu.lifetime_years", "pool.gpu.embodied_gpu_kg", "pool.gpu.embodied_server_kg",
                 "model.whisper-large-v3.time_s.audio_second", "model.whisper-large-v3.load_energy_j",
                 "model.mistral-7b-q4.load_time_s", "model.nllb-200-1.3b.energy_j.output_token"):
        assert name in cols
    assert 3 <= replications["pool.gpu.lifetime_years"].min() < replications["pool.gpu.lifetime_years"].max() <= 4


def test_the_linear_fit_explains_the_variance_of_horizon_emissions(replications):
    fit = linear_fit(replications)
    assert fit is not None and len(replications) > drawn_inputs(replications).shape[1] + 2
    assert fit.r2 >= 0.9
    _, drivers = tornado(replications)
    # the hardware lifetime drives embodied emissions: the largest swing
    assert drivers[0].name == "pool.gpu.lifetime_years"
