"""The knowledge base as RDF (Turtle and JSON-LD) with established vocabularies, via rdflib.

Built from the evidence graph (``graph.build_graph``), so the links are the graph's links.
The mapping is documented in docs/graph.md; in short:

- works: BIBO classes (``bibo:AcademicArticle``...) with dcterms (title, creator, issued, isPartOf)
  and BIBO identifiers (``bibo:doi``, ``bibo:pmid``, volume, issue, pages); people are ``foaf:Person``.
- claim -> source relations: CiTO. CiTO reads "citing entity -> property -> cited entity", and its
  definitions make the *source* the subject of our relations ("the citing entity provides support
  for statements in the cited entity"), so ``<ref> cito:supports <claim>``; partially-supports is
  ``cito:qualifies`` (the source places conditions or restrictions on the claim), disputes is
  ``cito:disputes``, mentions is ``cito:discusses``. Each link is also a ``cito:Citation``
  (hasCitingEntity the source, hasCitedEntity the claim, hasCitationCharacterization the property)
  carrying certainty, locator, what the source found and whether the article cited it.
- the article's own citations: ``<article> cito:cites <ref>``.
- derived_from: ``prov:wasDerivedFrom``; the review: a ``prov:Activity`` that ``prov:used`` the claim,
  ``prov:wasAssociatedWith`` the reviewer (a ``prov:Agent``); reviewer-added links are
  ``prov:wasAttributedTo`` the reviewer.
- terms with no standard equivalent (verdict, GRADE certainty, claim kind, study type) are in the
  small ``kbv:`` vocabulary (``urn:kb:vocab#``).

JSON-LD carries its ``@context`` inline (prefixes only), so it never fetches anything.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import networkx as nx

from .article import slugify
from .graph import build_graph
from .model import KnowledgeBase

__all__ = [
    "CITO_PROPERTY",
    "DEFAULT_BASE",
    "JSONLD_CONTEXT",
    "PREFIXES",
    "build_rdf",
    "export_jsonld",
    "export_turtle",
    "to_jsonld",
    "to_turtle",
]

DEFAULT_BASE = "urn:kb:"
_LANG_RE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")  # BCP 47 shape, as RDF language tags need
VOCAB = "urn:kb:vocab#"
PREFIXES = {
    "cito": "http://purl.org/spar/cito/",
    "bibo": "http://purl.org/ontology/bibo/",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "kbv": VOCAB,
}
#: Our relation -> the CiTO property (subject: the source; object: the claim).
CITO_PROPERTY = {
    "supports": "supports",
    "partially-supports": "qualifies",
    "disputes": "disputes",
    "mentions": "discusses",
}
_BIBO_CLASS = {
    "article": "AcademicArticle",
    "book": "Book",
    "inbook": "Chapter",
    "incollection": "Chapter",
    "inproceedings": "AcademicArticle",
    "report": "Report",
    "techreport": "Report",
    "phdthesis": "Thesis",
    "mastersthesis": "Thesis",
    "online": "Webpage",
    "misc": "Document",
}


def _context(base: str) -> dict:
    return {**PREFIXES, "kb": base}


JSONLD_CONTEXT = _context(DEFAULT_BASE)


def _part(text: str) -> str:
    return quote(str(text), safe="-._~")


def build_rdf(kb: KnowledgeBase, g: nx.DiGraph | None = None, *, base: str = DEFAULT_BASE):
    """An rdflib Graph of the knowledge base (see the module docstring for the vocabulary)."""
    from rdflib import BNode, Graph, Literal, Namespace, URIRef
    from rdflib.collection import Collection
    from rdflib.namespace import RDF, RDFS, XSD

    g = g if g is not None else build_graph(kb)
    CITO, BIBO, DCT, PROV, FOAF, KBV = (Namespace(PREFIXES[p]) for p in ("cito", "bibo", "dcterms", "prov", "foaf", "kbv"))
    out = Graph(base=None)
    for prefix, iri in _context(base).items():
        out.bind(prefix, iri, override=True)

    def iri(*parts: str) -> URIRef:
        return URIRef(base + "/".join(_part(p) for p in parts))

    def lit(value, **kw):
        return Literal(value, **kw)

    agents: dict[str, URIRef] = {}

    def agent(name: str) -> URIRef:
        if name not in agents:
            node = agents[name] = iri("agent", slugify(name) or "unknown")
            out.add((node, RDF.type, PROV.Agent))
            out.add((node, RDF.type, FOAF.Person))
            out.add((node, FOAF.name, lit(name)))
        return agents[name]

    def node_iri(n: str) -> URIRef:
        kind, key = n.split(":", 1)
        return iri(kind, *key.split("/")) if kind == "section" else iri(kind, key)

    for n, d in g.nodes(data=True):
        kind = d.get("kind")
        s = node_iri(n)
        if kind == "article":
            out.add((s, RDF.type, BIBO.Document))
            out.add((s, DCT.identifier, lit(d["article_id"])))
            if d.get("title"):
                lang = d.get("language") if _LANG_RE.match(d.get("language") or "") else None
                out.add((s, DCT.title, lit(d["title"], lang=lang)))
            if d.get("publisher"):
                out.add((s, DCT.publisher, lit(d["publisher"])))
            if d.get("language"):
                out.add((s, DCT.language, lit(d["language"])))
            if re.match(r"https?://\S+$", d.get("url") or ""):
                out.add((s, RDFS.seeAlso, URIRef(d["url"])))
        elif kind == "section":
            out.add((s, RDF.type, BIBO.DocumentPart))
            out.add((s, DCT.identifier, lit(d["section"])))
            out.add((s, DCT.isPartOf, node_iri(f"article:{d['article']}")))
            if d.get("title"):
                out.add((s, DCT.title, lit(d["title"])))
        elif kind == "claim":
            out.add((s, RDF.type, KBV.Claim))
            out.add((s, RDFS.label, lit(d["claim_id"])))
            out.add((s, DCT.identifier, lit(d["claim_id"])))
            out.add((s, KBV.text, lit(d["text_nl"], lang="nl")))
            out.add((s, KBV.text, lit(d["text_en"], lang="en")))
            out.add((s, KBV.kind, lit(d["claim_kind"])))
            out.add((s, KBV.verdict, lit(d["verdict"])))
            out.add((s, KBV.status, lit(d["status"])))
            if d.get("verdict_reason"):
                out.add((s, KBV.verdictReason, lit(d["verdict_reason"])))
            review = iri("claim", d["claim_id"], "review")
            out.add((s, KBV.review, review))
            out.add((review, RDF.type, PROV.Activity))
            out.add((review, RDF.type, KBV.Review))
            out.add((review, PROV.used, s))
            out.add((review, KBV.verdict, lit(d["verdict"])))
            out.add((review, KBV.status, lit(d["status"])))
            if d.get("reviewer"):
                out.add((review, PROV.wasAssociatedWith, agent(d["reviewer"])))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d.get("reviewed_on") or ""):
                out.add((review, DCT.date, lit(d["reviewed_on"], datatype=XSD.date)))
        elif kind == "reference":
            out.add((s, RDF.type, BIBO[_BIBO_CLASS.get(d.get("entry_type", ""), "Document")]))
            out.add((s, RDFS.label, lit(d["label"])))
            out.add((s, DCT.identifier, lit(d["ref_key"])))
            if d.get("title"):
                out.add((s, DCT.title, lit(d["title"])))
            if d.get("year") is not None:
                out.add((s, DCT.issued, lit(str(d["year"]), datatype=XSD.gYear)))
            if d.get("doi"):
                out.add((s, BIBO.doi, lit(d["doi"])))
                out.add((s, RDFS.seeAlso, URIRef("https://doi.org/" + quote(d["doi"], safe="/.-_;()"))))
            if d.get("pmid"):
                out.add((s, BIBO.pmid, lit(d["pmid"])))
            if d.get("study_type"):
                out.add((s, KBV.studyType, lit(d["study_type"])))
            out.add((s, KBV.verified, lit(bool(d.get("verified")))))
            if d.get("certainty"):
                out.add((s, KBV.sourceCertainty, lit(d["certainty"])))
            if d.get("retraction"):
                out.add((s, KBV.retraction, lit(d["retraction"])))
        elif kind == "author":
            out.add((s, RDF.type, FOAF.Person))
            out.add((s, FOAF.name, lit(d["label"])))
            out.add((s, FOAF.familyName, lit(d["family"])))
            if d.get("given"):
                out.add((s, FOAF.givenName, lit(d["given"])))
        elif kind == "venue":
            out.add((s, RDF.type, BIBO.Journal))
            out.add((s, DCT.title, lit(d["name"])))

    for ref_key, ref in kb.references.items():  # details the graph does not carry
        s = iri("ref", ref_key)
        if (s, None, None) not in out:
            continue
        for field, prop in (("volume", BIBO.volume), ("number", BIBO.issue), ("pages", BIBO.pages)):
            if getattr(ref, field):
                out.add((s, prop, lit(getattr(ref, field))))
        if ref.pmcid:
            out.add((s, KBV.pmcid, lit(ref.pmcid)))

    for src, dst, d in g.edges(data=True):
        rel = d.get("rel")
        s, o = node_iri(src), node_iri(dst)
        if rel == "contains" and g.nodes[dst].get("kind") == "claim":
            out.add((o, DCT.isPartOf, s))
        elif rel == "derived_from":
            out.add((s, PROV.wasDerivedFrom, o))
        elif rel == "published_in":
            out.add((s, DCT.isPartOf, o))
        elif rel == "tagged":
            out.add((s, DCT.subject, lit(g.nodes[dst]["tag"])))
        elif rel == "evidence":
            prop = CITO[CITO_PROPERTY[d["relation"]]]
            out.add((o, prop, s))
            claim = g.nodes[src]
            link = iri("claim", claim["claim_id"], "evidence", g.nodes[dst]["ref_key"])
            out.add((link, RDF.type, CITO.Citation))
            out.add((link, RDF.type, KBV.EvidenceLink))
            out.add((link, CITO.hasCitingEntity, o))
            out.add((link, CITO.hasCitedEntity, s))
            out.add((link, CITO.hasCitationCharacterization, prop))
            out.add((link, KBV.relation, lit(d["relation"])))
            out.add((link, KBV.certainty, lit(d["certainty"])))
            out.add((link, KBV.citedInArticle, lit(bool(d["cited_in_article"]))))
            if d.get("locator"):
                out.add((link, KBV.locator, lit(d["locator"])))
            if d.get("found"):
                out.add((link, KBV.found, lit(d["found"])))
            if d["cited_in_article"]:
                out.add((node_iri(f"article:{claim['article']}"), CITO.cites, o))
            elif claim.get("reviewer"):
                out.add((link, PROV.wasAttributedTo, agent(claim["reviewer"])))

    for n, d in g.nodes(data=True):  # ordered author lists
        if d.get("kind") != "reference":
            continue
        authors = sorted((g.edges[n, t]["position"], t) for t in g.successors(n) if g.edges[n, t].get("rel") == "authored_by")
        if authors:
            s = node_iri(n)
            for _, a in authors:
                out.add((s, DCT.creator, node_iri(a)))
            head = BNode()
            Collection(out, head, [node_iri(a) for _, a in authors])
            out.add((s, BIBO.authorList, head))
    return out


def to_turtle(kb: KnowledgeBase, g: nx.DiGraph | None = None, *, base: str = DEFAULT_BASE) -> str:
    return build_rdf(kb, g, base=base).serialize(format="turtle")


def to_jsonld(kb: KnowledgeBase, g: nx.DiGraph | None = None, *, base: str = DEFAULT_BASE) -> str:
    """JSON-LD with an inline @context (prefixes only): readable offline by any JSON-LD processor."""
    text = build_rdf(kb, g, base=base).serialize(format="json-ld", context=_context(base), indent=2)
    json.loads(text)  # rdflib output is JSON; fail here rather than in a consumer
    return text if text.endswith("\n") else text + "\n"


def export_turtle(kb: KnowledgeBase) -> str:
    """``kb export --format turtle``."""
    return to_turtle(kb)


def export_jsonld(kb: KnowledgeBase) -> str:
    """``kb export --format jsonld``."""
    return to_jsonld(kb)
