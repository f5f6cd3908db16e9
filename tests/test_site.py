"""kb build: the static site, checked structurally with an HTML parser.

Every test builds a small knowledge base in tmp_path (see ``site_kb``): an article whose claims nest,
one claim whose text and sources carry markup and script, and a BibTeX entry with a ``javascript:`` URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markupsafe import Markup
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.article import parse_article
from kb.cli import main
from kb.graph import build_graph
from kb.load import load_kb
from kb.model import Claim, Text
from kb.render import doi_url, pubmed_url, safe_url, sanitize_html
from kb.site import _doi_link
from kb.site import _paragraph_tokens, anchor_claims, build_site, reference_filename
from kb.yamlsafe import parse_yaml

from conftest import REAL_ENTRIES, copy_repo_kb, make_kb

REPO = Path(__file__).resolve().parent.parent

ARTICLE = """\
---
title: "Testartikel <em onmouseover=alert(5)>over</em> krachttraining"
publisher: Testpraktijk
language: nl
url: "javascript:alert('article url')"
---

## Inleiding {#inleiding}

Krachttraining is goed voor iedereen, jong en oud. Het helpt bij pijn (Geneen et al.; 2017).

## Preventie {#preventie}

Preventieprogramma’s met krachttraining verminderen   sportblessures.
Dat is mooi.

## Onveilig <b onclick=alert(6)>kop</b> {#onveilig}

Let op: <script>alert("claim")</script> en <img src=x onerror=alert(1)> zijn gewoon tekst.

## Conclusie {#conclusie}

Kortom: krachttraining helpt.
"""

CLAIMS = {
    "iedereen": """\
id: iedereen
article: test
section: inleiding
kind: empirical-finding
text:
  nl: "Krachttraining is goed voor iedereen, jong en oud."
  en: "Strength training is good for everyone, young and old."
evidence: []
verdict: uncited
verdict_reason: "Nothing is cited."
status: reviewed
""",
    "jong-en-oud": """\
id: jong-en-oud
article: test
section: inleiding
kind: empirical-finding
text:
  nl: "jong en oud"
  en: "young and old"
evidence:
  - ref: lauersen2014
    relation: mentions
    cited_in_article: false
    certainty: not-graded
verdict: unsupported
status: draft
""",
    "pijn": """\
id: pijn
article: test
section: inleiding
kind: empirical-finding
text:
  nl: "Het helpt bij pijn (Geneen et al.; 2017)."
  en: "It helps with pain (Geneen et al.; 2017)."
evidence:
  - ref: geneen2017
    relation: partially-supports
    cited_in_article: true
    locator: "Authors' conclusions"
    found: "Exercise may improve pain severity; low-quality evidence."
    certainty: low
verdict: overstated
verdict_reason: "Low certainty."
status: reviewed
""",
    "preventie": """\
id: preventie
article: test
section: preventie
kind: empirical-finding
text:
  nl: "Preventieprogramma's met krachttraining verminderen sportblessures."
  en: "Prevention programmes with strength training reduce sports injuries."
evidence:
  - ref: lauersen2014
    relation: supports
    cited_in_article: false
    found: "Strength training reduced sports injuries."
    certainty: not-graded
  - ref: evil2020
    relation: mentions
    cited_in_article: false
    certainty: not-graded
verdict: uncited
status: reviewed
""",
    "onveilig": """\
id: onveilig
article: test
section: onveilig
kind: mechanism
text:
  nl: "<script>alert(\\"claim\\")</script> en <img src=x onerror=alert(1)>"
  en: "<script>alert('en')</script> <a href=\\"javascript:alert(1)\\">x</a>"
evidence:
  - ref: evil2020
    relation: supports
    cited_in_article: true
    locator: "<b onmouseover=alert(1)>here</b>"
    found: "javascript:alert(1) <iframe src=x></iframe>"
    quote: "<svg onload=alert(1)>"
    certainty: low
verdict: source-misdescribed
verdict_reason: "<style>body{display:none}</style>reason"
notes: "<script>alert('notes')</script>"
status: reviewed
""",
    "conclusie": """\
id: conclusie
article: test
section: conclusie
kind: summary
text:
  nl: "krachttraining helpt"
  en: "strength training helps"
derived_from: [pijn, preventie]
evidence: []
verdict: overstated
status: reviewed
""",
}

BIB = REAL_ENTRIES + """
@article{evil2020,
  author = {Evil, Eve},
  title = {<script>alert("bib")</script> and <img src=x onerror=alert(2)> in a title},
  journal = {Journal of <b onclick=alert(3)>Markup</b>},
  year = {2020},
  doi = {10.1234/evil.2020},
  url = {javascript:alert(document.cookie)},
  note = {<iframe src="javascript:alert(4)"></iframe>},
  discrepancy = {<script>alert("discrepancy")</script>},
  studytype = {other},
  verified = {false}
}
"""

KB_YAML = """\
title: "Test <KB> & co"
description: "A test knowledge base <script>alert('desc')</script>"
languages: [nl, en]
style: unsrt
"""


def write_kb(root: Path, *, claims: dict[str, str] = CLAIMS, article: str = ARTICLE, bib: str = BIB, kb_yaml: str = KB_YAML) -> Path:
    """The test site's knowledge base (article ``test``), written by conftest's make_kb."""
    return make_kb(root, claims=claims, article=article, bib=bib, kb_yaml=kb_yaml, article_id="test")


@pytest.fixture
def site_kb(tmp_path) -> Path:
    return write_kb(tmp_path / "kb")


def build(kb_dir: Path, out: Path, *extra: str) -> int:
    return main(["--kb", str(kb_dir), "build", "-o", str(out), *extra])


@pytest.fixture
def site(site_kb, tmp_path, capsys) -> Path:
    out = tmp_path / "site"
    assert build(site_kb, out) == 0, capsys.readouterr().err
    capsys.readouterr()
    return out


# ---------------------------------------------------------------------------------------------
# An HTML parser that records what the structural checks need


class Page(HTMLParser):
    def __init__(self, path: Path) -> None:
        super().__init__(convert_charrefs=True)
        self.path = path
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.script_text: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if attributes.get("id"):
            self.ids.append(attributes["id"])
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "script":
            self.script_text.append(data)
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def pages(site: Path) -> dict[str, Page]:
    return {p.relative_to(site).as_posix(): Page(p) for p in sorted(site.rglob("*.html"))}


def marks(page: Page) -> list[dict]:
    return [a for t, a in page.elements if t == "mark" and "claim" in (a.get("class") or "").split()]


# ---------------------------------------------------------------------------------------------
# The pages


def test_build_writes_every_page(site, site_kb):
    kb = load_kb(site_kb)
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    expected = {"index.html", "article/test.html", "claims/index.html", "references/index.html", "assets/site.css", "assets/site.js",
                "assets/favicon.svg"}
    expected |= {f"claims/{cid}.html" for cid in kb.claims}
    expected |= {f"references/{reference_filename(key)}" for key in kb.references}
    assert expected <= files
    # nothing else but the audit page and the build manifest
    assert files - expected == {"audit.html", ".kb-site.json"}
    # no staging folder is left next to the site
    assert [p.name for p in site.parent.iterdir() if p.name.startswith(".site")] == []


@pytest.mark.parametrize("key", ["index", "Index", "INDEX"])
def test_a_reference_keyed_index_does_not_take_the_references_index_page(tmp_path, capsys, key):
    """Its page would be references/index.html (as a claim id ``index`` would be claims/index.html,
    which kb check refuses: tests/bad/kb-reserved-claim-id)."""
    kb_dir = write_kb(tmp_path / "kb", bib=BIB + f"@article{{{key}, author = {{Doe, Jane}}, title = {{A title}}, journal = {{J}}, year = {{2020}}}}\n")
    out = tmp_path / "site"
    assert build(kb_dir, out) == 0, capsys.readouterr().err
    own = reference_filename(key)
    assert own.lower() != "index.html" and (out / "references" / own).is_file()
    assert "Doe" in (out / "references" / own).read_text(encoding="utf-8")
    index = (out / "references" / "index.html").read_text(encoding="utf-8")
    assert 'class="page page-references' in index and f'href="../references/{own}"' in index


def test_every_claim_marked_exactly_once(site, site_kb):
    kb = load_kb(site_kb)
    page = Page(site / "article" / "test.html")
    found = marks(page)
    with_id = [m["id"] for m in found if m.get("id")]
    for cid in kb.claims:
        assert with_id.count(f"claim-{cid}") == 1, cid
        assert page.ids.count(f"claim-{cid}") == 1, cid
        assert page.ids.count(f"note-{cid}") == 1, cid
    assert {m["data-claim"] for m in found} == set(kb.claims)
    # every mark names a known claim, and continuation pieces (no id) only for claims that have a first piece
    assert all(m.get("data-claim") in kb.claims for m in found)
    # classes carry the verdict
    for m in found:
        assert f"v-{kb.claims[m['data-claim']].verdict}" in m["class"].split()


def test_nested_claim_is_inside_its_parent(site):
    html = (site / "article" / "test.html").read_text(encoding="utf-8")
    outer = html.index('id="claim-iedereen"')
    inner = html.index('id="claim-jong-en-oud"')
    outer_end = html.index("</mark>", inner)
    assert outer < inner < outer_end
    # the inner claim closes first, then the outer one: "oud" ends both marks
    segment = html[inner:html.index('id="fnref-iedereen"')]
    assert segment.count("</mark>") == 2


def test_every_citation_resolves_to_a_bibliography_entry(site):
    page = Page(site / "article" / "test.html")
    bib_items = {a["id"]: a for t, a in page.elements if t == "li" and (a.get("id") or "").startswith("bib-")}
    assert set(bib_items) == {"bib-geneen2017", "bib-lauersen2014", "bib-evil2020"}
    numbers = sorted(int(a["value"]) for a in bib_items.values())
    assert numbers == list(range(1, len(numbers) + 1))
    cite_links = [a["href"] for t, a in page.elements if t == "a" and (a.get("href") or "").startswith("#bib-")]
    assert cite_links, "the article shows numbered citations"
    for href in cite_links:
        assert href[1:] in bib_items, href
    # the number shown for a citation is the number of the bibliography entry it links to
    html = (site / "article" / "test.html").read_text(encoding="utf-8")
    for anchor, number in re.findall(r'<span class="cites">\[(?:[^\]]*?)<a href="#(bib-[^"]+)"[^>]*>(\d+)</a>', html):
        assert bib_items[anchor]["value"] == number


def test_no_broken_internal_links_and_no_external_resources(site):
    all_pages = pages(site)
    assert len(all_pages) >= 10
    for rel, page in all_pages.items():
        for tag, attrs in page.elements:
            for name in ("href", "src", "srcset", "data", "poster", "action", "formaction"):
                value = attrs.get(name)
                if value is None:
                    continue
                parts = urlsplit(value)
                if tag == "a" and name == "href" and parts.scheme in ("http", "https"):
                    assert safe_url(value) == value
                    continue  # a link the reader may follow: fine; nothing is loaded
                assert not parts.scheme and not parts.netloc, f"{rel}: {tag} {name}={value!r} is not a local file"
                if not parts.path:
                    assert parts.fragment in page.ids, f"{rel}: broken fragment {value!r}"
                    continue
                target = (page.path.parent / unquote(parts.path)).resolve()
                assert target.is_file(), f"{rel}: broken link {value!r}"
                assert site.resolve() in target.parents, f"{rel}: link {value!r} leaves the site"
                if parts.fragment and target.suffix == ".html":
                    target_ids = all_pages[target.relative_to(site.resolve()).as_posix()].ids
                    assert parts.fragment in target_ids, f"{rel}: {value!r} points at a missing id"
            if tag == "link":
                assert (attrs.get("rel"), attrs["href"].rsplit("/", 1)[-1]) in {("stylesheet", "site.css"), ("icon", "favicon.svg")}
            assert tag not in ("iframe", "object", "embed", "img", "video", "audio", "base", "form"), f"{rel}: <{tag}>"


def test_markup_and_script_from_data_stay_inert(site):
    for rel, page in pages(site).items():
        for tag, attrs in page.elements:
            for name, value in attrs.items():
                assert not name.startswith("on"), f"{rel}: event handler attribute {name}={value!r} on <{tag}>"
                if value and name in ("href", "src", "action"):
                    assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), f"{rel}: {name}={value!r}"
            if tag == "script":
                assert attrs.get("src", "").endswith("assets/site.js"), f"{rel}: inline or foreign script"
            assert tag not in ("iframe", "style", "img", "object", "embed", "foreignobject"), f"{rel}: <{tag}> from data"
        assert "".join(page.script_text).strip() == "", f"{rel}: inline script text"
    # the SVG in the evidence quote is text, not an element
    card = Page(site / "claims" / "onveilig.html")
    assert "<svg onload=alert(1)>" in "".join(card.text)
    # ... and the text is still there, visibly, as text
    article = Page(site / "article" / "test.html")
    assert '<script>alert("claim")</script>' in "".join(article.text)
    assert "Testartikel <em onmouseover=alert(5)>over</em> krachttraining" in "".join(article.text)
    assert "Onveilig <b onclick=alert(6)>kop</b>" in "".join(article.text)
    ref_page = Page(site / "references" / "evil2020.html")
    text = "".join(ref_page.text)
    assert '<script>alert("bib")</script>' in text
    assert "javascript:alert(document.cookie)" in text  # shown as text, never as a link
    assert not [a for t, a in ref_page.elements if t == "a" and "javascript" in (a.get("href") or "")]


def test_reference_page_has_identifiers_claims_and_impact(site):
    page = Page(site / "references" / "lauersen2014.html")
    hrefs = [a.get("href") for t, a in page.elements if t == "a"]
    assert "https://doi.org/10.1136/bjsports-2013-092538" in hrefs
    assert "https://pubmed.ncbi.nlm.nih.gov/24100287/" in hrefs
    text = " ".join("".join(page.text).split())
    assert "systematische review en meta-analyse" in text
    # the claims that rest on it, directly and through the conclusion that summarises preventie
    assert "../claims/preventie.html" in hrefs and "../claims/jong-en-oud.html" in hrefs
    assert "../claims/conclusie.html" in hrefs
    # preventie rests on lauersen2014 alone (evil2020 only "mentions"): a retraction leaves it unsupported
    html = (site / "references" / "lauersen2014.html").read_text(encoding="utf-8")
    impact = html[html.index('class="impact"'):]
    row = impact[impact.index('href="../claims/preventie.html"'):]
    row = row[:row.index("</tr>")]
    assert "zonder steun" in row


def test_the_retraction_table_does_not_call_a_claim_without_support_still_supported(tmp_path):
    """A claim that cites a reference only to say it disputes it, and has no supporting evidence, was listed
    under "if this reference were retracted" as "still supported by other sources" (found by a review)."""
    from conftest import MINI_CLAIMS, make_kb

    from kb.site import build_site

    claims = dict(MINI_CLAIMS)
    claims["blessures-preventie"] = claims["blessures-preventie"].replace("relation: supports", "relation: disputes")
    root = make_kb(tmp_path / "kb", claims=claims)
    base = load_kb(root)
    build_site(base, build_graph(base), tmp_path / "site")
    html = (tmp_path / "site" / "references" / "lauersen2014.html").read_text(encoding="utf-8")
    impact = html[html.index('class="impact"'):]
    row = impact[impact.index('href="../claims/blessures-preventie.html"'):]
    row = row[:row.index("</tr>")]
    assert "geen ondersteunend bewijs, met of zonder deze bron" in row and "nog gesteund" not in row
    assert "Beweringen die deze bron aanhalen" in html  # it cites the reference; it does not rest on it


def _words(lang: str) -> dict[str, str]:
    return parse_yaml((REPO / "data" / "i18n" / f"{lang}.yaml").read_text(encoding="utf-8"))[0]


def test_verdict_dots_have_a_text_equivalent(site):
    """A coloured dot is not the only sign of a claim's verdict: the single-source list of the home
    page and the retraction table of a reference page give the verdict as text too (hidden on
    screen, read by screen readers) and as the dot's title."""
    for name, start in (("index.html", 'id="single-title"'), ("references/geneen2017.html", 'class="impact"')):
        html = (site / name).read_text(encoding="utf-8")
        html = html[html.index(start):]  # (the claims citing a reference have a badge with the word next to the dot)
        dots = re.findall(r'<span class="dot v-([a-z-]+)"([^>]*)></span>(<span class="visually-hidden">[^<]*</span>)?<a ', html)
        assert dots, name
        for verdict, attrs, hidden in dots:
            word = _words("nl")[f"verdict.{verdict}"]
            assert f'title="{word}"' in attrs and hidden == f'<span class="visually-hidden">{word}: </span>', (name, verdict)
    css = (site / "assets" / "site.css").read_text(encoding="utf-8")
    assert re.search(r"\.visually-hidden \{[^}]*position: absolute[^}]*clip", css)


def test_dutch_words_say_expression_of_concern_in_dutch():
    for key in ("retraction.expression-of-concern", "audit.msg.expression-of-concern", "audit.retractions_none"):
        assert "verklaring van bezorgdheid (expression of concern)" in _words("nl")[key], key


def test_the_article_cites_its_numbers_in_ascending_order(tmp_path):
    """A claim's sources were numbered in the order of its evidence list: [4,3,6] next to a claim of this
    repository's article (found by a review)."""
    from conftest import copy_repo_kb

    from kb.site import build_site

    base = load_kb(copy_repo_kb(tmp_path / "kb"))
    build_site(base, build_graph(base), tmp_path / "site")
    html = (tmp_path / "site" / "article" / "krachttraining.html").read_text(encoding="utf-8")
    groups = [[int(n) for n in re.findall(r">(\d+)</a>", group)] for group in re.findall(r'<span class="cites">\[(.*?)\]</span>', html)]
    assert len(groups) > 10 and any(len(g) > 2 for g in groups)
    assert all(g == sorted(g) for g in groups), [g for g in groups if g != sorted(g)]


def test_claim_page_is_an_evidence_card(site):
    page = Page(site / "claims" / "pijn.html")
    text = " ".join("".join(page.text).split())
    for expected in ("Het helpt bij pijn (Geneen et al.; 2017).", "It helps with pain", "overdreven", "ondersteunt gedeeltelijk",
                     "laag", "Exercise may improve pain severity", "Authors' conclusions", "Cochrane-overzicht van reviews",
                     "Low certainty."):
        assert expected in text, expected
    hrefs = [a.get("href") for t, a in page.elements if t == "a"]
    assert "../article/test.html#claim-pijn" in hrefs
    assert "../references/geneen2017.html" in hrefs
    assert "../claims/conclusie.html" in hrefs  # summarised by
    # a summary claim shows what it inherits
    summary = Page(site / "claims" / "conclusie.html")
    hrefs = [a.get("href") for t, a in summary.elements if t == "a"]
    assert "../references/geneen2017.html" in hrefs and "../references/lauersen2014.html" in hrefs


def test_home_page_shows_coverage_and_links_everything(site, site_kb):
    page = Page(site / "index.html")
    hrefs = {a.get("href") for t, a in page.elements if t == "a"}
    assert {"article/test.html", "claims/index.html", "references/index.html"} <= hrefs
    html = (site / "index.html").read_text(encoding="utf-8")
    figures = dict((label, num) for num, label in re.findall(r'figure-num">([^<]+)</span><span class="figure-label">([^<]+)<', html))
    assert figures["beweringen"] == "6" and figures["bronnen"] == "3"
    # 2 of 6 claims cite a source in the article (pijn, onveilig): 33%
    assert figures["van de beweringen noemt een bron in het artikel"] == "33%"
    all_links = set()
    for p in pages(site).values():
        all_links |= {(p.path.parent / a["href"].split("#")[0]).resolve() for t, a in p.elements
                      if t == "a" and a.get("href") and not a["href"].startswith(("#", "http"))}
    for html_file in site.rglob("*.html"):
        if html_file.name != "index.html" or html_file.parent != site:
            assert html_file.resolve() in all_links, f"{html_file} is linked from nowhere"


def test_without_javascript_the_notes_hold_the_panel_content(site):
    page = Page(site / "article" / "test.html")
    panel = page.find("aside", id="claim-panel")[0]
    assert "hidden" in panel  # shown only by the script
    html = (site / "article" / "test.html").read_text(encoding="utf-8")
    note = html[html.index('id="note-pijn"'):]
    note = note[:note.index("</li>\n")]
    for expected in ("ondersteunt gedeeltelijk", "laag", "Exercise may improve pain severity", "overdreven", "#bib-geneen2017"):
        assert expected in note


# ---------------------------------------------------------------------------------------------
# Languages, options and templates


def test_language_defaults_to_kb_yaml_and_lang_switches(site_kb, tmp_path, capsys):
    out = tmp_path / "nl"
    assert build(site_kb, out) == 0
    assert '<html lang="nl">' in (out / "index.html").read_text(encoding="utf-8")
    out_en = tmp_path / "en"
    assert build(site_kb, out_en, "--lang", "en") == 0
    home = (out_en / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in home and "of claims cite a source in the article" in home
    card = (out_en / "claims" / "pijn.html").read_text(encoding="utf-8")
    assert "It helps with pain" in card and "Original (Dutch)" in card
    (site_kb / "kb.yaml").write_text(KB_YAML.replace("[nl, en]", "[en, nl]"), encoding="utf-8")
    out_default = tmp_path / "default"
    assert build(site_kb, out_default) == 0
    assert '<html lang="en">' in (out_default / "index.html").read_text(encoding="utf-8")


def test_interface_words_have_the_same_keys_in_every_language():
    folder = REPO / "data" / "i18n"
    words = {p.stem: parse_yaml(p.read_text(encoding="utf-8"))[0] for p in folder.glob("*.yaml")}
    assert set(words) >= {"nl", "en"}
    for lang, table in words.items():
        assert set(table) == set(words["en"]), (lang, set(table) ^ set(words["en"]))
        assert all(isinstance(v, str) and v.strip() for v in table.values()), lang


def test_template_override_by_name_and_by_block(site_kb, tmp_path):
    own = site_kb / "templates" / "site"
    own.mkdir(parents=True)
    (own / "home.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block content %}<p id="own-home">{{ site.title }}</p>{% endblock %}', encoding="utf-8")
    out = tmp_path / "o1"
    assert build(site_kb, out) == 0
    home = (out / "index.html").read_text(encoding="utf-8")
    assert '<p id="own-home">Test &lt;KB&gt; &amp; co</p>' in home
    assert "site-header" in home  # the rest of base.html.j2 is kept
    # --templates DIR comes before <kb>/templates
    cli_dir = tmp_path / "cli-templates"
    (cli_dir / "site").mkdir(parents=True)
    (cli_dir / "site" / "home.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block footer %}<footer id="cli-footer"></footer>{% endblock %}', encoding="utf-8")
    out2 = tmp_path / "o2"
    assert build(site_kb, out2, "--templates", str(cli_dir)) == 0
    home = (out2 / "index.html").read_text(encoding="utf-8")
    assert 'id="cli-footer"' in home and "own-home" not in home
    # one block of a built-in page, through the builtin/ prefix; and base.html.j2 for every page
    (own / "claim.html.j2").write_text(
        '{% extends "builtin/site/claim.html.j2" %}{% block content %}{{ super() }}<p id="own-note">{{ claim.id }}</p>{% endblock %}',
        encoding="utf-8")
    (site_kb / "templates" / "base.html.j2").write_text(
        '{% extends "builtin/base.html.j2" %}{% block footer %}<footer id="own-footer">{{ t["nav.claims"] }}</footer>{% endblock %}',
        encoding="utf-8")
    out4 = tmp_path / "o4"
    assert build(site_kb, out4) == 0
    card = (out4 / "claims" / "pijn.html").read_text(encoding="utf-8")
    assert '<p id="own-note">pijn</p>' in card and "Het helpt bij pijn" in card  # the built-in card is kept
    assert '<footer id="own-footer">Beweringen</footer>' in card
    assert '<footer id="own-footer">' in (out4 / "references" / "geneen2017.html").read_text(encoding="utf-8")
    # a static asset is overridable too
    (site_kb / "templates" / "assets").mkdir()
    (site_kb / "templates" / "assets" / "site.css").write_text("body { color: red; }\n", encoding="utf-8")
    out3 = tmp_path / "o3"
    assert build(site_kb, out3) == 0
    assert (out3 / "assets" / "site.css").read_text(encoding="utf-8") == "body { color: red; }\n"


def test_broken_override_template_is_a_clean_error(site_kb, tmp_path, capsys):
    own = site_kb / "templates" / "site"
    own.mkdir(parents=True)
    (own / "claim.html.j2").write_text('{% extends "base.html.j2" %}{% block content %}{{ claim.nope.deeper }}{% endblock %}', encoding="utf-8")
    out = tmp_path / "site"
    assert build(site_kb, out) == 1
    err = capsys.readouterr().err
    assert "claim.html.j2" in err and "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


@pytest.mark.parametrize("source, message", [
    ('{% extends "site/claim.html.j2" %}', "template 'site/claim.html.j2' extends or includes itself; to extend the built-in"),
    ('{% extends "base.html.j2" %}{% block content %}{{ 1 + "a" }}{% endblock %}', "claim.html.j2:1: error: template error: TypeError"),
    ('{% extends "base.html.j2" %}{% block content %}{% include "../../kb.yaml" %}{% endblock %}', "template '../../kb.yaml' not found"),
    ('{% extends "base.html.j2" %}{% block content %}{% include "builtin/../pyproject.toml" %}{% endblock %}',
     "template 'builtin/../pyproject.toml' not found"),
])
def test_bad_override_templates_are_user_errors(site_kb, tmp_path, capsys, source, message):
    own = site_kb / "templates" / "site"
    own.mkdir(parents=True)
    (own / "claim.html.j2").write_text(source, encoding="utf-8")
    assert build(site_kb, tmp_path / "site") == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "site").exists()


def test_check_errors_stop_the_build(site_kb, tmp_path, capsys):
    bad = CLAIMS["pijn"].replace("ref: geneen2017", "ref: geneen2018")
    (site_kb / "claims" / "pijn.yaml").write_text(bad, encoding="utf-8")
    out = tmp_path / "site"
    assert build(site_kb, out) == 1
    err = capsys.readouterr().err
    assert "claims/pijn.yaml" in err and "unknown reference 'geneen2018'" in err and "[unknown-ref]" in err
    assert "nothing was built" in err
    assert not out.exists()


def test_summary_names_index_and_quiet_is_quiet(site_kb, tmp_path, capsys):
    out = tmp_path / "site"
    assert build(site_kb, out) == 0
    err = capsys.readouterr().err
    assert f"open {out / 'index.html'}" in err
    assert "\r" not in err and "\x1b" not in err  # no progress bar when stderr is not a terminal
    assert build(site_kb, out, "-q") == 0
    assert capsys.readouterr().err == ""
    assert main(["-q", "--kb", str(site_kb), "build", "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""


def test_refuses_to_replace_a_folder_that_is_not_a_site(site_kb, tmp_path, capsys):
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    assert build(site_kb, precious) == 1
    assert "refusing to replace it" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_refuses_a_folder_whose_index_html_kb_did_not_write(site_kb, tmp_path, capsys):
    """A hand-made site (its own index.html) is not kb's to replace; one kb built still is, with or
    without its manifest (a build killed while it swapped manifests leaves none)."""
    precious = tmp_path / "mysite"
    (precious / "blog").mkdir(parents=True)
    (precious / "index.html").write_text("<p>my own home page</p>", encoding="utf-8")
    (precious / "blog" / "post.md").write_text("keep me", encoding="utf-8")
    assert build(site_kb, precious) == 1
    assert "refusing to replace it" in capsys.readouterr().err
    assert (precious / "blog" / "post.md").read_text(encoding="utf-8") == "keep me"
    ours = tmp_path / "site"
    assert build(site_kb, ours, "-q") == 0
    (ours / ".kb-site.json").unlink()
    (ours / "mine.txt").write_text("added by hand", encoding="utf-8")
    assert build(site_kb, ours, "-q") == 0
    assert not (ours / "mine.txt").exists() and (ours / ".kb-site.json").is_file()


def test_a_site_folder_that_is_a_link_stays_a_link(site_kb, tmp_path):
    real = tmp_path / "real"
    assert build(site_kb, real, "-q") == 0
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    (real / ".kb-site.json").unlink()  # the next build is a full one: it replaces the folder as a whole
    assert build(site_kb, link, "-q") == 0
    assert link.is_symlink() and (real / ".kb-site.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert build(site_kb, dangling, "-q") == 0
    assert dangling.is_symlink() and (tmp_path / "elsewhere" / "index.html").is_file()


def test_what_the_system_refuses_is_one_line_and_the_site_is_kept(site, site_kb, tmp_path, capsys, monkeypatch):
    """A site folder that is a mount point (a container volume) cannot be renamed (EBUSY); a folder
    that is not writable refuses (EACCES): one line with the reason and a hint, exit 1, the old site kept."""
    import errno

    import kb.output

    def busy(src, dst):
        raise OSError(errno.EBUSY, "Device or resource busy", str(dst))

    (site / ".kb-site.json").unlink()  # the next build is a full one: it replaces the folder as a whole
    before = _snapshot(site)
    monkeypatch.setattr(kb.output.os, "replace", busy)
    assert build(site_kb, site) == 1
    err = capsys.readouterr().err
    assert "cannot write the site in" in err and "Device or resource busy" in err and "mount point" in err
    assert "Traceback" not in err and len([line for line in err.splitlines() if "error" in line]) == 1
    assert _snapshot(site) == before
    assert [p.name for p in tmp_path.iterdir() if ".build-" in p.name or ".old-" in p.name] == []


def test_a_second_build_of_a_site_waits_for_the_first(site_kb, tmp_path):
    """Each build trusts the manifest it read: two writing one site at once could leave a page no later
    build makes again. A build holds a lock on the site's folder; the second waits, then builds."""
    import fcntl

    site = tmp_path / "site"
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running build holds it
        waiting = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(site_kb), "build", "-o", str(site)],
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "KB_CACHE": "0"})
        end = time.monotonic() + 3
        while waiting.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        assert waiting.poll() is None and not site.exists()  # still waiting after 3 s, nothing written
    finally:
        os.close(fd)
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "waiting for it to end" in err and (site / "index.html").is_file()


def test_old_sites_put_aside_by_killed_builds_are_removed(site_kb, tmp_path):
    site = tmp_path / "site"
    assert build(site_kb, site, "-q") == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    aside = tmp_path / f".site.old-{dead.pid}"
    (aside / "claims").mkdir(parents=True)  # what a build killed right after swapping the folders leaves
    mine = tmp_path / f".site.old-{os.getpid()}-not-one"
    mine.mkdir()
    (site / ".kb-site.json").unlink()
    assert build(site_kb, site, "-q") == 0
    assert not aside.exists() and mine.exists()


def test_an_asset_that_is_not_utf8_is_one_line(site_kb, tmp_path, capsys):
    own = tmp_path / "own"
    (own / "assets").mkdir(parents=True)
    (own / "assets" / "site.css").write_bytes(b"\xff\xfe body {}")
    assert build(site_kb, tmp_path / "site", "--templates", str(own)) == 1
    err = capsys.readouterr().err
    assert "site.css" in err and "not UTF-8" in err and "Traceback" not in err


def test_refuses_to_replace_the_knowledge_base_itself(site_kb, tmp_path, capsys, monkeypatch):
    (site_kb / "index.html").write_text("<p>not a site</p>", encoding="utf-8")
    for target in (site_kb, tmp_path):
        assert build(site_kb, target) == 1
        assert "holds the knowledge base" in capsys.readouterr().err
    monkeypatch.chdir(site_kb)
    assert main(["build", "-o", "."]) == 1
    assert "refusing to replace" in capsys.readouterr().err
    assert (site_kb / "claims" / "pijn.yaml").exists()


# ---------------------------------------------------------------------------------------------
# Nothing lost: a failed or killed build leaves the previous site as it was


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_build_leaves_the_previous_site_intact(site, site_kb, tmp_path, capsys):
    before = _snapshot(site)
    own = tmp_path / "broken"
    (own / "site").mkdir(parents=True)
    # renders fine for the first claims, fails part-way through the claim pages
    (own / "site" / "claim.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block content %}{% if claim.id == "pijn" %}{{ claim.missing.field }}{% endif %}{{ claim.id }}{% endblock %}',
        encoding="utf-8")
    assert build(site_kb, site, "--templates", str(own)) == 1
    assert "template error" in capsys.readouterr().err
    assert _snapshot(site) == before
    assert [p.name for p in site.parent.iterdir() if p.name.startswith(".site.")] == []


def _big_kb(root: Path, n: int) -> Path:
    sentences = [f"Zin nummer {i} gaat over krachttraining." for i in range(n)]
    article = "---\ntitle: Groot\nlanguage: nl\n---\n\n## Alles {#alles}\n\n" + "\n\n".join(sentences) + "\n"
    claims = {}
    for i, sentence in enumerate(sentences):
        claims[f"c{i}"] = (f"id: c{i}\narticle: test\nsection: alles\nkind: empirical-finding\n"
                           f"text:\n  nl: \"{sentence}\"\n  en: \"Sentence {i}.\"\n"
                           "evidence:\n  - ref: geneen2017\n    relation: supports\n    cited_in_article: true\n    certainty: low\n"
                           "verdict: supported\nstatus: reviewed\n")
    bib = BIB.split("@article{lauersen2014")[0]
    return write_kb(root, claims=claims, article=article, bib=bib)


@pytest.mark.slow
def test_killed_build_leaves_the_previous_site_intact(tmp_path):
    kb_dir = _big_kb(tmp_path / "big", 600)
    out = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    first = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb_dir), "build", "-o", str(out)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = _snapshot(out)
    # change the knowledge base so that a finished second build would differ
    (kb_dir / "kb.yaml").write_text(KB_YAML.replace("Test <KB> & co", "Second build"), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(kb_dir), "build", "-o", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        candidates = [p for p in tmp_path.glob(".site.build-*") if (p / "claims").is_dir()]
        if candidates and len(list((candidates[0] / "claims").iterdir())) > 20:
            staging = candidates[0]
            break
        time.sleep(0.01)
    assert staging is not None and proc.poll() is None, "the build finished before it could be killed; make the KB bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(out) == before, "the killed build changed the previous site"
    assert "Second build" not in (out / "index.html").read_text(encoding="utf-8")
    # the next build cleans up the dead build's staging folder and succeeds
    third = subprocess.run([sys.executable, "-m", "kb", "--kb", str(kb_dir), "-q", "build", "-o", str(out)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert "Second build" in (out / "index.html").read_text(encoding="utf-8")
    assert not staging.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []


# ---------------------------------------------------------------------------------------------
# Anchoring and the token stream (unit level)


def _claim(cid: str, nl: str, section: str = "s") -> Claim:
    return Claim(id=cid, article="a", section=section, kind="empirical-finding", text=Text(nl=nl, en=nl), evidence=(),
                 verdict="uncited", status="draft")


def _article(body: str):
    article, problems = parse_article("---\ntitle: T\n---\n\n## S {#s}\n\n" + body, "a.md", "a")
    assert not problems
    return article


def _render(tokens) -> str:
    out = []
    for tok in tokens:
        if tok["type"] == "text":
            out.append(tok["text"])
        elif tok["type"] == "open":
            out.append(f"<{tok['claim']}{'' if tok['first'] else '+'}>")
        elif tok["type"] == "close":
            out.append(f"</{tok['claim']}>")
        else:
            out.append(f"[{tok['claim']}]")
    return "".join(out)


def test_anchor_normalises_whitespace_and_quotes():
    article = _article("Preventieprogramma’s   met\nkrachttraining  werken. Daarna meer.\n")
    anchors, missing = anchor_claims(article, [_claim("p", "Preventieprogramma's met krachttraining werken.")])
    assert missing == []
    (number, start, end), = anchors["p"].pieces
    assert article.sections[0].paragraphs[number][start:end] == "Preventieprogramma’s   met krachttraining  werken."


def test_anchor_prefers_the_claims_own_section():
    article, _ = parse_article("---\ntitle: T\n---\n\n## A {#a}\n\nHet werkt.\n\n## B {#b}\n\nHet werkt.\n", "a.md", "a")
    anchors, _ = anchor_claims(article, [_claim("x", "Het werkt.", section="b")])
    assert anchors["x"].pieces[0][0] == 1


def test_anchor_reports_missing_text():
    anchors, missing = anchor_claims(_article("Iets anders.\n"), [_claim("x", "Niet hier.")])
    assert anchors == {} and missing == ["x"]


def test_tokens_nest_contained_claims():
    text = "Krachttraining is goed voor iedereen, jong en oud."
    outer = (0, len(text))
    inner_start = text.index("jong")
    inner = (inner_start, inner_start + len("jong en oud"))
    tokens = _paragraph_tokens(text, [("a", *outer, True, True), ("b", *inner, True, True)])
    assert _render(tokens) == "<a>Krachttraining is goed voor iedereen, <b>jong en oud</b>[b].</a>[a]"


def test_tokens_split_crossing_claims_into_a_continuation():
    text = "alpha beta gamma"
    tokens = _paragraph_tokens(text, [("x", 0, 10, True, True), ("y", 6, 16, True, True)])
    # y opens inside x, x closes, y goes on as a continuation: well-formed, each claim has one first piece
    assert _render(tokens) == "<x>alpha <y>beta</y></x>[x]<y+> gamma</y>[y]"


def test_tokens_identical_spans_and_same_start():
    text = "een twee drie"
    tokens = _paragraph_tokens(text, [("b", 0, 8, True, True), ("a", 0, 13, True, True), ("c", 0, 8, True, True)])
    assert _render(tokens) == "<a><b><c>een twee</c>[c]</b>[b] drie</a>[a]"


def test_claim_spanning_paragraphs_is_marked_in_pieces(tmp_path):
    article = _article("Eerste alinea eindigt hier.\n\nTweede alinea begint zo.\n")
    anchors, missing = anchor_claims(article, [_claim("span", "eindigt hier. Tweede alinea")])
    assert missing == []
    assert [(p[0]) for p in anchors["span"].pieces] == [0, 1]


# ---------------------------------------------------------------------------------------------
# URL and markup helpers


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,<script>",
                                 "vbscript:x", "//evil.example/x", "/etc/passwd", "file:///etc/passwd", "https://", "http://a b",
                                 'https://x.example/"onmouseover="alert(1)', "https://x.example/<script>", ""])
def test_safe_url_refuses(url):
    assert safe_url(url) == ""


def test_safe_url_accepts_http_and_https():
    assert safe_url("https://doi.org/10.1002/14651858.CD011279.pub3") == "https://doi.org/10.1002/14651858.CD011279.pub3"
    assert safe_url("http://example.org/a?b=c&d=e#f") == "http://example.org/a?b=c&d=e#f"


def test_identifier_links():
    assert doi_url("10.1002/14651858.cd011279.pub3") == "https://doi.org/10.1002/14651858.cd011279.pub3"
    assert doi_url("javascript:alert(1)") == "" and doi_url("10.1/x") == ""
    assert pubmed_url("28436583") == "https://pubmed.ncbi.nlm.nih.gov/28436583/"
    assert pubmed_url("28436583<script>") == ""


@pytest.mark.parametrize("doi, citation, link", [
    ("10.1136/bjsports-2013-092538", "Lauersen JB. Br J Sports Med. 2014;48(11):871-7.", "https://doi.org/10.1136/bjsports-2013-092538"),
    ("10.1136/BJSPORTS-2013-092538", Markup("Lauersen JB. <em>BJSM</em>. doi:10.1136/bjsports-2013-092538"), ""),  # shown already
    ("javascript:alert(1)", "Evil E. 2020.", ""),
    ("", "No DOI. 2020.", ""),
])
def test_doi_link_beside_a_citation_only_when_the_citation_does_not_show_the_doi(doi, citation, link):
    assert _doi_link(doi, citation) == link


def test_pages_link_a_doi_their_citation_does_not_show(site_kb, tmp_path, monkeypatch, capsys):
    """A style that does not print DOIs (every built-in one does): claim and article pages link the
    DOI beside the citation, the reference view's ``doi_link``."""
    import kb.site

    monkeypatch.setattr(kb.site, "format_reference", lambda kb, key, style, backend: (f"Citation of {key}.", None))
    out = tmp_path / "site"
    assert build(site_kb, out) == 0, capsys.readouterr().err
    for path in ("claims/preventie.html", "article/test.html"):
        page = Page(out / path)
        assert "https://doi.org/10.1136/bjsports-2013-092538" in [a.get("href") for t, a in page.elements if t == "a"], path


def test_sanitize_html_keeps_formatting_and_drops_everything_active():
    dirty = ('<em>Title</em> <a href="javascript:alert(1)">bad</a> <a href="https://doi.org/10.1/abc" onclick="x()">good</a>'
             '<script>alert(1)</script><img src=x onerror=alert(1)><span class="bibtex-protected" style="x">P</span>'
             '<iframe src="https://evil.example"></iframe>&lt;b&gt;')
    clean = str(sanitize_html(dirty))
    assert clean == ('<em>Title</em> bad <a href="https://doi.org/10.1/abc" rel="noopener noreferrer">good</a>'
                     '<span class="bibtex-protected">P</span>&lt;b&gt;')


@pytest.mark.parametrize("dirty", [
    '<em>Title</em> <a href="javascript:alert(1)">bad</a> <a href="https://doi.org/10.1/a&amp;b?x=1&y=2" onclick="x()">good</a>',
    'line<br>break<br/>twice<br />', '&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; "quotes" \'single\'',
    '<span class="bibtex-protected">P</span><span class="other">Q</span><i><b>nested</i></b>', '<a>no link</a><a href="https://x.example/">open',
    '<script>alert(1)</script><style>p{}</style>kept &#60;b&#62;',
])
def test_sanitizing_sanitized_html_changes_nothing(dirty):
    """kb.cite stores citations sanitized and the site takes them as they are; a template may still
    pass them through ``sanitize_html`` (handouts do): both must give the same page."""
    once = str(sanitize_html(dirty))
    assert str(sanitize_html(once)) == once
    assert "<script" not in once and "javascript:" not in once


def test_html_citations_are_formatted_sanitized(tmp_path, monkeypatch):
    """What ``format_reference(..., "html")`` gives, and what the disk cache keeps and gives back, is
    already what the sanitizer makes of it: a URL pybtex does not escape cannot make markup on any page."""
    from kb import cite

    monkeypatch.setenv("KB_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root = copy_repo_kb(tmp_path / "kb")

    def loaded():
        kb = load_kb(root)
        key = next(iter(kb.references))
        kb.bibliography.entries[key].fields["doi"] = '10.1/x"><script>alert(1)</script>'  # pybtex puts it in a link as it is
        return kb, key

    kb, key = loaded()
    text, problem = cite.format_references(kb, list(kb.references), kb.config.style, "html")[key]  # formatted and kept on disk
    assert problem is None and "doi:10.1/x" in text and "<script" not in text and text == str(sanitize_html(text))
    assert cite.format_reference(kb, key, kb.config.style, "html") == (text, None)
    kb, key = loaded()  # nothing in memory: only the disk cache can answer
    monkeypatch.setattr(cite, "_render", lambda *args, **kwargs: ("", "formatted again instead of read from disk"))
    assert cite.format_references(kb, [key], kb.config.style, "html")[key] == (text, None)


def test_the_real_knowledge_base_builds(tmp_path, capsys):
    out = tmp_path / "site"
    assert build(REPO, out) == 0, capsys.readouterr().err
    kb = load_kb(REPO)
    graph = build_graph(kb)
    assert graph is not None
    for article in kb.articles.values():
        page = Page(out / "article" / f"{article.id}.html")
        ids = [m.get("id") for m in marks(page) if m.get("id")]
        expected = sorted(f"claim-{c.id}" for c in kb.claims.values() if c.article == article.id)
        assert sorted(ids) == expected
    index = (out / "claims" / "index.html").read_text(encoding="utf-8")  # one summarised claim: singular
    assert "via 1 bewering<" in index and "via 2 beweringen<" in index and "via 1 beweringen" not in index


def test_build_site_api_returns_the_pages(site_kb, tmp_path):
    kb = load_kb(site_kb)
    result = build_site(kb, build_graph(kb), tmp_path / "api-site", lang="en")
    assert result.index == tmp_path / "api-site" / "index.html"
    assert "article/test.html" in result.pages and result.lang == "en"


def test_progress_bar_on_a_terminal(site_kb, tmp_path):
    import pty

    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "kb", "--kb", str(site_kb), "build", "-o", str(tmp_path / "site")], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # the terminal closed
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(primary)
    output = b"".join(chunks).decode("utf-8", "replace")
    assert "\r" in output and "[" in output and "#" in output  # a bar redrawn in place
    assert re.search(r"\d+/\d+ ", output)
    assert "open " in output and "index.html" in output


def test_golden_article_body(site, request):
    """The annotated text of the test article, as HTML: nesting, notes and citation numbers."""
    html = (site / "article" / "test.html").read_text(encoding="utf-8")
    body = html[html.index('<div class="article-body">'):html.index("</div>", html.index('<div class="article-body">')) + 6]
    golden = Path(__file__).parent / "cases" / "site-article" / "article-body.html"
    update = request.config.getoption("--update-golden", default=False)
    if update or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(body, encoding="utf-8")
        if not update:
            pytest.fail(f"{golden} was missing and has been written; review it and run the tests again")
    expected = golden.read_text(encoding="utf-8")
    if body != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), body.splitlines(True), str(golden), "actual"))
        pytest.fail(f"the article body differs from {golden} (pytest --update-golden accepts it):\n{diff}")


def test_progress_reports_every_file(site_kb, tmp_path):
    kb = load_kb(site_kb)
    seen = []
    result = build_site(kb, build_graph(kb), tmp_path / "p", progress=lambda done, total, path: seen.append((done, total, path)))
    assert [s[0] for s in seen] == list(range(1, len(result.pages) + 1))
    assert {s[1] for s in seen} == {len(result.pages)}
    assert [s[2] for s in seen] == list(result.pages)


def test_builds_are_reproducible(site_kb, tmp_path):
    assert build(site_kb, tmp_path / "one", "-q") == 0
    assert build(site_kb, tmp_path / "two", "-q") == 0
    assert _snapshot(tmp_path / "one") == _snapshot(tmp_path / "two")


def test_two_articles_each_mark_their_own_claims(site_kb, tmp_path):
    (site_kb / "articles" / "tweede.md").write_text(
        "---\ntitle: Tweede artikel\nlanguage: nl\n---\n\n## Alles {#alles}\n\nKrachttraining helpt ook hier. Verder niets.\n", encoding="utf-8")
    (site_kb / "claims" / "tweede-helpt.yaml").write_text(
        "id: tweede-helpt\narticle: tweede\nsection: alles\nkind: empirical-finding\n"
        "text:\n  nl: \"Krachttraining helpt ook hier.\"\n  en: \"Strength training helps here too.\"\n"
        "evidence:\n  - ref: geneen2017\n    relation: mentions\n    cited_in_article: true\n    certainty: low\n"
        "verdict: unsupported\nstatus: draft\n", encoding="utf-8")
    out = tmp_path / "two"
    assert build(site_kb, out, "-q") == 0
    first = {m["data-claim"] for m in marks(Page(out / "article" / "test.html"))}
    second = {m["data-claim"] for m in marks(Page(out / "article" / "tweede.html"))}
    assert second == {"tweede-helpt"} and "tweede-helpt" not in first and "pijn" in first
    # each article numbers its own bibliography from 1
    bib = [a for t, a in Page(out / "article" / "tweede.html").elements if t == "li" and (a.get("id") or "").startswith("bib-")]
    assert [(a["id"], a["value"]) for a in bib] == [("bib-geneen2017", "1")]
    nav = [a["href"] for t, a in Page(out / "index.html").elements if t == "a" and a.get("href", "").startswith("article/")]
    assert "article/test.html" in nav and "article/tweede.html" in nav


@st.composite
def _text_and_spans(draw):
    text = draw(st.text(alphabet="ab c.", min_size=1, max_size=40))
    n = draw(st.integers(min_value=0, max_value=6))
    spans = []
    for index in range(n):
        start = draw(st.integers(min_value=0, max_value=len(text) - 1))
        end = draw(st.integers(min_value=start + 1, max_value=len(text)))
        spans.append((f"c{index}", start, end, True, True))
    return text, spans


@settings(max_examples=300, deadline=None)
@given(_text_and_spans())
def test_tokens_are_always_well_formed(case):
    """Any set of spans, nested, crossing or identical: the text is kept, tags balance, each claim
    opens exactly once as its first piece and gets exactly one note, and covers exactly its span."""
    text, spans = case
    tokens = _paragraph_tokens(text, spans)
    assert "".join(t["text"] for t in tokens if t["type"] == "text") == text
    stack, position = [], 0
    covered = {s[0]: set() for s in spans}
    for tok in tokens:
        if tok["type"] == "open":
            stack.append(tok["claim"])
        elif tok["type"] == "close":
            assert stack and stack.pop() == tok["claim"]
        elif tok["type"] == "text":
            for claim in stack:
                covered[claim].update(range(position, position + len(tok["text"])))
            position += len(tok["text"])
    assert stack == []
    for cid, start, end, _, _ in spans:
        assert sum(1 for t in tokens if t["type"] == "open" and t["claim"] == cid and t["first"]) == 1
        assert sum(1 for t in tokens if t["type"] == "note" and t["claim"] == cid) == 1
        assert covered[cid] == set(range(start, end))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["kracht", "training", "helpt", "pijn’s", "en", "oud.", "“sterk”", "é"]), min_size=1, max_size=12),
       st.lists(st.sampled_from([" ", "  ", "\n", " \n "]), min_size=12, max_size=12), st.data())
def test_anchoring_survives_any_whitespace(words, gaps, data):
    from kb.article import normalize_text

    body = "".join(w + gaps[i] for i, w in enumerate(words)).strip()
    start = data.draw(st.integers(min_value=0, max_value=len(words) - 1))
    end = data.draw(st.integers(min_value=start + 1, max_value=len(words)))
    claim_text = " ".join(words[start:end]).replace("’", "'")
    article = _article(body + "\n")
    anchors, missing = anchor_claims(article, [_claim("x", claim_text)])
    assert missing == []
    pieces = anchors["x"].pieces
    paragraphs = [p for s in article.sections for p in s.paragraphs]
    marked = " ".join(paragraphs[n][a:b] for n, a, b in pieces)
    assert normalize_text(marked) == normalize_text(claim_text)


def test_docs_name_every_site_template_and_asset():
    docs = (REPO / "docs" / "templates.md").read_text(encoding="utf-8")
    for path in sorted((REPO / "templates" / "site").glob("*.j2")) + sorted((REPO / "templates" / "assets").iterdir()):
        assert f"`{path.relative_to(REPO / 'templates').as_posix()}`" in docs, path


def test_navigation_stays_one_link_with_many_articles(tmp_path, capsys):
    """The header links one "articles" entry, not every article: a nav listing each article on every
    page would grow with articles x pages (quadratic at 5,000 articles and 100,000 claims)."""
    from conftest import MINI_ARTICLE, make_kb

    kb_dir = make_kb(tmp_path / "kb")
    for n in range(3):
        (kb_dir / "articles" / f"extra{n}.md").write_text(MINI_ARTICLE, encoding="utf-8")
    out = tmp_path / "site"
    assert build(kb_dir, out, "--lang", "en") == 0, capsys.readouterr().err
    for page in ("index.html", "claims/index.html", "article/extra1.html"):
        nav = (out / page).read_text(encoding="utf-8").split('<nav class="site-nav"')[1].split("</nav>")[0]
        assert nav.count('href="') == 4, page  # articles, claims, references, audit
        assert "index.html#articles-title" in nav and "article/extra" not in nav
    single = tmp_path / "single"
    assert build(make_kb(tmp_path / "kb1"), single) == 0
    nav = (single / "claims" / "index.html").read_text(encoding="utf-8").split('<nav class="site-nav"')[1].split("</nav>")[0]
    assert 'href="../article/mini.html"' in nav and "#articles-title" not in nav
