"""Stage 4, render: Jinja2 templates -> text (HTML, Markdown, ...).

Template search path, first hit wins (the mkdocs ``Theme.dirs`` pattern):

1. ``--templates DIR`` given on the command line,
2. ``<kb root>/templates/`` of the knowledge base,
3. the built-in templates shipped with kb.

A user overrides a built-in template by putting a file of the same name in (1) or (2); to change
one block, extend the built-in base template (``{% extends "base.html.j2" %}``) and override
only that block. Templates receive plain data (dicts, dataclasses) and never call networkx or
pybtex. Autoescaping is on for every ``.html``/``.html.j2``/``.svg.j2`` template. Templates are loaded
only from these folders: the loader refuses paths that climb out of them (``..``), and symlinks
that leave the folder are refused too, so a template override cannot read other files.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from .errors import RenderError
from .resources import resource_dir

__all__ = ["UI_LANGUAGES", "make_env", "render_template", "template_dirs", "ui_words"]

UI_LANGUAGES = ("nl", "en")


def template_dirs(kb_root: str | os.PathLike | None = None, extra: str | os.PathLike | None = None) -> list[Path]:
    """The template search path, first hit wins."""
    dirs = []
    if extra:
        dirs.append(Path(extra))
    if kb_root is not None and (Path(kb_root) / "templates").is_dir():
        dirs.append(Path(kb_root) / "templates")
    dirs.append(resource_dir("templates"))
    return dirs


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that also refuses symlinks pointing outside its folders."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        real = os.path.realpath(filename)
        if not any(real.startswith(os.path.realpath(d) + os.sep) for d in self.searchpath):
            raise jinja2.TemplateNotFound(template)
        return source, filename, uptodate


def make_env(dirs: list[Path]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_ConfinedLoader([str(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(["html", "html.j2", "svg", "svg.j2", "xml.j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    return env


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render template ``name``; any template problem becomes a RenderError with file and line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name!r} not found", hint="search path: " + ", ".join(env.loader.searchpath)) from None
    except jinja2.TemplateSyntaxError as exc:
        from .errors import Location

        raise RenderError(f"template syntax error: {exc.message}", location=Location(exc.filename or exc.name or name, exc.lineno or 0)) from None
    except jinja2.UndefinedError as exc:
        import traceback

        from .errors import Location

        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
        where = Location(frames[-1].filename, frames[-1].lineno or 0) if frames else None
        raise RenderError(f"template error: {exc.message}", location=where) from None


@cache
def ui_words(lang: str) -> dict[str, str]:
    """Interface words for ``lang`` from data/i18n/<lang>.yaml (falls back to English per word)."""
    from .yamlsafe import parse_yaml

    def read(code: str) -> dict[str, str]:
        path = resource_dir("data") / "i18n" / f"{code}.yaml"
        if not path.exists():
            return {}
        return parse_yaml(path.read_text(encoding="utf-8"))[0] or {}

    words = read("en")
    if lang != "en":
        words = {**words, **read(lang)}
    return words
