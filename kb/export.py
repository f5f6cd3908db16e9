"""The whole knowledge base as one JSON document (``kb export --format json``).

Shape (the stable core other tools rely on; documented in docs/export.md; fields are only ever
added, never renamed)::

    {"kb_export_version": 1, "title": ..., "articles": [...],
     "claims": [{"id", "article", "section", "text": {"nl", "en"}, "kind", "derived_from",
                 "verdict", "evidence": [{"ref", "relation", "cited_in_article", "certainty", ...}], ...}],
     "references": [{"key", "type", "title", "authors", "year", "doi", "pmid", "study_type",
                     "verified", "cited_for": [claim ids], ...}]}
"""

from __future__ import annotations

from typing import Any

from .model import KnowledgeBase

__all__ = ["EXPORT_VERSION", "export_document"]

EXPORT_VERSION = 1


def export_document(kb: KnowledgeBase) -> dict[str, Any]:
    cited_for = kb.citing_claims()
    return {
        "kb_export_version": EXPORT_VERSION,
        "title": kb.config.title,
        "languages": list(kb.config.languages),
        "articles": [
            {
                "id": a.id,
                "title": a.title,
                "language": a.language,
                "publisher": a.publisher,
                "url": a.url,
                "sections": [{"id": s.id, "title": s.title, "level": s.level} for s in a.sections],
            }
            for a in kb.articles.values()
        ],
        "claims": [
            {
                "id": c.id,
                "article": c.article,
                "section": c.section,
                "text": {"nl": c.text.nl, "en": c.text.en},
                "plain": {"nl": c.plain.nl, "en": c.plain.en} if c.plain is not None else None,
                "kind": c.kind,
                "derived_from": list(c.derived_from),
                "tags": list(c.tags),
                "verdict": c.verdict,
                "verdict_reason": c.verdict_reason,
                "status": c.status,
                "reviewer": c.reviewer,
                "reviewed_on": c.reviewed_on,
                "notes": c.notes,
                "evidence": [
                    {
                        "ref": ev.ref,
                        "relation": ev.relation,
                        "cited_in_article": ev.cited_in_article,
                        "certainty": ev.certainty,
                        "locator": ev.locator,
                        "found": ev.found,
                        "quote": ev.quote,
                    }
                    for ev in c.evidence
                ],
                "source": {"path": c.location.path, "line": c.location.line},
            }
            for c in kb.claims.values()
        ],
        "references": [
            {
                "key": r.key,
                "short": r.short,
                "type": r.entry_type,
                "title": r.title,
                "authors": [{"family": a.full_family, "given": a.given} for a in r.authors],
                "year": r.year,
                "journal": r.journal,
                "volume": r.volume,
                "number": r.number,
                "pages": r.pages,
                "doi": r.doi or None,
                "pmid": r.pmid or None,
                "pmcid": r.pmcid or None,
                "url": r.url or None,
                "study_type": r.study_type or None,
                "verified": r.verified,
                "verification": r.verification,
                "cited_as": r.cited_as,
                "discrepancy": r.discrepancy,
                "conclusion": r.conclusion,
                "certainty": r.certainty or None,
                "retraction": r.retraction or None,
                "retraction_notice": r.retraction_notice or None,
                "source": {"path": r.location.path, "line": r.location.line},
                "cited_for": cited_for[r.key],
            }
            for r in kb.references.values()
        ],
    }
