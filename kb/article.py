"""Articles: Markdown with YAML front matter -> Article records with sections and paragraphs.

The format (see docs/format.md)::

    ---
    title: Wat je nog niet wist over krachttraining!
    publisher: Fysicure Mol
    language: nl
    ---

    ## Pijnvermindering via actief herstel {#pijn}

    Het idee dat rust zonder belasting ...

A heading may carry an explicit id (``{#pijn}``); otherwise its id is a slug of its words.
Text before the first heading belongs to a section with id ``intro``.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import Diagnostic, Location, Severity, did_you_mean
from .model import Article, Section
from .yamlsafe import YamlProblem, parse_yaml

__all__ = ["HEADING_RE", "STRAIGHT_QUOTES", "normalize_text", "parse_article", "read_front_matter", "slugify", "straighten_quotes"]

#: An ATX heading, optionally with an explicit id: ``## Title {#id}`` -> (hashes, title, id or None); kb.extract reads headings with it too.
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{#([a-z0-9][a-z0-9-]*)\})?\s*#*\s*$")
_FRONT_KEYS = {"title", "publisher", "language", "url", "published", "author", "retrieved", "source", "notes", "headings"}


def slugify(text: str) -> str:
    """"Pijnvermindering via actief herstel" -> "pijnvermindering-via-actief-herstel"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80] or "section"


#: Curly quotes and the straight quote each becomes when text is compared for anchoring
#: (normalize_text, and kb.site's anchoring, which must agree with it character for character).
STRAIGHT_QUOTES = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}


def straighten_quotes(text: str) -> str:
    """``text`` with each curly quote replaced by its straight one (STRAIGHT_QUOTES); as long as ``text``."""
    for curly, straight in STRAIGHT_QUOTES.items():  # str.replace: several times faster than str.translate here
        text = text.replace(curly, straight)
    return text


def normalize_text(text: str) -> str:
    """Text compared for anchoring: NFC, straight quotes (STRAIGHT_QUOTES), single spaces."""
    return " ".join(straighten_quotes(unicodedata.normalize("NFC", text)).split())  # split/join: as re.sub(r"\s+", " ").strip(), 3x faster


def read_front_matter(lines: list[str]) -> tuple[dict, dict, int, YamlProblem | None]:
    """(fields, their (line, column) by key path, index of the first line after it, problem) of the YAML front
    matter that opens a text's ``lines`` (``---`` ... ``---`` or ``...``); no front matter: ({}, {}, 0, None).
    Line numbers are the file's. The problem (fields then empty) is one of: never closed or never opened (the
    text is then all body), not YAML, not a mapping. kb check (``parse_article``) and kb extract both read front matter with it."""
    if not lines or lines[0].strip() != "---":
        return {}, {}, 0, _unopened(lines)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        return {}, {}, 0, YamlProblem("article-front-matter", "front matter opened with '---' is never closed", 1, 1)
    try:  # an empty first line for the opening '---': every line number, in messages too, is the file's
        data, positions = parse_yaml("\n" + "\n".join(lines[1:end]))
    except YamlProblem as problem:
        return {}, {}, end + 1, problem
    if data is not None and not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"the value {data!r}"
        first = next((i + 1 for i in range(1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")), 2)
        return {}, {}, end + 1, YamlProblem("wrong-type", f"front matter must be a mapping (key: value lines), found {found}", first, 1,
                                            "write one field a line, such as 'title: ...', between the '---' lines")
    return data or {}, positions, end + 1, None


#: A line of front matter as an article's first line: ``title: ...`` (a field kb knows: _FRONT_KEYS).
_FIELD_LINE_RE = re.compile(r"^([a-z]+):(?:\s|$)")


def _unopened(lines: list[str]) -> YamlProblem | None:
    """The problem of front matter written without its opening ``---``: the first line a field kb knows
    (``title: ...``), then only such ``key: value`` lines (or indented ones, or blank ones) up to a line
    ``---``. The text stays all body, as before, but kb says why the title and language went missing
    (the fields were shown as the article's first paragraph, and the headings of another language lost)."""
    first = _FIELD_LINE_RE.match(lines[0]) if lines else None
    if first is None or first.group(1) not in _FRONT_KEYS:
        return None
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            return YamlProblem("article-front-matter", "front matter without its opening '---'", 1, 1,
                               "add a line '---' above it")
        if line.strip() and not line[0].isspace() and not _FIELD_LINE_RE.match(line):
            return None  # text: an article that happens to start with "title: ..."
    return None


def parse_article(text: str, rel: str, article_id: str) -> tuple[Article, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    lines = text.splitlines()
    meta, positions, body_start, problem = read_front_matter(lines)
    if problem is not None:
        diagnostics.append(Diagnostic(Severity.ERROR, problem.code, problem.message, Location(rel, problem.line, problem.column), problem.hint))
    for key in list(meta):
        line, column = positions.get((key,), (0, 1))
        if key not in _FRONT_KEYS:
            diagnostics.append(Diagnostic(Severity.WARNING, "unknown-field", f"unknown front-matter field {key!r}", Location(rel, line, column),
                                          did_you_mean(str(key), _FRONT_KEYS) or f"expected one of: {', '.join(sorted(_FRONT_KEYS))}"))
        elif key != "headings" and isinstance(meta[key], (list, dict)):  # shown on pages as text: never a Python list
            kind = "a list" if isinstance(meta[key], list) else "a mapping"
            diagnostics.append(Diagnostic(Severity.ERROR, "wrong-type", f"expected text for front-matter field {key!r}, found {kind}",
                                          Location(rel, line, column), "write one value, in quotes if it holds a ':'"))
            del meta[key]

    sections: list[Section] = []
    current = {"id": "intro", "title": "", "level": 1, "line": body_start + 1, "paragraphs": []}
    paragraph: list[str] = []
    seen_ids: set[str] = set()

    def flush_paragraph():
        if paragraph:
            current["paragraphs"].append(" ".join(s.strip() for s in paragraph))
            paragraph.clear()

    def flush_section():
        flush_paragraph()
        if current["paragraphs"] or current["title"]:
            sections.append(Section(current["id"], current["title"], current["level"], current["line"], tuple(current["paragraphs"])))

    for number, line in enumerate(lines[body_start:], start=body_start + 1):
        match = HEADING_RE.match(line)
        if match:
            flush_section()
            title = match.group(2)
            section_id = match.group(3) or slugify(title)
            if section_id in seen_ids:
                diagnostics.append(Diagnostic(Severity.ERROR, "duplicate-section", f"section id {section_id!r} is used twice", Location(rel, number, 1),
                                              "give the heading an explicit id: ## Heading {#other-id}"))
            seen_ids.add(section_id)
            current = {"id": section_id, "title": title, "level": len(match.group(1)), "line": number, "paragraphs": []}
        elif line.strip():
            paragraph.append(line)
        else:
            flush_paragraph()
    flush_section()

    def meta_text(key: str) -> str:
        value = meta.get(key, "")
        return "" if value is None else str(value)

    article = Article(
        id=article_id,
        title=meta_text("title") or (sections[0].title if sections else article_id),
        language=meta_text("language") or "nl",
        sections=tuple(sections),
        publisher=meta_text("publisher"),
        url=meta_text("url"),
        published=meta_text("published"),
        author=meta_text("author"),
        meta=meta,
        location=Location(rel, 1),
    )
    return article, diagnostics
