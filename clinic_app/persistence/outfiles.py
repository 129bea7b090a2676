"""Output files (backups, exports, reports): never overwrite unless asked, never leave a
half-written copy of patient data behind.

A file is written as ``NAME.part`` beside its destination while this process holds a lock
on it, then moved into place. A ``.part`` nobody holds was left by a killed writer:
:func:`remove_stale_parts` and :func:`remove_registered_parts` delete it at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clinic_app.domain.errors import DomainError

PART_SUFFIX = ".part"
PARTS_REGISTRY = "unfinished-files"  # folder in the data folder, see part_file
# Without advisory locks (Windows) a .part is taken as abandoned once it is this old.
STALE_AFTER_S = 6 * 3600


class OutputExistsError(DomainError):
    """The destination file exists and replacing it was not asked for."""


def target_in(out: Path, default_name: str) -> Path:
    """``out`` itself, or a free name in ``out`` when it is an existing folder:
    ``default_name``, else ``default_name`` numbered (``name-2.ext``...)."""
    if not out.is_dir():
        return out
    first = out / default_name
    ext = ".json.gz" if default_name.endswith(".json.gz") else Path(default_name).suffix
    stem = default_name[: len(default_name) - len(ext)]
    candidate, n = first, 1
    while candidate.exists() or candidate.with_name(candidate.name + PART_SUFFIX).exists():
        n += 1
        candidate = out / f"{stem}-{n}{ext}"
    return candidate


def refuse_existing(path: Path, force: bool) -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and ``force`` is false."""
    if path.is_dir():
        raise OutputExistsError(f"{path} is a folder; name a file inside it.")
    if not force and path.exists():
        raise OutputExistsError(
            f"{path} already exists; nothing was written. Choose another name, "
            "or replace it with --force."
        )


def publish(tmp: Path, dest: Path, force: bool) -> None:
    """Move the finished ``tmp`` to ``dest``; without ``force`` an existing file is kept."""
    if force:
        os.replace(tmp, dest)
        return
    try:
        # A hard link never replaces an existing name, even if one appeared meanwhile.
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputExistsError(
            f"{dest} appeared while it was being written; it was left as it is. "
            "Choose another name, or replace it with --force."
        ) from None
    except OSError:
        # File systems without hard links (FAT on USB drives): check, then rename.
        refuse_existing(dest, force=False)
        os.replace(tmp, dest)
        return
    tmp.unlink()


def _lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; age decides (see remove_stale_parts)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextmanager
def part_file(dest: Path, registry: Path | None = None) -> Iterator[Path]:
    """``dest.part``, locked by this process while the block writes it; removed if the
    block fails. Raises :class:`OutputExistsError` if another process is writing it.

    ``registry`` (a folder) remembers where the ``.part`` is while it exists, so that
    :func:`remove_registered_parts` finds it wherever it was written if this process dies.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + PART_SUFFIX)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o600)
    marker = None
    try:
        if not _lock(fd):
            raise OutputExistsError(f"Another process is writing {dest} right now.")
        os.ftruncate(fd, 0)  # a stale copy from a killed writer is not reused
        if registry is not None:
            marker = _marker(registry, tmp)
        try:
            yield tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)
        if marker is not None:
            marker.unlink(missing_ok=True)


def _marker(registry: Path, tmp: Path) -> Path:
    registry.mkdir(parents=True, exist_ok=True)
    where = str(tmp.resolve())
    marker = registry / (hashlib.sha256(where.encode()).hexdigest()[:24] + ".where")
    marker.write_text(where, encoding="utf-8")
    return marker


def remove_registered_parts(registry: Path) -> list[Path]:
    """Delete the ``.part`` files registered in ``registry`` whose writer is gone."""
    removed: list[Path] = []
    try:
        markers = list(registry.glob("*.where"))
    except OSError:
        return removed
    for marker in markers:
        try:
            tmp = Path(marker.read_text(encoding="utf-8"))
        except OSError:
            continue
        if tmp.name.endswith(PART_SUFFIX):
            if tmp.exists():
                removed += remove_stale_parts(tmp.parent, only=tmp.name)
            if not tmp.exists():
                marker.unlink(missing_ok=True)
    return removed


def remove_stale_parts(folder: Path, only: str | None = None) -> list[Path]:
    """Delete ``*.part`` files (or just ``only``) in ``folder`` that no running writer
    holds; return them."""
    removed: list[Path] = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.endswith(PART_SUFFIX)
                      and (only is None or p.name == only)]
    except OSError:
        return removed
    for path in candidates:
        if not path.is_file():
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            try:
                import fcntl  # noqa: F401
            except ImportError:
                free = time.time() - os.fstat(fd).st_mtime > STALE_AFTER_S
            else:
                free = _lock(fd)
            if free:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
        finally:
            os.close(fd)
    return removed
