"""Citation text from pybtex formatting styles, one entry at a time, cached per (key, style, backend).

Styles are pybtex plugins (group ``pybtex.style.formatting``): pybtex's own ``plain``, ``unsrt``,
``alpha`` and kb's ``vancouver`` and ``apa`` (kb/styles, registered through entry points and at
import), or any other installed plugin. Formatting one entry at a time means a missing field spoils
only that entry: it is reported and shown with a visible placeholder, where pybtex's
``format_bibliography`` would stop.

``cited_bibliography`` does what a document needs: given the keys in order of first citation it
returns the entries sorted and labelled the way the style wants (unsrt/vancouver: first use, 1, 2, 3;
plain: by author, numbered; alpha: [GMC+17]; apa: by author, labelled "Geneen et al., 2017"), and
``in_text`` turns a group of labels into the in-text citation ("[1, 2]", "[1–3]" or
"(Geneen et al., 2017; Lim et al., 2024)"), the join of ``in_text_parts``, which gives it in pieces
(brackets, separators, one piece per label shown) for documents that link each source.

LaTeX markup in fields, which pybtex's own parser keeps as text ("\\emph in vivo"), is read by kb
(kb/latex.py, which kb.bib's plain text uses too): ``\\emph{x}``, ``{\\em x}``, ``\\textbf``,
``\\textsuperscript``, ``\\url``, ``$x^2$``... become italic, bold, superscript, links and text in kb's
backends (``MarkdownBackend``, ``HtmlBackend``, ``LatexBackend``, kb.latex's ``TextBackend``:
pybtex's own, with kb's tags); docs/handouts.md lists them.

Speed. pybtex re-parses the LaTeX of every field and name part each time a template reads it, and
its LaTeX decoder costs up to half a millisecond for a title. While kb formats, ``Text.from_latex``
is memoised and skips the decoder for text it would leave unchanged (no backslash, ``$``, ``%``,
``~``, backquote, ``--``, ``''``, ``,,`` or doubled/leading white space), which gives the same rich
text. ``format_references`` formats many entries at once: results are kept in memory (shared with
``format_reference``) and on disk under ``<kb>/.kb-cache`` (kb.cache ``load_value``/``store_value``),
per entry content, style and backend, invalidated by any change to the source of the style and
backend classes, kb's styles, this module or the pybtex version; entries not cached are formatted
in two forked worker processes when there are many and at least two cores.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from pybtex.backends.html import Backend as _PybtexHtml
from pybtex.backends.latex import Backend as _PybtexLatex
from pybtex.backends.markdown import Backend as _PybtexMarkdown
from pybtex.plugin import find_plugin
from pybtex.richtext import Tag, Text
from pybtex.style.template import FieldIsMissing
from pybtex.utils import OrderedCaseInsensitiveDict

from . import styles as _styles  # noqa: F401  (registers vancouver and apa with pybtex)
from .errors import ConfigError, did_you_mean
from .latex import _PYBTEX_FROM_LATEX, TextBackend
from .latex import parse_latex as _parse_latex
from .model import KnowledgeBase
from .stylenames import FIXED_STYLES, PYBTEX_STYLES

__all__ = ["BACKENDS", "CitationPart", "CitedEntry", "cited_bibliography", "format_in_background", "format_reference", "format_references", "formatting_state", "get_style", "HtmlBackend", "in_text", "in_text_parts", "is_author_year", "LatexBackend", "MarkdownBackend", "style_names", "TextBackend"]

#: Output format -> pybtex backend name.
BACKENDS = {"text": "text", "html": "html", "md": "markdown", "markdown": "markdown", "latex": "latex"}


#: kb's own styles (kb/styles) by name.
_OWN_STYLES = {name: cls for group, name, cls in _styles.PLUGINS if group == "pybtex.style.formatting"}


def style_names() -> list[str]:
    """Every formatting style pybtex can find (built-in, kb's own, and registered through entry points)."""
    from importlib.metadata import entry_points

    names = set(FIXED_STYLES)
    names.update(ep.name for ep in entry_points(group="pybtex.style.formatting"))
    return sorted(names)


@lru_cache(maxsize=None)
def get_style(name: str):
    """An instance of the pybtex formatting style ``name``; ConfigError if there is none."""
    try:
        own = _OWN_STYLES.get(name)  # found without pybtex's search of every package's entry points
        if own is not None:
            style = own()
        elif name in PYBTEX_STYLES:
            style = _pybtex_style(name)
        else:
            style = find_plugin("pybtex.style.formatting", name)()
    except Exception:  # pybtex raises PluginNotFound, or an import error from a broken plugin
        raise ConfigError(f"unknown citation style {name!r}",
                          hint=did_you_mean(name, style_names()) or f"available: {', '.join(style_names())}") from None
    _format_names_once(style)
    return style


def _pybtex_style(name: str):
    """pybtex's own style ``name`` (``PYBTEX_STYLES``), its name, label and sorting styles given as classes."""
    from importlib import import_module

    formatting, names, labels, sorting = PYBTEX_STYLES[name]
    part = lambda group, module, cls: getattr(import_module(f"pybtex.style.{group}.{module}"), cls)  # noqa: E731
    return part("formatting", formatting, "Style")(name_style=part("names", names, "NameStyle"),
                                                   label_style=part("labels", labels, "LabelStyle"),
                                                   sorting_style=part("sorting", sorting, "SortingStyle"))


#: Distinct (name, abbreviated) pairs a style keeps formatted.
_NAMES_KEPT = 1 << 14


def _format_names_once(style) -> None:
    """Let a style built on pybtex's name styles format each distinct name once.

    pybtex's ``names`` node asks ``style.format_name(person, abbr)`` for a template per person and
    formats it; pybtex's own name styles (``pybtex.style.names``) build that template from the name
    alone, so its formatted text is kept per name and given back instead (a formatted text stands
    for itself in a template). Other name styles are left alone."""
    name_style = getattr(style, "name_style", None)
    original = getattr(style, "format_name", None)
    if name_style is None or original is None or original != name_style.format:
        return
    if not type(name_style).__module__.startswith("pybtex.style.names."):
        return
    cache: dict = {}

    def format_name(person, abbr=False):
        key = (tuple(person.first_names), tuple(person.middle_names), tuple(person.prelast_names), tuple(person.last_names),
               tuple(person.lineage_names), bool(abbr))
        text = cache.get(key)
        if text is None:
            if len(cache) >= _NAMES_KEPT:
                cache.clear()
            with _fast_latex():
                text = cache[key] = original(person, abbr).format_data(None)
        return text

    style.format_name = format_name


def is_author_year(style: str) -> bool:
    """True for styles cited as (Author, Year) in the text (``in_text = "author-year"`` on the class)."""
    return getattr(get_style(style), "in_text", "numeric") == "author-year"


#: id(bibliography) -> (bibliography, {(key, style, backend): (text, problem)}); the few most recent only.
_CACHE: "OrderedDict[int, tuple[object, dict]]" = OrderedDict()
_CACHE_BIBS = 4


def _cache_for(bibliography) -> dict:
    slot = _CACHE.get(id(bibliography))
    if slot is None or slot[0] is not bibliography:
        slot = _CACHE[id(bibliography)] = (bibliography, {})
        while len(_CACHE) > _CACHE_BIBS:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(id(bibliography))
    return slot[1]


class MarkdownBackend(_PybtexMarkdown):
    """pybtex's Markdown backend with light escaping: only what Markdown (CommonMark and pandoc)
    would read as markup is escaped, so "Smith, B. H. (2017)." stays readable. pandoc-specific
    characters (@ citations, ^ ~ superscript/subscript, $ maths) are escaped too. Italic (``em``,
    ``i``) is ``*x*`` and bold (``b``, ``strong``) ``**x**``, with white space at either end kept
    outside the marks (``* x*`` is no emphasis); superscript and subscript are HTML (``<sup>``);
    typewriter, small capitals and font families are the text alone. kb.cite renders Markdown with
    ``_render_text``, which also drops emphasis inside the same emphasis (``*a *b* c*`` is no
    Markdown)."""

    symbols = MappingProxyType({"ndash": "\u2013", "newblock": " ", "nbsp": " "})
    #: Tag -> its mark; None: the text alone; a tag not named: HTML.
    marks = MappingProxyType({"em": "*", "i": "*", "b": "**", "strong": "**", "tt": None, "sc": None, "rm": None, "sf": None})

    def format_str(self, text):
        from .render import md_escape

        return md_escape(text)

    def format_tag(self, tag_name, text):
        if not text:
            return ""
        if tag_name not in self.marks:
            return f"<{tag_name}>{text}</{tag_name}>"
        mark, core = self.marks[tag_name], text.strip()
        if mark is None or not core:
            return text
        start = text.index(core[0])
        return f"{text[:start]}{mark}{core}{mark}{text[start + len(core):]}"

    def format_href(self, url, text, external=False):
        from .render import safe_url

        url = safe_url(url).replace("(", "%28").replace(")", "%29")
        return f"[{text}]({url})" if url and text else text


class HtmlBackend(_PybtexHtml):
    """pybtex's HTML backend; of kb's tags from LaTeX markup, typewriter (``tt``) is ``<code>``,
    small capitals and font families (``sc``, ``rm``, ``sf``) the text alone (kb.render.sanitize_html
    keeps no styles)."""

    names = MappingProxyType({"tt": "code", "sc": None, "rm": None, "sf": None})

    def format_tag(self, tag, text):
        name = self.names.get(tag, tag)
        return text if name is None else super().format_tag(name, text)


class LatexBackend(_PybtexLatex):
    """pybtex's LaTeX backend, with kb's tags for small capitals and font families."""

    tags = MappingProxyType({**_PybtexLatex.tags, "sc": "textsc", "rm": "textrm", "sf": "textsf"})


#: kb's backends by pybtex name, subclasses of pybtex's own, imported directly: ``find_plugin`` would
#: read the entry points of every installed package to find each (kb/styles/__init__.py), twice for an
#: alias such as ``text``. Any other name is looked for as a pybtex plugin.
_KB_BACKENDS = {"markdown": MarkdownBackend, "html": HtmlBackend, "text": TextBackend, "latex": LatexBackend}


@lru_cache(maxsize=None)
def _backend(name: str):
    backend = _KB_BACKENDS.get(name)
    return backend() if backend is not None else find_plugin("pybtex.backends", name)()


#: Markdown's emphasis marks per tag: the tags ``MarkdownBackend.marks`` gives a mark.
_EMPHASIS = {tag: mark for tag, mark in MarkdownBackend.marks.items() if mark}


def _unnested(part, marks: frozenset = frozenset()):
    """``part`` with emphasis inside the same emphasis dropped (kept as its text): an italic title in
    APA holding ``\\emph{in vivo}``. The same object when there is none."""
    children = getattr(part, "parts", None)
    if not children:
        return part
    mark = _EMPHASIS.get(part.name) if isinstance(part, Tag) else None
    inner = marks | {mark} if mark else marks
    new = [_unnested(child, inner) for child in children]
    if mark in marks:
        return Text(*new)
    if all(a is b for a, b in zip(new, children)):
        return part
    return part._create_similar(new)


def _render_text(text: Text, backend: str) -> str:
    """Rich text in kb's ``backend`` (a pybtex backend name); for Markdown without nested emphasis."""
    renderer = _backend(backend)
    if isinstance(renderer, MarkdownBackend):
        text = _unnested(text)
    return text.render(renderer)


def _from_latex(cls, latex):
    if cls is Text and type(latex) is str:
        return _parse_latex(latex)
    return _PYBTEX_FROM_LATEX.__func__(cls, latex)


_FAST_FROM_LATEX = classmethod(_from_latex)


@contextmanager
def _fast_latex():
    """pybtex's ``Text.from_latex`` memoised while kb formats (restored afterwards; reentrant)."""
    if Text.__dict__.get("from_latex") is _FAST_FROM_LATEX:
        yield
        return
    Text.from_latex = _FAST_FROM_LATEX
    try:
        yield
    finally:
        Text.from_latex = _PYBTEX_FROM_LATEX


def _render(entry, key: str, style: str, backend: str, label: str = "") -> tuple[str, str | None]:
    """(text, None) or ("", problem): the raw result kept in the caches (placeholders are added later)."""
    with _fast_latex():
        try:
            formatted = get_style(style).format_entry(label or key, entry)
        except FieldIsMissing as exc:
            return "", str(exc)
        except ConfigError:
            raise
        except Exception as exc:  # a style bug or odd data must not take the whole page down
            return "", f"cannot format: {exc}"
        text = _render_text(formatted.text, BACKENDS[backend])
        if backend == "html":  # pybtex does not escape URLs: kept sanitized, in memory and on disk, so no page does it again
            from .render import sanitize_html

            text = str(sanitize_html(text))
        return text, None


def _shown(key: str, result: tuple[str, str | None]) -> tuple[str, str | None]:
    text, problem = result
    if problem:
        return f"[{key}: {problem}]", problem
    return text, None


def format_reference(kb: KnowledgeBase, key: str, style: str | None = None, backend: str = "text") -> tuple[str, str | None]:
    """Formatted bibliography text for ``key``. Returns (text, problem); on a problem the text is a
    visible placeholder such as "[geneen2017: missing author in geneen2017]". With ``backend="html"``
    the text is sanitized HTML (kb.render.sanitize_html) and a placeholder is plain text. Shares its
    in-memory cache with ``format_references`` (call that first to format many entries at once)."""
    style = style or kb.config.style
    get_style(style)  # unknown style: ConfigError now, not a placeholder per entry
    entry = kb.bibliography.entries.get(key) if kb.bibliography is not None else None
    if entry is None:
        return f"[{key}: unknown reference]", "unknown reference"
    cache = _cache_for(kb.bibliography)
    if (key, style, backend) not in cache:
        cache[(key, style, backend)] = _render(entry, key, style, backend)
    return _shown(key, cache[(key, style, backend)])


# -- many entries: a disk cache per entry content, and two worker processes -------------------------

#: Bump when what is stored on disk changes meaning (2: HTML results are sanitized).
DISK_FORMAT = 2
#: More entries than this to format (and 2+ cores): use worker processes.
PARALLEL_MIN_ENTRIES = 500
#: Worker processes formatting entries in parallel.
WORKERS = 2
#: The code that decides what a formatted reference looks like, besides the style's and backend's classes.
_OWN_CODE = ("cite.py", "latex.py", "render.py", "styles")


def _plain_dict(mapping) -> dict:
    """pybtex's case-insensitive field and person dicts as a plain dict (lower-case keys: formatting
    looks fields up without case), read directly when it is pybtex's own class (ten times faster)."""
    if type(mapping) is OrderedCaseInsensitiveDict and type(getattr(mapping, "_dict", None)) is dict:
        return mapping._dict
    return {key.lower(): value for key, value in mapping.items()}


def _entry_state(key: str, entry) -> bytes:
    """A digest of everything about ``entry`` that formatting can read: key, type, fields, names."""
    persons = tuple((role, tuple((p.first_names, p.middle_names, p.prelast_names, p.last_names, p.lineage_names) for p in people))
                    for role, people in _plain_dict(entry.persons).items())
    blob = repr((key, entry.type, tuple(_plain_dict(entry.fields).items()), persons)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(blob, digest_size=20).digest()


def _source_files(classes) -> set[str]:
    """The source files the classes are defined in, with their bases; for a class of a style plugin
    (any package but pybtex, whose version counts, and kb), every module of the plugin's package, so
    that a helper module changed by an upgrade counts too."""
    import inspect

    files, packages = set(), set()
    for cls in classes:
        for klass in type.mro(cls):
            if klass.__module__ == "builtins":
                continue
            try:
                files.add(inspect.getsourcefile(klass) or "")
            except TypeError:  # defined in C or interactively: its module's version is what we have
                files.add(f"<{klass.__module__}.{klass.__qualname__}>")
                continue
            top = klass.__module__.partition(".")[0]
            package = getattr(sys.modules.get(top), "__path__", None)
            if top not in ("pybtex", "kb") and package and top not in packages:
                packages.add(top)  # its classes' bases often come from the same package: walk it once
                for folder in package:
                    files.update(str(p) for p in Path(folder).rglob("*.py") if "__pycache__" not in p.parts)
    here = Path(__file__).resolve().parent
    for name in _OWN_CODE:
        path = here / name
        files.update(str(p) for p in sorted(path.glob("*.py"))) if path.is_dir() else files.add(str(path))
    files.discard("")
    return files


@lru_cache(maxsize=None)
def formatting_state(style: str, backend: str) -> bytes:
    """What formatted text for ``style``/``backend`` depends on besides the entry: versions, and the
    source of every module defining the style, its name/label/sorting styles and the backend."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def dist(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    pybtex_style = get_style(style)
    classes = [type(pybtex_style), type(_backend(BACKENDS[backend]))]
    classes += [type(getattr(pybtex_style, part)) for part in ("name_style", "label_style", "sorting_style") if hasattr(pybtex_style, part)]
    digest = hashlib.blake2b(digest_size=32)
    digest.update(repr((DISK_FORMAT, __version__, sys.version, dist("pybtex"), dist("latexcodec"), style, BACKENDS[backend])).encode())
    for path in sorted(_source_files(classes)):
        digest.update(b"\0" + path.encode("utf-8", "surrogatepass") + b"\0")
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.digest()


def _disk_name(style: str, backend: str) -> str:
    name = f"{style}.{BACKENDS[backend]}"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", name):
        name = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return f"references.{name}.pickle"


def _valid(result) -> bool:
    return (type(result) is tuple and len(result) == 2 and type(result[0]) is str
            and (result[1] is None or type(result[1]) is str))


#: Set in the parent just before forking workers, which inherit it: (bibliography, style, backend).
_JOB = None


def _worker_start() -> None:
    import gc

    gc.freeze()  # the inherited heap is never scanned, so it stays shared with the parent


def _worker_format(keys: list[str]) -> list[tuple[str, tuple[str, str | None]]]:
    bibliography, style, backend = _JOB
    return [(key, _render(bibliography.entries[key], key, style, backend)) for key in keys]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _format_many(bibliography, keys: list[str], style: str, backend: str, parallel: bool) -> dict[str, tuple[str, str | None]]:
    """Format ``keys`` (raw results), in WORKERS forked processes when there are many."""
    global _JOB
    import multiprocessing

    done: dict[str, tuple[str, str | None]] = {}
    if parallel and len(keys) > PARALLEL_MIN_ENTRIES and _cores() >= 2 and "fork" in multiprocessing.get_all_start_methods():
        size = max(25, len(keys) // (WORKERS * 8))
        chunks = [keys[i:i + size] for i in range(0, len(keys), size)]
        _JOB = (bibliography, style, backend)
        try:
            with multiprocessing.get_context("fork").Pool(WORKERS, initializer=_worker_start) as pool:
                for part in pool.imap_unordered(_worker_format, chunks):
                    done.update(part)
        except Exception:  # no processes allowed here (a daemon), a worker died...: do the rest in this process
            pass
        finally:
            _JOB = None
    for key in keys:
        if key not in done:
            done[key] = _render(bibliography.entries[key], key, style, backend)
    return done


def format_in_background(kb: KnowledgeBase, style: str | None = None, backend: str = "html") -> "Background":
    """Start formatting every reference of ``kb`` into the disk cache in a forked process, so that it
    runs on the other core while this one goes on (``kb build`` builds the graph and anchors the claims
    meanwhile). Call the returned handle when the references are needed: this process then formats
    the entries the other has not reached yet, from the end of its list while it goes on from the
    start (``_Shared``), and waits for it to store them all; a later ``format_references`` finds
    everything on disk. Does nothing (the handle returns at once) with the disk cache off, one core, a
    few references or no ``fork``: ``format_references`` does all the work then, as before."""
    import multiprocessing

    from .cache import cache_enabled, load_now

    style = style or kb.config.style
    get_style(style)
    if (not cache_enabled() or _cores() < 2 or len(kb.references) <= PARALLEL_MIN_ENTRIES
            or "fork" not in multiprocessing.get_all_start_methods()):
        return Background(None)
    load_now(kb.references)  # a lazily loaded knowledge base (kb/cache.py) loads here, once: not again, whole, in the child
    keys = list(kb.references)
    try:
        context = multiprocessing.get_context("fork")
        shared = _Shared(context, len(keys))
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(target=_format_to_disk, args=(kb, keys, style, backend, shared, ours, theirs), daemon=True)
        process.start()
        ours.close()
    except Exception:  # no processes allowed here: the work is done later, in this process
        return Background(None)
    return Background(process, kb, keys, style, backend, shared, theirs)


class _Shared:
    """The entries two processes format between them: ``found`` (-1 until the forked process knows
    which of the keys are not on disk), then the indexes of those in ``todo``, which it takes from the
    front (``front``) and the other from the back (``back``), one at a time, under one lock."""

    def __init__(self, context, size: int) -> None:
        self.lock = context.Lock()
        self.state = context.RawArray("q", 3)  # found, front, back
        self.state[0] = -1
        self.todo = context.RawArray("q", max(1, size))

    def publish(self, indexes: list[int]) -> None:
        with self.lock:
            self.todo[:len(indexes)] = indexes
            self.state[1], self.state[2], self.state[0] = 0, len(indexes), len(indexes)

    def take(self, from_front: bool) -> int | None:
        """The next index to format, from the front or the back; None when none is left (or the lock
        could not be had: a process killed holding it)."""
        if not self.lock.acquire(timeout=10):
            return None
        try:
            state = self.state
            if state[0] < 0 or state[1] >= state[2]:
                return None
            if from_front:
                state[1] += 1
                return self.todo[state[1] - 1]
            state[2] -= 1
            return self.todo[state[2]]
        finally:
            self.lock.release()

    def format_share(self, kb: KnowledgeBase, keys: list[str], style: str, backend: str, *,
                     from_front: bool) -> dict[str, tuple[str, str | None]]:
        """Format entries of ``keys`` (taken with ``take``) until none is left: key -> raw result (``_render``)."""
        entries, done = kb.bibliography.entries, {}
        while (index := self.take(from_front)) is not None:
            key = keys[index]
            done[key] = _render(entries[key], key, style, backend)
        return done


class Background:
    """The process ``format_in_background`` started (or None): call it to help it and wait for it,
    ``stop()`` to end it."""

    def __init__(self, process, kb: KnowledgeBase | None = None, keys: list[str] | None = None, style: str = "",
                 backend: str = "", shared: _Shared | None = None, conn=None) -> None:
        self.process, self.kb, self.keys, self.style, self.backend = process, kb, keys, style, backend
        self.shared, self.conn = shared, conn

    def __call__(self) -> None:
        if self.process is None:
            return
        done = self.shared.format_share(self.kb, self.keys, self.style, self.backend, from_front=False)
        memory = _cache_for(self.kb.bibliography)
        for key, result in done.items():
            memory[(key, self.style, self.backend)] = result
        try:
            self.conn.send(done)  # the other process stores them with its own
        except (OSError, ValueError):
            pass  # it ended: what it did not store is formatted again later
        self._end(kill=False)

    def stop(self) -> None:
        self._end(kill=True)

    def _end(self, kill: bool) -> None:
        if self.process is not None:
            if kill:
                self.process.kill()
            self.process.join()  # its exit status does not matter: whatever it did not store is formatted later
            self.process = None
            self.conn.close()


def _format_to_disk(kb: KnowledgeBase, keys: list[str], style: str, backend: str, shared: _Shared, ours, theirs) -> None:
    """In the forked process: format the keys not on disk with the parent (``_Shared``), add what the
    parent formatted (sent through ``theirs`` once it is done; nothing if it ends first) and store them all."""
    theirs.close()
    stored, _, misses = _on_disk(kb, keys, style, backend)
    position = {key: n for n, key in enumerate(keys)}
    shared.publish([position[key] for key in misses])
    fresh = shared.format_share(kb, keys, style, backend, from_front=True)
    try:
        fresh.update(ours.recv())
    except (EOFError, OSError):
        pass  # the parent ended or never helped: store what this process formatted
    _store(kb, style, backend, stored, {misses[key]: result for key, result in fresh.items() if key in misses})


def format_references(kb: KnowledgeBase, keys, style: str | None = None, backend: str = "text", *,
                      parallel: bool = True) -> dict[str, tuple[str, str | None]]:
    """``{key: (text, problem)}`` for every key in ``keys`` (in that order), as ``format_reference``
    gives them one by one, only faster for many: results are cached in memory (shared with
    ``format_reference``) and on disk in ``<kb.root>/.kb-cache`` per entry content, style and
    backend (``KB_CACHE=0`` turns the disk part off), and more than PARALLEL_MIN_ENTRIES entries
    that are not cached are formatted by WORKERS forked processes when there are 2+ cores."""
    style = style or kb.config.style
    get_style(style)
    BACKENDS[backend]  # an unknown backend: KeyError now, as format_reference would raise
    bibliography = kb.bibliography
    keys = list(dict.fromkeys(keys))
    memory = _cache_for(bibliography) if bibliography is not None else {}
    todo = [key for key in keys if bibliography is not None and key in bibliography.entries and (key, style, backend) not in memory]
    if todo:
        stored, found, misses = _on_disk(kb, todo, style, backend)
        for key, digest in found.items():
            memory[(key, style, backend)] = stored[digest]
        if misses:
            fresh = _format_many(bibliography, list(misses), style, backend, parallel)
            for key in misses:
                memory[(key, style, backend)] = fresh[key]
            _store(kb, style, backend, stored, {digest: fresh[key] for key, digest in misses.items()})
    out = {}
    for key in keys:
        result = memory.get((key, style, backend))
        out[key] = _shown(key, result) if result is not None else (f"[{key}: unknown reference]", "unknown reference")
    return out


def _has_disk_cache(kb: KnowledgeBase) -> bool:
    """Are formatted entries kept on disk for ``kb``: the cache on, and a folder of its own (never one
    made for a knowledge base that has none)?"""
    from .cache import cache_enabled

    return bool(kb.root) and os.path.isdir(kb.root) and cache_enabled()


def _on_disk(kb: KnowledgeBase, keys: list[str], style: str, backend: str) -> tuple[dict, dict[str, bytes], dict[str, bytes]]:
    """What the disk cache holds for ``style``/``backend`` (entry digest -> result), and which of ``keys``
    it holds and does not hold (key -> its entry's digest, in the order of ``keys``). Without a disk
    cache (``KB_CACHE=0``, a knowledge base that has no folder): nothing held."""
    from .cache import load_value

    if not _has_disk_cache(kb):
        return {}, {}, dict.fromkeys(keys, b"")
    entries = kb.bibliography.entries
    digests = {key: _entry_state(key, entries[key]) for key in keys}
    stored = load_value(kb.root, _disk_name(style, backend), formatting_state(style, backend))
    stored = stored if type(stored) is dict else {}
    found, misses = {}, {}
    for key, digest in digests.items():
        (found if _valid(stored.get(digest)) else misses)[key] = digest
    return stored, found, misses


def _store(kb: KnowledgeBase, style: str, backend: str, stored: dict, new: dict[bytes, tuple[str, str | None]]) -> None:
    """Keep the ``new`` results (entry digest -> result) on disk with what was ``stored`` (``_on_disk``),
    the entries edited or removed long ago dropped first; nothing without a disk cache."""
    from .cache import store_value

    if not new or not _has_disk_cache(kb):
        return
    kept = {digest: result for digest, result in stored.items() if digest not in new}
    kept.update(new)
    limit = max(1000, 2 * len(kb.bibliography.entries))
    if len(kept) > limit:
        kept = dict(list(kept.items())[len(kept) - limit:])
    store_value(kb.root, _disk_name(style, backend), formatting_state(style, backend), kept)


@dataclass(frozen=True)
class CitedEntry:
    """One bibliography entry of a document: its key, label ("1", "GMC+17", "Geneen et al., 2017"),
    formatted text, and the problem if it could not be formatted."""

    key: str
    label: str
    text: str
    problem: str | None = None


def cited_bibliography(kb: KnowledgeBase, keys_in_order, style: str | None = None, backend: str = "text") -> list[CitedEntry]:
    """The bibliography of a document citing ``keys_in_order`` (first use first), sorted and labelled
    as the style does it. Unknown keys are kept at the end with a placeholder."""
    style = style or kb.config.style
    pybtex_style = get_style(style)
    keys = list(dict.fromkeys(keys_in_order))
    known = [k for k in keys if kb.bibliography is not None and k in kb.bibliography.entries]
    entries = [kb.bibliography.entries[k] for k in known]
    sorted_entries = list(pybtex_style.sort(entries))
    labels = list(pybtex_style.format_labels(sorted_entries))
    out = []
    for label, entry in zip(labels, sorted_entries):
        text, problem = format_reference(kb, entry.key, style, backend)
        out.append(CitedEntry(entry.key, label, text, problem))
    for k in keys:
        if k not in known:
            out.append(CitedEntry(k, "?", f"[{k}: unknown reference]", "unknown reference"))
    return out


class CitationPart(NamedTuple):
    """One piece of an in-text citation (``in_text_parts``): ``text`` as shown, ``kind`` ("open",
    "label", "separator", "range", "close"), and for a label the ``label`` of ``in_text``'s list it
    stands for (the source it names), None for the rest."""

    text: str
    kind: str
    label: str | None = None


def _numbered_parts(labels: list[str]) -> list[CitationPart]:
    """["1", "2", "3", "5"] -> 1, "–", 3, ", ", 5: runs of three or more become ranges, as in
    Vancouver, their first and last number labels and the numbers between them hidden."""
    label_of: dict[int, str] = {}
    for label in labels:
        label_of.setdefault(int(label), label)
    numbers = sorted(label_of)
    parts: list[CitationPart] = []
    start = 0
    while start < len(numbers):
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        is_range = end - start >= 2
        for number in [numbers[start], numbers[end]] if is_range else numbers[start:end + 1]:
            if is_range and number == numbers[end]:
                parts.append(CitationPart("\u2013", "range"))
            elif parts:
                parts.append(CitationPart(", ", "separator"))
            parts.append(CitationPart(str(number), "label", label_of[number]))
        start = end + 1
    return parts


def in_text_parts(labels: list[str], style: str) -> tuple[CitationPart, ...]:
    """The in-text citation for a group of labels as its parts: brackets, separators, the dash of a
    range, and one part per label shown (``CitationPart``). ``in_text`` is their text joined, so a
    document that links each label to its source shows the same citation. Empty for no labels."""
    if not labels:
        return ()
    if is_author_year(style):
        shown, open_, separator, close = sorted(dict.fromkeys(labels)), "(", "; ", ")"
    elif all(l.isdigit() for l in labels):
        return (CitationPart("[", "open"), *_numbered_parts(labels), CitationPart("]", "close"))
    else:
        shown, open_, separator, close = list(dict.fromkeys(labels)), "[", ", ", "]"
    parts = [CitationPart(open_, "open")]
    for n, label in enumerate(shown):
        if n:
            parts.append(CitationPart(separator, "separator"))
        parts.append(CitationPart(label, "label", label))
    parts.append(CitationPart(close, "close"))
    return tuple(parts)


def in_text(labels: list[str], style: str) -> str:
    """The in-text citation for a group of labels: "[1, 2]", "[1–3]", "[GMC+17]" or "(Geneen et al., 2017; Lim et al., 2024)"."""
    return "".join(part.text for part in in_text_parts(labels, style))
