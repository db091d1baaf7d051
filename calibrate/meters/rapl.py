"""CPU package energy from Linux powercap (RAPL)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .base import Meter, MeterUnavailable, WrappingCounter


class RaplMeter(Meter):
    """CPU package energy from Linux powercap (``/sys/class/powercap/intel-rapl:N/energy_uj``).

    Sums the top-level package zones only (sub-zones such as core and dram are parts of
    them or separately scoped; adding them would double count). Wraps at each zone's
    ``max_energy_range_uj``. Also used by AMD CPUs on recent kernels. Rarely readable inside
    cloud VMs and often root-only since CVE-2020-8694.
    """

    method = "rapl"
    update_period_s = 0.001
    uncertainty = "RAPL package counters: a model-based estimate, within a few % on recent CPUs; DRAM and GPU excluded"

    def __init__(self, root: str | Path = "/sys/class/powercap"):
        self.root = Path(root)
        self._zones: list[tuple[Path, WrappingCounter]] | None = None

    def _init(self) -> None:
        if self._zones is not None:
            return
        zones = sorted(p for p in glob.glob(str(self.root / "intel-rapl:*")) if p.count(":") == 1)
        if not zones:
            raise MeterUnavailable(f"no RAPL zones under {self.root} (not an x86 host, or inside a VM)")
        found = []
        for z in map(Path, zones):
            energy = z / "energy_uj"
            if not os.access(energy, os.R_OK):
                raise MeterUnavailable(f"{energy} is not readable; run as root or `chmod a+r` it")
            rng = z / "max_energy_range_uj"
            modulus = int(rng.read_text()) + 1 if rng.exists() else None
            found.append((energy, WrappingCounter(modulus)))
        self._zones = found

    def read_energy_j(self) -> float:
        self._init()
        return sum(counter.update(int(path.read_text())) for path, counter in self._zones) / 1e6
