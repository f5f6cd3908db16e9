"""BibTeX in, Reference records out: a thin, visible wrapper around pybtex.

Each file is parsed inside ``pybtex.errors.capture()`` so every problem is collected, not only
the first; pybtex's messages carry no file name, so we add it (and the line of the entry).
LaTeX in fields becomes Unicode (kb/latex.py, as in citations); our own fields (studytype, verified, pmid...) are interpreted here.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pybtex.errors
from pybtex.database import BibliographyData, BibliographyDataError, Person
from pybtex.database.input.bibtex import Parser
from pybtex.scanner import PybtexError, PybtexSyntaxError

from .errors import Diagnostic, Location, NotUtf8, Severity, bom_warning, decode_utf8, did_you_mean
from .inputs import read_input
from .latex import latex_to_text
from .model import Author, Reference

__all__ = ["RETRACTION_KINDS", "STUDY_TYPES", "is_year", "latex_to_text", "normalize_doi", "parse_bib_file", "parse_bib_text", "DOI_RE", "PMCID_RE", "PMID_RE"]

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
#: Well-formed identifiers (after normalize_doi / stripping); kb.importers checks imported records with the same patterns.
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
PMID_RE = re.compile(r"^\d{1,9}$")
PMCID_RE = re.compile(r"^PMC\d+$")
_ENTRY_RE = re.compile(r"^[ \t]*@[ \t]*(\w+)[ \t]*([{(])\s*([^,\s{}()]*)", re.MULTILINE)
_FIELD_RE = re.compile(r"^[ \t]*,?[ \t]*([A-Za-z][\w:.+-]*)[ \t]*=", re.MULTILINE)
_BRACE_RE = re.compile(r"[{}]")
_NEXT_CHAR_RE = re.compile(r"\s*(.?)", re.S)
_FIELD_START_RE = re.compile(r"([A-Za-z][\w:.+-]*)\s*=")
_STRAY_FIELD_RE = re.compile(r"\s*,?\s*[A-Za-z][\w:.+-]*\s*=")
_FIELD_LINE_RE = re.compile(r"^\s*[A-Za-z][\w:.+-]*\s*=", re.M)
#: BibTeX files larger than this are refused (this project's whole bibliography is a few dozen kilobytes).
MAX_BIB_BYTES = 20_000_000
#: Fields that are identifiers or addresses, never LaTeX text.
_VERBATIM_FIELDS = frozenset({"url", "doi", "eprint", "file", "pmid", "pmcid", "isbn", "issn", "retractionnotice"})


def bad_year_message(key: str, year_text: str) -> str:
    """The message of kb check's error for an entry whose year is not four digits (``is_year``); kb import
    finds that error by it and reports a warning instead, importing the entry without its year."""
    return f"entry {key!r}: year {year_text!r} is not a four-digit year"


def is_year(text: str) -> bool:
    """Is ``text`` a year as kb takes one: four digits (white space around them aside)? kb import leaves out a
    year that is not (kb/importers.py) rather than import what kb check refuses."""
    return re.fullmatch(r"\d{4}", text.strip()) is not None


def normalize_doi(value: str) -> str:
    """``https://doi.org/10.1/ABC`` -> ``10.1/abc``; DOIs are case-insensitive."""
    value = value.strip()
    value = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", value, flags=re.IGNORECASE)
    return value.lower()


@dataclass(frozen=True)
class _Span:
    """Where one ``@type{key, ...}`` entry sits in the raw text (found with a regular expression)."""

    kind: str  # entry type, lower-case
    key: str
    line: int
    column: int
    start: int  # offset of the line the entry starts on
    key_end: int  # offset just after the key
    opener: int  # offset of the '{' or '(' after the type
    end: int  # offset where the next entry starts (or the end of the text)
    last_line: int  # the line before the next entry
    fields: dict  # field name (lower-case) -> list of (line, column), in order


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _spans(text: str) -> list[_Span]:
    matches = list(_ENTRY_RE.finditer(text))
    spans = []
    cursor = [0, 1]  # (offset, its line): offsets only grow below, so counting newlines stays linear in the file size

    def line_col(offset: int) -> tuple[int, int]:
        if offset < cursor[0]:
            return _line_col(text, offset)
        cursor[1] += text.count("\n", cursor[0], offset)
        cursor[0] = offset
        return cursor[1], offset - (text.rfind("\n", 0, offset) + 1) + 1

    for index, m in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        line, column = line_col(text.rfind("@", m.start(), m.start(1)))
        fields: dict[str, list[tuple[int, int]]] = {}
        for f in _FIELD_RE.finditer(text, m.end(), end):
            fields.setdefault(f.group(1).lower(), []).append(line_col(f.start(1)))
        last_line = line + text.count("\n", m.start(), end) - (1 if end < len(text) else 0)
        spans.append(_Span(m.group(1).lower(), m.group(3), line, column, m.start(), m.end(3), m.start(2), end, last_line, fields))
    return spans


def _check_structure(text: str, span: _Span, rel: str) -> Diagnostic | None:
    """What pybtex misses or misplaces: a missing comma after the key, an unclosed or extra brace."""
    if span.kind == "comment":
        return None
    if span.kind not in ("string", "preamble") and span.key:
        after = _NEXT_CHAR_RE.match(text, span.key_end)
        if after and after.group(1) and (after.group(1).isalnum() or after.group(1) == "_"):
            return Diagnostic(Severity.ERROR, "bib-syntax", f"missing comma after the entry key {span.key!r}",
                              Location(rel, *_line_col(text, span.key_end)), f"write @{span.kind}{{{span.key}, ...")
    if text[span.opener] != "{":
        return None
    depth = 0
    close = None
    for brace in _BRACE_RE.finditer(text, span.opener, span.end):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            close = brace.start()
            break
    if close is None:
        line, column = _unclosed_brace(text, span)
        where = f"entry {span.key!r} (line {span.line})"
        return Diagnostic(Severity.ERROR, "bib-braces", f"unbalanced braces: a '{{' is never closed in {where}", Location(rel, line, column),
                          "add the missing '}'; BibTeX reads on to the next entry and loses fields")
    rest = text[close + 1:span.end]
    # Fields right after the brace, or (an extra '}' inside a value: "Smith}}, Blair") field lines further
    # on with the entry's own '}' left over at its end; text between entries is a comment, and is neither.
    if _STRAY_FIELD_RE.match(rest) or (rest.count("}") > rest.count("{") and _FIELD_LINE_RE.search(rest)):
        line, column = _line_col(text, close)
        return Diagnostic(Severity.ERROR, "bib-braces", f"entry {span.key!r} ends here, but fields follow that are ignored", Location(rel, line, column),
                          "remove the extra '}'")
    return None


def _unclosed_brace(text: str, span: _Span) -> tuple[int, int]:
    """The line and column of the most likely unclosed '{': the first line of the entry with more '{' than '}'."""
    offset = span.opener + 1
    while offset < span.end:
        eol = text.find("\n", offset, span.end)
        eol = span.end if eol < 0 else eol
        stack = []
        for brace in _BRACE_RE.finditer(text, offset, eol):
            if brace.group() == "{":
                stack.append(brace.start())
            elif stack:
                stack.pop()
        if stack:
            return _line_col(text, stack[0])
        offset = eol + 1
    return span.line, span.column


def parse_bib_file(path: Path, rel: str) -> tuple[BibliographyData, list[Reference], list[Diagnostic]]:
    try:
        info = path.stat()
        size = info.st_size
        if not stat.S_ISREG(info.st_mode):
            return BibliographyData(), [], [Diagnostic(Severity.ERROR, "unreadable", "not a regular file", Location(rel), "remove it or replace it with a file")]
        if size > MAX_BIB_BYTES:
            return BibliographyData(), [], [
                Diagnostic(Severity.ERROR, "file-too-large", f"file is {size:,} bytes; the limit is {MAX_BIB_BYTES:,}", Location(rel),
                           "split it into several files under references/")
            ]
        raw = read_input(path, rel)
    except OSError as exc:
        return BibliographyData(), [], [Diagnostic(Severity.ERROR, "unreadable", f"cannot read file: {exc.strerror or exc}", Location(rel),
                                                   getattr(exc, "hint", None))]
    try:
        text, bom = decode_utf8(raw)
    except NotUtf8 as exc:
        return BibliographyData(), [], [exc.diagnostic(rel)]
    data, refs, problems = parse_bib_text(text, rel)
    if bom:
        problems.insert(0, bom_warning(rel))
    return data, refs, problems


def parse_bib_text(text: str, rel: str) -> tuple[BibliographyData, list[Reference], list[Diagnostic]]:
    """Parse BibTeX text named ``rel``; returns the pybtex data, our records and every problem."""
    diagnostics: list[Diagnostic] = []
    spans = _spans(text)
    covered: list[tuple[int, int]] = []  # line ranges where our own structural check already spoke
    for index, span in enumerate(spans):
        problem = _check_structure(text, span, rel)
        if problem is not None:
            diagnostics.append(problem)
            next_line = spans[index + 1].line if index + 1 < len(spans) else text.count("\n") + 2
            covered.append((span.line, next_line))
    with pybtex.errors.capture() as captured:
        try:
            data = Parser().parse_string(text)
        except PybtexError as exc:  # raised despite capture for unrecoverable syntax errors
            captured.append(exc)
            data = BibliographyData()
        except RecursionError:
            captured.append(PybtexError("braces nested too deeply"))
            data = BibliographyData()
    seen_dupes: dict[str, int] = {}
    for exc in captured:
        diagnostic = _diagnose(exc, text, rel, spans, seen_dupes)
        if diagnostic.code == "bib-syntax" and any(first <= diagnostic.location.line <= last for first, last in covered):
            continue  # the same mistake, already reported where it was made
        diagnostics.append(diagnostic)

    span_of: dict[str, _Span] = {}
    for index, span in enumerate(spans):
        span_of.setdefault(span.key.lower(), span)
    error_lines = sorted(d.location.line for d in diagnostics if d.code in ("bib-syntax", "bib-braces"))
    references = []
    for key, entry in list(data.entries.items()):
        span = span_of.get(key.lower())
        if span is None and _UNNAMED_RE.fullmatch(key) and error_lines:
            del data.entries[key]  # pybtex's stand-in for an entry whose key it could not read: reported as that syntax error
            continue
        ref, problems = _to_reference(key, entry, rel, span)
        references.append(ref)
        if span is not None and any(span.line <= line <= span.last_line for line in error_lines):
            # fields lost to a syntax error in this entry were reported already, as that error
            problems = [p for p in problems if p.code != "bib-missing-field"]
        diagnostics.extend(problems)
    return data, references, diagnostics


#: The key pybtex gives an entry whose own key it could not read (``@article{,``), after a syntax error.
_UNNAMED_RE = re.compile(r"unnamed-\d+")


def _diagnose(exc: PybtexError, text: str, rel: str, spans: list[_Span], seen_dupes: dict[str, int]) -> Diagnostic:
    message = str(exc)
    if isinstance(exc, PybtexSyntaxError):
        line, column = getattr(exc, "lineno", 0) or 0, 0
        info = getattr(exc, "error_context_info", None)
        offset = info[2] if isinstance(info, tuple) and len(info) == 3 and isinstance(info[2], int) else None
        if offset is not None and 0 <= offset <= len(text):
            offset = _NEXT_CHAR_RE.match(text, offset).start(1)
            line, column = _line_col(text, offset)
        body = exc.args[0] if exc.args and isinstance(exc.args[0], str) else message
        if type(exc).__name__ == "UndefinedMacro":
            if info is not None and isinstance(info[2], int) and text[max(0, info[2] - len(body)):info[2]] == body:
                line, column = _line_col(text, info[2] - len(body))  # the start of the bare word, not its end
            return Diagnostic(Severity.ERROR, "bib-syntax", f"undefined macro {body!r}", Location(rel, line, column),
                              "put text values in braces: {...}; bare words must be @string macros or month names")
        field = _FIELD_START_RE.match(text, offset) if offset is not None and "expected" in body else None
        if field:
            return Diagnostic(Severity.ERROR, "bib-syntax", f"missing comma before field {field.group(1)!r}", Location(rel, line, column),
                              "end each field with a comma")
        hint = "check for an unbalanced brace or a missing comma just before this point" if "expected" in body else None
        return Diagnostic(Severity.ERROR, "bib-syntax", f"BibTeX syntax error: {body}", Location(rel, line, column), hint)
    if isinstance(exc, BibliographyDataError) and message.startswith("repeated bibliography entry"):
        key = message.rsplit(":", 1)[-1].strip()
        occurrences = [s for s in spans if s.key.lower() == key.lower()]
        index = seen_dupes[key] = seen_dupes.get(key, 0) + 1
        at = occurrences[index] if index < len(occurrences) else None
        first = occurrences[0].line if occurrences else 0
        return Diagnostic(
            Severity.ERROR, "bib-duplicate-key", f"duplicate BibTeX key {key!r} (first defined on line {first})",
            Location(rel, at.line, at.column) if at else Location(rel), "rename or remove one entry; claims refer to references by key",
        )
    duplicate = re.fullmatch(r"entry with key (.*) has a duplicate (\S+) field", message)
    if duplicate:
        key, name = duplicate.groups()
        span = next((s for s in spans if s.key.lower() == key.lower()), None)
        places = span.fields.get(name.lower(), []) if span else []
        line, column = places[1] if len(places) > 1 else ((span.line, span.column) if span else (0, 0))
        return Diagnostic(Severity.ERROR, "bib-duplicate-field", f"entry {key!r} has the field {name!r} twice", Location(rel, line, column),
                          "keep one; BibTeX keeps only the first")
    names = re.fullmatch(r"Too many commas in (['\"])(.*)\1", message, re.S)
    if names:
        value = names.group(2)
        offset = text.find(value)
        line, column = _line_col(text, offset) if offset >= 0 else (0, 0)
        return Diagnostic(Severity.ERROR, "bib-name", f"name {value!r} has too many commas", Location(rel, line, column),
                          "write each name as 'Last, First' or 'von Last, Jr, First', joined with 'and'")
    return Diagnostic(Severity.ERROR, "bib-syntax", f"BibTeX error: {message}", Location(rel))


#: ``$5 and $`` of "costs $5 and $10": an unescaped $ before a number opens LaTeX maths that holds a word
#: of prose (two letters or more, not a command), which is money written as maths, not maths.
_MONEY_AS_MATHS_RE = re.compile(r"(?<!\\)\$(?=\d)[^$]*?(?<![\\A-Za-z])[A-Za-z]{2,}[^$]*?(?<!\\)\$")


def _clipped(text: str) -> str:
    """``text`` as a message quotes it: at most 40 characters, the end of a longer one as "..."."""
    return text if len(text) <= 40 else text[:37] + "..."


def _text_field(entry, name: str, problems: list, loc: Location, key: str) -> str:
    raw = entry.fields.get(name, "")
    if not raw:
        return ""
    if name.lower() in _VERBATIM_FIELDS:  # a URL's '~' is not a LaTeX space; only '\_' and friends are escapes there
        return re.sub(r"\\([_%&#$~])(?:\{\})?", r"\1", raw).strip()
    if "--" in raw and "\\" not in raw and "{" not in raw and "~" not in raw and "$" not in raw:
        return raw.replace("---", "\u2014").replace("--", "\u2013")  # LaTeX dashes, e.g. pages = {871--877}
    text, unknown = latex_to_text(raw)
    money = _MONEY_AS_MATHS_RE.search(raw) if "$" in raw else None
    if money:
        problems.append(Diagnostic(Severity.WARNING, "bib-latex", f"entry {key!r}: {_clipped(money.group(0))!r} in field {name!r} is read as LaTeX maths "
                                   "(between two $), so its dollar signs are dropped", loc, "write \\$ for a dollar sign"))
    if unknown:
        near = [repr(_clipped(bad)) for bad in unknown]
        near = near[0] if len(near) == 1 else ", ".join(near[:-1]) + " and " + near[-1]
        problems.append(
            Diagnostic(Severity.WARNING, "bib-latex", f"entry {key!r}: LaTeX in field {name!r} does not convert to text near {near}", loc,
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


def _to_reference(key: str, entry, rel: str, span: _Span | None) -> tuple[Reference, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    loc = Location(rel, span.line, span.column) if span else Location(rel)

    def at(name: str) -> Location:
        places = span.fields.get(name) if span else None
        return Location(rel, *places[0]) if places else loc

    fields = {name.lower(): _text_field(entry, name, problems, at(name.lower()), key) for name in entry.fields}

    def warn(code: str, message: str, hint: str | None = None, severity=Severity.WARNING, field: str = ""):
        problems.append(Diagnostic(severity, code, f"entry {key!r}: {message}", at(field) if field else loc, hint))

    authors = tuple(_author(p) for p in entry.persons.get("author", ()))
    if not authors and "editor" not in entry.persons:
        warn("bib-missing-field", "no author", "add an author field (all authors, joined with 'and')")
    if not fields.get("title"):
        warn("bib-missing-field", "no title")
    year = None
    year_text = fields.get("year", "")
    if not year_text:
        warn("bib-missing-field", "no year")
    elif is_year(year_text):
        year = int(year_text)
    else:
        problems.append(Diagnostic(Severity.ERROR, "bad-value", bad_year_message(key, year_text), at("year")))

    doi = normalize_doi(fields.get("doi", ""))
    if doi and not DOI_RE.match(doi):
        warn("bad-doi", f"malformed DOI {fields['doi']!r}", "a DOI looks like 10.1002/14651858.CD011279.pub3", Severity.ERROR, "doi")
    pmid = fields.get("pmid", "").strip()
    if pmid and not PMID_RE.match(pmid):
        warn("bad-pmid", f"malformed PMID {pmid!r}", "a PMID is digits only, e.g. 28436583", Severity.ERROR, "pmid")
    pmcid = fields.get("pmcid", "").strip()
    if pmcid and not PMCID_RE.match(pmcid):
        warn("bad-pmcid", f"malformed PMCID {pmcid!r}", "a PMCID looks like PMC5461882", Severity.ERROR, "pmcid")
    study_type = fields.get("studytype", "").strip()
    if study_type and study_type not in STUDY_TYPES:
        warn("bad-value", f"unknown studytype {study_type!r}", did_you_mean(study_type, STUDY_TYPES) or f"expected one of: {', '.join(STUDY_TYPES)}", Severity.ERROR, "studytype")
    retraction = fields.get("retraction", "").strip().lower()
    if retraction and retraction not in RETRACTION_KINDS:
        warn("bad-value", f"unknown retraction {retraction!r}", f"expected one of: {', '.join(RETRACTION_KINDS)}", Severity.ERROR, "retraction")
    verified_text = fields.get("verified", "false").strip().lower()
    if verified_text not in ("true", "false"):
        warn("bad-value", f"verified must be true or false, found {verified_text!r}", severity=Severity.ERROR, field="verified")

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
