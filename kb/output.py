"""Writing files without ever leaving half of one: write to a temporary file, then rename.

Every command that writes a file goes through ``write_atomic``; ``kb build`` uses
``replace_tree`` to swap a whole finished site into place. ``read_user_text`` is the other
direction, for a file named on the command line: every problem reading it is a KbError.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ExportError, KbError, Location, NotUtf8, decode_utf8

__all__ = ["STALE_TEMP_SECONDS", "folder_lock", "read_user_text", "remove_stale_folders", "remove_stale_temps", "replace_tree",
           "staging_folder", "write_atomic", "write_staged"]


def read_user_text(path: str | os.PathLike, *, shown: str, what: str = "file") -> str:
    """The text of a file the user named, read as UTF-8 (a byte order mark is dropped), with its line
    breaks (CRLF, CR) read as LF.

    Every problem is a KbError: bytes that are not UTF-8 at ``PATH:LINE:COLUMN`` (``kb.errors.decode_utf8``,
    as kb check reports them; the hint says to save the ``what`` as UTF-8); no such file, or any other OS
    error such as a folder or a file without read permission, starting with ``shown`` (how the message
    names the file).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise KbError(f"{shown}: no such file") from None
    except OSError as exc:
        raise KbError(f"{shown}: cannot read: {exc.strerror}") from None
    try:
        text = decode_utf8(raw)[0]
    except NotUtf8 as exc:
        raise KbError(exc.message, location=Location(str(path), exc.line, exc.column), hint=f"save the {what} as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


@contextmanager
def folder_lock(folder: str | os.PathLike, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (which exists) while the block runs: a second kb command that
    takes the same lock waits for the first (``on_wait`` is called once if it has to), so that two
    read-modify-writes of the same files cannot lose each other's changes. ``flock`` on the folder
    itself: no lock file is left anywhere; it ends with the process. Where there is no ``flock``, nothing."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: ``write_atomic`` writes into ``.<name>.<random><_TEMP_SUFFIX>`` next to the file, then renames it.
_TEMP_SUFFIX = ".tmp"


def write_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never half of one.

    With ``force=False`` an existing file is an error (checked atomically: the new file is linked into
    place, which fails if something appeared there meanwhile). The file gets the mode of the file it
    replaces, or the usual mode for a new file (0666 minus the umask). A symbolic link is followed: the
    file it points to is replaced and the link stays. What is not a regular file (``/dev/null``, a named
    pipe, a terminal) is written into, as a shell's ``>`` would, never replaced. Any OS error becomes an
    ExportError naming the file, so the CLI reports it in one line.
    """
    shown = Path(path)
    if shown.is_dir():
        raise ExportError(f"{str(shown)!r} is a folder", hint="name a file to write")
    if not force and (shown.exists() or shown.is_symlink()):
        raise ExportError(f"{str(shown)!r} already exists", hint="pass --force to overwrite it")
    try:
        payload = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError:  # a surrogate from an argument that was not UTF-8 (Python keeps such bytes as surrogates)
        raise ExportError(f"cannot write {str(shown)!r}: the text holds bytes that are not UTF-8",
                          hint="give the command's arguments (a title, say) in UTF-8") from None
    target = Path(os.path.realpath(shown)) if shown.is_symlink() else shown
    tmp = None
    try:
        info = target.stat() if target.exists() else None
        if info is not None and not stat.S_ISREG(info.st_mode):
            with open(target, "wb") as handle:  # a device or a pipe: nothing to replace atomically
                handle.write(payload)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = info.st_mode & 0o7777 if info is not None else _default_mode()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if the target appeared since the check above
            except FileExistsError:
                raise ExportError(f"{str(shown)!r} already exists", hint="pass --force to overwrite it") from None
            except OSError:  # a file system without hard links
                os.replace(tmp, target)
    except OSError as exc:
        raise ExportError(f"cannot write {str(shown)!r}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


#: A temporary file ``write_atomic`` left behind (its process was killed while writing) is removed by
#: ``remove_stale_temps`` once it is older than this, in seconds: a younger one may be a write going on,
#: and a day leaves room for a file server whose clock is behind this machine's.
STALE_TEMP_SECONDS = 24 * 3600


def _is_temp_name(name: str) -> bool:
    """Could ``name`` be one of ``write_atomic``'s temporary files?"""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX) and name.count(".") >= 3


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove from ``folder`` the temporary files of ``write_atomic`` (``_is_temp_name``) older than
    STALE_TEMP_SECONDS; returns how many. Never fails (a folder that cannot be listed: 0)."""
    import time

    removed = 0
    limit = time.time() - STALE_TEMP_SECONDS
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if _is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < limit:
                            os.unlink(entry.path)
                            removed += 1
                    except OSError:
                        pass
    except OSError:
        pass
    return removed


def staging_folder(target: Path) -> Path:
    """A new, empty folder next to ``target`` (``.NAME.build-PID-XXXX``) to make its replacement in, for
    ``replace_tree`` or to move files from one by one; the ones left by killed processes go first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_folders(target)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.build-{os.getpid()}-", dir=target.parent))


def write_staged(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, a file in a ``staging_folder`` that no reader sees until the folder is
    swapped in (so not atomically), with the usual mode (0666 minus the umask), as ``Path.write_bytes``
    does but with three system calls and no file object: 25 us a page against 62 us on a memory file
    system here, about 4.5 CPU-seconds of the 125,000 pages of a build at 100,000 claims."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _aside(target: Path) -> Path:
    """Where ``replace_tree`` puts the old ``target`` until the new one is in place."""
    return target.with_name(f".{target.name}.old-{os.getpid()}")


def remove_stale_folders(target: Path) -> None:
    """Remove the staging folders (``staging_folder``) and the old trees put aside (``replace_tree``) of
    ``target`` that processes left when they were killed (their process no longer runs)."""
    import re

    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:build-(\d+)-|old-(\d+)$)")
    for stale in target.parent.glob(f".{target.name}.*"):
        match = pattern.match(stale.name)
        if not match or not stale.is_dir() or stale.is_symlink():
            continue
        pid = int(match.group(1) or match.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_tree(staging: Path, target: Path, *, detach: bool = False) -> None:
    """Move the finished folder ``staging`` to ``target``, replacing what was there.

    The old tree is first renamed aside, so at every instant ``target`` is either the complete old
    site or the complete new one; the old one is deleted only after the swap (a killed process leaves
    it aside, and ``remove_stale_folders`` removes it later). With ``detach`` (a big old tree: the
    caller knows its size) it is deleted by a process of its own (``_delete_detached``) and this
    returns as soon as that process has taken it over.
    """
    old = None
    if target.exists():
        old = _aside(target)
        if old.is_dir() and not old.is_symlink():  # left by a killed process that had this process's id
            shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None and not (detach and _delete_detached(old, target.name)):
        shutil.rmtree(old, ignore_errors=True)


#: The program of ``_delete_detached``'s process. It forks and ends, so that its child is nobody's to
#: wait for; the child renames the old tree after its own process id (so that ``remove_stale_folders``
#: leaves it alone while it runs, and removes it if it is killed), says so on its standard output (and
#: goes on if nobody reads it any more: kb was stopped meanwhile), and deletes the tree at a lower CPU
#: priority.
_DELETER = """
import os, shutil, sys
old, name = sys.argv[1], sys.argv[2]
if os.fork():
    os._exit(0)
mine = os.path.join(os.path.dirname(old), f".{name}.old-{os.getpid()}")
try:
    os.rename(old, mine)
except OSError:
    sys.exit(1)
try:
    os.write(1, b"taken\\n")
except OSError:
    pass
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
try:
    os.nice(10)
except OSError:
    pass
shutil.rmtree(mine, ignore_errors=True)
"""


def _delete_detached(old: Path, name: str) -> bool:
    """Hand the tree ``old`` (put aside by ``replace_tree``) to a new process in a session of its own (a
    Ctrl-C in the terminal does not stop it) that deletes it after this one has ended: unlinking the
    125,000 files of a site of 100,000 claims takes about 27 s. True once that process has taken the tree
    over; False (the caller deletes it) when it could not be started or could not take it, and where it
    would not outlive this process: not on POSIX, no interpreter to start (a frozen application), or this
    process is a container's first (when it ends, every process of the container is stopped)."""
    import subprocess
    import sys

    if os.name != "posix" or not sys.executable or getattr(sys, "frozen", False) or os.getpid() == 1:
        return False
    try:
        process = subprocess.Popen([sys.executable, "-I", "-S", "-c", _DELETER, str(Path(old).absolute()), name], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    except (OSError, ValueError):
        return False
    with process.stdout:
        taken = process.stdout.readline() == b"taken\n"
    process.wait()  # the first process, which ended once it had forked the one that deletes
    return taken
