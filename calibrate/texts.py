"""Text corpora: the shipped articles, user corpora, sentence splitting and chunking.

The shipped articles (``calibrate/data/texts/<lang>/*.txt``) were written for carbonsim:
two news/science pieces of 3,000-5,000 characters, each in English, French, Spanish and
Arabic (the same story in each language, so token counts compare like with like).
Languages are the profile's short codes; ``FLORES`` maps them to NLLB/FLORES-200 codes.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

LANGS = ("en", "fr", "es", "ar")
#: Short code -> NLLB / FLORES-200 code.
FLORES = {"en": "eng_Latn", "fr": "fra_Latn", "es": "spa_Latn", "ar": "arb_Arab"}
#: espeak-ng voice per language.
ESPEAK_VOICE = {"en": "en", "fr": "fr", "es": "es", "ar": "ar"}

# Sentence ends: . ! ? and the Arabic question mark, followed by ASCII space (and optional
# closing quote). Only ASCII whitespace separates or is collapsed: the non-breaking and thin
# spaces of French typography ("« Oui »", "10 000") are part of what users send, and a
# tokenizer counts them differently from a plain space.
_SENTENCE_END = re.compile(r"(?<=[.!?؟»\"])[ \t\r\n\f\v]+")
_ASCII_SPACES = re.compile(r"[ \t\r\n\f\v]+")


def shipped_texts() -> dict[str, dict[str, str]]:
    """The shipped articles: {lang: {article name: text}}."""
    root = resources.files("calibrate") / "data" / "texts"
    out: dict[str, dict[str, str]] = {}
    for lang in LANGS:
        d = root / lang
        out[lang] = {p.name.removesuffix(".txt"): p.read_text(encoding="utf-8").strip() for p in sorted(d.iterdir(), key=lambda p: p.name) if p.name.endswith(".txt")}
    return out


def read_corpus(path: str | Path) -> dict[str, dict[str, str]]:
    """Read a user corpus laid out as ``DIR/<lang>/*.txt`` (lang in LANGS or a FLORES code).

    Files that cannot be decoded as UTF-8 raise a ValueError naming them.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found; expected {root}/<lang>/*.txt with lang in {LANGS}")
    to_short = {v: k for k, v in FLORES.items()}
    out: dict[str, dict[str, str]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        lang = to_short.get(sub.name, sub.name)
        texts = {}
        for f in sorted(sub.glob("*.txt")):
            try:
                texts[f.stem] = f.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ValueError(f"{f}: not UTF-8 text ({exc}); re-save it as UTF-8") from None
        if texts:
            out[lang] = texts
    if not out:
        raise FileNotFoundError(f"{root}: no <lang>/*.txt files found")
    return out


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (paragraph breaks always split); empty pieces dropped.

    Runs of ASCII whitespace become one space; non-breaking (U+00A0) and narrow/thin
    (U+202F, U+2009) spaces are kept as they are.
    """
    out: list[str] = []
    for para in re.split(r"\n[ \t\r\f\v]*\n", text):
        para = _ASCII_SPACES.sub(" ", para).strip(" ")
        out += [s.strip(" ") for s in _SENTENCE_END.split(para) if s.strip()]
    return out


def chunk_text(text: str, size_chars: int) -> list[str]:
    """Cut text into consecutive chunks of about ``size_chars`` characters, on sentence ends."""
    chunks: list[str] = []
    cur = ""
    for s in split_sentences(text):
        cur = f"{cur} {s}" if cur else s
        if len(cur) >= size_chars:
            chunks.append(cur)
            cur = ""
    if cur:
        # A short tail would give a noisy ratio of its own: merge it into the last chunk.
        if chunks and len(cur) < size_chars / 2:
            chunks[-1] = f"{chunks[-1]} {cur}"
        else:
            chunks.append(cur)
    return chunks


def flores_dir(repo_root: str | Path) -> Path | None:
    """FLORES-200 from ``$CARBONSIM_FLORES_DIR``, else beside the project
    (``<repo>/../shared/data/flores200``); None when neither folder exists."""
    env = os.environ.get("CARBONSIM_FLORES_DIR")
    p = Path(env) if env else Path(repo_root).resolve().parent / "shared" / "data" / "flores200"
    return p if p.is_dir() else None


def read_flores(path: str | Path) -> dict[str, dict[str, str]]:
    """FLORES-200 files (``<flores_code>.dev``/``.devtest``, one sentence a line) as a corpus."""
    root = Path(path)
    out: dict[str, dict[str, str]] = {}
    for lang, code in FLORES.items():
        texts = {f.suffix.lstrip("."): " ".join(f.read_text(encoding="utf-8").split("\n")).strip() for f in sorted(root.glob(f"{code}.*"))}
        if texts:
            out[lang] = texts
    return out
