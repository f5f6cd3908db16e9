"""Reading the knowledge base's own files (claims, articles, BibTeX, kb.yaml): never through a
symbolic link that leads out of the knowledge base.

A knowledge base often comes from someone else (a contribution checked in CI, an archive). A claim
file that is a link to ``~/.aws/credentials`` would be read and, not being a claim, quoted back in
an error message: into a CI log anyone may read. So a file that is itself a symbolic link is read
only when its real path is inside the knowledge base's real folder; a link within it (a claim file
shared by two names) is read as before. The check costs nothing for a file that is not a link: the
file is opened with ``O_NOFOLLOW``, which fails only for a link (then its target is looked at). A
folder that is a link is not looked at here: the walk does not follow those below ``claims/``, and
only files with kb's own suffixes are read in any folder.
"""

from __future__ import annotations

import errno
import os

__all__ = ["OutsideLink", "open_input", "read_input"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class OutsideLink(OSError):
    """The file is a symbolic link to a file outside the knowledge base: it is not read."""

    hint = "copy the file into the knowledge base instead of linking to it"

    def __init__(self, path: str) -> None:
        super().__init__(errno.EACCES, "a symbolic link to a file outside the knowledge base", path)


def _inside(path: str, rel: str) -> bool:
    """Is the real path of ``path`` (the knowledge base's folder followed by ``rel``) inside that folder's real path?"""
    rel = rel.replace("/", os.sep)
    root = path[:len(path) - len(rel)] if rel and path.endswith(rel) else os.path.dirname(path)
    real_root = os.path.realpath(root or os.curdir)
    return os.path.realpath(path).startswith(real_root.rstrip(os.sep) + os.sep)


def open_input(path: str | os.PathLike, rel: str):
    """``path`` (the knowledge base's folder followed by ``rel``, its name in messages) opened for reading
    in binary; OutsideLink (an OSError) for a link to a file outside the knowledge base."""
    path = os.fspath(path)
    try:
        fd = os.open(path, _FLAGS | _NOFOLLOW)
    except OSError as exc:
        if not _NOFOLLOW or exc.errno != errno.ELOOP:
            raise
        if not _inside(path, rel):  # a link (or a loop of them, which realpath leaves outside or the open below reports)
            raise OutsideLink(path) from None
        fd = os.open(path, _FLAGS)
    return os.fdopen(fd, "rb")


def read_input(path: str | os.PathLike, rel: str, limit: int = -1) -> bytes:
    """The bytes of ``path`` (at most ``limit``), read as ``open_input`` opens it."""
    with open_input(path, rel) as handle:
        return handle.read(limit)
