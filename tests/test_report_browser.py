"""report.html in a real headless Chromium: the page renders and the bar chart is drawn."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from PIL import Image

from mdrcds.cli import main
from test_batch import export_from_golden_cases

INFO_BLUE = (0x2B, 0x6C, 0xB0)
WARNING_ORANGE = (0xC0, 0x56, 0x21)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is needed (scripts/test installs Debian's chromium)"
    return path


def test_the_report_shows_the_chart_in_chromium(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    export_from_golden_cases(export)
    out = tmp_path / "out"
    assert main(["batch", str(export), "--out", str(out), "--now", "2026-11-23", "--workers", "1"]) == 0
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,900",
            f"--screenshot={screenshot}",
            (out / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(screenshot).convert("RGB")
    # Bars start right of the 430-px rule labels (plus the page margin); the indicator badges of the
    # patient table, drawn in the same colours, sit further left, so they are cropped away.
    bars = image.crop((470, 0, image.width, image.height))
    counts = {colour: count for count, colour in bars.getcolors(maxcolors=1 << 20) or []}
    # Four rules fired (one info, three warning); each bar is hundreds of pixels.
    assert counts.get(INFO_BLUE, 0) > 500
    assert counts.get(WARNING_ORANGE, 0) > 1500
