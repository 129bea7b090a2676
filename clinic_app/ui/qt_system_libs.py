"""Checks, before Qt starts, that the X11 (xcb) platform plugin can load.

Without some system libraries (e.g. ``libxcb-icccm4`` on a fresh machine) Qt prints a hint
and aborts the process (exit code 134, a core dump). This check runs ``ldd`` on the bundled
plugin (a few milliseconds), names the missing libraries and the one ``apt-get install``
command that provides them. It imports no Qt module, so it can run before QApplication.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Shared libraries that Qt's xcb platform plugin (libqxcb.so and libQt6XcbQpa, libQt6Gui,
# libQt6DBus it pulls in) load, and the Debian/Ubuntu package that ships each of them:
# `ldd` on PySide6 6.11's libqxcb.so, each file mapped with `dpkg -S` on Debian 12.
DEBIAN_PACKAGES: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libpng16.so.16": "libpng16-16",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libbrotlidec.so.1": "libbrotli1",
    "libexpat.so.1": "libexpat1",
    "libbsd.so.0": "libbsd0",
    "libmd.so.0": "libmd0",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libsystemd.so.0": "libsystemd0",
    "libuuid.so.1": "libuuid1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libcap.so.2": "libcap2",
    "libgcrypt.so.20": "libgcrypt20",
    "libgpg-error.so.0": "libgpg-error0",
    "liblz4.so.1": "liblz4-1",
    "liblzma.so.5": "liblzma5",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}

# What README.md tells users to install and the .deb declares in Depends: the packages
# above minus those every Debian/Ubuntu system has or that these pull in themselves.
QT_RUNTIME_PACKAGES: tuple[str, ...] = (
    "libegl1", "libgl1", "libfontconfig1", "libfreetype6", "libdbus-1-3", "libglib2.0-0",
    "libxkbcommon0", "libxkbcommon-x11-0", "libx11-6", "libx11-xcb1", "libxcb1",
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render0", "libxcb-render-util0", "libxcb-shape0", "libxcb-shm0", "libxcb-sync1",
    "libxcb-util1", "libxcb-xfixes0", "libxcb-xkb1",
)

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


@dataclass(frozen=True)
class MissingLibraries:
    """Libraries the platform plugin needs but the system does not have."""

    libraries: tuple[str, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        """Debian packages providing the known libraries, each once, sorted."""
        return tuple(sorted({DEBIAN_PACKAGES[lib] for lib in self.libraries
                             if lib in DEBIAN_PACKAGES}))

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(lib for lib in self.libraries if lib not in DEBIAN_PACKAGES)

    def message(self) -> str:
        """What the user reads on the terminal: what is missing and the command to fix it."""
        lines = ["clinic-app: the window cannot open: Qt's X11 platform plugin needs "
                 "system libraries that are not installed:",
                 "  " + ", ".join(self.libraries)]
        if self.packages:
            lines += ["Install them with:",
                      "  sudo apt-get install " + " ".join(self.packages)]
        if self.unknown:
            lines.append("Find the package of " + ", ".join(self.unknown)
                         + " with: apt-file search NAME")
        return "\n".join(lines)


def parse_ldd(output: str) -> tuple[str, ...]:
    """The libraries ``ldd`` reports as "not found", each once, in order."""
    seen: dict[str, None] = {}
    for line in output.splitlines():
        m = _NOT_FOUND.match(line)
        if m:
            seen.setdefault(m.group(1), None)
    return tuple(seen)


def xcb_plugin() -> Path | None:
    """PySide6's bundled ``libqxcb.so``, located without importing Qt (None if absent)."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def wants_xcb(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether Qt will try the xcb plugin: asked for it, or unset on an X11 display."""
    if not sys.platform.startswith("linux"):
        return False
    platform = environ.get("QT_QPA_PLATFORM", "").strip()
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    # Unset: Qt prefers Wayland on a Wayland session, and X11 when only DISPLAY is set.
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def _bundle_dirs(plugin: Path) -> list[Path]:
    """Folders holding the libraries shipped with Qt (wheel, or the frozen app's bundle)."""
    dirs = [plugin.parents[2] / "lib"]  # PySide6/Qt/plugins/platforms -> PySide6/Qt/lib
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        dirs.append(Path(frozen))
    return [d for d in dirs if d.is_dir()]


class PluginProbe:
    """``ldd`` on the plugin, started now and read by :meth:`result` (it runs meanwhile)."""

    def __init__(self, plugin: Path) -> None:
        self._bundled = _bundle_dirs(plugin)
        self._proc: subprocess.Popen[str] | None = None
        ldd = shutil.which("ldd")
        if ldd is None:
            return  # cannot tell: let Qt try
        env = dict(os.environ)
        # Libraries shipped beside Qt are looked up there, as Qt's own run path does.
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [str(d) for d in self._bundled]
            + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
        try:
            self._proc = subprocess.Popen([ldd, str(plugin)], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, env=env)
        except OSError:
            self._proc = None

    def result(self, timeout: float = 10.0) -> MissingLibraries | None:
        """The missing system libraries; None when nothing is missing or ldd cannot tell."""
        if self._proc is None:
            return None
        try:
            out, _err = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return None
        # Shipped beside Qt means not a system library, whatever ldd found.
        missing = tuple(lib for lib in parse_ldd(out)
                        if not any((d / lib).exists() for d in self._bundled))
        return MissingLibraries(missing) if missing else None


def missing_for(plugin: Path, timeout: float = 10.0) -> MissingLibraries | None:
    """Run ``ldd`` on ``plugin``; None when nothing is missing or ldd cannot tell."""
    return PluginProbe(plugin).result(timeout)


def start_platform_check() -> PluginProbe | None:
    """Start checking the xcb plugin when Qt is going to use it (None: no check needed).

    Started before the data layers are imported, so the ``ldd`` run costs no start-up time.
    """
    if not wants_xcb():
        return None
    plugin = xcb_plugin()
    return PluginProbe(plugin) if plugin is not None else None


def check_platform_plugin() -> MissingLibraries | None:
    """The missing libraries when Qt is about to use the xcb plugin and could not load it."""
    probe = start_platform_check()
    return probe.result() if probe is not None else None
