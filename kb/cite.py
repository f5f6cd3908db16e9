"""Citation text from pybtex formatting styles, one entry at a time, cached per (key, style, backend).

Styles are pybtex plugins (group ``pybtex.style.formatting``): pybtex's own ``plain``, ``unsrt``,
``alpha`` and the ones kb registers in pyproject.toml, or any other installed plugin.
Formatting one entry at a time means a missing field spoils only that entry: it is reported and
shown with a visible placeholder, where pybtex's ``format_bibliography`` would stop.
"""

from __future__ import annotations

from functools import lru_cache

from pybtex.plugin import find_plugin
from pybtex.style.template import FieldIsMissing

from .errors import ConfigError, did_you_mean
from .model import KnowledgeBase

__all__ = ["BACKENDS", "format_reference", "get_style", "style_names"]

#: Output format -> pybtex backend name.
BACKENDS = {"text": "text", "html": "html", "md": "markdown", "markdown": "markdown", "latex": "latex"}


def style_names() -> list[str]:
    """Every formatting style pybtex can find (built-in and registered through entry points)."""
    from importlib.metadata import entry_points

    names = {"plain", "unsrt", "alpha", "unsrtalpha"}
    names.update(ep.name for ep in entry_points(group="pybtex.style.formatting"))
    return sorted(names)


@lru_cache(maxsize=None)
def get_style(name: str):
    """An instance of the pybtex formatting style ``name``; ConfigError if there is none."""
    try:
        return find_plugin("pybtex.style.formatting", name)()
    except Exception:  # pybtex raises PluginNotFound, or an import error from a broken plugin
        raise ConfigError(f"unknown citation style {name!r}", hint=did_you_mean(name, style_names()) or f"available: {', '.join(style_names())}") from None


@lru_cache(maxsize=200_000)
def _format(bibliography_id: int, entry, key: str, style: str, backend: str) -> tuple[str, str | None]:
    try:
        formatted = get_style(style).format_entry(key, entry)
    except FieldIsMissing as exc:
        return "", str(exc)
    except Exception as exc:  # a style bug or odd data must not take the whole page down
        return "", f"cannot format: {exc}"
    return formatted.text.render(find_plugin("pybtex.backends", BACKENDS[backend])()), None


def format_reference(kb: KnowledgeBase, key: str, style: str | None = None, backend: str = "text") -> tuple[str, str | None]:
    """Formatted bibliography text for ``key``. Returns (text, problem); on a problem the text is a
    visible placeholder such as "[geneen2017: missing author in geneen2017]"."""
    style = style or kb.config.style
    entry = kb.bibliography.entries.get(key) if kb.bibliography is not None else None
    if entry is None:
        return f"[{key}: unknown reference]", "unknown reference"
    text, problem = _format(id(kb.bibliography), entry, key, style, backend)
    if problem:
        return f"[{key}: {problem}]", problem
    return text, None
