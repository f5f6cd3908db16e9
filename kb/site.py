"""``kb build``: the knowledge base as a static web site (stage 4 of the pipeline, for HTML).

The site works from ``file://`` and from any web server: every link is relative, every style sheet
and script is copied into the site, nothing is loaded from the network. Pages::

    index.html                      home: what the knowledge base holds, coverage, links
    article/<article-id>.html       the article, every claim marked in place, footnotes, bibliography
    claims/index.html               every claim, by verdict (1,000 a page; then claims/page/2.html ...)
    claims/<claim-id>.html          one claim's evidence card
    references/index.html           every reference (1,000 a page; then references/page/2.html ...)
    references/<file>.html          one reference: metadata, links, claims resting on it, retraction impact
    audit.html                      the audit report (kb.audit.build_audit and templates/audit.html.j2)
    assets/site.css, assets/site.js

Each page comes from a template (``site/<name>.html.j2``) that receives a ready-made view model built
here from the KnowledgeBase records and the evidence graph (kb.graph); templates never query either.
``build_site`` renders every page into a fresh folder next to the target and swaps it in with
``kb.output.replace_tree`` only when the whole build succeeded, so a failed or killed build leaves the
previous site as it was.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from markupsafe import Markup

from .article import normalize_text, straighten_quotes
from .cache import file_stamp
from .cite import format_reference
from .errors import ExportError, RenderError
from .heap import loaded_frozen, paused_collector
from .load import claim_record, reachable
from .model import CERTAINTIES, SUPPORTING, VERDICTS, Article, Claim, KnowledgeBase, Reference
from .output import replace_tree, staging_folder, write_staged
from .render import doi_url, make_env, read_asset, render_template, sanitize_html, template_dirs, ui_words

__all__ = [
    "ASSETS",
    "Anchor",
    "Page",
    "SiteResult",
    "anchor_claims",
    "article_paragraphs",
    "build_site",
    "common_context",
    "reference_filename",
    "site_pages",
]

#: Static files copied from the template search path into the site (overridable like templates).
ASSETS = ("assets/site.css", "assets/site.js", "assets/favicon.svg")


# ---------------------------------------------------------------------------------------------
# Anchoring claims in the article text


@dataclass(frozen=True)
class Anchor:
    """Where a claim's text sits in an article: one piece per paragraph it touches."""

    claim_id: str
    #: (paragraph index over the whole article, start, end) in the paragraph's NFC text.
    pieces: tuple[tuple[int, int, int], ...]

    @property
    def start(self) -> tuple[int, int]:
        return self.pieces[0][0], self.pieces[0][1]


_RUN = re.compile(r"\S+")


def _normalized_runs(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """normalize_text(text) for NFC text, plus where each run of non-space characters starts in the
    normalised text and in ``text`` (enough to map any non-space character back); None and None when
    the text has no space to fold, so that every index maps to itself."""
    if " ".join(text.split()) == text:
        return straighten_quotes(text), None, None
    parts: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    length = 0
    for match in _RUN.finditer(text):
        if parts:
            parts.append(" ")
            length += 1
        starts.append(length)
        origins.append(match.start())
        run = match.group()
        parts.append(run)
        length += len(run)
    return straighten_quotes("".join(parts)), starts, origins


def _original_index(starts: list[int] | None, origins: list[int] | None, position: int) -> int:
    """The index in the paragraph of the character at ``position`` of its normalised text (a space
    between runs maps to the last space of the run of spaces it stands for)."""
    if starts is None or origins is None:
        return position
    run = bisect.bisect_right(starts, position) - 1
    if run + 1 < len(starts) and position == starts[run + 1] - 1:
        return origins[run + 1] - 1
    return origins[run] + position - starts[run]


def article_paragraphs(article: Article) -> list[tuple[str, str]]:
    """(section id, NFC paragraph text) for every paragraph of the article, in order. The paragraph
    numbers of an ``Anchor``'s pieces index this list."""
    return [(s.id, unicodedata.normalize("NFC", p)) for s in article.sections for p in s.paragraphs]


def anchor_claims(article: Article, claims: list[Claim]) -> tuple[dict[str, Anchor], list[str]]:
    """Locate each claim's Dutch text (whitespace and quotes normalised) in the article.

    The claim's own section is searched first, then the whole article; a claim may span
    paragraphs. Returns the anchors by claim id and the ids of claims whose text was not found
    (``kb check`` reports those as errors, so a checked knowledge base has none).
    """
    paragraphs = article_paragraphs(article)
    parts: list[str] = []
    begins: list[int] = []  # where each paragraph starts in the joined text
    sizes: list[int] = []  # and how long its normalised text is
    maps: list[tuple[list[int] | None, list[int] | None]] = []
    section_span: dict[str, tuple[int, int]] = {}
    length = 0
    for section_id, text in paragraphs:
        norm, starts, origins = _normalized_runs(text)
        if length:
            parts.append(" ")  # the gap between paragraphs
            length += 1
        begins.append(length)
        sizes.append(len(norm))
        maps.append((starts, origins))
        parts.append(norm)
        start, _ = section_span.get(section_id, (length, length))
        length += len(norm)
        section_span[section_id] = (start, length)
    haystack = "".join(parts)
    anchors: dict[str, Anchor] = {}
    missing: list[str] = []
    for claim in claims:
        needle = normalize_text(unicodedata.normalize("NFC", claim.text.nl))
        if not needle:
            missing.append(claim.id)
            continue
        lo, hi = section_span.get(claim.section, (0, len(haystack)))
        found = haystack.find(needle, lo, hi)
        if found < 0:
            found = haystack.find(needle)
        if found < 0:
            missing.append(claim.id)
            continue
        stop = found + len(needle)
        pieces: list[tuple[int, int, int]] = []
        number = max(bisect.bisect_right(begins, found) - 1, 0)
        while number < len(begins) and begins[number] < stop:
            starts, origins = maps[number]
            first = max(found, begins[number]) - begins[number]
            last = min(stop, begins[number] + sizes[number]) - begins[number]
            if first < last:
                pieces.append((number, _original_index(starts, origins, first), _original_index(starts, origins, last - 1) + 1))
            number += 1
        anchors[claim.id] = Anchor(claim.id, tuple(pieces))
    return anchors, missing


def _paragraph_tokens(text: str, spans: list[tuple[str, int, int, bool, bool]]) -> list[dict[str, Any]]:
    """Split one paragraph into tokens for the template: text, open, close and note.

    ``spans`` are (claim id, start, end, first piece?, last piece?). Nested spans nest; spans that
    cross are closed and reopened (the reopened part is a continuation without the claim's id), so
    the HTML is well formed and every claim has exactly one element carrying its id.
    """
    starts: dict[int, list[tuple]] = {}
    for span in spans:
        starts.setdefault(span[1], []).append(span)
    boundaries = sorted({s[1] for s in spans} | {s[2] for s in spans} | {0, len(text)})
    tokens: list[dict[str, Any]] = []
    stack: list[tuple] = []
    last = 0
    for position in boundaries:
        if position > last:
            tokens.append({"type": "text", "text": text[last:position]})
            last = position
        if any(s[2] == position for s in stack):
            reopen = []
            while any(s[2] == position for s in stack):
                top = stack.pop()
                tokens.append({"type": "close", "claim": top[0]})
                if top[2] == position:
                    if top[4]:
                        tokens.append({"type": "note", "claim": top[0]})
                else:
                    reopen.append(top)
            for span in reversed(reopen):
                tokens.append({"type": "open", "claim": span[0], "first": False})
                stack.append(span)
        for span in sorted(starts.get(position, ()), key=lambda s: (-s[2], s[0])):
            tokens.append({"type": "open", "claim": span[0], "first": span[3]})
            stack.append(span)
    return tokens


# ---------------------------------------------------------------------------------------------
# View models


def reference_filename(key: str) -> str:
    """A file name for a reference page: the key itself when it is a safe name, else a slug plus a
    short hash (BibTeX keys may contain characters such as ':' or '/'; a key ``index``, in any case,
    would be the references index's own page)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", key) and not key.endswith(".") and key.lower() != "index":
        return f"{key}.html"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:60] or "ref"
    return f"{slug}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}.html"


def _claim_text(claim: Claim, lang: str) -> str:
    return claim.text.get(lang)


def _doi_link(doi: str, citation: Any) -> str:
    """The address a "DOI" link next to a reference's citation goes to: its DOI's, unless the DOI is not
    well formed or the citation already shows it (styles such as vancouver print it); else ""."""
    url = doi_url(doi)
    return url if url and doi.lower() not in str(citation).lower() else ""


def _authors(ref: Reference) -> list[str]:
    return [f"{a.given} {a.full_family}".strip() + (f" {a.suffix}" if a.suffix else "") for a in ref.authors]


class _Views:
    """Builds the view models of every page for one knowledge base, graph, language and style."""

    def __init__(self, kb: KnowledgeBase, graph: Any, lang: str, style: str, order: list[str] | None = None) -> None:
        """``order``: every claim id of the whole knowledge base in reading order, when ``kb`` is only a
        part of it (kb/siteupdate.py): neighbours and sorting then follow it, not the part's own anchors."""
        from . import graph as graphlib

        self.kb = kb
        self.graph = graph
        self.g = graphlib
        self.lang = lang
        self.style = style
        self.ref_files = {key: reference_filename(key) for key in kb.references}
        self._cite_cache: dict[str, Any] = {}
        self._brief_cache: dict[str, dict[str, Any]] = {}
        self._paragraph_cache: dict[str, list[tuple[str, str]]] = {}
        # where each claim sits in its article, found once: anchors, and the reading order of claims
        self.anchors: dict[str, dict[str, Anchor]] = {}
        self.unanchored: dict[str, list[str]] = {}
        self.position: dict[str, tuple] = {}
        self.section_titles = {(a.id, s.id): s.title for a in kb.articles.values() for s in a.sections}
        self.claims_of = kb.claims_by_article()
        for n, article in enumerate(kb.articles.values()):
            anchors, missing = anchor_claims(article, self.claims_of[article.id])
            self.anchors[article.id], self.unanchored[article.id] = anchors, missing
            for a in anchors.values():
                self.position[a.claim_id] = (n, a.pieces[0][0], a.pieces[0][1], -a.pieces[-1][0], -a.pieces[-1][2], a.claim_id)
        # which claims summarise which (derived_from, as the graph has it)
        self.derived_by: dict[str, list[str]] = {cid: [] for cid in kb.claims}
        for claim in kb.claims.values():
            for other in claim.derived_from:
                if other in self.derived_by:
                    self.derived_by[other].append(claim.id)
        if order is not None:
            self.sequence = order
            self.index_of = {cid: n for n, cid in enumerate(order)}
            self.position = {cid: (self.index_of[cid],) for cid in kb.claims}
        for others in self.derived_by.values():
            others.sort(key=self.reading_order)
        if order is None:
            self.sequence = sorted(kb.claims, key=self.reading_order)
            self.index_of = {cid: n for n, cid in enumerate(self.sequence)}
        # the links to each reference, in reading order (claim, evidence)
        self.uses: dict[str, list[tuple[Claim, Any]]] = {key: [] for key in kb.references}
        # per (reference, article): does the article cite it, did a reviewer add it (one pass, not a scan per page)
        self.origin: dict[tuple[str, str], tuple[bool, bool]] = {}
        for claim in (kb.claims[cid] for cid in (self.sequence if order is None else sorted(kb.claims, key=self.reading_order))):
            for ev in claim.evidence:
                self.uses.setdefault(ev.ref, []).append((claim, ev))
                cited, added = self.origin.get((ev.ref, claim.article), (False, False))
                self.origin[(ev.ref, claim.article)] = (cited or ev.cited_in_article, added or not ev.cited_in_article)

    def reading_order(self, claim_id: str) -> tuple:
        """Sort key: claims in the order a reader meets them (unanchored ones last, by id)."""
        return self.position.get(claim_id, (len(self.kb.articles), 0, 0, 0, 0, claim_id))

    # -- small pieces ---------------------------------------------------------------------
    def format_all(self) -> None:
        """Format every reference now, from kb's disk cache or on every core (kb.cite.format_references),
        so that page-rendering worker processes start with all of them in memory."""
        from .cite import format_references

        format_references(self.kb, list(self.kb.references), self.style, "html")

    def citation_html(self, key: str):
        if key not in self._cite_cache:
            text, problem = format_reference(self.kb, key, self.style, "html")  # sanitized HTML (kb/cite.py); a problem: plain text
            self._cite_cache[key] = (Markup(text) if problem is None else sanitize_html(text), problem)
        return self._cite_cache[key]

    def ref_brief(self, key: str) -> dict[str, Any]:
        """What every page shows of a reference (a fresh dict: callers add to it)."""
        brief = self._brief_cache.get(key)
        if brief is None:
            brief = self._brief_cache[key] = self._ref_brief(key)
        return dict(brief)

    def _ref_brief(self, key: str) -> dict[str, Any]:
        ref = self.kb.references.get(key)
        citation, problem = self.citation_html(key)
        if ref is None:
            return {"key": key, "known": False, "short": key, "citation": citation, "problem": problem, "href": None,
                    "anchor": "bib-" + reference_filename(key)[:-5],
                    "study_type": "", "verified": False, "doi": "", "doi_link": "", "pmid": "", "year": None, "retraction": ""}
        return {
            "key": key,
            "known": True,
            "short": ref.short,
            "title": ref.title,
            "citation": citation,
            "problem": problem,
            "href": "references/" + self.ref_files[key],
            "anchor": "bib-" + self.ref_files[key][:-5],
            "study_type": ref.study_type,
            "verified": ref.verified,
            "doi": ref.doi,
            "doi_link": _doi_link(ref.doi, citation),
            "pmid": ref.pmid,
            "year": ref.year,
            "retraction": ref.retraction,
            "discrepancy": ref.discrepancy,
        }

    def evidence_views(self, claim: Claim, numbers: dict[str, int] | None = None) -> list[dict[str, Any]]:
        out = []
        for ev in claim.evidence:
            out.append({
                "ref": self.ref_brief(ev.ref),
                "number": (numbers or {}).get(ev.ref),
                "relation": ev.relation,
                "supporting": ev.relation in SUPPORTING,
                "cited_in_article": ev.cited_in_article,
                "certainty": ev.certainty,
                "locator": ev.locator,
                "found": ev.found,
                "quote": ev.quote,
            })
        return out

    def claim_brief(self, claim: Claim) -> dict[str, Any]:
        return {
            "id": claim.id,
            "href": f"claims/{claim.id}.html",
            "text": _claim_text(claim, self.lang),
            "text_nl": claim.text.nl,
            "text_en": claim.text.en,
            "verdict": claim.verdict,
            "kind": claim.kind,
            "section": claim.section,
            "section_title": self.section_titles.get((claim.article, claim.section)) or claim.section,
            "article": claim.article,
            "status": claim.status,
            "n_sources": len(claim.evidence),
            "n_derived": len(claim.derived_from),
        }

    # -- pages ----------------------------------------------------------------------------
    def home(self) -> dict[str, Any]:
        return self.home_from(home_record(self.kb, self.graph, self.claims_of))

    def home_from(self, record: dict[str, Any]) -> dict[str, Any]:
        """The home page's view model from ``home_record``: with the briefs of the references and claims
        it names (from this view index, which may be a part of the knowledge base: kb/siteupdate.py)."""
        view = {key: value for key, value in record.items() if key not in ("relied_on", "single_source")}
        view["relied_on"] = [{"ref": self.ref_brief(key), "count": count} for key, count in record["relied_on"]]
        view["single_source"] = [self.claim_brief(self.kb.claims[c]) for c in record["single_source"]]
        return view

    def article(self, article: Article) -> dict[str, Any]:
        claims = self.claims_of[article.id]
        anchors, missing = self.anchors[article.id], self.unanchored[article.id]
        order = sorted(anchors.values(), key=lambda a: self.reading_order(a.claim_id))
        number_of = {a.claim_id: n for n, a in enumerate(order, 1)}
        # numbered citations: in order of first appearance
        cite_no: dict[str, int] = {}
        for anchor in order:
            for ev in self.kb.claims[anchor.claim_id].evidence:
                cite_no.setdefault(ev.ref, len(cite_no) + 1)
        notes = []
        for anchor in order:
            claim = self.kb.claims[anchor.claim_id]
            view = self.claim_brief(claim)
            view.update({
                "number": number_of[claim.id],
                "evidence": self.evidence_views(claim, cite_no),
                "verdict_reason": claim.verdict_reason,
                "derived_from": [self._claim_link(other, number_of) for other in claim.derived_from],
                "derived_by": [self._claim_link(other, number_of) for other in self.derived_by.get(claim.id, ())],
                "cites": _cites(claim, cite_no),
            })
            notes.append(view)
        by_id = {n["id"]: n for n in notes}
        spans_by_paragraph: dict[int, list[tuple]] = {}
        for anchor in anchors.values():
            last = len(anchor.pieces) - 1
            for index, (number, start, end) in enumerate(anchor.pieces):
                spans_by_paragraph.setdefault(number, []).append((anchor.claim_id, start, end, index == 0, index == last))
        tokens = (_paragraph_tokens(text, spans_by_paragraph.get(number, []))
                  for number, (_, text) in enumerate(self.paragraphs(article.id)))
        in_order = sorted(claims, key=lambda c: self.reading_order(c.id))
        sections = [
            {"id": section.id, "title": section.title, "level": min(max(section.level, 2), 6),
             "paragraphs": [next(tokens) for _ in section.paragraphs],
             "verdicts": [c.verdict for c in in_order if c.section == section.id]}
            for section in article.sections
        ]
        bibliography = []
        for key, n in sorted(cite_no.items(), key=lambda kv: kv[1]):
            brief = self.ref_brief(key)
            cited, added = self.origin.get((key, article.id), (False, False))
            brief.update({"number": n, "cited_in_article": cited, "reviewer_added": added})
            bibliography.append(brief)
        present = Counter(c.verdict for c in claims)
        return {
            "article": {"id": article.id, "title": article.title, "publisher": article.publisher, "author": article.author,
                        "published": article.published, "url": article.url, "language": article.language},
            "sections": sections,
            "claims": by_id,
            "notes": notes,
            "unanchored": [self.claim_brief(self.kb.claims[cid]) for cid in missing],
            "bibliography": bibliography,
            "legend": [{"name": v, "count": present.get(v, 0)} for v in VERDICTS],
        }

    def _claim_link(self, other: str, numbers: dict[str, int]) -> dict[str, Any]:
        claim = self.kb.claims.get(other)
        return {"id": other, "number": numbers.get(other), "text": _claim_text(claim, self.lang) if claim else other,
                "verdict": claim.verdict if claim else "", "href": f"claims/{other}.html"}

    def claim(self, claim: Claim) -> dict[str, Any]:
        view = self.claim_brief(claim)
        article = self.kb.articles.get(claim.article)
        section = article.section(claim.section) if article else None
        view.update({
            "evidence": self.evidence_views(claim),
            "verdict_reason": claim.verdict_reason,
            "reviewer": claim.reviewer,
            "reviewed_on": claim.reviewed_on,
            "notes": claim.notes,
            "tags": list(claim.tags),
            "article_title": article.title if article else claim.article,
            "article_href": f"article/{claim.article}.html#claim-{claim.id}" if article else None,
            "section_title": section.title if section else claim.section,
            "derived_from": [self._claim_link(o, {}) for o in claim.derived_from],
            "derived_by": [self._claim_link(o, {}) for o in self.derived_by.get(claim.id, ())],
            "why": self._why(claim.id),
            "context": self._context(claim),
            "previous": self._neighbour(claim.id, -1),
            "next": self._neighbour(claim.id, +1),
        })
        return {"claim": view}

    def _neighbour(self, claim_id: str, step: int) -> dict[str, Any] | None:
        """The claim before or after this one in reading order, or None."""
        n = self.index_of[claim_id] + step
        return self.claim_brief(self.kb.claims[self.sequence[n]]) if 0 <= n < len(self.sequence) else None

    def paragraphs(self, article_id: str) -> list[tuple[str, str]]:
        """``article_paragraphs`` of an article, made once per build (its page and its claims' pages use them)."""
        if article_id not in self._paragraph_cache:
            self._paragraph_cache[article_id] = article_paragraphs(self.kb.articles[article_id])
        return self._paragraph_cache[article_id]

    def _context(self, claim: Claim) -> list[list[dict[str, Any]]]:
        """The paragraph(s) around a claim, as tokens with only this claim marked."""
        anchor = self.anchors.get(claim.article, {}).get(claim.id)
        if anchor is None:
            return []
        paragraphs = self.paragraphs(claim.article)
        last = len(anchor.pieces) - 1
        return [_paragraph_tokens(paragraphs[number][1], [(claim.id, start, end, index == 0, index == last)])
                for index, (number, start, end) in enumerate(anchor.pieces)]

    def _why(self, claim_id: str) -> dict[str, Any]:
        return _why_view(self.g.why(self.graph, claim_id), self)

    def reference(self, ref: Reference) -> dict[str, Any]:
        brief = self.ref_brief(ref.key)
        all_uses = self.uses.get(ref.key, ())
        uses = [{"claim": self.claim_brief(claim), "relation": ev.relation, "certainty": ev.certainty,
                 "cited_in_article": ev.cited_in_article, "found": ev.found, "locator": ev.locator}
                for claim, ev in all_uses[:REF_LIST]]
        brief.update({
            "n_uses": len(all_uses),
            "entry_type": ref.entry_type,
            "authors": _authors(ref),
            "journal": ref.journal,
            "volume": ref.volume,
            "number": ref.number,
            "pages": ref.pages,
            "pmcid": ref.pmcid,
            "url": ref.url,
            "verification": ref.verification,
            "cited_as": ref.cited_as,
            "conclusion": ref.conclusion,
            "certainty": ref.certainty,
            "retraction_notice": ref.retraction_notice,
            "uses": uses,
            "impact": _impact_view(self.g.impact(self.graph, ref.key), self),
        })
        return {"ref": brief}

    def claims_index_pages(self, kept: Mapping[str, dict[str, Any]] | None = None) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        """(path, view maker) of each page of the claims index: every claim in reading order,
        ``INDEX_ROWS`` to a page, and on each page grouped by verdict (in reading order within a group).
        Which claims a page holds does not depend on their verdicts, so an edit of a verdict changes
        one page of the index, not every page after the claim (kb/siteupdate.py): the counts per
        verdict on a page are that page's; the home page has those of the whole knowledge base.
        ``kept``: claim id -> its ``claim_brief`` as the last build kept it (``kept_view``), taken instead
        of making it (a quick update); every other claim's is made from the claim."""
        sequence = self.sequence
        chunks = [sequence[i:i + INDEX_ROWS] for i in range(0, len(sequence), INDEX_ROWS)] or [[]]
        paths = _index_paths("claims", len(chunks))
        kept = kept or {}

        def view(number: int) -> dict[str, Any]:
            by_verdict: dict[str, list[dict[str, Any]]] = {v: [] for v in VERDICTS}
            for cid in chunks[number - 1]:
                made = kept.get(cid) or self.claim_brief(self.kb.claims[cid])
                by_verdict.setdefault(made["verdict"], []).append(made)
            groups = [{"verdict": verdict, "claims": briefs, "total": len(briefs), "continued": False}
                      for verdict, briefs in by_verdict.items() if briefs]
            toc = [{"verdict": group["verdict"], "count": group["total"], "page": None} for group in groups]
            first = (number - 1) * INDEX_ROWS + 1
            return {"groups": groups, "n_claims": len(sequence), "first": first, "last": first + len(chunks[number - 1]) - 1,
                    "toc": toc, "pager": _pager(paths, number)}

        return [(path, lambda number=number: view(number)) for number, path in enumerate(paths, 1)]

    def references_index_pages(self) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        """(path, view maker) of each page of the references index: by first author, year and key,
        ``INDEX_ROWS`` to a page."""
        keys = [r.key for r in sorted(self.kb.references.values(), key=lambda r: (r.first_author.lower(), r.year or 0, r.key))]
        chunks = [keys[i:i + INDEX_ROWS] for i in range(0, len(keys), INDEX_ROWS)] or [[]]
        paths = _index_paths("references", len(chunks))

        def view(number: int) -> dict[str, Any]:
            refs = []
            for key in chunks[number - 1]:
                brief = self.ref_brief(key)
                brief["n_claims"] = len({claim.id for claim, _ in self.uses.get(key, ())})
                refs.append(brief)
            return {"refs": refs, "n_refs": len(keys), "first": (number - 1) * INDEX_ROWS + 1, "pager": _pager(paths, number)}

        return [(path, lambda number=number: view(number)) for number, path in enumerate(paths, 1)]


#: Claims listed by name on the home page (single-source claims); the rest are counted, and the
#: audit page lists them.
HOME_LIST = 100


def home_record(kb: KnowledgeBase, graph: Any, claims_of: dict[str, list[Claim]]) -> dict[str, Any]:
    """What the home page shows, as JSON values, with references and claims by key and id
    (``_Views.home_from`` adds their briefs): kept in the build's manifest, so that a quick update
    after a verdict edit (kb/siteupdate.py) makes the page from it without the whole knowledge base.
    ``claims_of``: ``kb.claims_by_article()``."""
    from . import graph as graphlib

    figures = graphlib.stats(kb, graph)
    single = [c for c in figures.single_source if c in kb.claims]
    articles = [{"id": article.id, "title": article.title, "publisher": article.publisher, "href": f"article/{article.id}.html",
                 "n_claims": len(claims_of[article.id]), "n_sections": len(article.sections)} for article in kb.articles.values()]
    return {
        "articles": articles,
        "stats": _coverage(figures),
        "verdicts": [{"name": v, "count": figures.by_verdict.get(v, 0)} for v in VERDICTS],
        "certainties": [{"name": c, "count": figures.by_certainty.get(c, 0)} for c in (*CERTAINTIES, "none")],
        "study_types": [{"name": k, "count": v} for k, v in figures.references_by_study_type.items()],
        "relied_on": [[key, count] for key, count in figures.most_relied_on[:8] if key in kb.references],
        "single_source": single[:HOME_LIST],
        "single_source_more": max(len(single) - HOME_LIST, 0),
    }

#: Claims listed on a reference page (resting on it, and what its retraction would touch); the rest
#: are counted, and ``kb list --ref KEY`` and ``kb impact KEY`` list them all.
REF_LIST = 200

#: Rows on one page of the claims or references index; a longer index goes on at
#: <folder>/page/2.html, 3.html ... (no claim id or reference file name can contain "/").
INDEX_ROWS = 1000


def _index_paths(folder: str, count: int) -> list[str]:
    return [index_path(folder, n) for n in range(1, count + 1)]


def index_path(folder: str, number: int) -> str:
    """The site path of page ``number`` (from 1) of the index in ``folder``."""
    return f"{folder}/index.html" if number == 1 else f"{folder}/page/{number}.html"


def _pager(paths: list[str], number: int) -> dict[str, Any]:
    """Where page ``number`` of an index sits among ``paths`` (site-relative links)."""
    return {"number": number, "count": len(paths), "pages": [{"number": n, "href": p} for n, p in enumerate(paths, 1)],
            "previous": paths[number - 2] if number > 1 else None, "next": paths[number] if number < len(paths) else None}


def _cites(claim: Claim, cite_no: dict[str, int]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for ev in claim.evidence:
        if ev.ref in seen:
            continue
        seen.add(ev.ref)
        out.append({"key": ev.ref, "anchor": "bib-" + reference_filename(ev.ref)[:-5], "number": cite_no[ev.ref],
                    "cited_in_article": ev.cited_in_article})
    return sorted(out, key=lambda cite: cite["number"])  # [3, 4, 6], as a reader looks them up, not [4, 3, 6]


# Views of the graph helper's query results (kb.graph.Stats, Why, Impact).


def _coverage(stats: Any) -> dict[str, Any]:
    return {
        "claims": stats.claims,
        "references": stats.references,
        "cited_in_article": stats.cited_in_article,
        "cited_pct": round(100 * stats.cited_share),
        "supported": stats.supported,
        "supported_pct": round(100 * stats.supported_share),
        "single_source": len(stats.single_source),
        "unsupported": len(stats.unsupported),
        "uncited_references": len(stats.uncited_references),
    }


def _why_view(why: Any, views: _Views) -> dict[str, Any]:
    links = []
    for link in why.links:
        links.append({
            "via": link.holder if link.inherited else None,
            "via_text": _claim_text(views.kb.claims[link.holder], views.lang) if link.inherited and link.holder in views.kb.claims else "",
            "path": list(link.path),
            "ref": views.ref_brief(link.ref),
            "relation": link.relation,
            "certainty": link.certainty,
            "supporting": link.supporting,
            "weakest": why.weakest is not None and link == why.weakest,
        })
    return {"links": links, "certainty": why.certainty, "supported": why.supported,
            "n_supporting_refs": len(why.supporting_refs), "inherited": any(l["via"] for l in links)}


def _impact_view(result: Any, views: _Views) -> dict[str, Any]:
    """What a retraction would touch. More than REF_LIST claims: the ones it would leave unsupported
    come first, then the others, in the order kb.graph.impact gives; the rest are counted."""
    links = [link for link in result.claims if link.claim in views.kb.claims]
    shown = links
    if len(links) > REF_LIST:
        shown = ([link for link in links if link.orphaned] + [link for link in links if not link.orphaned])[:REF_LIST]
    rows = [{"claim": views.claim_brief(views.kb.claims[link.claim]), "via": list(link.via), "relation": link.relation,
             "left_unsupported": link.orphaned, "remaining": list(link.remaining)} for link in shown]
    return {"affected": rows, "n_affected": len(links), "n_direct": len(result.direct), "n_indirect": len(result.indirect),
            "n_unsupported": len(result.orphaned)}


# ---------------------------------------------------------------------------------------------
# Pages and the build


@dataclass(frozen=True)
class Page:
    """One output file: its path inside the site, the template and the view model."""

    path: str
    template: str
    context: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SiteResult:
    target: Path
    #: every file of the site, pages first
    pages: tuple[str, ...]
    lang: str
    #: the pages this build rendered (all of them in a full build)
    rendered: tuple[str, ...] = ()
    #: True when the build updated the previous site in place (see ``build_site``)
    incremental: bool = False
    #: True when kb/siteupdate.py ``update_site`` made only the changed claims' pages, from a part of the knowledge base
    quick: bool = False

    @property
    def index(self) -> Path:
        return self.target / "index.html"


@dataclass(frozen=True)
class _Spec:
    """A page to be: its path, template and a function that makes its view model; ``note``: what the
    manifest keeps of the view model (``_Renderer.notes``), or None."""

    path: str
    template: str
    make: Callable[[], dict[str, Any]]
    note: Callable[[dict[str, Any]], Any] | None = None


def _page_specs(kb: KnowledgeBase, graph: Any, *, lang: str, style: str, audit: bool,
                format_now: bool = True) -> tuple[_Views, list[_Spec]]:
    """Every page of the site, in order, with its view model still to be made (so that worker processes
    can each make their share). The references are formatted first (``_Views.format_all``), or, with
    ``format_now`` false, by the caller before any view model is made."""
    views = _Views(kb, graph, lang, style)
    if format_now:
        views.format_all()
    specs = [_Spec("index.html", "site/home.html.j2", views.home)]
    specs += [_Spec(f"article/{a.id}.html", "site/article.html.j2", lambda a=a: views.article(a)) for a in kb.articles.values()]
    specs += [_Spec(path, "site/claims.html.j2", make) for path, make in views.claims_index_pages()]
    specs += [_Spec(f"claims/{c.id}.html", "site/claim.html.j2", lambda c=c: views.claim(c)) for c in kb.claims.values()]
    specs += [_Spec(path, "site/references.html.j2", make) for path, make in views.references_index_pages()]
    specs += [_Spec(f"references/{views.ref_files[r.key]}", "site/reference.html.j2", lambda r=r: views.reference(r), _shown_claims)
              for r in kb.references.values()]
    if audit and _has_audit():
        specs.append(_audit_spec(kb, graph))
    return views, specs


def _shown_claims(context: dict[str, Any]) -> list[str] | None:
    """The note the manifest keeps of a reference page that lists only some of the claims resting on
    the reference (``REF_LIST`` of them, of thousands for a popular one): the ids of the claims it
    shows, whose verdicts it shows. Which claims those are depends on no verdict, so kb/siteupdate.py
    knows from it that a verdict edit of another claim leaves the page as it is. None for a page
    that lists every claim resting on the reference."""
    ref = context["ref"]
    impact = ref["impact"]
    if ref["n_uses"] <= len(ref["uses"]) and impact["n_affected"] <= len(impact["affected"]):
        return None
    return sorted({use["claim"]["id"] for use in ref["uses"]} | {row["claim"]["id"] for row in impact["affected"]})


def _audit_spec(kb: KnowledgeBase, graph: Any) -> _Spec:
    """The audit page: it needs the knowledge base and its graph only (no view index, no formatted
    reference), so a build can make it while it prepares the other pages (``_AheadPage``). Its note
    (``_Renderer.notes``), made in whichever process makes the page, is ``_site_records``."""
    from . import audit as auditlib

    ref_files = {key: reference_filename(key) for key in kb.references}
    return _Spec("audit.html", "audit.html.j2", lambda: {"audit": auditlib.build_audit(kb, graph), "ref_files": ref_files},
                 lambda context: _site_records(kb, graph, context["audit"]))


#: Problems of each code that the manifest keeps of the audit (``kb.audit.audit_record``): the page's
#: (``kb.audit.PAGE_LIMIT``) and as many as a quick update may take off it (kb/siteupdate.py ``MAX_CHANGED``).
AUDIT_KEPT = 150


def _site_records(kb: KnowledgeBase, graph: Any, audit: Any) -> dict[str, Any] | None:
    """What the manifest keeps of the whole-knowledge-base pages, for a quick update after a verdict
    edit (kb/siteupdate.py): the home page's ``home_record`` and the audit's ``audit_record`` (and, added
    by ``build_site``, the reference pages' notes: "shown"). None for an audit not in report order."""
    from .audit import audit_record

    record = audit_record(audit, AUDIT_KEPT)
    if record is None:
        return None
    return {"home": home_record(kb, graph, kb.claims_by_article()), "audit": record}


def sealed(records: dict[str, Any]) -> dict[str, Any]:
    """``records`` with a digest of themselves ("seal"), so that records not as kb wrote them (a
    manifest edited by hand) are never used (``unsealed``)."""
    body = {key: value for key, value in records.items() if key != "seal"}
    return {**body, "seal": hashlib.blake2b(json.dumps(body, separators=(",", ":")).encode("utf-8"), digest_size=16).hexdigest()}


def unsealed(records: Any) -> dict[str, Any] | None:
    """The records ``sealed`` made, without the seal; None when they are not as sealed."""
    if not isinstance(records, dict) or not isinstance(records.get("seal"), str):
        return None
    return {key: value for key, value in records.items() if key != "seal"} if sealed(records) == records else None


def site_pages(kb: KnowledgeBase, graph: Any, *, lang: str, style: str, audit: bool = True) -> Iterator[Page]:
    """Every page of the site, lazily (so the caller can show progress). ``audit``: include the
    audit page (when kb.audit is available)."""
    _, specs = _page_specs(kb, graph, lang=lang, style=style, audit=audit)
    for spec in specs:
        yield Page(spec.path, spec.template, spec.make())


def _has_audit() -> bool:
    try:
        from . import audit
    except ImportError:
        return False
    return hasattr(audit, "build_audit")


def _audit_inputs(kb: KnowledgeBase) -> str:
    from .audit import audit_inputs

    return audit_inputs(kb.root)


def _template_exists(env, name: str) -> bool:
    """Is there a template ``name`` on the search path? One that is there but cannot be read (or is
    linked from outside) is the loader's RenderError, not "no such page": the build stops and says so."""
    import jinja2

    try:
        env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        return False
    return True


def site_info(kb: KnowledgeBase, has_audit: bool = False) -> dict[str, Any]:
    """The ``site`` part of every page's context (title, description, languages, articles, whether
    there is an audit page): the same on every page, so a build makes it once."""
    return {
        "title": kb.config.title,
        "description": kb.config.description,
        "languages": list(kb.config.languages),
        "articles": [{"id": a.id, "title": a.title, "href": f"article/{a.id}.html"} for a in kb.articles.values()],
        "has_audit": has_audit,
        "review_language": kb.config.review_language,
    }


def common_context(kb: KnowledgeBase, page_path: str, lang: str, has_audit: bool = False, *,
                   site: dict[str, Any] | None = None) -> dict[str, Any]:
    """What base.html.j2 needs on every page, besides the page's own view model: kb version, interface
    words ``t``, ``lang``, ``root`` (the relative path from ``page_path`` back to the site root),
    ``page`` and ``site`` (``site_info``; pass it when rendering many pages). Standalone documents
    (kb.handout.standalone_context) start from it too."""
    from . import __version__

    depth = page_path.count("/")
    return {
        "version": __version__,
        "t": ui_words(lang),
        "lang": lang,
        "root": "../" * depth,
        "page": page_path,
        "site": site if site is not None else site_info(kb, has_audit),
    }


def _holds_kb_site(target: Path) -> bool:
    """Did ``kb build`` make the folder ``target``: it has kb's manifest, or an ``index.html`` that says kb
    generated it (a build killed while it swapped manifests leaves none)? Only such a folder is replaced."""
    if (target / MANIFEST).is_file():
        return True
    try:
        with open(target / "index.html", "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'<meta name="generator" content="kb ' in head


#: The record of the last build, kept in the site folder (see ``build_site``).
MANIFEST = ".kb-site.json"
_MANIFEST_FORMAT = 5
#: Changed claim files up to which a build looks only at the pages that can show them (``_affected_pages``):
#: this many or 1 % of the claims, whichever is more; beyond that it makes every page's view model and compares digests.
_FEW_CHANGES = 200
#: Below this many pages one process renders them all; a pool would cost more than it saves.
PARALLEL_MIN_PAGES = 2000
#: Pages a worker takes at a time.
_CHUNK = 64


def _page_digest(template: str, context: dict[str, Any]) -> str | None:
    """A digest of everything a page is rendered from besides the build fingerprint, or None when the
    view model cannot be serialised (then the page is always rendered)."""
    import pickle

    digest = hashlib.blake2b(digest_size=16)
    pickler = pickle.Pickler(_HashWriter(digest), protocol=5)  # hashed as written: no copy of a big view model
    pickler.fast = True  # no memo: equal values give equal bytes whether or not they are the same objects
    try:
        pickler.dump((template, context))
    except Exception:
        return None
    return digest.hexdigest()


#: Templates whose view model a build keeps in the knowledge base's cache (``keep_view``): a quick update
#: (kb/siteupdate.py) makes such a page again from it and the claims that changed. A page of the claims
#: index shows 1,000 claims, which it would otherwise read one by one (0.4 ms a file).
_KEPT_VIEWS = frozenset({"site/claims.html.j2"})


def _kept_view_name(path: str, lang: str) -> str:
    return f"site-view-{lang}-{path.replace('/', '-')}"


def keep_view(root: str | os.PathLike, lang: str, path: str, digest: str, context: dict[str, Any]) -> None:
    """Keep the view model ``context`` of page ``path``, whose digest (``_page_digest``) is ``digest``,
    under ``<root>/.kb-cache/`` (never fails; nothing with the cache off)."""
    from .cache import store_value

    store_value(root, _kept_view_name(path, lang), digest.encode("ascii"), context)


def kept_view(root: str | os.PathLike, lang: str, path: str, digest: str) -> dict[str, Any] | None:
    """The view model ``keep_view`` kept of page ``path`` with the digest ``digest`` (the manifest's), or None."""
    from .cache import load_value

    found = load_value(root, _kept_view_name(path, lang), digest.encode("ascii"))
    return found if isinstance(found, dict) else None


def page_folders(pages: Iterable[str]) -> set[str]:
    """The folders (but the site's own) that hold ``pages``."""
    return {path.rpartition("/")[0] for path in pages} - {""}


def folder_times(target: Path, folders: Iterable[str]) -> dict[str, int]:
    """Each of ``folders``' (in ``target``) last change, in nanoseconds, sorted by name; those that
    cannot be read are left out."""
    times = {}
    for folder in sorted(folders):
        try:
            times[folder] = os.stat(target / folder).st_mtime_ns
        except OSError:
            pass
    return times


def _folder_record(target: Path) -> tuple[str, bytes] | None:
    """Where ``keep_folder_times`` keeps its record of the site in ``target`` (a name in the cache, from
    the site folder's real path) and what the record holds for (that path and the manifest file now
    there: inode, size, time); None without a manifest."""
    try:
        st = os.stat(target / MANIFEST)
    except OSError:
        return None
    where = str(target.resolve()).encode("utf-8", "surrogatepass")
    name = "site-folders-" + hashlib.blake2b(where, digest_size=8).hexdigest()
    return name, where + f"\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}".encode("ascii")


def keep_folder_times(root: str | os.PathLike, target: Path, folders: Iterable[str]) -> None:
    """Once a build has put every page of the site in ``target`` in place and written its manifest: keep
    the times of the folders holding its pages (``folders``) in the knowledge base's cache, for that
    manifest. A folder whose time is still the one kept lost no page since (removing, adding or
    renaming a file changes a folder's time), so kb/siteupdate.py need not list its 100,000 names to
    know every page is there (``_all_there``). Kept out of the manifest, which stays the same for the
    same inputs. Never fails; nothing with the cache off."""
    from .cache import store_value

    folders = set(folders)
    record, times = _folder_record(target), folder_times(target, folders)
    if record is not None and len(times) == len(folders):
        store_value(root, record[0], record[1], times)


def kept_folder_times(root: str | os.PathLike, target: Path) -> dict[str, int] | None:
    """What ``keep_folder_times`` kept for the manifest now in ``target`` (every folder holding its pages
    -> its time then), or None when it kept nothing for that manifest file."""
    from .cache import load_value

    record = _folder_record(target)
    kept = load_value(root, record[0], record[1]) if record is not None else None
    if type(kept) is not dict or not all(type(k) is str and type(v) is int for k, v in kept.items()):
        return None
    return kept


class _HashWriter:
    """A file that only feeds what is written to it into a hash."""

    def __init__(self, digest) -> None:
        self.write = digest.update


def _build_fingerprint(env, kb: KnowledgeBase, lang: str, style: str, site: dict[str, Any], has_audit: bool) -> str:
    """What every page depends on: kb's code, the templates and assets on the search path, the language,
    the style and what formats it (pybtex's version, the style's own code: a style plugin upgraded
    formats citations otherwise), the parts of the context that every page shares, and what renders
    and escapes (Jinja2's version, MarkupSafe's code). A change here rebuilds every page."""
    import pickle

    import jinja2
    import markupsafe

    from . import __version__
    from .cite import formatting_state

    h = hashlib.blake2b(digest_size=16)
    pickler = pickle.Pickler(_HashWriter(h), protocol=5)
    pickler.fast = True  # no memo: equal values give equal bytes (``site`` may come from the manifest: kb/siteupdate.py)
    pickler.dump((_MANIFEST_FORMAT, __version__, lang, style, has_audit, site, ui_words(lang), jinja2.__version__))
    h.update(Path(markupsafe.__file__).read_bytes())
    h.update(formatting_state(style, "html"))
    package = Path(__file__).resolve().parent
    folders = [package] + [Path(folder) for folder in env.loader.searchpath]
    for number, folder in enumerate(folders):
        for path in sorted(folder.rglob("*.py" if number == 0 else "*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            name = f"{number}/{path.relative_to(folder).as_posix()}".encode()  # not the absolute path: builds stay reproducible
            try:
                h.update(name + b"\0" + path.read_bytes())
            except OSError:
                h.update(name + b"\0?")
    return h.hexdigest()


def _read_manifest_data(target: Path, text: str | None = None, *, check_pages: bool = True) -> dict | None:
    """The manifest of the last build of ``target`` (or ``text``, if read already) as written (None:
    none, or not one of this format). ``check_pages`` false: the pages are not checked (``_page_entry``)
    here; for a caller that removes none of them and checks those it uses (kb/siteupdate.py: 0.15 s
    of 125,000 pages)."""
    try:
        with paused_collector():  # 100,000s of small lists at once: see kb/heap.py
            data = json.loads(text if text is not None else (target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT or not isinstance(data.get("pages"), dict):
        return None
    if check_pages and not all(map(_page_entry, data["pages"].items())):
        return None  # edited by hand, or not written by kb: never act on it (a build removes pages it lists)
    return data


def _page_entry(item: tuple[Any, Any]) -> bool:
    """Is ``item`` a page of the manifest as kb writes it: a path inside the site (relative, "/"
    between names, none of them empty, "." or "..") and [digest, size]? A build removes the pages of
    the last build it did not make again, so a path from a manifest is only used once it is one that
    cannot reach outside the site (tests/test_site_incremental.py)."""
    path, value = item
    return (type(path) is str and type(value) is list and len(value) == 2 and type(value[0]) is str and type(value[1]) is int
            and path[:1] != "/" and "\\" not in path and "\0" not in path
            and all(part not in ("", ".", "..") for part in path.split("/")))


def shown_notes(records: dict[str, Any] | None) -> dict[str, list[str]] | None:
    """The notes of the reference pages (``_shown_claims``) in ``records`` (``unsealed``), or None when
    they are not as kb writes them."""
    shown = records.get("shown") if records is not None else None
    if not isinstance(shown, dict) or not all(type(ids) is list and all(type(i) is str for i in ids) for ids in shown.values()):
        return None
    return shown


def _read_manifest(target: Path, fingerprint: str, data: dict | None = None) -> tuple[dict[str, list], dict | None] | None:
    """(pages, inputs) of the previous build of ``target`` when it was made with the same fingerprint, else
    None. ``inputs``: what ``_inputs`` recorded (None when it could not). ``data``: the manifest if already read."""
    data = data if data is not None else _read_manifest_data(target)
    if data is None or data.get("fingerprint") != fingerprint:
        return None
    inputs = data.get("inputs")
    ok = isinstance(inputs, dict) and isinstance(inputs.get("claims"), list) and isinstance(inputs.get("rest"), str)
    return data["pages"], inputs if ok else None


def _manifest_text(fingerprint: str, pages: dict[str, list], inputs: str, site: dict[str, Any], audit: str | None,
                   records: dict[str, Any] | None = None) -> str:
    """The manifest; ``inputs``: ``_inputs`` already as JSON text (a few MB of text instead of
    100,000 small lists kept alive, and copied into every worker, while the pages are made). ``site``:
    ``site_info``, which kb/siteupdate.py takes from here instead of reading every article; ``audit``:
    ``kb.audit.audit_inputs`` (None: no audit page); ``records``: ``_site_records`` (None: not made)."""
    head = json.dumps({"format": _MANIFEST_FORMAT, "fingerprint": fingerprint, "site": site, "audit": audit, "records": records,
                       "pages": pages}, separators=(",", ":"))
    return head[:-1] + ',"inputs":' + inputs + "}"


def _scanned_inputs(scan) -> tuple[dict[str, tuple[int, int]], str] | None:
    """From the load's walk: (claims/ file -> (size, stamp (kb/cache.py ``file_stamp``: modification
    time, change time, inode); -1 when changed too recently to trust)), a digest of the size and stamp
    of every other input file); None when a non-claim file changed too recently to trust its stamp or
    a folder could not be listed."""
    if scan is None or scan.errors:
        return None
    names, sizes, stamps = scan.names, scan.packed[0::3], scan.packed[1::3]
    start, end = scan.span("claims/")
    files = dict(zip(names[start:end], zip(sizes[start:end], stamps[start:end])))
    for name in scan.racy:
        if name not in files:
            return None
        files[name] = (files[name][0], -1)
    rest = hashlib.blake2b(digest_size=16)
    for n in itertools.chain(range(start), range(end, len(names))):
        rest.update(f"{names[n]}\0{sizes[n]}\0{stamps[n]}\0".encode("utf-8", "surrogateescape"))
    return files, rest.hexdigest()


def _changed_since(path: str, seen: tuple[int, int]) -> bool:
    """Is the file at ``path`` no longer as the walk saw it (``seen``: size, stamp; a stamp of -1, too
    recent to trust, never matches)?"""
    try:
        now = os.stat(path)
    except OSError:
        return True
    return (now.st_size, file_stamp(now)) != seen


def _stat_now(path: str, seen: tuple[int, int]) -> int:
    """The stamp the manifest records for a claim file the walk saw as ``seen`` (size, stamp): -1 when
    it was saved again since (the claim read may be newer than the walk says)."""
    return -1 if _changed_since(path, seen) else seen[1]


#: Claim fields that only the claim's own page and its article's page show, and that nothing shown on
#: any other page is computed from (kb/site.py views, templates/site/*.j2, kb/graph.py stats, kb/audit.py);
#: except that the audit shows the verdict reason of claims with a verdict in kb.audit.REASON_SHOWN
#: (``verdict_mark``). Evidence locations (line numbers) are shown nowhere. ``claim_facets`` digests
#: every other field but the verdict, so a field added to Claim later counts as shown everywhere until
#: it is listed here.
OWN_PAGES_ONLY = frozenset({"verdict_reason", "reviewer", "reviewed_on", "notes", "tags", "plain", "positions"})


def _plain_fields(value: Any) -> Any:
    """A record as nested tuples of its compared field values: what marshal can write."""
    if isinstance(value, tuple):
        return tuple(_plain_fields(v) for v in value)
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is None:
        return value
    return tuple(_plain_fields(getattr(value, name)) for name, f in fields.items() if f.compare)


def claim_facets() -> Callable[[Claim], str]:
    """``facet(claim)``: a digest of every field of a claim that a page other than its own and its
    article's shows or is computed from (see ``OWN_PAGES_ONLY``), but its verdict (``verdict_mark``).
    When only claims whose facet and verdict mark stayed the same changed, only their own and their
    articles' pages can differ; when their verdict marks changed, the pages ``kb/siteupdate.py``
    lists for a verdict edit. About 6 us a claim (a full build makes 100,000)."""
    import marshal
    from operator import attrgetter

    from .errors import Location
    from .model import Evidence, Text

    def getter(record: type, skip: frozenset = frozenset()) -> Callable[[Any], tuple]:
        get = attrgetter(*[f.name for f in dataclasses.fields(record) if f.compare and f.name not in skip])
        return lambda value: value if value is None else get(value)

    text, location = getter(Text), getter(Location)
    evidence = getter(Evidence, frozenset({"location"}))  # line numbers of evidence are shown nowhere
    rest = getter(Claim, OWN_PAGES_ONLY | {"text", "location", "evidence", "verdict"})

    def facet(claim: Claim) -> str:
        values = (rest(claim), text(claim.text), location(claim.location), tuple(map(evidence, claim.evidence)))
        try:  # version 2: no back-references to objects seen before, which depend on sharing, not on values
            data = marshal.dumps(values, 2)
        except ValueError:  # a field holding a record of its own, added to Claim since
            data = marshal.dumps(_plain_fields(values), 2)
        return hashlib.blake2b(data, digest_size=12).hexdigest()

    return facet


def verdict_mark(claim: Claim) -> str:
    """What pages other than the claim's own and its article's show of its verdict: the verdict, and
    when the audit shows its reason (kb.audit.REASON_SHOWN), a digest of the reason ("overstated:<digest>")."""
    from .audit import REASON_SHOWN

    if claim.verdict not in REASON_SHOWN:
        return claim.verdict
    return claim.verdict + ":" + hashlib.blake2b(claim.verdict_reason.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def claim_place(claim: Claim) -> str:
    """A digest of what places a claim in its article's text (its article, section and Dutch text: what
    ``anchor_claims`` reads). An edit that leaves it as it was cannot move the claim in reading order."""
    return hashlib.blake2b("\x00".join((claim.article, claim.section, claim.text.nl)).encode("utf-8", "surrogatepass"),
                           digest_size=8).hexdigest()


def _inputs(kb: KnowledgeBase, views: _Views) -> dict | None:
    """What the next build compares to find the claims that changed, or None when it cannot be known
    cheaply (no cache: ``KB_CACHE=0``; a folder that could not be listed; a non-claim file changed
    within the last second).

    ``claims``: per claim, in reading order, [id, size and stamp (``file_stamp``) of its file (as the
    load's walk saw them; -1 for a file changed too recently to trust, or saved again since the walk),
    article, cited references, derived_from, the file's path, ``claim_facets``, ``claim_place``,
    ``verdict_mark``]: the file says whether the claim changed, the rest which other pages showed it.
    ``rest``: a digest of the size and stamp of every other input file (kb.yaml,
    articles, BibTeX)."""
    from .cache import session_of

    session = session_of(kb)
    scanned = _scanned_inputs(session.scan if session is not None else None)
    if scanned is None:
        return None
    files, rest = scanned
    facet = claim_facets()
    rows = []
    root = os.path.join(kb.root, "")
    for cid in views.sequence:
        claim = kb.claims[cid]
        rel = claim.location.path
        seen = files.get(rel, (-1, -1))
        _, cites, derived = claim_record(claim)
        rows.append([cid, seen[0], _stat_now(root + rel, seen), claim.article, list(cites), list(derived), rel, facet(claim),
                     claim_place(claim), verdict_mark(claim)])
    return {"claims": rows, "rest": rest}


def _manifest_row(row) -> bool:
    """Is ``row`` shaped as ``_inputs`` writes a claim's row (a manifest edited by hand may not be)?"""
    return (isinstance(row, list) and len(row) == 10 and isinstance(row[0], str) and isinstance(row[1], int)
            and isinstance(row[2], int) and isinstance(row[3], str) and isinstance(row[4], list) and isinstance(row[5], list)
            and all(isinstance(x, str) for x in row[4] + row[5]) and isinstance(row[6], str) and isinstance(row[7], str)
            and isinstance(row[8], str) and isinstance(row[9], str))


def _affected_pages(kb: KnowledgeBase, views: _Views, specs: list[_Spec], before: dict | None, now: dict | None) -> set[str] | None:
    """The pages that can differ from the previous build when only a few claim files changed, or None
    (every page must be compared) when that cannot be said: nothing recorded, another input changed,
    or many claims changed.

    What can show a changed claim c: its own page; its article's page (old and new article); the
    pages of the claims next to it in reading order (previous / next, before and after the change);
    the pages of the claims it summarises (their "summarised by" list) and of every claim that
    rests on it at any depth (support inherited through derived_from); the page of a reference cited
    by c or by anything that shares a summary with it, at any depth (a reference page's impact list
    says what would remain of each summary); the home page and the audit; the page of the claims
    index that lists c (every page of it when the reading order changed: the pages after a claim
    added, removed or moved hold other claims); the references index when c's sources changed or c is new or gone (it counts citing claims). So: the
    changed claims with their old and new derived_from targets, the claims that named them before
    (a claim that is gone has no "summarised by" list any more), and, when a changed claim is new, gone
    or placed otherwise in its article's text (``claim_place``: article, section, Dutch text), all the
    claims of its articles (a margin: anchoring is per claim today; an edit of a verdict, status, kind,
    source or link keeps the claim where it was and needs none: at 100,000 claims the margin brought
    in the pages of popular references, seconds of work), then everything those lead down to, then everything
    that leads up to that; their neighbours in reading order; the articles and references of all of
    them. tests/test_site_affected.py compares the result with a full build after every kind of
    edit. Every page outside the set keeps its digest; a file missing or of another size is made
    again all the same (``_Renderer.page``)."""
    if before is None or now is None or before["rest"] != now["rest"]:
        return None
    try:
        old = {row[0]: row for row in before["claims"] if _manifest_row(row)}
    except TypeError:  # a damaged manifest: compare every page
        return None
    new = {row[0]: row for row in now["claims"]}
    if len(old) != len(before["claims"]):
        return None
    changed = {cid for cid in old.keys() | new.keys() if old.get(cid) != new.get(cid) or new[cid][2] < 0}
    if len(changed) > max(_FEW_CHANGES, len(new) // 100):
        return None
    claims = kb.claims
    articles: set[str] = set()
    moved: set[str] = set()  # the articles of claims new, gone or placed otherwise
    seeds = set(changed)
    for cid in changed:
        old_row, new_row = old.get(cid), new.get(cid)
        placed_otherwise = old_row is None or new_row is None or old_row[8] != new_row[8]
        for row in (old_row, new_row):
            if row is not None:
                articles.add(row[3])
                seeds.update(row[5])
                if placed_otherwise:
                    moved.add(row[3])
    seeds.update(row[0] for row in before["claims"] if not changed.isdisjoint(row[5]))  # they named one that may be gone now
    for article in moved:
        seeds.update(claim.id for claim in views.claims_of.get(article, ()))
    down = reachable(seeds, lambda cid: views.derived_by.get(cid, ()))
    affected = reachable(down, lambda cid: claims[cid].derived_from if cid in claims else ())
    old_order = [row[0] for row in before["claims"]]
    old_index = {cid: n for n, cid in enumerate(old_order)}
    around = set()
    for order, index in ((views.sequence, views.index_of), (old_order, old_index)):
        for cid in affected:
            n = index.get(cid)
            if n is not None:
                around.update(order[max(n - 1, 0):n + 2])
    affected |= around
    refs = {key for cid in changed if cid in old for key in old[cid][4]}
    for cid in affected:
        claim = claims.get(cid)
        if claim is not None:
            articles.add(claim.article)
            refs.update(ev.ref for ev in claim.evidence)
    pages = {"index.html", "audit.html"}
    pages.update(f"claims/{cid}.html" for cid in affected)
    pages.update(f"article/{article}.html" for article in articles)
    pages.update(f"references/{views.ref_files[key]}" for key in refs if key in views.ref_files)
    if views.sequence == old_order:  # a page of the claims index holds the same claims: only a changed claim's brief differs
        pages.update(index_path("claims", views.index_of[cid] // INDEX_ROWS + 1) for cid in changed if cid in views.index_of)
        indexes = set()
    else:
        indexes = {"site/claims.html.j2"}
    if any(cid not in old or cid not in new or old[cid][4] != new[cid][4] for cid in changed):
        indexes.add("site/references.html.j2")  # it counts the claims citing each reference
    pages.update(spec.path for spec in specs if spec.template in indexes)
    return pages


class _Renderer:
    """Makes, compares and renders pages into ``out`` (a staging folder). With ``previous`` (the last
    build's manifest) and ``site_dir``, a page whose digest and file are unchanged is not rendered."""

    def __init__(self, env, kb: KnowledgeBase, lang: str, site: dict[str, Any], specs: list[_Spec], out: Path,
                 previous: dict[str, list] | None, site_dir: Path, only: set[str] | None = None) -> None:
        self.env, self.kb, self.lang, self.site, self.specs, self.out = env, kb, lang, site, specs, out
        self.previous, self.site_dir, self.only = previous, site_dir, only
        self.made_dirs: set[str] = set()
        self.notes: dict[str, Any] = {}  # page path -> its spec's note, for the pages whose view model was made

    def page(self, index: int) -> tuple[str, str | None, int, bool]:
        """(path, digest, size, rendered?) for page ``index``. With ``only`` (``_affected_pages``), a
        page outside it whose file is there, as big as before, keeps its digest without being made."""
        spec = self.specs[index]
        if self.only is not None and spec.path not in self.only:
            old = self.previous.get(spec.path)
            if old:
                try:
                    if os.stat(self.site_dir / spec.path).st_size == old[1]:
                        return spec.path, old[0], old[1], False
                except OSError:
                    pass
        context = spec.make()
        if spec.note is not None:
            self.notes[spec.path] = spec.note(context)
        data = None
        if spec.template in _OUTPUT_DIGESTED:
            data = self._render(spec, context)
            digest = "=" + hashlib.blake2b(data, digest_size=16).hexdigest()
        else:
            digest = _page_digest(spec.template, context)
        if self.previous is not None and digest is not None:
            old = self.previous.get(spec.path)
            if old and old[0] == digest:
                try:
                    if os.stat(self.site_dir / spec.path).st_size == old[1]:
                        return spec.path, digest, old[1], False
                except OSError:
                    pass
        if data is None:
            data = self._render(spec, context)
        folder = os.path.dirname(spec.path)
        if folder not in self.made_dirs:
            (self.out / folder).mkdir(parents=True, exist_ok=True)
            self.made_dirs.add(folder)
        write_staged(os.path.join(self.out, spec.path), data)
        if spec.template in _KEPT_VIEWS and digest is not None:
            keep_view(self.kb.root, self.lang, spec.path, digest, context)
        return spec.path, digest, len(data), True

    def _render(self, spec: _Spec, context: dict[str, Any]) -> bytes:
        html = render_template(self.env, spec.template, {**common_context(self.kb, spec.path, self.lang, site=self.site), **context})
        return html.encode("utf-8")


#: Pages whose view model is far bigger than what they show, so that digesting what they show costs
#: less than digesting the view model: the audit's view model holds every problem (about 245,000 at
#: 100,000 claims: 1.3 s to digest), of which the page lists at most 100 of each kind (0.03 s to
#: render). Their digest in the manifest is "=" and a digest of the page's bytes.
_OUTPUT_DIGESTED = frozenset({"audit.html.j2"})


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _render_all(renderer: _Renderer, jobs: int, progress: Callable[[int, int, str], None] | None, total: int,
                ahead: _AheadPage | None = None) -> list[tuple]:
    """Every page through ``renderer``, in ``jobs`` processes (this one and ``jobs - 1`` forked workers; one: in this one alone);
    the page ``ahead`` makes (if any) is taken from it. Returns the page results in page order."""
    n = len(renderer.specs)
    skip = next((i for i, spec in enumerate(renderer.specs) if spec.path == ahead.path), None) if ahead is not None else None
    if jobs <= 1 or n < PARALLEL_MIN_PAGES or "fork" not in _start_methods():
        results: list = [None] * n
        for count, index in enumerate((i for i in range(n) if i != skip), 1):
            results[index] = renderer.page(index)
            if progress:
                progress(count, total, results[index][0])
    else:
        results = _render_forked(renderer, jobs, progress, total, skip, ahead)
    if ahead is not None:
        result = ahead.result()
        if skip is not None:
            results[skip] = result
        if progress:
            progress(n, total, result[0])
    return results


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _render_forked(renderer: _Renderer, jobs: int, progress, total: int, skip: int | None = None,
                   ahead: _AheadPage | None = None) -> list[tuple]:
    """This process and ``jobs - 1`` forked workers take chunks of pages from a shared counter (the slow
    pages first, so the load evens out); the workers send their results back; the first error stops the
    build, an error of the page made ``ahead`` too. The parent makes pages too rather than wait: each
    worker costs a copy of every page of the parent's memory it touches (kb/heap.py)."""
    import gc
    import multiprocessing
    import multiprocessing.connection

    context = multiprocessing.get_context("fork")
    n = len(renderer.specs)
    next_chunk = context.Value("q", 0)
    done = context.Value("q", 0, lock=False)
    pipes, workers = [], []
    # The knowledge base is shared with the workers: keep the collector from touching (and so copying)
    # it. Within a command that froze what it loaded (kb/heap.py), what was made since is frozen with it
    # and thawed with it when the command ends. Otherwise collect first (0.8 s at 100,000 claims; it finds
    # nothing in a build, but resets the collector's counts: without it, unfreezing afterwards sets off a
    # collection of everything, 4 s) and unfreeze when the workers are done.
    within_command = loaded_frozen()
    if not within_command:
        gc.collect()
    _trim_heap()  # workers start as copies of this process: give back what loading freed first
    gc.freeze()
    try:
        for _ in range(jobs - 1):  # and this process makes pages too
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(target=_worker, args=(renderer, next_chunk, done, sender, skip), daemon=True)
            _start_child(worker)
            sender.close()
            pipes.append(receiver)
            workers.append(worker)
        results: list = [None] * n
        pending = list(pipes) + ([ahead.conn] if ahead is not None else [])
        last_path = ""

        def collect(timeout: float) -> None:
            """Take what the workers and the page made ahead have sent (raising the first error), and show progress."""
            nonlocal last_path
            for conn in multiprocessing.connection.wait(pending, timeout=timeout) if pending else ():
                pending.remove(conn)
                if ahead is not None and conn is ahead.conn:
                    ahead.result()  # kept for _render_all; raises now if the page failed
                    continue
                made, notes = _receive_outcome(conn)
                renderer.notes.update(notes)
                for index, result in made:
                    results[index] = result
                    last_path = result[0]
            if progress and done.value:
                progress(min(done.value, n), total, last_path or renderer.specs[min(done.value, n) - 1].path)

        for index, result in _take_chunks(renderer, next_chunk, done, skip, between=lambda: collect(0)):
            results[index] = result
        while pending:
            collect(0.1)
        for worker in workers:
            worker.join()
        return results
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
        if not within_command:
            gc.unfreeze()


def _trim_heap() -> None:
    """Give memory that loading freed back to the system (glibc's malloc_trim; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


#: Pages that take seconds each at 100,000 claims (the whole-knowledge-base figures and the audit):
#: workers take them first, together (they share the memoised figures), so no worker is left with
#: one of them at the end while the other waits.
_SLOW_TEMPLATES = ("audit.html.j2", "site/home.html.j2")


#: In an incremental build, the pages to make again that can take a second each at 100,000 claims: a
#: popular reference's page (what its retraction would touch reaches much of the knowledge base).
_SLOW_WHEN_FEW = ("site/reference.html.j2",)


def _work_order(specs: list[_Spec], skip: int | None = None, only: set[str] | None = None) -> tuple[list[int], int]:
    """(page indexes in the order workers take them, how many come first to be taken one at a time),
    without ``skip`` (a page made ahead): the slow pages; in an incremental build (``only``: the pages
    a change can reach) then those pages, the slow ones first, and last every other page, which is only
    looked at (``_Renderer.page``). One at a time, the slow pages go to different workers and neither
    is left with a long one at the end."""
    slow = [i for i, spec in enumerate(specs) if spec.template in _SLOW_TEMPLATES and i != skip]
    first = set(slow)
    if only is not None:
        reached = [i for i, spec in enumerate(specs) if spec.path in only and i != skip and i not in first]
        reached.sort(key=lambda i: specs[i].template not in _SLOW_WHEN_FEW)  # stable: page order within each
        slow += reached
        first.update(reached)
    return slow + [i for i in range(len(specs)) if i not in first and i != skip], len(slow)


def _worker(renderer: _Renderer, next_chunk, done, conn, skip: int | None = None) -> None:
    _end_with_parent()
    _send_outcome(conn, lambda: (_take_chunks(renderer, next_chunk, done, skip), renderer.notes))


def _take_chunks(renderer: _Renderer, next_chunk, done, skip: int | None = None,
                 between: Callable[[], None] | None = None) -> list[tuple]:
    """Make pages, a chunk at a time from the shared counter, until none are left: the loop of every
    page worker and of the build's own process (``_render_forked``), which calls ``between`` after each
    chunk and while it waits for the counter. Returns (page index, ``_Renderer.page`` result) pairs."""
    out = []
    order, n_slow = _work_order(renderer.specs, skip, renderer.only)
    n = len(order)
    lock = next_chunk.get_lock()
    while True:
        if between is None:
            lock.acquire()
        else:  # a worker killed while it held the lock (the out-of-memory killer) would leave this process waiting for ever
            while not lock.acquire(timeout=0.2):
                between()  # raises when a worker ended without sending its pages
        try:
            start = next_chunk.value
            size = 1 if start < n_slow else _CHUNK  # the pages taken first one at a time (``_work_order``)
            next_chunk.value = start + size
        finally:
            lock.release()
        if start >= n:
            break
        for index in order[start:start + size]:
            out.append((index, renderer.page(index)))
            done.value += 1  # approximate across workers; only for the progress bar
        if between is not None:
            between()
    return out


def _send_outcome(conn, work: Callable[[], Any]) -> None:
    """Run ``work`` (in a worker process) and send ("ok", its result) or ("error", the exception it
    raised) to the parent, which raises it."""
    import pickle

    try:
        message = ("ok", work())
    except BaseException as exc:
        try:
            pickle.dumps(exc)
            message = ("error", exc)
        except Exception:
            message = ("error", RenderError(f"{type(exc).__name__}: {exc}"))
    conn.send_bytes(pickle.dumps(message, protocol=5))
    conn.close()


def _receive_outcome(conn) -> Any:
    """What ``_send_outcome`` sent: the result, or the exception raised here."""
    import pickle

    try:
        kind, payload = pickle.loads(conn.recv_bytes())
    except EOFError:
        raise RenderError("a page-rendering worker process ended unexpectedly") from None
    if kind == "error":
        raise payload
    return payload


class _AheadPage:
    """One page made in a forked process while this one prepares the others.

    ``build_site`` starts the audit page this way, right after the last build's manifest is read: it
    needs only the knowledge base and the graph, and its figures take seconds at 100,000 claims (the
    coverage figures, every claim's problems), time in which the second core would otherwise wait for
    this one to anchor the claims, record them for the manifest and format the references. The
    process makes, compares and writes the page exactly as a page worker would (``_Renderer.page``)."""

    def __init__(self, renderer: _Renderer, share: Callable[[], Any] | None = None) -> None:
        """``share``: a computation the page starts with that the other pages need too (the coverage
        figures, which the home page shows): the process sends its result as soon as it has it, and
        ``shared`` hands it over, so that the page workers do not compute it again. The process sends
        its page's note (``_Renderer.notes``) with the page's result, as a page worker does; ``notes``
        has it."""
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.path = renderer.specs[0].path
        self._result: tuple | None = None
        self.notes: dict[str, Any] = {}
        self.conn, self._sender = context.Pipe(duplex=False)
        self._shared_conn, shared_sender = context.Pipe(duplex=False) if share is not None else (None, None)
        self._senders = [c for c in (self._sender, shared_sender) if c is not None]
        self.process = context.Process(target=_ahead_worker, args=(renderer, self._sender, (share, shared_sender)), daemon=True)

    def start(self) -> None:
        """Start the process (apart from making the object, so that the caller holds the object, and
        can ``stop`` it, before any process exists)."""
        _start_child(self.process)
        for sender in self._senders:
            sender.close()

    def shared(self) -> Any:
        """The result of ``share`` if the process has sent it by now, else None (never waits: the
        pages that need it compute it themselves then)."""
        import pickle

        conn = self._shared_conn
        try:
            if conn is None or not conn.poll(0):
                return None
            return pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the process ended without it: its page's outcome says why
            return None

    def result(self) -> tuple:
        """The page's result (as ``_Renderer.page`` gives it), waiting for it the first time; raises what
        the process raised."""
        if self._result is None:
            try:
                self._result, self.notes = _receive_outcome(self.conn)
            finally:
                self.stop()
        return self._result

    def stop(self) -> None:
        if self.process.pid is not None:  # started
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
        for conn in (self.conn, self._shared_conn, *self._senders):
            if conn is not None:
                conn.close()


def _ahead_worker(renderer: _Renderer, conn, share: tuple = (None, None)) -> None:
    import gc
    import signal

    _end_with_parent()
    # Ctrl-C reaches the whole process group: the parent reports it and stops this process
    # (``_AheadPage.stop``); this one says nothing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Forked while the parent's collector was paused (kb/heap.py), it stays paused here, on purpose:
    # this process makes one page and ends, reference counting frees what it drops, and a collection
    # would only walk (and so copy) the objects it shares with the parent.
    gc.freeze()
    compute, shared_conn = share
    sending = _send_aside(shared_conn, compute) if compute is not None else None
    _send_outcome(conn, lambda: (renderer.page(0), renderer.notes))
    # until the parent has read the figures or stops this process; no longer once the parent is gone
    while sending is not None and sending.is_alive() and os.getppid() == _BUILDER:
        sending.join(0.5)


#: The process that forks page workers and the audit page's process (``_start_child``): a child whose
#: parent is no longer this process was left behind by a build killed from outside.
_BUILDER = 0


def _start_child(process) -> None:
    """Start a forked child of the build (a page worker, the audit page's process), which then knows its
    builder (``_end_with_parent``)."""
    global _BUILDER
    _BUILDER = os.getpid()
    process.start()


def _end_with_parent() -> None:
    """In a forked child of a build: have the system end it when the build's process dies (Linux:
    ``PR_SET_PDEATHSIG``), and end now if that already happened, so that a build killed from outside
    (SIGKILL, SIGTERM, the out-of-memory killer) leaves no process behind blocked on a pipe nobody
    reads, holding the command's output open. Elsewhere the callers' own checks of ``os.getppid()``
    are all there is."""
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass
    if _BUILDER and os.getppid() != _BUILDER:
        os._exit(1)


def _send_aside(conn, compute: Callable[[], Any]):
    """Send what ``compute`` returns on ``conn`` from a thread of its own (returned), so that this process
    goes on at once: the figures are bigger than a pipe holds, and the parent reads them only when it is
    ready for them. Nothing is sent when ``compute`` fails (the page computes it again and reports why).
    The thread ends when the parent has read them; ``_ahead_worker`` stops waiting for it when the parent
    is gone (the pipe's other end stays open in this process and in the page workers, so writing into
    it would not fail)."""
    import pickle
    import threading

    try:
        data = pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        conn.close()
        return None

    def send() -> None:
        try:
            conn.send_bytes(data)
        except OSError:  # the parent went on without them (and closed its end)
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _ahead_worthwhile(kb: KnowledgeBase, jobs: int | None) -> bool:
    """Make the audit page ahead (``_AheadPage``) when the pages will be made by worker processes anyway
    (``_render_all``: more than one job, a big site, ``fork``)."""
    jobs = jobs if jobs is not None else _cores()
    return jobs > 1 and len(kb.claims) + len(kb.references) >= PARALLEL_MIN_PAGES and "fork" in _start_methods()


def build_site(
    kb: KnowledgeBase,
    graph: Any,
    target: str | os.PathLike,
    *,
    lang: str | None = None,
    style: str | None = None,
    templates: str | os.PathLike | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    jobs: int | None = None,
    references_ready: Callable[[], None] | None = None,
) -> SiteResult:
    """Render the site into ``target``.

    A full build renders every page into a fresh folder next to ``target`` and swaps it into place
    only when the whole build succeeded. When ``target`` holds a site built by the same kb with the
    same templates, language and style (its manifest, ``.kb-site.json``, says so), the build is
    incremental: every page's view model is made and compared with the digest in the manifest, and
    only pages whose view model or file size changed are rendered (into a staging folder, then moved into
    place one by one); pages that no longer exist are removed. The manifest is removed before the
    first page is replaced and written again last, so a build killed half-way leaves whole pages and
    makes the next build a full one.

    ``progress(done, total, path)`` is called as pages are made. ``jobs``: worker processes (default:
    the number of cores; big sites only). ``references_ready``: called (and waited for) just before the
    references are formatted, after the claims were placed in their articles and the manifest's record
    of them made: the function
    ``kb.cite.format_in_background`` returns, so that formatting on another core overlaps that work.
    Raises RenderError for a broken template and ExportError
    when ``target`` is not a folder we may replace; in both cases the previous site is left untouched.
    """
    from . import graph as graphlib

    target = Path(target)
    lang = lang or kb.config.language
    style = style or kb.config.style
    resolved, kb_root = target.resolve(), Path(kb.root).resolve()
    if resolved == kb_root or resolved in kb_root.parents or resolved == Path.cwd().resolve():
        raise ExportError(f"refusing to replace {str(target)!r}: it holds the knowledge base or the current folder",
                          hint="choose a site folder of its own with -o, such as build")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{str(target)!r} exists and is not a folder", hint="choose another output folder with -o")
    if target.is_dir() and any(target.iterdir()) and not _holds_kb_site(target):
        raise ExportError(f"{str(target)!r} is a folder that does not hold a kb site; refusing to replace it",
                          hint="choose an empty or new folder with -o")
    if target.is_symlink():
        target = resolved  # a link to the site folder stays one: the folder it names is replaced, not the link
    env = make_env(template_dirs(kb.root, templates))
    has_audit = _has_audit() and _template_exists(env, "audit.html.j2")
    site = site_info(kb, has_audit)
    fingerprint = _build_fingerprint(env, kb, lang, style, site, has_audit)
    audit = _audit_inputs(kb) if has_audit else None
    staging = staging_folder(target)
    ahead = None
    try:
        with paused_collector():  # the manifest, the view index and the page list live on: see kb/heap.py
            data = _read_manifest_data(target) if (target / "index.html").is_file() else None
            recorded = _read_manifest(target, fingerprint, data) if data is not None else None
            previous, before = recorded if recorded is not None else (None, None)
            shown_before = (shown_notes(unsealed(data.get("records"))) or {}) if recorded is not None else {}
            del data
            if has_audit and _ahead_worthwhile(kb, jobs):
                ahead = _AheadPage(_Renderer(env, kb, lang, site, [_audit_spec(kb, graph)], staging, previous, target),
                                   share=lambda: graphlib.stats(kb, graph))  # the audit's figures: the home page's too
                ahead.start()
            views, specs = _page_specs(kb, graph, lang=lang, style=style, audit=has_audit, format_now=False)
            inputs = _inputs(kb, views)
            only = _affected_pages(kb, views, specs, before, inputs) if previous is not None else None
            inputs = json.dumps(inputs, separators=(",", ":"))
            del recorded, before  # the last build's record of every claim: not needed from here on, nor in the workers
            # The manifest's record of the claims is made while the references may still be being
            # formatted on the other core (cli/build.py); the view models need them from here on.
            if references_ready is not None:
                references_ready()
            views.format_all()
            figures = ahead.shared() if ahead is not None else None
            if figures is not None:
                graphlib.remember_stats(graph, figures)  # the page workers inherit them
        total = len(specs) + len(ASSETS)
        renderer = _Renderer(env, kb, lang, site, specs, staging, previous, target, only)
        results = _render_all(renderer, jobs if jobs is not None else _cores(), progress, total, ahead)
        with paused_collector():  # the page list and the manifest of 125,000 pages: see kb/heap.py
            notes = {**renderer.notes, **(ahead.notes if ahead is not None else {})}
            records = notes.pop("audit.html", None)
            if records is not None:  # what the reference pages not made this time showed is what they show
                paths = {spec.path for spec in specs}
                shown = {path: note for path, note in shown_before.items() if path in paths}
                shown.update(notes)
                records = sealed({**records, "shown": {path: note for path, note in sorted(shown.items()) if note is not None}})
            ahead = None
            written = [r[0] for r in results]
            assets = {}
            for name in ASSETS:
                assets[name] = read_asset(env, name).encode("utf-8")
                written.append(name)
                if progress:
                    progress(len(written), total, name)
            pages = {r[0]: [r[1], r[2]] for r in results if r[1] is not None}
            if previous is None:
                for name, data in assets.items():
                    (staging / name).parent.mkdir(parents=True, exist_ok=True)
                    (staging / name).write_bytes(data)
                (staging / MANIFEST).write_text(_manifest_text(fingerprint, pages, inputs, site, audit, records), encoding="utf-8")
                os.chmod(staging, 0o755)
                replace_tree(staging, target, detach=_big_site(target))
            else:
                _update_in_place(target, staging, results, assets, previous, _manifest_text(fingerprint, pages, inputs, site, audit, records))
            keep_folder_times(kb.root, target, page_folders(pages))
    except BaseException:
        if ahead is not None:
            ahead.stop()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SiteResult(target=target, pages=tuple(written), lang=lang, rendered=tuple(r[0] for r in results if r[3]),
                      incremental=previous is not None)


#: A site whose manifest is at least this big (about 2,000 pages; 240 bytes a page at 100,000 claims) is,
#: once a full build has replaced it, deleted by a process of its own (kb.output.replace_tree ``detach``):
#: unlinking 125,000 pages takes about 27 s, which the build need not wait for.
_BIG_MANIFEST_BYTES = 500_000


def _big_site(target: Path) -> bool:
    """Does ``target`` hold a big site (``_BIG_MANIFEST_BYTES``)? Its manifest's size says so without a walk."""
    try:
        return os.stat(target / MANIFEST).st_size >= _BIG_MANIFEST_BYTES
    except OSError:
        return False


def _holds(path: Path, data: bytes) -> bool:
    """Does the file at ``path`` hold exactly ``data`` (False when it cannot be read)?"""
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _update_in_place(target: Path, staging: Path, results: list[tuple], assets: dict[str, bytes], previous: dict[str, list],
                     manifest: str, *, all_pages: bool = True) -> None:
    """Move the pages rendered into ``staging`` into the site, remove the pages that are gone (when
    ``results`` has ``all_pages``), and write the new manifest; the old manifest is removed first (see
    ``build_site``)."""
    (target / MANIFEST).unlink(missing_ok=True)
    for path, _, _, rendered in results:
        if rendered:
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, target / path)
    for name, data in assets.items():
        if not _holds(target / name, data):
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
            os.replace(staging / name, target / name)
    gone = set(previous) - {r[0] for r in results} if all_pages else set()
    for path in gone:
        (target / path).unlink(missing_ok=True)
    for folder in sorted({os.path.dirname(path) for path in gone} - {""}, key=lambda f: -f.count("/")):
        while folder:  # a folder the pages that are gone leave empty goes too (claims/page/ when the index fits one page)
            try:
                (target / folder).rmdir()
            except OSError:  # not empty (or not there)
                break
            folder = os.path.dirname(folder)
    (staging / MANIFEST).write_text(manifest, encoding="utf-8")
    os.replace(staging / MANIFEST, target / MANIFEST)
    shutil.rmtree(staging, ignore_errors=True)
