"""The evidence graph (kb.graph) and its CLI: kb why, impact, stats, cocite.

The small knowledge base in tests/data/graph/mini (copied to tmp_path) has this shape::

    pijn       geneen2017 partially-supports/low (cited), lim2024 mentions/not-graded (cited)
    betwist    lim2024 disputes/not-graded (cited)
    mentaal    geneen2017 supports/very-low (cited)
    kracht     seguin2003 supports/moderate (cited), geneen2017 partially-supports/low (reviewer)
    ongegrond  no evidence
    blessure   lauersen2014 supports/moderate (reviewer)
    conclusie  derived_from [pijn, mentaal]
    slot       derived_from [conclusie, kracht]
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import load_kb
from kb.cli import main
from kb.errors import KbError
from kb.graph import (
    CERTAINTY_RANK,
    build_graph,
    claim_certainties,
    claim_ids,
    cocitation,
    effective_support,
    impact,
    single_source_claims,
    stats,
    supporting_refs,
    unsupported_claims,
    why,
)
from kb.model import CERTAINTIES, RELATIONS, SUPPORTING, VERDICTS, Author, Claim, Config, Evidence, KnowledgeBase, Reference, Text

MINI = Path(__file__).parent / "data" / "graph" / "mini"
REPO = Path(__file__).resolve().parent.parent


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


# ------------------------------------------------------------------------------ build_graph

def test_node_kinds_and_ids(g):
    kinds = {}
    for n, d in g.nodes(data=True):
        assert "label" in d, n
        kinds.setdefault(d["kind"], set()).add(n)
    assert kinds["article"] == {"article:testartikel"}
    assert kinds["claim"] == {f"claim:{c}" for c in ("pijn", "betwist", "mentaal", "kracht", "ongegrond", "blessure", "conclusie", "slot")}
    assert kinds["reference"] == {"ref:geneen2017", "ref:lim2024", "ref:seguin2003", "ref:lauersen2014"}
    assert "section:testartikel/pijn" in kinds["section"]
    assert kinds["tag"] == {"tag:pain", "tag:mental-health"}
    assert "venue:cochrane-database-of-systematic-reviews" in kinds["venue"]
    assert "author:geneen-louise-j" in kinds["author"]


def test_claim_and_reference_attributes(g):
    c = g.nodes["claim:kracht"]
    assert (c["verdict"], c["claim_kind"], c["status"]) == ("supported", "empirical-finding", "reviewed")
    assert c["text_nl"] == "Weerstandstraining maakt ouderen sterker"
    assert c["text_en"] == "Resistance training makes older adults stronger"
    r = g.nodes["ref:geneen2017"]
    assert (r["year"], r["study_type"], r["verified"]) == (2017, "cochrane-overview", True)
    assert (r["doi"], r["pmid"], r["retraction"]) == ("10.1002/14651858.cd011279.pub3", "28436583", "")


def test_edges_carry_rel_and_evidence_data(g):
    e = g.edges["claim:pijn", "ref:geneen2017"]
    assert e["rel"] == "evidence"
    assert (e["relation"], e["certainty"], e["cited_in_article"], e["locator"]) == ("partially-supports", "low", True, "Authors' conclusions")
    assert g.edges["claim:kracht", "ref:geneen2017"]["cited_in_article"] is False
    assert g.edges["claim:conclusie", "claim:pijn"]["rel"] == "derived_from"
    assert g.edges["article:testartikel", "section:testartikel/pijn"]["rel"] == "contains"
    assert g.edges["section:testartikel/pijn", "claim:pijn"]["rel"] == "contains"
    assert g.edges["ref:geneen2017", "author:geneen-louise-j"] == {"rel": "authored_by", "position": 1}
    assert g.edges["ref:geneen2017", "venue:cochrane-database-of-systematic-reviews"]["rel"] == "published_in"
    assert g.edges["claim:pijn", "tag:pain"]["rel"] == "tagged"
    rels = {d["rel"] for _, _, d in g.edges(data=True)}
    assert rels == {"contains", "evidence", "derived_from", "authored_by", "published_in", "tagged"}


def test_dangling_links_are_skipped(kb_dir):
    text = (kb_dir / "claims" / "pijn.yaml").read_text()
    text = text.replace("  - ref: lim2024", "  - ref: nosuchref2020", 1)
    (kb_dir / "claims" / "pijn.yaml").write_text(text)
    slot = (kb_dir / "claims" / "slot.yaml").read_text().replace("[conclusie, kracht]", "[conclusie, kracht, ghost]")
    (kb_dir / "claims" / "slot.yaml").write_text(slot)
    g = build_graph(load_kb(kb_dir))
    assert "ref:nosuchref2020" not in g
    assert "claim:ghost" not in g
    assert sorted(g.successors("claim:slot")) == ["claim:conclusie", "claim:kracht"]


def test_build_graph_does_not_mutate_and_is_deterministic(kb):
    a, b = build_graph(kb), build_graph(kb)
    assert nx.utils.graphs_equal(a, b)
    assert list(a.nodes) == list(b.nodes)


# ------------------------------------------------------------------------------------- why

def test_why_direct(g):
    w = why(g, "pijn")
    assert w.claim.id == "pijn"
    assert [(l.path, l.ref, l.relation, l.certainty, l.cited_in_article) for l in w.links] == [
        (("pijn",), "geneen2017", "partially-supports", "low", True),
        (("pijn",), "lim2024", "mentions", "not-graded", True),
    ]
    assert w.weakest.ref == "geneen2017"
    assert w.certainty == "low"
    assert w.supported and w.supporting_refs == ("geneen2017",)


def test_why_inherits_through_derived_claims(g):
    w = why(g, "slot")
    assert [(l.path, l.ref, l.relation) for l in w.links] == [
        (("slot", "kracht"), "geneen2017", "partially-supports"),
        (("slot", "kracht"), "seguin2003", "supports"),
        (("slot", "conclusie", "mentaal"), "geneen2017", "supports"),
        (("slot", "conclusie", "pijn"), "geneen2017", "partially-supports"),
        (("slot", "conclusie", "pijn"), "lim2024", "mentions"),
    ]
    assert w.derived == (("conclusie", "slot"), ("kracht", "slot"), ("mentaal", "conclusie"), ("pijn", "conclusie"))
    assert [(c.id, c.verdict) for c in w.derived_claims] == [
        ("conclusie", "overstated"), ("kracht", "supported"), ("mentaal", "overstated"), ("pijn", "overstated")]
    # the weakest supporting link: very-low beats low
    assert (w.weakest.path, w.weakest.ref, w.weakest.certainty) == (("slot", "conclusie", "mentaal"), "geneen2017", "very-low")
    assert w.certainty == "moderate"


def test_why_weakest_tie_broken_by_relation(kb_dir):
    # give kracht's reviewer-added geneen link the same certainty as seguin's: partially-supports is weaker
    path = kb_dir / "claims" / "kracht.yaml"
    path.write_text(path.read_text().replace("certainty: low", "certainty: moderate"))
    w = why(build_graph(load_kb(kb_dir)), "kracht")
    assert (w.weakest.ref, w.weakest.relation) == ("geneen2017", "partially-supports")


def test_why_unsupported_claim(g):
    w = why(g, "betwist")
    assert [(l.ref, l.relation) for l in w.links] == [("lim2024", "disputes")]
    assert w.weakest is None and w.certainty == "none" and not w.supported


def test_why_unknown_claim_hints(g):
    with pytest.raises(KbError) as err:
        why(g, "conclusi")
    assert str(err.value) == "error: unknown claim 'conclusi'; did you mean 'conclusie'?"


def test_why_as_dict_is_json(g):
    data = json.loads(json.dumps(why(g, "conclusie").as_dict()))
    assert data["claim"]["id"] == "conclusie"
    assert data["weakest"]["ref"] == "geneen2017" and data["weakest"]["path"] == ["conclusie", "mentaal"]
    assert data["links"][0]["inherited"] is True and data["supporting_refs"] == ["geneen2017"]


# ---------------------------------------------------------------------------------- impact

def test_impact_direct_indirect_orphaned(g):
    i = impact(g, "geneen2017")
    assert i.direct == ("kracht", "mentaal", "pijn")
    assert i.indirect == ("conclusie", "slot")
    assert i.orphaned == ("conclusie", "mentaal", "pijn")
    by_claim = {r.claim: r for r in i.claims}
    assert by_claim["slot"].via == ("kracht",)
    assert by_claim["conclusie"].via == ("mentaal",)
    assert by_claim["kracht"].remaining == ("seguin2003",) and not by_claim["kracht"].orphaned
    assert by_claim["slot"].remaining == ("seguin2003",)


def test_impact_mentions_only_is_not_orphaned(g):
    i = impact(g, "lim2024")
    assert i.direct == ("betwist", "pijn")
    assert i.indirect == ("conclusie", "slot")
    assert i.orphaned == ()  # lim2024 supports nothing: its loss leaves nothing unsupported


def test_unknown_ids_without_a_close_match(g):
    with pytest.raises(KbError) as err:
        why(g, "zzz")
    assert str(err.value) == "error: unknown claim 'zzz'; 'kb list' shows the claim ids"
    with pytest.raises(KbError) as err:
        impact(g, "zzz")
    assert str(err.value) == "error: unknown reference 'zzz'; references are the BibTeX keys in references/*.bib"


def test_impact_unknown_ref(g):
    with pytest.raises(KbError, match=r"unknown reference 'geneen2016'; did you mean 'geneen2017'\?"):
        impact(g, "geneen2016")


def test_impact_as_dict(g):
    data = json.loads(json.dumps(impact(g, "lauersen2014").as_dict()))
    assert data["direct"] == ["blessure"] and data["orphaned"] == ["blessure"]
    assert data["claims"][0]["relation"] == "supports"


# ---------------------------------------------------------------------------- other queries

def test_supporting_refs(g):
    assert supporting_refs(g, "slot") == ("geneen2017", "seguin2003")
    assert supporting_refs(g, "slot", inherited=False) == ()
    assert supporting_refs(g, "betwist") == ()


def test_single_source_and_unsupported(g):
    assert single_source_claims(g) == ("blessure", "conclusie", "mentaal", "pijn")
    assert unsupported_claims(g) == ("betwist", "ongegrond")
    assert effective_support(g, without="seguin2003")["kracht"] == frozenset({"geneen2017"})


def test_cocitation(g):
    pairs = cocitation(g)
    assert [(p.refs, p.claims) for p in pairs] == [
        (("geneen2017", "lim2024"), ("pijn",)),
        (("geneen2017", "seguin2003"), ("kracht",)),
    ]
    assert pairs[0].as_dict() == {"refs": ["geneen2017", "lim2024"], "claims": ["pijn"], "count": 1}


def test_stats(kb, g):
    s = stats(kb, g, as_of=2025)
    assert (s.claims, s.references) == (8, 4)
    assert (s.cited_in_article, s.cited_share) == (4, 0.5)
    assert (s.supported, s.supported_share) == (6, 0.75)
    assert s.single_source == ("blessure", "conclusie", "mentaal", "pijn")
    assert s.unsupported == ("betwist", "ongegrond")
    assert s.most_relied_on == (("geneen2017", 5), ("seguin2003", 2), ("lauersen2014", 1))
    assert s.by_certainty == {"high": 0, "moderate": 3, "low": 2, "very-low": 1, "not-graded": 0, "none": 2}
    assert s.by_verdict == {"supported": 2, "overstated": 3, "source-misdescribed": 0, "unsupported": 1, "uncited": 2}
    assert s.references_by_study_type == {"cochrane-overview": 1, "systematic-review-meta-analysis": 2, "narrative-review": 1}
    assert s.references_by_age == {"0-5": 1, "6-10": 1, "11-15": 1, "16-20": 0, "21+": 1, "unknown": 0}
    assert s.uncited_references == ()
    assert json.loads(json.dumps(s.as_dict()))["most_relied_on"][0] == ["geneen2017", 5]


# --------------------------------------------------------------------------------------- CLI

def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_why_text_tree(kb_dir, capsys):
    code, out, err = run(capsys, "--kb", str(kb_dir), "why", "conclusie", "--lang", "en")
    assert code == 0, err
    assert out.splitlines()[:2] == ["conclusie  [summary; verdict: overstated; draft]", '  "Strength training helps against pain and low mood"']
    assert "  ├─ derived from mentaal [verdict: overstated]" in out
    assert "  │  └─ geneen2017 (Geneen et al. 2017, cochrane-overview): supports, certainty very-low, cited in article" in out
    assert "  └─ derived from pijn [verdict: overstated]" in out
    assert "     │     at: Authors' conclusions" in out
    assert "weakest link: geneen2017 (via conclusie > mentaal): supports, certainty very-low" in out


def test_cli_why_json(kb_dir, capsys):
    code, out, _ = run(capsys, "--kb", str(kb_dir), "why", "slot", "--format", "json")
    assert code == 0
    assert json.loads(out)["certainty"] == "moderate"


def test_cli_unknown_ids(kb_dir, capsys):
    code, out, err = run(capsys, "--kb", str(kb_dir), "why", "slott")
    assert (code, out) == (1, "")
    assert err == "kb: error: unknown claim 'slott'; did you mean 'slot'?\n"
    code, _, err = run(capsys, "--kb", str(kb_dir), "impact", "genen2017")
    assert code == 1
    assert err == "kb: error: unknown reference 'genen2017'; did you mean 'geneen2017'?\n"


def test_cli_impact(kb_dir, capsys):
    code, out, _ = run(capsys, "--kb", str(kb_dir), "impact", "geneen2017")
    assert code == 0
    assert "  pijn: partially-supports, certainty low  ORPHANED" in out
    assert "  slot <- kracht" in out
    assert out.rstrip().endswith("left without supporting evidence if geneen2017 were retracted (3):\n  conclusie\n  mentaal\n  pijn")
    code, out, _ = run(capsys, "--kb", str(kb_dir), "impact", "geneen2017", "--format", "json")
    assert json.loads(out)["orphaned"] == ["conclusie", "mentaal", "pijn"]


def test_cli_stats_and_cocite(kb_dir, capsys):
    code, out, _ = run(capsys, "--kb", str(kb_dir), "stats", "--as-of", "2025")
    assert code == 0
    assert "the article cites a source for: 4 of 8 claims (50%)" in out
    assert "with supporting evidence (direct or inherited): 6 of 8 (75%)" in out
    code, out, _ = run(capsys, "--kb", str(kb_dir), "stats", "--format", "json", "--as-of", "2025")
    assert json.loads(out)["by_verdict"]["overstated"] == 3
    code, out, _ = run(capsys, "--kb", str(kb_dir), "cocite")
    assert out == "geneen2017 + lim2024: 1 claim\n  pijn\ngeneen2017 + seguin2003: 1 claim\n  kracht\n"
    code, out, _ = run(capsys, "--kb", str(kb_dir), "cocite", "--format", "json")
    assert json.loads(out)[1]["refs"] == ["geneen2017", "seguin2003"]


def test_cli_output_file(kb_dir, tmp_path, capsys):
    target = tmp_path / "why.json"
    code, _, _ = run(capsys, "--kb", str(kb_dir), "why", "pijn", "--format", "json", "-o", str(target))
    assert code == 0 and json.loads(target.read_text())["claim"]["id"] == "pijn"


# ----------------------------------------------------------------- this repository's knowledge base

@pytest.fixture(scope="module")
def real():
    kb = load_kb(REPO)
    return kb, build_graph(kb)


def test_real_kb_impact_geneen2017(real):
    """Issue 3: kb impact geneen2017 lists the pain and mental-health claims and the conclusion
    claims derived from them, and says which would be left unsupported."""
    kb, g = real
    result = impact(g, "geneen2017")
    pain_mental = {c.id for c in kb.claims.values()
                   if c.section in ("pijn", "mentale-gezondheid") and any(ev.ref == "geneen2017" for ev in c.evidence)}
    assert {"pijn-weerstandstraining-chronische-klachten", "mentale-gezondheid-stemming-angst-depressie"} <= pain_mental
    assert pain_mental <= set(result.direct)
    conclusions = {c.id for c in kb.claims.values() if c.section == "conclusie" and set(c.derived_from) & pain_mental}
    assert {"conclusie-pijn", "conclusie-mentale-gezondheid"} <= conclusions
    assert conclusions <= set(result.indirect)
    for record in result.claims:  # orphaned exactly when geneen2017 is the claim's only support
        assert record.orphaned == (supporting_refs(g, record.claim) == ("geneen2017",)), record.claim
    assert set(result.orphaned) == {r.claim for r in result.claims if r.orphaned}


def test_real_kb_why_conclusion_reaches_the_references(real):
    _, g = real
    w = why(g, "conclusie-pijn")
    assert w.links and all(l.inherited and l.path[0] == "conclusie-pijn" for l in w.links)
    assert "geneen2017" in {l.ref for l in w.links}
    assert {l.path[1] for l in w.links} <= {"pijn-weerstandstraining-chronische-klachten", "pijn-rust-haaks-op-onderzoek"}


def test_real_kb_every_claim_answers(real):
    kb, g = real
    for claim_id in kb.claims:
        json.dumps(why(g, claim_id).as_dict())
    for key in kb.references:
        json.dumps(impact(g, key).as_dict())
    json.dumps(stats(kb, g).as_dict())


# ------------------------------------------------------------------- properties on generated knowledge bases

_texts = st.text(min_size=0, max_size=20)


@st.composite
def knowledge_bases(draw, *, cycles: bool = False):
    n_refs = draw(st.integers(1, 5))
    refs = {}
    for i in range(n_refs):
        key = f"r{i}"
        refs[key] = Reference(key=key, entry_type="article", title=draw(_texts),
                              authors=(Author(family=draw(st.sampled_from(["Geneen", "Lim", "van der Berg"])), given="A."),),
                              year=draw(st.one_of(st.none(), st.integers(1950, 2025))), journal=draw(st.sampled_from(["", "J One", "J Two"])),
                              study_type=draw(st.sampled_from(["", "cochrane-overview", "narrative-review"])), verified=draw(st.booleans()))
    n_claims = draw(st.integers(1, 8))
    claims = {}
    for i in range(n_claims):
        cid = f"c{i}"
        evidence = tuple(
            Evidence(ref=draw(st.sampled_from(sorted(refs) + ["unknown-ref"])), relation=draw(st.sampled_from(RELATIONS)),
                     cited_in_article=draw(st.booleans()), certainty=draw(st.sampled_from(CERTAINTIES)), locator=draw(_texts))
            for _ in range(draw(st.integers(0, 3)))
        )
        pool = [f"c{j}" for j in range(n_claims) if j != i] if cycles else [f"c{j}" for j in range(i)]
        derived = tuple(draw(st.lists(st.sampled_from(pool), unique=True, max_size=3))) if pool else ()
        claims[cid] = Claim(id=cid, article="a", section=draw(st.sampled_from(["s1", "s2"])), kind="empirical-finding",
                            text=Text(nl=draw(_texts), en=draw(_texts)), evidence=evidence, verdict=draw(st.sampled_from(VERDICTS)),
                            status="draft", derived_from=derived, tags=tuple(draw(st.lists(st.sampled_from(["x", "y"]), unique=True))))
    return KnowledgeBase(root=".", config=Config(), claims=claims, references=refs, articles={})


def _oracle_support(kb, cid, seen=()):
    """Supporting reference keys of a claim, straight from the records (no graph)."""
    claim = kb.claims[cid]
    refs = {ev.ref for ev in claim.evidence if ev.relation in SUPPORTING and ev.ref in kb.references}
    for other in claim.derived_from:
        if other in kb.claims and other not in seen and other != cid:
            refs |= _oracle_support(kb, other, seen + (cid,))
    return refs


def _oracle_links(kb, cid, seen=()):
    claim = kb.claims[cid]
    links = [ev for ev in claim.evidence if ev.ref in kb.references]
    for other in claim.derived_from:
        if other in kb.claims and other not in seen and other != cid:
            links += _oracle_links(kb, other, seen + (cid,))
    return links


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(knowledge_bases())
def test_queries_agree_with_the_records(kb):
    g = build_graph(kb)
    support = {c: _oracle_support(kb, c) for c in kb.claims}
    assert {c: set(v) for c, v in effective_support(g).items()} == support
    assert set(single_source_claims(g)) == {c for c, refs in support.items() if len(refs) == 1}
    assert set(unsupported_claims(g)) == {c for c, refs in support.items() if not refs}
    for key in kb.references:
        result = impact(g, key)
        direct = {c.id for c in kb.claims.values() if any(ev.ref == key for ev in c.evidence)}
        assert set(result.direct) == direct
        ancestors, frontier = set(), set(direct)
        while frontier:  # claims deriving, at any depth, from a direct claim
            frontier = {c.id for c in kb.claims.values() if set(c.derived_from) & frontier} - ancestors - direct
            ancestors |= frontier
        assert set(result.indirect) == ancestors
        assert set(result.orphaned) == {c for c in direct | ancestors if support[c] == {key}}
    for cid in kb.claims:
        w = why(g, cid)
        links = _oracle_links(kb, cid)
        best = max((CERTAINTY_RANK[ev.certainty] for ev in links if ev.relation in SUPPORTING), default=None)
        assert set(w.supporting_refs) == support[cid]
        assert w.certainty == ("none" if best is None else next(c for c, r in CERTAINTY_RANK.items() if r == best))
        if w.weakest:
            assert CERTAINTY_RANK[w.weakest.certainty] == min(CERTAINTY_RANK[l.certainty] for l in w.links if l.supporting)
        json.dumps(w.as_dict())
    s = stats(kb, g, as_of=2025)
    assert sum(s.by_certainty.values()) == sum(s.by_verdict.values()) == len(kb.claims)
    assert s.supported == sum(1 for refs in support.values() if refs)
    assert sum(s.references_by_age.values()) == len(kb.references)


@settings(max_examples=60, deadline=None)
@given(knowledge_bases(cycles=True))
def test_queries_terminate_on_derived_cycles(kb):
    # validate() rejects cycles, but the graph queries must not loop on an unvalidated knowledge base
    g = build_graph(kb)
    for cid in kb.claims:
        why(g, cid)
    for key in kb.references:
        impact(g, key)
    stats(kb, g, as_of=2025)


def test_retracted_and_unverified_sources_are_flagged(kb_dir, capsys):
    bib = kb_dir / "references" / "works.bib"
    text = bib.read_text()
    start = text.index("@article{seguin2003,")
    bib.write_text(text[:start] + text[start:].replace("verified = {", "retraction = {retracted},\n  verified = {", 1))
    g = build_graph(load_kb(kb_dir))
    assert g.nodes["ref:seguin2003"]["retraction"] == "retracted"
    assert why(g, "kracht").links[1].retraction == "retracted"
    code, out, _ = run(capsys, "--kb", str(kb_dir), "why", "kracht")
    assert code == 0
    assert "seguin2003 (Seguin & Nelson 2003, narrative-review): supports, certainty moderate, cited in article [RETRACTED]" in out
    assert "lim2024" not in out
    code, out, _ = run(capsys, "--kb", str(kb_dir), "why", "pijn")
    assert "mentions, certainty not-graded, cited in article [unverified]" in out  # lim2024 is verified = {false}


def test_coverage_certainty_counts_are_what_why_says_for_each_claim(tmp_path):
    """stats.by_certainty is counted without making every claim's evidence links: it must still be
    the Counter of why(claim).certainty over all claims (a generated knowledge base: chains of summaries)."""
    from collections import Counter

    from kb.graph import build_graph, stats, why
    from kb.load import load_kb

    from conftest import generated_kb

    kb = load_kb(generated_kb(tmp_path / "kb", claims=400, refs=40, seed=9))
    graph = build_graph(kb)
    expected = Counter(why(graph, cid).certainty for cid in kb.claims)
    counted = stats(kb, graph).by_certainty
    assert {name: n for name, n in counted.items() if n} == dict(expected)
    assert len(expected) > 2  # several certainties occur, "none" among them


@pytest.mark.parametrize("source", ["fixture", "repository", "generated"])
def test_claim_certainties_say_what_why_says(source, g, tmp_path):
    """claim_certainties computes every claim's certainty at once (for the audit and the figures); it
    must give exactly what why(...).certainty gives claim by claim, own and inherited evidence alike."""
    from conftest import copy_repo_kb, generated_kb


    if source != "fixture":
        root = copy_repo_kb(tmp_path / "repo") if source == "repository" else generated_kb(tmp_path / "gen", claims=300, refs=60, seed=4)
        g = build_graph(load_kb(root))
    got = claim_certainties(g)
    expected = {cid: why(g, cid).certainty for cid in claim_ids(g)}
    assert got == expected
    assert len(set(expected.values())) >= 2  # more than one certainty, so a mix-up would show


@pytest.mark.parametrize("source", ["fixture", "repository", "generated"])
def test_support_without_a_reference_is_the_walk_without_it(source, g, tmp_path):
    """``impact`` asks each claim's support as if the reference were retracted; taken from the memo (the
    full support less that key), it must be what walking the claim's derivations without it finds."""
    from conftest import copy_repo_kb, generated_kb

    from kb.graph import _support, _support_of, node_id, ref_keys

    if source != "fixture":
        root = copy_repo_kb(tmp_path / "repo") if source == "repository" else generated_kb(tmp_path / "gen", claims=300, refs=60, seed=4)
        g = build_graph(load_kb(root))
    orphans = 0
    for key in ref_keys(g):
        for cid in claim_ids(g):
            node = node_id("claim", cid)
            walked = _support_of(g, node, key, True)
            assert _support(g, node, key) == walked, (cid, key)
            orphans += bool(_support(g, node)) and not walked
    assert orphans  # some claim loses all its support with some reference: the case that matters


@pytest.mark.parametrize("source", ["fixture", "repository", "generated"])
def test_the_graph_is_what_networkx_add_node_and_add_edge_make(source, g, tmp_path):
    """build_graph fills networkx's adjacency dicts itself: the graph must be the one networkx's own
    add_node/add_edge make from the same nodes and edges, in the same order, each edge's attributes one
    dict shared by both directions."""
    import networkx as nx

    from conftest import copy_repo_kb, generated_kb

    if source != "fixture":
        root = copy_repo_kb(tmp_path / "repo") if source == "repository" else generated_kb(tmp_path / "gen", claims=300, refs=60, seed=4)
        g = build_graph(load_kb(root))
    made = nx.DiGraph(**g.graph)
    for node, attrs in g.nodes(data=True):
        made.add_node(node, **attrs)
    for u, v, attrs in g.edges(data=True):
        made.add_edge(u, v, **attrs)
    assert g.graph == made.graph and list(g._node.items()) == list(made._node.items())
    for adjacency, expected in ((g._succ, made._succ), (g._pred, made._pred)):
        assert list(adjacency) == list(expected)
        assert all(list(adjacency[n].items()) == list(expected[n].items()) for n in expected)
    assert all(g._pred[v][u] is data for u in g._succ for v, data in g._succ[u].items())
    assert g._adj is g._succ and g.number_of_edges() == made.number_of_edges() > 0
