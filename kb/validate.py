"""Stage 2, validate: KnowledgeBase -> every problem that spans files, as sorted Diagnostics.

Each rule lives in exactly one function here. Most rules are about one claim at a time, checked
against the sets it refers to (reference keys, claim ids, its own article): ``reference_problems``,
``evidence_problems``, ``derived_problems`` and ``anchor_problems`` (all four: ``claim_problems``),
with a ``Context`` that answers the look-ups. The rest look at the whole knowledge base:
``usage_problems`` (references nobody cites, cited works without DOI) and ``cycle_problems``
(derived_from cycles). The ``check_*`` functions run one concern over a whole knowledge base.

``validate`` returns the load diagnostics plus all checks, sorted by (path, line, column, code,
message). It does the least work the cache allows (kb/cache.py, kb/load.py):

* nothing changed since the last run: the remembered answer;
* only claim files changed: ``_validate_changes`` re-checks only the claims whose answer can differ
  (the changed ones; claims that became the owner of their id; claims whose derived_from names an id
  that appeared or disappeared; claims with an unknown-claim hint when the set of ids changed), takes
  every other claim's diagnostics from the index, recounts citations from kept counts, and finds
  cycles again only when derived_from links changed; then the index is updated (a small journal);
* otherwise every check on every claim, and a new index.

The codes are documented in docs/errors.md.
"""

from __future__ import annotations

import bisect
import marshal
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Callable, Iterable

from .article import normalize_text
from .cache import decode, encode, session_of
from .errors import Diagnostic, Severity, did_you_mean
from .model import Article, Claim, KnowledgeBase, Reference

__all__ = [
    "CHECKS",
    "Context",
    "check_anchors",
    "check_derived",
    "check_evidence",
    "check_references",
    "claim_problems",
    "validate",
]

E, W = Severity.ERROR, Severity.WARNING


_FILE_LEVEL = frozenset({"encoding", "unreadable", "file-too-large"})


def _unloaded_claims(kb: KnowledgeBase) -> set[str]:
    """Ids (file stems) of claim files that had errors and were not loaded: already reported at load time."""
    return _unloaded_ids(kb.diagnostics, kb.claims)


def _unloaded_ids(diagnostics: Iterable[Diagnostic], claims) -> set[str]:
    stems = {PurePosixPath(d.location.path).stem for d in diagnostics
             if d.severity is E and d.location.path.startswith("claims/")}
    return {stem for stem in stems if stem not in claims}


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


class Context:
    """What the per-claim rules look claims up against: reference keys, claim ids, articles, and what
    could not be loaded at all (problems that follow from an unreadable file are not repeated).

    ``references`` and ``claims`` need only answer ``in`` and iteration (keys); ``articles`` needs
    ``get`` and iteration. The articles' normalised text is built once per article and section.
    """

    def __init__(self, references, claims, articles: Mapping, load_diagnostics: Iterable[Diagnostic]):
        load_diagnostics = tuple(load_diagnostics)
        self.references = references
        self.claims = claims
        self.articles = articles
        # a BibTeX file, or the references/ folder itself, that could not be read (then every key is unknown)
        self.bib_unreadable = any(d.code in _FILE_LEVEL and (d.location.path == "references" or d.location.path.startswith("references/"))
                                  for d in load_diagnostics)
        self.unloaded_claims = _unloaded_ids(load_diagnostics, claims)
        self.unloaded_articles = {PurePosixPath(d.location.path).stem for d in load_diagnostics
                                  if d.code in _FILE_LEVEL and d.location.path.startswith("articles/")}
        self.articles_unreadable = any(d.code in _FILE_LEVEL and d.location.path == "articles" for d in load_diagnostics)
        self._bodies: dict[str, str] = {}
        self._sections: dict[tuple[str, str], str] = {}

    @classmethod
    def of(cls, kb: KnowledgeBase) -> "Context":
        return cls(kb.references, kb.claims, kb.articles, kb.diagnostics)

    def body(self, article: Article) -> str:
        if article.id not in self._bodies:
            self._bodies[article.id] = normalize_text(article.body)
        return self._bodies[article.id]

    def section_text(self, article: Article, section) -> str:
        key = (article.id, section.id)
        if key not in self._sections:
            self._sections[key] = normalize_text(" ".join(section.paragraphs))
        return self._sections[key]


# --- the per-claim rules ----------------------------------------------------------------------------

def reference_problems(claim: Claim, ctx: Context) -> Iterable[Diagnostic]:
    """Evidence that names a reference no BibTeX file has (not repeated when a BibTeX file was unreadable)."""
    if ctx.bib_unreadable:
        return
    for index, ev in enumerate(claim.evidence):
        if ev.ref not in ctx.references:
            yield Diagnostic(E, "unknown-ref", f"unknown reference {ev.ref!r}", claim.where("evidence", index, "ref"),
                             did_you_mean(ev.ref, ctx.references) or "add it to a file in references/")


def evidence_problems(claim: Claim) -> Iterable[Diagnostic]:
    """No evidence but not marked uncited; verdicts that contradict the evidence list; duplicate links."""
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


def derived_problems(claim: Claim, ctx: Context) -> Iterable[Diagnostic]:
    """derived_from must name other, existing claims (cycles: ``cycle_problems``)."""
    for index, other in enumerate(claim.derived_from):
        # (locations are looked up only for a diagnostic: with cached claims that unpacks the field positions)
        if other == claim.id:
            yield Diagnostic(E, "self-derived", f"claim {claim.id!r} lists itself in derived_from", claim.where("derived_from", index),
                             "remove it; derived_from lists the other claims this one summarises")
        elif other not in ctx.claims and other not in ctx.unloaded_claims:
            yield Diagnostic(E, "unknown-claim", f"derived_from names unknown claim {other!r}", claim.where("derived_from", index),
                             did_you_mean(other, ctx.claims))


def anchor_problems(claim: Claim, ctx: Context) -> Iterable[Diagnostic]:
    """The claim names a known article and section, and its Dutch text occurs in that article."""
    article = ctx.articles.get(claim.article)
    if article is None and (claim.article in ctx.unloaded_articles or ctx.articles_unreadable):
        return  # the article file, or the articles/ folder, was reported as unreadable
    if article is None:
        yield Diagnostic(E, "unknown-article", f"unknown article {claim.article!r}", claim.where("article"),
                         did_you_mean(claim.article, ctx.articles) or "add articles/<id>.md")
        return
    section = article.section(claim.section)
    if section is None:
        yield Diagnostic(E, "unknown-section", f"article {claim.article!r} has no section {claim.section!r}", claim.where("section"),
                         did_you_mean(claim.section, [s.id for s in article.sections]))
    elif (text := normalize_text(claim.text.nl)) not in ctx.body(article):
        yield Diagnostic(E, "text-not-in-article", f"claim text is not found in article {claim.article!r}", claim.where("text", "nl"),
                         "copy the sentence exactly as it appears in the article")
    elif text not in ctx.section_text(article, section):
        yield Diagnostic(W, "wrong-section", f"claim text is in article {claim.article!r} but not in section {claim.section!r}",
                         claim.where("section"))


def claim_problems(claim: Claim, ctx: Context) -> list[Diagnostic]:
    """Every per-claim rule, for one claim."""
    return [*reference_problems(claim, ctx), *evidence_problems(claim), *derived_problems(claim, ctx), *anchor_problems(claim, ctx)]


# --- the whole-knowledge-base rules -----------------------------------------------------------------

def unused_note(key: str, ref: Reference) -> Diagnostic:
    """What to say about a reference when no claim cites it."""
    return Diagnostic(W, "unused-ref", f"reference {key!r} is not cited by any claim", ref.location,
                      "link it from a claim's evidence or remove it")


def doi_note(key: str, ref: Reference, broken: set[str]) -> Diagnostic | None:
    """What to say about a reference when claims cite it (None: nothing)."""
    if ref.doi or key in broken:
        return None
    return Diagnostic(W, "missing-doi", f"reference {key!r} is cited but has no DOI", ref.location,
                      "add the doi field, or note in 'verification' why there is none")


def usage_problems(keys: Iterable[str], used, claims_unreadable: bool,
                   unused: Callable[[str], Diagnostic], cited: Callable[[str], Diagnostic | None]) -> Iterable[Diagnostic]:
    """References nobody cites (not when a claim file could not be loaded: it may cite them), and
    cited references that deserve a note (``doi_note``)."""
    for key in keys:
        if key not in used:
            if not claims_unreadable:
                yield unused(key)
        elif (note := cited(key)) is not None:
            yield note


def derived_edges(derived: Iterable[tuple[str, tuple[str, ...]]], claims) -> dict[str, list[str]]:
    """The derived_from graph among existing claims (self-links left out), every target a node."""
    edges = {cid: [d for d in targets if d in claims and d != cid] for cid, targets in derived}
    for targets in list(edges.values()):
        for target in targets:
            edges.setdefault(target, [])
    return edges


#: The longest derived_from chain kb follows: a summary of a summary of ... this many claims deep. Real
#: articles need a few levels; the graph queries keep every claim's path down such a chain (kb/graph.py
#: ``_derivation_bfs``), which grows with the square of its length: 1,000 levels took gigabytes.
MAX_DERIVATION_DEPTH = 100


def cycle_problems(edges: dict[str, list[str]], claim_of: Callable[[str], Claim]) -> Iterable[Diagnostic]:
    """One error per derived_from cycle, at the link that leaves its smallest claim id; without cycles,
    one error per claim at the top of a chain longer than MAX_DERIVATION_DEPTH (``derived-too-deep``)."""
    cycles = _cycles(edges)
    for cycle in cycles:
        first = claim_of(cycle[0])
        index = first.derived_from.index(cycle[1] if len(cycle) > 1 else cycle[0])
        yield Diagnostic(E, "derived-cycle", "derived_from forms a cycle: " + " -> ".join(cycle + [cycle[0]]),
                         first.where("derived_from", index), "a claim cannot rest, even indirectly, on itself")
    if cycles:
        return  # a chain through a cycle has no length
    depths = _chain_lengths(edges)
    derived_by_some = {target for targets in edges.values() for target in targets}
    for cid in sorted(cid for cid, depth in depths.items() if depth > MAX_DERIVATION_DEPTH and cid not in derived_by_some):
        yield Diagnostic(E, "derived-too-deep", f"claim {cid!r} rests on a derived_from chain {depths[cid]} claims long; "
                         f"kb follows at most {MAX_DERIVATION_DEPTH}", claim_of(cid).where("derived_from", 0),
                         "let a summary name the claims it summarises, not a summary of a summary of ...")


def _chain_lengths(edges: dict[str, list[str]]) -> dict[str, int]:
    """The number of claims on the longest derived_from chain from each claim down (1: it derives from
    none), in an acyclic ``edges``; iterative, so no recursion limit."""
    length: dict[str, int] = {}
    for start in edges:
        if start in length:
            continue
        stack = [(start, iter(edges[start]))]
        while stack:
            node, targets = stack[-1]
            for target in targets:
                if target not in length:
                    stack.append((target, iter(edges[target])))
                    break
            else:
                stack.pop()
                length[node] = 1 + max((length[t] for t in edges[node]), default=0)
    return length


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


# --- the checks, one concern over a whole knowledge base --------------------------------------------

def check_references(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """Unknown keys (error), references nobody cites (warning), cited works without DOI (warning)."""
    ctx = Context.of(kb)
    for claim in kb.claims.values():
        yield from reference_problems(claim, ctx)
    broken = _broken_entries(kb)
    used = {ev.ref for claim in kb.claims.values() for ev in claim.evidence}
    yield from usage_problems(kb.references, used, bool(ctx.unloaded_claims), lambda key: unused_note(key, kb.references[key]),
                              lambda key: doi_note(key, kb.references[key], broken))


def check_evidence(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """Claims without evidence not marked uncited; verdicts that contradict the evidence list."""
    for claim in kb.claims.values():
        yield from evidence_problems(claim)


def check_derived(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """derived_from must name other, existing claims, without cycles."""
    ctx = Context.of(kb)
    for claim in kb.claims.values():
        yield from derived_problems(claim, ctx)
    yield from cycle_problems(derived_edges(((c.id, c.derived_from) for c in kb.claims.values()), kb.claims), kb.claims.__getitem__)


def check_anchors(kb: KnowledgeBase) -> Iterable[Diagnostic]:
    """Each claim names a known article and section, and its Dutch text occurs in that article."""
    ctx = Context.of(kb)
    for claim in kb.claims.values():
        yield from anchor_problems(claim, ctx)


CHECKS: tuple[Callable[[KnowledgeBase], Iterable[Diagnostic]], ...] = (
    check_references,
    check_evidence,
    check_derived,
    check_anchors,
)


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    diagnostics.sort(key=lambda d: d.sort_key)
    return diagnostics


def validate(kb: KnowledgeBase) -> list[Diagnostic]:
    """Load diagnostics plus every check, sorted by (path, line, column, code, message)."""
    session = session_of(kb)
    if session is not None and session.result is not None:
        return list(session.result)  # the same files as last time: the same answer (kb/cache.py)
    if session is not None and session.update is not None:
        session.result = _validate_changes(kb, session)  # asked again, the same answer without redoing it
        return list(session.result)
    ctx = Context.of(kb)
    found = list(kb.diagnostics)
    per_claim: dict[str, list[Diagnostic]] = {}
    for cid, claim in kb.claims.items():
        problems = claim_problems(claim, ctx)
        if problems:
            per_claim[cid] = problems
            found.extend(problems)
    broken = _broken_entries(kb)
    used = {ev.ref for claim in kb.claims.values() for ev in claim.evidence}
    found.extend(usage_problems(kb.references, used, bool(ctx.unloaded_claims), lambda key: unused_note(key, kb.references[key]),
                                lambda key: doi_note(key, kb.references[key], broken)))
    cycles = list(cycle_problems(derived_edges(((c.id, c.derived_from) for c in kb.claims.values()), kb.claims), kb.claims.__getitem__))
    found.extend(cycles)
    _sorted(found)
    if session is not None and session.files is not None:
        from .load import full_index

        full_index(kb, session, {
            "check_diags": {kb.claims[cid].location.path: tuple(map(encode, problems)) for cid, problems in per_claim.items()},
            "cycles": tuple(map(encode, cycles)),
            "ref_notes": ({key: marshal.dumps(encode(unused_note(key, ref))) for key, ref in kb.references.items()},
                          {key: marshal.dumps(encode(note)) for key, ref in kb.references.items() if (note := doi_note(key, ref, broken)) is not None}),
            "unloaded": sorted(ctx.unloaded_claims),
            "result": tuple(map(encode, found)),
        })
    if session is not None:
        session.result = list(found)
    return found


def _validate_changes(kb: KnowledgeBase, session) -> list[Diagnostic]:
    """``validate`` after only claim files changed (see the module docstring): the same answer as a full run."""
    index, change = session.index, session.update
    ctx = Context(kb.references, kb.claims, change.articles, kb.diagnostics)
    old_unloaded = set(index.summary["unloaded"])
    gained = {cid for cid, (before, after) in change.owners.items() if before is None and after is not None}
    lost = {cid for cid, (before, after) in change.owners.items() if before is not None and after is None}
    known_changed = gained | lost | (old_unloaded ^ ctx.unloaded_claims)

    check_diags = dict(index.check_diags)
    derived = dict(index.derived)
    cites = dict(index.cites)
    recheck: set[str] = set()
    derived_changed = False
    for cid, (before, after) in change.owners.items():
        if before is not None:
            check_diags.pop(before, None)
            for key in index.record(before)[1]:
                cites[key] = cites.get(key, 0) - 1
        if after is not None:
            recheck.add(after)
            for key in change.record(after)[1]:
                cites[key] = cites.get(key, 0) + 1
        old_links = derived.pop(cid, None)
        new_links = (after, change.record(after)[2]) if after is not None and change.record(after)[2] else None
        if new_links is not None:
            derived[cid] = new_links
        derived_changed = derived_changed or (old_links or (None, ()))[1] != (new_links or (None, ()))[1]
    linked = False  # does an id that appeared or disappeared take part in a derived_from link?
    if known_changed:
        for cid, (rel, targets) in derived.items():
            if any(target in known_changed for target in targets):
                recheck.add(rel)
                linked = True
        linked = linked or any(cid in derived or cid in index.derived for cid in known_changed)
    if gained or lost:  # an unknown-claim hint names the closest id: it may be another one now
        recheck.update(rel for rel, found in check_diags.items() if any(t[1] == "unknown-claim" for t in found))
    for rel in recheck:
        problems = claim_problems(change.claim_at(rel), ctx)
        if problems:
            check_diags[rel] = tuple(map(encode, problems))
        else:
            check_diags.pop(rel, None)

    if derived_changed or linked or index.cycles:  # a cycle error names the file and line of a claim that may have moved
        cycles = list(cycle_problems(derived_edges(((cid, targets) for cid, (_, targets) in derived.items()), kb.claims),
                                     lambda cid: change.claim_at(derived[cid][0])))
    else:
        cycles = [decode(t) for t in index.cycles]
    unused_notes, doi_notes = index.fixed["ref_notes"]  # per key, as written by the full path (marshalled, read when needed)
    found = list(kb.diagnostics)
    for problems in check_diags.values():
        found.extend(map(decode, problems))
    found.extend(usage_problems(kb.references, {key for key, count in cites.items() if count > 0}, bool(ctx.unloaded_claims),
                                lambda key: decode(marshal.loads(unused_notes[key])),
                                lambda key: decode(marshal.loads(doi_notes[key])) if key in doi_notes else None))
    found.extend(cycles)
    _sorted(found)

    from .load import update_index

    update_index(kb, session, {
        "check_diags": check_diags, "derived": derived, "cites": {k: n for k, n in cites.items() if n > 0},
        "cycles": tuple(map(encode, cycles)), "unloaded": sorted(ctx.unloaded_claims), "result": tuple(map(encode, found)),
    })
    return found
