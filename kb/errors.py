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

import bisect
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
    "CODES",
    "NotUtf8",
    "bom_warning",
    "decode_utf8",
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


def bom_warning(rel: str) -> Diagnostic:
    """The warning for a file (claim, kb.yaml, article, BibTeX) that starts with a UTF-8 byte order mark, which is ignored."""
    return Diagnostic(Severity.WARNING, "bom", "file starts with a byte order mark; it was ignored", Location(rel, 1, 1),
                      "save the file as UTF-8 without BOM")


class NotUtf8(ValueError):
    """Bytes that are not UTF-8, at the ``line`` and ``column`` (counted in characters, from 1) of the first bad ``byte``."""

    def __init__(self, byte: int, line: int, column: int):
        self.byte, self.line, self.column = byte, line, column
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"invalid UTF-8 byte 0x{self.byte:02x}"

    def diagnostic(self, rel: str) -> Diagnostic:
        """kb check's error for the file ``rel``: ``rel:LINE:COL: error: invalid UTF-8 byte 0xfc; save the file as UTF-8 [encoding]``."""
        return Diagnostic(Severity.ERROR, "encoding", self.message, Location(rel, self.line, self.column), "save the file as UTF-8")


def decode_utf8(raw: bytes) -> tuple[str, bool]:
    """A file's bytes as text, and whether they started with a UTF-8 byte order mark (dropped, and not counted in
    the column). Bytes that are not UTF-8 raise NotUtf8 with the place of the first bad one: the one reader of that
    place for kb check's files (claims, articles, BibTeX, kb.yaml) and for those a command is given (kb import,
    kb extract, kb retractions)."""
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), bom
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start:exc.start].decode("utf-8")) + 1  # what comes before the first bad byte is UTF-8
        raise NotUtf8(raw[exc.start], raw.count(b"\n", 0, exc.start) + 1, column) from None


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


    def as_dict(self) -> dict:
        """The same shape as Diagnostic.as_dict, for `--format json` output."""
        loc = self.location or Location("")
        return {"path": loc.path, "line": loc.line, "column": loc.column, "severity": "error", "code": self.code,
                "message": self.message, "hint": self.hint}


class LoadError(KbError):
    code = "load-error"


class ConfigError(KbError):
    code = "config-error"


class RenderError(KbError):
    code = "render-error"


class ExportError(KbError):
    code = "export-error"


#: Every diagnostic code, with a one-line meaning. docs/errors.md describes each one in full; a test
#: checks that every code used in kb/ is listed here and documented there. ``kb check --ignore``
#: accepts these codes; not the KbError codes (``code`` of the classes above), which stop a command.
CODES: dict[str, str] = {
    # reading files
    "unreadable": "a file cannot be read (permissions, a symlink loop, not a regular file)",
    "file-too-large": "a file is over the size limit",
    "encoding": "a file is not valid UTF-8",
    "bom": "a file starts with a byte order mark (ignored)",
    "empty-file": "a claim file holds no data",
    "symlink-skipped": "a symbolic link to a folder under claims/ is not followed",
    "file-name": "a file or folder name that is not valid UTF-8 is skipped",
    # YAML
    "yaml-syntax": "a YAML file cannot be parsed",
    "yaml-tag": "a YAML tag such as !!python/object is refused",
    "yaml-too-complex": "a YAML file nests too deeply or expands too much through aliases",
    "duplicate-key": "a YAML mapping has the same key twice",
    # schema (schema/*.schema.json)
    "unknown-field": "a field the format does not define",
    "missing-field": "a required field is missing",
    "wrong-type": "a field has the wrong type",
    "bad-value": "a field's value is not allowed",
    "bad-id": "a claim id is not lower-case letters, digits and hyphens (it is also a file name)",
    "id-mismatch": "a claim's id differs from its file name",
    "duplicate-id": "two claim files have the same id",
    "unknown-style": "kb.yaml names a citation style that is not installed",
    # articles
    "article-front-matter": "an article's front matter is not closed, or not opened",
    "duplicate-section": "two headings of an article have the same id",
    # BibTeX
    "bib-syntax": "a BibTeX file cannot be parsed here",
    "bib-braces": "unbalanced braces in a BibTeX entry",
    "bib-duplicate-key": "two BibTeX entries have the same key",
    "bib-duplicate-field": "a BibTeX entry has the same field twice",
    "bib-name": "an author or editor name cannot be split",
    "bib-missing-field": "a BibTeX entry has no author, title or year",
    "bib-latex": "LaTeX in a BibTeX field does not convert to text",
    "bad-doi": "a DOI is malformed",
    "bad-pmid": "a PMID is malformed",
    "bad-pmcid": "a PMCID is malformed",
    # cross-file checks (validate.py)
    "unknown-ref": "evidence names a BibTeX key that does not exist",
    "unused-ref": "a reference no claim cites",
    "missing-doi": "a cited reference has no DOI",
    "unknown-claim": "derived_from names a claim that does not exist",
    "self-derived": "a claim lists itself in derived_from",
    "derived-cycle": "derived_from links form a cycle",
    "derived-too-deep": "a chain of derived_from links is longer than kb follows",
    "unknown-article": "a claim names an article that does not exist",
    "unknown-section": "a claim names a section its article does not have",
    "text-not-in-article": "a claim's Dutch text does not occur in its article",
    "wrong-section": "a claim's text is in its article, but in another section",
    "no-evidence": "a claim has no evidence and is not marked uncited",
    "verdict-mismatch": "a claim marked uncited has evidence the article cites",
    "duplicate-evidence": "a claim links the same reference twice",
    "summary-without-sources": "a summary claim lists no claims it summarises",
    # import, extraction, retractions
    "import-skipped": "an imported record could not be read and was skipped",
    "unresolved-citation": "a citation marker in an article matches no reference",
    "ambiguous-citation": "a citation marker in an article matches more than one reference",
    "retraction-nature": "a Retraction Watch record of an unknown kind was skipped",
}


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """Return a hint such as "did you mean 'geneen2017'?" when a close match exists."""
    value = str(value)
    names = _sorted_names(choices)
    if len(names) > 2000:  # a big knowledge base: difflib over every name would take seconds per call
        at = bisect.bisect_left(names, value)
        names = names[max(0, at - 40):at + 40]  # the names that sort next to it share its beginning
    matches = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None


_last_names: list = [None, 0, []]  # the last collection asked about, its size and its sorted names


def _sorted_names(choices: Iterable[str]) -> list[str]:
    """Sorted distinct names; the same collection asked about again (validate's many calls) is sorted once."""
    sized = hasattr(choices, "__len__")
    if sized and _last_names[0] is choices and _last_names[1] == len(choices):
        return _last_names[2]
    names = sorted(set(map(str, choices)))
    if sized:
        _last_names[:] = [choices, len(choices), names]
    return names
