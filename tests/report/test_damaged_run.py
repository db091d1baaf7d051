"""A run folder that is readable but damaged is refused with what is wrong; the report never
writes or deletes through a symbolic link out of the run folder."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from sim.cli import main


def _copy(decided_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(decided_run, folder)
    return folder


def _refused(folder) -> str:
    res = CliRunner().invoke(main, ["report", str(folder)])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # a clean exit, no traceback
    return res.output


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda f: (f / "decision.json").write_text("[1, 2, 3]"), "decision.json should hold a mapping, it holds list"),
        (lambda f: (f / "headline.json").write_text("null"), "headline.json should hold a mapping, it holds nothing"),
        (lambda f: (f / "bands.csv").write_text((f / "bands.csv").read_text().splitlines()[0] + "\n"), "bands.csv has no rows"),
        (lambda f: (f / "bands.csv").write_text(""), "bands.csv cannot be read"),
        (lambda f: (f / "replications.csv").write_text("replication,co2e_kg\n0,lots\n1,2.5\n"),
         "replications.csv holds text where numbers are expected, in co2e_kg"),
        (lambda f: (f / "ranking.csv").write_text("method,option,score,rank\nsmaa,baseline,high,1\n"),
         "ranking.csv holds text where numbers are expected, in score"),
        (lambda f: (f / "headline.json").write_text(json.dumps({**json.loads((f / "headline.json").read_text()),
                                                                "horizon_co2e_kg": "a lot"})),
         "headline.json holds something other than figures in horizon_co2e_kg"),
        (lambda f: (f / "config.resolved.yaml").write_text("- a\n- b\n"), "config.resolved.yaml should hold a mapping"),
    ],
)
def test_damaged_files_are_named(decided_run, tmp_path, damage, says):
    folder = _copy(decided_run, tmp_path)
    damage(folder)
    out = _refused(folder)
    assert says in out
    assert not (folder / "report.html").exists()


def test_a_symlinked_figures_folder_is_refused_and_its_target_untouched(decided_run, tmp_path):
    folder = _copy(decided_run, tmp_path)
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    for name in ("holiday.png", "logo.svg"):
        (elsewhere / name).write_bytes(b"precious")
    shutil.rmtree(folder / "figures", ignore_errors=True)
    (folder / "figures").symlink_to(elsewhere)
    out = _refused(folder)
    assert "figures/ is a symbolic link" in out
    assert sorted(p.name for p in elsewhere.iterdir()) == ["holiday.png", "logo.svg"]
    assert all(p.read_bytes() == b"precious" for p in elsewhere.iterdir())


def test_figures_are_written_without_leaving_temporary_files(decided_run, tmp_path):
    folder = _copy(decided_run, tmp_path)
    res = CliRunner().invoke(main, ["report", str(folder)])
    assert res.exit_code == 0, res.output
    names = [p.name for p in (folder / "figures").iterdir()]
    assert names and not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
