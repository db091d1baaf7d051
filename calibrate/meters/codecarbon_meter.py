"""The portable fallback: codecarbon's offline tracker (a model of CPU power, not a measurement)."""

from __future__ import annotations

import contextlib

from .base import Meter, MeterUnavailable


class CodecarbonMeter(Meter):
    """Portable fallback: codecarbon's ``OfflineEmissionsTracker`` (CPU + RAM, + GPU if any).

    Its CPU energy is a model: in ``cpu_load`` mode the CPU's TDP scaled by utilisation
    (method ``codecarbon-cpu-load``), else a constant TDP (``codecarbon-constant``), which
    cannot see any difference between idle and busy. RAM is a constant power and cancels out
    of energy above idle. The method is known once the tracker has started.
    """

    update_period_s = 0.0  # each reading triggers a fresh measurement

    def __init__(self, tracker: object | None = None, country_iso_code: str = "FRA"):
        self._tracker = tracker
        self._country = country_iso_code
        self._started = False
        self.method = "codecarbon-cpu-load"

    def _init(self) -> None:
        if self._started:
            return
        if self._tracker is None:
            try:
                from codecarbon import OfflineEmissionsTracker
            except ImportError as exc:
                raise MeterUnavailable("the codecarbon fallback needs `pip install codecarbon`") from exc
            self._tracker = OfflineEmissionsTracker(
                country_iso_code=self._country,
                save_to_file=False,
                log_level="error",
                tracking_mode="machine",
                allow_multiple_runs=True,
            )
        self._tracker.start()
        modes = {getattr(h, "_mode", None) for h in getattr(self._tracker, "_hardware", [])}
        self.method = "codecarbon-cpu-load" if "cpu_load" in modes else "codecarbon-constant"
        self._started = True

    @property
    def uncertainty(self) -> str:  # type: ignore[override]
        if self.method == "codecarbon-constant":
            return "codecarbon constant TDP: no load signal, energy above idle is unresolvable (order of magnitude only)"
        return "codecarbon cpu_load: TDP x CPU utilisation, a model not a measurement (+-30% or worse)"

    def read_energy_j(self) -> float:
        self._init()
        # codecarbon has no public cumulative reading; the tracker's total is refreshed on demand.
        self._tracker._measure_power_and_energy()
        return float(self._tracker._total_energy.kWh) * 3.6e6

    def read_power_w(self) -> float | None:
        self._init()
        p = getattr(self._tracker, "_cpu_power", None)
        return None if p is None else float(p.W)

    def describe(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"codecarbon": version("codecarbon")}

    def close(self) -> None:
        if self._started:
            with contextlib.suppress(Exception):
                self._tracker.stop()
        self._started = False
