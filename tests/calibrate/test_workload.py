"""Workload from a folder of real files: durations and lengths match, corrupt files listed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from calibrate.samples import media_duration_s
from calibrate.workload import scan, workload_fragment
from sim.config.scenario import Workload


@pytest.fixture(scope="module")
def user_folder(samples_dir, tmp_path_factory):
    """<lang>/ folders mixing the generated audio, video and text, plus a corrupt file."""
    root = tmp_path_factory.mktemp("user")
    for kind in ("audio", "video", "text"):
        for lang_dir in (samples_dir / kind).iterdir():
            dest = root / lang_dir.name
            dest.mkdir(exist_ok=True)
            for f in lang_dir.iterdir():
                shutil.copy(f, dest / f.name)
    (root / "fr" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return root


def test_scan_matches_known_durations_and_lengths(user_folder, samples_dir):
    res = scan(user_folder)
    assert [p.name for p, _ in res.unreadable] == ["broken.mp4"]
    assert res.counts() == {"en": {"audio": 3, "video": 1, "text": 2}, "fr": {"audio": 3, "video": 1, "text": 2}}
    for f in res.files:
        if f.kind == "text":
            assert f.chars == len(f.path.read_text(encoding="utf-8").strip())
        else:
            assert f.duration_s == pytest.approx(media_duration_s(f.path))
    audio = [f.duration_s for f in res.files if f.kind == "audio"]
    frag = workload_fragment(res)
    wl = Workload.model_validate(frag)  # the simulator's own schema accepts it
    # the lognormal's median is the geometric mean of the real durations
    assert wl.content.audio.duration_s.median == pytest.approx(float(np.exp(np.mean(np.log(audio)))))
    assert wl.languages["en"].share == pytest.approx(0.5)
    assert wl.languages["fr"].content_mix["audio"] == pytest.approx(0.5)
    assert frag["base_files_per_month"] == 12


def test_manifest_csv_and_sampling(user_folder):
    rows = ["path,lang"] + [f"en/{p.name},en" for p in sorted((user_folder / "en").iterdir())]
    manifest = user_folder / "manifest.csv"
    manifest.write_text("\n".join(rows))
    res = scan(user_folder, manifest=manifest, max_files=3, rng=np.random.default_rng(1))
    assert len(res.files) == 3 and {f.lang for f in res.files} == {"en"}
