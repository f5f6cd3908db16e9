"""References in (BibTeX/BibLaTeX, CSL-JSON, RIS) and out (CSL-JSON, BibTeX, RIS).

Import (``kb import FILE``, also used by ``kb extract --bib``):

* every record becomes a ``Record`` with Unicode fields and ``Author``s;
* identifiers are normalised (DOI lower-case without ``https://doi.org/``, PMID digits only,
  PMCID ``PMC`` + digits); malformed ones are reported, never silently dropped;
* a record is a duplicate when its normalised DOI, or else its normalised title and year, equals
  that of a reference already in the knowledge base (or earlier in the same file): it is skipped
  and mapped to the existing key, which never changes;
* a new record keeps the key (BibTeX) or id (CSL-JSON, RIS ``ID``) it came with when that is a plain
  key not yet used in the knowledge base, because a key is what people cite; otherwise (no key, a URL
  id, a key already taken, or ``rekey=True``) it gets ``<family><year>`` in ASCII lower case, then
  ``a``, ``b``... while that is taken;
* new entries are appended to one file, ``references/imported.bib`` by default, in one atomic
  write; other files are never touched. BibTeX records keep their original text (formatting,
  comments inside the entry), with only the key and the identifier values rewritten.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .bib import DOI_RE, PMCID_RE, PMID_RE, bad_year_message, is_year, normalize_doi, parse_bib_file, parse_bib_text
from .citations import fold
from .errors import Diagnostic, KbError, Location, Severity
from .model import Author, KnowledgeBase, Reference
from .output import read_user_text, write_atomic

__all__ = [
    "EntrySpan",
    "ImportResult",
    "Record",
    "entry_spans",
    "export_bibtex",
    "export_csl_json",
    "export_ris",
    "import_file",
    "line_ending",
    "normalize_pmcid",
    "normalize_pmid",
    "read_records",
    "record_to_bibtex",
    "references_of",
    "set_field",
]

_PLAIN_FIELDS = {"doi", "url", "pmid", "pmcid", "eprint", "isbn", "issn", "urldate", "file"}


# --------------------------------------------------------------------------- identifiers


def normalize_pmid(value: str) -> str:
    """``"PMID: 28436583"`` -> ``"28436583"``; anything else is returned stripped."""
    value = value.strip()
    match = re.fullmatch(r"(?:pmid:?\s*)?(\d{1,9})", value, re.IGNORECASE)
    return match.group(1) if match else value


def normalize_pmcid(value: str) -> str:
    """``"pmc5461882"`` or ``"PMCID: PMC5461882"`` -> ``"PMC5461882"``."""
    value = value.strip()
    match = re.fullmatch(r"(?:pmcid:?\s*)?(?:pmc)?(\d+)", value, re.IGNORECASE)
    return f"PMC{match.group(1)}" if match else value


def _identifier_problems(fields: dict[str, str], where: Location, label: str) -> list[Diagnostic]:
    problems = []
    if fields.get("doi") and not DOI_RE.match(fields["doi"]):
        problems.append(Diagnostic(Severity.WARNING, "bad-doi", f"{label}: malformed DOI {fields['doi']!r}", where,
                                   "a DOI looks like 10.1002/14651858.CD011279.pub3; fix it before kb check"))
    if fields.get("pmid") and not PMID_RE.match(fields["pmid"]):
        problems.append(Diagnostic(Severity.WARNING, "bad-pmid", f"{label}: malformed PMID {fields['pmid']!r}", where, "a PMID is digits only"))
    if fields.get("pmcid") and not PMCID_RE.match(fields["pmcid"]):
        problems.append(Diagnostic(Severity.WARNING, "bad-pmcid", f"{label}: malformed PMCID {fields['pmcid']!r}", where, "a PMCID looks like PMC5461882"))
    return problems


# --------------------------------------------------------------------------- BibTeX text


@dataclass(frozen=True)
class EntrySpan:
    """Where one ``@type{key, ...}`` entry sits in a BibTeX text (``end`` is just after its closing brace)."""

    entry_type: str
    key: str
    start: int
    end: int
    line: int
    key_start: int = 0
    key_end: int = 0


_ENTRY_START_RE = re.compile(r"@[ \t]*(\w+)[ \t]*([{(])", re.MULTILINE)


def entry_spans(text: str) -> list[EntrySpan]:
    """Every entry of a BibTeX text with its offsets (``@comment``, ``@string``, ``@preamble`` skipped)."""
    spans = []
    position = 0
    while True:
        match = _ENTRY_START_RE.search(text, position)
        if not match:
            break
        kind = match.group(1).lower()
        opener = match.group(2)
        depth, index = 1, match.end()
        while index < len(text) and depth:
            ch = text[index]
            if ch == "{" or (opener == "(" and ch == "("):
                depth += 1
            elif ch == "}" or (opener == "(" and ch == ")"):
                depth -= 1
            index += 1
        if depth:  # unclosed: stop; pybtex reports the syntax error
            break
        position = index
        if kind in ("comment", "string", "preamble"):
            continue
        key_match = re.match(r"\s*([^,\s{}()]+)\s*,", text[match.end():index])
        if not key_match:
            continue
        spans.append(EntrySpan(kind, key_match.group(1), match.start(), index, text.count("\n", 0, match.start()) + 1,
                               match.end() + key_match.start(1), match.end() + key_match.end(1)))
    return spans


def field_value_span(entry_text: str, name: str) -> tuple[int, int] | None:
    """Offsets of the value of field ``name`` (braces or quotes excluded) inside one entry's text."""
    match = re.search(r"(^|[,\s])" + re.escape(name) + r"\s*=\s*", entry_text, re.IGNORECASE)
    if not match:
        return None
    index = match.end()
    if index >= len(entry_text):
        return None
    if entry_text[index] == "{":
        depth, j = 1, index + 1
        while j < len(entry_text) and depth:
            depth += {"{": 1, "}": -1}.get(entry_text[j], 0)
            j += 1
        return index + 1, j - 1
    if entry_text[index] == '"':
        j = entry_text.find('"', index + 1)
        return (index + 1, j) if j > 0 else None
    bare = re.match(r"[^,\s}]+", entry_text[index:])
    return (index, index + bare.end()) if bare else None


def _entry_indent(entry: str) -> str:
    match = re.search(r"\n([ \t]+)\w+\s*=", entry)
    return match.group(1) if match else "  "


def line_ending(text: str) -> str:
    """The line ending ``text`` uses: its first line's ("\r\n" or "\n"), read without newline translation."""
    first_break = text.find("\n")
    return "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"


def set_field(entry: str, name: str, value: str, eol: str | None = None) -> str:
    """One entry's text with field ``name`` set to ``value``: the old value replaced in place, or a new
    field line inserted before the closing brace, indented like the other fields and ended with ``eol``
    (default: like the entry's lines, ``line_ending``; an entry on one line has none to follow, so pass its
    file's). Nothing else changes."""
    span = field_value_span(entry, name)
    if span is not None:
        return entry if entry[span[0]:span[1]] == value else entry[: span[0]] + value + entry[span[1]:]
    close = entry.rstrip()
    body = close[:-1]
    stripped = body.rstrip()
    trailing_comma = stripped.endswith(",")
    insert = ("" if trailing_comma else ",") + f"{eol or line_ending(entry)}{_entry_indent(entry)}{name} = {{{value}}}" + ("," if trailing_comma else "")
    return stripped + insert + body[len(stripped):] + close[-1] + entry[len(close):]


def remove_field(entry: str, name: str) -> str:
    """One entry's text without field ``name``: its line goes when the field has one to itself, else the field and
    the comma after it (or, for the last field, the comma before it). Nothing else changes."""
    span = field_value_span(entry, name)
    if span is None:
        return entry
    match = re.search(r"(^|[,\s])" + re.escape(name) + r"\s*=\s*", entry, re.IGNORECASE)
    start = match.start() + len(match.group(1))
    end = span[1] + (span[0] > match.end())  # past the closing brace or quote
    comma = re.match(r"[ \t]*,[ \t]*", entry[end:])
    if comma:
        end += comma.end()
    elif entry[:start].rstrip().endswith(",") and len(entry[:start].rstrip()) - 1 > entry.find(","):
        start = len(entry[:start].rstrip()) - 1  # the last field: the comma before it goes (not the one after the key)
    line_start = entry.rfind("\n", 0, start) + 1
    rest = re.match(r"[ \t]*\r?\n", entry[end:])
    if rest and not entry[line_start:start].strip():
        start, end = line_start, end + rest.end()
    return entry[:start] + entry[end:]


def _escape(value: str, name: str) -> str:
    if name in _PLAIN_FIELDS:
        return value.replace("{", "").replace("}", "")
    value = re.sub(r"(?<!\\)([&%$#_])", r"\\\1", value)
    if value.count("{") != value.count("}"):
        value = value.replace("{", "").replace("}", "")
    return value


def _bib_name(author: Author) -> str:
    family = author.full_family
    if not author.given and (" " in family and not author.prefix):
        return "{" + family + "}"  # an organisation or a literal name
    parts = [family]
    if author.suffix:
        parts.append(author.suffix)
    if author.given:
        parts.append(author.given)
    return ", ".join(parts)


# --------------------------------------------------------------------------- records


@dataclass
class Record:
    """One reference read from an import file, before it gets a key in the knowledge base."""

    source_id: str
    entry_type: str
    fields: dict[str, str]
    authors: list[Author]
    line: int = 0
    raw: str = ""  # the entry's original BibTeX text, when read from BibTeX
    editors: list[Author] = field(default_factory=list)

    @property
    def year(self) -> str:
        match = re.search(r"\d{4}", self.fields.get("year", ""))
        return match.group(0) if match else ""

    def dedupe_keys(self) -> tuple[str, str]:
        doi = normalize_doi(self.fields.get("doi", ""))
        title = fold(self.fields.get("title", ""))
        return doi, (f"{title}|{self.year}" if title else "")


_FIELD_ORDER = ("author", "editor", "title", "journal", "booktitle", "publisher", "year", "volume", "number", "pages", "eid",
                "doi", "pmid", "pmcid", "isbn", "issn", "url")


def record_to_bibtex(record: Record, key: str) -> str:
    """BibTeX text for one record under ``key``; raw BibTeX keeps its text, with the key and identifiers updated."""
    if record.raw:
        text = record.raw
        span = entry_spans(text)[0]
        text = text[: span.key_start] + key + text[span.key_end:]
        for name in ("year", "doi", "pmid", "pmcid"):
            value = record.fields.get(name)
            if value:
                text = set_field(text, name, value)
        return text.rstrip() + "\n"
    lines = [f"@{record.entry_type}{{{key},"]
    values = dict(record.fields)
    if record.authors:
        values["author"] = " and ".join(_bib_name(a) for a in record.authors)
    if record.editors:
        values["editor"] = " and ".join(_bib_name(a) for a in record.editors)
    names = [n for n in _FIELD_ORDER if values.get(n)] + sorted(n for n in values if n not in _FIELD_ORDER and values[n])
    for name in names:
        value = values[name] if name in ("author", "editor") else _escape(values[name], name)
        lines.append(f"  {name} = {{{value}}},")
    lines[-1] = lines[-1].rstrip(",")
    lines.append("}")
    return "\n".join(lines) + "\n"


_EXTENDED_NAME_RE = re.compile(r"^\s*(?:\w+\s*=\s*(?:\{[^{}]*\}|[^,]*)\s*,?\s*)+$")


def _plain_name(name: str) -> str:
    """BibLaTeX's ``family=Esch, given=Martin, prefix=van der`` -> ``van der Esch, Martin`` (pybtex cannot read the former)."""
    if "=" not in name or not _EXTENDED_NAME_RE.match(name):
        return name
    parts = {k.lower(): v.strip().strip("{}").strip() for k, v in re.findall(r"(\w+)\s*=\s*(\{[^{}]*\}|[^,]*)", name)}
    family = " ".join(p for p in (parts.get("prefix", ""), parts.get("family", "")) if p)
    rest = [parts[k] for k in ("suffix", "given") if parts.get(k)]
    return ", ".join([family] + rest)


def _fix_extended_names(text: str) -> str:
    """Rewrite BibLaTeX extended name syntax in author/editor fields so that pybtex can read them."""
    def fix_field(match: re.Match) -> str:
        names = re.split(r"(\s+and\s+)", match.group(2))
        return match.group(1) + "".join(n if re.fullmatch(r"\s+and\s+", n) else _plain_name(n) for n in names) + match.group(3)

    return re.sub(r"((?:^|[,\s])(?:author|editor)\s*=\s*\{)((?:[^{}]|\{[^{}]*\})*family\s*=(?:[^{}]|\{[^{}]*\})*)(\})", fix_field, text,
                  flags=re.IGNORECASE)


def _read_bibtex(text: str, rel: str) -> tuple[list[Record], list[Diagnostic]]:
    if "family=" in text.replace(" ", "").lower():
        text = _fix_extended_names(text)
    _data, refs, problems = parse_bib_text(text, rel)
    spans = {s.key: s for s in entry_spans(text)}
    records = []
    for ref in refs:
        span = spans.get(ref.key)
        fields = dict(ref.fields)
        raw = text[span.start:span.end] if span else ""
        if fields.get("year") and not is_year(fields["year"]):
            # kb check's error for this entry (bib.py) becomes a warning: the year is left out, the rest imported
            said = bad_year_message(ref.key, fields.pop("year"))
            problems = [Diagnostic(Severity.WARNING, "import-skipped", f"{said}; left out", p.location)
                        if p.code == "bad-value" and p.message == said else p for p in problems]
            raw = remove_field(raw, "year")
        if not fields.get("year") and re.match(r"\d{4}", fields.get("date", "")):
            fields["year"] = fields["date"][:4]  # BibLaTeX date = {2017-04-24}
        for name in ("note", "annote", "annotation", "extra"):
            _ids_from_note(fields.get(name, ""), fields)
        records.append(Record(ref.key, ref.entry_type, fields, list(ref.authors), ref.location.line, raw))
    # a date-only entry has no year for pybtex; it is added on import, so drop that warning here
    problems = [p for p in problems if not (p.code == "bib-missing-field" and "no year" in p.message)]
    # identifier problems are re-checked after normalisation; drop pybtex-side ones for these codes
    problems = [p for p in problems if p.code not in ("bad-doi", "bad-pmid", "bad-pmcid")]
    return records, problems


_CSL_TYPES = {
    "article-journal": "article", "article": "article", "article-magazine": "article", "article-newspaper": "article",
    "review": "article", "book": "book", "chapter": "incollection", "paper-conference": "inproceedings",
    "report": "techreport", "thesis": "phdthesis", "webpage": "online", "post-weblog": "online", "dataset": "misc",
}
_BIB_TO_CSL = {
    "article": "article-journal", "book": "book", "incollection": "chapter", "inbook": "chapter", "inproceedings": "paper-conference",
    "conference": "paper-conference", "techreport": "report", "report": "report", "phdthesis": "thesis", "mastersthesis": "thesis",
    "thesis": "thesis", "online": "webpage", "misc": "article",
}


def _csl_text(value) -> str | None:
    """A CSL-JSON value as text: a string or a number; None for anything else (a list, an object, true)."""
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return str(value)
    return None


_FOUR_DIGITS_RE = re.compile(r"\d{4}")


def _csl_year(issued) -> str:
    """The four-digit year of a CSL-JSON ``issued`` (``{"date-parts": [[2017, 4]]}``, ``{"raw": "April 2017"}``,
    ``{"literal": ...}``, or an EDTF text such as ``"2017-04"``); "" when it holds none."""
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            first = _csl_text(parts[0][0])
            if first is not None and is_year(first):
                return first.strip()
        issued = issued.get("raw", issued.get("literal"))
    match = _FOUR_DIGITS_RE.search(issued) if isinstance(issued, str) else None
    return match.group(0) if match else ""


def _csl_author(item: dict) -> Author | None:
    """A CSL name, or None when its parts are not text."""
    if "literal" in item:
        literal = _csl_text(item["literal"])
        return Author(family=literal) if literal else None
    parts = {k: item.get(k, "") for k in ("family", "given", "suffix", "dropping-particle", "non-dropping-particle")}
    text = {k: _csl_text(v) if v != "" else "" for k, v in parts.items()}
    if None in text.values() or not text["family"]:
        return None
    prefix = " ".join(text[k] for k in ("dropping-particle", "non-dropping-particle") if text[k]).strip()
    return Author(family=text["family"], given=text["given"], prefix=prefix, suffix=text["suffix"])


def _ids_from_note(note: str, fields: dict[str, str]) -> None:
    for line in re.split(r"[\n;]", note or ""):
        pmid = re.search(r"\bPMID:\s*(\S+)", line, re.IGNORECASE)
        if pmid and "pmid" not in fields:
            fields["pmid"] = pmid.group(1)
        pmcid = re.search(r"\bPMCID:\s*(\S+)", line, re.IGNORECASE)
        if pmcid and "pmcid" not in fields:
            fields["pmcid"] = pmcid.group(1)
        doi = re.search(r"\bDOI:\s*(\S+)", line, re.IGNORECASE)
        if doi and "doi" not in fields:
            fields["doi"] = doi.group(1)


def _read_csl_json(text: str, rel: str) -> tuple[list[Record], list[Diagnostic]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KbError(f"{rel}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict):
        data = data.get("items", [data])
    if not isinstance(data, list):
        raise KbError(f"{rel}: a CSL-JSON file holds a list of items")
    records, problems = [], []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            problems.append(Diagnostic(Severity.WARNING, "import-skipped", f"item {index} is not an object; skipped", Location(rel)))
            continue
        fields: dict[str, str] = {}
        left_out: list[str] = []

        def put(name, *keys):
            for k in keys:
                if item.get(k) not in (None, ""):
                    value = _csl_text(item[k])
                    if value is None:
                        left_out.append(k)
                        continue
                    fields[name] = value
                    return

        put("title", "title")
        container = "booktitle" if item.get("type") in ("chapter", "paper-conference") else "journal"
        put(container, "container-title")
        put("volume", "volume")
        put("number", "issue")
        put("pages", "page")
        put("publisher", "publisher")
        put("doi", "DOI", "doi")
        put("pmid", "PMID", "pmid")
        put("pmcid", "PMCID", "pmcid")
        put("url", "URL", "url")
        put("isbn", "ISBN")
        put("issn", "ISSN")
        if "number" in item and "number" not in fields:
            fields["eid" if item.get("type", "").startswith("article") else "number"] = str(item["number"])
        issued = item.get("issued")
        year = _csl_year(issued)
        if year:
            fields["year"] = year
        elif issued not in (None, "", {}):
            problems.append(Diagnostic(Severity.WARNING, "import-skipped", f"item {index}: issued {json.dumps(issued, ensure_ascii=False)} "
                                       "gives no four-digit year; left out", Location(rel)))
        _ids_from_note(str(item.get("note", "")), fields)
        if "pages" in fields:
            fields["pages"] = re.sub(r"(?<=\d)\s*[-–]\s*(?=\d)", "--", fields["pages"])
        names = {}
        for role in ("author", "editor"):
            given = item.get(role, [])
            found = [_csl_author(a) if isinstance(a, dict) else None for a in given] if isinstance(given, list) else [None]
            names[role] = [a for a in found if a is not None]
            if None in found:
                left_out.append(role)
        authors, editors = names["author"], names["editor"]
        if left_out:
            problems.append(Diagnostic(Severity.WARNING, "import-skipped", f"item {index}: {', '.join(dict.fromkeys(left_out))} not as CSL-JSON "
                                       "writes them (text, or a list of names); left out", Location(rel)))
        if not fields and not authors and not editors:
            problems.append(Diagnostic(Severity.WARNING, "import-skipped", f"item {index} has no title, name, date or identifier; skipped",
                                       Location(rel)))
            continue
        records.append(Record(str(item.get("id", f"item {index}")), _CSL_TYPES.get(str(item.get("type", "")), "misc"), fields, authors, 0, "", editors))
    return records, problems


_RIS_TYPES = {"JOUR": "article", "JFULL": "article", "MGZN": "article", "BOOK": "book", "EBOOK": "book", "CHAP": "incollection",
              "ECHAP": "incollection", "CONF": "inproceedings", "CPAPER": "inproceedings", "RPRT": "techreport", "THES": "phdthesis",
              "ELEC": "online", "WEB": "online", "GEN": "misc"}
_RIS_DATES = ("PY", "Y1", "DA")  # the first of them that holds a four-digit year gives the record's year
_RIS_LINE_RE = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")


def _ris_author(value: str) -> Author:
    if "," in value:
        family, given = value.split(",", 1)
        return Author(family=family.strip(), given=given.strip().strip(","))
    return Author(family=value.strip())


def _read_ris(text: str, rel: str) -> tuple[list[Record], list[Diagnostic]]:
    records, problems = [], []
    tags: dict[str, list[str]] = {}
    start_line = 0
    last_tag = None
    seen = 0  # records in the file so far, those skipped included: "record N" counts them all

    def take() -> None:
        nonlocal seen
        seen += 1
        record = _ris_record(tags, start_line, seen)
        dates = [(tag, value) for tag in _RIS_DATES for value in tags.get(tag, []) if value]
        if dates and "year" not in record.fields:
            problems.append(Diagnostic(Severity.WARNING, "import-skipped",
                                       f"record {seen}: {dates[0][0]} {dates[0][1]!r} gives no four-digit year; left out",
                                       Location(rel, start_line)))
        if not record.fields and not record.authors and not record.editors:  # as an empty CSL-JSON item
            problems.append(Diagnostic(Severity.WARNING, "import-skipped", f"record {seen} has no title, name, date or identifier; skipped",
                                       Location(rel, start_line)))
            return
        records.append(record)

    for number, line in enumerate(text.splitlines(), start=1):
        match = _RIS_LINE_RE.match(line.rstrip())
        if not match:
            if line.strip() and last_tag and tags:
                tags[last_tag][-1] += " " + line.strip()  # continuation line
            elif line.strip():
                problems.append(Diagnostic(Severity.WARNING, "import-skipped", f"not a RIS line: {line.strip()[:50]!r}", Location(rel, number)))
            continue
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            tags, start_line = {"TY": [value]}, number
        elif tag == "ER":
            if tags:
                take()
            tags = {}
        elif tags:
            tags.setdefault(tag, []).append(value)
        last_tag = tag
    if tags:
        problems.append(Diagnostic(Severity.WARNING, "import-skipped", "last record has no 'ER  -' line; read anyway", Location(rel, start_line)))
        take()
    return records, problems


def _ris_record(tags: dict[str, list[str]], line: int, index: int) -> Record:
    def first(*names):
        for name in names:
            for value in tags.get(name, []):
                if value:
                    return value
        return ""

    entry_type = _RIS_TYPES.get(first("TY").upper(), "misc")
    fields: dict[str, str] = {}
    years = (_FOUR_DIGITS_RE.search(value) for tag in _RIS_DATES for value in tags.get(tag, []))
    pairs = {"title": first("TI", "T1"), "year": next((match.group(0) for match in years if match), ""),
             "volume": first("VL"), "number": first("IS"), "publisher": first("PB"), "doi": first("DO"), "url": first("UR"),
             "issn": first("SN") if entry_type == "article" else "", "isbn": first("SN") if entry_type != "article" else ""}
    container = first("T2", "JF", "JO", "JA", "BT")
    pairs["booktitle" if entry_type in ("incollection", "inproceedings") else "journal"] = container
    sp, ep = first("SP"), first("EP")
    pairs["pages"] = f"{sp}--{ep}" if sp and ep else sp
    fields.update({k: v for k, v in pairs.items() if v})
    an = first("AN")
    if an and re.fullmatch(r"\d{1,9}", an) and re.search(r"pubmed|nlm|medline", first("DB", "DP"), re.IGNORECASE):
        fields["pmid"] = an
    for tag in ("C2", "C1", "C5", "AN", "M1", "M2", "N1", "ID"):
        for value in tags.get(tag, []):
            if re.fullmatch(r"PMC\d+", value.strip()) and "pmcid" not in fields:
                fields["pmcid"] = value.strip()
            _ids_from_note(value, fields)
    authors = [_ris_author(v) for tag in ("AU", "A1") for v in tags.get(tag, []) if v]
    editors = [_ris_author(v) for tag in ("A2", "ED") for v in tags.get(tag, []) if v] if entry_type in ("incollection", "book") else []
    return Record(first("ID") or f"record {index}", entry_type, fields, authors, line, "", editors)


def read_records(path: str | Path) -> tuple[list[Record], list[Diagnostic]]:
    """Read a .bib, .json (CSL-JSON) or .ris file; identifiers normalised and checked."""
    path = Path(path)
    rel = str(path)
    text = read_user_text(path, shown=rel)
    suffix = path.suffix.lower()
    if suffix in (".bib", ".bibtex", ".biblatex"):
        records, problems = _read_bibtex(text, rel)
    elif suffix in (".json", ".csljson"):
        records, problems = _read_csl_json(text, rel)
    elif suffix in (".ris", ".txt") and re.search(r"^TY  -", text, re.MULTILINE):
        records, problems = _read_ris(text, rel)
    else:
        raise KbError(f"{rel}: unknown reference format {suffix!r}", hint="use .bib (BibTeX/BibLaTeX), .json (CSL-JSON) or .ris")
    for record in records:
        f = record.fields
        if f.get("doi"):
            f["doi"] = normalize_doi(f["doi"])
        if f.get("pmid"):
            f["pmid"] = normalize_pmid(f["pmid"])
        if f.get("pmcid"):
            f["pmcid"] = normalize_pmcid(f["pmcid"])
        problems.extend(_identifier_problems(f, Location(rel, record.line), f"record {record.source_id!r}"))
    return records, problems


def references_of(records: list[Record], keys: list[str], rel: str = "<import>") -> list[Reference]:
    """Reference records for imported records under the given keys (for citation resolution)."""
    text = "\n".join(record_to_bibtex(r, k) for r, k in zip(records, keys))
    _data, refs, _problems = parse_bib_text(text, rel)
    return refs


# --------------------------------------------------------------------------- import into a knowledge base


@dataclass
class ImportResult:
    target: Path
    added: list[tuple[str, str]] = field(default_factory=list)  # (new key, source id)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # (source id, existing key, reason)
    keymap: dict[str, str] = field(default_factory=dict)  # source id -> key in the knowledge base
    problems: list[Diagnostic] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    text: str = ""  # the BibTeX appended


def _existing(references_dir: Path) -> tuple[dict[str, Reference], list[Diagnostic]]:
    existing: dict[str, Reference] = {}
    problems = []
    from .load import bib_paths

    for path in bib_paths(references_dir.parent):
        _data, refs, diags = parse_bib_file(path, f"references/{path.name}")
        problems += [d for d in diags if d.severity is Severity.ERROR]
        for ref in refs:
            existing.setdefault(ref.key, ref)
    return existing, problems


def make_key(record: Record, taken: set[str]) -> str:
    """``<family><year>`` in ASCII lower case; ``a``, ``b``... appended while the key is taken."""
    if record.authors:
        base = fold(record.authors[0].family) or fold(record.authors[0].full_family)
    else:
        base = fold(" ".join(record.fields.get("title", "").split()[:1]))
    base = (base or "ref")[:30] + (record.year or "nd")
    if base.lower() not in taken:
        return base
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if (base + letter).lower() not in taken:
            return base + letter
    number = 2
    while f"{base}-{number}".lower() in taken:
        number += 1
    return f"{base}-{number}"


_KEEPABLE_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_:.+-]{0,63}$")


def import_file(kb_root: str | Path, path: str | Path, *, target: str = "imported.bib", dry_run: bool = False,
                rekey: bool = False) -> ImportResult:
    """Add the references of ``path`` to ``kb_root/references/target``; see the module docstring."""
    references_dir = Path(kb_root) / "references"
    if not references_dir.is_dir():
        raise KbError(f"{str(references_dir)!r} does not exist", hint="run kb init DIR first, or pass --kb DIR")
    records, problems = read_records(path)
    errors = [d for d in problems if d.severity is Severity.ERROR]
    if errors:  # a broken entry reads as a truncated one (fields lost): import nothing rather than that
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        raise KbError(f"{errors[0].message}{more}; nothing was imported", location=errors[0].location,
                      hint=errors[0].hint or "fix the file and import it again")
    existing, bib_errors = _existing(references_dir)
    if bib_errors:
        raise KbError(f"cannot import into a knowledge base whose references have errors: {bib_errors[0]}", hint="run kb check and fix them first")
    result = ImportResult(target=references_dir / target, problems=problems, records=records)
    by_doi: dict[str, str] = {}
    by_title: dict[str, str] = {}
    for key, ref in existing.items():
        if ref.doi:
            by_doi.setdefault(normalize_doi(ref.doi), key)
        if ref.title:
            by_title.setdefault(f"{fold(ref.title)}|{ref.year or ''}", key)
    taken = {k.lower() for k in existing}
    chunks, written = [], []  # the BibTeX of each new record, and the record
    for record in records:
        doi, title_year = record.dedupe_keys()
        if doi and doi in by_doi:
            result.duplicates.append((record.source_id, by_doi[doi], f"same DOI {doi}"))
            result.keymap[record.source_id] = by_doi[doi]
            continue
        if title_year and title_year in by_title:
            result.duplicates.append((record.source_id, by_title[title_year], "same title and year"))
            result.keymap[record.source_id] = by_title[title_year]
            continue
        if not rekey and _KEEPABLE_KEY_RE.match(record.source_id) and record.source_id.lower() not in taken:
            key = record.source_id
        else:
            key = make_key(record, taken)
        taken.add(key.lower())
        if doi:
            by_doi[doi] = key
        if title_year:
            by_title[title_year] = key
        result.added.append((key, record.source_id))
        result.keymap[record.source_id] = key
        chunks.append(record_to_bibtex(record, key))
        written.append(record)
    result.text = "\n".join(chunks)
    if chunks:  # a dry run too: it shows what the import would do, and this import would stop here
        target_path = result.target
        old = ""
        if target_path.exists():
            with open(target_path, encoding="utf-8", newline="") as handle:  # the text as it is: CRLF kept, not rewritten as LF
                old = handle.read()
        eol = line_ending(old)
        if old and not old.endswith("\n"):
            old += eol
        new = old + (("\n" if old else "") + result.text).replace("\r\n", "\n").replace("\n", eol)
        check = parse_bib_text(new, f"references/{target}")[2]
        errors = [d for d in check if d.severity is Severity.ERROR and d.code not in ("bad-doi", "bad-pmid", "bad-pmcid")]
        if errors:
            raise _unwritable(errors[0], path, old, chunks, written)
        if not dry_run:
            write_atomic(target_path, new)
    return result


def _unwritable(error: Diagnostic, path: str | Path, old: str, chunks: list[str], records: list[Record]) -> KbError:
    """The KbError for BibTeX written from ``records`` (one chunk each, appended to ``old``) that does not parse: it names
    the record of the file being imported whose chunk holds the error, not the line of a file that was never written."""
    line = old.count("\n") + (2 if old else 1)  # where the first chunk starts in the text that was checked
    for chunk, record in zip(chunks, records):
        end = line + chunk.count("\n")
        if line <= error.location.line < end:
            where = Location(str(path), record.line) if record.line else Location(str(path))
            return KbError(f"record {record.source_id!r} does not make valid BibTeX ({error.message}, line {error.location.line - line + 1} "
                           f"of its entry) [{error.code}]; nothing was imported", location=where,
                           hint="correct the record in the source file, or add the work by hand")
        line = end + 1  # and the blank line between two entries
    return KbError(f"the imported entries do not parse as BibTeX: {error}; nothing was written")


# --------------------------------------------------------------------------- export


def _csl_item(ref: Reference) -> dict:
    item: dict = {"id": ref.key, "type": _BIB_TO_CSL.get(ref.entry_type, "article")}
    if ref.title:
        item["title"] = ref.title
    authors = []
    for a in ref.authors:
        person = {"family": a.family}
        if a.given:
            person["given"] = a.given
        if a.prefix:
            person["non-dropping-particle"] = a.prefix
        if a.suffix:
            person["suffix"] = a.suffix
        authors.append(person)
    if authors:
        item["author"] = authors
    if ref.year:
        item["issued"] = {"date-parts": [[ref.year]]}
    container = ref.fields.get("journal") or ref.fields.get("journaltitle") or ref.fields.get("booktitle")
    if container:
        item["container-title"] = container
    for name, value in (("volume", ref.volume), ("issue", ref.number), ("page", _hyphen_pages(ref.pages)), ("DOI", ref.doi),
                        ("PMID", ref.pmid), ("PMCID", ref.pmcid), ("URL", ref.url), ("publisher", ref.fields.get("publisher", ""))):
        if value:
            item[name] = value
    return item


def _hyphen_pages(pages: str) -> str:
    """Reference.pages is Unicode ("871–877", from BibTeX "871--877"); CSL and RIS want "871-877"."""
    return pages.replace("--", "-").replace("\u2013", "-")


def export_csl_json(kb: KnowledgeBase) -> str:
    """All references as CSL-JSON (what pandoc's citeproc and Zotero read)."""
    return json.dumps([_csl_item(r) for r in kb.references.values()], ensure_ascii=False, indent=2) + "\n"


def export_bibtex(kb: KnowledgeBase) -> str:
    """All references as one BibTeX file, written by pybtex from the parsed entries."""
    if kb.bibliography is None or not kb.bibliography.entries:
        return ""
    return kb.bibliography.to_string("bibtex")


_RIS_OUT = {"article": "JOUR", "book": "BOOK", "incollection": "CHAP", "inbook": "CHAP", "inproceedings": "CPAPER", "conference": "CPAPER",
            "techreport": "RPRT", "report": "RPRT", "phdthesis": "THES", "mastersthesis": "THES", "thesis": "THES", "online": "ELEC"}


def export_ris(kb: KnowledgeBase) -> str:
    """All references as RIS; the PMID goes to ``AN`` (with ``DB  - PubMed``), the PMCID to ``C2``."""
    out = io.StringIO()
    for ref in kb.references.values():
        out.write(f"TY  - {_RIS_OUT.get(ref.entry_type, 'GEN')}\n")
        out.write(f"ID  - {ref.key}\n")
        for a in ref.authors:
            out.write(f"AU  - {a.full_family}, {a.given}\n" if a.given else f"AU  - {a.full_family}\n")
        for tag, value in (("TI", ref.title), ("T2", ref.journal), ("PY", str(ref.year or "")), ("VL", ref.volume), ("IS", ref.number)):
            if value:
                out.write(f"{tag}  - {value}\n")
        if ref.pages:
            first, _, last = _hyphen_pages(ref.pages).partition("-")
            out.write(f"SP  - {first}\n")
            if last:
                out.write(f"EP  - {last}\n")
        if ref.doi:
            out.write(f"DO  - {ref.doi}\n")
        if ref.pmid:
            out.write(f"AN  - {ref.pmid}\nDB  - PubMed\n")
        if ref.pmcid:
            out.write(f"C2  - {ref.pmcid}\n")
        if ref.url:
            out.write(f"UR  - {ref.url}\n")
        out.write("ER  - \n\n")
    return out.getvalue()

