"""BibTeX in, Reference records out: a thin, visible wrapper around pybtex.

Each file is parsed inside ``pybtex.errors.capture()`` so every problem is collected, not only
the first; pybtex's messages carry no file name, so we add it (and the line of the entry).
LaTeX in fields becomes Unicode; our own fields (studytype, verified, pmid...) are interpreted here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pybtex.errors
from pybtex.database import BibliographyData, BibliographyDataError, Person
from pybtex.database.input.bibtex import Parser
from pybtex.richtext import Text
from pybtex.scanner import PybtexError, PybtexSyntaxError

from .errors import Diagnostic, Location, Severity, did_you_mean
from .model import Author, Reference

__all__ = ["RETRACTION_KINDS", "STUDY_TYPES", "latex_to_text", "normalize_doi", "parse_bib_file", "parse_bib_text", "DOI_RE"]

#: The study types a reference's ``studytype`` field may name, strongest design first.
STUDY_TYPES = (
    "cochrane-overview",
    "systematic-review-meta-analysis",
    "systematic-review",
    "guideline",
    "position-statement",
    "randomised-trial",
    "cohort-study",
    "cross-sectional",
    "narrative-review",
    "other",
)
#: Values of the ``retraction`` field, as kb retractions writes them.
RETRACTION_KINDS = ("retracted", "expression-of-concern", "correction")
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
_PMID_RE = re.compile(r"^\d{1,9}$")
_PMCID_RE = re.compile(r"^PMC\d+$")
_ENTRY_RE = re.compile(r"^[ \t]*@[ \t]*(\w+)[ \t]*[{(][ \t]*([^,\s{}()]+)", re.MULTILINE)
_FORMAT_CMD_RE = re.compile(r"\\(?:emph|textit|textbf|textsc|textrm|textsf|texttt|mkbibemph|mkbibquote|enquote)\s*(?=\{)")
_LEFTOVER_CMD_RE = re.compile(r"\\[A-Za-z]+")


def latex_to_text(value: str) -> tuple[str, str | None]:
    """LaTeX field text -> Unicode. Returns (text, first unconvertible command or None)."""
    if "\\" not in value and "{" not in value and "~" not in value:
        return value, None
    value = _FORMAT_CMD_RE.sub("", value)
    try:
        text = Text.from_latex(value).render_as("text")
    except Exception:  # pybtex/latexcodec raise assorted errors on broken LaTeX
        return value, value
    leftover = _LEFTOVER_CMD_RE.search(text)
    return text, (leftover.group(0) if leftover else None)


def normalize_doi(value: str) -> str:
    """``https://doi.org/10.1/ABC`` -> ``10.1/abc``; DOIs are case-insensitive."""
    value = value.strip()
    value = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", value, flags=re.IGNORECASE)
    return value.lower()


def _entry_lines(text: str) -> list[tuple[str, int]]:
    return [(m.group(2), text.count("\n", 0, m.start()) + 1) for m in _ENTRY_RE.finditer(text)]


def parse_bib_file(path: Path, rel: str) -> tuple[BibliographyData, list[Reference], list[Diagnostic]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return BibliographyData(), [], [
            Diagnostic(Severity.ERROR, "encoding", f"invalid UTF-8 byte at offset {exc.start}", Location(rel), "save the file as UTF-8")
        ]
    return parse_bib_text(text, rel)


def parse_bib_text(text: str, rel: str) -> tuple[BibliographyData, list[Reference], list[Diagnostic]]:
    """Parse BibTeX text named ``rel``; returns the pybtex data, our records and every problem."""
    diagnostics: list[Diagnostic] = []
    lines = _entry_lines(text)
    with pybtex.errors.capture() as captured:
        try:
            data = Parser().parse_string(text)
        except PybtexError as exc:  # raised despite capture for unrecoverable syntax errors
            captured.append(exc)
            data = BibliographyData()
    seen_dupes: dict[str, int] = {}
    for exc in captured:
        diagnostics.append(_diagnose(exc, rel, lines, seen_dupes))

    references = []
    line_of = {}
    for key, line in lines:
        line_of.setdefault(key, line)
    for key, entry in data.entries.items():
        loc = Location(rel, line_of.get(key, 0))
        ref, problems = _to_reference(key, entry, loc)
        references.append(ref)
        diagnostics.extend(problems)
    return data, references, diagnostics


def _diagnose(exc: PybtexError, rel: str, lines: list[tuple[str, int]], seen_dupes: dict[str, int]) -> Diagnostic:
    message = str(exc)
    if isinstance(exc, PybtexSyntaxError):
        line = getattr(exc, "lineno", 0) or 0
        message = re.sub(r"^syntax error in line \d+: ", "", message)
        hint = "check for an unbalanced brace or a missing comma just before this line" if "expected" in message else None
        return Diagnostic(Severity.ERROR, "bib-syntax", f"BibTeX syntax error: {message}", Location(rel, line), hint)
    if isinstance(exc, BibliographyDataError) and message.startswith("repeated bibliography entry"):
        key = message.rsplit(":", 1)[-1].strip()
        occurrences = [line for k, line in lines if k.lower() == key.lower()]
        index = seen_dupes[key] = seen_dupes.get(key, 0) + 1
        line = occurrences[index] if index < len(occurrences) else 0
        first = occurrences[0] if occurrences else 0
        return Diagnostic(
            Severity.ERROR, "duplicate-key", f"duplicate BibTeX key {key!r} (first defined on line {first})",
            Location(rel, line), "rename or remove one entry; claims refer to references by key",
        )
    if type(exc).__name__ == "DuplicateField":
        key = getattr(exc, "entry_key", "")
        line = next((l for k, l in lines if k == key), 0)
        return Diagnostic(Severity.ERROR, "bib-duplicate-field", f"entry {key!r}: {message}", Location(rel, line))
    return Diagnostic(Severity.ERROR, "bib-syntax", f"BibTeX error: {message}", Location(rel))


def _text_field(entry, name: str, problems: list, loc: Location, key: str) -> str:
    raw = entry.fields.get(name, "")
    if not raw:
        return ""
    text, bad = latex_to_text(raw)
    if bad:
        problems.append(
            Diagnostic(Severity.WARNING, "bib-latex", f"entry {key!r}: LaTeX in field {name!r} does not convert to text near {bad!r}", loc,
                       "write the character in Unicode instead")
        )
    return text


def _author(person: Person) -> Author:
    def join(parts):
        return latex_to_text(" ".join(parts))[0]

    return Author(
        family=join(person.last_names),
        given=join(person.first_names + person.middle_names),
        prefix=join(person.prelast_names),
        suffix=join(person.lineage_names),
    )


def _to_reference(key: str, entry, loc: Location) -> tuple[Reference, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    fields = {name.lower(): _text_field(entry, name, problems, loc, key) for name in entry.fields}

    def warn(code: str, message: str, hint: str | None = None, severity=Severity.WARNING):
        problems.append(Diagnostic(severity, code, f"entry {key!r}: {message}", loc, hint))

    authors = tuple(_author(p) for p in entry.persons.get("author", ()))
    if not authors and "editor" not in entry.persons:
        warn("bib-missing-field", "no author", "add an author field (all authors, joined with 'and')")
    if not fields.get("title"):
        warn("bib-missing-field", "no title")
    year = None
    year_text = fields.get("year", "")
    if not year_text:
        warn("bib-missing-field", "no year")
    elif re.fullmatch(r"\d{4}", year_text.strip()):
        year = int(year_text)
    else:
        warn("bad-value", f"year {year_text!r} is not a four-digit year", severity=Severity.ERROR)

    doi = normalize_doi(fields.get("doi", ""))
    if doi and not DOI_RE.match(doi):
        warn("bad-doi", f"malformed DOI {fields['doi']!r}", "a DOI looks like 10.1002/14651858.CD011279.pub3", Severity.ERROR)
    pmid = fields.get("pmid", "").strip()
    if pmid and not _PMID_RE.match(pmid):
        warn("bad-pmid", f"malformed PMID {pmid!r}", "a PMID is digits only, e.g. 28436583", Severity.ERROR)
    pmcid = fields.get("pmcid", "").strip()
    if pmcid and not _PMCID_RE.match(pmcid):
        warn("bad-pmcid", f"malformed PMCID {pmcid!r}", "a PMCID looks like PMC5461882", Severity.ERROR)
    study_type = fields.get("studytype", "").strip()
    if study_type and study_type not in STUDY_TYPES:
        warn("bad-value", f"unknown studytype {study_type!r}", did_you_mean(study_type, STUDY_TYPES) or f"expected one of: {', '.join(STUDY_TYPES)}", Severity.ERROR)
    retraction = fields.get("retraction", "").strip().lower()
    if retraction and retraction not in RETRACTION_KINDS:
        warn("bad-value", f"unknown retraction {retraction!r}", f"expected one of: {', '.join(RETRACTION_KINDS)}", Severity.ERROR)
    verified_text = fields.get("verified", "false").strip().lower()
    if verified_text not in ("true", "false"):
        warn("bad-value", f"verified must be true or false, found {verified_text!r}", severity=Severity.ERROR)

    return (
        Reference(
            key=key,
            entry_type=entry.type.lower(),
            title=fields.get("title", ""),
            authors=authors,
            year=year,
            journal=fields.get("journal", "") or fields.get("journaltitle", "") or fields.get("booktitle", ""),
            volume=fields.get("volume", ""),
            number=fields.get("number", "") or fields.get("issue", ""),
            pages=fields.get("pages", "") or fields.get("eid", ""),
            doi=doi,
            pmid=pmid,
            pmcid=pmcid,
            url=fields.get("url", ""),
            study_type=study_type,
            verified=verified_text == "true",
            verification=fields.get("verification", ""),
            cited_as=fields.get("citedas", ""),
            discrepancy=fields.get("discrepancy", ""),
            conclusion=fields.get("conclusion", ""),
            certainty=fields.get("certainty", ""),
            retraction=fields.get("retraction", "").strip().lower(),
            retraction_notice=fields.get("retractionnotice", ""),
            fields=dict(sorted(fields.items())),
            location=loc,
        ),
        problems,
    )
