"""Workload from the user's own files: real durations and lengths, not guesses.

Reads a sample of files laid out as ``DIR/<lang>/*`` (or listed in a CSV manifest with
columns ``path,lang``), measures media durations (PyAV, ffprobe fallback) and text
lengths (characters, and tokens when a tokenizer is given), fits lognormal distributions
and writes the ``workload`` section of a scenario (sim.config.scenario.Workload). Unreadable files
are listed and skipped.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .samples import AUDIO_EXT, TEXT_EXT, VIDEO_EXT, media_duration_s
from .texts import FLORES
from .tokens import Tokenizer

_KIND = {**{e: "audio" for e in AUDIO_EXT}, **{e: "video" for e in VIDEO_EXT}, **{e: "text" for e in TEXT_EXT}}


@dataclass
class FileStat:
    path: Path
    lang: str
    kind: str
    duration_s: float | None = None
    chars: int | None = None
    tokens: int | None = None


@dataclass
class WorkloadScan:
    files: list[FileStat] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Files per language and content type."""
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            out.setdefault(f.lang, {}).setdefault(f.kind, 0)
            out[f.lang][f.kind] += 1
        return out


def _listing(root: Path, manifest: Path | None) -> list[tuple[Path, str]]:
    if manifest is not None:
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"path", "lang"} <= set(rows[0]):
            raise ValueError(f"{manifest}: needs columns `path` and `lang`, found {sorted(rows[0])}")
        return [((root / r["path"]).resolve(), r["lang"]) for r in rows]
    to_short = {v: k for k, v in FLORES.items()}
    return [(f, to_short.get(d.name, d.name)) for d in sorted(p for p in root.iterdir() if p.is_dir()) for f in sorted(d.rglob("*")) if f.is_file()]


def scan(
    root: str | Path,
    manifest: str | Path | None = None,
    max_files: int | None = None,
    rng: np.random.Generator | None = None,
    tokenizer: Tokenizer | None = None,
) -> WorkloadScan:
    """Measure each file (a random sample of ``max_files`` when given); never raises on a bad file."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: folder not found; expected {base}/<lang>/<files> or a --manifest CSV")
    items = [(p, lang) for p, lang in _listing(base, Path(manifest) if manifest else None) if p.suffix.lower() in _KIND]
    if max_files is not None and len(items) > max_files:
        rng = rng if rng is not None else np.random.default_rng(0)
        items = [items[i] for i in sorted(rng.choice(len(items), max_files, replace=False))]
    out = WorkloadScan()
    for path, lang in items:
        kind = _KIND[path.suffix.lower()]
        try:
            if kind == "text":
                text = path.read_text(encoding="utf-8").strip()
                if not text:
                    raise ValueError("empty text")
                out.files.append(FileStat(path, lang, kind, chars=len(text), tokens=tokenizer.count(text) if tokenizer else None))
            else:
                d = media_duration_s(path)
                if not (d > 0 and math.isfinite(d)):
                    raise ValueError(f"duration {d}")
                out.files.append(FileStat(path, lang, kind, duration_s=d))
        except Exception as exc:  # a corrupt or unreadable file is reported, never fatal
            out.unreadable.append((path, f"{type(exc).__name__}: {exc}"))
    return out


def fit_lognormal(values: list[float] | np.ndarray) -> dict:
    """Lognormal by median and sigma of the log (maximum likelihood), as a YAML distribution."""
    x = np.log(np.asarray(values, dtype=float))
    if len(x) < 2:
        return {"dist": "fixed", "value": float(np.exp(x[0]))}
    return {"dist": "lognormal", "median": float(np.exp(x.mean())), "sigma": float(x.std(ddof=1))}


def workload_fragment(scan_: WorkloadScan, files_per_month: float | None = None, growth_monthly: float = 0.0) -> dict:
    """The ``workload`` section: shares and content mix from the counts, fitted distributions."""
    counts = scan_.counts()
    total = sum(sum(c.values()) for c in counts.values())
    if total == 0:
        raise ValueError("no readable files: nothing to fit")
    languages = {
        lang: {"share": sum(c.values()) / total, "content_mix": {k: n / sum(c.values()) for k, n in sorted(c.items())}}
        for lang, c in sorted(counts.items())
    }
    content: dict[str, dict] = {}
    for kind in ("audio", "video"):
        d = [f.duration_s for f in scan_.files if f.kind == kind]
        if d:
            content[kind] = {"duration_s": fit_lognormal(d)}
    chars = [f.chars for f in scan_.files if f.kind == "text"]
    if chars:
        content["text"] = {"chars": fit_lognormal(chars)}
    return {
        "base_files_per_month": float(files_per_month if files_per_month is not None else total),
        "growth": {"monthly_rate": growth_monthly},
        "languages": languages,
        "content": content,
    }


def summary_rows(scan_: WorkloadScan) -> list[dict]:
    """Per language and type: count, mean duration (s), mean characters and tokens."""
    rows = []
    for lang, c in sorted(scan_.counts().items()):
        for kind in sorted(c):
            fs = [f for f in scan_.files if f.lang == lang and f.kind == kind]
            row = {"lang": lang, "kind": kind, "files": len(fs)}
            if kind == "text":
                row["mean_chars"] = float(np.mean([f.chars for f in fs]))
                toks = [f.tokens for f in fs if f.tokens]
                if toks:
                    row["mean_tokens"] = float(np.mean(toks))
            else:
                row["mean_duration_s"] = float(np.mean([f.duration_s for f in fs]))
            rows.append(row)
    return rows
