"""Sample inputs for calibration: speech audio, video wrapping it, and text articles.

``make_samples(out)`` writes, per language, speech read by espeak-ng from the shipped
articles at a spread of target durations (16 kHz mono WAV), MP4 videos wrapping some of
them (ffmpeg), and the articles as text. ``load_samples(dir)`` reads such a folder, or a
user's own folder with the same layout (``<dir>/<audio|video|text>/<lang>/*``), into
``Sample`` records the backends consume. Durations are measured from the files written.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .texts import ESPEAK_VOICE, LANGS, shipped_texts

#: Target speech durations (s): short clips to a few 30-s encoder windows.
DEFAULT_DURATIONS_S = (5.0, 15.0, 40.0, 75.0)
AUDIO_EXT = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus"}
VIDEO_EXT = {".mp4", ".mkv", ".mov", ".webm", ".avi"}
TEXT_EXT = {".txt"}
# espeak-ng's default rate (175 wpm) gives about 14 characters of text per second.
_CHARS_PER_S = 14.0


@dataclass
class Sample:
    """One calibration input: a media file or a text, with its language."""

    id: str
    kind: str  # audio | video | text
    lang: str
    path: Path | None = None
    text: str | None = None
    meta: dict[str, float] = field(default_factory=dict)


class ToolMissing(RuntimeError):
    """An external program is missing; the message names the package to install."""


def _need(tool: str, package: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        raise ToolMissing(f"`{tool}` not found: install it (Debian/Ubuntu: `sudo apt-get install {package}`)")
    return exe


def media_duration_s(path: Path) -> float:
    """Duration (s) of an audio or video file, read with PyAV (ffprobe if PyAV is absent)."""
    try:
        import av
    except ImportError:
        out = subprocess.run(
            [_need("ffprobe", "ffmpeg"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True,
        )
        return float(out.stdout.strip())
    with av.open(str(path)) as container:
        if container.duration is not None:
            return container.duration / 1_000_000  # av.time_base is microseconds
        streams = [s for s in container.streams if s.duration is not None and s.time_base is not None]
        if not streams:
            raise ValueError(f"{path}: no duration in the container")
        return max(float(s.duration * s.time_base) for s in streams)


def _speech_text(text: str, seconds: float) -> str:
    """The first words of ``text`` that espeak-ng reads in about ``seconds``."""
    words, out, n = text.split(), [], 0
    for w in words:
        out.append(w)
        n += len(w) + 1
        if n >= seconds * _CHARS_PER_S:
            break
    return " ".join(out)


def synthesize(text: str, lang: str, out: Path) -> Path:
    """Speak ``text`` in ``lang`` with espeak-ng into a 16 kHz mono WAV at ``out``."""
    espeak, ffmpeg = _need("espeak-ng", "espeak-ng"), _need("ffmpeg", "ffmpeg")
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".raw.wav")
    subprocess.run([espeak, "-v", ESPEAK_VOICE[lang], "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run([ffmpeg, "-y", "-v", "error", "-i", str(raw), "-ar", "16000", "-ac", "1", str(out)], check=True)
    raw.unlink()
    return out


def wrap_video(audio: Path, out: Path) -> Path:
    """An MP4 (H.264 + AAC, small black frame) carrying ``audio`` as its sound track."""
    ffmpeg = _need("ffmpeg", "ffmpeg")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=128x72:r=5", "-i", str(audio),
         "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "48k", str(out)],
        check=True,
    )
    return out


def make_samples(
    out: str | Path,
    langs: tuple[str, ...] = LANGS,
    durations_s: tuple[float, ...] = DEFAULT_DURATIONS_S,
    videos_per_lang: int = 2,
    progress: bool = False,
) -> list[Sample]:
    """Write the sample corpus under ``out`` and return it (with measured durations)."""
    from tqdm.auto import tqdm

    root = Path(out)
    texts = shipped_texts()
    jobs = [(lang, d) for lang in langs for d in durations_s]
    samples: list[Sample] = []
    for lang, d in tqdm(jobs, desc="speech", disable=not progress):
        source = " ".join(texts[lang].values())
        wav = synthesize(_speech_text(source, d), lang, root / "audio" / lang / f"{lang}-{int(d):03d}s.wav")
        samples.append(Sample(wav.stem, "audio", lang, wav, meta={"duration_s": media_duration_s(wav)}))
    for lang in langs:
        audio = [s for s in samples if s.lang == lang and s.kind == "audio"][:videos_per_lang]
        for s in audio:
            mp4 = wrap_video(s.path, root / "video" / lang / f"{s.id}.mp4")
            samples.append(Sample(mp4.stem, "video", lang, mp4, meta={"duration_s": media_duration_s(mp4)}))
        for name, text in texts[lang].items():
            p = root / "text" / lang / f"{name}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text + "\n", encoding="utf-8")
            samples.append(Sample(f"{lang}-{name}", "text", lang, p, text=text, meta={"chars": len(text)}))
    return samples


def load_samples(root: str | Path, kinds: tuple[str, ...] = ("audio", "video", "text")) -> list[Sample]:
    """Read ``<root>/<kind>/<lang>/*`` into samples; texts are read, media are not opened."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: samples folder not found; create it with `carbonsim calibrate samples --out {base}`")
    exts = {"audio": AUDIO_EXT, "video": VIDEO_EXT, "text": TEXT_EXT}
    out: list[Sample] = []
    for kind in kinds:
        for lang_dir in sorted(p for p in (base / kind).glob("*") if p.is_dir()):
            for f in sorted(lang_dir.iterdir()):
                if f.suffix.lower() not in exts[kind]:
                    continue
                text = f.read_text(encoding="utf-8", errors="replace").strip() if kind == "text" else None
                out.append(Sample(f"{lang_dir.name}/{f.name}", kind, lang_dir.name, f, text=text))
    return out
