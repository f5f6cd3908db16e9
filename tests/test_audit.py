"""kb audit: problems ranked by severity, the wording check, retractions, coverage, charts, and the
CLI (--format md|json|html, --fail-on). Golden files: tests/cases/audit-mini/expected/."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import check_golden
from kb.audit import CODES, SEVERITIES, Wording, build_audit, load_wording, render_audit, strong_phrases
from kb.errors import ConfigError
from kb.graph import build_graph
from kb.load import load_kb

CASE = Path(__file__).resolve().parent / "cases" / "audit-mini"


@pytest.fixture(scope="module")
def mini():
    kb = load_kb(CASE)
    graph = build_graph(kb)
    return kb, graph, build_audit(kb, graph, as_of=2026)


def codes_of(audit, subject):
    return sorted(p.code for p in audit.problems if p.subject == subject)


# -- the problems ----------------------------------------------------------------------------

def test_every_problem_kind_of_the_mini_kb(mini):
    _, _, audit = mini
    assert codes_of(audit, "pijn") == ["overstated", "single-source"]
    assert codes_of(audit, "blessures") == ["single-source", "uncited"]
    assert codes_of(audit, "herstel") == ["no-support", "strong-wording", "uncited"]
    assert codes_of(audit, "veilig") == ["single-source", "strong-wording"]
    assert codes_of(audit, "conclusie") == ["draft-claim", "overstated"]  # a summary is not "uncited": it inherits
    assert codes_of(audit, "geneen2017") == ["metadata-discrepancy"]
    assert codes_of(audit, "lauersen2014") == ["missing-pmid"]
    assert codes_of(audit, "fictief2005") == ["missing-doi", "missing-pmid", "old-source", "retracted", "unidentified-reference"]


def test_problems_are_ranked_error_warning_info_with_a_severity_per_code(mini):
    _, _, audit = mini
    ranks = [SEVERITIES.index(p.severity) for p in audit.problems]
    assert ranks == sorted(ranks)
    assert all(p.severity == CODES[p.code] for p in audit.problems)
    assert [p.code for p in audit.problems[:3]] == ["no-support", "retracted", "unidentified-reference"]
    assert audit.counts == {"error": 3, "warning": 8, "info": 7}
    assert all(p.message and "\n" not in p.message for p in audit.problems)
    assert audit.at_or_above("error") == audit.by_severity("error")
    assert len(audit.at_or_above("warning")) == 11 and len(audit.at_or_above("info")) == 18


def test_every_retraction_kind_is_a_problem_code():
    from kb.bib import RETRACTION_KINDS

    assert [CODES[kind] for kind in RETRACTION_KINDS] == ["error", "warning", "info"]


def test_reviewer_verdicts_become_problems_with_their_reason(mini):
    _, _, audit = mini
    (p,) = [p for p in audit.problems if p.subject == "pijn" and p.code == "overstated"]
    assert p.detail == "The overview covers exercise in general and rates the evidence <low>."
    assert p.location == "claims/pijn.yaml:1:1"


def test_retraction_names_the_claims_that_lose_support(mini):
    _, _, audit = mini
    (r,) = audit.retractions
    assert (r.ref, r.kind, r.direct, r.orphaned) == ("fictief2005", "retracted", ("veilig",), ("veilig",))
    (p,) = [p for p in audit.problems if p.code == "retracted"]
    assert p.claims == ("veilig",)
    assert "1 claim(s) would be left without supporting evidence" in p.message


def test_old_source_counts_from_as_of(mini):
    kb, graph, _ = mini
    assert "old-source" not in codes_of(build_audit(kb, graph, as_of=2019), "fictief2005")
    (p,) = [p for p in build_audit(kb, graph, as_of=2030).problems if p.code == "old-source" and p.subject == "fictief2005"]
    assert p.message == "published 2005, 25 years ago (limit: 15)"


def test_coverage_and_charts_come_from_graph_stats(mini):
    _, _, audit = mini
    c = audit.coverage
    assert (c.claims, c.references, c.cited_in_article, c.supported, c.unsupported) == (5, 3, 2, 4, 1)
    verdicts = {b.key: b.value for b in audit.charts[0].bars}
    assert verdicts == {"supported": 1, "overstated": 2, "source-misdescribed": 0, "unsupported": 0, "uncited": 2}
    certainty = {b.key: b.value for b in audit.charts[1].bars}
    assert certainty["low"] == 3 and certainty["not-graded"] == 1 and certainty["none"] == 1
    assert max(b.length for b in audit.charts[0].bars) == 1.0


# -- the wording check -----------------------------------------------------------------------

def test_strong_phrases_whole_words_case_insensitive_longest_first():
    nl = load_wording().phrases["nl"]
    assert strong_phrases("Sterke wetenschap toont aan dat ...", nl) == ["sterke wetenschap toont aan"]
    assert strong_phrases("Krachttraining is ZEER veilig en altijd goed", nl) == ["zeer veilig", "altijd"]
    assert strong_phrases("een altijdgroene plant", nl) == []  # whole words only
    en = load_wording().phrases["en"]
    assert strong_phrases("This clearly proves it", en) == ["clearly", "proves"]


def test_wording_is_flagged_only_at_the_configured_certainties(mini):
    kb, graph, _ = mini
    strict = Wording(phrases=load_wording().phrases, flag_when=frozenset({"very-low", "none"}))
    audit = build_audit(kb, graph, as_of=2026, wording=strict)
    flagged = sorted(p.subject for p in audit.problems if p.code == "strong-wording")
    assert flagged == ["herstel"]  # veilig (low) is no longer flagged
    (p,) = [p for p in build_audit(kb, graph, as_of=2026).problems if p.code == "strong-wording" and p.subject == "veilig"]
    assert p.phrases == ("zeer veilig (nl)", "very safe (en)")
    assert '"zeer veilig"' in p.message and "low certainty" in p.message


def test_a_knowledge_base_can_add_phrases(tmp_path):
    shutil.copytree(CASE, tmp_path / "kb")
    (tmp_path / "kb" / "wording.yaml").write_text("nl:\n  - vermindert pijn\n", encoding="utf-8")
    kb = load_kb(tmp_path / "kb")
    audit = build_audit(kb, build_graph(kb), as_of=2026)
    assert "strong-wording" in codes_of(audit, "pijn")


def test_a_broken_wording_file_is_a_config_error_with_its_line(tmp_path):
    shutil.copytree(CASE, tmp_path / "kb")
    (tmp_path / "kb" / "wording.yaml").write_text("nl:\n  - ok\nflag_when: [sometimes]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_wording(str(tmp_path / "kb"))
    assert str(info.value) == "wording.yaml:3: error: flag_when: unknown certainty 'sometimes'; expected some of: high, moderate, low, very-low, not-graded, none"



@pytest.mark.parametrize("raw, line", [
    (b"nl: 5\n", "wording.yaml:1: error: nl: expected a list of phrases [config-error]"),
    (b"nl: [sterk]\nde: [stark]\n", "wording.yaml:2: error: unknown key 'de'; expected nl, en (the languages of a claim's text) or flag_when [config-error]"),
    (b'nl:\n  - sterk\n  - ""\n', "wording.yaml:3: error: nl: expected a phrase, found an empty phrase; "
     "write each phrase as text on a line of its own starting with '- ' [config-error]"),
    (b"nl: [sterk]\n\xff\n", "wording.yaml:2:1: error: invalid UTF-8 byte 0xff; save the file as UTF-8 [config-error]"),
], ids=["not-a-list", "unknown-language", "empty-phrase", "not-utf8"])
def test_kb_check_reports_a_broken_wording_file_as_the_audit_would(raw, line, tmp_path, run_kb):
    """kb build and kb audit read wording.yaml: a check that passed would promise a build that then fails."""
    shutil.copytree(CASE, tmp_path / "kb")
    (tmp_path / "kb" / "wording.yaml").write_bytes(raw)
    code, out, err = run_kb(tmp_path / "kb", "check")
    assert code == 1 and line in err.splitlines()
    code, out, audit_err = run_kb(tmp_path / "kb", "audit")
    assert code == 1 and line.split(": error: ")[1].split(" [")[0] in audit_err

# -- rendering -------------------------------------------------------------------------------

def test_golden_markdown_and_json(mini, update_golden):
    kb, _, audit = mini
    check_golden(CASE / "expected" / "audit.en.md", render_audit(kb, audit, "md", lang="en"), update_golden)
    check_golden(CASE / "expected" / "audit.nl.md", render_audit(kb, audit, "md", lang="nl"), update_golden)
    check_golden(CASE / "expected" / "audit.json", render_audit(kb, audit, "json"), update_golden)
    data = json.loads(render_audit(kb, audit, "json"))
    assert data["counts"] == {"error": 3, "warning": 8, "info": 7}
    assert {"severity", "code", "subject_kind", "subject", "message", "messages", "detail", "location", "phrases", "claims", "href"} == set(data["problems"][0])


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_standalone_accessible_and_escaped(mini):
    kb, _, audit = mini
    html = render_audit(kb, audit, "html", lang="en")
    parser = _Tags()
    parser.feed(html)
    charts = [a for t, a in parser.tags if t == "table" and "chart" in a.get("class", "").split()]
    assert [a["aria-labelledby"] for a in charts] == ["by-verdict-h", "by-certainty-h"]
    assert all(a["aria-hidden"] == "true" for t, a in parser.tags if t == "svg")  # the bars; their numbers are text
    rows = re.findall(r'<th scope="row"><span class="dot v-[a-z-]+" aria-hidden="true"></span>([^<]+)</th>.*?<td class="num">(\d+)</td>',
                      html, re.S)
    assert rows == [("supported", "1"), ("overstated", "2"), ("source misdescribed", "0"), ("unsupported", "0"), ("uncited", "2")]
    assert "&lt;low&gt;" in html and "<low>" not in html  # reviewer text is escaped
    assert "<b>for tests</b>" not in html
    assert not [a for t, a in parser.tags if t == "link" or (t == "script" and a.get("src"))]  # nothing external
    assert "<style>" in html and "style-src 'unsafe-inline'" in html
    for p in audit.problems:
        assert f"<code>{p.subject}</code>" in html


def test_site_audit_page_links_claims(mini):
    """In the site (not standalone), claim subjects link to their pages."""
    from kb.handout import document_env
    from kb.render import render_template
    from kb.site import common_context

    kb, _, audit = mini
    html = render_template(document_env(kb), "audit.html.j2", {**common_context(kb, "audit.html", "en", True), "audit": audit})
    assert '<a href="claims/pijn.html"><code>pijn</code></a>' in html
    assert 'href="assets/site.css"' in html and "<style>" not in html


# -- the CLI ---------------------------------------------------------------------------------

@pytest.mark.parametrize("level, code", [("never", 0), ("error", 1), ("warning", 1), (None, 0)])
def test_fail_on(run_kb, level, code):
    args = ["audit", "--format", "json"] + (["--fail-on", level] if level else [])
    got, out, err = run_kb(CASE, *args)
    assert got == code
    assert json.loads(out)["counts"]["error"] == 3
    assert "kb audit: 3 errors, 8 warnings, 7 info" in err
    if code:
        assert f"at or above '{level}'" in err


def test_fail_on_passes_a_clean_enough_kb(run_kb, tmp_path):
    shutil.copytree(CASE, tmp_path / "kb")
    for name in ("herstel", "veilig"):
        (tmp_path / "kb" / "claims" / f"{name}.yaml").unlink()
    bib = tmp_path / "kb" / "references" / "refs.bib"
    bib.write_text(bib.read_text(encoding="utf-8").split("@misc{fictief2005")[0], encoding="utf-8")
    assert run_kb(tmp_path / "kb", "audit", "--fail-on", "error")[0] == 0
    assert run_kb(tmp_path / "kb", "audit", "--fail-on", "warning")[0] == 1


def test_cli_writes_md_and_html_files(run_kb, tmp_path):
    code, _, err = run_kb(CASE, "audit", "--as-of", "2026", "--lang", "en", "-o", str(tmp_path / "a.md"))
    assert code == 0 and "wrote" in err
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == (CASE / "expected" / "audit.en.md").read_text(encoding="utf-8")
    code, _, err = run_kb(CASE, "audit", "--format", "html", "-o", str(tmp_path / "a.md"))
    assert code == 1 and "already exists" in err
    code, _, _ = run_kb(CASE, "render", "audit", "--format", "html", "-o", str(tmp_path / "a.html"))
    assert code == 0 and (tmp_path / "a.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_audit_of_this_repository_lists_every_uncited_claim_and_flagged_source(run_kb):
    repo = Path(__file__).resolve().parent.parent
    code, out, _ = run_kb(repo, "audit", "--format", "json")
    assert code == 0
    data = json.loads(out)
    kb = load_kb(repo)
    uncited = {c.id for c in kb.claims.values() if not any(e.cited_in_article for e in c.evidence) and not c.derived_from}
    assert uncited and uncited == {p["subject"] for p in data["problems"] if p["code"] == "uncited"}
    unverified = {r.key for r in kb.references.values() if not r.verified}
    flagged = {p["subject"] for p in data["problems"] if p["code"] in ("unverified-reference", "unidentified-reference")}
    assert unverified == flagged
    assert any(p["code"] == "strong-wording" and "sterke wetenschap toont aan (nl)" in p["phrases"] for p in data["problems"])


def test_render_audit_pdf_is_a4(run_kb, tmp_path):
    from pypdf import PdfReader

    code, _, err = run_kb(CASE, "render", "audit", "--format", "pdf", "-o", str(tmp_path / "audit.pdf"))
    assert code == 0, err
    reader = PdfReader(str(tmp_path / "audit.pdf"))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    assert "fictief2005" in "".join(p.extract_text() for p in reader.pages)


def test_site_audit_page_links_references_to_their_pages(mini):
    from kb.handout import document_env
    from kb.render import render_template
    from kb.site import common_context

    kb, _, audit = mini
    html = render_template(document_env(kb), "audit.html.j2", {**common_context(kb, "audit.html", "en", True), "audit": audit})
    assert '<a href="references/fictief2005.html"><code>fictief2005</code></a>' in html


# -- print (kb render audit --format pdf) ------------------------------------------------------

@pytest.mark.parametrize("lang", ["nl", "en"])
def test_pdf_table_is_compact_and_breaks_paths_at_separators(lang):
    """On A4 the problems table holds several rows a page (2 to 6 before: 29 pages for this repository),
    no text runs out of its cell, and a claim id or file path breaks only after '/', '-' or ':'
    ('belastbaarh|eid' before)."""
    from weasyprint import HTML

    repo = CASE.parent.parent.parent
    kb = load_kb(repo)
    audit = build_audit(kb, build_graph(kb), as_of=2026)
    document = HTML(string=render_audit(kb, audit, "html", lang=lang)).render()
    rows_on, out_of_cell, mid_word = {}, [], []
    for number, page in enumerate(document.pages):
        for row in page._page_box.descendants():
            if type(row).__name__ != "TableRowBox" or not any(c.element.tag == "td" for c in row.children):
                continue
            rows_on[number] = rows_on.get(number, 0) + 1
            for column, cell in enumerate(row.children):
                right = cell.content_box_x() + cell.width
                out_of_cell += [t.text for t in cell.descendants() if type(t).__name__ == "TextBox" and t.position_x + t.width > right + 0.5]
                if column in (1, 3):  # the claim or reference, the file
                    lines = ["".join(t.text for t in line.descendants() if type(t).__name__ == "TextBox")
                             for line in cell.descendants() if type(line).__name__ == "LineBox"]
                    mid_word += [(a, b) for a, b in zip(lines, lines[1:]) if a.rstrip("\u200b")[-1:] not in ("/", "-", ":")]
    assert out_of_cell == [] and mid_word == []
    rows = sum(rows_on.values())
    assert rows >= sum(audit.counts.values()) and rows / len(rows_on) >= 7, f"{rows} rows on {len(rows_on)} pages"
