"""The base of every config model: unknown fields, NaN, infinity and absurd magnitudes refused."""

from __future__ import annotations

from typing import Any, Iterator, get_args

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


def _bool_at(value: Any, annotation: Any) -> str | None:
    """Where a YAML ``true``/``false`` sits: "" for the field itself, ".KEY" for an item of
    its mapping or list (unless the items are models, which check their own fields); None
    when there is none."""
    if isinstance(value, bool):
        return ""
    if _holds_model(annotation):
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((f".{k}" for k, v in items if isinstance(v, bool)), None)


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(a) for a in get_args(annotation))


def _accepts_bool(annotation: Any) -> bool:
    """Whether a field's type takes true/false anywhere (``bool``, ``Any``, a union with bool)."""
    if annotation is bool or annotation is Any:
        return True
    return any(_accepts_bool(a) for a in get_args(annotation))


class ConfigModel(BaseModel):
    """Unknown fields refused; ``true``/``false`` refused where a number or text is expected
    (pydantic would read it as 1 or 0); NaN and infinity refused in every number; magnitudes
    at most ``MAX_MAGNITUDE``. Each error names its field. Frozen: a loaded config cannot
    be changed in place (what a run keeps from it cannot go stale)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                key = info.alias or name
                at = _bool_at(data.get(key, data.get(name)), info.annotation)
                if at is not None and not _accepts_bool(info.annotation):
                    raise ValueError(f"{key}{at}: true or false where a number or text is expected")
        return data

    @model_validator(mode="after")
    def _magnitudes(self) -> "ConfigModel":
        for name, info in type(self).model_fields.items():
            for x in _floats(getattr(self, name)):
                if abs(x) > MAX_MAGNITUDE:
                    raise ValueError(f"{info.alias or name}: {x:g} is beyond {MAX_MAGNITUDE:g}, "
                                     "the largest magnitude a config number may have")
        return self
