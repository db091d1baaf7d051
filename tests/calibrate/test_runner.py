"""The calibration runner's protocol, on a scripted backend: warm-up per sample, then repeats."""

from __future__ import annotations

import itertools

from calibrate.backends.base import BACKENDS, Backend, RunResult, SampleError
from calibrate.meters import Meter
from calibrate.runner import ServiceSpec, run_calibration
from calibrate.samples import Sample


class _Scripted(Backend):
    """Logs every call; a sample whose text is "bad" raises as a corrupt input would."""

    name = "test-scripted"
    service = "translate"
    units = ["input_token"]
    kinds = ("text",)
    library = "numpy"  # any installed package: the runner records the backend's library version
    calls: list[str] = []

    def run(self, sample: Sample) -> RunResult:
        type(self).calls.append(sample.id)
        if sample.text == "bad":
            raise SampleError(f"{sample.id}: unreadable")
        return RunResult({"input_token": float(len(sample.text))})


class _Counter(Meter):
    """A counter that moves by 1 J at each reading: energy > 0 in every window."""

    method = "rapl"

    def __init__(self):
        self._ticks = itertools.count()

    def read_energy_j(self) -> float:
        return float(next(self._ticks))


def test_every_sample_is_warmed_up_before_its_measured_calls(monkeypatch):
    monkeypatch.setitem(BACKENDS, _Scripted.name, _Scripted)
    _Scripted.calls = []
    samples = [Sample("a", "text", "en", text="short"), Sample("b", "text", "en", text="a longer text"),
               Sample("x", "text", "en", text="bad"), Sample("c", "text", "en", text="longest text of the three")]
    run = run_calibration([ServiceSpec(_Scripted.name, "m", key="m")], samples, _Counter(), repeats=2, warmup=1, idle_s=0.0)
    # each good sample: one unmeasured call, then two measured; the bad one fails at its warm-up, once
    assert _Scripted.calls == ["a"] * 3 + ["b"] * 3 + ["x"] + ["c"] * 3
    (service,) = run.services
    assert [(r.sample, r.repeat) for r in service.records] == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 1)]
    assert [(f.model, f.sample) for f in run.failures] == [("m", "x")]
