"""Translation length per language pair, on hand-made parallel text and on FLORES-200 (skipped if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from calibrate.cli import calibrate
from calibrate.lengths import pair_ratios, read_parallel
from calibrate.texts import FLORES, flores_dir
from sim.config.distributions import mean_of
from sim.config.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


def _write(root: Path, split: str, lines: dict[str, list[str]]) -> None:
    for lang, code in FLORES.items():
        (root / f"{code}.{split}").write_text("\n".join(lines[lang]) + "\n", encoding="utf-8")


def test_ratios_by_hand(tmp_path):
    # en 10 chars, fr 12, es 10, ar 8 per sentence; two splits pooled
    lines = {"en": ["a" * 10] * 3, "fr": ["b" * 12] * 3, "es": ["c" * 10] * 3, "ar": ["d" * 8] * 3}
    _write(tmp_path, "dev", lines)
    _write(tmp_path, "devtest", {k: v[:1] for k, v in lines.items()})
    sentences, counts = read_parallel(tmp_path)
    assert counts == {"dev": 3, "devtest": 1}
    r = pair_ratios(sentences, chunk_chars=20)
    assert len(r) == 12
    assert r["en>fr"].mean == pytest.approx(1.2) and r["fr>en"].mean == pytest.approx(10 / 12)
    assert r["ar>fr"].mean == pytest.approx(1.5) and r["en>fr"].sd == 0.0  # every chunk has the same ratio
    assert r["en>fr"].chunks == 2 and r["en>fr"].sentences == 4


def test_misaligned_files_are_refused(tmp_path):
    lines = {"en": ["x"] * 3, "fr": ["y"] * 2, "es": ["z"] * 3, "ar": ["w"] * 3}
    _write(tmp_path, "dev", lines)
    with pytest.raises(ValueError, match="not aligned"):
        read_parallel(tmp_path, ("dev",))
    with pytest.raises(FileNotFoundError, match="devtest"):
        read_parallel(tmp_path, ("devtest",))


def test_flores_ratios_are_the_shipped_priors(tmp_path):
    path = flores_dir(REPO)
    if path is None:
        pytest.skip("FLORES-200 not found (../shared/data/flores200 or $CARBONSIM_FLORES_DIR)")
    prof = tmp_path / "p.yaml"
    prof.write_bytes((REPO / "configs" / "calibration" / "priors.yaml").read_bytes())
    res = CliRunner().invoke(calibrate, ["lengths", "--flores", str(path), "--profile", str(prof)])
    assert res.exit_code == 0, res.output
    measured = load_profile(prof).translation_length
    shipped = load_profile(REPO / "configs" / "calibration" / "priors.yaml").translation_length
    assert set(measured.ratios) == set(shipped.ratios)
    for pair, value in shipped.ratios.items():
        assert mean_of(measured.ratios[pair]) == pytest.approx(mean_of(value), abs=1e-4)
    assert mean_of(shipped.ratios["en>fr"]) == pytest.approx(1.19, abs=0.01)  # the FLORES figures
    assert mean_of(shipped.ratios["ar>fr"]) == pytest.approx(1.35, abs=0.01)
    assert "2,009" in measured.source or "997" in measured.source
