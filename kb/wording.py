"""The audit's word lists: strong phrases per language, and the certainties at which they are flagged.

``data/wording.yaml`` holds the built-in lists; ``<kb>/wording.yaml`` adds phrases and may set
``flag_when`` (docs/audit.md). The audit (kb/audit.py) and the handouts use ``load_wording``;
``kb check`` reads the knowledge base's own file with ``check_wording`` so that a broken one is
found by the check, not first by ``kb build``. Light on purpose: no graph, no templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ConfigError, Diagnostic, Location, Severity
from .model import CERTAINTIES, LOW_CERTAINTIES
from .resources import resource_dir

__all__ = ["WORDING_FILE", "Wording", "check_wording", "load_wording"]

#: The knowledge base's own word lists, next to kb.yaml.
WORDING_FILE = "wording.yaml"
#: The languages whose claim texts the audit reads (text.nl, text.en).
_LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class Wording:
    """Strong phrases per language and the certainties at which they are flagged."""

    phrases: dict[str, tuple[str, ...]]
    flag_when: frozenset[str]


def _read_wording(path: Path, rel: str) -> dict:
    """The file's mapping, checked; ConfigError at the line of the first problem."""
    from .yamlsafe import YamlProblem, decode, parse_yaml

    try:
        data, positions = parse_yaml(decode(path.read_bytes())[0])
    except OSError as exc:
        raise ConfigError(f"cannot read {rel}: {exc.strerror or exc}") from None
    except YamlProblem as p:
        raise ConfigError(p.message, location=Location(rel, p.line, p.column), hint=p.hint) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the wording file must be a mapping of language -> list of phrases", location=Location(rel, 1, 1))
    for key, value in data.items():
        line = positions.get((key,), (0, 0))[0]
        if key == "flag_when":
            bad = [v for v in value or () if v not in (*CERTAINTIES, "none")] if isinstance(value, list) else [value]
            if bad:
                raise ConfigError(f"flag_when: unknown certainty {bad[0]!r}", location=Location(rel, line),
                                  hint=f"expected some of: {', '.join((*CERTAINTIES, 'none'))}")
        elif key not in _LANGUAGES:
            raise ConfigError(f"unknown key {key!r}", location=Location(rel, line),
                              hint=f"expected {', '.join(_LANGUAGES)} (the languages of a claim's text) or flag_when")
        elif not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of phrases", location=Location(rel, line))
        else:
            for index, phrase in enumerate(value):
                if not isinstance(phrase, str) or not phrase.strip():
                    where = positions.get((key, index), (line, 0))[0]
                    found = "an empty phrase" if isinstance(phrase, str) else f"{type(phrase).__name__} {phrase!r}"
                    raise ConfigError(f"{key}: expected a phrase, found {found}", location=Location(rel, where),
                                      hint="write each phrase as text on a line of its own starting with '- '")
    return data


@cache
def _builtin_wording() -> dict:
    return _read_wording(resource_dir("data") / "wording.yaml", "data/wording.yaml")


def _own_file(kb_root: str | Path) -> Path | None:
    """``<kb root>/wording.yaml`` when there is anything by that name (a broken link or a folder too: reading it says what is wrong)."""
    own = Path(kb_root) / WORDING_FILE
    return own if own.exists() or own.is_symlink() else None


def load_wording(kb_root: str | None = None) -> Wording:
    """The built-in word lists (data/wording.yaml), extended by ``<kb root>/wording.yaml`` if present."""
    merged: dict[str, list[str]] = {}
    flag_when = None
    sources = [_builtin_wording()]
    own = _own_file(kb_root) if kb_root is not None else None
    if own is not None:
        sources.append(_read_wording(own, WORDING_FILE))
    for data in sources:
        for key, value in data.items():
            if key == "flag_when":
                flag_when = value
            else:
                merged.setdefault(key, []).extend(v for v in value if v not in merged.get(key, []))
    return Wording(phrases={k: tuple(v) for k, v in merged.items()},
                   flag_when=frozenset(flag_when if flag_when is not None else (*LOW_CERTAINTIES, "not-graded", "none")))


def check_wording(kb_root: str | Path) -> list[Diagnostic]:
    """The problem of ``<kb root>/wording.yaml``, if it has one, as a diagnostic for ``kb check``
    (code ``config-error``, as the audit reports it); nothing when there is no such file."""
    own = _own_file(kb_root)
    if own is None:
        return []
    try:
        _read_wording(own, WORDING_FILE)
    except ConfigError as exc:
        return [Diagnostic(Severity.ERROR, exc.code, exc.message, exc.location or Location(WORDING_FILE), exc.hint)]
    return []
