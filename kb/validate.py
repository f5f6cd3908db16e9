"""Stage 2, validate: KnowledgeBase -> every problem that spans files, as sorted Diagnostics.

Each ``check_*`` function looks at one concern and never raises for content problems.
``validate`` returns the load diagnostics plus all checks, sorted by (path, line, column, code).
The codes are documented in docs/errors.md.
"""

from __future__ import annotations

import bisect
from pathlib import PurePosixPath
from typing import Callable, Iterable

from .article import normalize_text
from .cache import remember_validation, remembered_validation
from .errors import Diagnostic, Severity, did_you_mean
from .model import KnowledgeBase

__all__ = [
    "CHECKS",
    "check_anchors",
    "check_derived",
    "check_evidence",
    "check_references",
    "validate",
]

E, W = Severity.ERROR, Severity.WARNING


_FILE_LEVEL = frozenset({"encoding", "unreadable", "file-too-large"})


def _unloaded_claims(kb: KnowledgeBase) -> set[str]:
    """Ids (file stems) of claim files that had errors and were not loaded: already reported at load time."""
    stems = {PurePosixPath(d.location.path).stem for d in kb.diagnostics
             if d.severity is E and d.location.path.startswith("claims/")}
    return stems - set(kb.claims)


def _broken_entries(kb: KnowledgeBase) -> set[str]:
    """Keys of BibTeX entries in which a syntax error was reported (their fields may be lost)."""
    errors: dict[str, list[int]] = {}
    for d in kb.diagnostics:
        if d.code in ("bib-syntax", "bib-braces"):
            errors.setdefault(d.location.path, []).append(d.location.line)
    if not errors:
        return set()
    broken = set()
    by_file: dict[str, list] = {}
    for ref in kb.references.values():
        by_file.setdefault(ref.location.path, []).append(ref)
    for path, lines in errors.items():
        refs = sorted(by_file.get(path, []), key=lambda r: r.location.line)
        starts = [r.location.line for r in refs]
        for line in lines:
            index = bisect.bisect_right(starts, line) - 1
            if index >= 0:
                broken.add(refs[index].key)
    return broken


def check_references(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """Unknown keys (error), references nobody cites (warning), cited works without DOI (warning).

    Problems that follow from a file that could not be read are not repeated: with an unreadable
    BibTeX file every key would be unknown, and with an unreadable claim file any reference may be unused.
    """
    used: set[str] = set()
    bib_unreadable = any(d.code in _FILE_LEVEL and d.location.path.startswith("references/") for d in kb.diagnostics)
    for claim in kb.claims.values():
        for index, ev in enumerate(claim.evidence):
            used.add(ev.ref)
            if ev.ref not in kb.references and not bib_unreadable:
                yield Diagnostic(E, "unknown-ref", f"unknown reference {ev.ref!r}", claim.where("evidence", index, "ref"),
                                 did_you_mean(ev.ref, kb.references) or "add it to a file in references/")
    claims_unreadable = bool(_unloaded_claims(kb))
    broken = _broken_entries(kb)
    for key, ref in kb.references.items():
        if key not in used:
            if not claims_unreadable:
                yield Diagnostic(W, "unused-ref", f"reference {key!r} is not cited by any claim", ref.location,
                                 "link it from a claim's evidence or remove it")
        elif not ref.doi and key not in broken:
            yield Diagnostic(W, "missing-doi", f"reference {key!r} is cited but has no DOI", ref.location,
                             "add the doi field, or note in 'verification' why there is none")


def check_evidence(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """Claims without evidence not marked uncited; verdicts that contradict the evidence list."""
    for claim in kb.claims.values():
        if not claim.evidence and not claim.derived_from and claim.verdict not in ("uncited", "unsupported"):
            yield Diagnostic(W, "no-evidence", f"claim {claim.id!r} has no evidence but its verdict is {claim.verdict!r}",
                             claim.where("verdict"), "add evidence, or set verdict: uncited")
        if claim.verdict == "uncited" and any(ev.cited_in_article for ev in claim.evidence):
            yield Diagnostic(W, "verdict-mismatch", f"claim {claim.id!r} is marked uncited but the article cites a source for it",
                             claim.where("verdict"), "choose another verdict, or set cited_in_article: false")
        seen: set[str] = set()
        for index, ev in enumerate(claim.evidence):
            if ev.ref in seen:
                yield Diagnostic(W, "duplicate-evidence", f"reference {ev.ref!r} is linked twice from claim {claim.id!r}",
                                 claim.where("evidence", index, "ref"), "merge the two links")
            seen.add(ev.ref)
        if claim.kind == "summary" and not claim.derived_from and not claim.evidence:
            yield Diagnostic(W, "summary-without-sources", f"summary claim {claim.id!r} lists no derived_from claims",
                             claim.where("kind"), "list the claims it summarises under derived_from")


def check_derived(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """derived_from must name other, existing claims, without cycles."""
    unloaded = _unloaded_claims(kb)
    for claim in kb.claims.values():
        for index, other in enumerate(claim.derived_from):
            # (locations are looked up only for a diagnostic: with cached claims that unpacks the field positions)
            if other == claim.id:
                yield Diagnostic(E, "self-derived", f"claim {claim.id!r} lists itself in derived_from", claim.where("derived_from", index),
                                 "remove it; derived_from lists the other claims this one summarises")
            elif other not in kb.claims and other not in unloaded:
                yield Diagnostic(E, "unknown-claim", f"derived_from names unknown claim {other!r}", claim.where("derived_from", index),
                                 did_you_mean(other, kb.claims))
    for cycle in _cycles({c.id: [d for d in c.derived_from if d in kb.claims and d != c.id] for c in kb.claims.values()}):
        first = kb.claims[cycle[0]]
        index = first.derived_from.index(cycle[1] if len(cycle) > 1 else cycle[0])
        yield Diagnostic(E, "derived-cycle", "derived_from forms a cycle: " + " -> ".join(cycle + [cycle[0]]),
                         first.where("derived_from", index), "a claim cannot rest, even indirectly, on itself")


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component (iterative Tarjan; no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(_cycle_in(sorted(component), edges))
    return sorted(cycles)


def _cycle_in(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """A concrete cycle through the smallest id of a strongly connected component."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    node = start
    while True:
        nxt = next((c for c in edges[node] if c == start), None) or next(c for c in edges[node] if c in members and c not in seen)
        if nxt == start:
            return path
        path.append(nxt)
        seen.add(nxt)
        node = nxt


def check_anchors(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """Each claim names a known article and section, and its Dutch text occurs in that article."""
    bodies = {aid: normalize_text(a.body) for aid, a in kb.articles.items()}
    sections: dict[tuple[str, str], str] = {}

    def section_text(article_id: str, section) -> str:
        key = (article_id, section.id)
        if key not in sections:
            sections[key] = normalize_text(" ".join(section.paragraphs))
        return sections[key]

    unloaded = {PurePosixPath(d.location.path).stem for d in kb.diagnostics
                if d.code in _FILE_LEVEL and d.location.path.startswith("articles/")}
    for claim in kb.claims.values():
        article = kb.articles.get(claim.article)
        if article is None and claim.article in unloaded:
            continue  # the article file itself was reported as unreadable
        if article is None:
            yield Diagnostic(E, "unknown-article", f"unknown article {claim.article!r}", claim.where("article"),
                             did_you_mean(claim.article, kb.articles) or "add articles/<id>.md")
            continue
        section = article.section(claim.section)
        if section is None:
            yield Diagnostic(E, "unknown-section", f"article {claim.article!r} has no section {claim.section!r}", claim.where("section"),
                             did_you_mean(claim.section, [s.id for s in article.sections]))
        elif (text := normalize_text(claim.text.nl)) not in bodies[claim.article]:
            yield Diagnostic(E, "text-not-in-article", f"claim text is not found in article {claim.article!r}", claim.where("text", "nl"),
                             "copy the sentence exactly as it appears in the article")
        elif text not in section_text(claim.article, section):
            yield Diagnostic(W, "wrong-section", f"claim text is in article {claim.article!r} but not in section {claim.section!r}",
                             claim.where("section"))


CHECKS: tuple[Callable[[KnowledgeBase], Iterable[Diagnostic]], ...] = (
    check_references,
    check_evidence,
    check_derived,
    check_anchors,
)


def validate(kb: KnowledgeBase) -> list[Diagnostic]:
    """Load diagnostics plus every check, sorted by (path, line, column, code)."""
    remembered = remembered_validation(kb)  # the same files as last time: the same answer (kb/cache.py)
    if remembered is not None:
        return remembered
    found = list(kb.diagnostics)
    for check in CHECKS:
        found.extend(check(kb))
    found.sort(key=lambda d: d.sort_key)
    remember_validation(kb, found)
    return found
