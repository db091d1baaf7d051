"""Configuration of the live monitor: where records go, how carbon is counted, budgets.

Every field has a unit in its name. The defaults describe the reference deployment:
Azure France Central, location-based grid intensity 56.0 gCO2e/kWh (codecarbon 3.x
``global_energy_mix.json``, France, OWID 2023) and PUE 1.185 (Microsoft fleet-wide
trailing twelve months, as quoted by Cloud Carbon Footprint). Change both for another
region; see the README's table of regions.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Joules in one kilowatt-hour.
J_PER_KWH = 3.6e6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetSpec(_Strict):
    """A monthly carbon budget for one service, optionally for one language only (gCO2e).

    Spending counts the emissions attributed to the service's requests (energy above
    idle x PUE x grid intensity) in the calendar month (UTC) in which they started.
    """

    service: str = Field(min_length=1)
    language: str | None = Field(default=None, description="None: all languages of the service together")
    monthly_g_co2e: float = Field(gt=0)


class MonitorConfig(_Strict):
    """Settings of ``CarbonMonitor`` / ``CarbonMiddleware``."""

    store: Path = Field(default=Path("carbon.db"), description="SQLite file for request and interval records")
    grid_intensity_g_per_kwh: float = Field(default=56.0, ge=0, description="location-based, gCO2e/kWh")
    pue: float = Field(default=1.185, ge=1.0, description="data-centre power usage effectiveness")
    sample_interval_s: float = Field(default=1.0, gt=0, description="how often the meter is read")
    meter_device: str = Field(default="cuda", description="passed to calibrate.meters.detect_meter")
    idle_power_w: float | None = Field(
        default=None, ge=0, description="idle baseline; None: learned from intervals with no request in flight"
    )
    service_weights: dict[str, float] = Field(
        default_factory=dict, description="relative power draw per service when requests overlap (default 1)"
    )
    budgets: list[BudgetSpec] = Field(default_factory=list)
    languages: list[str] | None = Field(
        default=None, description="known language codes; others are recorded as 'other' (bounds metric labels)"
    )
    max_languages: int = Field(default=32, ge=1, description="distinct languages kept when `languages` is unset")
    admin_token: SecretStr | None = Field(default=None, description="bearer token of the admin routes; None: off")
    admin_prefix: str = "/carbon"
    metrics_path: str | None = Field(default="/metrics", description="None: do not serve Prometheus metrics")
    queue_max: int = Field(default=10_000, ge=1, description="records waiting for the disk; beyond it they are dropped and counted")
    batch_max: int = Field(default=500, ge=1, description="records per SQLite transaction")
    flush_interval_s: float = Field(default=0.2, gt=0, description="longest wait before a partial batch is written")

    @field_validator("service_weights")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, w in v.items() if not w > 0)
        if bad:
            raise ValueError(f"service weights must be positive; fix {bad}")
        return v

    @field_validator("admin_prefix", "metrics_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or v.endswith("/") and v != "/"):
            raise ValueError(f"{v!r}: paths start with '/' and do not end with one, e.g. '/carbon'")
        return v

    @model_validator(mode="after")
    def _unique_budgets(self) -> "MonitorConfig":
        keys = [(b.service, b.language) for b in self.budgets]
        dup = sorted({f"{s}/{lang or '*'}" for s, lang in keys if keys.count((s, lang)) > 1})
        if dup:
            raise ValueError(f"budgets: one entry per service and language; duplicated {dup}")
        return self

    def grams_co2e(self, energy_j: float) -> float:
        """Emissions (gCO2e) of ``energy_j`` joules drawn by the IT equipment."""
        return energy_j / J_PER_KWH * self.pue * self.grid_intensity_g_per_kwh


def load_monitor_config(path: str | Path) -> MonitorConfig:
    """Read a YAML monitor config; errors name the file, the field and the fix."""
    from sim.config.errors import load_yaml_model

    return load_yaml_model(Path(path), MonitorConfig)
