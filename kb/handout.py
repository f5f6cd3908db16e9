"""Standalone documents: patient handouts (``kb render handout``), the annotated article as one
file (``kb render article``), and the environment both share with the audit (``kb render audit``).

A handout is built from claims (``build_handout``), then rendered by a template:

- ``html``: templates/handout.html.j2, one self-contained A4-ready page (also the source of ``pdf``);
- ``md``: templates/handout.md.j2, Markdown with numbered (or author-date) citations and the
  bibliography formatted by the chosen pybtex style;
- ``pandoc``: templates/handout.pandoc.md.j2, Markdown with ``[@key]`` citations, front matter with
  ``bibliography:``, and the cited entries written to a .bib next to it (``write_handout``);
- ``pdf``: the HTML through WeasyPrint (optional extra ``kb[pdf]``).

Which claims go in (documented in docs/handouts.md): a claim is included when it has supporting
evidence (directly or through the claims it summarises; kb.graph.why) from a reference that is not
retracted, and its verdict is not ``unsupported``. Claims the reviewer judged overstated or source-misdescribed are hedged
with a sentence saying the sources are less definite, unless the claim has its own ``plain`` wording in that language
(written to match the evidence; the strong-wording check still applies to it); claims whose best evidence is of low or very
low certainty are hedged as limited evidence, and those whose best evidence is not graded say that its certainty
was not rated. Every other claim is left out and listed in
``Handout.left_out`` (the CLI prints them), never shown to patients unhedged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from . import graph as kbgraph
from .cite import CitedEntry, cited_bibliography, get_style, in_text, in_text_parts, is_author_year
from .errors import ConfigError, ExportError, KbError, did_you_mean
from .model import LOW_CERTAINTIES, KnowledgeBase
from .output import write_atomic
from .render import make_env, md_escape, read_asset, render_template, sanitize_html, template_dirs, ui_words

__all__ = [
    "FORMATS",
    "bib_path_for",
    "build_article_view",
    "render_article",
    "cited_keys_in",
    "html_to_pdf",
    "pandoc_bib",
    "Handout",
    "HandoutCitePart",
    "HandoutItem",
    "HandoutSection",
    "build_handout",
    "document_env",
    "md_escape",
    "patient_sentence",
    "render_built_handout",
    "render_handout",
    "select_claims",
    "standalone_context",
    "write_pandoc_bib",
]

FORMATS = ("html", "md", "pandoc", "pdf")
#: Fields kept in the .bib written next to a pandoc handout (our review fields stay behind).
PANDOC_BIB_FIELDS = frozenset("""author editor title journal journaltitle shortjournal booktitle year date month volume number issue
pages eid doi pmid pmcid url urldate publisher address location edition institution school organization series chapter
isbn issn howpublished type""".split())
_MARKER = re.compile(r"\s*\((?=[^()]*\b(?:19|20)\d\d[a-z]?\b)[^()]*\)")


# --------------------------------------------------------------------------------------------
# Shared by every standalone document (handouts, article, audit)


def document_env(kb: KnowledgeBase, templates: str | None = None):
    """The Jinja environment for documents: the site's search path (overrides included) plus an
    ``md`` filter that escapes Markdown."""
    env = make_env(template_dirs(kb.root, templates))
    env.filters["md"] = md_escape
    return env


def standalone_context(kb: KnowledgeBase, env, lang: str, *, page: str) -> dict[str, Any]:
    """What base.html.j2 needs, for a page that stands alone: the site's common context, plus
    ``standalone`` (no site navigation, no external files) and ``inline_css`` (the site's stylesheet)."""
    from .site import common_context

    context = common_context(kb, page, lang, False)
    css = read_asset(env, "assets/site.css").replace("</", "<\\/")
    return {**context, "standalone": True, "inline_css": css}


# --------------------------------------------------------------------------------------------
# Handouts


class HandoutCitePart(NamedTuple):
    """One piece of a statement's in-text citation (kb.cite.in_text_parts): its ``text`` as shown and
    its ``kind`` ("open", "label", "separator", "range", "close"); a label also names its source: the
    reference ``key`` and ``index``, its place in the handout's bibliography (1-based, the anchor
    ``ref-{index}`` of the HTML handout). Both are None for the rest."""

    text: str
    kind: str
    key: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class HandoutItem:
    claim_id: str
    #: The patient-friendly sentence (claim.plain_text), without the article's own citation markers.
    text: str
    #: Supporting references, in the order the handout cites them.
    keys: tuple[str, ...]
    #: The in-text citation: "[1, 2]" or "(Geneen et al., 2017)"; the label of each key.
    citation: str
    labels: tuple[str, ...]
    #: "", "overstated" (the sources are less definite), "limited" (low-certainty evidence) or "ungraded" (not rated).
    hedge: str
    certainty: str
    verdict: str
    #: The same citation in pieces, each source shown with its key and bibliography index: their
    #: texts joined are ``citation``.
    citation_parts: tuple[HandoutCitePart, ...] = ()


@dataclass(frozen=True)
class HandoutSection:
    id: str
    title: str
    items: tuple[HandoutItem, ...]


@dataclass(frozen=True)
class Handout:
    title: str
    lang: str
    style: str
    #: "numeric" or "author-year" (from the style).
    in_text: str
    article_title: str
    publisher: str
    sections: tuple[HandoutSection, ...]
    bibliography: tuple[CitedEntry, ...]
    #: (claim id, reason) for every selected claim that was left out.
    left_out: tuple[tuple[str, str], ...] = ()
    #: Included claims with no ``plain`` wording in this language (their article text is used).
    no_plain: tuple[str, ...] = ()
    words: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def cited_keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.bibliography)

    @property
    def intro(self) -> str:
        """The handout's opening words, how its citations read (interface words ``handout.intro_<intro>``):
        "author_year", "labels" (labels that are not all numbers, as alpha's [GMC+17]) or "numeric"."""
        if self.in_text == "author-year":
            return "author_year"
        return "labels" if self.bibliography and not "".join(e.label for e in self.bibliography).isdigit() else "numeric"


def select_claims(kb: KnowledgeBase, spec: str | None) -> list[str]:
    """Claim ids chosen by ``spec``: comma-separated claim ids and/or tags (all claims if empty),
    in article order. An item that is neither is a KbError with a did-you-mean hint."""
    if not spec:
        return list(kb.claims)
    tags = {t for c in kb.claims.values() for t in c.tags}
    chosen: set[str] = set()
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in kb.claims:
            chosen.add(item)
        elif item in tags:
            chosen.update(c.id for c in kb.claims.values() if item in c.tags)
        else:
            raise KbError(f"--claims: {item!r} is neither a claim id nor a tag",
                          hint=did_you_mean(item, [*kb.claims, *tags]) or "run kb list to see the claim ids; tags are the values of each claim's tags field")
    return [cid for cid in kb.claims if cid in chosen]


def patient_sentence(text: str) -> str:
    """A claim's text as a sentence of its own: the article's citation markers such as
    "(Geneen et al.; 2017)" removed, the first letter capitalised, a full stop at the end."""
    text = _MARKER.sub("", text).strip()
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?":
        text = text.rstrip(",;:") + "."
    return text


def _article_order(kb: KnowledgeBase) -> dict[tuple[str, str], int]:
    order = {}
    for article in kb.articles.values():
        for index, section in enumerate(article.sections):
            order[(article.id, section.id)] = index
    return order


def _text_positions(kb: KnowledgeBase) -> dict[str, tuple[int, int]]:
    """claim id -> (paragraph, offset) of its text in its article, for ordering claims as the article does."""
    from .site import anchor_claims

    positions: dict[str, tuple[int, int]] = {}
    claims_of = kb.claims_by_article()
    for article in kb.articles.values():
        anchors, _ = anchor_claims(article, claims_of[article.id])
        positions.update({cid: anchor.start for cid, anchor in anchors.items()})
    return positions


def _section_title(kb: KnowledgeBase, article_id: str, section_id: str, lang: str) -> str:
    article = kb.articles.get(article_id)
    if article is None:
        return section_id
    section = article.section(section_id)
    translated = (article.meta.get("headings") or {}).get(lang) if isinstance(article.meta.get("headings"), dict) else None
    if isinstance(translated, dict) and isinstance(translated.get(section_id), str):
        return translated[section_id]
    return section.title if section is not None and section.title else section_id


def build_handout(kb: KnowledgeBase, graph, *, lang: str, style: str, claims: list[str] | None = None, backend: str = "text",
                  title: str | None = None) -> Handout:
    """The handout's content for the chosen claims (all if None), citations numbered by first use
    (or as the style labels them), the bibliography formatted with ``style`` for ``backend``."""
    get_style(style)  # unknown style: ConfigError before any work
    from .audit import load_wording, strong_phrases

    words = ui_words(lang)
    wording = load_wording(kb.root)
    chosen = claims if claims is not None else list(kb.claims)
    position = _text_positions(kb)
    order = _article_order(kb)
    chosen = sorted(chosen, key=lambda cid: (order.get((kb.claims[cid].article, kb.claims[cid].section), 10**6),
                                             position.get(cid, (10**6, 0)), cid))
    kept: list[tuple[Any, tuple[str, ...], str, str]] = []
    left_out: list[tuple[str, str]] = []
    for cid in chosen:
        claim = kb.claims[cid]
        why = kbgraph.why(graph, cid)
        # Cite supporting links in the order they appear (own links first, then inherited ones).
        # A retracted reference is never cited to patients.
        keys = tuple(dict.fromkeys(link.ref for link in why.links if link.supporting and link.retraction != "retracted"))
        if claim.verdict == "unsupported":
            left_out.append((cid, "verdict unsupported: the cited sources do not back it"))
            continue
        if not keys:
            left_out.append((cid, "no supporting evidence" + (" left once retracted sources are set aside" if why.supporting_refs else "")))
            continue
        strong = why.certainty in wording.flag_when and bool(strong_phrases(claim.plain_text(lang), wording.phrases.get(lang, ())))
        # The verdict judges the article's wording; a reviewer's own plain wording in this language
        # is written to match the evidence, so only the wording check and the certainty apply to it.
        reworded = claim.plain is not None and bool(getattr(claim.plain, lang, ""))
        if strong or (claim.verdict in ("overstated", "source-misdescribed") and not reworded):
            hedge = "overstated"
        elif why.certainty in LOW_CERTAINTIES:
            hedge = "limited"
        elif why.certainty == "not-graded":  # nobody rated how certain it is (narrative reviews, position statements): said so
            hedge = "ungraded"
        else:
            hedge = ""
        kept.append((claim, keys, hedge, why.certainty))

    first_use = [k for _, keys, _, _ in kept for k in keys]
    bibliography = cited_bibliography(kb, first_use, style, backend)
    label_of = {e.key: e.label for e in bibliography}
    index_of = {e.key: n for n, e in enumerate(bibliography, 1)}

    sections: list[HandoutSection] = []
    for claim, keys, hedge, certainty in kept:
        labels = tuple(label_of[k] for k in keys)
        parts = _citation_parts(keys, labels, style, index_of)
        item = HandoutItem(claim_id=claim.id, text=patient_sentence(claim.plain_text(lang)), keys=keys,
                           citation="".join(part.text for part in parts), labels=labels, hedge=hedge, certainty=certainty,
                           verdict=claim.verdict, citation_parts=parts)
        section_id = f"{claim.article}/{claim.section}"
        if sections and sections[-1].id == section_id:
            sections[-1] = HandoutSection(section_id, sections[-1].title, sections[-1].items + (item,))
        else:
            sections.append(HandoutSection(section_id, _section_title(kb, claim.article, claim.section, lang), (item,)))

    articles = {c.article for c, _, _, _ in kept} or set(kb.articles)
    article = kb.articles.get(sorted(articles)[0]) if articles else None
    return Handout(
        title=title or words.get("handout.title", "What the research says"),
        lang=lang, style=style, in_text="author-year" if is_author_year(style) else "numeric",
        article_title=article.title if article else "", publisher=article.publisher if article else "",
        sections=tuple(sections), bibliography=tuple(bibliography), left_out=tuple(left_out), words=words,
        no_plain=tuple(c.id for c, _, _, _ in kept if c.plain is None or not getattr(c.plain, lang, "")),
    )


def _citation_parts(keys: tuple[str, ...], labels: tuple[str, ...], style: str, index_of: dict[str, int]) -> tuple[HandoutCitePart, ...]:
    """The in-text citation of ``keys`` (labelled ``labels``) in pieces, each label with the key it
    names (the first of ``keys`` with that label) and that key's bibliography index."""
    key_of: dict[str, str] = {}
    for key, label in zip(keys, labels):
        key_of.setdefault(label, key)
    out = []
    for part in in_text_parts(list(labels), style):
        key = key_of[part.label] if part.label is not None else None
        out.append(HandoutCitePart(part.text, part.kind, key, index_of.get(key) if key is not None else None))
    return tuple(out)


_BACKEND_OF = {"html": "html", "pdf": "html", "md": "md", "pandoc": "md"}


def render_handout(kb: KnowledgeBase, graph, fmt: str, *, lang: str | None = None, style: str | None = None,
                   claims: list[str] | None = None, bib_name: str = "references.bib", templates: str | None = None,
                   title: str | None = None) -> str | bytes:
    """The handout as text (html, md, pandoc Markdown) or PDF bytes."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown handout format {fmt!r}", hint=f"expected one of: {', '.join(FORMATS)}")
    handout = build_handout(kb, graph, lang=lang or kb.config.language, style=style or kb.config.style, claims=claims,
                            backend=_BACKEND_OF[fmt], title=title)
    return render_built_handout(kb, handout, fmt, bib_name=bib_name, templates=templates)


def render_built_handout(kb: KnowledgeBase, handout: Handout, fmt: str, *, bib_name: str = "references.bib",
                         templates: str | None = None) -> str | bytes:
    """Render a Handout from ``build_handout`` (built with the backend ``fmt`` needs: html for
    html/pdf, md for md/pandoc)."""
    env = document_env(kb, templates)
    context = {"handout": handout, "t": handout.words, "lang": handout.lang}
    if fmt == "md":
        return render_template(env, "handout.md.j2", context)
    if fmt == "pandoc":
        return render_template(env, "handout.pandoc.md.j2", {**context, "bib_name": bib_name, "yaml": _yaml_string})
    html = render_template(env, "handout.html.j2", {**context, "safe_citation": sanitize_html})
    if fmt == "html":
        return html
    if fmt == "pdf":
        return html_to_pdf(html)
    raise ConfigError(f"unknown handout format {fmt!r}", hint=f"expected one of: {', '.join(FORMATS)}")


def _yaml_string(value: Any) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def html_to_pdf(html: str) -> bytes:
    """A4 PDF from a standalone HTML page with WeasyPrint (the optional extra ``kb[pdf]``)."""
    try:
        from weasyprint import HTML
    except ImportError as exc:  # not installed, or the system's Pango is missing (OSError inside)
        raise ExportError(
            "PDF output needs WeasyPrint, which is not installed or cannot load its libraries"
            f" ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
            hint="in kb's source folder: python3 -m pip install '.[pdf]'; on Debian also: apt-get install libpango-1.0-0 libpangoft2-1.0-0",
        ) from None
    except OSError as exc:
        raise ExportError(f"WeasyPrint cannot load the system's Pango library ({exc})",
                          hint="on Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0") from None
    return HTML(string=html).write_pdf()


def pandoc_bib(kb: KnowledgeBase, keys) -> str:
    """BibTeX of just ``keys``, with the standard fields only (what pandoc --citeproc reads)."""
    from pybtex.database import BibliographyData, Entry

    data = BibliographyData()
    for key in keys:
        entry = kb.bibliography.entries[key]
        fields = {name: value for name, value in entry.fields.items() if name.lower() in PANDOC_BIB_FIELDS}
        data.entries[key] = Entry(entry.type, fields=fields, persons={role: list(people) for role, people in entry.persons.items()})
    return data.to_string("bibtex")


def cited_keys_in(pandoc_markdown: str) -> list[str]:
    """The citation keys a pandoc Markdown text uses (``[@a; @b]``), in order of first use."""
    body = pandoc_markdown.split("\n---\n", 1)[-1]
    return list(dict.fromkeys(re.findall(r"(?<![\\\w])@([A-Za-z0-9_][^\s;,\]\[{}]*)", body)))


def bib_path_for(output: str) -> Path:
    """The .bib written next to a pandoc handout: ``handout.md`` -> ``handout.bib``."""
    path = Path(output)
    if path.suffix.lower() == ".bib":
        raise ConfigError("the pandoc Markdown file must not end in .bib", hint="use -o handout.md")
    return path.with_suffix(".bib")


def write_pandoc_bib(kb: KnowledgeBase, keys, output: str, *, force: bool = False) -> str:
    """Write the .bib of a pandoc handout next to ``output`` (only the cited ``keys``); returns its path."""
    path = bib_path_for(output)
    write_atomic(path, pandoc_bib(kb, [k for k in keys if k in kb.bibliography.entries]), force=force)
    return str(path)


# --------------------------------------------------------------------------------------------
# The annotated article as one document (kb render article)


def build_article_view(kb: KnowledgeBase, graph, *, article_id: str | None = None, lang: str, style: str,
                       backend: str = "text", claims: list[str] | None = None) -> dict[str, Any]:
    """The article's text with every claim marked in place and numbered in reading order, a note per
    claim (its text in ``lang``, verdict, reason, and each source with relation, certainty and what it
    found), and the bibliography of every source the notes name, formatted with ``style``."""
    from .site import anchor_claims, article_paragraphs

    if not kb.articles:
        raise KbError("the knowledge base has no article (articles/*.md)")
    if article_id is None:
        article_id = next(iter(kb.articles))
    article = kb.articles.get(article_id)
    if article is None:
        raise KbError(f"unknown article {article_id!r}", hint=did_you_mean(article_id, kb.articles) or f"articles: {', '.join(kb.articles)}")
    chosen = set(claims) if claims is not None else None
    claims = [c for c in kb.claims.values() if c.article == article.id and (chosen is None or c.id in chosen)]
    anchors, unanchored = anchor_claims(article, claims)
    ordered = sorted(anchors.values(), key=lambda a: (a.start, a.claim_id))
    number = {a.claim_id: n for n, a in enumerate(ordered, 1)}

    spans: dict[int, list[tuple[int, int, int, bool]]] = {}
    for anchor in ordered:
        for i, (para, start, end) in enumerate(anchor.pieces):
            spans.setdefault(para, []).append((start, end, number[anchor.claim_id], i == len(anchor.pieces) - 1))

    paragraphs = article_paragraphs(article)
    sections: list[dict[str, Any]] = []
    for index, (section_id, text) in enumerate(paragraphs):
        segments: list[dict[str, Any]] = []
        cursor = 0
        for start, end, n, last in sorted(spans.get(index, ()), key=lambda s: (s[0], -s[1])):
            if start < cursor:  # nested or overlapping claim: its note follows the enclosing mark
                if last and segments:
                    segments[-1]["notes"].append(n)
                continue
            if start > cursor:
                segments.append({"text": text[cursor:start], "note": None, "notes": []})
            segments.append({"text": text[start:end], "note": n, "notes": [n] if last else []})
            cursor = end
        if cursor < len(text):
            segments.append({"text": text[cursor:], "note": None, "notes": []})
        if not sections or sections[-1]["id"] != section_id:
            section = article.section(section_id)
            sections.append({"id": section_id, "title": section.title if section else "", "level": section.level if section else 2,
                             "paragraphs": []})
        sections[-1]["paragraphs"].append(segments)

    first_use = [ev.ref for a in ordered for ev in kb.claims[a.claim_id].evidence]
    bibliography = cited_bibliography(kb, first_use, style, backend)
    label_of = {e.key: e.label for e in bibliography}
    index_of = {e.key: i for i, e in enumerate(bibliography, 1)}
    notes = []
    for anchor in ordered:
        claim = kb.claims[anchor.claim_id]
        notes.append({
            "n": number[claim.id], "id": claim.id, "text": claim.text.get(lang), "verdict": claim.verdict, "reason": claim.verdict_reason,
            "derived_from": [{"id": d, "n": number.get(d)} for d in claim.derived_from],
            "sources": [{"key": ev.ref, "label": label_of.get(ev.ref, "?"), "index": index_of.get(ev.ref, 0),
                         "citation": in_text([label_of.get(ev.ref, "?")], style), "relation": ev.relation, "certainty": ev.certainty,
                         "cited_in_article": ev.cited_in_article, "found": ev.found,
                         "retraction": kb.references[ev.ref].retraction if ev.ref in kb.references else ""} for ev in claim.evidence],
        })
    return {"id": article.id, "title": article.title, "publisher": article.publisher, "url": article.url, "language": article.language,
            "sections": sections, "notes": notes, "bibliography": bibliography, "unanchored": unanchored, "style": style,
            "in_text": "author-year" if is_author_year(style) else "numeric"}


def render_article(kb: KnowledgeBase, graph, fmt: str, *, lang: str | None = None, style: str | None = None,
                   article_id: str | None = None, templates: str | None = None, claims: list[str] | None = None) -> str:
    """The annotated article as Markdown (footnotes) or one self-contained HTML page."""
    if fmt not in ("html", "md"):
        raise ConfigError(f"unknown article format {fmt!r}", hint="expected html or md (or pdf through kb render)")
    lang = lang or kb.config.language
    style = style or kb.config.style
    view = build_article_view(kb, graph, article_id=article_id, lang=lang, style=style, backend="html" if fmt == "html" else "md",
                              claims=claims)
    env = document_env(kb, templates)
    if fmt == "md":
        return render_template(env, "annotated.md.j2", {"doc": view, "t": ui_words(lang), "lang": lang})
    context = standalone_context(kb, env, lang, page=f"article/{view['id']}.html")
    return render_template(env, "annotated.html.j2", {**context, "doc": view, "safe_citation": sanitize_html})
