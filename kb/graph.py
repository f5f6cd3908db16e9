"""Stage 3, graph: KnowledgeBase -> networkx.DiGraph, plus the queries that read it.

This module is the one place that turns claims and references into links. Reports, the site, the
audit and the CLI ask these functions; none of them re-derives links from the YAML.

Nodes (id prefix -> ``kind``; every node also has a ``label``)::

    article:<id>                article     title, language, publisher, url
    section:<article>/<section> section     article, section, title, level
    claim:<id>                  claim       claim_id, verdict, claim_kind, status, text_nl, text_en, ...
    ref:<key>                   reference   ref_key, year, study_type, verified, doi, pmid, retraction, ...
    author:<slug>               author      family, given
    venue:<slug>                venue       name
    tag:<tag>                   tag         tag

Edges (attribute ``rel``)::

    article -> section -> claim       contains
    claim -> ref                      evidence      relation, certainty, cited_in_article, locator, found
    claim -> claim                    derived_from  (the claim it summarises)
    ref -> author                     authored_by   position (1-based)
    ref -> venue                      published_in
    claim -> tag                      tagged

``build_graph`` is pure and assumes a validated knowledge base: links to unknown references or
claims are skipped, never invented. The query functions return frozen dataclasses of plain data
(strings, numbers, tuples, dicts); each has ``as_dict()`` for JSON and templates.

Support is *inherited*: a claim that summarises others (``derived_from``) rests on their evidence
too. "Supporting" means the relation ``supports`` or ``partially-supports`` (``model.SUPPORTING``).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

import networkx as nx

from .article import slugify
from .bib import STUDY_TYPES
from .errors import KbError, did_you_mean
from .heap import paused_collector
from .model import CERTAINTIES, CERTAINTY_RANK, RELATION_STRENGTH, SUPPORTING, VERDICTS, KnowledgeBase

__all__ = [
    "AGE_BUCKETS",
    "CERTAINTY_RANK",
    "RELATION_STRENGTH",
    "CoCitation",
    "EvidenceLink",
    "Impact",
    "ImpactLink",
    "Stats",
    "Why",
    "build_graph",
    "claim_certainties",
    "claim_ids",
    "cocitation",
    "effective_support",
    "impact",
    "node_id",
    "ref_keys",
    "remember_stats",
    "single_source_claims",
    "stats",
    "supporting_refs",
    "unsupported_claims",
    "why",
]

# CERTAINTY_RANK and RELATION_STRENGTH are defined with the vocabulary in kb.model and re-exported here.
#: Age buckets for references (years before the reference year of ``stats``), in display order.
AGE_BUCKETS = ("0-5", "6-10", "11-15", "16-20", "21+", "unknown")


def node_id(kind: str, key: str) -> str:
    """``node_id("claim", "x")`` -> ``"claim:x"``; kinds: article, section, claim, ref, author, venue, tag."""
    return f"{kind}:{key}"


def _slug(text: str) -> str:
    return slugify(text) if text.strip() else "unknown"


# --------------------------------------------------------------------------------------------
# Building the graph


def build_graph(kb: KnowledgeBase) -> nx.DiGraph:
    """The evidence graph of a knowledge base (see the module docstring for its shape)."""
    with paused_collector():  # hundreds of thousands of attribute dicts that live on: see kb/heap.py
        return _build_graph(kb)


def _build_graph(kb: KnowledgeBase) -> nx.DiGraph:
    g = nx.DiGraph(name=kb.config.title)
    # Nodes and edges go straight into networkx's own adjacency dicts (``g._node``, ``g._succ``,
    # ``g._pred``: documented in networkx's "Graph internals"), as add_node and add_edge would put them,
    # in the same order, without their per-call checks: 3.3 s -> 2.4 s at 100,000 claims (480,000 edges).
    # tests/test_graph.py compares the result with a graph made through add_node/add_edge.
    nodes, succ, pred = g._node, g._succ, g._pred

    def add_node(node: str, **attrs) -> None:
        if node in nodes:
            nodes[node].update(attrs)
        else:
            nodes[node], succ[node], pred[node] = attrs, {}, {}

    def add_edge(u: str, v: str, **attrs) -> None:  # both nodes are in the graph
        data = succ[u].get(v)
        if data is None:
            succ[u][v] = pred[v][u] = attrs
        else:
            data.update(attrs)

    for article in kb.articles.values():
        aid = node_id("article", article.id)
        add_node(aid, kind="article", label=article.title or article.id, article_id=article.id, title=article.title,
                 language=article.language, publisher=article.publisher, url=article.url)
        for order, section in enumerate(article.sections):
            sid = node_id("section", f"{article.id}/{section.id}")
            add_node(sid, kind="section", label=section.title or section.id, article=article.id,
                     section=section.id, title=section.title, level=section.level, order=order)
            add_edge(aid, sid, rel="contains")

    author_ids: dict[str, str] = {}  # the same people write many references: each name made into an id once
    for ref in kb.references.values():
        rid = node_id("ref", ref.key)
        add_node(rid, kind="reference", label=ref.short, ref_key=ref.key, entry_type=ref.entry_type,
                 title=ref.title, year=ref.year, journal=ref.journal, study_type=ref.study_type,
                 verified=ref.verified, doi=ref.doi, pmid=ref.pmid, retraction=ref.retraction,
                 certainty=ref.certainty, first_author=ref.first_author)
        for position, author in enumerate(ref.authors, start=1):
            name = f"{author.full_family} {author.given}"
            aid = author_ids.get(name)
            if aid is None:
                aid = author_ids[name] = node_id("author", _slug(name))
            if aid not in nodes:
                add_node(aid, kind="author", label=str(author), family=author.full_family, given=author.given)
            add_edge(rid, aid, rel="authored_by", position=position)
        if ref.journal:
            vid = node_id("venue", _slug(ref.journal))
            if vid not in nodes:
                add_node(vid, kind="venue", label=ref.journal, name=ref.journal)
            add_edge(rid, vid, rel="published_in")

    for claim in kb.claims.values():
        cid = node_id("claim", claim.id)
        add_node(cid, kind="claim", label=claim.id, claim_id=claim.id, article=claim.article,
                 section=claim.section, claim_kind=claim.kind, verdict=claim.verdict, status=claim.status,
                 text_nl=claim.text.nl, text_en=claim.text.en, verdict_reason=claim.verdict_reason,
                 reviewer=claim.reviewer, reviewed_on=claim.reviewed_on, path=claim.location.path)
        aid = node_id("article", claim.article)
        sid = node_id("section", f"{claim.article}/{claim.section}")
        if aid not in nodes:  # the article file is missing: keep the claim's own word for it
            add_node(aid, kind="article", label=claim.article, article_id=claim.article, title="",
                     language="", publisher="", url="")
        if sid not in nodes:
            add_node(sid, kind="section", label=claim.section, article=claim.article, section=claim.section,
                     title="", level=0, order=len(nodes))
            add_edge(aid, sid, rel="contains")
        add_edge(sid, cid, rel="contains")
        for tag in claim.tags:
            tid = node_id("tag", tag)
            if tid not in nodes:
                add_node(tid, kind="tag", label=tag, tag=tag)
            add_edge(cid, tid, rel="tagged")

    for claim in kb.claims.values():
        cid = node_id("claim", claim.id)
        out = succ[cid]
        for index, ev in enumerate(claim.evidence):
            rid = node_id("ref", ev.ref)
            if rid not in nodes:
                continue  # dangling: validate reports unknown-ref
            attrs = dict(rel="evidence", relation=ev.relation, certainty=ev.certainty,
                         cited_in_article=ev.cited_in_article, locator=ev.locator, found=ev.found, index=index)
            if rid in out and _link_key(out[rid]) >= _link_key(attrs):
                continue  # the same source linked twice (validate warns): keep the stronger link
            add_edge(cid, rid, **attrs)
        for other in claim.derived_from:
            oid = node_id("claim", other)
            if other == claim.id or oid not in nodes or nodes[oid].get("kind") != "claim":
                continue
            add_edge(cid, oid, rel="derived_from")
    return g


def _link_key(attrs: dict) -> tuple:
    """Sort key: the stronger link is the larger one (support first, then certainty)."""
    supporting = attrs["relation"] in SUPPORTING
    return (supporting, CERTAINTY_RANK.get(attrs["certainty"], -1), RELATION_STRENGTH.get(attrs["relation"], -1))


# --------------------------------------------------------------------------------------------
# Small accessors


def _strip(node: str) -> str:
    return node.split(":", 1)[1]


def claim_ids(g: nx.DiGraph) -> list[str]:
    """Every claim id in the graph, sorted."""
    return sorted(_strip(n) for n, d in g.nodes(data=True) if d.get("kind") == "claim")


def ref_keys(g: nx.DiGraph) -> list[str]:
    """Every reference key in the graph, sorted."""
    return sorted(_strip(n) for n, d in g.nodes(data=True) if d.get("kind") == "reference")


def _require(g: nx.DiGraph, kind: str, key: str) -> str:
    prefix = "claim" if kind == "claim" else "ref"
    nid = node_id(prefix, key)
    if nid in g and g.nodes[nid].get("kind") == kind:
        return nid
    known = claim_ids(g) if kind == "claim" else ref_keys(g)
    what = "claim" if kind == "claim" else "reference"
    fallback = "'kb list' shows the claim ids" if kind == "claim" else "references are the BibTeX keys in references/*.bib"
    raise KbError(f"unknown {what} {key!r}", hint=did_you_mean(key, known) or fallback)


# The queries below read networkx's adjacency dicts (``g._succ[u][v]``, ``g._pred``: the edge
# attributes; the same dicts ``g.succ`` and ``g.edges[u, v]`` wrap in read-only views, which cost a
# view object and a Python-level look-up each time): at 100,000 claims that was half the time of
# the coverage figures. Only ever read here, never written.


def _out(g: nx.DiGraph, node: str, rel: str) -> list[str]:
    return sorted(t for t, attrs in g._succ[node].items() if attrs.get("rel") == rel)


def _in(g: nx.DiGraph, node: str, rel: str) -> list[str]:
    return sorted(s for s, attrs in g._pred[node].items() if attrs.get("rel") == rel)


# --------------------------------------------------------------------------------------------
# Result records


class _AsDict:
    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return _plain(self)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ClaimSummary(_AsDict):
    """The facts about a claim that a query result shows."""

    id: str
    section: str
    kind: str
    verdict: str
    status: str
    text_nl: str
    text_en: str


@dataclass(frozen=True, slots=True)  # slots: hundreds of thousands of these are memoised on a big graph
class EvidenceLink(_AsDict):
    """One claim -> reference link, reached from the claim asked about along ``path``.

    ``path`` runs from the claim asked about, through the claims it derives from, to the claim
    that holds the link: ``("conclusie", "pijn")`` means the conclusion inherits pijn's link.
    """

    path: tuple[str, ...]
    ref: str
    relation: str
    certainty: str
    cited_in_article: bool
    locator: str = ""
    found: str = ""
    ref_label: str = ""
    study_type: str = ""
    year: int | None = None
    verified: bool = False
    retraction: str = ""

    @property
    def holder(self) -> str:
        """The claim that holds the link (the last claim on the path)."""
        return self.path[-1]

    @property
    def inherited(self) -> bool:
        return len(self.path) > 1

    @property
    def supporting(self) -> bool:
        return self.relation in SUPPORTING

    def as_dict(self) -> dict[str, Any]:
        data = _plain(self)
        data.update(holder=self.holder, inherited=self.inherited, supporting=self.supporting)
        return data


@dataclass(frozen=True)
class Why(_AsDict):
    """``why(g, claim_id)``: the evidence behind a claim, inherited links included."""

    claim: ClaimSummary
    links: tuple[EvidenceLink, ...]
    #: The claims this one derives from, transitively, each with its parent on the chain: (child, parent).
    derived: tuple[tuple[str, str], ...]
    #: The weakest supporting link (lowest certainty; ties: weaker relation), or None if none supports.
    weakest: EvidenceLink | None
    #: The claim's certainty: the best certainty among its supporting links, "none" if none.
    certainty: str
    #: The claims in ``derived``, summarised (same order).
    derived_claims: tuple[ClaimSummary, ...] = ()

    @property
    def supported(self) -> bool:
        return any(link.supporting for link in self.links)

    @property
    def supporting_refs(self) -> tuple[str, ...]:
        return tuple(sorted({link.ref for link in self.links if link.supporting}))

    def as_dict(self) -> dict[str, Any]:
        data = _plain(self)
        data["links"] = [link.as_dict() for link in self.links]
        data["weakest"] = self.weakest.as_dict() if self.weakest else None
        data.update(supported=self.supported, supporting_refs=list(self.supporting_refs))
        return data


@dataclass(frozen=True)
class ImpactLink(_AsDict):
    """A claim that rests on the reference: directly (``via`` empty) or through the claims in ``via``."""

    claim: str
    #: The chain of claims from this one down to the claim citing the reference; empty if direct.
    via: tuple[str, ...]
    #: The relation of the citing claim's link to the reference.
    relation: str
    certainty: str
    #: True if, without the reference, the claim would have no supporting evidence left.
    orphaned: bool
    #: Supporting references the claim keeps without this one.
    remaining: tuple[str, ...]


@dataclass(frozen=True)
class Impact(_AsDict):
    """``impact(g, ref_key)``: what rests on a reference, and what a retraction would leave unsupported."""

    ref: str
    ref_label: str
    direct: tuple[str, ...]
    indirect: tuple[str, ...]
    orphaned: tuple[str, ...]
    claims: tuple[ImpactLink, ...]


@dataclass(frozen=True)
class CoCitation(_AsDict):
    """Two references cited together (by the same claim), with the claims that cite both."""

    refs: tuple[str, str]
    claims: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.claims)

    def as_dict(self) -> dict[str, Any]:
        return {"refs": list(self.refs), "claims": list(self.claims), "count": self.count}


@dataclass(frozen=True)
class Stats(_AsDict):
    """``stats(kb, g)``: coverage figures a reviewer wants at a glance. Shares are 0..1 floats."""

    claims: int
    references: int
    #: Claims for which the article itself cites at least one source.
    cited_in_article: int
    cited_share: float
    #: Claims with supporting evidence (supports / partially-supports), directly or inherited.
    supported: int
    supported_share: float
    #: Claims with supporting evidence from one reference only (directly or inherited).
    single_source: tuple[str, ...]
    unsupported: tuple[str, ...]
    #: (ref key, number of claims resting on it, directly or inherited, with supporting links), most first.
    most_relied_on: tuple[tuple[str, int], ...]
    by_certainty: dict[str, int]
    by_verdict: dict[str, int]
    references_by_study_type: dict[str, int]
    references_by_age: dict[str, int]
    #: The year ages are counted from.
    as_of: int
    #: References nobody cites.
    uncited_references: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------------------------
# Queries


def _summary(g: nx.DiGraph, cid: str) -> ClaimSummary:
    d = g.nodes[cid]
    return ClaimSummary(id=d["claim_id"], section=d["section"], kind=d["claim_kind"], verdict=d["verdict"],
                        status=d["status"], text_nl=d["text_nl"], text_en=d["text_en"])


#: graph -> {(query, node): result}: derivation paths and evidence links, asked for again and again
#: by the site (every claim page, the home page's figures, the audit). A graph is only read after
#: build_graph made it; build a new one after changing the knowledge base.
_MEMO: "weakref.WeakKeyDictionary[nx.DiGraph, dict]" = weakref.WeakKeyDictionary()


def _memoised(function):
    def wrapper(g: nx.DiGraph, node: str):
        memo = _MEMO.get(g)
        if memo is None:
            memo = _MEMO[g] = {}
        key = (function.__name__, node)
        if key not in memo:
            memo[key] = function(g, node)
        return memo[key]

    wrapper.__name__, wrapper.__doc__ = function.__name__, function.__doc__
    return wrapper


@_memoised
def _derivation_bfs(g: nx.DiGraph, start: str) -> tuple[tuple[str, ...], ...]:
    """Breadth-first paths (node ids) from ``start`` through derived_from, each claim once (shortest path)."""
    paths = [(start,)]
    seen = {start}
    queue = deque(paths)
    while queue:
        path = queue.popleft()
        for nxt in _out(g, path[-1], "derived_from"):
            if nxt not in seen:
                seen.add(nxt)
                new = path + (nxt,)
                paths.append(new)
                queue.append(new)
    return tuple(paths)


@_memoised
def _links(g: nx.DiGraph, cid: str) -> tuple[EvidenceLink, ...]:
    out = []
    for path in _derivation_bfs(g, cid):
        holder = path[-1]
        for rid in _out(g, holder, "evidence"):
            e, r = g._succ[holder][rid], g._node[rid]
            out.append(EvidenceLink(
                path=tuple(_strip(p) for p in path), ref=r["ref_key"], relation=e["relation"], certainty=e["certainty"],
                cited_in_article=e["cited_in_article"], locator=e.get("locator", ""), found=e.get("found", ""),
                ref_label=r.get("label", ""), study_type=r.get("study_type", ""), year=r.get("year"),
                verified=bool(r.get("verified")), retraction=r.get("retraction", ""),
            ))
    return tuple(out)


@_memoised
def _certainties(g: nx.DiGraph, _: str) -> dict[str, str]:
    """Claim id -> what ``why(g, id).certainty`` says (the best certainty of the claim's supporting
    evidence, its own or inherited through derived_from; "none" without any), for every claim at once,
    without making every evidence link of every claim. Memoised per graph (the second argument only
    keys the memo)."""
    nodes = [n for n, d in g._node.items() if d.get("kind") == "claim"]
    own = {}  # claim node -> the best certainty rank of its own supporting evidence (-1: none)
    for node in nodes:
        edges = g._succ[node]
        own[node] = max((CERTAINTY_RANK.get(edges[r]["certainty"], -1) for r in _out(g, node, "evidence")
                         if edges[r]["relation"] in SUPPORTING), default=-1)
    return {_strip(node): _certainty_named(max(own.get(path[-1], -1) for path in _derivation_bfs(g, node))) for node in nodes}


def claim_certainties(g: nx.DiGraph) -> dict[str, str]:
    """Claim id -> the certainty ``why`` gives it, for every claim (computed once per graph)."""
    return _certainties(g, "")


def _best_certainty(links: Iterable[EvidenceLink]) -> str:
    return _certainty_named(max((CERTAINTY_RANK.get(link.certainty, -1) for link in links if link.supporting), default=-1))


def _certainty_named(rank: int) -> str:
    """The certainty of ``rank`` (CERTAINTY_RANK); "none" below every rank (no graded supporting evidence)."""
    return next(c for c, r in CERTAINTY_RANK.items() if r == rank) if rank >= 0 else "none"


def why(g: nx.DiGraph, claim_id: str) -> Why:
    """The evidence chain behind a claim: its own links and those inherited through derived_from.

    Raises KbError (with a did-you-mean hint) for an unknown claim id.
    """
    cid = _require(g, "claim", claim_id)
    links = tuple(_links(g, cid))
    supporting = [link for link in links if link.supporting]
    weakest = min(
        supporting,
        key=lambda l: (CERTAINTY_RANK.get(l.certainty, -1), RELATION_STRENGTH.get(l.relation, -1), -len(l.path), l.ref),
        default=None,
    )
    chains = [p for p in _derivation_bfs(g, cid) if len(p) > 1]
    derived = tuple((_strip(p[-1]), _strip(p[-2])) for p in chains)
    return Why(claim=_summary(g, cid), links=links, derived=derived, weakest=weakest, certainty=_best_certainty(links),
               derived_claims=tuple(_summary(g, p[-1]) for p in chains))


def effective_support(g: nx.DiGraph, *, without: str | None = None) -> dict[str, frozenset[str]]:
    """claim id -> the reference keys supporting it, directly or through derived_from.

    ``without``: a reference key to leave out, as if it were retracted.
    """
    return {_strip(n): _support(g, n, without) for n, d in g.nodes(data=True) if d.get("kind") == "claim"}


def _support(g: nx.DiGraph, cid: str, without: str | None = None, *, inherited: bool = True) -> frozenset[str]:
    """Keys of the references supporting claim node ``cid``: directly, and with ``inherited`` through derived_from.
    ``without``: as if that reference were retracted. Inherited, that is the claim's full support less
    that key (the walk ``_support_of`` would make finds the same references but that one), taken from the
    memo: ``impact`` asks it for every claim resting on a reference (tens of thousands for a popular one)."""
    if inherited:
        full = _full_support(g, cid)
        return full - {without} if without is not None and without in full else full
    return _support_of(g, cid, without, inherited)


@_memoised
def _full_support(g: nx.DiGraph, cid: str) -> frozenset[str]:
    return _support_of(g, cid, None, True)


def _support_of(g: nx.DiGraph, cid: str, without: str | None, inherited: bool) -> frozenset[str]:
    refs = set()
    nodes = g._node
    for path in _derivation_bfs(g, cid) if inherited else [(cid,)]:
        edges = g._succ[path[-1]]
        for rid in _out(g, path[-1], "evidence"):
            if edges[rid]["relation"] in SUPPORTING and (key := nodes[rid]["ref_key"]) != without:
                refs.add(key)
    return frozenset(refs)


def supporting_refs(g: nx.DiGraph, claim_id: str, *, inherited: bool = True) -> tuple[str, ...]:
    """The keys of references that support a claim (sorted); with ``inherited``, through derived_from too."""
    return tuple(sorted(_support(g, _require(g, "claim", claim_id), inherited=inherited)))


def single_source_claims(g: nx.DiGraph) -> tuple[str, ...]:
    """Claims whose supporting evidence (directly or inherited) comes from exactly one reference."""
    return tuple(sorted(c for c, refs in effective_support(g).items() if len(refs) == 1))


def unsupported_claims(g: nx.DiGraph) -> tuple[str, ...]:
    """Claims with no supporting evidence at all, directly or through the claims they derive from."""
    return tuple(sorted(c for c, refs in effective_support(g).items() if not refs))


def impact(g: nx.DiGraph, ref_key: str) -> Impact:
    """Every claim that rests on a reference, and which would be left unsupported without it.

    Direct claims cite the reference (with any relation); indirect claims derive, through any
    number of derived_from steps, from a direct claim. A claim is *orphaned* if it has supporting
    evidence now and none at all once the reference is taken away.
    Raises KbError (with a did-you-mean hint) for an unknown reference key.
    """
    rid = _require(g, "reference", ref_key)
    direct = _in(g, rid, "evidence")

    # Walk derived_from backwards from the direct claims: who summarises them?
    via: dict[str, tuple[str, ...]] = {c: () for c in direct}
    origin: dict[str, str] = {c: c for c in direct}
    queue = deque(direct)
    while queue:
        current = queue.popleft()
        for parent in _in(g, current, "derived_from"):
            if parent not in via:
                via[parent] = (_strip(current),) + via[current]
                origin[parent] = origin[current]
                queue.append(parent)

    records = []
    for cid, chain in via.items():  # only these claims can lose support: compute it for them alone
        before, after = _support(g, cid), _support(g, cid, without=ref_key)
        edge = g._succ[origin[cid]][rid]
        records.append(ImpactLink(claim=_strip(cid), via=chain, relation=edge["relation"], certainty=edge["certainty"],
                                  orphaned=bool(before) and not after, remaining=tuple(sorted(after))))
    records.sort(key=lambda r: (len(r.via) > 0, r.claim))
    return Impact(
        ref=ref_key,
        ref_label=g.nodes[rid].get("label", ref_key),
        direct=tuple(r.claim for r in records if not r.via),
        indirect=tuple(r.claim for r in records if r.via),
        orphaned=tuple(sorted(r.claim for r in records if r.orphaned)),
        claims=tuple(records),
    )


def cocitation(g: nx.DiGraph) -> list[CoCitation]:
    """Pairs of references cited by the same claim (any relation), most shared claims first."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for cid in (n for n, d in g.nodes(data=True) if d.get("kind") == "claim"):
        keys = sorted(g.nodes[r]["ref_key"] for r in _out(g, cid, "evidence"))
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                pairs.setdefault((a, b), []).append(_strip(cid))
    result = [CoCitation(refs=pair, claims=tuple(sorted(claims))) for pair, claims in pairs.items()]
    result.sort(key=lambda c: (-c.count, c.refs))
    return result


def _age_bucket(year: int | None, as_of: int) -> str:
    if year is None:
        return "unknown"
    age = as_of - year
    if age <= 5:
        return "0-5"
    if age <= 10:
        return "6-10"
    if age <= 15:
        return "11-15"
    if age <= 20:
        return "16-20"
    return "21+"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def stats(kb: KnowledgeBase, g: nx.DiGraph, *, as_of: int | None = None) -> Stats:
    """Coverage figures. ``as_of``: the year reference ages are counted from (default: this year)."""
    as_of = as_of or date.today().year
    return _stats(g, as_of)


def remember_stats(g: nx.DiGraph, figures: Stats) -> None:
    """Let ``stats`` answer for ``g`` with ``figures``: what it answered for the same graph in a forked
    copy of this process (kb/site.py: the process making the audit page sends them for the home page).
    Figures this process already has are kept."""
    memo = _MEMO.get(g)
    if memo is None:
        memo = _MEMO[g] = {}
    memo.setdefault(("_stats", figures.as_of), figures)


@_memoised
def _stats(g: nx.DiGraph, as_of: int) -> Stats:
    claims = claim_ids(g)
    support = effective_support(g)
    cited = [c for c in claims if any(g._succ[node_id("claim", c)][r]["cited_in_article"]
                                      for r in _out(g, node_id("claim", c), "evidence"))]
    supported = [c for c in claims if support[c]]

    relied = Counter(ref for c in claims for ref in support[c])
    most_relied_on = tuple(sorted(relied.items(), key=lambda kv: (-kv[1], kv[0])))

    by_certainty = {c: 0 for c in (*CERTAINTIES, "none")}
    for certainty in _certainties(g, "").values():
        by_certainty[certainty] += 1
    by_verdict = {v: 0 for v in VERDICTS}
    for c in claims:
        verdict = g.nodes[node_id("claim", c)]["verdict"]
        by_verdict[verdict] = by_verdict.get(verdict, 0) + 1

    refs = ref_keys(g)
    by_type: dict[str, int] = {t: 0 for t in STUDY_TYPES}
    by_age = {b: 0 for b in AGE_BUCKETS}
    for key in refs:
        r = g.nodes[node_id("ref", key)]
        study_type = r.get("study_type") or "unknown"
        by_type[study_type] = by_type.get(study_type, 0) + 1
        by_age[_age_bucket(r.get("year"), as_of)] += 1
    by_type = {k: v for k, v in by_type.items() if v}
    uncited_refs = tuple(k for k in refs if not _in(g, node_id("ref", k), "evidence"))

    return Stats(
        claims=len(claims), references=len(refs),
        cited_in_article=len(cited), cited_share=_share(len(cited), len(claims)),
        supported=len(supported), supported_share=_share(len(supported), len(claims)),
        single_source=tuple(c for c in claims if len(support[c]) == 1),
        unsupported=tuple(c for c in claims if not support[c]),
        most_relied_on=most_relied_on, by_certainty=by_certainty, by_verdict=by_verdict,
        references_by_study_type=by_type, references_by_age=by_age, as_of=as_of,
        uncited_references=uncited_refs,
    )
