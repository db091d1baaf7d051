"""The base of every config model: unknown fields, NaN, infinity and absurd magnitudes refused."""

from __future__ import annotations

from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, model_validator

#: Largest magnitude of any number in a config. No quantity here comes near it in its unit
#: (joules per job, seconds, characters, kgCO2e, W, g/kWh); products of a few such numbers
#: and the counts of a run then stay far from float overflow, where 1e300 gave infinities.
MAX_MAGNITUDE = 1e12


def _floats(value: Any) -> Iterator[float]:
    """The floats held directly by a field: itself, or the items of its list or mapping
    (nested models check their own)."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        yield from (v for v in value.values() if isinstance(v, float))
    elif isinstance(value, (list, tuple)):
        yield from (v for v in value if isinstance(v, float))


class ConfigModel(BaseModel):
    """Unknown fields refused; NaN and infinity refused in every number; magnitudes at most
    ``MAX_MAGNITUDE``. Each error names its field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _magnitudes(self) -> "ConfigModel":
        for name, info in type(self).model_fields.items():
            for x in _floats(getattr(self, name)):
                if abs(x) > MAX_MAGNITUDE:
                    raise ValueError(f"{info.alias or name}: {x:g} is beyond {MAX_MAGNITUDE:g}, "
                                     "the largest magnitude a config number may have")
        return self
