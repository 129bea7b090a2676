"""Static checks run as tests: mypy on the core layers, and no formatter markers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_layers_type_check() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout


def test_no_blanket_type_ignore() -> None:
    """Every ``type: ignore`` names the error it silences (mypy warns when it is unused)."""
    blanket = [f"{path.relative_to(ROOT)}:{n}"
               for layer in ("domain", "persistence", "services")
               for path in sorted((ROOT / "clinic_app" / layer).rglob("*.py"))
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if "type: ignore" in line and "type: ignore[" not in line]
    assert not blanket, blanket


def test_no_formatter_markers() -> None:
    """The code is formatted by hand (ruff format is not used): no formatter skip markers."""
    marker = "fmt: " + "skip"
    found = [f"{path.relative_to(ROOT)}:{n}"
             for folder in ("clinic_app", "tests", "bench")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if marker in line]
    assert not found, found
