"""The report in a real browser: headless Chromium renders it without console messages, and
the decision heat table, as the browser paints it, holds no red or green (colour-blind safe)."""

from __future__ import annotations

import colorsys
import io
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed (make system-deps)")


def open_in_chromium(page: Path, shot: Path, size: str = "1200,2400") -> list[str]:
    """Render ``page`` headless into ``shot`` (PNG); return the page's console messages."""
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                          f"--window-size={size}", f"--screenshot={shot}", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file()
    return [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]


def red_green_share(png: Path) -> tuple[float, float]:
    """Shares of the image's pixels that are a saturated red, and a saturated green."""
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=float) / 255.0
    flat = rgb.reshape(-1, 3)[::7]  # every 7th pixel: enough to see a colour scale
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in flat])
    hue, sat, val = hsv[:, 0] * 360, hsv[:, 1], hsv[:, 2]
    red = ((hue < 12) | (hue > 348)) & (sat > 0.5) & (val > 0.35)
    green = (hue > 75) & (hue < 165) & (sat > 0.35) & (val > 0.25)
    return float(red.mean()), float(green.mean())


def decision_only(report: Path, out: Path, figure_id: str = "fig-decision") -> Path:
    """The report's decision heat table alone on a page (its own style kept)."""
    text = report.read_text(encoding="utf-8")
    style = re.search(r"<style>.*?</style>", text, re.S).group(0)
    fig = re.search(rf'<figure id="{figure_id}">.*?</figure>', text, re.S).group(0)
    out.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'>{style}</head><body>{fig}</body></html>", encoding="utf-8")
    return out


@needs_chromium
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_report_renders_without_console_messages(built_reports, tmp_path, lang):
    assert open_in_chromium(built_reports[lang], tmp_path / "page.png") == []
    img = Image.open(tmp_path / "page.png")
    assert img.size == (1200, 2400) and np.asarray(img.convert("L")).std() > 10  # something was painted


@needs_chromium
def test_a_console_error_would_be_seen(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('broken')</script></body></html>")
    assert any("broken" in m for m in open_in_chromium(page, tmp_path / "bad.png"))


@needs_chromium
def test_the_decision_heat_table_has_no_red_green_scale(built_reports, tmp_path):
    page = decision_only(built_reports["en"], tmp_path / "decision.html")
    open_in_chromium(page, tmp_path / "decision.png", "1200,900")
    red, green = red_green_share(tmp_path / "decision.png")
    assert red < 0.002 and green < 0.002, (red, green)


@needs_chromium
def test_the_detector_sees_a_red_green_heat_table(tmp_path):
    """Control: the same check on a RdYlGn heat table finds red and green."""
    fig = Figure(figsize=(6, 3))
    fig.add_subplot().imshow(np.linspace(0, 1, 40).reshape(4, 10), cmap=matplotlib.colormaps["RdYlGn"], aspect="auto")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    import base64

    b64 = base64.b64encode(buf.getvalue()).decode()
    page = tmp_path / "rdylgn.html"
    page.write_text(f'<html><body><figure id="fig-decision"><img src="data:image/png;base64,{b64}"></figure></body></html>')
    open_in_chromium(page, tmp_path / "rdylgn.png", "1200,900")
    red, green = red_green_share(tmp_path / "rdylgn.png")
    assert red > 0.01 and green > 0.01, (red, green)
