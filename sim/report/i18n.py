"""Words and number formats of the report, in English and French.

Every string the report or its charts show comes from :data:`STRINGS` (read from
``data/strings.<lang>.yaml``); both languages have
the same keys (tested). Numbers follow each language's conventions (``1,234.5`` and
``1 234,5``).
"""

from __future__ import annotations

import math
from importlib.resources import files

import yaml

LANGS = ("en", "fr")


def _load(lang: str) -> dict[str, str]:
    text = files("sim.report").joinpath("data", f"strings.{lang}.yaml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in yaml.safe_load(text).items()}


#: Every string, per language, from ``data/strings.<lang>.yaml``.
STRINGS: dict[str, dict[str, str]] = {lang: _load(lang) for lang in LANGS}

# IPCC AR6 calibrated likelihood: (lower bound of the probability, key), checked top down.
_IPCC = ((0.99, "virtually_certain"), (0.90, "very_likely"), (0.66, "likely"), (0.33, "about_as_likely"),
         (0.10, "unlikely"), (0.01, "very_unlikely"), (0.0, "exceptionally_unlikely"))


class Strings:
    """Lookup and number formatting for one language."""

    def __init__(self, lang: str):
        if lang not in STRINGS:
            raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGS)}")
        self.lang = lang
        self._s = STRINGS[lang]

    def __call__(self, key: str, **kw: object) -> str:
        text = self._s[key]
        return text.format(**kw) if kw else text

    def has(self, key: str) -> bool:
        return key in self._s

    def language(self, code: str) -> str:
        return self._s.get(f"lang.{code}", code)

    def component(self, name: str) -> str:
        return self._s.get(f"component.{name}", name)

    def group(self, by: str, name: str) -> str:
        """Display name of a group of ``bands.csv`` (a language code becomes its name)."""
        if name == "(unused)":
            return self("unused")
        if by == "language":
            return self.language(name)
        if by == "component":
            return self.component(name)
        if by == "service":
            return self._s.get(f"service.{name}", name)
        if by == "content_type":
            return self._s.get(f"content.{name}", name)
        return name

    def likelihood(self, p: float) -> str:
        for low, key in _IPCC:
            if p >= low:
                return self(f"ipcc.{key}")
        return self("ipcc.exceptionally_unlikely")

    def num(self, x: float | None, digits: int | None = None) -> str:
        """``x`` with thousands separators; ``digits`` decimals, or chosen by magnitude."""
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return "–"
        if digits is None and x == 0:
            digits = 0
        if digits is None:
            ax = abs(x)
            digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
        s = f"{x:,.{digits}f}"
        if self.lang == "fr":
            s = s.replace(",", "\u202f").replace(".", ",")
        return s

    def pct(self, p: float | None, digits: int = 0) -> str:
        """``p`` (a share, 0..1) as a percentage with ``digits`` decimals."""
        if p is None or not math.isfinite(p):
            return "–"
        s = f"{p * 100:.{digits}f}"
        if self.lang == "fr":
            s = s.replace(".", ",")
        return f"{s}\u202f%" if self.lang == "fr" else f"{s}%"
