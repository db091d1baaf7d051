"""NvmlMeter on a real NVIDIA GPU (skipped where there is none).

``test_meters.py`` checks the meter against fake NVML readings; this file checks that the
readings of a real driver behave as the meter assumes: the cumulative counter (J) exists
on Volta and later, never decreases, refreshes at least every ``update_period_s``, agrees
with the integral of sampled power (W x s) over a sustained matmul load; that
``measure()`` aligns even a window of a few milliseconds on the counter's steps; and that
short calls measured one by one add up to what one long window measures.

Needs an NVIDIA driver, ``nvidia-ml-py`` and a CUDA build of ``torch``. The whole file runs
in about 40 s of GPU time (37 s on an H200). Run with ``-s`` to see the measured figures.
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from calibrate.meters import NvmlMeter, measure, measure_idle_power_w

pynvml = pytest.importorskip("pynvml")
torch = pytest.importorskip("torch")

# Seconds of padding before and after the load, and of load itself (see ``load_run``).
PAD_S = 1.5
LOAD_S = 3.0
SAMPLE_PERIOD_S = 0.02  # the background power sampler's period (s)

# Counter vs integrated-power agreement. Both come from the same board sensor, but
# ``nvmlDeviceGetPowerUsage`` is, on Ampere and later (A100/H100/H200), the power averaged over
# the last ~1 s, not instantaneous: sampled during a step from idle to load it lags by
# ~0.5 s, i.e. up to 0.5 s x (load - idle) W, ~15% of the energy of a 3 s pulse if the
# window cut the ramps off. The window below therefore brackets the load with PAD_S of idle on
# each side so both ramps of the averaged reading lie inside it, which leaves the sensor's own
# accuracy (NVIDIA quotes +-5% for power) and the 20 ms sampling of a signal that still
# moves (clock and power-capping transients) as error sources. 15% covers those with margin
# while still catching a unit error (mW vs W, mJ vs J: x1000) or a counter that misses a
# GPU or double counts (x2).
REL_TOL = 0.15
# Load power may briefly overshoot the enforced limit before power capping acts.
LIMIT_MARGIN = 1.1


def _nvml_ready() -> None:
    """Skip unless NVML initialises and sees a GPU, and torch sees CUDA."""
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        pytest.skip(f"NVML does not start here ({exc}): no NVIDIA driver")
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    if count == 0:
        pytest.skip("NVML sees no GPU")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here (CPU build or no visible device)")


def _nvml_index_of_torch_device(dev: int) -> int:
    """The NVML index of torch's CUDA device ``dev`` (orders can differ), matched by UUID."""
    try:
        uuid = str(torch.cuda.get_device_properties(dev).uuid)
        for i in range(pynvml.nvmlDeviceGetCount()):
            nv_uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
            nv_uuid = nv_uuid.decode() if isinstance(nv_uuid, bytes) else nv_uuid
            if uuid in nv_uuid:
                return i
    except Exception:
        pass
    return dev


@pytest.fixture(scope="module")
def gpu():
    """(NvmlMeter over the GPU torch uses, its NVML handle, torch device index)."""
    _nvml_ready()
    pynvml.nvmlInit()  # for the limit and name; NVML init is reference counted
    dev = torch.cuda.current_device()
    idx = _nvml_index_of_torch_device(dev)
    handle = pynvml.nvmlDeviceGetHandleByIndex(idx)
    meter = NvmlMeter(indices=[idx])
    try:
        yield meter, handle, dev
    finally:
        meter.close()
        pynvml.nvmlShutdown()


def _name(handle) -> str:
    n = pynvml.nvmlDeviceGetName(handle)
    return n.decode() if isinstance(n, bytes) else n


def _limit_w(handle) -> float:
    """The enforced board power limit in W (NVML gives mW)."""
    return pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0


def _trapezoid_j(ts: list[float], ps: list[float]) -> float:
    """Integral in J of power samples ``ps`` (W) at times ``ts`` (s)."""
    return sum(0.5 * (ps[i] + ps[i - 1]) * (ts[i] - ts[i - 1]) for i in range(1, len(ts)))


@pytest.fixture(scope="module")
def load_run(gpu):
    """One run of PAD_S idle, LOAD_S of bf16 (fp16 before Ampere) matmuls, PAD_S idle.

    A background thread samples every SAMPLE_PERIOD_S: time (s), ``meter.read_power_w()`` (W)
    and ``meter.read_energy_j()`` (J, the counter). Returns those lists, the load's start and
    end times (s) and the mean power (W) of the idle pad before the load.
    """
    meter, handle, dev = gpu
    dtype = torch.bfloat16 if torch.cuda.get_device_capability(dev) >= (8, 0) else torch.float16
    n = 8192
    a = torch.randn(n, n, device=f"cuda:{dev}", dtype=dtype)
    b = torch.randn(n, n, device=f"cuda:{dev}", dtype=dtype)
    c = a @ b  # cuBLAS warm-up, outside the window
    torch.cuda.synchronize(dev)
    meter.read_energy_j()  # first reading initialises the meter, outside the window

    ts: list[float] = []
    ps: list[float] = []
    es: list[float] = []
    stop = threading.Event()

    def sampler() -> None:
        while True:
            e = meter.read_energy_j()
            p = meter.read_power_w()
            ts.append(time.perf_counter())
            es.append(e)
            ps.append(p)
            if stop.wait(SAMPLE_PERIOD_S):
                break

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    time.sleep(PAD_S)
    t_load0 = time.perf_counter()
    matmuls = 0
    while time.perf_counter() - t_load0 < LOAD_S:
        for _ in range(10):  # short batches so the load stops close to LOAD_S
            c = a @ b
        matmuls += 10
        torch.cuda.synchronize(dev)
    t_load1 = time.perf_counter()
    time.sleep(PAD_S)
    stop.set()
    th.join(timeout=5.0)
    assert not th.is_alive()
    del a, b, c
    torch.cuda.empty_cache()

    idle = [p for t, p in zip(ts, ps) if t < t_load0 - 0.2]
    # Steady load: skip the first second (the ~1 s averaged power ramps up over it).
    steady = [p for t, p in zip(ts, ps) if t_load0 + 1.0 <= t <= t_load1]
    run = dict(ts=ts, ps=ps, es=es, t_load0=t_load0, t_load1=t_load1, matmuls=matmuls, n=n, dtype=str(dtype),
               idle_w=sum(idle) / len(idle), load_w=sum(steady) / len(steady))
    tflops = 2 * n**3 * matmuls / (t_load1 - t_load0) / 1e12
    print(f"\n[nvml-gpu] {_name(handle)}, driver {meter.describe().get('nvml-driver')}, "
          f"limit {_limit_w(handle):.0f} W; {matmuls} {dtype} {n}^3 matmuls in {t_load1 - t_load0:.2f} s "
          f"({tflops:.0f} TFLOP/s); {len(ts)} samples over {ts[-1] - ts[0]:.2f} s")
    return run


def test_meter_uses_the_counter_and_names_the_driver(gpu):
    meter, handle, dev = gpu
    assert meter.gpu_count == 1
    volta_or_later = torch.cuda.get_device_capability(dev) >= (7, 0)
    if volta_or_later:
        assert meter.has_counter == [True]
        assert "no energy counter" not in meter.uncertainty
    else:
        assert meter.has_counter == [False] and "no energy counter" in meter.uncertainty
    tools = meter.describe()
    driver = tools.get("nvml-driver", "")
    assert driver and driver[0].isdigit() and "." in driver
    print(f"\n[nvml-gpu] {_name(handle)} cc {torch.cuda.get_device_capability(dev)}: "
          f"has_counter={meter.has_counter}, describe={tools}")


def test_counter_energy_matches_integrated_power_over_a_load(gpu, load_run):
    """Counter delta (J) vs trapezoid of sampled power (W x s) over the same window."""
    meter, handle, _ = gpu
    ts, ps, es = load_run["ts"], load_run["ps"], load_run["es"]
    window_s = ts[-1] - ts[0]
    counter_j = es[-1] - es[0]
    integrated_j = _trapezoid_j(ts, ps)
    rel = (counter_j - integrated_j) / integrated_j
    idle_w, load_w, limit_w = load_run["idle_w"], load_run["load_w"], _limit_w(handle)
    print(f"\n[nvml-gpu] window {window_s:.2f} s (load {load_run['t_load1'] - load_run['t_load0']:.2f} s): "
          f"counter {counter_j:.1f} J vs integrated power {integrated_j:.1f} J, diff {rel * 100:+.2f}%; "
          f"mean power {counter_j / window_s:.1f} W (counter) / {integrated_j / window_s:.1f} W (samples); "
          f"idle {idle_w:.1f} W, steady load {load_w:.1f} W, limit {limit_w:.0f} W")
    assert counter_j > 0 and integrated_j > 0
    assert abs(rel) <= REL_TOL
    # The load must be visible: well above idle, and physically possible for the board.
    assert load_w > 1.5 * idle_w
    assert load_w < LIMIT_MARGIN * limit_w
    assert 0 < idle_w < limit_w


def test_readings_never_decrease(load_run):
    es, ps, ts = load_run["es"], load_run["ps"], load_run["ts"]
    assert all(e1 >= e0 for e0, e1 in zip(es, es[1:]))
    assert all(p is not None and p > 0 for p in ps)
    assert all(t1 > t0 for t0, t1 in zip(ts, ts[1:]))
    # Every step between samples is a plausible energy (J): no wrap/reset artefacts.
    steps = [e1 - e0 for e0, e1 in zip(es, es[1:])]
    assert max(steps) < 1e4  # a ~20 ms step above 10 kJ would be a 500 kW board


def test_counter_refreshes_within_update_period(gpu):
    """The counter must move at least every ``update_period_s`` (s): ``measure()`` trusts
    counter deltas for windows of two periods or more."""
    meter, _, _ = gpu
    changes: list[float] = []
    last = meter.read_energy_j()
    t_end = time.perf_counter() + 0.6
    while time.perf_counter() < t_end:
        e = meter.read_energy_j()
        if e != last:
            changes.append(time.perf_counter())
            last = e
        time.sleep(0.001)
    gaps = sorted(t1 - t0 for t0, t1 in zip(changes, changes[1:]))
    print(f"\n[nvml-gpu] idle counter: {len(changes)} changes in 0.6 s, "
          f"median gap {gaps[len(gaps) // 2] * 1000 if gaps else math.nan:.1f} ms, "
          f"max gap {gaps[-1] * 1000 if gaps else math.nan:.1f} ms (meter assumes {meter.update_period_s * 1000:.0f} ms)")
    assert len(changes) >= 3
    assert gaps[-1] <= meter.update_period_s * 1.5


def test_a_window_of_a_few_ms_is_aligned_on_the_counters_steps(gpu):
    """A window far shorter than the counter period is aligned on the counter's steps: its
    energy (J) is a counter delta over ``span_s`` (up to one period past the body), > 0 J."""
    meter, handle, _ = gpu
    assert meter.steps
    with measure(meter) as win:
        time.sleep(0.005)
    print(f"\n[nvml-gpu] 5 ms window: {win.energy_j:.3f} J over a span of {win.span_s * 1000:.1f} ms "
          f"(body {win.duration_s * 1000:.2f} ms), aligned={win.aligned}, estimated={win.estimated}")
    assert win.aligned and not win.estimated
    assert win.duration_s <= win.span_s <= win.duration_s + 1.6 * meter.update_period_s
    assert win.energy_j > 0
    assert 1.0 < win.energy_j / win.span_s < LIMIT_MARGIN * _limit_w(handle)


BURST_S = 0.3  # a call shorter than a few counter periods, as many model calls are
BURSTS = 8


def test_short_calls_measured_alone_add_up_to_what_a_long_window_measures(gpu):
    """Energy above idle (J) of 0.3 s matmul bursts, each in its own aligned window, against
    the same bursts (idle gaps included) inside one long window, per burst. Read at its
    edges, a 0.3 s window on a 100 ms counter is off by up to a third; aligned, each one
    should be within 25% of the reference and their mean within 10%."""
    meter, handle, dev = gpu
    dtype = torch.bfloat16 if torch.cuda.get_device_capability(dev) >= (8, 0) else torch.float16
    a = torch.randn(8192, 8192, device=f"cuda:{dev}", dtype=dtype)
    b = torch.randn(8192, 8192, device=f"cuda:{dev}", dtype=dtype)
    c = a @ b
    torch.cuda.synchronize(dev)
    t = time.perf_counter()
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize(dev)
    per_matmul_s = (time.perf_counter() - t) / 20
    n_matmuls = max(1, round(BURST_S / per_matmul_s))

    def burst() -> None:
        for _ in range(n_matmuls):
            a @ b
        torch.cuda.synchronize(dev)

    time.sleep(1.5)  # let the power settle back to idle
    idle_w = measure_idle_power_w(meter, seconds=1.5)
    alone = []
    for _ in range(BURSTS):
        with measure(meter) as win:
            burst()
        alone.append(win.energy_j - idle_w * win.span_s)
        assert win.aligned
        time.sleep(0.4)
    edges = []  # the same bursts read at their edges, as an unaligned window would
    for _ in range(BURSTS):
        e0, t0 = meter.read_energy_j(), time.perf_counter()
        burst()
        edges.append(meter.read_energy_j() - e0 - idle_w * (time.perf_counter() - t0))
        time.sleep(0.4)
    with measure(meter) as long_win:
        for _ in range(BURSTS):
            burst()
            time.sleep(0.4)
    reference = (long_win.energy_j - idle_w * long_win.span_s) / BURSTS
    mean = sum(alone) / len(alone)
    print(f"\n[nvml-gpu] {BURSTS} bursts of {n_matmuls} matmuls (~{n_matmuls * per_matmul_s:.2f} s): idle {idle_w:.1f} W; "
          f"above idle per burst: alone (aligned) {', '.join(f'{x:.0f}' for x in alone)} J, mean {mean:.1f} J; "
          f"in one {long_win.span_s:.1f} s window {reference:.1f} J ({(mean / reference - 1) * 100:+.1f}%); "
          f"read at the edges instead: {', '.join(f'{x:.0f}' for x in edges)} J")
    del a, b, c
    torch.cuda.empty_cache()
    assert reference > 0
    assert abs(mean / reference - 1) <= 0.10
    assert all(abs(x / reference - 1) <= 0.25 for x in alone)


def test_idle_power_over_a_second_comes_from_the_counter(gpu):
    """``measure_idle_power_w`` over 1 s: a counter delta (not estimated), between 1 W and the limit."""
    meter, handle, _ = gpu
    idle_w = measure_idle_power_w(meter, seconds=1.0)
    with measure(meter) as win:
        time.sleep(0.5)
    print(f"\n[nvml-gpu] measure_idle_power_w(1 s) = {idle_w:.1f} W; 0.5 s window {win.energy_j:.1f} J, "
          f"estimated={win.estimated}")
    assert not win.estimated
    assert 1.0 < idle_w < _limit_w(handle)
