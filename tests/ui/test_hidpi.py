"""At 150 % and 200 % display scaling the windows fit the screen and nothing is cut off.

Each case starts a child pytest (``QT_SCALE_FACTOR`` only takes effect before the
``QApplication`` exists) with the offscreen platform given a screen of that many device
pixels: ``hidpi_checks.py`` (every window inside the screen, no layout problem) and the
small-screen layout tests of ``test_layout.py``, at the scaled size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# (scale, screen in device pixels): 1920x1080 at 150 % is a 1280x720 desktop; at 200 % a
# 2560x1600 laptop panel is 1280x800 and a 1920x1080 one only 960x540 (the session editor
# scrolls there, its Save and Cancel stay in view).
CASES = [(1.5, 1920, 1080), (2.0, 2560, 1600), (2.0, 1920, 1080)]


def _run_scaled(tmp_path: Path, scale: float, width: int, height: int,
                *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({
        "synchronousWindowSystemEvents": False, "windowFrameMargins": True,
        "screens": [{"name": "Scaled", "x": 0, "y": 0, "width": width, "height": height,
                     "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}],
    }))
    env = {**os.environ, "QT_SCALE_FACTOR": str(scale),
           "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), str(ROOT / "tests")])}
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--rootdir", str(ROOT), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.parametrize(("scale", "width", "height"), CASES,
                         ids=[f"{s}x-{w}x{h}" for s, w, h in CASES])
def test_windows_fit_and_nothing_is_cut_at_scale(tmp_path: Path, scale: float, width: int,
                                                 height: int) -> None:
    proc = _run_scaled(tmp_path, scale, width, height, str(HERE / "hidpi_checks.py"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("scale", [1.5, 2.0])
def test_small_screen_layout_tests_pass_at_scale(tmp_path: Path, scale: float) -> None:
    """The layout tests at their logical screen sizes, drawn at the scale (the scaled
    screen is large enough for the largest of them, 1366x800 logical pixels)."""
    proc = _run_scaled(tmp_path, scale, round(1366 * scale), round(800 * scale),
                       str(HERE / "test_layout.py"), "-k", "screens or dialogs_as_opened")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
