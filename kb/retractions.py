"""Retraction Watch data -> ``retraction`` fields on the knowledge base's BibTeX entries.

Input: the Retraction Watch dataset as Crossref distributes it (``retraction_watch.csv``), with the
header ``Record ID,Title,Subject,Institution,Journal,Publisher,Country,Author,URLS,ArticleType,
RetractionDate,RetractionDOI,RetractionPubMedID,OriginalPaperDate,OriginalPaperDOI,
OriginalPaperPubMedID,RetractionNature,Reason,Paywalled,Notes`` (the distributed file ends each line
with one more, empty, column; dates look like ``8/16/2023 0:00``; a PMID of ``0`` and a DOI of
``unavailable`` mean none).

A reference matches a notice when its normalised DOI equals ``OriginalPaperDOI`` or its PMID
equals ``OriginalPaperPubMedID``. ``RetractionNature`` maps to ``retracted``,
``expression-of-concern`` or ``correction``; with several notices for one work the most severe
wins (retracted > expression of concern > correction); a ``Reinstatement`` is reported, not written.

The .bib files are edited surgically: inside the matched entry, the value of an existing
``retraction``/``retractionnotice`` field is replaced, or the two field lines are inserted before
the entry's closing brace, indented like the entry's other fields. Nothing else in the file
changes, and each file is written atomically.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .bib import RETRACTION_KINDS, normalize_doi, parse_bib_file
from .errors import Diagnostic, KbError, Location, Severity
from .importers import entry_spans, line_ending, set_field
from .output import read_user_text, write_atomic

__all__ = ["COLUMNS", "Mark", "Notice", "apply_marks", "find_marks", "read_notices"]

#: The Retraction Watch CSV header, in order.
COLUMNS = (
    "Record ID", "Title", "Subject", "Institution", "Journal", "Publisher", "Country", "Author", "URLS", "ArticleType",
    "RetractionDate", "RetractionDOI", "RetractionPubMedID", "OriginalPaperDate", "OriginalPaperDOI", "OriginalPaperPubMedID",
    "RetractionNature", "Reason", "Paywalled", "Notes",
)
_NEEDED = ("Record ID", "OriginalPaperDOI", "OriginalPaperPubMedID", "RetractionNature")
_NATURES = {"retraction": "retracted", "expression of concern": "expression-of-concern", "correction": "correction"}
#: Rank of each kind (kb.bib.RETRACTION_KINDS lists them most severe first): retracted 3 ... correction 1.
_SEVERITY = {kind: len(RETRACTION_KINDS) - n for n, kind in enumerate(RETRACTION_KINDS)}
_NONE = {"", "0", "unavailable", "not available", "n/a", "na", "none"}


@dataclass(frozen=True)
class Notice:
    record_id: str
    kind: str  # retracted | expression-of-concern | correction
    nature: str  # as written in the CSV
    original_doi: str
    original_pmid: str
    notice_doi: str
    date: str  # ISO date of the notice, if given
    reason: str
    line: int

    @property
    def describe(self) -> str:
        parts = [self.notice_doi] if self.notice_doi else []
        parts.append(f"Retraction Watch record {self.record_id}" + (f", {self.date}" if self.date else ""))
        return parts[0] + (f" ({parts[1]})" if len(parts) > 1 else "") if self.notice_doi else parts[0]


@dataclass(frozen=True)
class Mark:
    """A reference to mark, and how."""

    key: str
    path: Path  # the .bib file
    rel: str
    line: int
    kind: str
    notice: str
    previous: str = ""  # the retraction value the entry had
    matched_on: str = ""  # "DOI 10.x/y" or "PMID 123"
    notices: tuple[Notice, ...] = field(default=(), compare=False)

    @property
    def changes(self) -> bool:
        return self.previous != self.kind


def _iso_date(value: str) -> str:
    value = value.strip()
    match = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})", value)
    if match:
        month, day, year = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)
    return match.group(0) if match else ""


def _lines(text: str):
    """The lines of ``text``, each with its line break, one at a time (an io.StringIO read line by line holds four
    bytes a character: 200 MB for the 50 MB Retraction Watch file)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def read_notices(path: str | Path) -> tuple[list[Notice], list[Diagnostic]]:
    """Read a Retraction Watch CSV; KbError if it is not one (missing columns), diagnostics for odd rows."""
    path = Path(path)
    rel = str(path)
    text = read_user_text(path, shown=rel, what="CSV file")  # bytes that are not UTF-8: at their line and column, before any row is read
    notices: list[Notice] = []
    problems: list[Diagnostic] = []
    reader = csv.reader(_lines(text), strict=True)  # an unclosed quote is an error, not a field that swallows the records after it
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        raise KbError(f"{rel}:1: cannot read the CSV header: {exc}") from None
    missing = [c for c in _NEEDED if c not in header]
    if missing:
        raise KbError(f"{rel}:1: not a Retraction Watch CSV: missing column(s) {', '.join(repr(m) for m in missing)}",
                      hint="expected the header: " + ",".join(COLUMNS))
    index = {name: header.index(name) for name in COLUMNS if name in header}
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = reader.line_num, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue

            def get(name: str) -> str:
                i = index.get(name)
                return row[i].strip() if i is not None and i < len(row) else ""

            nature = get("RetractionNature")
            kind = _NATURES.get(nature.lower())
            if kind is None:
                if nature.lower() != "reinstatement":
                    problems.append(Diagnostic(Severity.WARNING, "retraction-nature", f"record {get('Record ID')}: unknown RetractionNature {nature!r}; skipped",
                                               Location(rel, line)))
                continue
            doi = get("OriginalPaperDOI")
            pmid = get("OriginalPaperPubMedID")
            notice_doi = get("RetractionDOI")
            notices.append(Notice(
                record_id=get("Record ID"), kind=kind, nature=nature,
                original_doi="" if doi.lower() in _NONE else normalize_doi(doi),
                original_pmid="" if pmid.lower() in _NONE or not pmid.isdigit() else pmid,
                notice_doi="" if notice_doi.lower() in _NONE else normalize_doi(notice_doi),
                date=_iso_date(get("RetractionDate")), reason=get("Reason"), line=line,
            ))
    except csv.Error as exc:
        raise KbError(f"{rel}:{start}: cannot read the CSV record that starts here: {exc}",
                      hint='a quote (") opened in it may never be closed; a quote inside a quoted field is written ""') from None
    return notices, problems


def find_marks(kb_root: str | Path, notices: list[Notice]) -> list[Mark]:
    """The references of ``kb_root/references/*.bib`` that the notices concern, most severe notice each."""
    by_doi: dict[str, list[Notice]] = {}
    by_pmid: dict[str, list[Notice]] = {}
    for n in notices:
        if n.original_doi:
            by_doi.setdefault(n.original_doi, []).append(n)
        if n.original_pmid:
            by_pmid.setdefault(n.original_pmid, []).append(n)
    references_dir = Path(kb_root) / "references"
    if not references_dir.is_dir():  # a mistyped --kb must not report "0 references concerned"
        raise KbError(f"{str(references_dir)!r} does not exist", hint="run kb init DIR first, or pass --kb DIR")
    marks = []
    from .load import bib_paths

    for path in bib_paths(Path(kb_root)):  # the files the loader reads (not those whose names it reports)
        rel = f"references/{path.name}"
        _data, refs, _problems = parse_bib_file(path, rel)
        for ref in refs:
            found = by_doi.get(normalize_doi(ref.doi), []) if ref.doi else []
            matched = f"DOI {ref.doi}" if found else ""
            if ref.pmid and by_pmid.get(ref.pmid):
                found = found + [n for n in by_pmid[ref.pmid] if n not in found]
                matched = matched or f"PMID {ref.pmid}"
            if not found:
                continue
            worst = max(found, key=lambda n: (_SEVERITY[n.kind], n.date))
            marks.append(Mark(ref.key, path, rel, ref.location.line, worst.kind, worst.describe, ref.retraction, matched, tuple(found)))
    return marks


def apply_marks(marks: list[Mark], *, dry_run: bool = False) -> list[tuple[str, str]]:
    """Write the marks into their .bib files; returns (path, unified diff) per changed file."""
    by_file: dict[Path, list[Mark]] = {}
    for mark in marks:
        by_file.setdefault(mark.path, []).append(mark)
    diffs = []
    for path, file_marks in sorted(by_file.items()):
        with open(path, encoding="utf-8", newline="") as handle:  # as it is: a CRLF file stays CRLF (set_field follows it)
            old = handle.read()
        new, eol = old, line_ending(old)
        for mark in file_marks:
            span = next((s for s in entry_spans(new) if s.key == mark.key), None)
            if span is None:
                raise KbError(f"{mark.rel}: entry {mark.key!r} not found while writing; nothing was changed in this file")
            entry = new[span.start:span.end]
            entry = set_field(entry, "retraction", mark.kind, eol)
            entry = set_field(entry, "retractionnotice", mark.notice.replace("{", "").replace("}", ""), eol)
            new = new[: span.start] + entry + new[span.end:]
        if new == old:
            continue
        rel = file_marks[0].rel
        diffs.append((rel, "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{rel}", f"b/{rel}"))))
        if not dry_run:
            write_atomic(path, new)
    return diffs
