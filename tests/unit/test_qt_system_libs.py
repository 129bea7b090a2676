"""The start-up check that Qt's X11 platform plugin can load (instead of a core dump)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinic_app.ui.qt_system_libs import (
    DEBIAN_PACKAGES,
    QT_RUNTIME_PACKAGES,
    MissingLibraries,
    missing_for,
    parse_ldd,
    wants_xcb,
    xcb_plugin,
)

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffc5b5f9000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0e1c000000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0e1bf00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e1bc00000)
"""


def test_ldd_output_is_parsed_to_the_missing_libraries_once_each() -> None:
    assert parse_ldd(LDD_OUTPUT) == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                                     "libxcb-cursor.so.0")
    assert parse_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == ()


def test_the_message_names_the_libraries_and_one_install_command() -> None:
    missing = MissingLibraries(parse_ldd(LDD_OUTPUT) + ("libmystery.so.7",))
    text = missing.message()
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1, libxcb-cursor.so.0" in text
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1\n" in text
    assert "apt-file search" in text and "libmystery.so.7" in text


@pytest.mark.parametrize(("env", "expected"), [
    ({"DISPLAY": ":0"}, True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, True),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, False),
    ({}, False),
])
def test_the_check_runs_only_when_qt_will_use_xcb(env: dict[str, str], expected: bool) -> None:
    assert wants_xcb(env) is (expected and sys.platform.startswith("linux"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux-only")
def test_real_plugin_every_library_it_could_miss_has_a_package() -> None:
    """ldd on PySide6's own libqxcb.so; whatever this machine lacks maps to a package."""
    plugin = xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    found = missing_for(plugin)
    if found is not None:
        assert not found.unknown, found.unknown
    listing = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    system_libs = [line.split()[0] for line in listing.splitlines()
                   if "=>" in line and "/PySide6/" not in line]
    unmapped = [lib for lib in system_libs
                if lib not in DEBIAN_PACKAGES and not lib.startswith(("libc.", "libm.",
                    "libdl.", "libpthread.", "librt.",
                    "ld-linux", "libQt6"))]
    assert not unmapped, unmapped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux-only")
def test_clinic_app_exits_with_the_install_command_instead_of_aborting(tmp_path: Path) -> None:
    """A machine without libxcb-icccm4/libxcb-keysyms1 (ldd says so): no core dump."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_ldd = bin_dir / "ldd"
    fake_ldd.write_text("#!/bin/sh\nprintf '\\tlibxcb-icccm.so.4 => not found\\n"
                        "\\tlibxcb-keysyms.so.1 => not found\\n'\n")
    fake_ldd.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"}
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "clinic_app"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in done.stderr
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in done.stderr
    assert "Traceback" not in done.stderr


ROOT = Path(__file__).resolve().parents[2]
# Present on every Debian/Ubuntu system, or pulled in by the runtime packages themselves.
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g", "libzstd1", "libpng16-16",
                 "libbrotli1", "libexpat1", "libbsd0", "libmd0", "libpcre2-8-0",
                 "libsystemd0", "libuuid1", "libcap2", "libgcrypt20", "libgpg-error0",
                 "liblz4-1", "liblzma5", "libglx0", "libglvnd0", "libxau6", "libxdmcp6",
                 "libsm6", "libice6", "libopengl0", "libxcb-glx0", "libxcb-xinerama0",
                 "libxcb-xinput0"}


def test_readme_and_deb_list_every_runtime_package() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split("\\\n"))
    install = next(line for line in readme.splitlines()
                   if "apt-get install " in line and " libegl1 " in line)
    depends = next(line for line in (ROOT / "installer" / "build_linux.sh").read_text(
        encoding="utf-8").splitlines() if line.startswith("Depends:"))
    for package in QT_RUNTIME_PACKAGES:
        assert f" {package} " in f"{install} ", package
        assert f" {package}," in f"{depends},", package
    # Nothing the plugin can load is forgotten: each package is either listed or basic.
    assert set(DEBIAN_PACKAGES.values()) <= set(QT_RUNTIME_PACKAGES) | BASE_PACKAGES


def test_libraries_shipped_beside_qt_are_not_reported(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen app's bundled Qt library that ldd cannot place is not a system library."""
    plugin = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"")
    (tmp_path / "Qt" / "lib").mkdir()
    (tmp_path / "Qt" / "lib" / "libQt6XcbQpa.so.6").write_bytes(b"")
    fake_ldd = tmp_path / "ldd"
    fake_ldd.write_text("#!/bin/sh\nprintf '\\tlibQt6XcbQpa.so.6 => not found\\n"
                        "\\tlibxcb-keysyms.so.1 => not found\\n'\n")
    fake_ldd.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    found = missing_for(plugin)
    assert found is not None and found.libraries == ("libxcb-keysyms.so.1",)
