"""Handing files to the desktop (PDF viewer, file manager) and the private preview folder.

``open_path`` is the one place that launches another program, so the dialogs can tell the
user when nothing could be opened (and where the file is) instead of failing silently.
Preview PDFs hold patient data: they live in an owner-only folder and are deleted when the
application closes, and any left behind by a crash at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger(__name__)

_LAUNCH_GRACE_S = 1.5  # xdg-open fails within this time when no application is registered


def open_path(path: Path) -> bool:
    """Open a file (in its default application) or a folder (in the file manager).

    Returns ``False`` when nothing could be launched. On Linux ``xdg-open`` is run directly,
    silenced (its error message would name the patient's file on the terminal), and an exit
    with an error code shortly after the start counts as failure: ``QDesktopServices``
    reports success there even when no PDF viewer is installed.
    """
    if not path.exists():
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        opener = shutil.which("xdg-open")
        if opener is None:
            return False
        try:
            proc = subprocess.Popen(  # noqa: S603 - fixed program, path passed as one argument
                [opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )
        except OSError:
            return False
        try:
            return proc.wait(timeout=_LAUNCH_GRACE_S) == 0
        except subprocess.TimeoutExpired:
            return True  # still running: it is showing the file
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def documents_dir() -> Path:
    """The user's Documents folder (the home folder if there is none), for save dialogs."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if docs and Path(docs).is_dir():
        return Path(docs)
    return Path.home()


def _user_tag() -> str:
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    return "".join(ch for ch in os.environ.get("USERNAME", "user") if ch.isalnum()) or "user"


def _preview_path() -> Path:
    return Path(tempfile.gettempdir()) / f"backstep-previews-{_user_tag()}"


def _is_own_dir(info: os.stat_result) -> bool:
    """A real directory (not a symbolic link) owned by the current user."""
    getuid = getattr(os, "getuid", None)
    return stat.S_ISDIR(info.st_mode) and (getuid is None or info.st_uid == getuid())


def preview_dir() -> Path:
    """The owner-only (0700) folder for preview PDFs, created on demand.

    It has a fixed name per user in the system temporary folder so that the next start can
    delete what a crash left behind. A folder of that name that is a symbolic link or
    belongs to someone else is never used: a fresh private folder is made instead.
    """
    folder = _preview_path()
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not _is_own_dir(info):
        log.warning("Preview folder not private; using a one-off folder instead")
        return Path(tempfile.mkdtemp(prefix="backstep-preview-"))
    if stat.S_IMODE(info.st_mode) != 0o700:
        folder.chmod(0o700)
    return folder


def clear_previews() -> int:
    """Delete every preview file; returns how many were removed (open ones may stay on
    Windows and go at the next start)."""
    folder = _preview_path()
    try:
        if not _is_own_dir(folder.lstat()):
            return 0  # not ours (or a link): never delete in someone else's folder
        entries = list(folder.iterdir())
    except OSError:  # missing or unreadable: nothing of ours to delete
        return 0
    removed = 0
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            log.warning("A preview file could not be deleted yet (still open?)")
    return removed
