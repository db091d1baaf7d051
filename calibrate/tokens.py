"""Characters per token, per language, for the simulator's text-to-token conversion.

Tokenizers sit behind a registry keyed by name: ``mistral`` (the real Mistral 7B
sentencepiece tokenizer shipped by ``mistral-common``; ``mistral:v3`` for the v0.3 one)
and ``hf:<name or folder>`` (any Hugging Face tokenizer available offline). A ratio is
measured on chunks of ~4,000 characters (about one article) so its spread is the spread
between articles, which is what the simulator draws per text (aleatory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sim.config.distributions import Normal, Uncertain

from .texts import chunk_text

CHUNK_CHARS = 4000
_MISTRAL_FILES = {"v1": "tokenizer.model.v1", "v3": "mistral_instruct_tokenizer_240323.model.v3"}


class Tokenizer:
    """Counts tokens of a text (no special tokens)."""

    name: str = ""

    def count(self, text: str) -> int:
        raise NotImplementedError


class MistralTokenizer(Tokenizer):
    """Mistral's own tokenizer from ``mistral-common`` (v1 = Mistral 7B v0.1/v0.2)."""

    def __init__(self, version: str = "v1"):
        try:
            import mistral_common
            from mistral_common.tokens.tokenizers.mistral import MistralTokenizer as MT
        except ImportError as exc:
            raise RuntimeError("the Mistral tokenizer needs `pip install mistral-common`") from exc
        if version not in _MISTRAL_FILES:
            raise ValueError(f"unknown Mistral tokenizer version {version!r}; use one of {sorted(_MISTRAL_FILES)}")
        path = Path(mistral_common.__file__).parent / "data" / _MISTRAL_FILES[version]
        self._tok = MT.from_file(str(path)).instruct_tokenizer.tokenizer
        self.name = f"mistral-common:{_MISTRAL_FILES[version]}"

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, bos=False, eos=False))


class HFTokenizer(Tokenizer):
    """Any Hugging Face tokenizer, by hub name (cached) or local folder; never downloads."""

    def __init__(self, name_or_path: str):
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise RuntimeError("Hugging Face tokenizers need `pip install transformers`") from exc
        try:
            self._tok = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        except OSError as exc:
            raise RuntimeError(f"tokenizer {name_or_path!r} not found locally: download it first or give its folder") from exc
        self.name = f"hf:{name_or_path}"

    def count(self, text: str) -> int:
        return len(self._tok(text, add_special_tokens=False)["input_ids"])


TOKENIZERS: dict[str, Callable[[str], Tokenizer]] = {
    "mistral": lambda arg: MistralTokenizer(arg or "v1"),
    "hf": lambda arg: HFTokenizer(arg),
}


def make_tokenizer(spec: str) -> Tokenizer:
    """``mistral``, ``mistral:v3`` or ``hf:<name or folder>``."""
    kind, _, arg = spec.partition(":")
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {spec!r}; use `mistral`, `mistral:v3` or `hf:<name or folder>`")
    return TOKENIZERS[kind](arg)


@dataclass
class TokenRatio:
    """Characters per token in one language: mean and sd over chunks, and the totals."""

    lang: str
    mean: float
    sd: float
    chunks: int
    chars: int
    tokens: int

    def as_uncertain(self) -> Uncertain:
        """A normal truncated at a small positive floor (a zero ratio would divide by zero)."""
        if self.chunks < 2 or self.sd <= 0:
            return float(self.mean)
        return Normal.model_validate({"dist": "normal", "mean": self.mean, "sd": self.sd, "low": 0.2})


def chars_per_token(
    corpus: dict[str, dict[str, str]], tokenizer: Tokenizer, chunk_chars: int = CHUNK_CHARS
) -> dict[str, TokenRatio]:
    """Characters (spaces included) per token for each language of ``{lang: {name: text}}``.

    Languages with no text are skipped; empty texts are ignored.
    """
    out: dict[str, TokenRatio] = {}
    for lang, texts in corpus.items():
        ratios, chars, tokens = [], 0, 0
        for text in texts.values():
            for chunk in chunk_text(text, chunk_chars):
                n = tokenizer.count(chunk)
                if n == 0:
                    continue
                ratios.append(len(chunk) / n)
                chars += len(chunk)
                tokens += n
        if not ratios:
            continue
        # Weight chunks by size: the pooled ratio is what long texts converge to.
        mean = chars / tokens
        sd = float(np.std(ratios, ddof=1)) if len(ratios) > 1 else 0.0
        out[lang] = TokenRatio(lang, float(mean), sd, len(ratios), chars, tokens)
    return out
