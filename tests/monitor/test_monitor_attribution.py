"""Attribution of interval energy: exact hand-computed cases and conservation properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from calibrate.monitor.attribution import Attributor, Flight


def _flight(t_start: float, t_end: float | None = None, service: str = "s", weight: float = 1.0) -> Flight:
    f = Flight(service=service, language="fr", route="/s", method="POST", t_start=t_start, wall_start=0.0, month="2025-07", weight=weight)
    f.t_end = t_end
    return f


def test_split_by_overlap_with_idle_kept_apart():
    a = Attributor(idle_power_w=10.0)
    f1, f2 = _flight(0.0, 1.0), _flight(0.5, None)
    a.begin(f1)
    a.begin(f2)
    iv, done = a.split(0.0, 2.0, energy_j=50.0)
    # idle 10 W x 2 s = 20 J; 30 J shared 1.0 s : 1.5 s of overlap
    assert iv.idle_j == 20.0 and math.isclose(iv.attributed_j, 30.0)
    assert math.isclose(f1.energy_j, 12.0) and math.isclose(f2.energy_j, 18.0)
    assert done == [f1] and f1.concurrency == 2
    f2.t_end = 2.5
    iv, done = a.split(2.0, 3.0, energy_j=15.0)
    assert done == [f2] and iv.idle_j == 10.0 and math.isclose(f2.energy_j, 23.0)


def test_service_weights_skew_the_split():
    a = Attributor(idle_power_w=0.0)
    gpu, cpu = _flight(0.0, 1.0, "generate", weight=3.0), _flight(0.0, 1.0, "translate", weight=1.0)
    a.begin(gpu)
    a.begin(cpu)
    a.split(0.0, 1.0, energy_j=40.0)
    assert (gpu.energy_j, cpu.energy_j) == (30.0, 10.0)


def test_no_request_in_flight_is_all_idle_and_learns_the_baseline():
    a = Attributor()  # idle power learned
    for _ in range(3):
        iv, _ = a.split(0.0, 2.0, energy_j=100.0)
        assert iv.idle_j == 100.0 and iv.attributed_j == 0.0
    assert a.idle_power_w == 50.0
    f = _flight(0.0, 2.0)
    a.begin(f)
    iv, _ = a.split(0.0, 2.0, energy_j=130.0)
    assert iv.idle_j == 100.0 and f.energy_j == 30.0
    # Below the baseline: everything is idle, nothing negative lands on the request.
    g = _flight(2.0, 3.0)
    a.begin(g)
    iv, _ = a.split(2.0, 4.0, energy_j=70.0)
    assert iv.idle_j == 70.0 and g.energy_j == 0.0


def test_unmeasured_interval_flags_requests_and_a_request_starting_later_waits():
    a = Attributor(idle_power_w=0.0)
    f, later = _flight(0.0, None), _flight(5.0, None)
    a.begin(f)
    a.begin(later)
    iv, done = a.split(0.0, 1.0, energy_j=None)
    assert not f.metered and later.metered and done == [] and iv.in_flight == 1
    f.t_end, later.t_end = 1.5, 5.5
    _, done = a.split(1.0, 2.0, energy_j=4.0)
    assert done == [f] and f.energy_j == 4.0
    _, done = a.split(2.0, 6.0, energy_j=8.0)
    assert done == [later] and later.energy_j == 8.0 and later.metered


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(
        st.tuples(st.floats(0, 6), st.floats(0, 5), st.sampled_from([0.5, 1.0, 4.0])), min_size=0, max_size=30
    ),
    energies=st.lists(st.floats(0, 1e4), min_size=12, max_size=12),
    idle_w=st.one_of(st.none(), st.floats(0, 500)),
)
@example(requests=[(0.0, 5e-324, 1.0)], energies=[1.5] + [0.0] * 11, idle_w=None)  # a request of a subnormal duration
def test_energy_is_conserved_and_every_request_completes_once(requests, energies, idle_w):
    a = Attributor(idle_power_w=idle_w)
    flights = [_flight(s, s + d, weight=w) for s, d, w in requests]
    for f in flights:
        a.begin(f)
    done_all, idle, attributed = [], 0.0, 0.0
    for k, e in enumerate(energies):  # intervals of 1 s cover 0..12 s, past every request
        iv, done = a.split(float(k), float(k + 1), e)
        assert iv.idle_j >= 0 and iv.attributed_j >= 0
        assert math.isclose(iv.idle_j + iv.attributed_j, e, rel_tol=1e-9, abs_tol=1e-9)
        idle += iv.idle_j
        attributed += iv.attributed_j
        done_all += done
    assert sorted(map(id, done_all)) == sorted(map(id, flights))
    assert math.isclose(sum(f.energy_j for f in flights), attributed, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(attributed + idle, sum(energies), rel_tol=1e-9, abs_tol=1e-6)
    assert a.drain(99.0) == []


def test_drain_ends_open_requests():
    a = Attributor()
    f = _flight(1.0)
    a.begin(f)
    assert a.drain(3.0) == [f] and f.t_end == 3.0 and a.in_flight() == 0


@pytest.mark.parametrize("units", [{"audio_seconds": 3}, {"output_token": -1}])
def test_report_usage_rejects_unknown_units_and_negative_amounts(units):
    from calibrate.monitor import report_usage

    with pytest.raises(ValueError, match="audio_seconds|non-negative"):
        report_usage(**units)


def test_report_usage_outside_a_request_is_a_no_op():
    from calibrate.monitor import report_usage

    assert report_usage(audio_second=3) is False
