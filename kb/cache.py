"""The claim cache, and parsing claim files on every core: what makes ``kb`` fast on big knowledge bases.

Parsing and schema-checking a claim file costs about 0.2 ms; at 100,000 files that is 20 s, every
time. This module does that work once per file and keeps the result:

* ``<kb>/.kb-cache/claims.pickle`` holds, for every claim file, its size and stamp (``file_stamp``:
  modification time, change time, inode and device), a BLAKE2b hash of its bytes, and the outcome
  of loading it: the ``Claim`` (or None) and the file's own diagnostics (syntax, schema, id).
  Cross-file results live in the index (below).
* A cached entry is used when size and stamp are unchanged. When they changed, the file is read and
  its hash decides (a ``touch``, a ``chmod`` or a ``git checkout`` that keeps the bytes costs a read,
  not a parse). Like git's index, the stamp holds what a replacement changes even when it keeps the
  size and the modification time (``mv`` or ``ln -sf`` of another file, ``cp -p``, an archive
  unpacked with its times). A file changed within a second of being cached ("racy": a second edit
  in the same clock tick would keep its times) is always confirmed by hash, as git does.
* The cache file carries a magic line, a fingerprint and a checksum. The fingerprint covers the
  cache format, the kb version, the Python version, the claim schema and the source of the modules
  that turn a file into a ``Claim``; the checksum covers the payload. Any mismatch, or any error
  at all while reading it, means "no cache": everything is parsed again and the cache rewritten.
  It is written atomically (``output.write_atomic``), so a crash never leaves half a cache.
  The file is a pickle: it lives in the knowledge base's own folder and is only unpickled after its
  checksum, keyed with this user's secret key (``_cache_key``), matched, so a cache that came with
  someone else's knowledge base is never unpickled.
* The folder is safe to delete at any time; ``KB_CACHE=0`` in the environment turns it off
  (nothing is read or written). A ``.kb-cache`` that is a symbolic link (or a file) is not used
  either (``_foreign_folder``): kb never writes through a link a knowledge base came with.

After a load and validation, an *index* of the whole result is kept as well (the section "the
whole-knowledge-base index" below): it answers a `kb check` when nothing changed, and lets kb/load.py
and kb/validate.py redo only what changed when only claim files did.

Files that are not cached are parsed in a pool of worker processes (fork) when there are many
of them (``PARALLEL_MIN_FILES``) and more than one core; small knowledge bases stay in one process,
where starting workers would cost more than it saves. Workers send back compact claims (field
positions packed with ``marshal``, unpacked only when a diagnostic asks for one).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import marshal
import os
import pickle
import stat
import sys
import time
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import Diagnostic, Location
from .inputs import read_input

__all__ = ["CACHE_DIR", "FORMAT_VERSION", "PARALLEL_MIN_FILES", "FileLoading", "Positions", "cache_enabled", "file_stamp", "load_value", "start_loading",
           "store_value"]

#: Bump when the layout of the cache file changes.
FORMAT_VERSION = 1
CACHE_DIR = ".kb-cache"
_MAGIC = b"kb claim cache\n"
#: Below this many files to parse, one process is faster than starting a pool.
PARALLEL_MIN_FILES = 2000
#: Files per task sent to a worker (and per block of the cache file written from worker results).
_MIN_CHUNK = 200
#: A file modified less than this long before it was read is confirmed by hash next time.
_RACY_NS = 1_000_000_000
#: ``file_stamp`` values are below this (so never -1, the mark of a time too recent to trust).
_STAMP_MASK = (1 << 62) - 1


def file_stamp(info: os.stat_result) -> int:
    """What says that a file is still the one seen before, besides its size: its modification time
    (ns) with what a replacement changes even when it keeps that time and the size, as git's index
    has them: the inode and device (another file moved or linked over it: ``mv``, ``ln -sf``) and the
    change time (a copy that keeps times: ``cp -p``, an archive unpacked; an owner or mode changed).
    One number, never negative; comparable only with stamps of the same Python (tuples of ints hash
    the same in every process of one version, which the cache fingerprint holds)."""
    return hash((info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)) & _STAMP_MASK


def _recent(info: os.stat_result, limit: int) -> bool:
    """Was the file modified after ``limit`` (ns)? Then its stamp cannot be trusted yet: a second edit
    in the same clock tick could keep it. As in git, by the modification time alone: a file whose
    times were set back (``touch -d``, ``cp -p``, an archive unpacked) has a change time of now, and
    would count as too recent for a second after every such copy. Two replacements of one file by
    ``cp -p`` within one tick of the clock (a few milliseconds), the first of them read by kb in
    between, would go unnoticed; a replacement by ``mv`` or ``ln`` never does (the inode)."""
    return info.st_mtime_ns > limit


#: The modules whose code decides what a claim file loads to; editing any of them invalidates the cache.
_CODE = ("cache.py", "load.py", "model.py", "yamlsafe.py", "schema.py", "errors.py", "bib.py", "article.py", "inputs.py", "latex.py", "stylenames.py")

#: (path, size, stamp (``file_stamp``), digest, claim or None, diagnostics) as stored for each file.
Entry = tuple


class Positions(Mapping):
    """Field path -> Location for one claim, kept packed until a diagnostic asks for a position.

    Behaves as the plain ``{path: Location}`` dict that ``Claim.positions`` documents; the
    difference is that 100,000 of them unpickle in milliseconds instead of seconds.
    """

    __slots__ = ("_rel", "_packed", "_map")

    def __init__(self, rel: str, packed: bytes):
        self._rel = rel
        self._packed = packed
        self._map: dict | None = None

    @classmethod
    def from_locations(cls, rel: str, locations: Mapping) -> "Positions":
        return cls(rel, marshal.dumps({path: (loc.line, loc.column) for path, loc in locations.items()}))

    @classmethod
    def of(cls, rel: str, positions: Mapping) -> "Positions | dict":
        """From the parser's ``{path: (line, column)}``; a plain dict of Locations if it cannot be packed."""
        try:
            return cls(rel, marshal.dumps(positions))
        except ValueError:  # a key marshal cannot write: keep it unpacked
            return {path: Location(rel, line, column) for path, (line, column) in positions.items()}

    def _unpacked(self) -> dict:
        if self._map is None:
            self._map = {path: Location(self._rel, line, column) for path, (line, column) in marshal.loads(self._packed).items()}
        return self._map

    def __getitem__(self, path) -> Location:
        return self._unpacked()[path]

    def __iter__(self) -> Iterator:
        return iter(self._unpacked())

    def __len__(self) -> int:
        return len(self._unpacked())

    def __contains__(self, path) -> bool:
        return path in self._unpacked()

    def __reduce__(self):
        return (Positions, (self._rel, self._packed))

    def __repr__(self) -> str:
        return f"Positions({self._rel!r}, {len(self)} fields)"


def cache_enabled() -> bool:
    return os.environ.get("KB_CACHE", "1").strip().lower() not in ("0", "no", "off", "false")


def user_cache_folder() -> Path:
    """This user's own cache folder for kb (``$XDG_CACHE_HOME/kb``, else ``~/.cache/kb``): the cache key,
    and the compiled templates (kb/render.py); never shipped with a knowledge base."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kb"


def _cache_key() -> bytes | None:
    """This user's secret key for cache checksums (``~/.cache/kb/cache-key``, mode 0600), made on first use.

    A cache file is a pickle, and unpickling runs code. Knowledge bases come from other people (a
    contribution, an archive), and a ``.kb-cache`` can come with them; its unkeyed checksum and the
    public fingerprint would be easy to forge. With a keyed checksum only caches written by this user
    are ever unpickled. None (no cache) if the key cannot be read or made.
    """
    try:
        folder = user_cache_folder()
    except RuntimeError:  # no home folder: run without a cache
        return None
    path = folder / "cache-key"
    for _ in range(2):
        try:
            key = path.read_bytes()
            return key if len(key) == 32 and _own_private_file(path) else None
        except FileNotFoundError:
            pass
        except OSError:
            return None
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
        except FileExistsError:  # made by a concurrent run: read it
            continue
        except (OSError, RuntimeError):  # no home folder, read-only: run without a cache
            return None
    return None


def _own_private_file(path: Path) -> bool:
    """Is ``path`` this user's, and readable and writable by nobody else? A key that someone else could
    have written or read keys nothing (then there is no cache)."""
    if not hasattr(os, "getuid"):  # no POSIX owners (Windows): the folder's own protection applies
        return True
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def fingerprint() -> bytes:
    """What a cache must have been written by: format, kb version, Python, claim schema and loader code."""
    from . import __version__  # at call time: kb/__init__ imports this module's importers first
    from .resources import resource_dir

    h = hashlib.blake2b(digest_size=32)
    h.update(f"{FORMAT_VERSION}\0{__version__}\0{sys.version}\0{sys.implementation.cache_tag}\0".encode())
    h.update((resource_dir("schema") / "claim.schema.json").read_bytes())
    here = Path(__file__).resolve().parent
    for name in _CODE:
        try:
            h.update(name.encode() + b"\0" + (here / name).read_bytes())
        except OSError:  # e.g. a zipped or compiled-only install: fall back to the version alone
            h.update(name.encode() + b"\0?")
    return h.digest()


def _foreign_folder(folder: Path) -> bool:
    """Is ``folder`` (``<kb>/.kb-cache``) there but not a folder of the knowledge base's own: a symbolic
    link, or not a folder at all? A knowledge base from someone else could carry a link named
    ``.kb-cache`` to any folder of the user's, and kb would write its files there (and replace files of
    the same names). kb then keeps no cache: it neither reads nor writes through the link."""
    try:
        return not stat.S_ISDIR(os.lstat(folder).st_mode)
    except FileNotFoundError:
        return False  # not made yet: _write_signed makes it
    except OSError:
        return True


def _read_signed(path: Path, expected: bytes) -> memoryview | None:
    """The payload of a cache file written by ``_write_signed`` for state ``expected``, or None if it is
    missing, unreadable, stale, corrupt, or keyed by someone else (then it is never unpickled: a planted
    pickle would run code)."""
    if _foreign_folder(path.parent):
        return None
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC)
    if blob[:head] != _MAGIC or blob[head:head + 32] != expected:
        return None
    checksum, payload = blob[head + 32:head + 64], memoryview(blob)[head + 64:]
    key = _cache_key()
    if key is None or not hmac.compare_digest(hashlib.blake2b(payload, digest_size=32, key=key).digest(), checksum):
        return None
    return payload


def _write_signed(path: Path, expected: bytes, payload: bytes, key: bytes) -> None:
    """Write ``payload`` for state ``expected``, checksummed with this user's ``key``; never fails. The
    first write of a process into a folder also removes what writes killed half-way left there
    (kb.output ``remove_stale_temps``)."""
    from .output import remove_stale_temps, write_atomic

    checksum = hashlib.blake2b(payload, digest_size=32, key=key).digest()
    try:
        folder = path.parent
        if _foreign_folder(folder):
            return
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ".gitignore").write_text("# kb's cache: safe to delete at any time\n*\n", encoding="utf-8")
        elif str(folder) not in _SWEPT:
            _SWEPT.add(str(folder))
            remove_stale_temps(folder)
        write_atomic(path, b"".join((_MAGIC, expected, checksum, payload)))
    except Exception:  # a read-only knowledge base, a full disk: the cache is optional
        pass


#: Folders ``_write_signed`` has swept of stale temporary files in this process.
_SWEPT: set[str] = set()


def read_blocks(path: Path, expected: bytes) -> tuple[dict[str, Entry], list[tuple[bytes, list[str]]]] | None:
    """(entries by path, [(block, the paths it holds)]), or None if missing, stale, corrupt or unreadable.

    The payload is a list of blocks, each a pickled list of (entry, cacheable): blocks whose files
    are all unchanged are written back as they are, and blocks from worker processes are stored
    without being pickled a second time.
    """
    payload = _read_signed(path, expected)
    if payload is None:
        return None
    try:
        enabled = gc.isenabled()
        gc.disable()  # many small objects: the cyclic collector would rescan them over and over
        try:
            entries: dict[str, Entry] = {}
            blocks = []
            for block in pickle.loads(payload):
                rels = []
                for entry, cacheable in pickle.loads(block):
                    if cacheable:
                        entries[entry[0]] = entry
                        rels.append(entry[0])
                blocks.append((block, rels))
            gc.freeze()  # long-lived from here on: keep later collections from walking them again and again
        finally:
            if enabled:
                gc.enable()
        return entries, blocks
    except Exception:  # any problem at all: treat as no cache
        return None


def write_cache(path: Path, expected: bytes, entries: dict[str, Entry] | None = None, blocks: list[bytes] = ()) -> None:
    """Write ``blocks`` (already pickled lists of (entry, cacheable)) plus ``entries`` as one cache file."""
    key = _cache_key()
    if key is None:
        return
    blocks = list(blocks)
    if entries:
        blocks.append(pickle.dumps([(entry, True) for entry in entries.values()], protocol=pickle.HIGHEST_PROTOCOL))
    _write_signed(path, expected, pickle.dumps(blocks, protocol=pickle.HIGHEST_PROTOCOL), key)


def _compact(claim, rel: str):
    """A claim with its positions packed (cheap to pickle and to send between processes); other values as they are."""
    if claim is None or isinstance(getattr(claim, "positions", None), Positions) or not hasattr(claim, "positions"):
        return claim
    packed = Positions.from_locations(rel, claim.positions)
    try:
        object.__setattr__(claim, "positions", packed)  # a claim just made here and not shared yet
    except (AttributeError, TypeError):
        pass
    return claim


#: The function that loads one claim file: (path, rel, stem, bytes or None) -> (claim or None, diagnostics).
LoadOne = Callable[[str, str, str, "bytes | None"], tuple[Any, list[Diagnostic]]]
#: Set in the parent before forking; the workers inherit it.
_WORKER_LOAD: LoadOne | None = None


def _load_fresh(load_one: LoadOne, path: str, rel: str, stem: str, started_ns: int, max_bytes: int) -> tuple[Entry, bool]:
    """Load one file now. Returns its entry and whether it may be cached (a regular file, read whole)."""
    raw = None
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size <= max_bytes:
            raw = read_input(path, rel, max_bytes + 1)
    except OSError:
        raw = None
    if raw is None or len(raw) != info.st_size:  # odd, unreadable or changing: let the loader report it; never cache
        claim, diagnostics = load_one(path, rel, stem, None)
        return (rel, -1, -1, b"", _compact(claim, rel), tuple(diagnostics)), False
    claim, diagnostics = load_one(path, rel, stem, raw)
    racy = _recent(info, started_ns - _RACY_NS)
    return (rel, info.st_size, -1 if racy else file_stamp(info), _digest(raw), _compact(claim, rel), tuple(diagnostics)), True


def _load_chunk(chunk: list[tuple[str, str, str]], started_ns: int, max_bytes: int) -> list[tuple[Entry, bool]]:
    return [_load_fresh(_WORKER_LOAD, path, rel, stem, started_ns, max_bytes) for path, rel, stem in chunk]


def _work(chunk: list[tuple[str, str, str]], started_ns: int, max_bytes: int) -> bytes:
    """A worker's answer for one chunk: its entries, pickled (the block stored in the cache file as it is)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.dumps(_load_chunk(chunk, started_ns, max_bytes), protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        if enabled:
            gc.enable()


def _worker_loop(chunks: list, counter, results, started_ns: int, max_bytes: int) -> None:
    """A worker process: load chunk after chunk (the next free index from ``counter``) until none is left."""
    while True:
        with counter.get_lock():
            index = counter.value
            counter.value = index + 1
        if index >= len(chunks):
            return
        results.put((index, _work(chunks[index], started_ns, max_bytes)))


class FileLoading:
    """Files of one kind being loaded: cache look-up done, misses being parsed (maybe in worker processes).

    Call :meth:`results` for ``(rel, claim or None, diagnostics)`` in the order the files were given.
    """

    def __init__(self, root: Path, kind: str, files: list[tuple[str, str, str]], load_one: LoadOne, *, parallel: bool = False,
                 max_bytes: int | None = None, use_cache: bool | None = None, workers: int | None = None):
        from .yamlsafe import MAX_BYTES

        self.max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self.root = Path(root)
        self.files = files
        self.load_one = load_one
        self.use_cache = cache_enabled() if use_cache is None else use_cache
        self.started_ns = time.time_ns()
        self.stats = {"files": len(files), "cached": 0, "rehashed": 0, "parsed": 0, "workers": 0}
        self._cache_path = self.root / CACHE_DIR / f"{kind}.pickle"
        self._fingerprint = fingerprint() if self.use_cache else b""
        wait_writers()  # a cache still being written by this process's own writer: read it whole
        found = read_blocks(self._cache_path, self._fingerprint) if self.use_cache else None
        old, self._old_blocks = found if found is not None else (None, [])
        self._old = old or {}
        self._fresh_blocks: list[bytes] = []
        self._worker_rels: set[str] = set()
        self._changed = old is None or len(old) != len(files)
        self._done: dict[str, Entry] = {}
        self._keep: dict[str, bool] = {}
        misses: list[tuple[str, str, str]] = []
        for path, rel, stem in files:
            entry = old.get(rel) if old else None
            if entry is not None:
                hit = self._check(entry, path)
                if hit is not None:
                    self._done[rel] = hit
                    self._keep[rel] = True
                    self._changed = self._changed or hit is not entry
                    continue
            misses.append((path, rel, stem))
        self._changed = self._changed or bool(misses)
        self._pending = None
        cores = workers if workers is not None else (os.cpu_count() or 1)
        if parallel and len(misses) >= PARALLEL_MIN_FILES and cores > 1:
            self._start_pool(misses, cores)
        else:
            self._misses = misses

    def _check(self, entry: Entry, path: str) -> Entry | None:
        """The entry if the file is unchanged (by stat, or by hash when stat disagrees) and can still be
        read, else None."""
        try:
            _, size, stamp, digest, claim, diagnostics = entry
            info = os.stat(path)
        except (OSError, ValueError, TypeError):
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size != size or size < 0:
            return None
        if info.st_mode & 0o444 != 0o444 and not os.access(path, os.R_OK):
            return None  # made unreadable since (a chmod keeps size and time): the load reports it, as a cold one would
        if file_stamp(info) == stamp:
            self.stats["cached"] += 1
            return entry
        try:
            raw = read_input(path, entry[0])
        except OSError:
            return None
        if len(raw) != size or _digest(raw) != digest:
            return None
        self.stats["rehashed"] += 1
        racy = _recent(info, self.started_ns - _RACY_NS)
        return (entry[0], size, -1 if racy else file_stamp(info), digest, claim, diagnostics)

    def _start_pool(self, misses: list[tuple[str, str, str]], cores: int) -> None:
        """Fork ``cores - 1`` workers that take chunks of files from a shared counter; this process
        reads the articles and BibTeX meanwhile and then takes chunks too (in ``results``), so both
        cores stay busy however the work is divided between claims and references."""
        import multiprocessing

        global _WORKER_LOAD
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux" else None
        if method is None:  # no cheap fork: stay in one process
            self._misses = misses
            return
        _WORKER_LOAD = self.load_one
        context = multiprocessing.get_context(method)
        size = max(_MIN_CHUNK, min(2000, len(misses) // (cores * 16)))
        self._chunks = [misses[i:i + size] for i in range(0, len(misses), size)]
        self._counter = context.Value("i", 0)
        self._queue = context.Queue()
        self._workers = [context.Process(target=_worker_loop, daemon=True,
                                         args=(self._chunks, self._counter, self._queue, self.started_ns, self.max_bytes))
                         for _ in range(max(1, cores - 1))]
        for worker in self._workers:
            worker.start()
        self._pending = True
        self._misses = []
        self.stats["workers"] = len(self._workers)

    def _take(self) -> int:
        with self._counter.get_lock():
            index = self._counter.value
            self._counter.value = index + 1
        return index

    def _collect(self) -> list[tuple[Entry, bool]]:
        """Every chunk's entries. This process takes chunks until none is left, unpickling the blocks
        the workers sent meanwhile after each (so that little is left to unpickle once the last chunk
        is parsed), then waits for the rest. Worker blocks go to the cache file as they are
        (``_fresh_blocks``); this process's own entries are pickled only when the cache is written."""
        import queue as queue_module

        done: set[int] = set()
        entries: list[tuple[Entry, bool]] = []

        def receive(index: int, block: bytes) -> None:
            decoded = pickle.loads(block)
            done.add(index)
            self._fresh_blocks.append(block)
            self._worker_rels.update(entry[0] for entry, _ in decoded)
            entries.extend(decoded)

        while (index := self._take()) < len(self._chunks):
            entries.extend(_load_chunk(self._chunks[index], self.started_ns, self.max_bytes))
            done.add(index)
            while True:
                try:
                    receive(*self._queue.get_nowait())
                except queue_module.Empty:
                    break
        while len(done) < len(self._chunks):
            try:
                receive(*self._queue.get(timeout=0.2))
            except queue_module.Empty:
                if not any(worker.is_alive() for worker in self._workers) and self._queue.empty():
                    break  # a worker died: do what it left undone here
        for index in range(len(self._chunks)):
            if index not in done:
                entries.extend(_load_chunk(self._chunks[index], self.started_ns, self.max_bytes))
        for worker in self._workers:
            worker.join(timeout=5)
        return entries

    def _save(self) -> None:
        """Write the cache: unchanged old blocks and worker blocks as they are, everything else pickled anew."""
        blocks, reused = [], set()
        for block, rels in self._old_blocks:
            if rels and all(self._done.get(rel) is self._old.get(rel) and self._keep.get(rel) for rel in rels):
                blocks.append(block)
                reused.update(rels)
        blocks += self._fresh_blocks
        rest = {rel: e for rel, e in self._done.items() if self._keep.get(rel) and rel not in reused and rel not in self._worker_rels}
        write_cache(self._cache_path, self._fingerprint, rest, blocks)

    def results(self, *, later: list | None = None) -> list[tuple[str, Any, tuple[Diagnostic, ...]]]:
        """Every file's (rel, value or None, diagnostics), in the order given. The cache file is
        written now, or, with ``later`` (a list), its writing is appended there for ``write_in_background``."""
        fresh: list[tuple[Entry, bool]] = [_load_fresh(self.load_one, path, rel, stem, self.started_ns, self.max_bytes)
                                             for path, rel, stem in self._misses]
        if self._pending is not None:
            enabled = gc.isenabled()
            gc.disable()
            try:
                fresh.extend(self._collect())
                gc.freeze()
            finally:
                if enabled:
                    gc.enable()
            self._pending = None
        self._misses = []
        for entry, cacheable in fresh:
            self._done[entry[0]] = entry
            self._keep[entry[0]] = cacheable
        self.stats["parsed"] += len(fresh)
        if self.use_cache and self._changed:
            if later is None:
                self._save()
            else:
                later.append(self._save)
            self._changed = False
        return [(rel, self._done[rel][4], self._done[rel][5]) for _, rel, _ in self.files]


#: Forked processes writing cache files (``write_in_background``), waited for by ``wait_writers``.
_WRITERS: list[int] = []
#: Did ``write_in_background`` freeze the collector (``gc.freeze``), for ``wait_writers`` to undo?
_FROZE = False


def _may_fork() -> bool:
    """May this process fork a helper (``write_in_background``, ``_stat_aside``)? On Linux, and only
    without other threads: a forked copy of a process with threads could copy a lock another thread holds."""
    import threading

    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


def write_in_background(saves: list[Callable[[], None]]) -> None:
    """Write cache files (``saves``) in a forked process while this one goes on (validating, say),
    or here and now where there is no fork.

    Writing the cache of a big knowledge base costs seconds (pickling, checksumming and writing
    200 MB at 100,000 claims) that nothing in this run needs; after the claims are parsed the second
    core is idle, so the copy made by ``fork`` does it there. Every reader of the cache waits for the
    writer first (``wait_writers``), and so does the end of ``kb.cli.main`` and of the interpreter, so
    no run sees a cache half-way and no command ends before its writer (a writer whose command was
    killed only finishes its own atomic write). A process with threads writes here and now: forking it
    could copy a lock another thread holds.
    """
    global _FROZE
    if not saves:
        return
    pid = -1
    if _may_fork():
        _FROZE = True
        gc.freeze()  # what is loaded lives on; later collections here must not touch (and so copy) the pages the writer shares
        try:
            pid = os.fork()
        except OSError:
            pid = -1
    if pid == 0:  # the writer: never returns into the caller's code
        code = 1
        try:
            gc.disable()  # the collector would touch (and so copy) every page shared with the parent
            for save in saves:
                save()
            code = 0
        finally:
            os._exit(code)
    if pid > 0:
        import atexit

        atexit.unregister(wait_writers)  # registered once, however many writers this process starts
        atexit.register(wait_writers)
        _WRITERS.append(pid)
        return
    for save in saves:
        save()


def wait_writers() -> list[int]:
    """Wait until every cache file being written in the background (``write_in_background``) is
    written; returns the writers' exit statuses (0: written; a writer that failed left the old file)."""
    global _FROZE
    statuses = []
    while _WRITERS:
        pid = _WRITERS[-1]
        try:
            statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        except ChildProcessError:  # already waited for elsewhere
            pass
        _WRITERS.pop()  # only once waited for: an interrupted wait is taken up again by the next call
    if _FROZE:
        gc.unfreeze()  # what write_in_background froze is ordinary garbage-collected memory again
        _FROZE = False
    return statuses


def start_loading(root: Path, kind: str, files: list[tuple[str, str, str]], load_one: LoadOne, *, parallel: bool = False,
                  **options) -> FileLoading:
    """Begin loading ``files`` (absolute path, path relative to the root, file stem) of one ``kind``.

    ``load_one(path, rel, stem, raw)`` loads one file (``raw``: its bytes, or None to read it
    itself) and returns (value, diagnostics); it must be a module-level function. With
    ``parallel``, many misses go to worker processes and this returns at once, so the caller can
    do other work meanwhile; ``.results()`` waits for the rest.
    """
    return FileLoading(root, kind, files, load_one, parallel=parallel, **options)


# --- the whole-knowledge-base index: `kb check` without loading what did not change ----------------
#
# Even from the per-file cache, turning 100,000 cached claims back into objects and validating them
# takes seconds. So after every load and validation the result is also kept as an *index*: for every
# input file its name, size, mtime and mode (one ``scandir`` and one ``stat`` per file, the same walk
# the loader lists claim files from), for every claim file what validation needs of it (its id, the
# reference keys it cites, its derived_from) and its diagnostics, and the whole-knowledge-base results
# (claim, reference and article keys, load diagnostics, validate's answer). Stored with ``marshal``
# (plain tuples and strings: about ten times faster to read than pickle), in two keyed, checksummed
# files: ``check-index.marshal`` (per file) and ``check-journal.marshal`` (what changed since, plus
# the whole-knowledge-base results). The journal is merged into the index when it holds more than
# ``JOURNAL_MERGE`` of the files, so one edit never rewrites the 100,000-entry file.
#
# * Nothing changed (same names, sizes, mtimes, modes; none "racy"; same kb code, schema, data): the
#   journal alone answers. ``load_kb`` returns a knowledge base whose mappings know their keys and
#   load their values (a full load) only when something reads them; ``validate`` returns the
#   remembered diagnostics.
# * Only claim files changed (edited, added, deleted, renamed; kb/load.py decides what counts): the
#   changed files are parsed, the rest comes from the index, and validate re-checks only the claims
#   that can have a different answer (kb/validate.py).
# * Anything else (kb.yaml, an article, a BibTeX file, folders added or removed, a folder that cannot
#   be listed, no or a damaged index): the full load and validation, which writes a new index.

_INDEX_FILE = "check-index.marshal"
_JOURNAL_FILE = "check-journal.marshal"
#: Merge the journal into the index when it names more than this share of the claim files.
JOURNAL_MERGE = 0.05
#: id(kb) -> (weak reference to kb, Session): how each knowledge base was loaded, for validate.
_STATES: dict[int, tuple] = {}


def _code_fingerprint() -> bytes:
    """The claim fingerprint plus the source of every kb module and shipped data (validation rules live in several)."""
    from .resources import resource_dir

    h = hashlib.blake2b(fingerprint(), digest_size=32)
    paths = sorted(Path(__file__).resolve().parent.glob("*.py"))
    for name in ("schema", "data"):
        try:
            paths += sorted(p for p in resource_dir(name).rglob("*") if p.is_file())
        except (FileNotFoundError, OSError):
            pass
    for path in paths:
        try:
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            h.update(path.name.encode() + b"\0?")
    return h.digest()


def _position(owner, name: str) -> int | None:
    """Where ``name`` is in ``owner.names``: a linear search (in C) for the first few questions, then a dict."""
    if owner._pos is None:
        owner._asked += 1
        if owner._asked <= 32:
            try:
                return owner.names.index(name)
            except ValueError:
                return None
        owner._pos = {n: i for i, n in enumerate(owner.names)}
    return owner._pos.get(name)


class Scan:
    """Every input file's size, stamp (``file_stamp``) and mode, by name relative to the root, from one walk.

    ``names``: a tuple in walk order; ``packed``: an ``array('q')`` of (size, stamp, mode) per name.
    Folders end with ``/`` and carry (0, 0, mode) (their size and mtime change with their listing,
    which is already here); a missing kb.yaml or top folder is (-1, -1, 0). The walk goes depth
    first, so a folder's name is followed by every name below it (``span``). ``racy``: names
    modified less than ``_RACY_NS`` before the walk (their stamp cannot be trusted yet: ``_recent``).
    ``errors``: (name, OSError) for folders that could not be listed and files that could not be stat'ed.
    """

    __slots__ = ("names", "packed", "racy", "errors", "_digest", "_pos", "_asked")

    def __init__(self, names: list, packed: array, racy: set, errors: list):
        self.names, self.packed, self.racy, self.errors = tuple(names), packed, racy, errors
        self._digest = self._pos = None
        self._asked = 0

    @property
    def trusted(self) -> bool:
        return not self.racy and not self.errors

    def items(self) -> Iterator[tuple[str, tuple]]:
        packed = self.packed
        for i, name in enumerate(self.names):
            yield name, tuple(packed[3 * i:3 * i + 3])

    def position(self, name: str) -> int | None:
        return _position(self, name)

    def span(self, folder: str) -> tuple[int, int]:
        """(start, end): ``names[start:end]`` are ``folder`` (a top folder: "claims/") and every name
        below it (the walk lists the top folders in ``_TOP_FOLDERS`` order, each followed by what is
        below it); (0, 0) when it is not in the walk."""
        start = self.position(folder)
        if start is None:
            return 0, 0
        later = (self.position(other) for other in _TOP_FOLDERS[_TOP_FOLDERS.index(folder) + 1:])
        return start, min((n for n in later if n is not None), default=len(self.names))

    def stat(self, name: str) -> tuple | None:
        i = self.position(name)
        return None if i is None else tuple(self.packed[3 * i:3 * i + 3])

    def recorded(self) -> bytes:
        """``packed`` as it may be remembered: a racy file's stamp as -1, so that it counts as changed next time."""
        if not self.racy:
            return self.packed.tobytes()
        copy = array("q", self.packed)
        for name in self.racy:
            copy[3 * self.position(name) + 1] = -1
        return copy.tobytes()

    def recorded_stat(self, name: str) -> tuple | None:
        found = self.stat(name)
        return found if found is None or name not in self.racy else (found[0], -1, found[2])

    def digest(self) -> bytes | None:
        """A digest of the whole listing and of kb's code; None when it cannot be trusted (racy, errors)."""
        if not self.trusted:
            return None
        if self._digest is None:
            h = hashlib.blake2b("\0".join(self.names).encode("utf-8", "surrogateescape"), digest_size=32)  # NUL is in no file name
            h.update(self.packed.tobytes())
            h.update(_code_fingerprint())
            self._digest = h.digest()
        return self._digest


#: A folder of at least this many entries is walked by two processes: a forked one ``stat``s the second
#: half of its entries while this one does the first (the walk of 105,000 files on a 2-core machine whose
#: ``stat`` takes about 4 us: 0.45-0.5 s instead of 0.55-0.8 s).
_SPLIT_WALK = 10_000


def _stat_aside(fd: int, entries: list[str], limit: int) -> Callable[[], array | None] | None:
    """``_stat_part`` of ``entries`` in a forked process; returns a function that waits for it and gives
    what it found, or None when the process failed. None when no process can be forked (the caller then
    does it all, as it does in a process that may not fork: ``_may_fork``)."""
    if not _may_fork():
        return None
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the forked process: stat, send, end (no clean-up of the parent's state: os._exit)
        code = 1
        try:
            os.close(read_end)
            view = memoryview(_stat_part(fd, entries, limit).tobytes())
            while view:
                view = view[os.write(write_end, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)

    def result() -> array | None:
        chunks = []
        try:
            while True:
                chunk = os.read(read_end, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            chunks = None
        finally:
            os.close(read_end)
            status = os.waitpid(pid, 0)[1]
        if chunks is None or os.waitstatus_to_exitcode(status) != 0:
            return None
        found = array("q")
        found.frombytes(b"".join(chunks))
        return found if len(found) == 4 * len(entries) else None

    return result


def _stat_part(fd: int, entries: list[str], limit: int) -> array:
    """``stat`` each of ``entries`` (names in the folder open as ``fd``): size, stamp (``file_stamp``) and
    mode of each, then a mark of each (1: modified after ``limit``, too recent to trust (``_recent``);
    0; -1: a folder, or an entry that could not be stat'ed, for the walk to look at on its own)."""
    triples, marks = array("q"), array("q")
    add, mark = triples.extend, marks.append
    for entry in entries:
        try:
            info = os.stat(entry, dir_fd=fd)
        except OSError:
            add((0, 0, 0))
            mark(-1)
            continue
        mode = info.st_mode
        add((info.st_size, file_stamp(info), mode))
        mark(-1 if stat.S_ISDIR(mode) else 1 if _recent(info, limit) else 0)
    return triples + marks


#: The folders the walk lists, in walk order (after kb.yaml).
_TOP_FOLDERS = ("claims/", "articles/", "references/")


def scan_inputs(root: str | os.PathLike) -> Scan:
    """Walk kb.yaml, claims/, articles/ and references/: one listing per folder and one ``stat`` per
    file (a symbolic link counts with its target; a link to a folder is listed, not followed).

    Each folder is opened once and its entries are stat'ed relative to it (``os.listdir`` of the
    descriptor, ``os.stat(name, dir_fd=...)``): at 100,000 files about a third less CPU than
    ``os.scandir`` with ``DirEntry.stat``, which resolves the whole path for every file. A folder of
    ``_SPLIT_WALK`` entries or more is stat'ed by two processes (``_stat_aside``), each half in a tight
    loop (``_stat_part``); folders, links to folders and entries that cannot be stat'ed are then looked
    at one by one, in their place, as in a small folder.
    """
    root = os.fspath(root)
    limit = time.time_ns() - _RACY_NS
    names: list = []
    packed = array("q")
    racy: set = set()
    errors: list = []
    add_name, add_stat = names.append, packed.extend
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    if os.stat in os.supports_dir_fd and os.open in os.supports_dir_fd and os.listdir in os.supports_fd:
        stat_at, open_at, close = os.stat, os.open, os.close
    else:  # no descriptor-relative calls (Windows): the same walk with paths
        def stat_at(entry, dir_fd, follow_symlinks=True):
            return os.stat(os.path.join(dir_fd, entry), follow_symlinks=follow_symlinks)

        def open_at(entry, _flags, dir_fd=None):
            path = entry if dir_fd is None else os.path.join(dir_fd, entry)
            if not os.path.isdir(path):
                raise NotADirectoryError(path)
            return path

        def close(_handle):
            pass

    def scan(fd, prefix: str) -> None:
        try:
            listing = os.listdir(fd)
        except OSError as exc:
            errors.append((prefix.rstrip("/"), exc))
            return
        def unreadable(entry: str, exc: OSError) -> None:
            add_name(prefix + entry)
            add_stat((-1, -1, 0))
            errors.append((prefix + entry, exc))

        def visit(entry: str) -> None:
            try:
                info = stat_at(entry, dir_fd=fd)
            except OSError:
                try:  # a dangling link
                    info = stat_at(entry, dir_fd=fd, follow_symlinks=False)
                except OSError as exc:
                    unreadable(entry, exc)
                    return
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                try:
                    own = stat_at(entry, dir_fd=fd, follow_symlinks=False)
                except OSError as exc:
                    unreadable(entry, exc)
                    return
                if stat.S_ISDIR(own.st_mode):  # a folder (a link to one is listed below like a file)
                    folder = prefix + entry + "/"
                    add_name(folder)
                    add_stat((0, 0, own.st_mode))
                    try:
                        sub = open_at(entry, flags | getattr(os, "O_NOFOLLOW", 0), dir_fd=fd)
                    except OSError as exc:
                        errors.append((folder.rstrip("/"), exc))
                        return
                    try:
                        scan(sub, folder)
                    finally:
                        close(sub)
                    return
            add_name(prefix + entry)
            add_stat((info.st_size, file_stamp(info), mode))
            if _recent(info, limit):
                racy.add(prefix + entry)

        if stat_at is not os.stat:  # the walk with paths: entry by entry
            for entry in listing:
                visit(entry)
            return

        def take(part: list[str], found: array | None) -> None:
            """Add ``part`` as ``_stat_part`` found it: in bulk, except what it left to ``visit``."""
            if found is None:  # the other process failed: look at its part here
                found = _stat_part(fd, part, limit)
            count = len(part)
            triples, marks = found[:3 * count], found[3 * count:]
            if -1 not in marks:
                names.extend(map(prefix.__add__, part))
                packed.extend(triples)
                if 1 in marks:
                    racy.update(prefix + entry for entry, mark in zip(part, marks) if mark == 1)
                return
            for n, entry in enumerate(part):
                if marks[n] < 0:  # a folder, a link to one, an entry that could not be stat'ed
                    visit(entry)
                    continue
                add_name(prefix + entry)
                add_stat(triples[3 * n:3 * n + 3])
                if marks[n]:
                    racy.add(prefix + entry)

        half = len(listing) // 2 if len(listing) >= _SPLIT_WALK else len(listing)
        other = _stat_aside(fd, listing[half:], limit) if half < len(listing) else None
        if other is None:
            half = len(listing)
        try:
            mine = _stat_part(fd, listing[:half], limit)
        finally:
            found = other() if other is not None else None
        take(listing[:half], mine)
        if half < len(listing):
            take(listing[half:], found)

    try:
        info = os.stat(os.path.join(root, "kb.yaml"))
        add_name("kb.yaml")
        add_stat((info.st_size, file_stamp(info), info.st_mode))
        if _recent(info, limit):
            racy.add("kb.yaml")
    except OSError as exc:
        add_name("kb.yaml")
        add_stat((-1, -1, 0))
        if not isinstance(exc, FileNotFoundError):
            errors.append(("kb.yaml", exc))
    for folder in (name.rstrip("/") for name in _TOP_FOLDERS):
        path = os.path.join(root, folder)
        add_name(folder + "/")
        if not os.path.isdir(path):
            add_stat((-1, -1, 0))
            continue
        add_stat((0, 0, os.stat(path).st_mode))
        try:
            fd = open_at(path, flags)
        except OSError as exc:
            errors.append((folder, exc))
            continue
        try:
            scan(fd, folder + "/")
        finally:
            close(fd)
    return Scan(names, packed, racy, errors)


def encode(d: Diagnostic) -> tuple:
    """A Diagnostic as a plain tuple (marshal writes those fast); ``decode`` turns it back."""
    loc = d.location
    return (d.severity.value, d.code, d.message, loc.path, loc.line, loc.column, d.hint)


def decode(t: tuple) -> Diagnostic:
    from .errors import Severity

    return Diagnostic(Severity(t[0]), t[1], t[2], Location(t[3], t[4], t[5]), t[6])


def _read_marshal(path: Path, state: bytes):
    return _read_decoded(path, state, marshal.loads)


def _write_marshal(path: Path, state: bytes, value) -> bool:
    key = _cache_key()
    if key is None:
        return False
    try:
        payload = marshal.dumps(value)
    except ValueError:  # a value marshal cannot write (it never should): no index
        return False
    _write_signed(path, state, payload, key)
    return True


#: What the journal replaces whole (everything that is not per file).
_WHOLE = ("summary", "dups", "dup_diags", "derived", "cites", "cycles")
#: Per-file dictionaries the journal holds changes to (None = gone).
_PER_FILE = ("load_diags", "check_diags")


class Index:
    """The remembered state of one knowledge base (see above): the index file with the journal on top.

    Per name of the walk: its (size, mtime, mode) as ``Scan.recorded`` gave it, and for a claim file
    its record, (claim id or None, cited reference keys (each once), derived_from), kept marshalled
    until asked for (``names``/``stats``/``records`` in the file, aligned; ``entries``: the journal's
    name -> (stat, record) or None for a name that is gone). load_diags / check_diags: claim file ->
    encoded diagnostics of loading it / of validating its claim (only non-empty ones; check_diags only
    for files whose claim is in ``kb.claims``); dups: claim id -> its files when there are several;
    dup_diags: id -> their duplicate-id diagnostics; derived: claim id -> (file, derived_from) for
    claims in ``kb.claims`` that have one; cites: reference key -> how many claims in ``kb.claims``
    cite it; cycles: encoded derived-cycle diagnostics; fixed: what only a full load changes (reference
    notes, article files, the other load diagnostics); summary: root, digest, config, keys, load
    diagnostics, unloaded claim ids, validate's result.
    """

    def __init__(self, main: dict, journal: dict):
        self.token = main["token"]
        self.names, self.records, self.fixed = main["names"], main["records"], main["fixed"]
        self.stats = array("q")
        self.stats.frombytes(main["stats"])
        if len(self.stats) != 3 * len(self.names) or len(self.records) != len(self.names):
            raise ValueError("inconsistent index")
        self.entries = dict(journal["entries"])
        for name in _PER_FILE:
            merged = dict(main[name])
            for key, value in journal[name].items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            setattr(self, name, merged)
        self.journal = {name: dict(journal[name]) for name in _PER_FILE}
        for name in _WHOLE:
            setattr(self, name, journal[name])
        self._pos = None
        self._asked = 0

    def position(self, name: str) -> int | None:
        return _position(self, name)

    def old_stat(self, name: str) -> tuple | None:
        if name in self.entries:
            entry = self.entries[name]
            return None if entry is None else tuple(entry[0])
        i = self.position(name)
        return None if i is None else tuple(self.stats[3 * i:3 * i + 3])

    def old_record_bytes(self, name: str) -> bytes:
        if name in self.entries:
            entry = self.entries[name]
            return b"" if entry is None else entry[1]
        i = self.position(name)
        return b"" if i is None else self.records[i]

    def record(self, rel: str) -> tuple | None:
        """The record of a claim file, or None if it had none."""
        raw = self.old_record_bytes(rel)
        return tuple(marshal.loads(raw)) if raw else None

    def all_records(self) -> Iterator[tuple[str, tuple]]:
        for i, name in enumerate(self.names):
            if name not in self.entries and self.records[i]:
                yield name, tuple(marshal.loads(self.records[i]))
        for name, entry in self.entries.items():
            if entry is not None and entry[1]:
                yield name, tuple(marshal.loads(entry[1]))

    def changed(self, scan: Scan) -> set[str]:
        """The names whose (size, mtime, mode) differ between the walk and the index, or are racy now."""
        candidates = set(self.entries) | scan.racy
        old_names, now_names = self.names, scan.names
        if old_names == now_names:
            self._compare(candidates, scan, ((0, 0, len(now_names)),))
        else:
            # A few names came or went: the walk order of the others is unchanged, so compare the runs
            # between them position by position; anything else (a different order): name by name.
            old_set, now_set = set(old_names), set(now_names)
            gone, came = old_set - now_set, now_set - old_set
            candidates |= gone | came
            runs = None
            if len(gone) + len(came) <= 256:
                skip_old = sorted(old_names.index(name) for name in gone)
                skip_now = sorted(now_names.index(name) for name in came)
                runs, i, j = [], 0, 0
                while i < len(old_names) or j < len(now_names):
                    if skip_old and skip_old[0] == i:
                        skip_old.pop(0)
                        i += 1
                        continue
                    if skip_now and skip_now[0] == j:
                        skip_now.pop(0)
                        j += 1
                        continue
                    length = min((skip_old[0] if skip_old else len(old_names)) - i, (skip_now[0] if skip_now else len(now_names)) - j)
                    if length <= 0 or old_names[i:i + length] != now_names[j:j + length]:
                        runs = None
                        break
                    runs.append((i, j, length))
                    i, j = i + length, j + length
            if runs is not None:
                self._compare(candidates, scan, runs)
            else:
                now_pos = {n: k for k, n in enumerate(now_names)}
                old_pos = {n: k for k, n in enumerate(old_names)}
                old, now = self.stats, scan.packed
                for name, k in now_pos.items():
                    m = old_pos.get(name)
                    if m is not None and old[3 * m:3 * m + 3] != now[3 * k:3 * k + 3]:
                        candidates.add(name)
        if len(candidates) > 32 and scan._pos is None:
            scan._pos = {n: i for i, n in enumerate(now_names)}
        return {name for name in candidates if name in scan.racy or self.old_stat(name) != scan.stat(name)}

    def _compare(self, candidates: set, scan: Scan, runs) -> None:
        """Add the names whose stats differ in each run (old position, new position, length) of equal names."""
        old, now = self.stats, scan.packed
        old_bytes, now_bytes = old.tobytes(), now.tobytes()
        size = 3 * old.itemsize  # bytes per name
        step = 512
        for i, j, length in runs:
            for start in range(0, length, step):
                end = min(length, start + step)
                if old_bytes[size * (i + start):size * (i + end)] != now_bytes[size * (j + start):size * (j + end)]:
                    for k in range(start, end):
                        if old[3 * (i + k):3 * (i + k) + 3] != now[3 * (j + k):3 * (j + k) + 3]:
                            candidates.add(scan.names[j + k])


def _fingerprint_state() -> bytes:
    return _code_fingerprint()


def read_journal(root: Path) -> dict | None:
    """The journal (whole-knowledge-base results and the changes since the index file), or None."""
    found = _read_marshal(root / CACHE_DIR / _JOURNAL_FILE, _fingerprint_state())
    return found if isinstance(found, dict) else None


def summary_of(journal: dict | None, root: Path) -> dict | None:
    """The journal's whole-knowledge-base results for ``root``, or None."""
    summary = journal.get("summary") if journal is not None else None
    return summary if isinstance(summary, dict) and summary.get("root") == str(root) else None


def read_index(root: Path, journal: dict | None) -> Index | None:
    """The index file with ``journal`` on top, or None if either is missing, stale or damaged."""
    main = _read_marshal(root / CACHE_DIR / _INDEX_FILE, _fingerprint_state())
    try:
        if not isinstance(main, dict) or not isinstance(journal, dict) or journal["base"] != main["token"]:
            return None
        if summary_of(journal, root) is None:
            return None
        return Index(main, journal)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def write_index(root: Path, index: Index | None, main: dict | None = None, changes: dict | None = None) -> None:
    """Keep the state: ``main`` (names, stats, records, load_diags, check_diags, fixed, and the
    ``_WHOLE`` parts) as a new index file and an empty journal; or, on top of ``index``, ``changes``
    ("entries": name -> (stat, record) or None; "load_diags"/"check_diags": rel -> value or None; and
    the ``_WHOLE`` parts) in the journal. Never fails."""
    state = _fingerprint_state()
    folder = root / CACHE_DIR
    if main is not None:
        token = os.urandom(16)
        if not _write_marshal(folder / _INDEX_FILE, state, {**{k: v for k, v in main.items() if k not in _WHOLE}, "token": token}):
            return
        journal = {"base": token, "entries": {}, **{name: {} for name in _PER_FILE}}
        for name in _WHOLE:
            journal[name] = main[name]
    else:
        journal = {"base": index.token, "entries": {**index.entries, **changes["entries"]}}
        for name in _PER_FILE:
            journal[name] = {**index.journal[name], **changes[name]}
        for name in _WHOLE:
            journal[name] = changes[name]
    _write_marshal(folder / _JOURNAL_FILE, state, journal)


class Session:
    """How one knowledge base was loaded: what validate may reuse and what it must write back.

    ``result``: validate's remembered answer (nothing changed), or None. ``index``: the index the
    load started from (None: a full load, validate writes a new one). ``update``: what kb/load.py
    found changed (its own record; see ``load._load_changes``). ``scan``: the walk of this load.
    ``files``: for a full load, (rel, claim or None, diagnostics) of every claim file.
    """

    def __init__(self, root: Path, scan: Scan | None, index: Index | None = None, result: list | None = None,
                 update: Any = None, files: list | None = None):
        self.root, self.scan, self.index, self.result, self.update, self.files = root, scan, index, result, update, files


def _register(kb, session: Session) -> None:
    import weakref

    for key in [k for k, (ref, _) in _STATES.items() if ref() is None]:
        del _STATES[key]
    _STATES[id(kb)] = (weakref.ref(kb), session)


def session_of(kb) -> Session | None:
    """The Session ``remember_kb`` registered for this knowledge base (None: loaded some other way, or cache off)."""
    entry = _STATES.get(id(kb))
    if entry is None or entry[0]() is not kb or not cache_enabled():
        return None
    return entry[1]


class _Lazy(Mapping):
    """A read-only mapping whose keys are known now and whose values come from ``load()`` on first use."""

    __slots__ = ("_keys", "_load", "_data", "_set")

    def __init__(self, keys: tuple, load: Callable[[], Mapping]):
        self._keys, self._load, self._data, self._set = keys, load, None, None

    def _real(self) -> Mapping:
        if self._data is None:
            self._data = self._load()
        return self._data

    def __getitem__(self, key):
        data = self._data  # loaded: one attribute read, not two calls (a build asks millions of times)
        return (self._real() if data is None else data)[key]

    def get(self, key, default=None):
        data = self._data
        return (self._real() if data is None else data).get(key, default)

    def __iter__(self):
        return iter(self._keys if self._data is None else self._data)

    def __len__(self) -> int:
        return len(self._keys if self._data is None else self._data)

    def __contains__(self, key) -> bool:
        return key in (self._keys_set() if self._data is None else self._data)

    def _keys_set(self):
        if self._set is None:
            self._set = frozenset(self._keys)
        return self._set

    def __repr__(self) -> str:
        return f"<{len(self)} entries, {'loaded' if self._data is not None else 'not loaded yet'}>"


def load_now(mapping) -> None:
    """Load a lazily loaded knowledge base's mapping (``lazy_kb``) now, if it is one and was not yet."""
    if isinstance(mapping, _Lazy):
        mapping._real()


def unloaded(mapping) -> bool:
    """True for a mapping of a lazily loaded knowledge base (``lazy_kb``) whose values were not read yet."""
    return isinstance(mapping, _Lazy) and mapping._data is None


class _LazyAttributes:
    """Stands for an object that is made on first attribute access (the pybtex BibliographyData)."""

    def __init__(self, load: Callable[[], Any]):
        object.__setattr__(self, "_load", load)
        object.__setattr__(self, "_data", None)

    def __getattr__(self, name):
        data = object.__getattribute__(self, "_data")
        if data is None:
            data = object.__getattribute__(self, "_load")()
            object.__setattr__(self, "_data", data)
        return getattr(data, name)


def lazy_kb(root: Path, summary: dict, loader: Callable[..., Any], *, claims: tuple | None = None, diagnostics: tuple | None = None,
            scan: Scan | None = None):
    """A KnowledgeBase with the keys and load diagnostics of ``summary`` whose values come from one full
    ``loader(root, scan=scan)`` on first use. ``scan``: the walk the keys were found by, so that the
    full load reads the same files (and does not walk the folders again: 0.4 s at 100,000 claims).
    A file removed, or an article or BibTeX file added, between the walk and that first use would
    give values that the keys do not match: that is a ``LoadError`` (run the command again), not a
    traceback further on or a knowledge base validated in part."""
    from .errors import LoadError
    from .model import Config, KnowledgeBase

    full: dict = {}
    keys = {"claims": tuple(summary["claims"] if claims is None else claims), "references": tuple(summary["references"]),
            "articles": tuple(summary["articles"])}

    def real():
        if "kb" not in full:
            loaded = loader(root) if scan is None else loader(root, scan=scan)
            for name, known in keys.items():
                if set(getattr(loaded, name)) != set(known):
                    raise LoadError(f"the knowledge base in {str(root)!r} changed while kb was reading it ({name})",
                                    hint="run the command again")
            full["kb"] = loaded
        return full["kb"]

    return KnowledgeBase(
        root=str(root),
        config=Config(**summary["config"]),
        claims=_Lazy(keys["claims"], lambda: real().claims),
        references=_Lazy(keys["references"], lambda: real().references),
        articles=_Lazy(keys["articles"], lambda: real().articles),
        bibliography=_LazyAttributes(lambda: real().bibliography),
        diagnostics=tuple(map(decode, summary["load_diagnostics"])) if diagnostics is None else diagnostics,
    )


def _read_pickle(path: Path, state: bytes):
    """The object stored with ``state`` in a keyed, checksummed file, or None."""
    return _read_decoded(path, state, pickle.loads)


def _read_decoded(path: Path, state: bytes, loads: Callable[[memoryview], Any]):
    """``loads`` of the payload ``_read_signed`` finds, or None: any problem at all means no cache."""
    payload = _read_signed(path, state)
    if payload is None:
        return None
    try:
        return loads(payload)
    except Exception:
        return None


def _write_pickle(path: Path, state: bytes, value) -> None:
    key = _cache_key()
    if key is None:
        return
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something unpicklable: run without this cache entry
        return
    _write_signed(path, state, payload, key)


def load_value(root: str | os.PathLike, name: str, state: bytes):
    """The object another part of kb stored under ``<root>/.kb-cache/<name>`` for ``state`` (any bytes
    that say what the value was computed from), or None when there is none, it is stale, corrupt or
    the cache is off. The one way into this cache for modules other than the loader."""
    if not cache_enabled():
        return None
    return _read_pickle(Path(root) / CACHE_DIR / name, hashlib.blake2b(state, digest_size=32).digest())


def store_value(root: str | os.PathLike, name: str, state: bytes, value) -> None:
    """Keep ``value`` under ``<root>/.kb-cache/<name>`` for ``state`` (see ``load_value``); never fails."""
    if cache_enabled():
        _write_pickle(Path(root) / CACHE_DIR / name, hashlib.blake2b(state, digest_size=32).digest(), value)


def _same_styles(recorded: Any) -> bool:
    """Are the installed citation styles the ones recorded when kb.yaml was read (kb/load.py ``_load_config``)?"""
    from .cite import style_names

    return isinstance(recorded, (tuple, list)) and tuple(style_names()) == tuple(recorded)


def remember_kb(root: str | os.PathLike, loader: Callable[..., Any], update: Callable[..., Any] | None = None):
    """Load the knowledge base at ``root`` using what the index remembers.

    ``loader(root, scan=None, files=None)`` is the full load (``files``: a dict it fills with what
    the index needs, see kb/load.py). ``update(root, scan, index)``
    returns a knowledge base and its record of changes when only what it can handle changed, or
    None. Without the cache, ``loader(root)``.
    """
    root_path = Path(root)
    if not cache_enabled() or not root_path.is_dir():
        return loader(root_path)
    scan = scan_inputs(root_path)
    digest = scan.digest()
    journal = read_journal(root_path)
    summary = summary_of(journal, root_path)
    if summary is not None and summary.get("styles") is not None and not _same_styles(summary["styles"]):
        summary = None  # kb.yaml names a plugin style, and the installed styles changed: read it again
    if digest is not None and summary is not None and summary.get("digest") == digest:
        kb = lazy_kb(root_path, summary, loader, scan=scan)
        _register(kb, Session(root_path, scan, result=[decode(t) for t in summary["result"]]))
        return kb
    if update is not None and not scan.errors and summary is not None:
        index = read_index(root_path, journal)
        if index is not None:
            found = update(root_path, scan, index)
            if found is not None:
                kb, changes = found
                _register(kb, Session(root_path, scan, index=index, update=changes))
                return kb
    files: dict = {}
    kb = loader(root_path, scan=scan, files=files)
    _register(kb, Session(root_path, scan, files=files))
    return kb
