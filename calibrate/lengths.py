"""Translation length per language pair: characters of target per character of source.

Measured on parallel text laid out as FLORES-200 is (``<flores_code>.<split>``, one
sentence a line, line N the same sentence in every language). Consecutive sentences are
grouped into chunks of about ``CHUNK_CHARS`` source characters (an article's length), so
the spread between chunks is the spread between texts the simulator translates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.config.distributions import Normal, Uncertain

from .texts import FLORES

CHUNK_CHARS = 4000


@dataclass
class PairRatio:
    """Target characters per source character for one ordered pair, pooled and per chunk."""

    source: str
    target: str
    mean: float  # total target characters / total source characters
    sd: float  # between chunks
    chunks: int
    sentences: int

    @property
    def key(self) -> str:
        return f"{self.source}>{self.target}"

    def as_uncertain(self) -> Uncertain:
        """A normal truncated at a small positive floor, or the number when no spread is known."""
        if self.chunks < 2 or self.sd <= 0:
            return round(self.mean, 4)
        return Normal.model_validate({"dist": "normal", "mean": round(self.mean, 4), "sd": round(self.sd, 4), "low": 0.1})


def read_parallel(root: str | Path, splits: tuple[str, ...] = ("dev", "devtest")) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Aligned sentences per language (short codes) over ``splits``, and the sentence count per split.

    Raises FileNotFoundError naming the folder when a language's file of a split is missing,
    and ValueError when files of one split differ in length (not aligned).
    """
    base = Path(root)
    out: dict[str, list[str]] = {lang: [] for lang in FLORES}
    counts: dict[str, int] = {}
    for split in splits:
        lines = {}
        for lang, code in FLORES.items():
            f = base / f"{code}.{split}"
            if not f.is_file():
                raise FileNotFoundError(f"{f} not found: expected FLORES-200 files <code>.{split} for {sorted(FLORES.values())}")
            lines[lang] = f.read_text(encoding="utf-8").rstrip("\n").split("\n")
        sizes = {len(v) for v in lines.values()}
        if len(sizes) != 1:
            raise ValueError(f"{base}: the .{split} files are not aligned (line counts {sorted(sizes)})")
        counts[split] = sizes.pop()
        for lang, v in lines.items():
            out[lang] += v
    return out, counts


def pair_ratios(sentences: dict[str, list[str]], chunk_chars: int = CHUNK_CHARS) -> dict[str, PairRatio]:
    """Every ordered pair's ratio, keyed ``"src>tgt"``; chunks follow the source's sentence order."""
    out: dict[str, PairRatio] = {}
    for src, s_lines in sentences.items():
        s_len = np.array([len(x) for x in s_lines], dtype=float)
        # a sentence joins the chunk its first source character falls in: chunks of ~chunk_chars
        chunk_id = np.floor((np.cumsum(s_len) - s_len) / chunk_chars).astype(int)
        for tgt, t_lines in sentences.items():
            if tgt == src:
                continue
            t_len = np.array([len(x) for x in t_lines], dtype=float)
            src_sum = np.bincount(chunk_id, weights=s_len)
            tgt_sum = np.bincount(chunk_id, weights=t_len)
            ok = src_sum > 0
            per_chunk = tgt_sum[ok] / src_sum[ok]
            sd = float(np.std(per_chunk, ddof=1)) if len(per_chunk) > 1 else 0.0
            r = PairRatio(src, tgt, float(t_len.sum() / s_len.sum()), sd, int(ok.sum()), len(s_lines))
            out[r.key] = r
    return out
