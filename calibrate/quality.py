"""Does the measured energy respond to work? Flags for fits a forecast should not trust.

A meter that reads the same power under load as at idle (codecarbon's constant TDP, a
cpu_load model that misses the GPU, a stuck counter) still yields numbers, and a fit of
them still yields coefficients. The checks below make that visible: the energy fit must
explain the calls (r2), some unit's coefficient must be positive beyond its 95% interval,
and the power during the calls must stand above the idle power by more than idle's drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Below this r2 the energy model explains too little of the calls' energy to price them.
R2_MIN = 0.5
#: Two-sided 95% normal quantile: a coefficient responds when mean - Z95*sd > 0.
Z95 = 1.96
#: Power under load within this fraction of idle (or of idle's drift, if larger) reads as flat.
FLAT_FRACTION = 0.02

FLAG_TEXT = {
    "not_fitted": "energy could not be fitted (too few calls with energy above idle)",
    "no_slope": "no unit's energy coefficient is above 0 beyond its 95% interval",
    "low_r2": f"the energy fit explains little (r2 below {R2_MIN})",
    "flat_meter": "the meter read about the same power under load as at idle",
}


@dataclass
class EnergyCheck:
    """Verdict on one model's energy measurements; ``flags`` are keys of ``FLAG_TEXT``."""

    responds: bool
    flags: list[str] = field(default_factory=list)
    power_above_idle_w: float | None = None  # mean power during the calls, less idle (W)

    def describe(self) -> str:
        """The flags in words, for notes and warnings."""
        return "; ".join(FLAG_TEXT[f] for f in self.flags)


def significant_units(mean: dict[str, float], sd: dict[str, float], units: list[str]) -> list[str]:
    """Units whose fitted coefficient's 95% interval lies above 0 (an unknown sd never does)."""
    out = []
    for u in units:
        m, s = mean.get(u, 0.0), sd.get(u, float("nan"))
        if m > 0 and s == s and m - Z95 * s > 0:  # s == s: not NaN
            out.append(u)
    return out


def is_flat(total_energy_j: float, span_s: float, idle_w: float, idle_drift_w: float) -> tuple[bool, float | None]:
    """Whether mean power over the calls (total energy / time it covers) stays within noise of idle."""
    if span_s <= 0:
        return True, None
    above = total_energy_j / span_s - idle_w
    return above <= max(FLAT_FRACTION * abs(idle_w), 2 * idle_drift_w), above


def check_energy(
    fitted: bool, r2: float | None, slope_units: list[str], flat: bool, power_above_idle_w: float | None
) -> EnergyCheck:
    """Combine the checks; ``fitted`` is False when the energy fit raised."""
    flags = []
    if not fitted:
        flags.append("not_fitted")
    else:
        if not slope_units:
            flags.append("no_slope")
        if r2 is None or r2 < R2_MIN:
            flags.append("low_r2")
    if flat:
        flags.append("flat_meter")
    return EnergyCheck(responds=not flags, flags=flags, power_above_idle_w=power_above_idle_w)
