"""Characters per token with the real Mistral tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibrate.texts import (
    chunk_text,
    flores_dir,
    read_flores,
    shipped_texts,
    split_sentences,
)

pytest.importorskip("mistral_common")
from calibrate.tokens import chars_per_token, make_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mistral():
    return make_tokenizer("mistral")


def test_shipped_articles_are_3000_to_5000_chars_in_four_languages():
    texts = shipped_texts()
    assert set(texts) == {"en", "fr", "es", "ar"}
    for lang, arts in texts.items():
        assert len(arts) >= 2
        for name, t in arts.items():
            assert 3000 <= len(t) <= 5000, (lang, name, len(t))


def test_sentence_split_and_chunks():
    s = split_sentences("Un. Deux ? Trois !\n\nQuatre")
    assert s == ["Un.", "Deux ?", "Trois !", "Quatre"]
    chunks = chunk_text(" ".join(["Phrase numéro un."] * 100), 400)
    assert all(len(c) >= 400 for c in chunks[:-1]) and "".join(chunks).count("Phrase") == 100


def test_non_breaking_and_thin_spaces_are_kept():
    text = "« Oui », dit-il.\u00a0Il a 10\u202f000 euros  et\u2009plus.\n\nFin"
    # U+00A0 after the full stop is not a sentence break, and no odd space becomes a plain one
    assert split_sentences(text) == ["« Oui », dit-il.\u00a0Il a 10\u202f000 euros et\u2009plus.", "Fin"]
    assert chunk_text(text, 10) == ["« Oui », dit-il.\u00a0Il a 10\u202f000 euros et\u2009plus. Fin"]


def test_arabic_costs_about_3_5x_english_tokens_on_the_shipped_articles(mistral):
    texts = shipped_texts()
    r = chars_per_token(texts, mistral)
    # same stories in both languages, so total tokens compare like with like
    ratio = r["ar"].tokens / r["en"].tokens
    assert 3.0 < ratio < 4.0
    assert r["ar"].mean < 1.5 < r["fr"].mean < r["en"].mean


def test_flores_ratios_match_the_reference_measurement(mistral):
    path = flores_dir(REPO)
    if path is None:
        pytest.skip("FLORES-200 not found at ../shared/data/flores200")
    r = chars_per_token(read_flores(path), mistral)
    # reference facts section 5: EN 4.43, FR 3.31, ES 3.34, AR 1.13 chars/token on FLORES-200 dev+devtest
    for lang, ref in {"en": 4.43, "fr": 3.31, "es": 3.34, "ar": 1.13}.items():
        assert r[lang].mean == pytest.approx(ref, rel=0.03)
    assert r["ar"].tokens / r["en"].tokens == pytest.approx(3.5, rel=0.1)
    cv = r["fr"].sd / r["fr"].mean
    assert 0.01 < cv < 0.1  # a normal with a few % CV, as the simulator assumes


def test_unknown_tokenizer_names_the_choices():
    with pytest.raises(ValueError, match="mistral"):
        make_tokenizer("gpt9")
