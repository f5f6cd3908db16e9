"""From an article (Markdown or plain text) and its bibliography to draft claims (``kb extract``).

The stages, each a plain function:

    read_source(text, name)       -> SourceArticle   (title, language, sections, paragraphs with lines)
    extract(article, resolver)    -> Extraction      (statements, citations, problems)
    render_article(article)       -> str             (articles/<id>.md in kb's article format)
    claim_document(statement,...) -> str             (one draft claim file)

The rules (headings in plain text, which sentence a citation covers, what the claim text is) are
documented in docs/extract.md; the short version:

* plain text: one line is one paragraph, unless the file is hard-wrapped (it has blank lines and
  nine in ten lines are at most 100 characters), then blank lines separate paragraphs. The first
  line is the title when it is short; any other paragraph that is a single line of at most 12 words,
  starts with a capital or digit, has no final punctuation (. ! ? , ; : …) and is followed by a
  paragraph that is not such a line itself, is a heading;
* a citation marker covers the sentence it stands in; a sentence that is nothing but a marker
  (written after the full stop) covers the sentence before it;
* the claim text is the sentence verbatim, minus the marker(s) that end it; markers inside the
  sentence (narrative ones, or parenthetical ones followed by more text) stay, so that the text is
  found verbatim in the article;
* a section whose heading names a reference list (References, Literatuur, Bronnen...) gives the
  numbered list for ``[1]`` markers and no statements.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .article import HEADING_RE, read_front_matter, slugify
from .citations import Marker, Resolution, Resolver, find_markers, parse_numbered_entry
from .errors import Diagnostic, KbError, Location, NotUtf8, Severity, decode_utf8
from .segment import split_sentences
from .yamlsafe import YamlProblem, parse_yaml

__all__ = [
    "Extraction",
    "Paragraph",
    "SourceArticle",
    "SourceSection",
    "Statement",
    "claim_document",
    "detect_language",
    "extract",
    "render_article",
    "read_source",
]

_REFERENCE_HEADINGS = re.compile(
    r"^(?:references?|reference list|bibliography|works cited|literature(?: cited)?|sources|"
    r"literatuur(?:lijst)?|referenties|bronnen(?:lijst)?|bronvermelding|geraadpleegde literatuur)\s*:?$",
    re.IGNORECASE,
)
_FINAL_PUNCT = tuple(".!?,;:…")
_LIST_ITEM_RE = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+")
_FRONT_KEYS = ("title", "publisher", "language", "url", "published", "author", "retrieved", "source", "notes")
_NL_WORDS = {"de", "het", "een", "en", "van", "is", "dat", "niet", "zijn", "met", "voor", "op", "bij", "ook", "je", "die", "wordt", "naar", "aan", "om"}
_EN_WORDS = {"the", "and", "of", "to", "is", "that", "with", "for", "in", "are", "not", "by", "on", "was", "were", "this", "as", "be", "or", "from"}


@dataclass(frozen=True)
class Paragraph:
    text: str
    line: int
    #: (offset in text, source line) for each source line joined into this paragraph
    lines: tuple[tuple[int, int], ...] = ()
    bullet: str = ""  # "- " for a Markdown list item, written back in front of the text

    def line_at(self, offset: int) -> int:
        line = self.line
        for start, number in self.lines:
            if start <= offset:
                line = number
        return line


@dataclass(frozen=True)
class SourceSection:
    id: str
    title: str
    level: int
    line: int
    paragraphs: tuple[Paragraph, ...]
    is_references: bool = False


@dataclass(frozen=True)
class SourceArticle:
    id: str
    title: str
    language: str
    sections: tuple[SourceSection, ...]
    meta: dict = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Statement:
    section: str
    text: str  # the claim text: verbatim, without the marker(s) that end the sentence
    sentence: str  # the whole sentence
    line: int
    markers: tuple[Marker, ...] = ()
    resolutions: tuple[Resolution, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        seen: list[str] = []
        for r in self.resolutions:
            if r.key and r.key not in seen:
                seen.append(r.key)
        return tuple(seen)


@dataclass
class Extraction:
    article: SourceArticle
    statements: list[Statement]
    problems: list[Diagnostic]
    #: "path:line: label -> key: how" for citations resolved by a rule worth checking (citedas, year suffix)
    notes: list[str] = field(default_factory=list)

    @property
    def resolutions(self) -> list[Resolution]:
        return [r for s in self.statements for r in s.resolutions]

    def counts(self) -> dict[str, int]:
        resolutions = self.resolutions
        return {
            "statements": len(self.statements),
            "cited": sum(bool(s.markers) for s in self.statements),
            "citations": len(resolutions),
            "resolved": sum(r.status == "resolved" for r in resolutions),
            "unresolved": sum(r.status != "resolved" for r in resolutions),
        }


# --------------------------------------------------------------------------- reading


def detect_language(text: str) -> str:
    """"nl" or "en", by counting frequent function words."""
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    nl = sum(w in _NL_WORDS for w in words)
    en = sum(w in _EN_WORDS for w in words)
    return "nl" if nl > en else "en"


def _heading_like(line: str, max_words: int = 12) -> bool:
    line = line.strip()
    if not line or len(line) > 100 or len(line.split()) > max_words:
        return False
    if not (line[0].isupper() or line[0].isdigit()):
        return False
    if line.endswith(_FINAL_PUNCT) or find_markers(line):
        return False
    return True


def read_source(text: str, name: str, *, fmt: str | None = None, lang: str | None = None, article_id: str | None = None,
                where: str | None = None) -> SourceArticle:
    """Parse an article file's text. ``fmt`` is "markdown" or "text" (default: from the name's suffix).
    Front matter that is not valid YAML, or not a mapping, is a KbError at its line in ``where`` (default: ``name``)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if fmt is None:
        suffix = Path(name).suffix.lower()
        fmt = "markdown" if suffix in (".md", ".markdown", ".mdown") else "text"
    article_id = article_id or slugify(Path(name).stem)
    if fmt == "markdown":
        title, meta, raw_sections = _read_markdown(text, where or name)
    else:
        title, meta, raw_sections = _read_plain(text)
    language = lang or str(meta.get("language") or "") or detect_language(text)
    if language not in ("nl", "en"):
        language = detect_language(text)
    sections = _finish_sections(raw_sections)
    return SourceArticle(article_id, title or article_id, language, tuple(sections), meta, Path(name).name)


def _finish_sections(raw_sections: list[dict]) -> list[SourceSection]:
    sections = []
    used: set[str] = set()
    for raw in raw_sections:
        if not raw["paragraphs"] and not raw["title"]:
            continue
        base = raw.get("id") or ("intro" if not raw["title"] else slugify(raw["title"]))
        section_id, number = base, 2
        while section_id in used:
            section_id, number = f"{base}-{number}", number + 1
        used.add(section_id)
        sections.append(SourceSection(section_id, raw["title"], raw["level"], raw["line"], tuple(raw["paragraphs"]),
                                      bool(raw["title"] and _REFERENCE_HEADINGS.match(raw["title"].strip()))))
    return sections


def _join(lines: list[tuple[int, str]]) -> Paragraph:
    parts, offsets, position = [], [], 0
    for number, line in lines:
        piece = line.strip()
        offsets.append((position, number))
        parts.append(piece)
        position += len(piece) + 1
    return Paragraph(" ".join(parts), lines[0][0], tuple(offsets))


def _read_plain(text: str) -> tuple[str, dict, list[dict]]:
    lines = text.split("\n")
    numbered = [(i + 1, line) for i, line in enumerate(lines)]
    nonblank = [(n, l) for n, l in numbered if l.strip()]
    if not nonblank:
        return "", {}, []
    short = sum(len(l.strip()) <= 100 for _, l in nonblank)
    wrapped = any(not l.strip() for _, l in numbered[nonblank[0][0]:nonblank[-1][0]]) and short >= 0.9 * len(nonblank)
    # blocks: lists of (line number, text)
    blocks: list[list[tuple[int, str]]] = []
    if wrapped:
        current: list[tuple[int, str]] = []
        for n, l in numbered:
            if l.strip():
                current.append((n, l))
            elif current:
                blocks.append(current)
                current = []
        if current:
            blocks.append(current)
    else:
        blocks = [[(n, l)] for n, l in nonblank]

    title = ""
    first_block = blocks[0]
    head = first_block[0][1].strip()
    if (len(blocks) > 1 or len(first_block) > 1) and len(head) <= 120 and len(head.split()) <= 15 \
            and not head.endswith((".", ",", ";", ":")) and not find_markers(head):
        title = head
        rest = first_block[1:]
        blocks = ([rest] if rest else []) + blocks[1:]
    sections = [{"title": "", "level": 2, "line": 1, "paragraphs": []}]
    def heading_block(block: list[tuple[int, str]]) -> bool:
        return len(block) == 1 and _heading_like(block[0][1])

    for index, block in enumerate(blocks):
        following = blocks[index + 1] if index + 1 < len(blocks) else []
        if heading_block(block) and following and not heading_block(following):
            sections.append({"title": block[0][1].strip(), "level": 2, "line": block[0][0], "paragraphs": []})
            continue
        if sections[-1]["title"] and _REFERENCE_HEADINGS.match(sections[-1]["title"]):
            sections[-1]["paragraphs"].extend(_split_numbered(block))
        else:
            sections[-1]["paragraphs"].append(_join(block))
    return title, {}, sections


def _split_numbered(block: list[tuple[int, str]]) -> list[Paragraph]:
    """A reference-list block: one paragraph per numbered entry (continuation lines joined)."""
    entries: list[list[tuple[int, str]]] = []
    for n, l in block:
        if parse_numbered_entry(l) or not entries:
            entries.append([(n, l)])
        else:
            entries[-1].append((n, l))
    return [_join(e) for e in entries]


def _read_markdown(text: str, where: str) -> tuple[str, dict, list[dict]]:
    lines = text.split("\n")
    data, _, start, problem = read_front_matter(lines)  # as kb check reads it
    if problem is not None:  # dropping it would lose the title, language, url ... without a word
        message = problem.message if problem.message.startswith("front matter") else f"front matter: {problem.message}"
        raise KbError(message, location=Location(where, problem.line, problem.column),
                      hint=problem.hint or ("end it with a line '---', or remove the first one" if problem.code == "article-front-matter"
                                            else "correct the YAML between the '---' lines, or remove them"))
    meta = {k: v for k, v in data.items() if k in _FRONT_KEYS and isinstance(v, (str, int, float))}
    title = str(meta.get("title", ""))
    sections = [{"title": "", "level": 2, "line": start + 1, "paragraphs": []}]
    block: list[tuple[int, str]] = []
    bullet = ""
    in_fence = False

    def flush():
        nonlocal block, bullet
        if block:
            if sections[-1]["title"] and _REFERENCE_HEADINGS.match(sections[-1]["title"]):
                sections[-1]["paragraphs"].extend(_split_numbered(block))
            else:
                paragraph = _join(block)
                sections[-1]["paragraphs"].append(Paragraph(paragraph.text, paragraph.line, paragraph.lines, bullet))
        block, bullet = [], ""

    h1_seen = 0
    for number, line in enumerate(lines[start:], start=start + 1):
        if line.strip().startswith("```"):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        match = HEADING_RE.match(line)
        if match and not match.group(2).strip():  # "# " alone: no heading to start a section with, a paragraph break
            flush()
            continue
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip()
            if level == 1 and not title and not h1_seen and not any(s["paragraphs"] for s in sections):
                title, h1_seen = heading, 1
                continue
            sections.append({"title": heading, "level": max(level, 2), "line": number, "paragraphs": [], "id": match.group(3)})
            continue
        if not line.strip():
            flush()
            continue
        item = _LIST_ITEM_RE.match(line)
        if item and not (sections[-1]["title"] and _REFERENCE_HEADINGS.match(sections[-1]["title"])):
            flush()
            bullet = "- "
            block = [(number, line[item.end():])]
            continue
        block.append((number, line.lstrip("> ") if line.startswith(">") else line))
    flush()
    return title, meta, sections


# --------------------------------------------------------------------------- extraction


def _trailing_cut(sentence: str, markers: list[Marker]) -> int:
    """Offset where the claim text ends: before the parenthetical/numeric markers that end the sentence."""
    cut = len(sentence)
    tail = sentence.rstrip()
    tail = tail.rstrip(".!?…\"'”’ ")
    for marker in sorted(markers, key=lambda m: m.start, reverse=True):
        if marker.kind == "narrative":
            break
        between = sentence[marker.end:len(tail)] if marker.end <= len(tail) else ""
        if marker.end >= len(tail) or not between.strip(" ,;"):
            cut = marker.start
            tail = sentence[:marker.start].rstrip()
        else:
            break
    return cut


def extract(article: SourceArticle, resolver: Resolver, *, where: str | None = None) -> Extraction:
    """Split the article into statements and resolve their citations (nothing is written).
    ``where`` names the article file in diagnostics (default: its file name)."""
    statements: list[Statement] = []
    problems: list[Diagnostic] = []
    notes: list[str] = []
    noted: set[str] = set()
    where = where or article.source or article.id
    warned: set[tuple[str, str, int]] = set()  # a marker written again on the same line: one warning, as one note

    def warn(code: str, message: str, at: int, hint: str | None = None) -> None:
        if (code, message, at) not in warned:
            warned.add((code, message, at))
            problems.append(Diagnostic(Severity.WARNING, code, message, Location(where, at), hint))

    for section in article.sections:
        if section.is_references:
            continue
        for paragraph in section.paragraphs:
            for sentence in split_sentences(paragraph.text, article.language):
                markers = find_markers(sentence.text)
                line = paragraph.line_at(sentence.start)
                resolutions: list[Resolution] = []
                for marker in markers:
                    marker_line = paragraph.line_at(sentence.start + marker.start)
                    for problem in marker.problems:
                        resolutions.append(Resolution(marker.raw, "unresolved", (), problem))
                    results = [resolver.resolve(c) for c in marker.cites] + [resolver.resolve_number(n) for n in marker.numbers]
                    resolutions += results
                    for problem in marker.problems:
                        warn("unresolved-citation", f"unresolved citation {marker.raw!r}: {problem}", marker_line)
                    for result in results:
                        note = f"{where}:{marker_line}: {result.label!r} -> {result.key}: {result.note}" if result.note else ""
                        if result.status == "resolved" and note and note not in noted:  # the same marker again on that line: one note
                            noted.add(note)
                            notes.append(note)
                        if result.status == "ambiguous":
                            warn("ambiguous-citation", f"ambiguous citation {result.label!r}: {result.note}", marker_line,
                                 "add a year suffix (2019a) or a citedas field to the intended entry")
                        elif result.status == "unresolved":
                            warn("unresolved-citation", f"unresolved citation {result.label!r}: {result.note}", marker_line,
                                 "add the work to the bibliography, or fix the marker")
                text = sentence.text
                only_marker = markers and not re.sub(r"[\s.,;:!?]", "", text[:markers[0].start] + text[markers[-1].end:])
                if only_marker and statements and statements[-1].section == section.id:
                    previous = statements[-1]
                    statements[-1] = Statement(previous.section, previous.text, previous.sentence, previous.line,
                                               previous.markers + tuple(markers), previous.resolutions + tuple(resolutions))
                    continue
                cut = _trailing_cut(text, markers)
                claim_text = text[:cut].rstrip(" ,;:")
                if len(claim_text.split()) < 3:
                    continue
                statements.append(Statement(section.id, claim_text, text, line, tuple(markers), tuple(resolutions)))
    return Extraction(article, statements, problems, notes)


# --------------------------------------------------------------------------- writing


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def render_article(article: SourceArticle) -> str:
    """The article in kb's format (see kb/article.py): front matter, headings with ids, one paragraph a line."""
    out = ["---", f"title: {_q(article.title)}", f"language: {article.language}"]
    for key in _FRONT_KEYS:
        if key in ("title", "language"):
            continue
        if key in article.meta:
            out.append(f"{key}: {_q(str(article.meta[key]))}")
        elif key == "source" and article.source:
            out.append(f"source: {_q(article.source + ' (copied by kb extract)')}")
    out.append("---")
    for section in article.sections:
        out.append("")
        if section.title:
            out.append(f"{'#' * section.level} {section.title} {{#{section.id}}}")
            out.append("")
        # a paragraph that starts with "#" gets one leading space, so that it is not read back as a heading
        out.append("\n\n".join((" " if (p.bullet + p.text).startswith("#") else "") + p.bullet + p.text
                                for p in section.paragraphs) if section.paragraphs else "")
        if not section.paragraphs:
            out.pop()
    return "\n".join(out).rstrip() + "\n"


def claim_id_for(statement: Statement, taken: set[str]) -> str:
    words = [w for w in slugify(statement.text).split("-") if w]
    base = "-".join(words[:7])[:60].strip("-") or statement.section
    if not re.match(r"^[a-z0-9]", base):
        base = "c-" + base
    candidate, number = base, 2
    while candidate in taken or candidate == "index":  # "index": the claims index's page (schema/claim.schema.json)
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def claim_document(statement: Statement, claim_id: str, article: SourceArticle, source_name: str, schema_comment: str = "") -> str:
    """One draft claim file (YAML) for a statement."""
    text_en = statement.text if article.language == "en" else f"[translate] {statement.text}"
    keys = statement.keys
    once = {(r.label, r.key, r.note, r.status): r for r in statement.resolutions}.values()  # a marker written twice: noted once
    unresolved = [r for r in once if r.status != "resolved"]
    lines = []
    if schema_comment:
        lines.append(schema_comment)
    lines += [
        f"id: {claim_id}",
        f"article: {article.id}",
        f"section: {statement.section}",
        "kind: empirical-finding",
        "text:",
        f"  nl: {_q(statement.text)}",
        f"  en: {_q(text_en)}",
        "derived_from: []",
    ]
    if keys:
        lines.append("evidence:")
        for key in keys:
            lines += [f"  - ref: {key}", "    relation: supports", "    cited_in_article: true", "    certainty: not-graded",
                      '    found: ""']
    else:
        lines.append("evidence: []")
    markers = "; ".join(m.raw for m in statement.markers)
    if not statement.markers:
        verdict, reason = "uncited", "the article cites no source for this statement"
    elif keys:
        verdict, reason = "supported", f"draft: the article cites {markers}; not yet checked against the source"
    else:
        verdict, reason = "unsupported", f"draft: the article cites {markers}, which was not found in the bibliography"
    lines += [f"verdict: {verdict}", f"verdict_reason: {_q(reason)}", "status: draft"]
    note = f"drafted by kb extract from {source_name} line {statement.line}"
    if unresolved:
        note += "; unresolved: " + "; ".join(f"{r.label} ({r.note})" for r in unresolved)
    by_rule = [r for r in once if r.status == "resolved" and r.note]
    if by_rule:
        note += "; check: " + "; ".join(f"{r.label} -> {r.key} ({r.note})" for r in by_rule)
    if article.language != "en":
        note += "; text.en needs a translation"
    lines.append(f"notes: {_q(note)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the whole command


@dataclass
class ExtractResult:
    extraction: Extraction
    article_path: Path
    article_written: bool
    claims_written: list[Path]
    already_present: int  # statements an existing claim of the same article already holds
    imported: "object"  # kb.importers.ImportResult


def _existing_claims(claims_dir: Path) -> tuple[set[str], set[tuple[str, str]]]:
    ids: set[str] = set()
    texts: set[tuple[str, str]] = set()
    if not claims_dir.is_dir():
        return ids, texts
    for path in claims_dir.rglob("*.y*ml"):
        ids.add(path.stem)
        try:
            data, _ = parse_yaml(path.read_text(encoding="utf-8-sig"))
        except (YamlProblem, OSError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("text"), dict):
            texts.add((str(data.get("article", "")), " ".join(str(data["text"].get("nl", "")).split())))
    return ids, texts


def _check_writable(folder: Path) -> None:
    """KbError unless a file can be made in ``folder`` (tried, not guessed from its mode: root, ACLs and read-only
    file systems decide otherwise). The probe (``.kb-extract.*.tmp``) is removed at once; only a process killed
    between making and removing it leaves one behind, which kb never reads (a hidden file)."""
    import os
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".kb-extract.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise KbError(f"cannot write in the folder {str(folder)!r}: {exc.strerror or exc}; nothing was written",
                      hint="make it writable, or name a folder you can write to with -o (or --kb)") from None
    os.close(fd)
    os.unlink(probe)


class _Undo:
    """The files ``run_extract`` writes, with what each held before (None: it was not there), to put back when a later
    write fails: the command writes all of its parts or none."""

    def __init__(self) -> None:
        self.before: dict[Path, bytes | None] = {}
        self.folders: list[Path] = []  # made by the command, removed again (when empty) after the files

    def keep(self, path: Path) -> None:
        if path not in self.before:
            try:
                self.before[path] = path.read_bytes()
            except FileNotFoundError:
                self.before[path] = None
            except OSError:  # it cannot be read: nor written (the write reports it), nothing to put back
                pass

    def run(self) -> list[Path]:
        """Put every file back; returns those that could not be (left as the command wrote them)."""
        from .output import write_atomic

        left = []
        for path, old in reversed(self.before.items()):
            try:
                if old is None:
                    path.unlink(missing_ok=True)
                elif path.read_bytes() != old:
                    write_atomic(path, old)
            except (OSError, KbError):
                left.append(path)
        for folder in reversed(self.folders):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: it holds files of someone else's
        return left


def run_extract(article_path: str | Path, bib_paths: list[str | Path], kb_dir: str | Path, *, lang: str | None = None,
                article_id: str | None = None, fmt: str | None = None, dry_run: bool = False) -> ExtractResult:
    """Read the article and bibliography, import the references into ``kb_dir``, write the article
    copy and one draft claim per new statement. Existing files are never overwritten."""
    from .citations import Resolver
    from .importers import import_file, references_of
    from .output import read_user_text, write_atomic

    article_path, kb = Path(article_path), Path(kb_dir)
    if article_id:
        from .schema import load_schema

        pattern = load_schema("claim")["properties"]["article"]["pattern"]  # claims name their article by this id
        if not re.search(pattern, article_id) or "\n" in article_id:  # (Python's $ also matches before a final newline)
            raise KbError(f"--id {article_id!r} is not a valid article id",
                          hint="use lower-case letters, digits and hyphens (at most 80), such as krachttraining")
    source_text = read_user_text(article_path, shown=repr(str(article_path)), what="article")
    article = read_source(source_text, article_path.name, fmt=fmt, lang=lang, article_id=article_id, where=str(article_path))
    for bib in bib_paths:  # every file there before any folder is made: a mistyped name leaves nothing behind
        read_user_text(bib, shown=repr(str(bib)), what="bibliography")
    article_file = kb / "articles" / f"{article.id}.md"
    article_text = render_article(article)
    if article_file.exists():  # before anything is written: the references would be imported for nothing
        try:
            existing = decode_utf8(article_file.read_bytes())[0].replace("\r\n", "\n").replace("\r", "\n")  # as read_text reads it
        except OSError as exc:
            raise KbError(f"{str(article_file)!r} already exists and cannot be read ({exc.strerror}); nothing was written",
                          hint="pass --id NEW_ID to store this article under another id") from None
        except NotUtf8 as exc:  # at its line and column, as kb check would say
            raise KbError(f"already exists and cannot be read ({exc.message}); nothing was written", hint="pass --id NEW_ID to store "
                          "this article under another id", location=Location(str(article_file), exc.line, exc.column)) from None
        if existing != article_text:
            raise KbError(f"{str(article_file)!r} already exists with other text; nothing was written",
                          hint="pass --id NEW_ID to store this article under another id")
    undo = _Undo()
    if not dry_run:
        try:
            for folder in ("claims", "references", "articles"):
                path = kb / folder
                if path.is_dir():
                    continue
                made = [d for d in (kb, path) if not d.exists() and d not in undo.folders]
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise KbError(f"cannot make the folder {str(path)!r}: {exc.strerror or exc}",
                                  hint="name a folder you can write to with -o (or --kb)") from None
                undo.folders += made
            for folder in ("claims", "references", "articles"):  # each part can be written, before any is
                _check_writable(kb / folder)
        except KbError:
            undo.run()  # the folders it made, empty
            raise
    elif not (kb / "references").is_dir():
        raise KbError(f"{str(kb)!r} is not a knowledge base (no references/ folder)", hint="run kb init DIR first, or drop --dry-run")

    try:
        references = []
        imported = None
        for bib in bib_paths:
            bib = Path(bib)
            target = f"{slugify(bib.stem) or 'imported'}.bib"
            if not dry_run:
                undo.keep(kb / "references" / target)
            result = import_file(kb, bib, target=target, dry_run=dry_run)
            imported = imported or result
            if imported is not result:
                imported.added += result.added
                imported.duplicates += result.duplicates
                imported.problems += result.problems
            temp_keys = [f"rec{i}x{len(references)}" for i in range(len(result.records))]
            refs = references_of(result.records, temp_keys, str(bib))
            rename = {t: result.keymap[r.source_id] for t, r in zip(temp_keys, result.records) if r.source_id in result.keymap}
            from dataclasses import replace
            references += [replace(ref, key=rename.get(ref.key, ref.key)) for ref in refs]

        numbered = {}
        for section in article.sections:
            if section.is_references:
                for paragraph in section.paragraphs:
                    entry = parse_numbered_entry(paragraph.text)
                    if entry:
                        numbered[entry[0]] = entry[1]
        extraction = extract(article, Resolver(references, numbered), where=str(article_path))

        article_written = False
        if not article_file.exists() and not dry_run:
            undo.keep(article_file)
            write_atomic(article_file, article_text, force=False)
            article_written = True

        ids, texts = _existing_claims(kb / "claims")
        schema = kb / "schema" / "claim.schema.json"
        comment = "# yaml-language-server: $schema=../schema/claim.schema.json" if schema.exists() else ""
        written, present = [], 0
        for statement in extraction.statements:
            if (article.id, " ".join(statement.text.split())) in texts:
                present += 1
                continue
            claim_id = claim_id_for(statement, ids)
            path = kb / "claims" / f"{claim_id}.yaml"
            if not dry_run:
                undo.keep(path)
                write_atomic(path, claim_document(statement, claim_id, article, article_path.name, comment), force=False)
            written.append(path)
    except BaseException as exc:  # a part that could not be written after all (a full disk), or Ctrl-C: take back the parts that were
        left = undo.run()
        if isinstance(exc, KbError) and "nothing was" not in exc.message:
            exc.message += ("; nothing was written" if not left else
                            "; these could not be put back as they were: " + ", ".join(repr(str(path)) for path in left))
        raise
    return ExtractResult(extraction, article_file, article_written, written, present, imported)
