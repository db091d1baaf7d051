"""Azure catalogue: VM SKUs (power, embodied, price) and regions (grid intensity, PUE).

Shipped in ``configs/azure/``; users override by pointing the scenario at their own files.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .base import ConfigModel
from .distributions import Bounded
from .errors import load_yaml_model

#: Plausibility bounds on prices (a typo, not a price): the dearest Azure GPU VMs list at
#: about 100 USD an hour, and regions differ from the list price by tens of percent.
MAX_PRICE_PER_HOUR = 10_000.0
MAX_PRICE_FACTOR = 10.0
#: GPUs in one VM: the largest Azure GPU sizes have 8.
MAX_GPUS_PER_VM = 16


class _Strict(ConfigModel):
    """Unknown fields, NaN, infinity and magnitudes beyond 1e12 refused (``ConfigModel``)."""


class Sku(_Strict):
    gpu: str
    gpus: int = Field(ge=0, le=MAX_GPUS_PER_VM, description="whole GPUs (a fractional vGPU counts as its share)")
    gpu_fraction: float = Field(default=1.0, gt=0, le=1, description="share of each GPU (partitioned SKUs)")
    vcpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    gpu_idle_power_w: Bounded(ge=0) = Field(description="epistemic, per GPU")
    gpu_max_power_w: float = Field(gt=0)
    host_power_w: Bounded(ge=0) = Field(description="epistemic: CPU and memory base draw of the VM")
    embodied_gpu_kg: Bounded(ge=0) = Field(description="epistemic, per GPU")
    embodied_server_kg: Bounded(ge=0) = Field(description="epistemic, whole host without GPUs")
    server_share: float = Field(gt=0, le=1, description="share of the host this VM reserves")
    lifetime_years: Bounded(gt=0) = Field(description="epistemic, amortisation period, > 0")
    price_per_hour: float = Field(ge=0, le=MAX_PRICE_PER_HOUR, description="USD per hour, list price")
    currency: str = "USD"
    source: str = Field(min_length=1)


class Region(_Strict):
    name: str
    country: str = Field(description="ISO 3166-1 alpha-3")
    grid_intensity_g_per_kwh: Bounded(ge=0) = Field(description="epistemic, location-based")
    pue: Bounded(ge=1) = Field(description="epistemic, >= 1 (facility energy / IT energy)")
    price_factor: float = Field(default=1.0, gt=0, le=MAX_PRICE_FACTOR, description="VM price relative to the SKU's list price")
    source: str = Field(min_length=1, description="where the grid intensity comes from")
    pue_source: str = Field(default="", description="where the PUE comes from (default: `source`)")


class SkuCatalogue(_Strict):
    prices_date: str = ""
    prices_source: str = ""
    skus: dict[str, Sku] = Field(min_length=1)


class RegionCatalogue(_Strict):
    regions: dict[str, Region] = Field(min_length=1)


def load_skus(path: Path) -> SkuCatalogue:
    return load_yaml_model(path, SkuCatalogue, "SKU catalogue")


def load_regions(path: Path) -> RegionCatalogue:
    return load_yaml_model(path, RegionCatalogue, "region catalogue")
