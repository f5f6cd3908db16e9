"""Citation text from pybtex formatting styles, one entry at a time, cached per (key, style, backend).

Styles are pybtex plugins (group ``pybtex.style.formatting``): pybtex's own ``plain``, ``unsrt``,
``alpha`` and kb's ``vancouver`` and ``apa`` (kb/styles, registered through entry points and at
import), or any other installed plugin. Formatting one entry at a time means a missing field spoils
only that entry: it is reported and shown with a visible placeholder, where pybtex's
``format_bibliography`` would stop.

``cited_bibliography`` does what a document needs: given the keys in order of first citation it
returns the entries sorted and labelled the way the style wants (unsrt/vancouver: first use, 1, 2, 3;
plain: by author, numbered; alpha: [GMC+17]; apa: by author, labelled "Geneen et al., 2017"), and
``in_text`` turns a group of keys into the in-text citation ("[1, 2]", "[1-3]" or
"(Geneen et al., 2017; Lim et al., 2024)").
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from pybtex.backends.markdown import Backend as _PybtexMarkdown

from pybtex.plugin import find_plugin
from pybtex.style.template import FieldIsMissing

from . import styles as _styles  # noqa: F401  (registers vancouver and apa with pybtex)
from .errors import ConfigError, did_you_mean
from .model import KnowledgeBase

__all__ = ["BACKENDS", "CitedEntry", "cited_bibliography", "format_reference", "get_style", "in_text", "is_author_year", "MarkdownBackend", "style_names"]

#: Output format -> pybtex backend name.
BACKENDS = {"text": "text", "html": "html", "md": "markdown", "markdown": "markdown", "latex": "latex"}


def style_names() -> list[str]:
    """Every formatting style pybtex can find (built-in, kb's own, and registered through entry points)."""
    from importlib.metadata import entry_points

    names = {"plain", "unsrt", "alpha", "unsrtalpha"}
    names.update(name for group, name, _ in _styles.PLUGINS if group == "pybtex.style.formatting")
    names.update(ep.name for ep in entry_points(group="pybtex.style.formatting"))
    return sorted(names)


@lru_cache(maxsize=None)
def get_style(name: str):
    """An instance of the pybtex formatting style ``name``; ConfigError if there is none."""
    try:
        return find_plugin("pybtex.style.formatting", name)()
    except Exception:  # pybtex raises PluginNotFound, or an import error from a broken plugin
        raise ConfigError(f"unknown citation style {name!r}",
                          hint=did_you_mean(name, style_names()) or f"available: {', '.join(style_names())}") from None


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
    characters (@ citations, ^ ~ superscript/subscript, $ maths) are escaped too."""

    symbols = MappingProxyType({"ndash": "\u2013", "newblock": " ", "nbsp": " "})

    def format_str(self, text):
        from .render import md_escape

        return md_escape(text)

    def format_href(self, url, text, external=False):
        from .render import safe_url

        url = safe_url(url).replace("(", "%28").replace(")", "%29")
        return f"[{text}]({url})" if url and text else text


@lru_cache(maxsize=None)
def _backend(name: str):
    if name == "markdown":
        return MarkdownBackend()
    return find_plugin("pybtex.backends", name)()


def _render(entry, key: str, style: str, backend: str, label: str = "") -> tuple[str, str | None]:
    try:
        formatted = get_style(style).format_entry(label or key, entry)
    except FieldIsMissing as exc:
        return "", str(exc)
    except ConfigError:
        raise
    except Exception as exc:  # a style bug or odd data must not take the whole page down
        return "", f"cannot format: {exc}"
    return formatted.text.render(_backend(BACKENDS[backend])), None


def format_reference(kb: KnowledgeBase, key: str, style: str | None = None, backend: str = "text") -> tuple[str, str | None]:
    """Formatted bibliography text for ``key``. Returns (text, problem); on a problem the text is a
    visible placeholder such as "[geneen2017: missing author in geneen2017]"."""
    style = style or kb.config.style
    get_style(style)  # unknown style: ConfigError now, not a placeholder per entry
    entry = kb.bibliography.entries.get(key) if kb.bibliography is not None else None
    if entry is None:
        return f"[{key}: unknown reference]", "unknown reference"
    cache = _cache_for(kb.bibliography)
    if (key, style, backend) not in cache:
        cache[(key, style, backend)] = _render(entry, key, style, backend)
    text, problem = cache[(key, style, backend)]
    if problem:
        return f"[{key}: {problem}]", problem
    return text, None


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


def _compress_numbers(labels: list[str]) -> str:
    """["1", "2", "3", "5"] -> "1-3, 5" (runs of three or more become ranges, as in Vancouver)."""
    numbers = sorted({int(l) for l in labels})
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 < len(numbers) and numbers[i + 1] == n + 1:
            continue
        if n - start >= 2:
            parts.append(f"{start}\u2013{n}")
        else:
            parts.extend(str(x) for x in range(start, n + 1))
        start = None
    return ", ".join(parts)


def in_text(labels: list[str], style: str) -> str:
    """The in-text citation for a group of labels: "[1, 2]", "[1–3]", "[GMC+17]" or "(Geneen et al., 2017; Lim et al., 2024)"."""
    if not labels:
        return ""
    if is_author_year(style):
        return "(" + "; ".join(sorted(dict.fromkeys(labels))) + ")"
    if all(l.isdigit() for l in labels):
        return f"[{_compress_numbers(labels)}]"
    return "[" + ", ".join(dict.fromkeys(labels)) + "]"
