"""Meter overhead: one measured window must cost under 1% of the inference it measures."""

from __future__ import annotations

import time

import pytest

from calibrate.meters import make_meter, measure


def _inference_like(seconds: float = 0.05) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.parametrize("method", ["codecarbon-cpu-load"])
def test_meter_window_overhead(benchmark, method):
    pytest.importorskip("codecarbon")
    meter = make_meter(method)
    meter.read_energy_j()  # start outside the timed region

    def window():
        with measure(meter):
            pass

    benchmark(window)
    meter.close()
    overhead = benchmark.stats.stats.mean
    # the shortest calibrated call on CPU with the tiny models takes ~0.3 s
    assert overhead < 0.01 * 0.3
