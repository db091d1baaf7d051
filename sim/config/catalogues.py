"""Azure catalogue: VM SKUs (power, embodied, price) and regions (grid intensity, PUE).

Shipped in ``configs/azure/``; users override by pointing the scenario at their own files.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .distributions import Uncertain
from .errors import load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sku(_Strict):
    gpu: str
    gpus: int = Field(ge=0, description="whole GPUs (a fractional vGPU counts as its share)")
    gpu_fraction: float = Field(default=1.0, gt=0, le=1, description="share of each GPU (partitioned SKUs)")
    vcpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    gpu_idle_power_w: Uncertain = Field(description="epistemic, per GPU")
    gpu_max_power_w: float = Field(gt=0)
    host_power_w: Uncertain = Field(description="epistemic: CPU and memory base draw of the VM")
    embodied_gpu_kg: Uncertain = Field(description="epistemic, per GPU")
    embodied_server_kg: Uncertain = Field(description="epistemic, whole host without GPUs")
    server_share: float = Field(gt=0, le=1, description="share of the host this VM reserves")
    lifetime_years: Uncertain = Field(description="epistemic, amortisation period")
    price_per_hour: float = Field(ge=0)
    currency: str = "USD"
    source: str = Field(min_length=1)


class Region(_Strict):
    name: str
    country: str = Field(description="ISO 3166-1 alpha-3")
    grid_intensity_g_per_kwh: Uncertain = Field(description="epistemic, location-based")
    pue: Uncertain = Field(description="epistemic")
    price_factor: float = Field(default=1.0, gt=0, description="VM price relative to the SKU's list price")
    source: str = Field(min_length=1, description="where the grid intensity comes from")
    pue_source: str = Field(default="", description="where the PUE comes from (default: `source`)")


class SkuCatalogue(_Strict):
    prices_date: str = ""
    prices_source: str = ""
    skus: dict[str, Sku]


class RegionCatalogue(_Strict):
    regions: dict[str, Region]


def load_skus(path: Path) -> SkuCatalogue:
    return load_yaml_model(path, SkuCatalogue)


def load_regions(path: Path) -> RegionCatalogue:
    return load_yaml_model(path, RegionCatalogue)
