"""Errors and diagnostics: the two channels through which ``kb`` reports problems.

A :class:`KbError` means "cannot continue" (an unreadable root, a bad template, a bad option);
a :class:`Diagnostic` means "this content is wrong; keep going and report everything".
Only the CLI turns either into output and an exit code.

Exception tree::

    KbError                 a user-facing problem; carries a Location and a hint
    ├── LoadError           the knowledge base cannot be read at all
    ├── ConfigError         kb.yaml or a command-line option is wrong
    ├── RenderError         a template is broken (template name and line)
    └── ExportError         an output cannot be written

Every diagnostic ``code`` is stable and documented in docs/errors.md.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from typing import Iterable

__all__ = [
    "ConfigError",
    "Diagnostic",
    "ExportError",
    "KbError",
    "LoadError",
    "Location",
    "RenderError",
    "Severity",
    "did_you_mean",
]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file: path relative to the knowledge-base root, 1-based line and column (0 = unknown)."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.path}:{self.line}:{self.column}"
        if self.line:
            return f"{self.path}:{self.line}"
        return self.path


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in the content, printed compiler-style:

    ``claims/c42.yaml:7:5: error: unknown reference 'smith2001'; did you mean 'smith2010'? [unknown-ref]``
    """

    severity: Severity
    code: str
    message: str
    location: Location
    hint: str | None = None

    def __str__(self) -> str:
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return f"{self.location}: {self.severity}: {text} [{self.code}]"

    @property
    def sort_key(self) -> tuple:
        return (self.location.path, self.location.line, self.location.column, self.code, self.message)

    def as_dict(self) -> dict:
        return {
            "path": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class KbError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""

    code = "kb-error"

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return f"{self.location}: error: {text}" if self.location else f"error: {text}"


class LoadError(KbError):
    code = "load-error"


class ConfigError(KbError):
    code = "config-error"


class RenderError(KbError):
    code = "render-error"


class ExportError(KbError):
    code = "export-error"


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """Return a hint such as "did you mean 'geneen2017'?" when a close match exists."""
    matches = difflib.get_close_matches(str(value), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None
