"""``carbonsim calibrate growth`` end to end: fragment, merged scenario, figure, diagnostics."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from click.testing import CliRunner

from sim.cli import main
from sim.config.resolve import load_and_check

from .history_helpers import DEFAULT, draw, workload


def _history_csv(tmp_path: Path, months: int = 14) -> Path:
    table = draw(workload(dispersion=50.0), months, 0.059, seed=21)
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["month", "language", "files"])
        for li, code in enumerate(table.languages):
            for mi, month in enumerate(table.months):
                w.writerow([month, code, int(table.files[li, mi])])
    return path


def test_fragment_merges_into_the_scenario_and_it_runs_the_checks(tmp_path):
    hist = _history_csv(tmp_path)
    frag, copy, figures = tmp_path / "growth.yaml", tmp_path / "configs" / "prod.yaml", tmp_path / "figures"
    res = CliRunner().invoke(main, ["calibrate", "growth", str(hist), "--scenario", str(DEFAULT), "--out", str(frag),
                                    "--write-scenario", str(copy), "--figures", str(figures)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "90% profile-likelihood interval" in res.output and "residual" in res.output
    data = yaml.safe_load(frag.read_text())
    assert set(data) == {"workload", "fit"}  # month 0 is the scenario's: no start_month
    assert data["fit"]["source"] == str(hist) and data["fit"]["reference_month"] == "2027-01"
    lo, hi = data["fit"]["rate"]["interval_90"]
    assert lo < data["workload"]["growth"]["monthly_rate"]["mean"] < hi
    assert frag.read_text().startswith("# Growth fitted by `carbonsim calibrate growth` from")
    # the history has no content column: the scenario's mixes are kept; ar started at month 12
    merged = load_and_check(copy).scenario
    assert merged.workload.languages["fr"].content_mix == {"audio": 0.30, "video": 0.20, "text": 0.50}
    assert merged.workload.languages["ar"].start_month == 0
    assert merged.workload.base_files_per_month == data["workload"]["base_files_per_month"]
    assert (figures / "growth_fit.png").stat().st_size > 10_000


def test_without_content_or_scenario_the_fragment_is_refused(tmp_path):
    res = CliRunner().invoke(main, ["calibrate", "growth", str(_history_csv(tmp_path)), "--figures", str(tmp_path)])
    assert res.exit_code != 0
    assert "no content type for language" in res.output and "--scenario" in res.output


def test_declared_break_and_bad_history(tmp_path):
    hist = _history_csv(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("month,language,files\n2026-01,fr,x\n")
    res = CliRunner().invoke(main, ["calibrate", "growth", str(bad), "--scenario", str(DEFAULT)])
    assert res.exit_code != 0 and "bad.csv: row 2: files 'x' is not a number" in res.output
    res = CliRunner().invoke(main, ["calibrate", "growth", str(hist), "--scenario", str(DEFAULT), "--break", "2026-06",
                                    "--figures", str(tmp_path / "f")], catch_exceptions=False)
    assert res.exit_code == 0 and "break: declared at 2026-06" in res.output
    assert "month:2026-06" in res.output.replace(" ", "").replace("'", "")
