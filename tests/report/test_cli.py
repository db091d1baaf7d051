"""`carbonsim report`: rebuilds without touching data; refuses unfinished or older runs cleanly;
`carbonsim run` writes the report after the decision."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from sim.cli import main

from .conftest import CONFIG

REPORT_OUTPUTS = {"report.html", "report.md", "report.fr.html", "report.fr.md", "emissions.csv", "marginal.csv", "forecast.xlsx"}


def _data_files(folder: Path) -> dict[str, str]:
    """sha256 of every file of the run that is not an output of the report."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in REPORT_OUTPUTS and p.parent.name != "figures"}


def _report(folder: Path, *args: str):
    return CliRunner().invoke(main, ["report", str(folder), *args])


def test_rebuilding_changes_no_data_file(decided_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(decided_run, folder)
    before = _data_files(folder)
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}
    for lang in ("fr", "en"):
        res = _report(folder, "--lang", lang)
        assert res.exit_code == 0, res.output
        assert ("report.html" if lang == "en" else f"report.{lang}.html") in res.output
    assert _data_files(folder) == before
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    # the French report sits beside the English one, with its own charts
    assert (folder / "report.fr.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>\n<html lang=\"fr\">")
    assert (folder / "report.fr.md").is_file() and (folder / "figures" / "fan.fr.png").is_file()
    assert (folder / "figures" / "fan.png").is_file()
    assert not list(folder.rglob("*.tmp"))  # no temporary file left behind


def _broken(src: Path, tmp_path: Path, how: str) -> Path:
    folder = tmp_path / how
    shutil.copytree(src, folder)
    manifest = folder / "manifest.json"
    if how == "no-manifest":
        manifest.unlink()
    elif how == "not-complete":
        m = json.loads(manifest.read_text())
        m["complete"] = False
        manifest.write_text(json.dumps(m))
    elif how == "no-bands":
        (folder / "bands.csv").unlink()
    elif how == "old-bands":
        pd.read_csv(folder / "bands.csv").drop(columns=["period", "p25", "p75"]).to_csv(folder / "bands.csv", index=False)
    elif how == "corrupt-monthly":
        (folder / "monthly.parquet").write_bytes(b"not parquet")
    elif how == "half-decision":
        (folder / "ranking.csv").unlink()
    return folder


@pytest.mark.parametrize("how, says", [
    ("no-manifest", "manifest.json is missing"),
    ("not-complete", "did not finish"),
    ("no-bands", "bands.csv is missing"),
    ("old-bands", "bands.csv lacks period, p25, p75"),
    ("corrupt-monthly", "monthly.parquet cannot be read"),
    ("half-decision", "ranking.csv is missing"),
])
def test_unfinished_or_older_run_is_a_clear_error(decided_run, tmp_path, how, says):
    folder = _broken(decided_run, tmp_path, how)
    before = _data_files(folder)
    res = _report(folder)
    assert res.exit_code == 2
    assert isinstance(res.exception, SystemExit)  # not an uncaught exception
    assert "Traceback" not in res.output
    assert str(folder) in res.output and says in res.output and "fix:" in res.output
    assert not (folder / "report.html").exists() and not (folder / "figures").exists()
    assert _data_files(folder) == before


def test_a_missing_folder_is_a_clear_error(tmp_path):
    res = _report(tmp_path / "nowhere")
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert "not a folder" in res.output


def test_run_writes_the_report_after_the_decision(tmp_path):
    options = yaml.safe_load((CONFIG.parent / "options" / "default.yaml").read_text())
    options["options"] = [o for o in options["options"] if o["name"] in {"no-generation", "scheduled"}]
    options["smaa"]["draws_per_replication"] = 20
    opt_path = tmp_path / "options.yaml"
    opt_path.write_text(yaml.safe_dump(options))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(CONFIG), "-n", "3", "--months", "2", "-w", "1", "--no-progress",
                                    "--options", str(opt_path), "--lang", "fr", "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"report.fr.html", "report.fr.md", "figures/decision.fr.png", "figures/smaa.fr.svg", "decision.csv",
            "marginal.csv"} <= set(manifest["files"])
    assert manifest["report"]["lang"] == "fr"
    html = (out / "report.fr.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in html
    # options carry their French labels into the French report
    assert "désactiver la génération" in html
    # the run's summary.md opens with the executive summary, in the run's language
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert summary.index("## Synthèse") < summary.index("forecast summary")
    dec = pd.read_csv(out / "decision.csv")
    for _, r in dec.iterrows():
        assert f'data-figure="decision.{r["option"]}.{r["criterion"]}.p50" data-value="{float(r["p50"])!r}"' in html
    # the region's source was recorded, so a rebuild says the same
    assert "codecarbon" in manifest["carbon_sources"]["region"]
    before = _data_files(out)
    assert _report(out, "--lang", "fr").exit_code == 0
    assert (out / "report.fr.html").read_text(encoding="utf-8") == html
    assert _data_files(out) == before
