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

from .languages import OTHER_LANGUAGE, primary_subtag

# Joules in one kilowatt-hour.
J_PER_KWH = 3.6e6

#: Fewest characters of an admin token; a shorter one is refused at start.
MIN_ADMIN_TOKEN_CHARS = 16
TOKEN_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _language_code(value: str, where: str, allow_other: bool = False) -> str:
    """``value`` as a lower-case primary subtag (``other`` too when allowed), else a clear error."""
    if allow_other and value == OTHER_LANGUAGE:
        return value
    code = primary_subtag(value)
    if code is None or code != value.strip().lower():
        hint = f"the primary subtag {code!r}" if code else "a two- or three-letter ISO 639 code such as 'ar'"
        extra = " (or 'other' for every language outside the configured ones)" if allow_other else ""
        raise ValueError(f"{where} {value!r} is not a BCP 47 primary language subtag; use {hint}{extra}")
    return code


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # every number finite


class BudgetSpec(_Strict):
    """A monthly carbon budget for one service, optionally for one language only (gCO2e).

    Spending counts the emissions attributed to the service's requests (energy above
    idle x PUE x grid intensity) in the calendar month (UTC) in which they started.
    """

    service: str = Field(min_length=1)
    language: str | None = Field(
        default=None, description="a primary subtag ('ar'), 'other', or None: all languages of the service together"
    )
    monthly_g_co2e: float = Field(gt=0)

    @field_validator("language")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        return None if v is None else _language_code(v, "language", allow_other=True)


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
        default=None, description="known language codes (primary subtags); others are recorded as 'other'"
    )
    max_languages: int = Field(
        default=32, ge=1, description="distinct unconfigured languages kept when `languages` is unset (budgeted ones apart)"
    )
    admin_token: SecretStr | None = Field(
        default=None, description=f"bearer token of the admin routes, at least {MIN_ADMIN_TOKEN_CHARS} characters; None: off"
    )
    admin_prefix: str = "/carbon"
    metrics_path: str | None = Field(default="/metrics", description="None: do not serve Prometheus metrics")
    queue_max: int = Field(default=10_000, ge=1, description="records waiting for the disk; beyond it they are dropped and counted")
    store_max_mb: float | None = Field(
        default=None, gt=0, description="cap on the store file (MB, 1e6 bytes); past it records are dropped and counted, as on a full disk"
    )
    batch_max: int = Field(default=500, ge=1, description="records per SQLite transaction")
    flush_interval_s: float = Field(default=0.2, gt=0, description="longest wait before a partial batch is written")

    @field_validator("service_weights")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, w in v.items() if not w > 0)
        if bad:
            raise ValueError(f"service weights must be positive; fix {bad}")
        return v

    @field_validator("languages")
    @classmethod
    def _codes(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_language_code(x, "languages:") for x in v]

    @field_validator("admin_token")
    @classmethod
    def _long_token(cls, v: SecretStr | None) -> SecretStr | None:
        # An empty or short token would open the admin routes to anyone who guesses it.
        if v is not None and len(v.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"the admin token has {len(v.get_secret_value())} characters, fewer than {MIN_ADMIN_TOKEN_CHARS}; "
                f"generate one with `{TOKEN_HOWTO}`, or leave it unset to turn the admin routes off"
            )
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
        if self.languages is not None:
            missing = sorted({lang for _, lang in keys if lang not in (None, OTHER_LANGUAGE, *self.languages)})
            if missing:
                raise ValueError(f"budgets name language(s) {missing} that `languages` lacks; add them to `languages`")
        return self

    def configured_languages(self) -> set[str]:
        """Codes always kept as labels: ``languages`` and those named by budgets (not 'other')."""
        named = {b.language for b in self.budgets if b.language not in (None, OTHER_LANGUAGE)}
        return set(self.languages or ()) | named

    def grams_co2e(self, energy_j: float) -> float:
        """Emissions (gCO2e) of ``energy_j`` joules drawn by the IT equipment."""
        return energy_j / J_PER_KWH * self.pue * self.grid_intensity_g_per_kwh


def load_monitor_config(path: str | Path) -> MonitorConfig:
    """Read a YAML monitor config; errors name the file, the field and the fix."""
    from sim.config.errors import load_yaml_model

    return load_yaml_model(Path(path), MonitorConfig)
