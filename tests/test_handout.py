"""Handouts (kb render handout), the annotated article (kb render article) and the document formats:
golden Markdown, structural HTML, a real pandoc --citeproc run, and a real PDF (WeasyPrint)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import check_golden
from kb.errors import KbError
from kb.graph import build_graph
from kb.handout import build_article_view, build_handout, cited_keys_in, patient_sentence, render_article, render_handout, select_claims
from kb.load import load_kb

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CASE = TESTS / "cases" / "audit-mini"
EXPECTED = TESTS / "cases" / "handout" / "expected"


@pytest.fixture(scope="module")
def mini():
    kb = load_kb(CASE)
    return kb, build_graph(kb)


@pytest.fixture(scope="module")
def repo():
    kb = load_kb(REPO)
    return kb, build_graph(kb)


# -- what goes in ----------------------------------------------------------------------------

def test_inclusion_hedges_and_numbering(mini):
    kb, graph = mini
    h = build_handout(kb, graph, lang="nl", style="vancouver")
    items = {i.claim_id: i for s in h.sections for i in s.items}
    assert list(items) == ["pijn", "blessures", "conclusie"]  # article order
    assert dict(h.left_out) == {
        "herstel": "no supporting evidence",
        "veilig": "no supporting evidence left once retracted sources are set aside",  # fictief2005 is retracted
    }
    assert items["pijn"].text == "Oefenen met weerstand kan pijn bij langdurige klachten wat verminderen."  # plain wording
    # overstated, but its plain wording was written to match the evidence: only the low certainty is noted
    assert (items["pijn"].citation, items["pijn"].hedge) == ("[1]", "limited")
    # reviewer-added source cited; it rests on not-graded evidence only (lauersen2014): said to patients
    assert (items["blessures"].citation, items["blessures"].hedge) == ("[2]", "ungraded")
    assert (items["conclusie"].citation, items["conclusie"].hedge) == ("[1, 2]", "overstated")  # inherited sources
    assert [(e.key, e.label) for e in h.bibliography] == [("geneen2017", "1"), ("lauersen2014", "2")]
    assert [s.title for s in h.sections] == ["Pijn", "Blessures", "Conclusie"]
    assert h.no_plain == ("blessures", "conclusie")  # pijn has plain wording


def test_apa_cites_author_date(mini):
    kb, graph = mini
    h = build_handout(kb, graph, lang="en", style="apa")
    items = {i.claim_id: i for s in h.sections for i in s.items}
    assert items["conclusie"].citation == "(Geneen et al., 2017; Lauersen et al., 2014)"
    assert h.in_text == "author-year"


def test_strong_wording_on_weak_evidence_is_hedged(repo):
    import dataclasses

    kb, graph = repo
    # The wording check reads the handout's text: the article's wording when a claim has no plain
    # wording (strong phrase on not-graded evidence: hedged), its plain wording when it has one. Here the
    # claim is taken as the reviewer's 'supported' (it is 'overstated' in the data): the check alone hedges it.
    kb = dataclasses.replace(kb, claims={**kb.claims, "inleiding-spierkracht": dataclasses.replace(kb.claims["inleiding-spierkracht"],
                                                                                                  verdict="supported")})
    plain = build_handout(kb, graph, lang="nl", style="vancouver")
    plain_item = {i.claim_id: i for s in plain.sections for i in s.items}["inleiding-spierkracht"]
    assert not plain_item.text.startswith("Sterke wetenschap") and plain_item.hedge == "ungraded"  # not graded: said, not hedged
    article_wording = dataclasses.replace(kb.claims["inleiding-spierkracht"], plain=None)
    kb = dataclasses.replace(kb, claims={**kb.claims, "inleiding-spierkracht": article_wording})
    h = build_handout(kb, graph, lang="nl", style="vancouver")
    items = {i.claim_id: i for s in h.sections for i in s.items}
    assert items["inleiding-spierkracht"].text.startswith("Sterke wetenschap toont aan")
    assert items["inleiding-spierkracht"].hedge == "overstated"
    excluded = {cid for cid, _ in h.left_out}
    assert all(kb.claims[c].verdict == "unsupported" or not graph_support(graph, c) for c in excluded)
    assert not excluded & set(items)
    assert {c.id for c in kb.claims.values() if c.verdict == "unsupported"} <= excluded


def graph_support(graph, claim_id):
    from kb.graph import supporting_refs

    return supporting_refs(graph, claim_id)


def test_select_claims_by_id_and_tag(mini):
    kb, _ = mini
    assert select_claims(kb, "pain, veilig") == ["pijn", "veilig"]
    assert select_claims(kb, "injury") == ["blessures"]
    assert select_claims(kb, None) == list(kb.claims)
    with pytest.raises(KbError) as info:
        select_claims(kb, "pjin")
    assert str(info.value) == "error: --claims: 'pjin' is neither a claim id nor a tag; did you mean 'pijn'?"


@pytest.mark.parametrize("style, intro", [("vancouver", "The numbers in square brackets"), ("alpha", "The codes in square brackets"),
                                           ("apa", "The names and years in brackets")])
def test_the_intro_says_what_the_citations_are(mini, style, intro):
    kb, graph = mini
    html = render_handout(kb, graph, "html", lang="en", style=style)
    assert f'<p class="intro">{intro} refer to the sources at the end.' in html


def test_patient_sentence():
    assert patient_sentence("oefentherapie vermindert pijn (Geneen et al.; 2017)") == "Oefentherapie vermindert pijn."
    assert patient_sentence("Zie (Seguin & Nelson; 2003; Hunter et al.; 2004), zo blijkt") == "Zie, zo blijkt."
    assert patient_sentence("Helpt dat? Ja (n = 3)") == "Helpt dat? Ja (n = 3)."
    assert patient_sentence("al af!") == "Al af!"


# -- golden Markdown -------------------------------------------------------------------------

@pytest.mark.parametrize("lang, style", [("nl", "vancouver"), ("en", "apa"), ("en", "alpha")])
def test_golden_markdown(mini, lang, style, update_golden):
    kb, graph = mini
    check_golden(EXPECTED / f"handout.{lang}.{style}.md", render_handout(kb, graph, "md", lang=lang, style=style), update_golden)


def test_golden_pandoc_and_article_markdown(mini, update_golden):
    kb, graph = mini
    check_golden(EXPECTED / "handout.en.pandoc.md", render_handout(kb, graph, "pandoc", lang="en", bib_name="handout.bib"), update_golden)
    check_golden(EXPECTED / "article.en.vancouver.md", render_article(kb, graph, "md", lang="en", style="vancouver"), update_golden)


# -- HTML ------------------------------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def test_handout_html_links_resolve_and_text_is_escaped(repo):
    kb, graph = repo
    html = render_handout(kb, graph, "html", lang="nl", style="vancouver")
    page = _Page()
    page.feed(html)
    assert len(page.ids) == len(set(page.ids))
    internal = [h for h in page.hrefs if h.startswith("#")]
    assert internal and all(h[1:] in page.ids for h in internal)
    assert all(h.startswith(("#", "https://")) for h in page.hrefs)
    h = build_handout(kb, graph, lang="nl", style="vancouver")
    refs = [i for i in page.ids if i.startswith("ref-")]
    assert len(refs) == len(h.bibliography) == len(set(k for s in h.sections for i in s.items for k in i.keys))
    assert "script" not in page.tags and "size: A4" in html


def _citations(html: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """claim id -> (the visible text of its citation group, [(href, link text)] of its links)."""
    out = {}
    for claim_id, group in re.findall(r'<li id="claim-([^"]+)">.*?<span class="cite-group[^"]*">(.*?)</span>(?:<span class="hedge">|</li>)', html, re.S):
        links = [(href, unescape(text)) for href, text in re.findall(r'<a class="cite" href="([^"]+)">([^<]*)</a>', group)]
        out[claim_id] = (unescape(re.sub(r"<[^>]+>", "", group)), links)
    return out


def test_handout_html_links_each_source_of_a_group(mini):
    """[1, 2]: two links, to #ref-1 and #ref-2, the brackets and comma outside them; the text as before."""
    kb, graph = mini
    html = render_handout(kb, graph, "html", lang="nl", style="vancouver")
    assert _citations(html)["conclusie"] == ("[1, 2]", [("#ref-1", "1"), ("#ref-2", "2")])
    assert '<span class="cite-group">[<a class="cite" href="#ref-1">1</a>, <a class="cite" href="#ref-2">2</a>]</span>' in html
    assert _citations(html)["pijn"] == ("[1]", [("#ref-1", "1")])
    item = {i.claim_id: i for s in build_handout(kb, graph, lang="nl", style="vancouver").sections for i in s.items}["conclusie"]
    assert [tuple(p) for p in item.citation_parts] == [("[", "open", None, None), ("1", "label", "geneen2017", 1), (", ", "separator", None, None),
                                                       ("2", "label", "lauersen2014", 2), ("]", "close", None, None)]
    # the old fields stay; the first key is source 2, where the whole group used to link
    assert (item.citation, item.keys, item.labels) == ("[1, 2]", ("lauersen2014", "geneen2017"), ("2", "1"))


def test_handout_html_author_year_links_each_citation_and_breaks_between_them(mini):
    kb, graph = mini
    html = render_handout(kb, graph, "html", lang="en", style="apa")
    assert _citations(html)["conclusie"] == ("(Geneen et al., 2017; Lauersen et al., 2014)",
                                             [("#ref-1", "Geneen et al., 2017"), ("#ref-2", "Lauersen et al., 2014")])
    # each (Author, year) unbreakable with its bracket and semicolon; the group breaks at the space between them
    assert ('<span class="cite-group author-year"><span class="cite-one">(<a class="cite" href="#ref-1">Geneen et al., 2017</a>;</span> '
            '<span class="cite-one"><a class="cite" href="#ref-2">Lauersen et al., 2014</a>)</span></span>') in html


def test_handout_html_links_the_ends_of_a_range(tmp_path):
    """[1–3]: the first and the last number each link to their own entry; 2, hidden in the range, to none."""
    from conftest import MINI_CLAIMS, REAL_ENTRIES, make_kb

    seguin = (REPO / "references" / "krachttraining.bib").read_text(encoding="utf-8")
    seguin = seguin[seguin.index("@article{seguin2003,"):]
    seguin = seguin[:seguin.index("\n}\n") + 3]
    conclusie = MINI_CLAIMS["conclusie"].replace("evidence: []", """evidence:
  - ref: seguin2003
    relation: supports
    cited_in_article: false
    found: "Strength training builds muscle strength in older adults."
    certainty: not-graded""")
    root = make_kb(tmp_path / "kb", claims={**MINI_CLAIMS, "conclusie": conclusie}, bib=REAL_ENTRIES + seguin)
    kb = load_kb(root)
    graph = build_graph(kb)
    h = build_handout(kb, graph, lang="nl", style="vancouver")
    item = {i.claim_id: i for s in h.sections for i in s.items}["conclusie"]
    assert (item.keys, item.labels, item.citation) == (("seguin2003", "lauersen2014", "geneen2017"), ("3", "2", "1"), "[1\u20133]")
    html = render_handout(kb, graph, "html", lang="nl", style="vancouver")
    assert _citations(html)["conclusie"] == ("[1\u20133]", [("#ref-1", "1"), ("#ref-3", "3")])
    assert '[<a class="cite" href="#ref-1">1</a>\u2013<a class="cite" href="#ref-3">3</a>]' in html
    assert [e.key for e in h.bibliography][0:3:2] == ["geneen2017", "seguin2003"]  # ref-1 and ref-3


@pytest.mark.parametrize("style", ["vancouver", "plain", "alpha", "apa"])
def test_every_handout_citation_link_goes_to_the_entry_it_shows(repo, style):
    """On this repository's handout: each link's text is the label of the entry it points to, every
    source shown is linked, and the group reads as the in-text citation (item.citation)."""
    kb, graph = repo
    h = build_handout(kb, graph, lang="en", style=style)
    html = render_handout(kb, graph, "html", lang="en", style=style)
    shown = _citations(html)
    items = [i for s in h.sections for i in s.items]
    assert set(shown) == {i.claim_id for i in items}
    for item in items:
        text, links = shown[item.claim_id]
        assert text == item.citation
        assert [label for _, label in links] == [p.text for p in item.citation_parts if p.kind == "label"]
        for href, label in links:
            assert h.bibliography[int(href.removeprefix("#ref-")) - 1].label == label, (item.claim_id, href, label)


def test_article_html_marks_every_anchored_claim_once_and_resolves_links(repo):
    kb, graph = repo
    view = build_article_view(kb, graph, lang="nl", style="vancouver")
    assert not view["unanchored"]
    html = render_article(kb, graph, "html", lang="nl", style="vancouver")
    page = _Page()
    page.feed(html)
    assert len([i for i in page.ids if re.fullmatch(r"c-\d+", i)]) == len(kb.claims)
    assert len([i for i in page.ids if re.fullmatch(r"note-\d+", i)]) == len(kb.claims)
    assert all(h[1:] in page.ids for h in page.hrefs if h.startswith("#"))


# -- pandoc ----------------------------------------------------------------------------------

def test_pandoc_resolves_every_citation(run_kb, tmp_path):
    pandoc = shutil.which("pandoc")
    assert pandoc, "pandoc is needed for this test (apt-get install pandoc; .ci/run installs it)"
    out = tmp_path / "handout.md"
    code, _, err = run_kb(REPO, "render", "handout", "--lang", "en", "--style", "apa", "--format", "pandoc", "-o", str(out))
    assert code == 0, err
    bib = (tmp_path / "handout.bib").read_text(encoding="utf-8")
    keys = cited_keys_in(out.read_text(encoding="utf-8"))
    assert keys and sorted(keys) == sorted(re.findall(r"^@\w+\{([^,]+),", bib, re.M))  # exactly the cited entries
    assert "verification" not in bib and "discrepancy" not in bib
    run = subprocess.run([pandoc, out.name, "--citeproc", "-t", "plain", "--wrap=none"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "not found" not in run.stderr.lower() and "warning" not in run.stderr.lower(), run.stderr
    kb = load_kb(REPO)
    body, _, references = run.stdout.partition("Sources")
    for key in keys:
        ref = kb.references[key]
        assert ref.authors[0].family in references, key  # every key appears formatted in the reference list
        assert ref.doi in references.lower(), key
    assert "@" not in body  # every [@key] was turned into a citation


def test_pandoc_needs_an_output_file(run_kb):
    code, _, err = run_kb(CASE, "render", "handout", "--format", "pandoc")
    assert code == 1 and "--format pandoc needs -o FILE" in err


# -- PDF -------------------------------------------------------------------------------------

def test_pdf_is_a4(run_kb, tmp_path):
    from pypdf import PdfReader

    out = tmp_path / "handout.pdf"
    code, _, err = run_kb(REPO, "render", "handout", "--lang", "nl", "--style", "vancouver", "--format", "pdf", "-o", str(out))
    assert code == 0, err
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(str(out))
    assert len(reader.pages) >= 1
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - 595.28) < 1 and abs(height - 841.89) < 1  # A4 in points
    text = "".join(p.extract_text() for p in reader.pages)
    assert "Wat het onderzoek zegt" in text and "Geneen LJ" in text


def _pdf_pages(html: str):
    """Where WeasyPrint puts each element of ``html`` on A4: the root element, and dicts from
    id(element) to the first and the last page (0-based) any of its boxes is on."""
    from weasyprint import HTML

    document = HTML(string=html).render()
    first, last = {}, {}
    for number, page in enumerate(document.pages):
        for box in page._page_box.descendants():
            if box.element is not None:
                first.setdefault(id(box.element), number)
                last[id(box.element)] = number
    root = next(b.element for b in document.pages[0]._page_box.descendants() if b.element is not None)
    return root, first, last, len(document.pages)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_article_pdf_keeps_headings_and_note_heads_with_what_follows(repo, lang):
    """The heading of the notes is on the page of the first note, and each note's head (its verdict
    and the claim) on the page where its reason or first source starts."""
    kb, graph = repo
    root, first, last, pages = _pdf_pages(render_article(kb, graph, "html", lang=lang, style="vancouver"))
    assert pages > 3
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert first[id(by_id["notes-h"])] == first[id(by_id["note-1"])]
    assert first[id(by_id["bib-h"])] == first[id(by_id["ref-1"])]
    checked = 0
    for n in range(1, len(kb.claims) + 1):
        note = by_id[f"note-{n}"]
        badge = next(e for e in note.iter() if "badge" in (e.get("class") or "").split())
        after = next(e for e in note.iter() if e.tag == "ul" or "help" in (e.get("class") or "").split())
        if after.tag == "ul":
            after = next(iter(after))
        assert last[id(badge)] == first[id(after)], f"note {n}: its head ends a page, what follows starts the next"
        checked += 1
    assert checked == len(kb.claims)


@pytest.mark.parametrize("lang, style", [("nl", "apa"), ("en", "apa"), ("en", "vancouver"), ("nl", "alpha")])
def test_handout_pdf_text_stays_within_the_margins(repo, lang, style):
    """A long group of (Author, year) citations wraps between its citations instead of running past
    the right margin; a numeric group such as [1–3] stays whole."""
    from weasyprint import HTML

    kb, graph = repo
    html = render_handout(kb, graph, "html", lang=lang, style=style)
    past = []
    for page in HTML(string=html).render().pages:
        box = page._page_box
        right = box.content_box_x() + box.width
        past += [t.text for t in box.descendants() if type(t).__name__ == "TextBox" and t.position_x + t.width > right + 0.5]
    assert past == []
    if style != "apa":
        assert "<span" not in re.search(r'<a class="cite".*?</a>', html, re.S).group()


def test_pdf_without_weasyprint_is_a_clear_error(run_kb, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as if it were not installed
    code, _, err = run_kb(CASE, "render", "handout", "--format", "pdf", "-o", str(tmp_path / "h.pdf"))
    assert code == 1
    assert "PDF output needs WeasyPrint" in err and "python3 -m pip install '.[pdf]'" in err and "libpango-1.0-0" in err
    assert "Traceback" not in err and not (tmp_path / "h.pdf").exists()


# -- CLI -------------------------------------------------------------------------------------

def test_cli_handout_md_to_stdout_and_format_checks(run_kb):
    code, out, err = run_kb(CASE, "render", "handout", "--format", "md", "--style", "vancouver", "--claims", "pain")
    assert code == 0
    assert out.startswith("# Wat het onderzoek zegt\n") and "\\[1\\]" in out and "Geneen LJ" in out and "Lauersen" not in out
    assert "1 statement, 1 source (vancouver, nl); left out 0" in err
    code, _, err = run_kb(CASE, "render", "article", "--format", "pandoc", "-o", "x.md")
    assert code == 1 and "kb render article has no format 'pandoc'" in err
    code, _, err = run_kb(CASE, "render", "handout", "--style", "vancuover")
    assert code == 1 and "did you mean 'vancouver'?" in err


def test_text_from_claims_and_bibtex_never_becomes_markup(tmp_path):
    shutil.copytree(CASE, tmp_path / "kb")
    claim = tmp_path / "kb" / "claims" / "pijn.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace(
        "Oefenen met weerstand kan pijn bij langdurige klachten wat verminderen.", "<script>alert(1)</script> *niet* [x](javascript:alert(2))"),
        encoding="utf-8")
    bib = tmp_path / "kb" / "references" / "refs.bib"
    bib.write_text(bib.read_text(encoding="utf-8").replace(
        "title = {Physical activity and exercise for chronic pain in adults: an overview of {Cochrane} Reviews},",
        'title = {<img src=x onerror=alert(3)>},\n  url = {javascript:alert(4)"onmouseover="alert(5)},').replace(
        "doi = {10.1002/14651858.cd011279.pub3},", ""), encoding="utf-8")
    kb = load_kb(tmp_path / "kb")
    graph = build_graph(kb)
    html = render_handout(kb, graph, "html", lang="nl", style="apa")
    page = _Page()
    page.feed(html)
    assert "<script>alert" not in html and "<img" not in html and "onmouseover=" not in html.replace('onmouseover="alert(5)', "")
    assert page.hrefs and all(h.startswith(("#", "https://")) for h in page.hrefs) and "script" not in page.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;Img src=x onerror=alert(3)&gt;" in html
    md = render_handout(kb, graph, "md", lang="nl", style="apa")
    assert "\\<script\\>" in md and "\\*niet\\*" in md and "\\[x\\](javascript:alert(2))" in md
    assert "](javascript" not in md.replace("\\[x\\](javascript", "")


def test_article_claims_option_marks_only_the_chosen_claims(run_kb):
    code, out, _ = run_kb(CASE, "render", "article", "--format", "md", "--claims", "pain,veilig")
    assert code == 0
    assert out.count("[^1]:") == 1 and out.count("[^2]:") == 1 and "[^3]" not in out
    assert "**Oefentherapie met weerstand" in out and "**Preventieprogramma" not in out
