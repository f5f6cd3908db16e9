"""Writing files without ever leaving half of one: write to a temporary file, then rename.

Every command that writes a file goes through ``write_atomic``; ``kb build`` uses
``replace_tree`` to swap a whole finished site into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import ExportError

__all__ = ["replace_tree", "write_atomic"]


def write_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = True) -> None:
    """Write ``data`` to ``path`` atomically. With ``force=False`` an existing file is an error."""
    target = Path(path)
    if not force and target.exists():
        raise ExportError(f"{str(target)!r} already exists", hint="pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_tree(staging: Path, target: Path) -> None:
    """Move the finished folder ``staging`` to ``target``, replacing what was there.

    The old tree is first renamed aside, so at every instant ``target`` is either the complete old
    site or the complete new one; the old one is deleted only after the swap.
    """
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
