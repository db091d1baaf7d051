"""Backends on real (tiny) models: faster-whisper tiny.en, a tiny NLLB, Ollama via its client."""

from __future__ import annotations

import pytest

from calibrate.backends import BackendUnavailable, SampleError, make_backend
from calibrate.samples import Sample, load_samples
from calibrate.texts import shipped_texts


@pytest.fixture(scope="module")
def whisper(whisper_dir):
    pytest.importorskip("faster_whisper")
    b = make_backend("faster-whisper", str(whisper_dir), device="cpu", beam_size=1)
    b.check()
    b.load()
    yield b
    b.close()


def test_whisper_transcribes_english_speech_and_counts_its_work(whisper, samples_dir):
    """The work units a calibration fits time and energy on grow with the speech: seconds,
    30-s encoder windows, output tokens. (How its time grows is the fit's to measure, on the
    user's hardware: on a loaded machine a 12-s clip with a decoding fallback can take as
    long as 40 s of speech, so no test here times it.)"""
    audio = sorted((s for s in load_samples(samples_dir, ("audio",)) if s.lang == "en"), key=lambda s: s.path.name)
    results = [whisper.run(s) for s in audio]
    # The speech reads "How bees find their way home. A honeybee that leaves the hive in the morning..."
    words = results[-1].output.lower()
    expected = {"way", "home", "hive", "morning", "flowers", "return", "pollen"}
    assert len({w for w in expected if w in words}) >= 4, words
    durations = [r.units["audio_second"] for r in results]
    assert durations == sorted(durations) and durations[-1] > 3 * durations[0]
    assert [r.units["audio_window"] for r in results] == [1] * (len(results) - 1) + [2]  # 40 s spans two 30-s windows
    assert results[-1].units["output_token"] > results[0].units["output_token"]


def test_whisper_reads_video_and_rejects_corrupt_audio(whisper, samples_dir, tmp_path):
    video = [s for s in load_samples(samples_dir, ("video",)) if s.lang == "en"][0]
    assert whisper.run(video).units["audio_second"] > 1
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    with pytest.raises(SampleError, match="bad.wav"):
        whisper.run(Sample("bad", "audio", "en", bad))
    assert not whisper.accepts(Sample("x", "audio", "fr", bad))  # tiny.en is priced on English only


def test_whisper_missing_model_folder_is_clear(tmp_path):
    pytest.importorskip("faster_whisper")
    with pytest.raises(BackendUnavailable, match="not found"):
        make_backend("faster-whisper", str(tmp_path / "nope")).check()


def test_nllb_translates_sentences_in_batches_with_real_generate(tiny_nllb):
    b = make_backend("transformers-nllb", str(tiny_nllb), batch_size=4, max_new_tokens=12)
    b.check()
    b.load()
    text = shipped_texts()["fr"]["flood-defences"]
    r = b.run(Sample("fr", "text", "fr", text=text))
    assert r.extra["sentences"] > 10
    assert r.units["input_token"] > 500 and 0 < r.units["output_token"] <= 12 * r.extra["sentences"]
    short = b.run(Sample("fr-short", "text", "fr", text="Une phrase courte."))
    assert short.units["input_token"] < r.units["input_token"] / 10
    with pytest.raises(SampleError, match="empty text"):
        b.run(Sample("empty", "text", "fr", text="   "))


def test_nllb_missing_model_folder_names_the_fix(tmp_path):
    b = make_backend("transformers-nllb", str(tmp_path / "no-model"))
    with pytest.raises(BackendUnavailable, match="huggingface-cli download"):
        b.load()


@pytest.mark.parametrize("backend, library", [("transformers-nllb", "torch"), ("faster-whisper", "ctranslate2")])
def test_cuda_asked_for_without_a_gpu_is_refused_before_loading(backend, library, tmp_path):
    """The check starts CUDA (outside the measured load) and says what to install when it cannot."""
    lib = pytest.importorskip(library)
    if (library == "torch" and lib.cuda.is_available()) or (library == "ctranslate2" and lib.get_cuda_device_count() > 0):
        pytest.skip("a CUDA GPU is visible here")
    with pytest.raises(BackendUnavailable, match="sees no CUDA GPU.*--device cpu"):
        make_backend(backend, str(tmp_path), device="cuda").check()


def test_ollama_backend_through_the_real_client(fake_ollama):
    b = make_backend("ollama", "tiny-mistral:latest", host=fake_ollama, num_predict=[4, 12])
    b.check()
    b.load()
    assert b.load_info["load_duration_s"] > 0
    text = shipped_texts()["ar"]["bee-navigation"]
    r1 = b.run(Sample("ar", "text", "ar", text=text))
    r2 = b.run(Sample("ar", "text", "ar", text=text))
    assert r1.units["output_token"] == 4 and r2.units["output_token"] == 12
    assert r1.units["input_token"] > len(text) / 2  # Arabic: about 1.1 chars per Mistral token
    assert b.gpu_memory_gb() == 0.0
    with pytest.raises(SampleError, match="empty"):
        b.run(Sample("e", "text", "en", text=""))


def test_ollama_unknown_model_and_unreachable_host(fake_ollama):
    with pytest.raises(BackendUnavailable, match="ollama pull"):
        make_backend("ollama", "mistral:7b", host=fake_ollama).check()
    with pytest.raises(BackendUnavailable, match="ollama serve"):
        make_backend("ollama", "mistral:7b", host="http://127.0.0.1:9", timeout_s=2).check()
