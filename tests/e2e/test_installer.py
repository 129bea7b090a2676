"""The installation self-test and the Linux installer (PyInstaller app + .deb), end to end."""

from __future__ import annotations

import configparser
import importlib.util
import os
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "installer" / "build_linux.sh"
FIGURES = ROOT / "build" / "figures.txt"
CHECKS = ("fresh SQLite database migrated", "demo patients seeded", "PDF report rendered",
          "audit chain intact", "argon2 password sign-in works", "PostgreSQL driver loads",
          "main window created offscreen", "self-test passed")


def _self_test(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    full_env.pop("CLINIC_APP_DB", None)
    return subprocess.run([*cmd, "--self-test"], env=full_env, text=True, capture_output=True,
                          timeout=300)


def _assert_passed(done: subprocess.CompletedProcess[str]) -> list[str]:
    lines = done.stdout.splitlines()
    assert done.returncode == 0, f"self-test failed:\n{done.stdout}\n{done.stderr}"
    assert lines and all(line.startswith("ok: ") for line in lines), done.stdout
    for check in CHECKS:
        assert any(check in line for line in lines), f"no '{check}' line in:\n{done.stdout}"
    return lines


def test_self_test_from_source(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _self_test([sys.executable, "-m", "clinic_app"], CLINIC_APP_DATA_DIR=str(data))
    lines = _assert_passed(done)
    assert "(from source)" in lines[0]
    # Everything happened in a temporary folder: the data folder holds no database.
    assert not data.exists() or not list(data.glob("*.sqlite3"))


def test_self_test_reports_a_failure(tmp_path: Path) -> None:
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    done = _self_test([sys.executable, "-m", "clinic_app"], CLINIC_APP_FONTS_DIR=str(empty),
                      CLINIC_APP_DATA_DIR=str(tmp_path / "data"))
    assert done.returncode == 1
    last = done.stdout.splitlines()[-1]
    assert last.startswith("FAILED: PDF report: FileNotFoundError"), done.stdout
    assert str(empty) in last


def _require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: the installer test needs it "
                    f"(apt-get install {package}).")
    return path


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _figures() -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in FIGURES.read_text().splitlines() if ": " in line)
    return dict(pairs)


def _check_desktop_entry(path: Path, root: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Backstep"
    assert entry["Terminal"] == "false"
    assert "Office" in entry["Categories"].split(";")
    program = shlex.split(entry["Exec"])[0]
    assert (root / "usr" / "bin" / program).is_symlink(), f"Exec={program} is not installed"
    assert entry["TryExec"] == program
    icon = root / "usr/share/icons/hicolor/256x256/apps" / f"{entry['Icon']}.png"
    assert icon.is_file() and _png_size(icon) == (256, 256)
    validator = shutil.which("desktop-file-validate")
    if validator:
        done = subprocess.run([validator, str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_frozen_build_and_deb(tmp_path: Path) -> None:
    """Build the frozen app and the .deb, unpack and (as root) install it, self-test both."""
    _require_tool("dpkg-deb", "dpkg")
    _require_tool("objdump", "binutils")  # PyInstaller refuses to run without it
    _require_tool("ldd", "libc-bin")
    dpkg = _require_tool("dpkg", "dpkg")
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("CLINIC_APP_DB", None)
    build = subprocess.run(["bash", str(BUILD_SCRIPT)], cwd=ROOT, env=env, text=True,
                           capture_output=True, timeout=1800)
    assert build.returncode == 0, f"build failed:\n{build.stdout[-6000:]}\n{build.stderr[-6000:]}"
    figures = _figures()
    print("\n" + FIGURES.read_text())
    deb = Path(figures["deb file"])
    assert deb.is_file() and deb.stat().st_size > 10_000_000

    fields = subprocess.run(["dpkg-deb", "--field", str(deb), "Package", "Architecture"],
                            capture_output=True, text=True, check=True).stdout
    assert "Package: backstep" in fields

    # Unpacked into a temporary root: files, symlink, menu entry, icon, working app.
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    app = root / "opt" / "backstep" / "backstep"
    assert app.is_file() and os.access(app, os.X_OK)
    link = root / "usr" / "bin" / "clinic-app"
    assert link.is_symlink() and os.readlink(link) == "/opt/backstep/backstep"
    _check_desktop_entry(root / "usr/share/applications/backstep.desktop", root)
    lines = _assert_passed(_self_test([str(app)], CLINIC_APP_DATA_DIR=str(tmp_path / "d1")))
    assert "(frozen app)" in lines[0]
    assert any("binary implementation" in line for line in lines), "psycopg binary not bundled"
    if importlib.util.find_spec("sqlcipher3") is not None:
        assert any("encryption at rest works" in line for line in lines), "sqlcipher3 missing"

    if os.geteuid() != 0:
        print("not root: real dpkg -i / dpkg -r not exercised")
        return
    installed = subprocess.run([dpkg, "-s", "backstep"], capture_output=True, text=True)
    if installed.returncode == 0:
        pytest.fail("Backstep is already installed on this machine (dpkg -s backstep); the "
                    "test will not replace it. Remove it with `dpkg -r backstep` first.")
    done = subprocess.run([dpkg, "-i", str(deb)], capture_output=True, text=True, timeout=600)
    try:
        assert done.returncode == 0, f"dpkg -i failed:\n{done.stdout}\n{done.stderr}"
        clinic_app = shutil.which("clinic-app", path="/usr/bin")
        assert clinic_app == "/usr/bin/clinic-app"
        assert Path("/usr/share/applications/backstep.desktop").is_file()
        _assert_passed(_self_test([clinic_app], CLINIC_APP_DATA_DIR=str(tmp_path / "d2")))
    finally:
        removed = subprocess.run([dpkg, "-r", "backstep"], capture_output=True, text=True,
                                 timeout=600)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not Path("/usr/bin/clinic-app").exists()
    assert not Path("/opt/backstep").exists()
