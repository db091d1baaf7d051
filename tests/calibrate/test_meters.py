"""Meters: codecarbon on this machine; NVML and RAPL against fake device readings."""

from __future__ import annotations

import pytest

from calibrate.meters import (
    MeterUnavailable,
    NvmlMeter,
    PowerIntegrator,
    RaplMeter,
    WrappingCounter,
    detect_meter,
    make_meter,
    measure,
)


class FakeNvml:
    """pynvml look-alike: per-GPU energy counter (mJ) and power (mW) set by the test."""

    class NotSupported(Exception):
        pass

    def __init__(self, energy_mj=None, power_mw=100_000, count=1):
        self.energy_mj = energy_mj  # list per GPU, or None for no counter
        self.power_mw = power_mw
        self.count = count
        self.inits = 0

    def nvmlInit(self):
        self.inits += 1

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.energy_mj is None:
            raise self.NotSupported("Not Supported")
        return self.energy_mj[h]

    def nvmlDeviceGetPowerUsage(self, h):
        return self.power_mw

    def nvmlSystemGetDriverVersion(self):
        return b"550.54"


def test_nvml_is_lazy_and_sums_counter_deltas():
    nv = FakeNvml(energy_mj=[1_000_000, 5_000], count=2)
    meter = NvmlMeter(nvml=nv)
    assert nv.inits == 0  # nothing happens at construction
    e0 = meter.read_energy_j()
    nv.energy_mj = [1_250_000, 55_000]  # +250 J and +50 J
    assert meter.read_energy_j() - e0 == pytest.approx(300.0)
    assert nv.inits == 1 and meter.has_counter == [True, True]
    meter.close()


def test_nvml_counter_wrap_is_absorbed():
    top = NvmlMeter.COUNTER_MODULUS_MJ
    nv = FakeNvml(energy_mj=[top - 1_000])
    meter = NvmlMeter(nvml=nv)
    e0 = meter.read_energy_j()
    nv.energy_mj = [4_000]  # wrapped: 1,000 mJ to the top, then 4,000 mJ
    assert meter.read_energy_j() - e0 == pytest.approx(5.0)


def test_wrapping_counter_without_modulus_treats_decrease_as_reset():
    c = WrappingCounter()
    c.update(100)
    c.update(150)
    assert c.update(20) == 70  # 50 before the reset, 20 after
    assert c.wraps == 1


def test_nvml_missing_counter_integrates_power_and_says_so():
    nv = FakeNvml(energy_mj=None, power_mw=150_000)
    meter = NvmlMeter(nvml=nv, sample_period_s=3600)  # the background thread stays asleep
    assert meter.has_counter == [False]
    assert "no energy counter" in meter.uncertainty
    assert meter.read_energy_j() >= 0
    meter.close()
    times = iter([0.0, 2.0, 5.0])
    integ = PowerIntegrator(lambda: 150.0, clock=lambda: next(times))
    assert integ.sample() == pytest.approx(300.0)  # 150 W for 2 s
    assert integ.sample() == pytest.approx(750.0)  # and 3 s more


class FakeClock:
    """A clock (s) that moves only when slept on or set: ``measure``'s waits cost no time."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_too_short_window_falls_back_to_power_times_time():
    nv = FakeNvml(energy_mj=[1_000])  # the counter does not move: no step to align on
    meter = NvmlMeter(nvml=nv)
    clock = FakeClock(10.0)
    with measure(meter, clock=clock, sleep=clock.sleep) as win:
        clock.now += 0.01
    assert win.estimated and "shorter" in win.note and not win.aligned
    assert win.energy_j == pytest.approx(100.0 * 0.01)  # 100 W x 10 ms, never 0 J


def test_counter_that_did_not_advance_over_a_long_window_uses_power():
    nv = FakeNvml(energy_mj=[1_000], power_mw=80_000)
    meter = NvmlMeter(nvml=nv)
    clock = FakeClock()
    with measure(meter, clock=clock, sleep=clock.sleep) as win:
        clock.now += 3.0
    assert win.estimated and win.energy_j == pytest.approx(240.0)


class SteppingNvml(FakeNvml):
    """One GPU whose counter, like NVML's on recent GPUs, refreshes every ``step_s``: it
    reads the energy (mJ) integrated up to its last refresh, at ``load_w`` while busy and
    ``idle_w`` otherwise."""

    def __init__(self, clock: FakeClock, step_s=0.1, idle_w=100.0, load_w=400.0):
        super().__init__(energy_mj=[0])
        self.clock, self.step_s, self.idle_w, self.load_w = clock, step_s, idle_w, load_w
        self.changes = [(clock.now, idle_w)]  # (time, power from then on)

    def set_busy(self, busy: bool):
        self.changes.append((self.clock.now, self.load_w if busy else self.idle_w))

    def _energy_j(self, until: float) -> float:
        bounds = [t for t, _ in self.changes[1:]] + [float("inf")]
        return sum(p * max(0.0, min(until, end) - t) for (t, p), end in zip(self.changes, bounds))

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        last_refresh = (self.clock.now // self.step_s) * self.step_s
        return int(round(self._energy_j(last_refresh) * 1000))


@pytest.mark.parametrize("start", [0.0, 0.03, 0.071, 0.0995])
def test_a_short_window_aligned_on_the_counters_steps_gets_the_energy_above_idle_right(start):
    """A 0.25 s call at 400 W over 100 W idle: 75 J above idle. Aligned on the 100 ms steps,
    the counter delta minus idle x span gives it to the polling resolution; read at the
    window's edges, the same counter is off by up to a step's energy at either end."""
    clock = FakeClock(start)
    nv = SteppingNvml(clock)
    meter = NvmlMeter(nvml=nv)
    assert meter.steps
    with measure(meter, clock=clock, sleep=clock.sleep) as win:
        nv.set_busy(True)
        clock.now += 0.25
        nv.set_busy(False)
    assert win.aligned and not win.estimated
    assert win.duration_s == pytest.approx(0.25)
    assert 0.25 <= win.span_s <= 0.25 + 0.1 + 0.002  # runs on to the next step
    assert win.energy_j - nv.idle_w * win.span_s == pytest.approx(75.0, abs=300.0 * 0.002)

    unaligned = []
    for offset in (0.0, 0.05):  # the same call read at its edges, as before alignment
        clock.now = 10.0 + offset
        e0 = meter.read_energy_j()
        nv.set_busy(True)
        clock.now += 0.25
        nv.set_busy(False)
        unaligned.append(meter.read_energy_j() - e0 - nv.idle_w * 0.25)
    assert max(abs(u - 75.0) for u in unaligned) > 10.0  # what alignment removes


def test_several_gpus_are_not_aligned():
    nv = FakeNvml(energy_mj=[1_000, 2_000], count=2)
    assert not NvmlMeter(nvml=nv).steps


def test_rapl_reads_packages_only_and_wraps(tmp_path):
    for zone, energy in (("intel-rapl:0", 900), ("intel-rapl:1", 100)):
        (tmp_path / zone).mkdir()
        (tmp_path / zone / "energy_uj").write_text(str(energy))
        (tmp_path / zone / "max_energy_range_uj").write_text("999")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-zone: must not be added
    (tmp_path / "intel-rapl:0:0" / "energy_uj").write_text("5")
    meter = RaplMeter(tmp_path)
    e0 = meter.read_energy_j()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("100")  # wrapped: +200 uJ
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("400")  # +300 uJ
    assert (meter.read_energy_j() - e0) * 1e6 == pytest.approx(500.0)


def test_rapl_absent_or_unreadable_is_unavailable(tmp_path):
    with pytest.raises(MeterUnavailable, match="no RAPL zones"):
        RaplMeter(tmp_path / "none").read_energy_j()


def test_detect_skips_unavailable_meters_and_records_why(tmp_path):
    meter = detect_meter("cuda", candidates=[lambda: RaplMeter(tmp_path), lambda: NvmlMeter(nvml=FakeNvml([0]))])
    assert meter.method == "nvml"
    assert meter.skipped and meter.skipped[0].startswith("rapl")
    with pytest.raises(ValueError, match="unknown meter"):
        make_meter("joulemeter")


@pytest.mark.slow
def test_codecarbon_fallback_measures_work_above_idle():
    pytest.importorskip("codecarbon")
    meter = make_meter("codecarbon-cpu-load")
    try:
        import time

        with measure(meter) as idle:
            time.sleep(1.0)
        with measure(meter) as busy:
            t_end = time.perf_counter() + 1.0
            x = 0
            while time.perf_counter() < t_end:
                x += 1
        assert meter.method in ("codecarbon-cpu-load", "codecarbon-constant")
        assert idle.energy_j > 0 and busy.energy_j > 0
        if meter.method == "codecarbon-cpu-load":
            # a busy core draws more than an idle machine under the TDP x load model
            assert busy.energy_j / busy.duration_s > idle.energy_j / idle.duration_s
    finally:
        meter.close()
