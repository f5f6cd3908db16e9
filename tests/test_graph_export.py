"""Graph exports, each checked by the real tool that reads it.

- GraphML: networkx reads it back with every attribute, and lxml validates it against the
  published GraphML XML Schema, stored in tests/data/graph/ (origins in tests/data/graph/README.md;
  the XSDs' own imports of w3.org documents are answered from local copies, never the network).
- GEXF: networkx reads it back with every attribute.
- node-link JSON: networkx rebuilds the same graph.
- DOT: Graphviz's own ``dot`` parses it (``-Tjson``) and renders it (``-Tsvg``); ``kb graph`` draws SVG.
- Turtle and JSON-LD: loaded into pyoxigraph, an embedded SPARQL store, and queried.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import networkx as nx
import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from kb import load_kb
from kb.cli import main
from kb.graph import build_graph
from kb.graph_export import flatten, graphml_id, to_dot, to_gexf, to_graphml, to_node_link, xml_safe
from kb.rdf import CITO_PROPERTY, to_jsonld, to_turtle

DATA = Path(__file__).parent / "data" / "graph"
MINI = DATA / "mini"
REPO = Path(__file__).resolve().parent.parent
DOT = shutil.which("dot")


@pytest.fixture
def kb_dir(tmp_path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(MINI, target)
    return target


@pytest.fixture
def kb(kb_dir):
    return load_kb(kb_dir)


@pytest.fixture
def g(kb):
    return build_graph(kb)


def expected_attrs(data: dict) -> dict:
    """What a flattening exporter must keep of a node's or edge's attributes."""
    return {k: v for k, v in data.items() if v is not None}


def test_dot_is_installed():
    # Graphviz is a declared system dependency (.ci/run installs the Debian package graphviz);
    # the DOT tests below fail, never skip, where it is missing.
    assert DOT is not None, "install Graphviz: apt-get install graphviz"


# ------------------------------------------------------------------------------------ GraphML

class _LocalW3C(etree.Resolver):
    """The W3C XLink schema imports http://www.w3.org/2001/xml.xsd: answer with the local copy."""

    def resolve(self, url, pubid, context):
        if url.endswith("/2001/xml.xsd"):
            return self.resolve_filename(str(DATA / "xml.xsd"), context)
        return None


@pytest.fixture(scope="module")
def graphml_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalW3C())
    return etree.XMLSchema(etree.parse(str(DATA / "graphml.xsd"), parser))


def test_graphml_reads_back_with_every_attribute(g):
    h = nx.read_graphml(io.StringIO(to_graphml(g)))
    assert h.is_directed()
    back = {d["node_id"]: d for _, d in h.nodes(data=True)}
    assert set(back) == set(g.nodes)
    for n, data in g.nodes(data=True):
        got = dict(back[n])
        assert got.pop("node_id") == n
        assert got == expected_attrs(data), n
    ids = {d["node_id"]: n for n, d in h.nodes(data=True)}
    assert h.number_of_edges() == g.number_of_edges()
    for s, t, data in g.edges(data=True):
        assert h.edges[ids[s], ids[t]] == expected_attrs(data), (s, t)
    # types survive: booleans and integers are typed GraphML keys
    assert h.nodes["ref:geneen2017"]["verified"] is True
    assert h.nodes["ref:geneen2017"]["year"] == 2017
    assert h.edges["claim:kracht", "ref:geneen2017"]["cited_in_article"] is False


def test_graphml_ids_are_nmtokens(g):
    text = to_graphml(g)
    assert 'id="section:testartikel.pijn"' in text
    assert graphml_id("section:a/b c") == "section:a.b.c"


def test_graphml_validates_against_published_schema(g, graphml_schema):
    doc = etree.fromstring(to_graphml(g).encode("utf-8"))
    assert graphml_schema.validate(doc), graphml_schema.error_log


def test_graphml_schema_catches_raw_networkx_ids(g, graphml_schema):
    # networkx alone writes the '/' of section ids into id attributes, which GraphML forbids:
    # this is why to_graphml relabels, and it shows the validator really checks.
    buffer = io.BytesIO()
    nx.write_graphml(flatten(g), buffer)
    assert not graphml_schema.validate(etree.fromstring(buffer.getvalue()))
    assert "NMTOKEN" in str(graphml_schema.error_log)


def test_graphml_of_this_repository_validates(graphml_schema):
    doc = etree.fromstring(to_graphml(build_graph(load_kb(REPO))).encode("utf-8"))
    assert graphml_schema.validate(doc), graphml_schema.error_log


# --------------------------------------------------------------------------------------- GEXF

def test_gexf_reads_back_with_every_attribute(g):
    h = nx.read_gexf(io.StringIO(to_gexf(g)))
    assert set(h.nodes) == set(g.nodes)
    for n, data in g.nodes(data=True):
        assert h.nodes[n] == expected_attrs(data), n
    assert h.number_of_edges() == g.number_of_edges()
    for s, t, data in g.edges(data=True):
        got = dict(h.edges[s, t])
        got.pop("id")  # GEXF numbers its edges
        assert got == expected_attrs(data), (s, t)


# ---------------------------------------------------------------------------------- node-link

def test_node_link_round_trip(g):
    data = json.loads(to_node_link(g))
    assert set(data) == {"directed", "multigraph", "graph", "nodes", "edges"}
    h = nx.node_link_graph(data, edges="edges")
    assert nx.utils.graphs_equal(g, h)
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True))


# ---------------------------------------------------------------------------------------- DOT

def _dot_json(text: str) -> dict:
    proc = subprocess.run([DOT, "-Tjson"], input=text.encode("utf-8"), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_dot_export_is_parsed_by_graphviz(g):
    layout = _dot_json(to_dot(g))
    names = {o["name"] for o in layout["objects"] if "nodes" not in o}  # nodes, not clusters
    assert set(g.nodes) <= names
    assert len(layout["edges"]) == g.number_of_edges()
    pijn = next(o for o in layout["objects"] if o.get("name") == "claim:pijn")
    assert pijn["kb_text_en"] == "Exercise therapy with resistance reduces pain in chronic complaints"
    clusters = {o["label"] for o in layout["objects"] if o.get("name", "").startswith("cluster_")}
    assert {"Pijn", "Mentale gezondheid", "Ouderen", "Blessures", "Conclusie"} <= clusters


def test_dot_drawing_styles(g):
    text = to_dot(g, drawing=True)
    layout = _dot_json(text)
    names = {o["name"] for o in layout["objects"]}
    assert "claim:pijn" in names and "ref:geneen2017" in names
    assert not any(n.startswith(("author:", "venue:", "tag:")) for n in names)  # the picture leaves them out
    styles = {(e["tail"], e["head"]): e for e in layout["edges"]}
    by_name = {o["_gvid"]: o["name"] for o in layout["objects"]}
    edges = {(by_name[t], by_name[h]): e for (t, h), e in styles.items()}
    assert edges["claim:pijn", "ref:geneen2017"]["style"] == "dashed"       # partially-supports
    assert edges["claim:mentaal", "ref:geneen2017"]["style"] == "solid"     # supports
    assert edges["claim:betwist", "ref:lim2024"]["color"] == "#d73027"      # disputes
    assert edges["claim:pijn", "ref:lim2024"]["style"] == "dotted"          # mentions
    assert edges["claim:conclusie", "claim:pijn"]["arrowhead"] == "empty"   # derived_from
    fills = {by_name[o["_gvid"]]: o.get("fillcolor") for o in layout["objects"] if "_gvid" in o}
    assert fills["ref:geneen2017"] != fills["ref:seguin2003"]                # by study type


def test_dot_escapes_quotes_and_backslashes(kb_dir):
    path = kb_dir / "claims" / "pijn.yaml"
    path.write_text(path.read_text().replace(
        'en: "Exercise therapy with resistance reduces pain in chronic complaints"',
        "en: 'He said \"less pain\" \\N and a backslash \\ here'"))
    g = build_graph(load_kb(kb_dir))
    assert g.nodes["claim:pijn"]["text_en"] == r'He said "less pain" \N and a backslash \ here'
    pijn = next(o for o in _dot_json(to_dot(g))["objects"] if o.get("name") == "claim:pijn")
    assert pijn["kb_text_en"] == g.nodes["claim:pijn"]["text_en"]


def test_kb_graph_draws_svg(kb_dir, tmp_path, capsys):
    target = tmp_path / "evidence.svg"
    assert main(["--kb", str(kb_dir), "graph", "-o", str(target)]) == 0
    svg = etree.parse(str(target)).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {"claim:pijn", "ref:geneen2017", "claim:conclusie->claim:pijn"} <= titles
    assert main(["--kb", str(kb_dir), "graph", "-o", str(target)]) == 1  # exists: needs --force
    assert "exists" in capsys.readouterr().err
    assert main(["--kb", str(kb_dir), "graph", "-o", str(target), "--force", "--all"]) == 0
    titles = {t.text for t in etree.parse(str(target)).getroot().iter("{http://www.w3.org/2000/svg}title")}
    assert "author:geneen-louise-j" in titles


def test_kb_graph_dot_output_needs_no_graphviz(kb_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    target = tmp_path / "evidence.dot"
    assert main(["--kb", str(kb_dir), "graph", "-o", str(target)]) == 0
    assert target.read_text().startswith("digraph evidence {")


def test_kb_graph_without_graphviz_names_the_package(kb_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["--kb", str(kb_dir), "graph", "-o", str(tmp_path / "evidence.svg")]) == 1
    err = capsys.readouterr().err
    assert err == ("kb: error: Graphviz's 'dot' program was not found on PATH; install Graphviz "
                   "(Debian/Ubuntu: apt-get install graphviz), or write -o FILE.dot\n")
    assert not (tmp_path / "evidence.svg").exists()


def test_kb_graph_unknown_suffix(kb_dir, tmp_path, capsys):
    assert main(["--kb", str(kb_dir), "graph", "-o", str(tmp_path / "evidence.txt")]) == 1
    assert "cannot tell the picture format from" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- RDF

CITES_GENEEN = """
PREFIX cito: <http://purl.org/spar/cito/>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX kbv: <urn:kb:vocab#>
SELECT ?claim ?property ?relation ?certainty WHERE {
  ?ref dcterms:identifier "geneen2017" .
  ?link a cito:Citation ;
        cito:hasCitingEntity ?ref ;
        cito:hasCitedEntity ?c ;
        cito:hasCitationCharacterization ?property ;
        kbv:relation ?relation ;
        kbv:certainty ?certainty .
  ?c dcterms:identifier ?claim .
  ?ref ?property ?c .
} ORDER BY ?claim
"""
EXPECTED_GENEEN = [
    ("kracht", "http://purl.org/spar/cito/qualifies", "partially-supports", "low"),
    ("mentaal", "http://purl.org/spar/cito/supports", "supports", "very-low"),
    ("pijn", "http://purl.org/spar/cito/qualifies", "partially-supports", "low"),
]


def _store(text: str, fmt) -> ox.Store:
    store = ox.Store()
    store.load(text.encode("utf-8"), format=fmt)
    return store


def _rows(store: ox.Store, query: str, names: tuple[str, ...]) -> list[tuple]:
    return [tuple(row[n].value for n in names) for row in store.query(query)]


@pytest.mark.parametrize("fmt", ["turtle", "jsonld"])
def test_sparql_which_claims_cite_geneen2017(kb, fmt):
    text = to_turtle(kb) if fmt == "turtle" else to_jsonld(kb)
    store = _store(text, ox.RdfFormat.TURTLE if fmt == "turtle" else ox.RdfFormat.JSON_LD)
    assert _rows(store, CITES_GENEEN, ("claim", "property", "relation", "certainty")) == EXPECTED_GENEEN


def test_rdf_prov_and_works(kb):
    store = _store(to_turtle(kb), ox.RdfFormat.TURTLE)
    derived = """PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?from WHERE { ?c dcterms:identifier "conclusie" ; prov:wasDerivedFrom ?d . ?d dcterms:identifier ?from } ORDER BY ?from"""
    assert _rows(store, derived, ("from",)) == [("mentaal",), ("pijn",)]
    reviewer = """PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX foaf: <http://xmlns.com/foaf/0.1/>
        PREFIX dcterms: <http://purl.org/dc/terms/> PREFIX kbv: <urn:kb:vocab#>
        SELECT ?name ?verdict ?date WHERE { ?c dcterms:identifier "kracht" . ?r a prov:Activity ; prov:used ?c ;
        prov:wasAssociatedWith ?a ; kbv:verdict ?verdict ; dcterms:date ?date . ?a foaf:name ?name }"""
    assert _rows(store, reviewer, ("name", "verdict", "date")) == [("Test Reviewer", "supported", "2025-01-15")]
    work = """PREFIX bibo: <http://purl.org/ontology/bibo/> PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?doi ?year ?journal WHERE { ?w a bibo:AcademicArticle ; dcterms:identifier "geneen2017" ; bibo:doi ?doi ;
        dcterms:issued ?year ; dcterms:isPartOf ?j . ?j a bibo:Journal ; dcterms:title ?journal }"""
    assert _rows(store, work, ("doi", "year", "journal")) == [
        ("10.1002/14651858.cd011279.pub3", "2017", "Cochrane Database of Systematic Reviews")]
    authors = """PREFIX bibo: <http://purl.org/ontology/bibo/> PREFIX dcterms: <http://purl.org/dc/terms/>
        PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> PREFIX foaf: <http://xmlns.com/foaf/0.1/>
        SELECT ?family WHERE { ?w dcterms:identifier "geneen2017" ; bibo:authorList/rdf:first ?a . ?a foaf:familyName ?family }"""
    assert _rows(store, authors, ("family",)) == [("Geneen",)]  # the list keeps the author order
    cites = """PREFIX cito: <http://purl.org/spar/cito/> PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?key WHERE { ?art a <http://purl.org/ontology/bibo/Document> ; cito:cites ?r . ?r dcterms:identifier ?key } ORDER BY ?key"""
    # lauersen2014 was added by a reviewer; the article itself does not cite it
    assert _rows(store, cites, ("key",)) == [("geneen2017",), ("lim2024",), ("seguin2003",)]


def test_jsonld_is_offline_and_equals_turtle(kb):
    import rdflib
    from rdflib.compare import isomorphic

    doc = json.loads(to_jsonld(kb))
    assert isinstance(doc["@context"], dict)  # inline: no remote context to fetch
    assert all(isinstance(v, str) for v in doc["@context"].values())
    a = rdflib.Graph().parse(data=to_turtle(kb), format="turtle")
    b = rdflib.Graph().parse(data=json.dumps(doc), format="json-ld")
    assert len(a) > 300 and isomorphic(a, b)


def test_every_relation_has_a_cito_property():
    from kb.model import RELATIONS

    assert set(CITO_PROPERTY) == set(RELATIONS)


def test_colours_and_styles_cover_the_vocabulary():
    from kb.bib import STUDY_TYPES
    from kb.graph_export import EDGE_STYLES, STUDY_TYPE_COLOURS, VERDICT_COLOURS
    from kb.model import RELATIONS, VERDICTS

    assert list(VERDICT_COLOURS) == list(VERDICTS)
    assert list(STUDY_TYPE_COLOURS) == [*STUDY_TYPES, ""]
    assert set(RELATIONS) <= set(EDGE_STYLES)


def test_ranks_cover_the_vocabulary():
    from kb.model import CERTAINTIES, CERTAINTY_RANK, LOW_CERTAINTIES, RELATION_STRENGTH, RELATIONS

    assert set(RELATION_STRENGTH) == set(RELATIONS)
    assert sorted(CERTAINTY_RANK, key=CERTAINTY_RANK.get, reverse=True) == list(CERTAINTIES)
    assert CERTAINTY_RANK["high"] == 4 and CERTAINTY_RANK["not-graded"] == 0
    assert LOW_CERTAINTIES < set(CERTAINTIES)


# ------------------------------------------------------------------------------- kb export CLI

@pytest.mark.parametrize("fmt,check", [
    ("graphml", lambda t: nx.read_graphml(io.StringIO(t)).number_of_nodes() > 30),
    ("gexf", lambda t: nx.read_gexf(io.StringIO(t)).number_of_nodes() > 30),
    ("node-link", lambda t: len(json.loads(t)["nodes"]) > 30),
    ("dot", lambda t: t.startswith("digraph evidence {")),
    ("turtle", lambda t: "cito:qualifies" in t),
    ("jsonld", lambda t: "@context" in json.loads(t)),
])
def test_kb_export_formats(kb_dir, tmp_path, capsys, fmt, check):
    target = tmp_path / f"out.{fmt}"
    assert main(["--kb", str(kb_dir), "export", "--format", fmt, "-o", str(target)]) == 0
    assert check(target.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------- any text survives


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=40), title=st.text(max_size=40))
def test_any_text_survives_graphml_and_gexf(graphml_schema, text, title):
    g = build_graph(load_kb(MINI))
    g.nodes["claim:pijn"]["text_en"] = text
    g.nodes["ref:geneen2017"]["title"] = title
    doc = to_graphml(g)
    assert graphml_schema.validate(etree.fromstring(doc.encode("utf-8"))), graphml_schema.error_log
    h = nx.read_graphml(io.StringIO(doc))
    assert h.nodes["claim:pijn"]["text_en"] == xml_safe(text)
    assert h.nodes["ref:geneen2017"]["title"] == xml_safe(title)
    x = nx.read_gexf(io.StringIO(to_gexf(g)))
    assert x.nodes["claim:pijn"]["text_en"] == xml_safe(text)


# ------------------------------------------------------------------- this repository's knowledge base

def test_real_kb_dot_renders_and_rdf_answers():
    kb = load_kb(REPO)
    g = build_graph(kb)
    layout = _dot_json(to_dot(g, drawing=True))
    claims = {o["name"] for o in layout["objects"] if o.get("name", "").startswith("claim:")}
    assert claims == {f"claim:{c}" for c in kb.claims}
    proc = subprocess.run([DOT, "-Tsvg"], input=to_dot(g).encode("utf-8"), capture_output=True, timeout=300)
    assert proc.returncode == 0 and etree.fromstring(proc.stdout).tag == "{http://www.w3.org/2000/svg}svg"

    store = _store(to_turtle(kb, g), ox.RdfFormat.TURTLE)
    answer = _rows(store, CITES_GENEEN, ("claim", "property", "relation", "certainty"))
    expected = sorted((c.id, "http://purl.org/spar/cito/" + CITO_PROPERTY[ev.relation], ev.relation, ev.certainty)
                      for c in kb.claims.values() for ev in c.evidence if ev.ref == "geneen2017")
    assert answer == expected and len(answer) >= 5
